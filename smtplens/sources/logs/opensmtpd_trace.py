"""OpenSMTPD's SMTP trace (``smtpd -d -T smtp``): every line both ways, by session pointer.

With ``-T smtp`` the smtp process traces each session by the address of its session
structure, and prints the message lines it reads without that prefix::

    smtp: 0x55d0d4c0c100: connected to listener 0x55d0d4c030d0 [hostname=mx, port=2651, tag=]
    smtp: 0x55d0d4c0c100: STATE_NEW -> STATE_CONNECTED
    cc4b339eac1f5acb smtp connected address=127.0.0.1 host=<unknown>
    smtp: 0x55d0d4c0c100: >>> 220 mx.example.test ESMTP OpenSMTPD
    smtp: 0x55d0d4c0c100: <<< ehlo client.example.test
    <<< [MSG] first line
    <<< [EOM]
    cc4b339eac1f5acb smtp disconnected reason=quit

``>>>`` is what smtpd sent, ``<<<`` what it read (after STARTTLS too: the trace shows the
clear text, so the session is ``decrypted``). ``connected to listener`` starts a session
(a pointer is reused once its session is freed) and names the listener's host name and
port; the brief ``<id> smtp connected address=...`` line that follows gives the client's
address and the session id that ``smtp disconnected`` closes it by. ``<<< [MSG]`` lines
are the message as read, dot-stuffing included, ending with ``.``; they carry no pointer
and go to the session that got the last 354 (the trace is written by one process, in
order, so this holds unless two messages are being received at the same moment).
The trace does not show the CR/LF of each line: ``exact_bytes`` is False.
A syslog prefix (``Dec  2 05:47:26 mx smtpd[123]: ``) is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from smtplens.sources.logs._interleaved import LogSessions
from smtplens.sources.logs._times import SyslogClock
from smtplens.stream import Direction, Endpoint, StreamItem

_SYSLOG = re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ smtpd\[\d+\]: ")
_TRACE = re.compile(r"^smtp: (?P<ptr>0x[0-9a-f]{1,16}): (?P<rest>.*)$")
_LISTENER = re.compile(r"^connected to listener 0x[0-9a-f]+ \[hostname=(?P<host>[^,\]]*), "
                       r"port=(?P<port>\d{1,5})")
_MSG = re.compile(r"^<<< \[(?P<kind>MSG|EOM)\](?: (?P<text>.*))?$")
_BRIEF = re.compile(r"^(?P<id>[0-9a-f]{16}) smtp (?P<event>[a-z-]+)(?: (?P<rest>.*))?$")
_ADDRESS = re.compile(r"\baddress=(?P<ip>\S+)")
#: any other line smtpd -d writes: "debug: ...", "info: ...", "mta: ...", "<id> mta ..."
_CHATTER = re.compile(r"^(?:[a-z][\w -]{0,30}: |[0-9a-f]{16} [a-z]+ |\t|smtpd: |Exiting$)")
_SWEEP_EVERY = 2000


class _Pending:
    """A session announced by ``connected to listener`` and not yet opened."""

    __slots__ = ("client", "number", "server", "sid")

    def __init__(self, number: int, server: Endpoint | None) -> None:
        self.number = number
        self.server = server
        self.client: Endpoint | None = None
        self.sid = ""


class OpenSMTPDTrace:
    """``smtpd -d -T smtp`` output (the trace on stderr, or in syslog)."""

    name = "opensmtpd-trace"
    description = "OpenSMTPD smtpd -T smtp trace (smtp: 0x...: >>> / <<< lines)"

    def sniff(self, head: list[str]) -> int:
        lines = [_SYSLOG.sub("", ln) for ln in head if ln.strip()]
        dialogue = sum(1 for ln in lines
                       if (m := _TRACE.match(ln)) and m.group("rest")[:4] in (">>> ", "<<< "))
        if not dialogue:
            return 0
        ours = sum(1 for ln in lines if _TRACE.match(ln) or _MSG.match(ln)
                   or _BRIEF.match(ln) or _CHATTER.match(ln))
        return min(98, 60 + int(38 * ours / len(lines)))

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        sessions = LogSessions(source, self.name, content_logged=True)
        clock = SyslogClock()
        pending: dict[str, _Pending] = {}  # pointer -> announced session
        by_sid: dict[str, str] = {}  # brief session id -> pointer
        body: list[str] = []  # pointers that got 354 and have not ended their message
        count = 0
        for number, raw in lines:
            text = raw.rstrip("\r")
            ts = None
            if (p := _SYSLOG.match(text)) is not None:
                ts = clock.read(text)
                text = text[p.end():]
            if not text.strip():
                continue
            count += 1
            if count % _SWEEP_EVERY == 0:
                yield from sessions.sweep()
            if (m := _TRACE.match(text)) is not None:
                ptr, rest = m.group("ptr"), m.group("rest")
                if (lm := _LISTENER.match(rest)) is not None:
                    yield from sessions.close(ptr, ts, "log")
                    pending[ptr] = _Pending(number, Endpoint(lm.group("host") or "smtpd",
                                                             int(lm.group("port"))))
                    continue
                if rest[:4] not in (">>> ", "<<< "):
                    continue  # state changes, "message begin", ...
                if sessions.get(ptr) is None:
                    p0 = pending.pop(ptr, None) or _Pending(number, None)
                    if p0.sid:
                        by_sid[p0.sid] = ptr
                    yield from sessions.open(ptr, p0.number, ts, "opensmtpd", p0.client,
                                             p0.server, conn_id=p0.sid or None)
                if rest.startswith(">>> "):
                    yield from sessions.line(ptr, Direction.SERVER, rest[4:], number, ts)
                    if rest[4:7] == "354" and ptr not in body:
                        body.append(ptr)
                else:
                    yield from sessions.line(ptr, Direction.CLIENT, rest[4:], number, ts)
                continue
            if (m := _MSG.match(text)) is not None:
                if not body:
                    yield sessions.notice(number, "message line outside any DATA, skipped")
                    continue
                ptr = body[-1]
                if m.group("kind") == "EOM":
                    body.remove(ptr)
                    continue
                yield from sessions.line(ptr, Direction.CLIENT, m.group("text") or "",
                                         number, ts)
                continue
            if (m := _BRIEF.match(text)) is not None:
                yield from self._brief(sessions, m, pending, by_sid, body, ts)
                continue
            if not _CHATTER.match(text):
                yield sessions.notice(number, "not an OpenSMTPD trace line, skipped")
        yield from sessions.close_all()

    @staticmethod
    def _brief(sessions: LogSessions, m: re.Match[str], pending: dict[str, _Pending],
               by_sid: dict[str, str], body: list[str],
               ts: float | None) -> Iterator[StreamItem]:
        sid, event = m.group("id"), m.group("event")
        if event == "connected":
            # the session announced last without its brief line yet is this one
            waiting = [p for p in pending.values() if not p.sid]
            if waiting:
                p = waiting[-1]
                p.sid = sid
                if (a := _ADDRESS.search(m.group("rest") or "")) is not None:
                    p.client = Endpoint(a.group("ip"))
        elif event == "disconnected":
            ptr = by_sid.pop(sid, None)
            if ptr is not None:
                if ptr in body:
                    body.remove(ptr)
                yield from sessions.close(ptr, ts, "log")
