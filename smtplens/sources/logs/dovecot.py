"""Dovecot's submission service in syslog (``dovecot: submission-login: ...``): partial
sessions keyed by Dovecot's session id.

What Dovecot 2.3 writes (``login_log_format_elements`` at its default)::

    dovecot: submission-login: Login: user=<alice>, method=PLAIN, rip=127.0.0.1,
        lip=127.0.0.1, mpid=5838, TLS, session=<WHoZI6BhxpJ/AAAB>
    dovecot: submission(alice)<5838><WHoZI6BhxpJ/AAAB>: Successfully relayed message:
        from=<alice@example.test>, size=76, id=..., nrcpt=1, reply=`250 2.0.0 Ok: queued'
    dovecot: submission(alice)<5838><WHoZI6BhxpJ/AAAB>: Disconnected: Logged out
        (state=READY) in=161 out=101
    dovecot: auth: passwd-file(alice,127.0.0.1,<V4w5I6Bh3JJ/AAAB>): Password mismatch
    dovecot: submission-login: Disconnected: Aborted login by logging out (auth failed,
        3 attempts in 14 secs): user=<alice>, method=LOGIN, rip=127.0.0.1, ...

The connection-security word tells TLS: ``TLS`` (or ``TLS handshaking``) is TLS, no
word is clear text, and ``secured`` means a connection Dovecot trusts without TLS
(loopback, ``login_trusted_networks``) *or* TLS: it stays unknown. ``auth:`` lines (with
``auth_verbose``) name the user and the reason of each failure; the login process's
``Disconnected`` line gives the mechanism and how many attempts failed (the auth
process serves IMAP and POP3 too: its lines count only once a submission-login line
names their session id). Dovecot logs
neither MAIL/RCPT refusals (the relay's reply goes to the client only) nor HELO.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from smtplens.model import AuthExchange, Message
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

IDLE_SECONDS = 3600.0
PENDING_LIMIT = 10000  #: auth failures kept while waiting for their login line
_LOGIN_MSG = re.compile(r"^submission-login: (?:Info: )?(?P<what>Login|Disconnected|"
                        r"Aborted login|Maximum number of connections)(?P<rest>.*)$")
_SERVICE = re.compile(r"^submission\((?P<user>[^)]*)\)(?:<(?P<pid>\d+)>)?<(?P<sid>[^>]{1,40})>: "
                      r"(?:Info: )?(?P<rest>.*)$")
_AUTH = re.compile(r"^auth(?:-worker\(\d+\))?: (?:Info: )?(?P<db>[\w-]+)\((?P<user>[^,]*),"
                   r"(?P<ip>[^,]*),<(?P<sid>[^>]{1,40})>\): (?P<why>.*)$")
_KV = re.compile(r"(\w+)=<([^>]*)>|(\w+)=([^\s,]+)")
_SID = re.compile(r"session=<(?P<sid>[^>]{1,40})>")
_FAILED = re.compile(r"auth failed, (?P<n>\d+) attempts?")
_RELAYED = re.compile(r"^Successfully relayed message: (?P<kv>.*?)(?:, reply=`(?P<reply>.*)')?$")
_ENDED = re.compile(r"^Disconnected:? (?P<why>[^(]*?) ?(?:\(state=(?P<state>[^)]*)\))?"
                    r"(?: in=\d+ out=\d+.*)?$")
_STRONG = ("submission-login: ", "submission(")


def _ours(line: SyslogLine) -> bool:
    return line.tag == "dovecot" and line.msg.startswith(("submission", "auth"))


class DovecotSubmissionLog:
    """Dovecot's submission service log lines, read into partial sessions."""

    name = "dovecot-submission"
    description = "Dovecot submission syslog (submission-login: Login: user=<...>, ...)"

    def sniff(self, head: list[str]) -> int:
        return syslog_share(head, _ours, lambda ln: ln.msg.startswith(_STRONG))

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        return read_through(_Reader(source), lines)


class _Reader(SyslogReader[str]):
    what = "Dovecot log line"
    idle = IDLE_SECONDS

    def __init__(self, source: str) -> None:
        super().__init__(source)
        self.pending: dict[str, list[tuple[int, str, float | None, str, str, str]]] = {}

    def looks_ours(self, text: str) -> bool:
        return " dovecot" in text[:80] and "submission" in text

    def ours(self, line: SyslogLine) -> bool:
        return _ours(line)

    def on_line(self, number: int, text: str, line: SyslogLine) -> list[StreamItem]:
        out: list[StreamItem] = []
        msg = line.msg
        if (m := _LOGIN_MSG.match(msg)) is not None:
            out += self.login_process(number, text, line, m.group("what"), m.group("rest"))
        elif (m := _SERVICE.match(msg)) is not None:
            ps, new = self.session(m.group("sid"), number, line, {})
            out += new
            ps.pid = ps.pid or m.group("pid")
            out += self.service(ps, m.group("sid"), number, text, line, m.group("rest"))
        elif (m := _AUTH.match(msg)) is not None:
            # the auth process serves IMAP and POP3 logins too: the failure waits for a
            # submission-login line with the same session id
            failure = (number, text, line.ts, m.group("user"), m.group("db"), m.group("why"))
            self.pending.setdefault(m.group("sid"), []).append(failure)
            if len(self.pending) > PENDING_LIMIT:
                del self.pending[next(iter(self.pending))]
        return out

    def replay(self, ps: PartialSession, sid: str) -> None:
        """The auth process's failures for ``sid``, now known to be a submission login."""
        waiting = self.pending.pop(sid, [])
        if waiting:
            ps.session.location = f"line {waiting[0][0]}"  # the session began earlier
        for number, text, ts, user, db, why in waiting:
            ps.touch(ts)
            exchange = ps.auth("?", ts, "failure", user=user or None, reply_code=535,
                               reply_text=why)
            ps.auth_failed(exchange, number, text, f"Dovecot {db}: {why}, user {user!r}")

    def session(self, sid: str, number: int, line: SyslogLine,
                kv: dict[str, str]) -> tuple[PartialSession, list[StreamItem]]:
        ps = self.table.get(sid)
        new: list[StreamItem] = []
        if ps is None:
            self.count += 1
            ps = PartialSession(f"dovecot-{self.count}", self.source, "dovecot-submission",
                                number, line.ts)
            new = list(self.table.add(sid, ps))
        s = ps.session
        if s.client is None and kv.get("rip"):
            s.client = endpoint(kv["rip"], kv.get("rport"))
        if s.server is None and kv.get("lip"):
            s.server = endpoint(kv["lip"], kv.get("lport"))
        ps.touch(line.ts)
        return ps, new

    def login_process(self, number: int, text: str, line: SyslogLine, what: str,
                      rest: str) -> list[StreamItem]:
        sid = _SID.search(rest)
        if sid is None:
            return []
        kv = _pairs(rest)
        ps, out = self.session(sid.group("sid"), number, line, kv)
        self.replay(ps, sid.group("sid"))
        s = ps.session
        words = {w.strip() for w in rest.split(",")}
        if "TLS" in words or "TLS handshaking" in words:
            s.tls = True
        elif "secured" not in words and s.tls is None:
            s.tls = False  # no security word: clear text, not a trusted network
        mech = kv.get("method", "?").upper()
        user = kv.get("user") or None
        if what == "Login":
            _name_failures(s.auth, mech)
            ps.auth(mech, line.ts, "success", user=user, reply_code=235)
            return out
        # the login process ends the connection before (or instead of) a login
        failed = _FAILED.search(rest)
        if failed is not None:
            n = int(failed.group(1))
            _name_failures(s.auth, mech)
            for _ in range(n - len([a for a in s.auth if a.outcome == "failure"])):
                exchange = ps.auth(mech, line.ts, "failure", user=user, reply_code=535)
                ps.auth_failed(exchange, number, text, f"Dovecot: AUTH {mech} failed"
                               + (f", user {user!r}" if user else ""))
        s.close_reason = "auth failed" if failed else rest.split("(")[0].strip(": ") or what
        s.quit = "logging out" in rest
        return out + self.table.close(sid.group("sid"))

    def service(self, ps: PartialSession, sid: str, number: int, text: str,
                line: SyslogLine, rest: str) -> list[StreamItem]:
        s, ts = ps.session, line.ts
        if (m := _RELAYED.match(rest)) is not None:
            kv = _pairs(m.group("kv"))
            code, why = reply(m.group("reply") or "250")
            t = ps.transaction(ts, kv.get("from", ""))
            t.mail_reply_code, t.method, t.ended = 250, "DATA", "message"
            t.message = Message("DATA", ts, ts, "skipped", True, size(kv.get("size")),
                                reply_code=code, reply_text=why)
            t.last_reply_code, t.last_reply_line = code, why
            return []  # nrcpt= is a count: Dovecot does not name the recipients
        if (m := _ENDED.match(rest)) is not None:
            why, state = m.group("why").strip(), m.group("state") or ""
            s.quit = why.startswith("Logged out")
            s.close_reason = why or "disconnected"
            if not s.quit and state and state != "READY":
                ps.finding("log.lost-connection", number, text, ts, None,
                           f"Dovecot submission: {why} in state {state}")
            elif "inactivity" in why:
                ps.finding("log.lost-connection", number, text, ts, None,
                           f"Dovecot submission: {why}")
            return list(self.table.close(sid))
        if rest.startswith(("Failed", "Error")) and reply(rest.split(": ")[-1])[0]:
            ps.finding("log.rejected", number, text, ts, Direction.SERVER,
                       f"Dovecot submission: {rest}")
        return []


def _pairs(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for k1, v1, k2, v2 in _KV.findall(text):
        out.setdefault(k1 or k2, v1 if k1 else v2)
    return out


def _name_failures(auth: list[AuthExchange], mech: str) -> None:
    """The ``auth:`` failure lines do not say the mechanism; the login line does."""
    for a in auth:
        if a.mechanism == "?":
            a.mechanism = mech
