"""What the generic reader learns about a file: its prefix, its markers, their sense.

:func:`learn_layout` looks at the first lines; :meth:`Layout.read` then tells, line by
line, who sent what (a :class:`Reading`), with the help of a
:class:`~smtplens.sources.generic.direction.ContentTracker`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from smtplens.sources.generic.direction import ContentTracker
from smtplens.sources.generic.markers import PAIRS, MarkerPair, match_marker, payload_text
from smtplens.sources.generic.prefix import Prefix, is_command, is_reply, learn
from smtplens.sources.logs._times import SyslogClock, iso_time
from smtplens.sources.logs.smtplib import decode_literal
from smtplens.sources.textfile import to_wire
from smtplens.stream import Direction

#: a marker pair is the file's when this share of its SMTP lines carry it
MARKED_SHARE = 0.3
_ISO = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?")
_SYSLOG = re.compile(r"[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d")
_LITERAL_START = re.compile(r"b?['\"]")
#: a quoted string whose last escape is a line end: Ruby's Net::SMTP ``debug_output``
#: (``-> "220 mx\\r\\n"``), Stalwart's ``data="..."``
_QUOTED_LINE = re.compile(r"""(["']).*\\n\1$""")


@dataclass(frozen=True, slots=True)
class Reading:
    """One line as the layout reads it."""

    #: "smtp" (payload follows), "repeat" (read, nothing new), "noise", "blank", or
    #: "maybe": a client line if the next SMTP line is a reply (an unknown command)
    kind: str
    direction: Direction | None = None
    payload: bytes = b""
    ts: float | None = None


@dataclass(slots=True)
class Layout:
    """How a file shows SMTP lines."""

    prefix: Prefix
    pair: MarkerPair | None = None  #: None: no markers, sides told from content
    first_is_client: bool = True  #: the pair's first marker marks the client's lines
    tracker: ContentTracker = field(default_factory=ContentTracker)
    clock: SyslogClock = field(default_factory=SyslogClock)
    #: the message being read has come with the prefix (and markers): a line without
    #: them is then a continuation of some other log message, not message content
    framed: bool = False
    #: the last line read was message content: a line without the prefix after it is
    #: the rest of the same log record (go-smtp's debug writer prefixes only the first
    #: line of each write), so content too
    after_content: bool = False

    def describe_markers(self) -> str:
        if self.pair is None:
            return "no markers (sides told from content)"
        client, server = self.pair.first, self.pair.second
        if not self.first_is_client:
            client, server = server, client
        how = "" if self.pair.fixed is not None else " (told from content)"
        return f"markers `{client}` client / `{server}` server{how}"

    def read(self, line: str) -> Reading:
        """Who sent ``line`` (without its newline) and what."""
        in_message = bool(self.tracker.in_data or self.tracker.bdat_left)
        reading = self._read(line)
        if reading.kind != "blank":
            self.after_content = in_message and reading.kind == "smtp" \
                and reading.direction is Direction.CLIENT
        if not (self.tracker.in_data or self.tracker.bdat_left):
            self.framed = False
        return reading

    def _bare(self, text: str, bare: bool) -> Reading:
        """A line without the prefix (``bare``) or the marker the file's SMTP lines
        have: the rest of an open reply (a multi-line reply logged as one record, RFC
        5321 §4.2.1), the rest of the message content, or another log record's text."""
        in_message = self.tracker.in_data or self.tracker.bdat_left
        if not in_message and self.tracker.continues(text):
            self.tracker.see_reply(text)
            return Reading("smtp", Direction.SERVER, to_wire(text) + b"\r\n")
        # a bare line after content goes on with it when records have no marker (where
        # each message line has its marker, one without is another record's: a trace)
        if self._in_message() or (bare and in_message and self.after_content
                                  and self.pair is None):
            return self._unmarked(text)
        return Reading("noise")

    def _in_message(self) -> bool:
        return bool(self.tracker.in_data or self.tracker.bdat_left) and not self.framed

    def _read(self, line: str) -> Reading:
        if not line.strip():
            # an empty message line: the whole line, when lines have no prefix or marker
            bare = self.pair is None and not self.prefix.shape
            in_message = self.tracker.in_data or self.tracker.bdat_left
            return self._unmarked("") if in_message and (bare or not self.framed) \
                else Reading("blank")
        pos = self.prefix.split(line)
        if pos is None and self.prefix.split(line + " ") == len(line) + 1:
            pos = len(line)  # a prefix whose trailing blank the logger stripped
        if pos is None:
            # a continuation of the previous log message: reply, message content, noise
            return self._bare(line, True)
        ts = self._time(line[:pos])
        if self.tracker.in_data or self.tracker.bdat_left:
            self.framed = self.framed or self.pair is None \
                or match_marker(line, pos) is not None
        if self.pair is None:
            reading = self._unmarked(line[pos:])
            return Reading(reading.kind, reading.direction, reading.payload, ts)
        marker = match_marker(line, pos)
        if marker is None or marker.pair != self.pair.name:
            # an unmarked line: the rest of a reply or of a message, or noise
            reading = self._bare(line[pos:], not self.prefix.shape)
            return Reading(reading.kind, reading.direction, reading.payload, ts)
        client = marker.first == self.first_is_client
        direction = Direction.CLIENT if client else Direction.SERVER
        text = payload_text(self.pair.name, line[marker.end:])
        if self.pair.name == "send/reply" and text.startswith("retcode ("):
            return Reading("repeat", ts=ts)  # smtplib repeats the reply it just showed
        in_message = self.tracker.in_data or self.tracker.bdat_left
        if not text.strip() and not (in_message and direction is Direction.CLIENT):
            # a marker with nothing after it (enough_mail's "S:" after each reply): no
            # line was sent; inside a message it is an empty line of the client's
            return Reading("blank")
        payload = self._decoded(text)
        if not payload.strip(b"\r\n") and not in_message:
            return Reading("blank")  # Stalwart's data="" (the peer closed)
        for part in payload.decode("utf-8", "surrogateescape").splitlines() or [""]:
            self._observe(direction, part)
        return Reading("smtp", direction, payload, ts)

    def _unmarked(self, text: str) -> Reading:
        direction = self.tracker.side(text)
        if direction is None:
            if self.tracker.maybe_command and self.pair is None:
                # an unknown command, if a reply answers it (the reader looks ahead)
                return Reading("maybe", Direction.CLIENT, to_wire(text) + b"\r\n")
            return Reading("noise")
        return Reading("smtp", direction, to_wire(text) + b"\r\n")

    def _observe(self, direction: Direction, text: str) -> None:
        t = self.tracker
        if direction is Direction.SERVER:
            if is_reply(text):
                t.see_reply(text)
        elif t.in_data:
            t.data_lines += 1
            if text == ".":
                t.in_data = False
        elif t.bdat_left:
            t.bdat_left = max(0, t.bdat_left - len(text) - 2)
        elif t.sasl:
            t.sasl = False
        else:
            t.see_command(text)

    def _decoded(self, text: str) -> bytes:
        """The line's bytes: a Python ``b'...'`` repr decoded (smtplib behind a logger),
        else the text with the CRLF the log dropped."""
        # smtplib and Stalwart always quote; Ruby's lines are quoted and end in "\r\n"
        quoting = self.pair is not None and self.pair.name in ("send/reply", "write/read")
        if _LITERAL_START.match(text) and (text.startswith("b") or quoting
                                           or _QUOTED_LINE.match(text) is not None):
            value = decode_literal(text)
            if value is not None:
                return value if value.endswith(b"\n") else value + b"\r\n"
        return to_wire(text) + b"\r\n"

    def _time(self, prefix: str) -> float | None:
        m = _ISO.search(prefix)
        if m is not None:
            return iso_time(m.group().replace(",", ".").replace(" ", "T"))
        m = _SYSLOG.search(prefix)
        return self.clock.read(m.group()) if m is not None else None


def learn_layout(lines: Iterable[str]) -> Layout | None:
    """The layout of a file from its first lines (None: no SMTP token anywhere)."""
    head = list(lines)
    prefix = learn(head)
    if prefix is None:
        return None
    pairs: Counter[str] = Counter()
    replies: Counter[tuple[str, bool]] = Counter()
    totals: Counter[tuple[str, bool]] = Counter()
    tokens = 0
    for line in head:
        pos = prefix.split(line)
        if pos is None:
            continue
        marker = match_marker(line, pos)
        if marker is None:
            tokens += is_reply(line[pos:pos + 4]) or is_command(line[pos:pos + 40])
            continue
        tokens += 1
        pairs[marker.pair] += 1
        text = payload_text(marker.pair, line[marker.end:])
        literal = decode_literal(text) if _LITERAL_START.match(text) else None
        if literal is not None:
            text = literal.decode("utf-8", "replace")
        totals[marker.pair, marker.first] += 1
        replies[marker.pair, marker.first] += is_reply(text)
    if pairs:
        name, count = pairs.most_common(1)[0]
        if count >= 2 and count >= MARKED_SHARE * tokens:
            pair = PAIRS[name]
            first_is_client = True
            if pair.fixed is None:
                share = [replies[name, side] / max(1, totals[name, side])
                         for side in (True, False)]
                first_is_client = share[0] <= share[1]
            return Layout(prefix, pair, first_is_client)
    return Layout(prefix)
