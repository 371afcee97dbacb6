"""
Keep glibc from holding on to the memory of large webhook bodies.

glibc serves a block above its mmap threshold (128 KiB at start) with its own
mapping, returned to the system when freed; but freeing such a block raises
the threshold to the block's size (up to 32 MiB), and the trim threshold with
it. The daemon's first 6 MB notification is therefore given back, and the
second one, now below the raised threshold, is carved from the heap and kept:
measured, a repeat of a 10,000-alert notification left 11 to 13 MB behind,
and about 2 MB with the threshold fixed. Setting the threshold explicitly
turns that adjustment off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

logger = logging.getLogger("remediator.server")

M_MMAP_THRESHOLD = -3
"""mallopt's parameter number, from glibc's malloc.h."""

MMAP_THRESHOLD_BYTES = 128 * 1024
"""glibc's own starting value, kept from then on."""


def return_large_blocks() -> bool:
    """Fix glibc's mmap threshold; False where there is no glibc or the user set one."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False  # the operator's own tuning wins
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    if not done:
        logger.debug("mallopt refused the mmap threshold; large blocks stay glibc's to keep")
    return done
