"""Findings are data: an id from the catalog, a severity, and evidence."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from smtplens.stream import Direction


class Severity(enum.IntEnum):
    """How bad a finding is; ordered so ``>=`` compares levels."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r}; use info, warning or error") from None

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Evidence:
    """Where a finding was seen."""

    session: str  #: session (connection) id
    direction: Direction | None = None  #: which side's bytes show it
    ts: float | None = None  #: time of the bytes, when the source has times
    offset: int | None = None  #: byte offset in that side's stream (from 0)
    location: str = ""  #: position in the source file ("line 12", "record 40")
    excerpt: str = ""  #: a short, escaped, redacted excerpt of the bytes


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem seen in one session. Its texts live in the catalog under ``id``."""

    id: str  #: stable id, e.g. ``data.unstuffed-dot``
    severity: Severity
    evidence: Evidence
    detail: str = ""  #: what exactly was seen, one sentence

    @property
    def session(self) -> str:
        return self.evidence.session
