"""HCL (IBM, Lotus) Domino's server console log (``console.log``, the text of ``log.nsf``):
the SMTP listener's lines as partial sessions.

Written from the documented layout (Domino is commercial; no capture was made here)::

    02/05/2024 10:00:00 AM  SMTP Server: 203.0.113.5 connected
    02/05/2024 10:00:01 AM  SMTP Server: Authentication failed for user alice ; connecting
        host 203.0.113.5
    02/05/2024 10:00:02 AM  SMTP Server: Message 0052DC35 (MessageID: <x@y>) received
    02/05/2024 10:00:03 AM  SMTP Server: 203.0.113.5 disconnected. 1 message[s] received

The time is in the server's locale (``MM/DD/YYYY hh:mm:ss AM``, ``DD.MM.YYYY HH:MM:SS``,
``YYYY-MM-DD``); ``[pid:tid-tid]`` follows it with ``debug_threadid=1``. The listener
names the client's address only (no port), so a ``connected`` line opens the session
of that address and ``disconnected`` ends it; a ``Message ... received`` line names no
client and joins the session connected last. Domino logs no HELO, TLS, sender or
recipients here: those stay unknown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime

from smtplens.model import Message
from smtplens.sources.logs._summary import OpenSessions, PartialSession, endpoint, unparsed
from smtplens.stream import Direction, StreamItem

IDLE_SECONDS = 1800.0
_LINE = re.compile(
    r"^(?P<date>\d{1,4}[./-]\d{1,2}[./-]\d{1,4}) (?P<time>\d{1,2}:\d\d:\d\d)"
    r"(?: ?(?P<ampm>[AP]M))?(?: [A-Z]{2,5})? +(?:\[[0-9A-Fa-f:-]{1,40}\] +)?"
    r"(?P<msg>.*)$")
_CONNECTED = re.compile(r"^SMTP Server: (?P<ip>[0-9A-Fa-f:.]{2,64}) connected$")
_DISCONNECTED = re.compile(r"^SMTP Server: (?P<ip>[0-9A-Fa-f:.]{2,64}) disconnected\. "
                           r"(?P<n>\d+) message\[?s\]? received")
_RECEIVED = re.compile(r"^SMTP Server: Message (?P<id>[0-9A-F]{4,16}) "
                       r"\(MessageID: (?P<msgid>[^)]*)\) received$")
_AUTH_FAILED = re.compile(r"^SMTP Server: Authentication failed for user (?P<user>.*?) ; "
                          r"connecting host (?P<ip>[0-9A-Fa-f:.]{2,64})$")


def _time(m: re.Match[str]) -> float | None:
    """The console time in local time; the day/month order from the separator: ``.``
    is European (DD.MM.YYYY), ``/`` is US (MM/DD/YYYY), ``-`` is ISO."""
    date, clock, ampm = m.group("date"), m.group("time"), m.group("ampm")
    try:
        a, b, c = (int(p) for p in re.split(r"[./-]", date))
        year, month, day = (a, b, c) if a > 31 else (c, b, a) if "." in date else (c, a, b)
        h, mi, s = (int(p) for p in clock.split(":"))
        if ampm:
            h = h % 12 + (12 if ampm == "PM" else 0)
        return datetime(year, month, day, h, mi, s).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


class DominoConsoleLog:
    """Domino's console log, SMTP listener lines read into partial sessions."""

    name = "domino"
    description = "HCL/IBM Domino console log (SMTP Server: ... connected / received)"

    def sniff(self, head: list[str]) -> int:
        lines = [ln for ln in head if ln.strip() and not ln.startswith("#")]
        msgs = [m.group("msg") for ln in lines if (m := _LINE.match(ln))]
        ours = [msg for msg in msgs if msg.startswith("SMTP Server: ")]
        if not ours:
            return 0
        share = len(ours) / len(lines)
        strong = any(_CONNECTED.match(msg) or _DISCONNECTED.match(msg) for msg in ours)
        return min(90, 50 + int(40 * share)) if strong else int(20 * share)

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        table: OpenSessions[str] = OpenSessions(IDLE_SECONDS)
        count = 0
        last: str | None = None  # the address connected last
        for number, text in lines:
            if not text.strip() or text.startswith("#"):
                continue
            m = _LINE.match(text)
            if m is None or not m.group("msg").startswith("SMTP Server: "):
                if "SMTP Server: " in text:
                    yield unparsed(source, number, "Domino console line with an unreadable "
                                   "time, skipped")
                continue
            ts, msg = _time(m), m.group("msg")
            yield from table.sweep(ts)
            if (e := _CONNECTED.match(msg)) is not None:
                count += 1
                ip = e.group("ip")
                ps = PartialSession(f"domino-{count}", source, "domino", number, ts,
                                    endpoint(ip, None))
                yield from table.add(ip, ps)
                last = ip
                continue
            ip = e.group("ip") if (e := _DISCONNECTED.match(msg) or
                                       _AUTH_FAILED.match(msg)) is not None else last
            found = table.get(ip) if ip else None
            if found is None:
                continue  # begun before the log, or another task's line
            found.touch(ts)
            if (d := _DISCONNECTED.match(msg)) is not None:
                found.session.close_reason = "disconnected"
                yield from table.close(d.group("ip"))
            elif (a := _AUTH_FAILED.match(msg)) is not None:
                exchange = found.auth("?", ts, "failure", user=a.group("user") or None,
                                      reply_code=535)
                found.auth_failed(exchange, number, text,
                                  f"Domino: authentication failed for user {a.group('user')!r}")
            elif (r := _RECEIVED.match(msg)) is not None:
                t = found.transaction(ts, None, r.group("id"))
                ok = f"Message {r.group('id')} accepted"
                t.method, t.ended = "DATA", "message"
                t.message = Message("DATA", ts, ts, "skipped", True, 0, reply_code=250,
                                    reply_text=ok)
                t.last_reply_code, t.last_reply_line = 250, ok
            elif "relay" in msg.lower() and ("denied" in msg or "rejected" in msg.lower()):
                found.finding("log.rejected", number, text, ts, Direction.SERVER,
                              f"Domino: {msg[13:]}")
        yield from table.drain()
