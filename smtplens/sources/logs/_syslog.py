"""What the ordinary server syslogs share (sendmail, Courier, Dovecot): the syslog prefix,
sniffing by program name, reply texts, and the redaction of AUTH data a server logged.

A syslog line is ``TIME HOST TAG[PID]: MESSAGE`` (RFC 3164 §4.1.3; the PID is optional),
with TIME either the traditional ``Dec  2 05:41:40`` (no year, local time) or rsyslog's
RFC 3339 ``2026-12-02T05:41:40.051505+00:00`` (its default since Debian 12). Summary logs
record events, not the dialogue, so each reader keeps
:class:`~smtplens.sources.logs._summary.PartialSession` objects and hands finished sessions
to the stream as :class:`~smtplens.stream.Summary` items.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from smtplens.sources.logs._summary import OpenSessions, unparsed
from smtplens.sources.logs._times import iso_time, syslog_time
from smtplens.stream import StreamItem

_PREFIX = re.compile(
    r"^(?:(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(?P<day>\d{1,2}) "
    r"(?P<hms>\d\d:\d\d:\d\d(?:\.\d{1,6})?)"
    r"|(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:?\d\d)?)) "
    r"(?P<host>\S+) (?P<tag>[^\s\[\]:]{1,64})(?:\[(?P<pid>\d{1,10})\])?: (?P<msg>.*)$")
#: the start of a syslog line, for telling a damaged one from foreign text
_LOOKS = re.compile(r"^(?:(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2} \d"
                    r"|\d{4}-\d\d-\d\dT\d)")
#: ``550 5.7.1 text``: the reply code and RFC 3463 status a log quotes
_REPLY = re.compile(r"^(?P<code>[2-5]\d\d)(?:[ -](?P<enh>[245]\.\d{1,3}\.\d{1,3}))?\b ?"
                    r"(?P<text>.*)$")
#: the Base64 argument of an AUTH command quoted in a log line (RFC 4954 §4)
_AUTH_ARG = re.compile(r"(?i)(\bAUTH\s+[A-Z0-9_-]{1,20}\s+)([A-Za-z0-9+/=]{4,})")


@dataclass(slots=True)
class SyslogLine:
    """One syslog line, split (read-only by convention)."""

    ts: float | None
    host: str
    tag: str  #: the program name (``sm-mta``, ``courieresmtpd``, ``dovecot``)
    pid: str | None
    msg: str


class SyslogPrefix:
    """Splits syslog lines, with one notion of "now" for the year of a whole file."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now()

    def split(self, text: str) -> SyslogLine | None:
        m = _PREFIX.match(text)
        if m is None:
            return None
        if m.group("iso"):
            ts = iso_time(m.group("iso"))
        else:
            ts = syslog_time(m.group("mon"), m.group("day"), m.group("hms"), self.now)
        return SyslogLine(ts, m.group("host"), m.group("tag"), m.group("pid"), m.group("msg"))


def looks_like_syslog(text: str) -> bool:
    return _LOOKS.match(text) is not None


def syslog_share(head: Iterable[str], ours: Callable[[SyslogLine], bool],
                 strong: Callable[[SyslogLine], bool]) -> int:
    """A sniff score: 50-95 by the share of lines ``ours`` accepts once one line is
    ``strong`` (a phrase only that program writes), else at most 20.

    The same scale as the Postfix and Exim summary sniffers, so a mixed syslog goes to
    the format that owns most of its lines.
    """
    reader = SyslogPrefix()
    total = mine = hits = 0
    for text in head:
        if not text.strip() or text.startswith("#"):
            continue
        total += 1
        line = reader.split(text)
        if line is None or not ours(line):
            continue
        mine += 1
        hits += strong(line)
    if not total:
        return 0
    share = mine / total
    return min(95, 50 + int(45 * share)) if hits else int(20 * share)


def reply(text: str) -> tuple[int | None, str]:
    """The reply code and the rest of ``550 5.7.1 Relaying denied``."""
    m = _REPLY.match(text.strip())
    if m is None:
        return None, text.strip()
    rest = f"{m.group('enh')} {m.group('text')}" if m.group("enh") else m.group("text")
    return int(m.group("code")), rest.strip()


def auth_argument(text: str) -> tuple[str, str] | None:
    """``(mechanism, argument)`` of an ``AUTH MECH base64`` a log line quotes, or None."""
    m = _AUTH_ARG.search(text)
    if m is None:
        return None
    return m.group(1).split()[1].upper(), m.group(2)


def redact_auth(text: str) -> str:
    """The line with the Base64 argument of any AUTH command it quotes redacted (the
    argument holds the credential: RFC 4954 §4, §9)."""
    return _AUTH_ARG.sub(lambda m: f"{m.group(1)}[redacted]", text)


def size(text: str | None) -> int:
    return int(text) if text and text.isdigit() and len(text) < 16 else 0


class LineReader(Protocol):
    """A summary log's reader of one file: lines in, finished sessions out."""

    table: OpenSessions[Any]  #: the sessions still open

    def line(self, number: int, text: str) -> Iterable[StreamItem]: ...


def read_through(reader: LineReader, lines: Iterable[tuple[int, str]]) -> Iterator[StreamItem]:
    """Every line through ``reader``, then the sessions still open at the end of the file."""
    for number, text in lines:
        yield from reader.line(number, text)
    yield from reader.table.drain()


K = TypeVar("K")


class SyslogReader(Generic[K]):
    """The frame every syslog summary reader shares: the prefix split, the open sessions
    keyed by ``K``, a damaged line of its own program reported, foreign programs'
    lines passed over, and sessions idle too long closed before each line is read."""

    what = "syslog line"  #: in the notice of a damaged line ("Courier log line")
    idle = 3600.0  #: seconds after which an open session is closed (OpenSessions)

    def __init__(self, source: str) -> None:
        self.source = source
        self.prefix = SyslogPrefix()
        self.table: OpenSessions[K] = OpenSessions(self.idle)
        self.count = 0  #: sessions started, for their ids

    def line(self, number: int, text: str) -> list[StreamItem]:
        line = self.prefix.split(text)
        if line is None:
            if looks_like_syslog(text) and self.looks_ours(text):
                return [unparsed(self.source, number,
                                 f"{self.what} without a readable prefix, skipped")]
            return []
        if not self.ours(line):
            return []
        out: list[StreamItem] = list(self.table.sweep(line.ts))
        out += self.on_line(number, text, line)
        return out

    def looks_ours(self, text: str) -> bool:
        """A line whose prefix did not split: is it this program's (then it is reported)?"""
        raise NotImplementedError

    def ours(self, line: SyslogLine) -> bool:
        """Is this split line from the program the reader reads?"""
        raise NotImplementedError

    def on_line(self, number: int, text: str, line: SyslogLine) -> list[StreamItem]:
        """What one of the program's lines tells (after idle sessions were closed)."""
        raise NotImplementedError
