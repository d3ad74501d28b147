"""sendmail's ordinary syslog (``sm-mta[pid]: ...``): one partial session per connection.

Not the ``-X`` trace (:mod:`smtplens.sources.logs.sendmail` reads that): the lines the
daemon's children write at the default LogLevel (9-10)::

    sm-mta[3722]: NOQUEUE: connect from localhost [127.0.0.1]          (LogLevel > 9)
    sm-mta[3725]: STARTTLS=server, relay=localhost [127.0.0.1], version=TLSv1.3, ...
    sm-mta[3725]: AUTH=server, relay=localhost [127.0.0.1], authid=alice, mech=LOGIN
    sm-mta[3728]: QID: AUTH failure (LOGIN): authentication failure (-13) SASL(-13): ...
    sm-mta[4319]: QID: ruleset=check_rcpt, arg1=<b@x>, relay=..., reject=550 5.7.1 ...
    sm-mta[3722]: QID: from=<a@x>, size=94, class=0, nrcpts=1, msgid=<...>, proto=ESMTPA
    sm-mta[3760]: QID: lost input channel from localhost [127.0.0.1] to MTA-v4 after rcpt
    sm-mta[3768]: QID: localhost [127.0.0.1] did not issue MAIL/EXPN/VRFY/ETRN during ...
    sm-mta[3769]: QID: timeout waiting for input from localhost during server cmd read

One child process serves one connection, so the pid keys the session; a ``connect
from`` under a pid already open starts a new session (the pid was reused). Delivery
lines (``to=<...>, stat=Sent``) come from other processes: they join the transaction of
their queue id. sendmail logs no client port and no HELO name; ``proto=`` tells EHLO or
HELO, AUTH (``A``) and TLS (``S``), so a session with a ``from=`` line knows its TLS
state, and one without says unknown unless a ``STARTTLS=server`` line was logged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from smtplens.model import Message, Recipient, Transaction
from smtplens.sources.logs._summary import PartialSession, endpoint
from smtplens.sources.logs._syslog import (
    SyslogLine,
    SyslogReader,
    read_through,
    reply,
    size,
    syslog_share,
)
from smtplens.stream import Direction, StreamItem

TAGS = frozenset({"sm-mta", "sendmail", "sm-msp-queue", "sm-mta-queue"})
IDLE_SECONDS = 600.0
_QID = re.compile(r"^(?:(?P<qid>NOQUEUE|[0-9A-Za-z]{8,20}): )?(?P<rest>.*)$")
#: ``relay=name [ip]`` / ``relay=[ip]`` / ``localhost [IPv6:::1]``; "(may be forged)" after
_RELAY = re.compile(r"(?:relay=)?(?:(?P<name>[^\s\[\],=]+) )?\[(?:IPv6:)?(?P<ip>[0-9A-Fa-f:.]+)\]")
_CONNECT = re.compile(r"^connect from (?P<client>.*)$")
_AUTH_OK = re.compile(r"^AUTH=server, (?P<fields>.*)$")
_AUTH_FAIL = re.compile(r"^AUTH failure \((?P<mech>[A-Z0-9_-]{1,20})\): (?P<why>.*?)"
                        r"(?:, user=(?P<user>[^,]*))?(?:, relay=(?P<relay>.*))?$")
_STARTTLS = re.compile(r"^STARTTLS=server, (?P<fields>.*)$")
_FROM = re.compile(r"^(?P<fields>from=.*)$")
_TO = re.compile(r"^(?P<fields>to=.*)$")
_RULESET = re.compile(r"^ruleset=(?P<ruleset>\w+), arg1=(?P<arg1>.*?), (?P<fields>relay=.*?), "
                      r"reject=(?P<reject>.*)$")
#: ``<b@x>... User unknown`` and the other refusals sendmail logs after an address
_UNKNOWN_USER = re.compile(r"^<(?P<rcpt>[^>]*)>\.\.\. (?P<why>.*)$")
_REFUSAL = re.compile(r"[Uu]nknown|[Dd]enied|[Rr]ejected|[Rr]efused|does not exist|disabled|"
                      r"[Ii]nvalid")
_LOST = re.compile(r"^lost input channel from (?P<client>.*?) to \S+ after (?P<after>\w+)$")
_NO_MAIL = re.compile(r"^(?P<client>.*?) did not issue (?P<what>[A-Z/]+) during connection")
_TIMEOUT = re.compile(r"^timeout waiting for input from (?P<client>\S+) during (?P<what>.*)$")
_FIELD = re.compile(r"(?P<key>[a-z]+)=(?P<val><[^>]*>|[^,]*)")
#: phrases only sendmail writes, for sniffing
_STRONG = re.compile(r"^(?:\w+: )?(?:connect from |AUTH=server, |AUTH failure \(|STARTTLS=|"
                     r"from=<|to=<|ruleset=check_|lost input channel|.* did not issue MAIL|"
                     r"starting daemon \(8\.)")


def fields(text: str) -> dict[str, str]:
    """``key=value, key=<value>`` pairs (the first of each key)."""
    out: dict[str, str] = {}
    for m in _FIELD.finditer(text):
        out.setdefault(m.group("key"), m.group("val").strip())
    return out


class SendmailSummaryLog:
    """sendmail's syslog (``sm-mta``), read into partial sessions."""

    name = "sendmail-log"
    description = "sendmail syslog (sm-mta[pid]: from=, AUTH=server, ruleset=, ...)"

    def sniff(self, head: list[str]) -> int:
        return syslog_share(head, lambda ln: ln.tag in TAGS,
                            lambda ln: _STRONG.match(ln.msg) is not None)

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        return read_through(_Reader(source), lines)


class _Reader(SyslogReader[str]):
    what = "sendmail syslog line"
    idle = IDLE_SECONDS

    def __init__(self, source: str) -> None:
        super().__init__(source)
        self.by_qid: dict[str, Transaction] = {}

    def looks_ours(self, text: str) -> bool:
        return any(f" {t}[" in text[:80] for t in TAGS)

    def ours(self, line: SyslogLine) -> bool:
        return line.tag in TAGS and line.pid is not None

    def on_line(self, number: int, text: str, line: SyslogLine) -> list[StreamItem]:
        assert line.pid is not None  # ours()
        out: list[StreamItem] = []
        m = _QID.match(line.msg)
        assert m is not None  # everything after the optional queue id matches
        qid, rest = m.group("qid"), m.group("rest")
        if (c := _CONNECT.match(rest)) is not None:
            out += self.table.add(line.pid, self.new(number, line, c.group("client")))
            return out
        if (t := _TO.match(rest)) is not None:
            self.delivered(self.table.get(line.pid), line.ts, qid, fields(t.group("fields")))
            return out
        ps = self.table.get(line.pid)
        if ps is None:
            r = _RELAY.search(rest)
            known = rest.startswith(("AUTH", "STARTTLS", "from=", "ruleset=", "lost input",
                                     "timeout")) or "did not issue" in rest
            if r is None or not known:
                return out  # the daemon, a queue run, or a connection begun before the log
            ps = self.new(number, line, r.group(0))
            out += self.table.add(line.pid, ps)
        ps.touch(line.ts)
        self.event(ps, number, text, line, qid, rest)
        return out

    def new(self, number: int, line: SyslogLine, client: str) -> PartialSession:
        self.count += 1
        r = _RELAY.search(client)
        ps = PartialSession(f"sendmail-{self.count}", self.source, "sendmail-log", number,
                            line.ts, endpoint(r.group("ip"), None) if r else None)
        ps.pid = line.pid
        return ps

    def event(self, ps: PartialSession, number: int, text: str, line: SyslogLine,
              qid: str | None, rest: str) -> None:
        s, ts = ps.session, line.ts
        if (a := _AUTH_OK.match(rest)) is not None:
            f = fields(a.group("fields"))
            ps.auth(f.get("mech", "?"), ts, "success", user=f.get("authid") or None,
                    reply_code=235)
        elif (a := _AUTH_FAIL.match(rest)) is not None:
            exchange = ps.auth(a.group("mech"), ts, "failure", user=a.group("user") or None,
                               reply_code=535, reply_text=a.group("why"))
            who = f", user {exchange.user!r}" if exchange.user else ""
            ps.auth_failed(exchange, number, text,
                           f"sendmail: AUTH {exchange.mechanism} failed: {a.group('why')}{who}")
        elif (a := _STARTTLS.match(rest)) is not None:
            f = fields(a.group("fields"))
            if "version" in f:
                s.tls, s.tls_ts = True, ts
            else:  # STARTTLS=server, error: accept failed=...
                ps.finding("log.tls-failed", number, text, ts, None,
                           f"sendmail: STARTTLS failed: {a.group('fields')}")
        elif (a := _FROM.match(rest)) is not None:
            self.arrival(ps, ts, qid, fields(a.group("fields")))
        elif (a := _RULESET.match(rest)) is not None:
            self.rejected(ps, number, text, ts, qid, a)
        elif (a := _UNKNOWN_USER.match(rest)) is not None and _REFUSAL.search(a.group("why")):
            code = 550 if a.group("why") == "User unknown" else None
            ps.rejected_recipient(ts, None, a.group("rcpt"), code, a.group("why"), qid)
            ps.finding("log.rejected", number, text, ts, Direction.SERVER,
                       f"RCPT <{a.group('rcpt')}> rejected: {a.group('why')}")
        elif (a := _LOST.match(rest)) is not None:
            ps.finding("log.lost-connection", number, text, ts, None,
                       f"sendmail: lost input channel after {a.group('after').upper()}")
            s.close_reason = "lost"
        elif (a := _TIMEOUT.match(rest)) is not None:
            ps.finding("log.lost-connection", number, text, ts, None,
                       f"sendmail: timeout waiting for input during {a.group('what')}")
            s.close_reason = "timeout"
        elif (a := _NO_MAIL.match(rest)) is not None:
            s.close_reason = s.close_reason or "no MAIL"

    def arrival(self, ps: PartialSession, ts: float | None, qid: str | None,
                f: dict[str, str]) -> None:
        s = ps.session
        proto = f.get("proto", "")
        if proto:
            s.helo_verb = "EHLO" if proto.startswith("ESMTP") else "HELO"
            # RFC 3848: ESMTPS / ESMTPSA: the message came over TLS; ESMTP(A): it did not
            if proto.startswith("ESMTP") and s.tls is not True:
                s.tls = "S" in proto[5:]
        sender = f.get("from", "").strip("<>")
        t = ps.by_queue_id.get(qid) if qid else None
        if t is None:
            last = s.transactions[-1] if s.transactions else None
            t = last if last is not None and last.message is None and \
                last.mail_from == sender else ps.transaction(ts, sender, qid)
        t.mail_from = sender
        if t.mail_reply_code is None:  # a check_mail reject already gave its code
            t.mail_reply_code = 250
        if qid and qid != "NOQUEUE":
            ps.by_queue_id[qid] = t
            self.by_qid[qid] = t
            if len(self.by_qid) > 20000:
                del self.by_qid[next(iter(self.by_qid))]
        octets = size(f.get("size"))
        # a received message has a msgid= (sendmail makes one when the header lacks
        # it); an aborted transaction logs its size= (or the SIZE= the client declared)
        # with no msgid, and nrcpts=0 when MAIL or every RCPT was refused
        if "msgid" in f or (octets and f.get("nrcpts", "0") != "0"
                            and t.mail_reply_code == 250):
            ok = f"{qid or '?'} Message accepted for delivery"
            t.method = "DATA"
            t.message = Message("DATA", ts, ts, "skipped", True, octets, reply_code=250,
                                reply_text=ok)
            t.ended, t.last_reply_code, t.last_reply_line = "message", 250, ok

    def delivered(self, ps: PartialSession | None, ts: float | None, qid: str | None,
                  f: dict[str, str]) -> None:
        """A ``to=`` line: its recipients were accepted in the transaction of ``qid``
        (a delivery process's line), or of the session's own process (``stat=aborted by
        sender``: accepted, then the client left before DATA)."""
        t = self.by_qid.get(qid or "")
        if t is None and ps is not None and qid and qid != "NOQUEUE":
            t = ps.by_queue_id.get(qid) or ps.transaction(ts, None, qid)
            self.by_qid[qid] = t
        if t is None:
            return
        for rcpt in f.get("to", "").split(","):
            rcpt = rcpt.strip().strip("<>")
            if rcpt and all(r.address != rcpt for r in t.recipients):
                t.recipients.append(Recipient(rcpt, {}, 250, "Recipient ok"))

    def rejected(self, ps: PartialSession, number: int, text: str, ts: float | None,
                 qid: str | None, m: re.Match[str]) -> None:
        ruleset, arg1 = m.group("ruleset"), m.group("arg1").strip("<>")
        code, why = reply(m.group("reject"))
        what = {"check_rcpt": "RCPT", "check_mail": "MAIL", "check_relay": "connection",
                "check_compat": "message"}.get(ruleset, ruleset)
        if what == "RCPT":
            ps.rejected_recipient(ts, None, arg1, code, why, qid)
        elif what == "MAIL":
            t = ps.transaction(ts, arg1, qid)
            t.mail_reply_code, t.mail_reply_text = code, why
            t.last_reply_code, t.last_reply_line = code, why
        elif what == "connection":
            ps.session.close_reason = "rejected"
        ps.finding("log.rejected", number, text, ts, Direction.SERVER,
                   f"{what} {'<' + arg1 + '> ' if what in ('RCPT', 'MAIL') else ''}"
                   f"rejected by {ruleset}: {code or ''} {why}".replace("  ", " "))
