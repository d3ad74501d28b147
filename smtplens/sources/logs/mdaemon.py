"""MDaemon's SMTP session logs (``MDaemon-SMTP-in.log``, ``MDaemon-SMTP-out.log``).

MDaemon (a commercial Windows mail server) logs each SMTP line with the weekday and
local time, and since version 14 with a log level and the session number, so sessions
interleave::

    Sat 2014-07-26 12:58:47: 05: [514116] Session 514116; child 0001
    Sat 2014-07-26 12:58:47: 05: [514116] Accepting SMTP connection from [192.0.2.20:63750] ...
    Sat 2014-07-26 12:58:47: 03: [514116] --> 220-mydomain.test ESMTP ...
    Sat 2014-07-26 12:58:47: 02: [514116] <-- ehlo client.example.test
    Mon 2024-05-06 10:00:02.345: 05: [12345] SMTP session successful (Bytes in/out: 512/1024)

Older versions (and "log sessions all at once") write one session as a block, without
level or number, between ``----------`` lines; newer ones may add milliseconds. Both
are read: a ``[number]`` keys the session, else the block does.

``-->`` is what MDaemon sent and ``<--`` what it read, so in an inbound session
(``Accepting SMTP connection from [client] to [server]``) ``-->`` is the server, and in
an outbound one (``Attempting SMTP connection to [host]``, MDaemon-SMTP-out.log) the
client. A session with neither line is judged by its first line (MDaemon writing a
reply code is the server). ``SMTP session successful`` / ``terminated`` /
``closed`` end a session. MDaemon does not log the message content (``Message size:``
follows the 354), so it is :class:`~smtplens.stream.Skipped`; it logs AUTH lines as
read (Base64: the engine decodes and redacts them). Lines starting with ``#`` are
comments (smtplens' own samples); other MDaemon lines (spam filter, DNS lookups) are
ignored. Times are local and have no zone.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Iterator

from smtplens.sources.logs._interleaved import LogSessions, parse_endpoint
from smtplens.sources.logs._times import iso_time
from smtplens.stream import Direction, Endpoint, StreamItem

_LINE = re.compile(
    r"^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?P<date>\d{4}-\d\d-\d\d) "
    r"(?P<time>\d\d:\d\d:\d\d(?:\.\d{1,6})?): (?:(?P<level>\d\d): )?"
    r"(?:\[(?P<sid>\d{1,12})\] )?(?P<msg>.*)$")
_SESSION = re.compile(r"^Session (?P<n>\d{1,12}); child \d+")
_ACCEPT = re.compile(r"^Accepting (?:SMTP|MSA) connection from \[(?P<client>[^\]]*)\] "
                     r"to \[(?P<server>[^\]]*)\]")
_ATTEMPT = re.compile(r"^Attempting SMTP connection to \[(?P<server>[^\]]*)\]")
_ESTABLISHED = re.compile(
    r"^Socket connection established \((?P<local>\S+) -> (?P<remote>\S+)\)")
_END = re.compile(r"^SMTP session (?:successful|terminated|closed|ended)\b")
_REPLY = re.compile(r"^\d{3}(?:[ -]|$)")
_SEPARATOR = re.compile(r"^-{5,}$")
_SWEEP_EVERY = 2000


class _Pending:
    """A session started by its ``Session N`` line, not yet opened."""

    __slots__ = ("client", "inbound", "number", "server", "sid", "ts")

    def __init__(self, number: int, ts: float | None, sid: str) -> None:
        self.number = number
        self.ts = ts
        self.sid = sid
        self.client: Endpoint | None = None
        self.server: Endpoint | None = None
        self.inbound: bool | None = None


class MDaemonSMTPLog:
    """MDaemon's MDaemon-SMTP-(in|out).log."""

    name = "mdaemon"
    description = "MDaemon SMTP session log (MDaemon-SMTP-in/out.log: --> / <-- lines)"

    def sniff(self, head: list[str]) -> int:
        lines = [ln for ln in head if ln.strip() and not ln.startswith("#")]
        ours = dialogue = 0
        for text in lines:
            m = _LINE.match(text)
            if m is None:
                continue
            ours += 1
            msg = m.group("msg")
            if msg[:4] in ("--> ", "<-- ") or _SESSION.match(msg) or _ACCEPT.match(msg):
                dialogue += 1
        if not lines or not dialogue:
            return 0
        return min(97, 60 + int(37 * ours / len(lines)))

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        sessions = LogSessions(source, self.name, content_logged=False)
        pending: dict[Hashable, _Pending] = {}
        inbound: dict[Hashable, bool] = {}  # open session -> MDaemon is its server
        block = 0  # sessions without a [number]: the block they are in
        count = 0
        for number, raw in lines:
            text = raw.rstrip("\r")
            if not text.strip() or text.startswith("#"):
                continue
            count += 1
            if count % _SWEEP_EVERY == 0:
                yield from sessions.sweep()
            m = _LINE.match(text)
            if m is None:
                yield sessions.notice(number, "not an MDaemon log line, skipped")
                continue
            ts = iso_time(f"{m.group('date')}T{m.group('time')}")
            msg = m.group("msg")
            sid = m.group("sid")
            if _SEPARATOR.match(msg):
                if sid is None:
                    yield from self._close(sessions, ("block", block), ts, pending, inbound)
                    block += 1
                continue
            if (s := _SESSION.match(msg)) is not None:
                if sid is None:
                    yield from self._close(sessions, ("block", block), ts, pending, inbound)
                    block += 1
                key: Hashable = sid if sid is not None else ("block", block)
                yield from self._close(sessions, key, ts, pending, inbound)
                pending[key] = _Pending(number, ts, sid or s.group("n"))
                continue
            key = sid if sid is not None else ("block", block)
            if _END.match(msg):
                yield from self._close(sessions, key, ts, pending, inbound)
                continue
            p = pending.get(key)
            if p is not None:
                self._learn(p, msg)
            if msg[:4] not in ("--> ", "<-- "):
                continue
            sent = msg.startswith("--> ")
            line = msg[4:]
            if key not in inbound:
                p = pending.pop(key, None) or _Pending(number, ts, sid or f"{block}")
                role = p.inbound if p.inbound is not None else bool(_REPLY.match(line)) == sent
                inbound[key] = role
                yield from sessions.open(key, p.number, p.ts, self.name, p.client, p.server,
                                         conn_id=f"mdaemon-{p.sid}")
            direction = Direction.SERVER if sent == inbound[key] else Direction.CLIENT
            yield from sessions.line(key, direction, line, number, ts)
        yield from sessions.close_all()

    @staticmethod
    def _learn(p: _Pending, msg: str) -> None:
        """The endpoints and MDaemon's role, from the lines before the dialogue."""
        if (a := _ACCEPT.match(msg)) is not None:
            p.inbound = True
            p.client, p.server = parse_endpoint(a.group("client")), parse_endpoint(
                a.group("server"))
        elif (a := _ATTEMPT.match(msg)) is not None:
            p.inbound = False
            p.server = parse_endpoint(a.group("server"))
        elif (a := _ESTABLISHED.match(msg)) is not None and p.inbound is False:
            p.client = parse_endpoint(a.group("local"))
            p.server = parse_endpoint(a.group("remote")) or p.server

    @staticmethod
    def _close(sessions: LogSessions, key: Hashable, ts: float | None,
               pending: dict[Hashable, _Pending],
               inbound: dict[Hashable, bool]) -> Iterator[StreamItem]:
        pending.pop(key, None)
        inbound.pop(key, None)
        yield from sessions.close(key, ts, "log")
