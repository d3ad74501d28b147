"""Kerio Connect's ``mail.log`` and ``security.log``: one partial session per line.

Written from the documented layout (Kerio Connect is commercial; no capture was made)::

    [02/May/2024 10:00:00] Recv: Queue-ID: 663337e0-00000001, Service: SMTP, From:
        <alice@example.test>, To: <bob@example.test>, Size: 1234, Sender-Host:
        203.0.113.5, SSL: yes, User: alice, Subject: Hello, Msg-Id: <x@y>
    [02/May/2024 10:01:00] Failed SMTP login from 203.0.113.5 with SASL method PLAIN.

Kerio logs events, not connections: a ``Recv`` line is one received message (its
sender host, TLS from ``SSL:``, the authenticated ``User:``), a failed login one refused
AUTH, and neither says which connection it was. Each such line is its own partial
session (repeated failures from one address show in ``smtplens audit``, across
sessions). ``Recv`` lines of other services (HTTP, Kerio's own ``Service: Local``) are
not SMTP sessions: skipped. The ``debug.log`` SMTP dialogue is not read here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime

from smtplens.model import Message, Recipient
from smtplens.sources.logs._summary import PartialSession, endpoint, unparsed
from smtplens.sources.logs._syslog import size
from smtplens.sources.logs._times import MONTHS
from smtplens.stream import StreamItem

_LINE = re.compile(r"^\[(?P<day>\d\d)/(?P<mon>[A-Z][a-z]{2})/(?P<year>\d{4}) "
                   r"(?P<hms>\d\d:\d\d:\d\d)(?: (?P<tz>[+-]\d{4}))?\] (?P<msg>.*)$")
_RECV = re.compile(r"^Recv: (?P<fields>Queue-ID: .*)$")
_FAILED = re.compile(r"^Failed (?P<service>SMTP|SMTPS|Submission) login from "
                     r"(?P<ip>[0-9A-Fa-f:.]{2,64})(?: with SASL method (?P<mech>[\w-]+))?"
                     r"(?:, user (?P<user>\S+?))?\.?$")
#: ``Key: value`` pairs split on ", Key: " (Subject is last but one and may hold commas)
_FIELD = re.compile(r"(?:^|, )(?P<key>Queue-ID|Service|From|To|Size|Sender-Host|SSL|User|"
                    r"Subject|Msg-Id|Answer|Result): ")


def fields(text: str) -> dict[str, str]:
    marks = list(_FIELD.finditer(text))
    out: dict[str, str] = {}
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        out.setdefault(m.group("key"), text[m.end():end].strip())
    return out


def _time(m: re.Match[str]) -> float | None:
    try:
        h, mi, s = (int(p) for p in m.group("hms").split(":"))
        when = datetime(int(m.group("year")), MONTHS[m.group("mon")], int(m.group("day")),
                        h, mi, s)
        if m.group("tz"):
            tz = m.group("tz")
            stamp = when.isoformat() + f"{tz[:3]}:{tz[3:]}"
            return datetime.fromisoformat(stamp).timestamp()
        return when.timestamp()
    except (KeyError, ValueError, OverflowError, OSError):
        return None


class KerioLog:
    """Kerio Connect's mail and security logs, read into partial sessions."""

    name = "kerio"
    description = "Kerio Connect mail.log / security.log ([02/May/2024 10:00:00] Recv: ...)"

    def sniff(self, head: list[str]) -> int:
        lines = [ln for ln in head if ln.strip() and not ln.startswith("#")]
        msgs = [m.group("msg") for ln in lines if (m := _LINE.match(ln))]
        strong = sum(1 for msg in msgs if _RECV.match(msg) or _FAILED.match(msg))
        if not lines or not strong:
            return 0
        return min(90, 50 + int(40 * len(msgs) / len(lines)))

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        count = 0
        for number, text in lines:
            if not text.strip() or text.startswith("#"):
                continue
            m = _LINE.match(text)
            if m is None:
                if text.startswith("["):
                    yield unparsed(source, number, "Kerio log line with an unreadable "
                                   "time, skipped")
                continue
            ts, msg = _time(m), m.group("msg")
            if (r := _RECV.match(msg)) is not None:
                f = fields(r.group("fields"))
                if not f.get("Service", "").upper().startswith("SMTP"):
                    continue
                count += 1
                yield self.received(f"kerio-{count}", source, number, ts, f).finish()
            elif (a := _FAILED.match(msg)) is not None:
                count += 1
                ps = PartialSession(f"kerio-{count}", source, "kerio", number, ts,
                                    endpoint(a.group("ip"), None))
                mech = a.group("mech") or "?"
                exchange = ps.auth(mech, ts, "failure", user=a.group("user"),
                                   reply_code=535)
                ps.auth_failed(exchange, number, text,
                               f"Kerio: failed {a.group('service')} login"
                               f" with SASL method {mech}")
                yield ps.finish()

    @staticmethod
    def received(conn_id: str, source: str, number: int, ts: float | None,
                 f: dict[str, str]) -> PartialSession:
        host = f.get("Sender-Host", "")
        ps = PartialSession(conn_id, source, "kerio", number, ts,
                            endpoint(host, None) if host else None)
        s = ps.session
        ssl = f.get("SSL", "").lower()
        s.tls = True if ssl == "yes" else False if ssl == "no" else None
        if f.get("User"):
            ps.auth("?", ts, "success", user=f["User"], reply_code=235)
        t = ps.transaction(ts, f.get("From", "").strip("<>"), f.get("Queue-ID"))
        for rcpt in f.get("To", "").split(","):
            if rcpt.strip():
                t.recipients.append(Recipient(rcpt.strip().strip("<>"), {}, 250, ""))
        ok = f"queued as {f.get('Queue-ID', '?')}"
        t.method, t.ended = "DATA", "message"
        t.message = Message("DATA", ts, ts, "skipped", True, size(f.get("Size")),
                            reply_code=250, reply_text=ok)
        t.last_reply_code, t.last_reply_line = 250, ok
        return ps
