"""Exim's main log (``exim-mainlog``): one partial session per client connection.

Every line starts with the local time, then optionally the process id (``+pid``
selector) and the message id::

    2013-05-11 18:52:27 [7034] 1UbC5z-0001pS-6Z <= testuser@test.com H=(test.com)
        [127.0.0.1]:55900 I=[127.0.0.1]:465 P=esmtpsa X=TLS1.0:... A=plain_server:testuser
        S=633 id=... from <testuser@test.com> for testuser@test.com

Exim logs no connection id, and its daemon logs ``SMTP connection from`` under its own
pid, so the client's address (and port, when logged) keys the session, from the first
line about a client to ``closed by QUIT``, ``lost``, a timeout, a rejected connection, a
new ``SMTP connection from`` it, a new pid for a client logged without a port, or ten
minutes of silence (by default Exim logs no end to a connection that went well).

What each kind of line gives:

* ``<= sender H=... P=esmtpsa X=... A=auth:user S=size for rcpts``: a transaction with
  its message and recipients, EHLO/HELO and its name, TLS, a successful AUTH;
* ``H=... F=<a> rejected RCPT <b>: reason`` (and MAIL, after DATA, connection, EHLO):
  ``log.rejected``; ``rejected AUTH``, ``X authenticator failed for ...: 535 ...
  (set_id=user)``: a failed AUTH, ``auth.failed`` (``auth.repeated-failures`` from 3);
* ``SMTP protocol synchronization error (input sent without waiting for greeting)``:
  ``protocol.early-talker``; ``(next input sent too soon: pipelining was not
  advertised)``: ``protocol.pipelining-not-advertised``;
* ``SMTP connection from ... lost``, ``unexpected disconnection while reading SMTP
  command``, ``SMTP command/data timeout``: ``log.lost-connection``;
* ``TLS error on connection from``: ``log.tls-failed``; ``closed by QUIT``, ``no MAIL in
  SMTP connection ... C=EHLO,QUIT``: QUIT and the commands used.

* ``SMTP protocol error in "AUTH PLAIN ..." H=... AUTH command used when not
  advertised``: ``auth.not-advertised`` with the user the initial response names (never
  the password); ``SMTP syntax error in "X" ... unrecognized command``:
  ``protocol.unknown-command``; ``SMTP call from ... dropped: too many syntax or protocol
  errors``: ``log.too-many-errors``; ``closed by DROP in ACL`` and ``sender verify fail
  for <a>``: ``log.rejected``; an authenticator's 4xx (``435 Unable to authenticate at
  present``: its back-end did not answer): ``log.sasl-backend-fault``, not a failure.

With ``log_file_path = syslog`` each line has a syslog prefix (``May  1 10:00:00 mx
exim[4242]: `` or RFC 3339) before Exim's own time (absent with ``syslog_timestamp =
false``: the syslog time is used); the tag's pid stands for ``+pid``, and the
``[2/2]`` continuations of a line syslog cut are skipped. TLS is unknown until an
arrival says (``X=``: on; none: off). A line earlier than the last one of its
connection, or after ten minutes of silence, starts a new session.

Deliveries (``=>``, ``->``, ``**``, ``==``) and queue runs are other connections: skipped,
except a delivery the remote server refused (``** ... SMTP error from remote mail server
after RCPT TO:<b>: 550 ...``), which is a partial session of its own, with Exim as the
client (see :mod:`.exim_outbound`).
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Iterable, Iterator
from datetime import datetime

from smtplens.model import Message, Recipient, Transaction
from smtplens.sources.logs._summary import OpenSessions, PartialSession, endpoint, unparsed
from smtplens.sources.logs._times import iso_time, syslog_time
from smtplens.sources.logs.exim_outbound import refused_delivery
from smtplens.stream import Direction, StreamItem, Summary
from smtplens.textutil import digits

_PREFIX = re.compile(
    r"^(?P<stamp>(?P<date>\d{4}-\d\d-\d\d) (?P<time>\d\d:\d\d:\d\d(?:\.\d{1,6})?)"
    r"(?P<tz> [+-]\d{4})?) "
    r"(?:\[(?P<pid>\d{1,10})\] )?(?:(?P<id>[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4}) )?"
    r"(?P<msg>.*)$")
#: _PREFIX after its time and the space that follows it (see _Reader.split)
_AFTER_STAMP = re.compile(
    r"(?:\[(?P<pid>\d{1,10})\] )?(?:(?P<id>[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4}) )?")
_LOOKS = re.compile(r"^\d{4}-\d\d-\d\d \d")
#: host_and_ident(): ``H=name (helo) [ip]:port I=[local]:port``, each part but [ip] optional
HOST = (r"(?:H=)?(?:(?P<name>[^\s()\[\]]+) )?(?:\((?P<helo>[^)]*)\) )?"
        r"\[(?P<ip>[0-9A-Fa-f:.]+)\](?:[:.](?P<port>\d{1,5}))?"
        r"(?: I=\[(?P<lip>[0-9A-Fa-f:.]+)\](?:[:.](?P<lport>\d{1,5}))?)?")
_ARRIVAL = re.compile(rf"^<= (?P<sender>\S+) {HOST}(?P<rest>.*)$")
_H_LINE = re.compile(rf"^{HOST}(?P<rest>.*)$")
_REJECTED = re.compile(r"^(?:.*? )?(?P<temp>temporarily )?rejected (?P<what>[^:]*?)"
                       r"(?:: (?P<reason>.*))?$")
_SENDER = re.compile(r"(?:^| )F=<(?P<sender>[^>]*)>")
_HELO_REJECTED = re.compile(rf"^rejected (?P<verb>EHLO|HELO) from {HOST}: (?P<reason>.*)$")
_AUTH_FAILED = re.compile(
    rf"^(?P<auth>\S+) authenticator failed for {HOST}: (?:(?P<code>[2-5]\d\d) )?"
    r"(?P<text>.*?)(?: \(set_id=(?P<user>[^)]*)\))?(?:: (?P<extra>.*))?$")
_SYNC = re.compile(
    rf"^SMTP protocol synchronization error \((?P<why>[^)]*)\): rejected "
    rf"(?:\"(?P<cmd>(?:[^\"\\]|\\.)*)\" |connection from )?{HOST} (?:next )?input=(?P<input>.*)$")
_CONNECTION = re.compile(rf"^SMTP connection from {HOST}(?P<rest>.*)$")
_LOST = re.compile(
    rf"^(?P<what>unexpected disconnection while reading SMTP command from|"
    rf"SMTP command timeout on (?:TLS )?connection from|SMTP data timeout \(message "
    rf"abandoned\) on (?:TLS )?connection from|SMTP connection lost after final dot) "
    rf"{HOST}(?P<rest>.*)$")
#: how _LOST's lines begin
_LOST_START = ("unexpected disconnection while reading SMTP command from ",
               "SMTP command timeout on ", "SMTP data timeout (message abandoned) on ",
               "SMTP connection lost after final dot ")
_TLS_ERROR = re.compile(rf"^TLS (?:send |recv )?error on connection from {HOST} ?(?P<rest>.*)$")
_NO_MAIL = re.compile(rf"^no MAIL in SMTP connection from {HOST}(?P<rest>.*)$")
_DROPPED = re.compile(rf"^SMTP call from {HOST} dropped: (?P<why>.*)$")
#: log_selector +smtp_protocol_error / +smtp_syntax_error (default on in Debian builds)
_PROTOCOL_ERROR = re.compile(
    rf"^SMTP (?P<kind>protocol|syntax) error in \"(?P<cmd>(?:[^\"\\]|\\.)*)\" {HOST} "
    r"(?P<why>.*)$")
_SENDER_VERIFY = re.compile(
    rf"^{HOST} sender verify (?P<how>fail|defer) for <(?P<addr>[^>]*)>(?:: (?P<why>.*))?$")
#: log_file_path = syslog: "<syslog time> <host> exim[pid]: " before Exim's own line
#: (which has no time of its own when syslog_timestamp = false); a long line is cut
#: into "[1\2] first part" and "[2/2] continuation" lines
_SYSLOG = re.compile(
    r"^(?:(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(?P<day>\d{1,2}) "
    r"(?P<hms>\d\d:\d\d:\d\d)(?:\.\d{1,6})?|(?P<iso>\d{4}-\d\d-\d\dT\S+)) \S+ "
    r"exim\d?\[(?P<pid>\d{1,10})\]: (?:\[1\\\d{1,4}\] )?(?P<rest>.*)$")
_CONTINUED = re.compile(r"^\[\d{1,4}/\d{1,4}\] ")
_COMMANDS = re.compile(r"\bC=(?P<cmds>[A-Z,*-]+)")
_FIELD = re.compile(r"(?P<key>[A-Za-z]{1,12})=(?P<val>\"(?:[^\"\\]|\\.)*\"|\S*)")
#: one word of an arrival's fields (see _fields): "for " and the rest, a _FIELD, or a word
_FIELD_STEP = re.compile(r" *(?:(for .*)|([A-Za-z]{1,12})=(\"(?:[^\"\\]|\\.)*\"|\S*)|[^ ]+)")
#: phrases only an Exim main log has, for sniffing
_MAINLOG = re.compile(r"^(?:(?:<=|=>|->|\*\*|==|\*>) |Completed\b|H=|SMTP connection from |"
                      r"no MAIL in SMTP connection|unexpected disconnection while|"
                      r"\S+ authenticator failed for |SMTP protocol synchronization error|"
                      r"TLS error on connection from |exim \S+ daemon started|"
                      r"Start queue run|End queue run|rejected (?:EHLO|HELO) from )")
#: authenticator names say the mechanism in most configurations (dovecot_login, plain_server)
_MECHANISMS = (("cram", "CRAM-MD5"), ("scram", "SCRAM-SHA-1"), ("plain", "PLAIN"),
               ("login", "LOGIN"), ("ntlm", "NTLM"), ("spa", "NTLM"), ("oauth", "XOAUTH2"),
               ("external", "EXTERNAL"), ("gsasl", "GSSAPI"))
IDLE_SECONDS = 600.0
Key = tuple[str, str]  #: (client address, port or "")


def mechanism(authenticator: str) -> str:
    if len(authenticator) <= 64:  # a few names a server has: cached (short ones only)
        return _cached_mechanism(authenticator)
    return _mechanism(authenticator)


def _mechanism(authenticator: str) -> str:
    name = authenticator.lower()
    return next((mech for word, mech in _MECHANISMS if word in name), authenticator.upper())


_cached_mechanism = functools.lru_cache(maxsize=64)(_mechanism)


class EximMainlog:
    """Exim's main log, read into partial sessions."""

    name = "exim-mainlog"
    description = "Exim main log (mainlog / exim_mainlog): connections summarised"

    def sniff(self, head: list[str]) -> int:
        lines = [ln for ln in head if ln.strip()]
        matches = [m for ln in lines if (m := _PREFIX.match(_unwrapped(ln)[0]))]
        strong = sum(1 for m in matches if _MAINLOG.match(m.group("msg")))
        share = len(matches) / max(1, len(lines))
        return min(95, 50 + int(45 * share)) if strong else int(20 * share)

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        reader = _Reader(source)
        out, read = reader.out, reader.line
        for number, text in lines:
            read(number, text)
            if out:  # most lines end nothing: no generator per line, no empty list
                yield from out
                out.clear()
        reader.flush()
        yield from out
        yield from reader.table.drain()


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.table: OpenSessions[Key] = OpenSessions(IDLE_SECONDS)
        self.last_by_ip: dict[str, Key] = {}  # for lines logged without the client's port
        self.ending: list[Key] = []  # ended; a "no MAIL" line may still follow
        self.keys: dict[str, Key] = {}  # session id -> its key
        self.pending: list[Summary] = []  # closed by a new session taking their key
        self.count = 0
        self.outbound = 0  # refused deliveries read (exim_outbound)
        self.out: list[StreamItem] = []  #: what the lines read so far finished, in order
        self._stamp = "\n"  # the time text of the last line ("\n" + " " starts no line),
        self._after = 1  # len(stamp) + 1,
        self._ts: float | None = None  # and its value

    def split(self, text: str) -> tuple[float | None, str | None, str | None, str] | None:
        """``(ts, pid, message id, msg)`` as :data:`_PREFIX` reads them, or None.

        Its time part can match only one way (each piece ends where a space must follow,
        and a time zone needs its sign), so a line that starts with the last time seen, a
        space and no sign has that time: only the rest (:data:`_AFTER_STAMP`, the same
        pattern) is matched, and the time is not computed again.
        """
        after = self._after
        if (text.startswith(self._stamp) and text[after - 1:after] == " "
                and text[after:after + 1] not in ("+", "-")):
            a = _AFTER_STAMP.match(text, after)
            assert a is not None  # all of it is optional
            msg = text[a.end():]
            if "\n" not in msg:  # _PREFIX ends in ".*$": a newline needs the whole pattern
                return self._ts, a.group("pid"), a.group("id"), msg
        m = _PREFIX.match(text)
        if m is None:
            return None
        stamp = m.group("stamp")
        if stamp != self._stamp:
            self._stamp, self._after = stamp, len(stamp) + 1
            self._ts = iso_time(f"{m.group('date')}T{m.group('time')}"
                                f"{(m.group('tz') or '').strip()}")
        return self._ts, m.group("pid"), m.group("id"), m.group("msg")

    def line(self, number: int, text: str) -> None:
        syslog_pid = None
        if text[:1].isalpha() or (text[:4].isdigit() and text[10:11] == "T"):
            # "<syslog time> <host> exim[pid]: ..." (log_file_path = syslog)
            text, syslog_pid = _unwrapped(text)
            if syslog_pid == "":
                return  # the continuation of a line syslog cut in parts
        parts = self.split(text)
        if parts is not None and parts[1] is None and syslog_pid:
            parts = (parts[0], syslog_pid, parts[2], parts[3])
        if parts is None:
            if _LOOKS.match(text):
                self.out.append(unparsed(self.source, number, "Exim log line with an "
                                         "unreadable time, skipped"))
            return
        ts, pid, message_id, msg = parts
        nm = _NO_MAIL.match(msg) if msg.startswith("no MAIL in SMTP connection from ") else None
        if nm is not None:
            ps = self.find(nm, pid, number, ts, create=False)
            if ps is not None:
                self.commands(ps, nm.group("rest"))
                self.end(ps, "no MAIL")
        if self.ending:
            self.flush()
        if swept := self.table.sweep(ts):
            self._closed(swept)
        if nm is None:
            self.event(number, text, ts, pid, message_id, msg)
        if self.pending:
            pending, self.pending = self.pending, []
            self._closed(pending)

    # ------------------------------------------------------------------ sessions
    def find(self, m: re.Match[str], pid: str | None, number: int, ts: float | None,
             create: bool = True, daemon: bool = False) -> PartialSession | None:
        """The open session of the client in ``m``, or a new one (``create``)."""
        ip, port = m.group("ip"), m.group("port") or ""
        key = self._lookup(ip, port, adopt=not daemon)  # the daemon's line starts a new one
        ps = None
        if key is not None:
            # a line out of order, or after a long silence, is another connection
            ps, done = self.table.current(key, ts)
            self.pending.extend(done)
        if ps is not None and not port and pid and ps.pid and ps.pid != pid and not daemon:
            ps = None  # another process: another connection from the same address
        if ps is None:
            if not create:
                return None
            self.count += 1
            ps = PartialSession(f"exim-{self.count}", self.source, "exim-mainlog", number, ts,
                                endpoint(ip, port or None), None)
            key = (ip, port)
            self.pending.extend(self.table.add(key, ps))
            self.keys[ps.session.id] = key
        assert key is not None
        self.last_by_ip[ip] = key
        if not daemon:
            ps.pid = ps.pid or pid
        if m.group("lip") and ps.session.server is None:
            ps.session.server = endpoint(m.group("lip"), m.group("lport"))
        if m.group("helo"):
            ps.session.helo = m.group("helo")
        ps.touch(ts)
        return ps

    def _lookup(self, ip: str, port: str, adopt: bool) -> Key | None:
        if not port:
            key = self.last_by_ip.get(ip)
            return key if key is not None and self.table.get(key) is not None else None
        if self.table.get((ip, port)) is not None:
            return (ip, port)
        ps = self.table.get((ip, ""))
        if ps is None or not adopt:
            return None
        # the same connection, with its port logged from here on
        self.table.rekey((ip, ""), (ip, port))
        ps.session.client = endpoint(ip, port)
        self.keys[ps.session.id] = (ip, port)
        return (ip, port)

    def end(self, ps: PartialSession, reason: str) -> None:
        ps.session.close_reason = reason
        key = self.keys.get(ps.session.id)
        if key is not None and key not in self.ending:
            self.ending.append(key)

    def flush(self) -> None:
        keys, self.ending = self.ending, []
        self._closed([done for key in keys for done in self.table.close(key)])

    def _closed(self, done: list[Summary]) -> None:
        for summary in done:
            self.keys.pop(summary.session.id, None)
            client = summary.session.client
            if client is not None:
                key = self.last_by_ip.get(client.host)
                if key is not None and self.table.get(key) is None:
                    del self.last_by_ip[client.host]
            self.out.append(summary)

    # ------------------------------------------------------------------ lines
    def event(self, number: int, text: str, ts: float | None, pid: str | None,
              message_id: str | None, msg: str) -> None:
        m = event_match(msg)
        if m is None:
            if msg[:3] in ("** ", "== ") and " SMTP error from remote " in msg:
                self.refused(number, text, ts, message_id, msg)
            return
        kind = m.re
        # the daemon's "SMTP connection from ... (TCP/IP connection count = N)" starts one
        daemon = kind is _CONNECTION and "connection count" in m.group("rest")
        if daemon:
            self.pending.extend(self.table.close((m.group("ip"), m.group("port") or "")))
        ps = self.find(m, pid, number, ts, daemon=daemon)
        if kind is _ARRIVAL:
            if ps is not None:
                self.arrival(ps, ts, m, message_id)
        elif kind is _CONNECTION:
            rest = m.group("rest")
            if ps is not None and rest.startswith(" closed by QUIT"):
                ps.session.quit = True
                self.end(ps, "QUIT")
            elif ps is not None and rest.startswith(" closed by DROP in ACL"):
                ps.finding("log.rejected", number, text, ts, Direction.SERVER,
                           "Exim closed the connection: DROP in an ACL")
                self.end(ps, "DROP in ACL")
            elif ps is not None and rest.startswith(" lost"):
                self.lost(ps, number, text, ts, "the connection was lost" + rest[5:])
        elif ps is None:
            return
        elif kind is _LOST:
            self.lost(ps, number, text, ts, _lost_text(m.group("what")) + m.group("rest"))
        elif kind is _AUTH_FAILED:
            self.auth_failed(ps, number, text, ts, m)
        elif kind is _SYNC:
            self.sync_error(ps, number, text, ts, m)
        elif kind is _TLS_ERROR:
            ps.finding("log.tls-failed", number, text, ts, None,
                       f"Exim: TLS error {m.group('rest')}".strip())
        elif kind is _HELO_REJECTED:
            ps.session.helo_verb = m.group("verb")
            ps.finding("log.rejected", number, text, ts, Direction.SERVER,
                       f"{m.group('verb')} rejected: {m.group('reason')}")
        elif kind is _DROPPED:
            why = m.group("why")
            self.commands(ps, why)
            if "too many" in why:
                ps.finding("log.too-many-errors", number, text, ts, Direction.SERVER,
                           f"Exim dropped the connection: {why}")
            self.end(ps, f"dropped: {why}")
        elif kind is _PROTOCOL_ERROR:
            self.protocol_error(ps, number, text, ts, m)
        elif kind is _SENDER_VERIFY:
            how = "failed" if m.group("how") == "fail" else "deferred"
            ps.finding("log.rejected", number, text, ts, Direction.SERVER,
                       f"sender verification {how} for <{m.group('addr')}>"
                       + (f": {m.group('why')}" if m.group("why") else ""))
        else:  # _H_LINE, which event_match returns only with a _REJECTED rest
            rest = m.group("rest")
            r = _REJECTED.match(rest.strip())
            assert r is not None
            self.rejected(ps, number, text, ts, rest, r)

    def refused(self, number: int, text: str, ts: float | None, message_id: str | None,
                msg: str) -> None:
        """A delivery the remote server refused: a session of its own (exim_outbound)."""
        summary = refused_delivery(msg, number, text, ts, self.source, self.outbound + 1,
                                   message_id)
        if summary is not None:
            self.outbound += 1
            self.out.append(summary)

    def arrival(self, ps: PartialSession, ts: float | None, m: re.Match[str],
                message_id: str | None) -> None:
        s = ps.session
        fields, recipients = _fields(m.group("rest"))
        protocol = fields.get("P", "")
        # Exim shows "(helo)" only when it differs from the verified host name
        s.helo = s.helo or m.group("name")
        if "esmtp" in protocol:
            s.helo_verb = "EHLO"
        elif "smtp" in protocol:
            s.helo_verb = s.helo_verb or "HELO"
        if "X" in fields or "esmtps" in protocol:
            s.tls = True
            s.implicit_tls = s.implicit_tls or m.group("lport") == "465"
        elif s.tls is None:
            s.tls = False  # Exim logs X= (the cipher) for every message over TLS
        if "A" in fields:
            auth, _, user = fields["A"].partition(":")
            if not any(a.outcome == "success" for a in s.auth):
                ps.auth(mechanism(auth), ts, "success", user=user or None)
        sender = "" if m.group("sender") == "<>" else m.group("sender")
        t = _open_transaction(ps, ts, sender)
        if message_id:
            ps.by_queue_id[message_id] = t
        for rcpt in recipients:
            if all(r.address != rcpt for r in t.recipients):
                t.recipients.append(Recipient(rcpt, {}, 250, "accepted"))
        size = fields.get("S", "")
        t.method = "DATA"
        ok = f"OK id={message_id or '?'}"
        t.message = Message("DATA", ts, ts, "skipped", True,
                            int(size) if digits(size) and len(size) < 16 else 0,
                            reply_code=250, reply_text=ok)
        t.ended, t.last_reply_code, t.last_reply_line = "message", 250, ok

    def commands(self, ps: PartialSession, rest: str) -> None:
        if c := _COMMANDS.search(rest):
            cmds = c.group("cmds").split(",")
            verbs = [v for v in cmds if v in ("EHLO", "HELO")]
            if verbs:
                ps.session.helo_verb = verbs[-1]
            ps.session.quit = ps.session.quit or "QUIT" in cmds

    def lost(self, ps: PartialSession, number: int, text: str, ts: float | None,
             what: str) -> None:
        after = ""
        if c := _COMMANDS.search(what):
            after = f" after {c.group('cmds').split(',')[-1]}"
            self.commands(ps, what)
        elif "message data" in what or "data timeout" in what:
            after = " after DATA"
        elif "final dot" in what:
            after = " after END-OF-MESSAGE"
        ps.finding("log.lost-connection", number, text, ts, None,
                   f"Exim: {what.strip()}{after}")
        self.end(ps, "lost")

    def auth_failed(self, ps: PartialSession, number: int, text: str, ts: float | None,
                    m: re.Match[str]) -> None:
        name, code = m.group("auth"), m.group("code")
        if code and code.startswith("4"):
            # 435 "Unable to authenticate at present": the authenticator deferred (its
            # back-end, saslauthd or Dovecot, did not answer): the server's fault, so
            # no auth.failed and no count toward repeated failures (outcome unknown)
            user = m.group("user") or None
            ps.auth(mechanism(name), ts, "unknown", user=user, reply_code=int(code),
                    reply_text=m.group("text"))
            extra = m.group("extra")
            ps.finding("log.sasl-backend-fault", number, text, ts, Direction.SERVER,
                       f"{name} authenticator could not check the credentials: {code} "
                       f"{m.group('text')}" + (f": {extra}" if extra else "")
                       + (f" (user {user!r})" if user else ""))
            return
        exchange = ps.auth(mechanism(name), ts, "failure", user=m.group("user") or None,
                           reply_code=int(code) if code else None, reply_text=m.group("text"))
        detail = (f"{name} authenticator ({exchange.mechanism}) failed with "
                  f"{code or 'no code'} {m.group('text')}".rstrip())
        if exchange.user:
            detail += f", user {exchange.user!r}"
        if m.group("extra"):
            detail += f": {m.group('extra')}"
        ps.auth_failed(exchange, number, text, detail)

    def protocol_error(self, ps: PartialSession, number: int, text: str, ts: float | None,
                       m: re.Match[str]) -> None:
        cmd, why = m.group("cmd"), m.group("why")
        verb, _, arg = cmd.partition(" ")
        if verb.upper() == "AUTH" and "not advertised" in why:
            mech, _, initial = arg.partition(" ")
            user = _initial_user(mech.upper(), initial)
            ps.auth(mech.upper() or "?", ts, "failure", user=user, reply_code=503,
                    reply_text=why)
            # RFC 4954 §4: AUTH only where EHLO offered it (the argument is never shown:
            # it may hold the password)
            ps.finding("auth.not-advertised", number, text, ts, Direction.CLIENT,
                       f"AUTH {mech.upper()} refused: {why}"
                       + (f" (user {user!r})" if user else ""))
        elif why == "unrecognized command":
            ps.finding("protocol.unknown-command", number, text, ts, Direction.CLIENT,
                       f"Exim: unrecognized command {verb[:40]!r}")

    def sync_error(self, ps: PartialSession, number: int, text: str, ts: float | None,
                   m: re.Match[str]) -> None:
        why, sent = m.group("why"), m.group("input")
        if "greeting" in why:
            ps.finding("protocol.early-talker", number, text, ts, Direction.CLIENT,
                       f"Exim rejected the connection: input sent before the greeting: {sent}")
            self.end(ps, "rejected")
        else:
            ps.finding("protocol.pipelining-not-advertised", number, text, ts,
                       Direction.CLIENT, f"Exim: {why}; after \"{m.group('cmd') or '?'}\" "
                       f"the client sent {sent}")

    def rejected(self, ps: PartialSession, number: int, text: str, ts: float | None,
                 rest: str, r: re.Match[str]) -> None:
        what, reason = r.group("what").strip(), r.group("reason") or ""
        sender = s.group("sender") if (s := _SENDER.search(rest)) else None
        verb = "temporarily rejected" if r.group("temp") else "rejected"
        if what.upper().startswith("AUTH"):
            mech = what[4:].strip().upper() or "?"
            exchange = ps.auth(mech, ts, "failure", reply_text=reason)
            ps.auth_failed(exchange, number, text, f"AUTH {mech} {verb}: {reason}".rstrip(": "))
            return
        if rcpt := re.match(r"RCPT <([^>]*)>", what):
            ps.rejected_recipient(ts, sender, rcpt.group(1), None, f"{verb}: {reason}", None)
        elif what.startswith("connection"):
            self.end(ps, "rejected")
        ps.finding("log.rejected", number, text, ts, Direction.SERVER,
                   f"{what} {verb}" + (f": {reason}" if reason else "")
                   + (f" (F=<{sender}>)" if sender is not None else ""))


def event_match(msg: str) -> re.Match[str] | None:
    """The first of _ARRIVAL, _CONNECTION, _LOST, _AUTH_FAILED, _SYNC, _TLS_ERROR,
    _HELO_REJECTED, _DROPPED and (_H_LINE with a _REJECTED rest) that matches ``msg``.

    Each is tried only where its literal text is: most lines are deliveries and queue
    lines, which none of them reads.
    """
    m = None
    first = msg[:1]  # the patterns with a literal start begin with "<", "S", "u", "T", "r"
    if first == "<":
        if msg.startswith("<= "):
            m = _ARRIVAL.match(msg)
    elif first == "S":
        if msg.startswith("SMTP connection from "):
            m = _CONNECTION.match(msg)
        if m is None and msg.startswith(_LOST_START):
            m = _LOST.match(msg)
    elif first == "u" and msg.startswith(_LOST_START):
        m = _LOST.match(msg)
    if m is None and " authenticator failed for " in msg:
        m = _AUTH_FAILED.match(msg)
    if m is None:
        if first == "S":
            if msg.startswith("SMTP protocol synchronization error ("):
                m = _SYNC.match(msg)
            elif msg.startswith("SMTP call from "):
                m = _DROPPED.match(msg)
            elif msg.startswith(("SMTP protocol error in ", "SMTP syntax error in ")):
                m = _PROTOCOL_ERROR.match(msg)
        elif first == "T":
            if msg.startswith("TLS "):
                m = _TLS_ERROR.match(msg)
        elif first == "r" and msg.startswith("rejected "):
            m = _HELO_REJECTED.match(msg)
    if m is None and " sender verify " in msg:
        m = _SENDER_VERIFY.match(msg)
    if m is None and "rejected " in msg and (h := _H_LINE.match(msg)) \
            and _REJECTED.match(h.group("rest").strip()):
        m = h
    return m


def _lost_text(what: str) -> str:
    if what.startswith("unexpected"):
        return "unexpected disconnection while reading an SMTP command"
    if "data timeout" in what:
        return "timeout while reading message data (message abandoned)"
    if "command timeout" in what:
        return "timeout while waiting for an SMTP command"
    return "connection lost after the final dot"


def _open_transaction(ps: PartialSession, ts: float | None, sender: str) -> Transaction:
    """The transaction refused recipients already opened for this sender, or a new one."""
    ts_list = ps.session.transactions
    last = ts_list[-1] if ts_list else None
    if last is not None and last.message is None and last.mail_from == sender:
        return last
    return ps.transaction(ts, sender)


def _fields(rest: str) -> tuple[dict[str, str], list[str]]:
    """An arrival's ``key=value`` fields (quoted ones whole: a subject cannot fake a field)
    and its ``for a b c`` recipients.

    Word by word: ``for `` starts the recipients, a :data:`_FIELD` is read whole, anything
    else is skipped to the next space; :data:`_FIELD_STEP` is one such step (its matches
    follow each other, since every word matches one of its branches).
    """
    fields: dict[str, str] = {}
    for recipients, key, val in _FIELD_STEP.findall(rest):
        if key:
            fields.setdefault(key, val.strip('"'))
        elif recipients:
            return fields, recipients[4:].split()
    return fields, []


def _unwrapped(text: str) -> tuple[str, str | None]:
    """A syslog line's Exim part and the pid of its tag (``""``: the continuation of a
    cut line, to skip); other lines as they are, with no pid. Without Exim's own time
    (syslog_timestamp = false) the syslog time is put in its place."""
    m = _SYSLOG.match(text)
    if m is None:
        return text, None
    rest = m.group("rest")
    if _CONTINUED.match(rest):
        return rest, ""
    if _LOOKS.match(rest):
        return rest, m.group("pid")
    if m.group("iso"):
        stamp = m.group("iso")[:19].replace("T", " ")
    else:
        ts = syslog_time(m.group("mon"), m.group("day"), m.group("hms"))
        if ts is None:
            return text, None
        stamp = datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")
    return f"{stamp} {rest}", m.group("pid")


def _initial_user(mech: str, initial: str) -> str | None:
    """The user an AUTH initial response names (RFC 4616 PLAIN: authzid NUL authcid NUL
    password; LOGIN: the username), never the password."""
    if not initial or initial == "=" or len(initial) > 2048:
        return None
    try:
        raw = base64.b64decode(initial, validate=True)
    except (binascii.Error, ValueError):
        return None
    if mech == "PLAIN":
        parts = raw.split(b"\0")
        raw = parts[1] if len(parts) == 3 else b""
    elif mech != "LOGIN":
        return None
    user = raw.decode("utf-8", "replace")
    return user if user.isprintable() and 0 < len(user) <= 320 else None
