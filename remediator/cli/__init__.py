"""
The `remediator` command line.

Each subcommand lives in a module of this package that offers
`register(subparsers)` and a `run(args) -> int` set as the parser's
default `handler`. Modules import their heavy dependencies inside `run`, so
that `remediator --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from remediator import __version__
from remediator.errors import RemediatorError

# One module per subcommand, in the order `--help` lists them.
SUBCOMMANDS: tuple[str, ...] = (
    "watch",
    "serve",
    "control",
    "rules",
)

EXIT_OK, EXIT_FAIL_ON, EXIT_BAD_INPUT = 0, 1, 2
EXIT_BROKEN_PIPE = 128 + 13
"""As a shell reports a command killed by SIGPIPE."""


class Parser(argparse.ArgumentParser):
    """
    argparse, with a wrong command line ending as one line, like every other
    input error, and flags spelled out: an abbreviation that works today may
    mean another flag once one is added.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="remediator",
        description="Turn benchmark results and Alertmanager alerts into safe Kubernetes "
        "remediation.",
    )
    parser.add_argument("--version", action="version", version=f"remediator {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"remediator.cli.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not in Python's exit
    except RemediatorError as error:
        # Bad input ends as one line naming the file and key, never a traceback.
        print(f"remediator: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`remediator watch | head`): no traceback, and no second
        # error when Python flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    return code
