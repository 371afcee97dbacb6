"""
Error classes shared by every layer.

Bad input must end as one readable line that names where the problem is
(a file and a key, or a payload field), so each error carries those parts
separately and formats them the same way everywhere.
"""

from __future__ import annotations


class RemediatorError(Exception):
    """Base class of the errors this package raises on purpose."""


class InputError(RemediatorError):
    """
    Input we will never accept as it is: a results file, a payload, a flag.

    `source` names the file or request, `field` the key inside it (dotted,
    for nested keys), and `message` says what is wrong with the value.
    """

    def __init__(self, source: str, field: str | None, message: str) -> None:
        self.source = source
        self.field = field
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.source}: {self.field}" if self.field else self.source
        return f"{where}: {self.message}"


class ConfigError(InputError):
    """A configuration file or environment variable that fails validation."""


class ResultError(InputError):
    """A benchmark results file that cannot be read or holds invalid values."""


class PayloadError(InputError):
    """A webhook or API request body that is not acceptable."""
