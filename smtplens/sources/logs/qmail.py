"""qmail's SMTP service log: ``tcpserver -v``, ``rblsmtpd`` and (patched) ``qmail-smtpd``
lines, as multilog writes them (``@4000...`` TAI64N labels, or ``tai64nlocal`` times).

    @400000006b0fb09114e5923c tcpserver: pid 7278 from 127.0.0.2
    @400000006b0fb09114f355ac tcpserver: ok 7278 :127.0.0.1:2703 :127.0.0.2::57905
    @400000006b0fb091150439e4 rblsmtpd: 127.0.0.2 pid 7278: 553 You are listed in ...
    @400000006b0fb09115115944 tcpserver: end 7278 status 0

tcpserver's ``pid`` line opens a connection (a pid seen again later is a new one), its
``ok`` line gives both ends (``localname:ip:port remotename:ip:info:port``), ``deny``
refuses it and ``end`` closes it. ``rblsmtpd`` answers the client itself when it is
listed (RFC 5321 §4.2: 451 temporary, 553 permanent) and drops the connection after
QUIT: ``log.rejected``. Stock qmail-smtpd logs nothing; s/qmail (and spamcontrol)
write ``qmail-smtpd: pid PID Action::Type::Condition: P:proto S:ip:host H:helo F:from
T:to`` (``doc/LOGGING``), read here for AUTH, MAIL, RCPT and TLS (``P:ESMTPS``). Without
such lines TLS, HELO and the envelope stay unknown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from smtplens.model import Recipient, Transaction
from smtplens.sources.logs._summary import OpenSessions, PartialSession, endpoint, unparsed
from smtplens.sources.logs._syslog import read_through
from smtplens.sources.logs._times import iso_time
from smtplens.stream import Direction, StreamItem

IDLE_SECONDS = 3600.0
#: a TAI64N label: 2^62 + seconds (TAI, 10 s ahead of UTC since 2017), then nanoseconds
_TAI64N = re.compile(r"^@(?P<sec>4[0-9a-f]{15})(?P<nano>[0-9a-f]{8}) (?P<msg>.*)$")
_LOCAL = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,9})?) (?P<msg>.*)$")
_TCPSERVER = re.compile(r"^(?P<prog>tcpserver|sslserver): (?P<what>pid|ok|deny|end) "
                        r"(?P<pid>\d{1,10}) (?P<rest>.*)$")
_OK = re.compile(r"^(?P<lname>[^:\s]*):(?P<lip>[0-9.]{7,15}):(?P<lport>\d{1,5}) "
                 r"(?P<rname>[^:\s]*):(?P<rip>[0-9.]{7,15}):(?P<info>[^:\s]*):(?P<rport>\d{1,5})")
_RBL = re.compile(r"^rblsmtpd: (?P<ip>\S+) pid (?P<pid>\d{1,10}): (?P<code>[45]\d\d) (?P<text>.*)$")
_SMTPD = re.compile(r"^qmail-smtpd: pid (?P<pid>\d{1,10}) (?P<action>Accept|Reject)::"
                    r"(?P<type>\w+)::(?P<cond>[\w-]+):? ?(?P<info>.*)$")
_INFO = re.compile(r"(?:^| )(?P<key>[PSHFTU]):(?P<val>\S*)")
_STRONG = ("tcpserver: pid ", "tcpserver: ok ", "rblsmtpd: ", "qmail-smtpd: pid ",
           "sslserver: pid ")
_TAI_OFFSET = 10  # daemontools labels are 2^62 + 10 + Unix seconds (TAI - UTC in 1970)


def _split(text: str) -> tuple[float | None, str] | None:
    if (m := _TAI64N.match(text)) is not None:
        seconds = int(m.group("sec"), 16) - (1 << 62) - _TAI_OFFSET
        return seconds + int(m.group("nano"), 16) / 1e9, m.group("msg")
    if (m := _LOCAL.match(text)) is not None:
        stamp = m.group("ts")
        whole, _, frac = stamp.partition(".")
        ts = iso_time(whole.replace(" ", "T"))
        return (ts + float(f"0.{frac}") if ts is not None and frac else ts), m.group("msg")
    if text.startswith(_STRONG) or text.startswith(("tcpserver: ", "qmail-smtpd: ")):
        return None, text  # multilog without timestamps (no "t" action)
    return None


class QmailLog:
    """tcpserver / rblsmtpd / qmail-smtpd multilog lines, read into partial sessions."""

    name = "qmail"
    description = "qmail SMTP service log (tcpserver -v, rblsmtpd, s/qmail qmail-smtpd)"

    def sniff(self, head: list[str]) -> int:
        lines = [ln for ln in head if ln.strip() and not ln.startswith("#")]
        split = [p for ln in lines if (p := _split(ln)) is not None]
        ours = [msg for _, msg in split if msg.startswith(("tcpserver: ", "sslserver: ",
                                                           "rblsmtpd: ", "qmail-smtpd: "))]
        if not lines or not ours:
            return 0
        share = len(ours) / len(lines)
        strong = any(msg.startswith(_STRONG) for msg in ours)
        return min(95, 50 + int(45 * share)) if strong else int(20 * share)

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        return read_through(_Reader(source), lines)


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.table: OpenSessions[str] = OpenSessions(IDLE_SECONDS)
        self.count = 0

    def line(self, number: int, text: str) -> list[StreamItem]:
        if not text.strip() or text.startswith("#"):
            return []
        parts = _split(text)
        if parts is None:
            if text.startswith("@"):
                return [unparsed(self.source, number, "multilog line with an unreadable "
                                 "TAI64N label, skipped")]
            return []
        ts, msg = parts
        out: list[StreamItem] = list(self.table.sweep(ts))
        if (m := _TCPSERVER.match(msg)) is not None:
            out += self.tcpserver(number, text, ts, m)
        elif (m := _RBL.match(msg)) is not None:
            ps = self.get(m.group("pid"), number, ts, m.group("ip"), out)
            code, why = int(m.group("code")), m.group("text")
            ps.session.greeting_code, ps.session.greeting_text = code, why
            how = "temporarily" if code < 500 else "permanently"
            ps.finding("log.rejected", number, text, ts, Direction.SERVER,
                       f"rblsmtpd refused the client ({how}): {code} {why}")
            ps.session.close_reason = "rejected"
        elif (m := _SMTPD.match(msg)) is not None:
            ps = self.get(m.group("pid"), number, ts, None, out)
            self.smtpd(ps, number, text, ts, m)
        elif msg.startswith(("tcpserver: pid", "tcpserver: ok", "tcpserver: end",
                             "rblsmtpd: ")):
            out.append(unparsed(self.source, number, "tcpserver/rblsmtpd line not "
                                "understood, skipped"))
        return out

    def get(self, pid: str, number: int, ts: float | None, ip: str | None,
            out: list[StreamItem]) -> PartialSession:
        ps = self.table.get(pid)
        if ps is None:
            self.count += 1
            ps = PartialSession(f"qmail-{self.count}", self.source, "qmail", number, ts,
                                endpoint(ip, None) if ip else None)
            ps.pid = pid
            out += self.table.add(pid, ps)
        ps.touch(ts)
        return ps

    def tcpserver(self, number: int, text: str, ts: float | None,
                  m: re.Match[str]) -> list[StreamItem]:
        what, pid, rest = m.group("what"), m.group("pid"), m.group("rest")
        out: list[StreamItem] = []
        if what == "pid":
            out += self.table.close(pid, "reused")  # a new process with an old pid
            ip = rest[5:] if rest.startswith("from ") else None
            self.get(pid, number, ts, ip, out)
        elif what in ("ok", "deny"):
            ps = self.get(pid, number, ts, None, out)
            if (o := _OK.match(rest)) is not None:
                ps.session.client = endpoint(o.group("rip"), o.group("rport"))
                ps.session.server = endpoint(o.group("lip"), o.group("lport"))
            if what == "deny":
                ps.finding("log.rejected", number, text, ts, Direction.SERVER,
                           "tcpserver denied the connection (tcprules)")
                ps.session.close_reason = "denied"
        else:  # end PID status N
            ending = self.table.get(pid)
            if ending is not None:
                ending.touch(ts)
                ending.session.close_reason = ending.session.close_reason or f"end ({rest})"
                out += self.table.close(pid)
        return out

    def smtpd(self, ps: PartialSession, number: int, text: str, ts: float | None,
              m: re.Match[str]) -> None:
        s = ps.session
        info = {i.group("key"): i.group("val") for i in _INFO.finditer(m.group("info"))}
        proto = info.get("P", "")
        if proto.startswith("ESMTP"):
            s.helo_verb = "EHLO"
            s.tls = True if "S" in proto[5:] else (False if s.tls is None else s.tls)
        elif proto == "SMTP":
            s.helo_verb = "HELO"
        if info.get("H"):
            s.helo = info["H"]
        if s.client is None and "S" in info:
            s.client = endpoint(info["S"].split(":", 1)[0], None)
        ok = m.group("action") == "Accept"
        kind, cond = m.group("type").upper(), m.group("cond")
        sender, rcpt = info.get("F"), info.get("T")
        if kind == "AUTH":
            exchange = ps.auth(cond.upper(), ts, "success" if ok else "failure",
                               user=info.get("U") or None, reply_code=235 if ok else 535)
            if not ok:
                ps.auth_failed(exchange, number, text, f"qmail-smtpd: AUTH {cond} rejected")
        elif kind == "RCPT" and rcpt:
            if ok:
                t = _open(ps, ts, sender)
                t.recipients.append(Recipient(rcpt, {}, 250, "ok"))
            else:
                ps.rejected_recipient(ts, sender, rcpt, None, cond, None)
        elif kind == "ORIG" and not ok:
            t = ps.transaction(ts, sender)
            t.mail_reply_text = cond
        if not ok and kind != "AUTH":
            ps.finding("log.rejected", number, text, ts, Direction.SERVER,
                       f"qmail-smtpd rejected {kind} ({cond})"
                       + (f": <{rcpt or sender}>" if (rcpt or sender) else ""))


def _open(ps: PartialSession, ts: float | None, sender: str | None) -> Transaction:
    ts_list = ps.session.transactions
    last = ts_list[-1] if ts_list else None
    if last is not None and last.message is None and last.mail_from == sender:
        return last
    return ps.transaction(ts, sender)

