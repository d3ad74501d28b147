"""Courier's mail log (``courieresmtpd``, ``courierd``, delivery modules): partial sessions.

What Courier 1.0 writes through ``courierlogger`` (no pid: the client's address and
port key the session)::

    courieresmtpd: started,ip=[::ffff:127.0.0.1],port=[40312]
    courieresmtpd: error,relay=::ffff:127.0.0.1,port=57858,from=<a@x>,to=<b@y>: 513 Relaying
        denied.
    courieresmtpd: error,relay=::ffff:127.0.0.1,port=34706,msg="535 Authentication failed.",
        cmd: AUTH PLAIN AGFsaWNlAHdyb25nLXBh alice
    courieresmtpd: ip=[::ffff:127.0.0.1], Unexpected SSL connection shutdown.
    courierd: newmsg,id=0000...13E0, auth=alice: dns; client.example.test ([::ffff:127.0.0.1])
    courierd: started,id=0000...13E0,from=<alice@x>,module=local,host=...,addr=<alice>
    courierlocal: id=0000...13E0,from=<alice@x>,addr=<alice@x>,size=270,success: Message delivered.

The ``cmd:`` of an error line quotes the command that failed, AUTH's initial response
included (cut at 20 characters): for PLAIN that is ``\\0user\\0password`` in Base64, so
the log holds (part of) the password. The reader decodes the user from it, never keeps
the argument, redacts it in every excerpt and reports ``log.secret-in-log``.

Courier logs no STARTTLS, no HELO verb and no QUIT: TLS stays unknown unless the
``Unexpected SSL connection shutdown`` line shows TLS was on. A message's ``newmsg``
line names only the client's address: it joins that address's latest session.
"""

from __future__ import annotations

import binascii
import re
from base64 import b64decode
from collections.abc import Iterable, Iterator

from smtplens.model import Message, Recipient, Transaction
from smtplens.sources.logs._summary import PartialSession, endpoint
from smtplens.sources.logs._syslog import (
    SyslogLine,
    SyslogReader,
    auth_argument,
    read_through,
    redact_auth,
    reply,
    size,
    syslog_share,
)
from smtplens.stream import Direction, StreamItem

SMTPD = "courieresmtpd"
TAGS = frozenset({SMTPD, "courierd", "courierlocal", "courieresmtp", "courierdsn",
                  "courieruucp", "courierfax", "authdaemond", "courierfilter"})
IDLE_SECONDS = 600.0
Key = tuple[str, str]  #: (client address, port)
_STARTED = re.compile(r"^started,ip=\[(?P<ip>[^\]]{1,64})\],port=\[(?P<port>\d{1,5})\]")
_ERROR = re.compile(r"^error,relay=(?P<ip>[^,]{1,64}),(?:port=(?P<port>\d{1,5}),)?"
                    r"(?:(?P<kv>(?:from|to)=<[^>]*>(?:,(?:from|to)=<[^>]*>)*): (?P<reply>.*)"
                    r"|msg=\"(?P<msg>[^\"]*)\"(?:,cmd: (?P<cmd>.*))?)$")
_IP_NOTE = re.compile(r"^ip=\[(?P<ip>[^\]]{1,64})\], (?P<what>.*)$")
_NEWMSG = re.compile(r"^newmsg,id=(?P<id>[0-9A-F.]{8,64}), (?:auth=(?P<user>[^:,]*): )?"
                     r"(?P<via>\w+); (?P<helo>\S*) \((?:[^\s()]+ )?\[(?P<ip>[^\]]{1,64})\]\)")
_QUEUED = re.compile(r"^started,id=(?P<id>[0-9A-F.]{8,64}),from=<(?P<sender>[^>]*)>")
_DELIVERY = re.compile(r"^id=(?P<id>[0-9A-F.]{8,64}),from=<(?P<sender>[^>]*)>,"
                       r"addr=<(?P<rcpt>[^>]*)>(?:,size=(?P<size>\d{1,15}))?")
_KV = re.compile(r"(from|to)=<([^>]*)>")
_LOST_WORDS = ("timeout", "Timeout", "Connection reset", "Broken pipe", "connection closed")


class CourierLog:
    """Courier's mail log, read into partial sessions."""

    name = "courier"
    description = "Courier MTA mail log (courieresmtpd: started,ip=..., error,relay=...)"

    def sniff(self, head: list[str]) -> int:
        return syslog_share(head, lambda ln: ln.tag in TAGS,
                            lambda ln: ln.tag == SMTPD or ln.msg.startswith("newmsg,id="))

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        return read_through(_Reader(source), lines)


class _Reader(SyslogReader[Key]):
    what = "Courier log line"
    idle = IDLE_SECONDS

    def __init__(self, source: str) -> None:
        super().__init__(source)
        self.last_by_ip: dict[str, Key] = {}
        self.by_id: dict[str, Transaction] = {}

    def looks_ours(self, text: str) -> bool:
        return "courier" in text[:80]

    def ours(self, line: SyslogLine) -> bool:
        return line.tag in TAGS

    def on_line(self, number: int, text: str, line: SyslogLine) -> list[StreamItem]:
        out: list[StreamItem] = []
        msg = line.msg
        if line.tag == SMTPD:
            if (m := _STARTED.match(msg)) is not None:
                out += self.start(number, line, m.group("ip"), m.group("port"))
            elif (m := _ERROR.match(msg)) is not None:
                ps = self.find(m.group("ip"), m.group("port"), number, line)
                out += ps[1]
                self.error(ps[0], number, text, line, m)
            elif (m := _IP_NOTE.match(msg)) is not None:
                key = self.last_by_ip.get(m.group("ip"))
                found = self.table.get(key) if key else None
                if found is not None:
                    found.touch(line.ts)
                    if "SSL" in m.group("what"):  # a TLS close: TLS was on (RFC 3207)
                        found.session.tls = True
            return out
        if (m := _NEWMSG.match(msg)) is not None:
            self.newmsg(line, m)
        elif (m := _QUEUED.match(msg)) is not None:
            if (t := self.by_id.get(m.group("id"))) is not None:
                t.mail_from = m.group("sender")
        elif (m := _DELIVERY.match(msg)) is not None:
            self.delivery(m)
        return out

    # ------------------------------------------------------------------ sessions
    def start(self, number: int, line: SyslogLine, ip: str, port: str) -> list[StreamItem]:
        self.count += 1
        ps = PartialSession(f"courier-{self.count}", self.source, "courier", number,
                            line.ts, endpoint(_plain_ip(ip), port))
        self.last_by_ip[ip] = (ip, port)
        return list(self.table.add((ip, port), ps))

    def find(self, ip: str, port: str | None, number: int,
             line: SyslogLine) -> tuple[PartialSession, list[StreamItem]]:
        """The open session of ``ip``:``port`` (one begun before the log: a new one)."""
        key = (ip, port) if port else self.last_by_ip.get(ip)
        ps = self.table.get(key) if key else None
        if ps is not None:
            ps.touch(line.ts)
            return ps, []
        out = self.start(number, line, ip, port or "")
        key = (ip, port or "")
        found = self.table.get(key)
        assert found is not None
        return found, out

    # ------------------------------------------------------------------ lines
    def error(self, ps: PartialSession, number: int, text: str, line: SyslogLine,
              m: re.Match[str]) -> None:
        ts, shown = line.ts, redact_auth(text)
        if m.group("kv") is not None:
            pairs = dict(_KV.findall(m.group("kv")))
            code, why = reply(m.group("reply"))
            if "to" in pairs:
                ps.rejected_recipient(ts, pairs.get("from"), pairs["to"], code, why, None)
                what = f"RCPT <{pairs['to']}>"
            else:
                t = ps.transaction(ts, pairs.get("from"))
                t.mail_reply_code, t.mail_reply_text = code, why
                what = f"MAIL <{pairs.get('from', '')}>"
            ps.finding("log.rejected", number, shown, ts, Direction.SERVER,
                       f"{what} rejected: {code or ''} {why}".replace("  ", " "))
            return
        code, why = reply(m.group("msg"))
        cmd = m.group("cmd") or ""
        verb = cmd.split(" ", 1)[0].upper()
        if verb == "AUTH":
            self.auth_failed(ps, number, shown, ts, cmd, code, why)
        elif any(w in why for w in _LOST_WORDS):
            ps.finding("log.lost-connection", number, shown, ts, None,
                       f"Courier: {why}" + (f" after {verb}" if verb else ""))
            ps.session.close_reason = "lost"
        elif code is not None and code >= 400:
            ps.finding("log.rejected", number, shown, ts, Direction.SERVER,
                       f"{verb or 'command'} rejected: {code} {why}")

    def auth_failed(self, ps: PartialSession, number: int, shown: str, ts: float | None,
                    cmd: str, code: int | None, why: str) -> None:
        words = cmd.split()
        mech = words[1].upper() if len(words) > 1 else "?"
        arg = auth_argument(cmd)
        user, exposed = (words[-1] if len(words) > 2 else None), False
        if arg is not None and arg[0] == "PLAIN":
            decoded_user, exposed = _plain(arg[1])
            user = decoded_user or user
        exchange = ps.auth(mech, ts, "failure", user=user, reply_code=code, reply_text=why)
        detail = f"Courier: AUTH {mech} failed: {code or ''} {why}".replace("  ", " ")
        if user:
            detail += f", user {user!r}"
        ps.auth_failed(exchange, number, shown, detail)
        if exposed:
            exchange.secrets_exposed = True
            if not any(f.id == "log.secret-in-log" for f in ps.session.findings):
                ps.finding("log.secret-in-log", number, shown, ts, Direction.CLIENT,
                           "this Courier log quotes the AUTH PLAIN initial response "
                           "(Base64 of user and password) in its cmd: field"
                           + (f" for user {user!r}" if user else ""))

    def newmsg(self, line: SyslogLine, m: re.Match[str]) -> None:
        key = self.last_by_ip.get(m.group("ip"))
        ps = self.table.get(key) if key else None
        if ps is None:
            return  # a locally submitted message, or a session begun before the log
        ps.touch(line.ts)
        s = ps.session
        s.helo = s.helo or m.group("helo") or None
        if m.group("user") and not any(a.outcome == "success" for a in s.auth):
            ps.auth("?", line.ts, "success", user=m.group("user"), reply_code=235)
        t = ps.transaction(line.ts, None, m.group("id"))
        t.method, t.ended = "DATA", "message"
        ok = f"Ok. {m.group('id')}"
        t.message = Message("DATA", line.ts, line.ts, "skipped", True, 0, reply_code=250,
                            reply_text=ok)
        t.last_reply_code, t.last_reply_line = 250, ok
        self.by_id[m.group("id")] = t
        if len(self.by_id) > 20000:
            del self.by_id[next(iter(self.by_id))]

    def delivery(self, m: re.Match[str]) -> None:
        t = self.by_id.get(m.group("id"))
        if t is None:
            return
        t.mail_from = t.mail_from if t.mail_from is not None else m.group("sender")
        rcpt = m.group("rcpt")
        if all(r.address != rcpt for r in t.recipients):
            t.recipients.append(Recipient(rcpt, {}, 250, "Ok."))
        if t.message is not None and not t.message.wire_size:
            t.message.wire_size = size(m.group("size"))


def _plain_ip(ip: str) -> str:
    """``::ffff:127.0.0.1`` is the IPv4 client of a dual-stack socket (RFC 4291 §2.5.5.2)."""
    return ip[7:] if ip.lower().startswith("::ffff:") and "." in ip else ip


def _plain(arg: str) -> tuple[str | None, bool]:
    """The user of a (possibly cut) PLAIN initial response, and whether any of the
    password is in it (RFC 4616 §2: ``authzid NUL authcid NUL passwd``)."""
    usable = arg[: len(arg) - len(arg) % 4]
    try:
        raw = b64decode(usable, validate=True)
    except (binascii.Error, ValueError):
        return None, False
    parts = raw.split(b"\0")
    user = parts[1].decode("utf-8", "replace") if len(parts) > 1 and parts[1] else None
    return user, len(parts) > 2 and bool(parts[2])
