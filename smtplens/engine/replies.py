"""Server reply lines (RFC 5321 §4.2) and their assembly into replies.

``Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF``
with ``Reply-code = %x32-35 %x30-35 %x30-39``. A reply ends at the first line whose code
is followed by a space or the line end. Lines that break the grammar are kept (and
flagged) rather than dropped, so a report can show them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# RFC 5321 §4.2: first digit 2-5, second 0-5, third 0-9
_REPLY = re.compile(rb"^([2-5][0-5][0-9])([ -]|$)(.*)$", re.DOTALL)
_LOOSE = re.compile(rb"^([0-9]{3})([ -]|$)(.*)$", re.DOTALL)
# RFC 3463 §2: class.subject.detail
_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")


def text_of(raw: bytes) -> str:
    """Wire bytes as text: UTF-8 where valid, other bytes kept as surrogate escapes."""
    return raw.decode("utf-8", "surrogateescape")


def enhanced_status(text: str) -> str | None:
    """The RFC 3463 enhanced status code at the start of a reply text, if any."""
    m = _ENHANCED.match(text)
    return f"{m.group(1)}.{m.group(2)}.{m.group(3)}" if m else None


@dataclass(slots=True)
class ReplyLine:
    """One parsed server line."""

    code: int | None
    last: bool  #: code followed by SP or the line end (or a malformed line)
    text: str
    well_formed: bool


def parse_line(raw: bytes) -> ReplyLine:
    m = _REPLY.match(raw)
    if m:
        return ReplyLine(int(m.group(1)), m.group(2) != b"-", text_of(m.group(3)), True)
    m = _LOOSE.match(raw)
    if m:  # three digits outside the allowed ranges: keep the code, flag the line
        return ReplyLine(int(m.group(1)), m.group(2) != b"-", text_of(m.group(3)), False)
    return ReplyLine(None, True, text_of(raw), False)


@dataclass(slots=True)
class ReplyAssembler:
    """Collects lines until a reply is complete."""

    codes: list[int | None] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    raws: list[bytes] = field(default_factory=list)
    malformed: list[int] = field(default_factory=list)
    offset: int = 0
    ts: float | None = None
    location: str = ""

    @property
    def open(self) -> bool:
        return bool(self.codes)

    def add(self, raw: bytes, offset: int, ts: float | None, location: str) -> bool:
        """Add a line; True when it completed the reply."""
        line = parse_line(raw)
        if not self.codes:
            self.offset, self.ts, self.location = offset, ts, location
        if not line.well_formed:
            self.malformed.append(len(self.codes))
        self.codes.append(line.code)
        self.texts.append(line.text)
        self.raws.append(raw)
        return line.last

    def take(self) -> tuple[int | None, tuple[str, ...], tuple[bytes, ...], tuple[int, ...], bool]:
        """The finished reply's code, texts, raw lines, malformed indexes, mixed flag."""
        codes = self.codes
        first = codes[0] if codes else None
        mixed = len({c for c in codes if c is not None}) > 1
        result = (first, tuple(self.texts), tuple(self.raws), tuple(self.malformed), mixed)
        self.codes, self.texts, self.raws, self.malformed = [], [], [], []
        return result

    def drop(self) -> None:
        self.codes, self.texts, self.raws, self.malformed = [], [], [], []
