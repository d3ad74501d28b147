"""Checks: small families, one module each, that turn engine events into findings.

:func:`default_checks` gives a fresh instance of every check for one session.
"""

from __future__ import annotations

from smtplens.checks.auth import AuthExchanges, AuthOrder
from smtplens.checks.base import Check
from smtplens.checks.bdat import Bdat
from smtplens.checks.capture import Capture
from smtplens.checks.data import DataContent, DataFlow
from smtplens.checks.logsecrets import LogSecrets
from smtplens.checks.protocol import Commands, Greeting, Pipelining, ReplySyntax, StartTls
from smtplens.checks.sequence import Envelope, Sequence
from smtplens.checks.syntax import CommandSyntax

CHECK_CLASSES: tuple[type[Check], ...] = (
    DataContent, DataFlow, Bdat, AuthOrder, AuthExchanges, Greeting, Pipelining, StartTls,
    ReplySyntax, Commands, Sequence, Envelope, Capture, LogSecrets, CommandSyntax,
)


def default_checks() -> list[Check]:
    """A new instance of every check (checks keep per-session state)."""
    return [cls() for cls in CHECK_CLASSES]


__all__ = ["CHECK_CLASSES", "Check", "default_checks"]
