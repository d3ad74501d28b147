"""The one exception tree of smtplens.

Protocol violations never raise (they become findings). Only input that cannot be
read at all raises, and the message always names the file and the position.
"""

from __future__ import annotations


class SmtplensError(Exception):
    """Base class of every error smtplens raises on purpose."""


class InputError(SmtplensError):
    """An input file cannot be read (missing, unknown format, damaged beyond use)."""

    def __init__(self, message: str, source: str = "", location: str = "") -> None:
        self.message = message
        self.source = source
        self.location = location
        where = ", ".join(p for p in (source, location) if p)
        super().__init__(f"{where}: {message}" if where else message)


class UnknownFormatError(InputError):
    """No known format matched the input."""


class UsageError(SmtplensError):
    """The caller asked for something impossible (bad option value, missing session)."""
