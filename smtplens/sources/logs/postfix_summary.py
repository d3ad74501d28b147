"""Postfix's ordinary mail log (``postfix-log``): one partial session per connection.

Without ``debug_peer_list`` Postfix logs what happened, not the dialogue::

    Nov 28 11:51:52 mx postfix/smtpd[9826]: connect from unknown[127.0.0.1]
    2024-05-01T10:00:00.123456+00:00 mx postfix/smtpd[9826]: ...   (RFC 3339 syslog)

BSD syslog times have no year: the current one is taken, or the previous one when that
would put the line in the future. The program may carry an instance name
(``postfix-out/smtpd``, ``postfix/submission/smtpd``). An smtpd process serves one
connection at a time, so host, program and pid key a session from ``connect from`` to
``disconnect from``; postscreen serves many at once, so its sessions are keyed by the
client's address and port, from ``CONNECT`` to ``DISCONNECT`` or ``PASS``.

What each kind of line gives:

* ``disconnect from h[ip] ehlo=1 auth=0/1 quit=1 ...``: HELO/EHLO, STARTTLS, QUIT;
  ``... TLS connection established from``: ``tls``;
* ``QID: client=h[ip], sasl_method=PLAIN, sasl_username=u``: a transaction, a good AUTH;
  qmgr's ``QID: from=<a>, size=N`` its sender and message, a delivery's ``QID: to=<b>``
  an accepted recipient (while the connection is still open);
* ``warning: h[ip]: SASL LOGIN authentication failed: UGFzc3dvcmQ6``: a failed AUTH with
  the challenge it failed at (``auth.failed``; ``auth.repeated-failures`` from 3);
* ``NOQUEUE: reject: RCPT from h[ip]: 554 5.7.1 ...``: a refused RCPT (``log.rejected``);
* ``lost connection after DATA (0 bytes) from``, ``timeout after ...``:
  ``log.lost-connection``; ``improper command pipelining after DATA``:
  ``protocol.pipelining-violation`` (after CONNECT: ``protocol.early-talker``);
  ``bare <LF> received after ...``: ``data.bare-lf`` (the server itself saw the bytes);
  ``SSL_accept error``, ``TLS library problem``: ``log.tls-failed``;
  ``warning: non-SMTP command``: ``protocol.unknown-command``;
* postscreen ``PREGREET``, ``COMMAND PIPELINING``, ``BARE NEWLINE``, ``NON-SMTP
  COMMAND``, ``HANGUP``/``COMMAND ... LIMIT`` and ``NOQUEUE: reject``: the same findings;
* ``too many errors after RCPT from``: ``log.too-many-errors``; ``warning: Connection
  rate limit exceeded: 31 from h[ip] for service smtp`` (and the message, recipient,
  command and TLS session limits of anvil): ``log.rate-limited``;
* ``SASL LOGIN authentication failed: Connection lost to authentication server`` (or
  ``generic failure`` after ``warning: SASL authentication failure: cannot connect to
  saslauthd server``): the server's back-end failed, ``log.sasl-backend-fault``, an AUTH
  of outcome "unknown" that counts toward no repeated failures;
* ``disconnect from ... auth=0/1``: a failed AUTH no SASL failure line was logged for.

TLS is unknown (``Session.tls`` None) until a line says: ``TLS connection established``
or ``starttls=1`` (on), the ``smtps`` service (``postfix/smtps/smtpd``: implicit TLS), or
disconnect counters without ``starttls`` (off). A pid whose lines go back in time or
resume after an hour of silence starts a new session (never a negative duration).
Anvil's own ``statistics:`` lines are process-wide, not about one connection: ignored.

Other lines are ignored. The ``debug_peer_list`` transcript (``< host[ip]: EHLO``)
belongs to the ``postfix-debug`` format, which this one never claims.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime

from smtplens.model import Message, Recipient
from smtplens.sources.logs._postfix_lines import (
    CLIENT,
    KV,
    PS_CONNECT,
    PS_END,
    PS_EVENT,
    Key,
    PostfixLine,
    PrefixReader,
    Reject,
    parse_reject,
    prefix,
)
from smtplens.sources.logs._summary import (
    OpenSessions,
    PartialSession,
    challenge_step,
    endpoint,
    unparsed,
)
from smtplens.stream import Direction, Endpoint, StreamItem, Summary

_CONNECT = re.compile(rf"^connect from {CLIENT}$")
_DISCONNECT = re.compile(rf"^disconnect from {CLIENT}(?P<counters>(?: \S+)*)$")
_COUNTER = re.compile(r"([a-z]+)=(\d{1,9})(?:/(\d{1,9}))?")
_LOST = re.compile(
    rf"^(?:\w+: )?(?P<what>lost connection|timeout|bare <LF> received) after "
    rf"(?P<stage>.+?)(?: \((?P<bytes>\d+) bytes\))? from {CLIENT}(?:: (?P<rest>.*))?$")
_PIPELINING = re.compile(
    rf"^improper command pipelining after (?P<stage>.+?) from {CLIENT}(?:: ?(?P<rest>.*))?$")
_CLIENT_LINE = re.compile(rf"^(?P<qid>\w+): client={CLIENT}(?P<rest>(?:, .*)?)$")
_SASL_FAILED = re.compile(
    rf"^warning: {CLIENT}: SASL (?P<mech>[\w-]+) authentication failed:? ?(?P<reason>.*?)"
    r"(?:, sasl_username=(?P<user>.*))?$")
_TLS_UP = re.compile(
    rf"^(?:Anonymous|Untrusted|Trusted|Verified) TLS connection established from {CLIENT}"
    r"(?:: (?P<rest>.*))?$")
_SSL_ERROR = re.compile(rf"^SSL_accept error from {CLIENT}: (?P<rest>.*)$")
_TLS_PROBLEM = re.compile(r"^warning: TLS library problem: (?P<rest>.*)$")
_NON_SMTP = re.compile(rf"^warning: non-SMTP command from {CLIENT}: (?P<rest>.*)$")
_TOO_MANY = re.compile(rf"^too many errors after (?P<stage>.+?) from {CLIENT}$")
#: anvil limits as smtpd reports them (connection count and rate, message, recipient,
#: command and TLS session rates)
_RATE = re.compile(rf"^warning: (?P<what>[\w ]+? limit) exceeded: "
                   rf"(?P<count>\d+) from {CLIENT} for service (?P<service>\S+)$")
#: a SASL back-end that does not answer (Cyrus saslauthd, Dovecot auth): the failures
#: that follow are the server's fault, not the client's
_BACKEND_DOWN = re.compile(
    r"^warning: (?:SASL authentication failure: cannot connect to |SASL: Connect to |"
    r".*[Cc]onnection lost to authentication server|xsasl_dovecot_server_connect)")
#: SASL failure reasons that say the back-end failed, whatever the client sent
_BACKEND_REASONS = ("Connection lost to authentication server",
                    "Authentication server unavailable")
_QUEUED = re.compile(r"^(?P<qid>\w+): from=<(?P<sender>[^>]*)>, size=(?P<size>\d{1,15}), "
                     r"nrcpt=\d+ \(queue active\)$")
_DELIVERED = re.compile(r"^(?P<qid>\w+): to=<(?P<to>[^>]*)>,(?: orig_to=<(?P<orig>[^>]*)>,)? "
                        r"relay=")
#: the debug_peer_list transcript and its chatter: the postfix-debug format's lines
_DEBUG = re.compile(r"^(?:[<>] \S*\[[^\]]*\](?::\d+)?: |(?:smtp_stream_setup|match_list_match|"
                    r"match_hostname|match_hostaddr|xsasl_\w+|watchdog_pat|name_mask|"
                    r"smtp_get|dict_\w+|event_\w+|connection_\w+): )")
_KNOWN = (_CONNECT, _DISCONNECT, _LOST, _PIPELINING, _SASL_FAILED, _CLIENT_LINE, _TLS_UP,
          PS_CONNECT, PS_EVENT)
#: how the lines this format reads begin: one that begins so but does not parse is broken
_SHAPED = ("connect from ", "disconnect from ", "lost connection after ", "timeout after ",
           "improper command pipelining after ", "NOQUEUE: reject: ")
_DONE = {"reject": "rejected", "milter-reject": "rejected by a milter", "defer": "deferred"}
IDLE_SECONDS = 3600.0  # an smtpd connection always ends in "disconnect"; this is a guard


class PostfixSummaryLog:
    """Postfix's ordinary mail log, read into partial sessions."""

    name = "postfix-log"
    description = "Postfix mail log (maillog / mail.log): connections summarised by smtpd"

    def sniff(self, head: list[str]) -> int:
        lines = [ln for ln in head if ln.strip()]
        if not lines:
            return 0
        ours = strong = 0
        for text in lines:
            line = prefix(text, None)
            if line is None:
                continue
            ours += 1
            if _DEBUG.match(line.msg):
                return 5  # a debug_peer_list transcript: the postfix-debug format's
            strong += any(r.match(line.msg) for r in _KNOWN)
        share = ours / len(lines)
        return min(95, 50 + int(45 * share)) if strong else int(25 * share)

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        reader = _Reader(source)
        out, read = reader.out, reader.line
        for number, text in lines:
            read(number, text)
            if out:  # most lines end nothing: no generator per line, no empty list
                yield from out
                out.clear()
        yield from reader.table.drain()


#: the smtpd patterns a message can match, by its first word, in the order they are tried
#: (each begins with a literal word; one after a queue id, ``\w+:``, is found by _smtpd_match)
_SMTPD_BY_WORD: dict[str, re.Pattern[str]] = {
    "disconnect": _DISCONNECT, "lost": _LOST, "timeout": _LOST, "bare": _LOST,
    "improper": _PIPELINING, "too": _TOO_MANY, "Anonymous": _TLS_UP, "Untrusted": _TLS_UP,
    "Trusted": _TLS_UP, "Verified": _TLS_UP, "SSL_accept": _SSL_ERROR}
#: what follows ``QID: `` on the lines of _LOST and of _REJECT (in _postfix_lines)
_LOST_WHAT = ("lost connection after ", "timeout after ", "bare <LF> received after ")
_REJECT_ACTIONS = ("reject: ", "milter-reject: ", "defer: ")


def _smtpd_match(msg: str, word: str) -> re.Match[str] | None:
    """The first of _DISCONNECT, _LOST, _PIPELINING, _CLIENT_LINE, _SASL_FAILED, _TLS_UP,
    _SSL_ERROR, _NON_SMTP that matches ``msg`` (whose first word is ``word``), trying only
    those whose literal text is where it must be."""
    if (regex := _SMTPD_BY_WORD.get(word)) is not None:
        return regex.match(msg)
    if not word.endswith(":"):
        return None
    # "QID: " (or "warning: ", which \w+ also reads) and what follows it
    after = len(word) + 1
    m = None
    if msg.startswith(_LOST_WHAT, after):
        m = _LOST.match(msg)
    if m is None and msg.startswith("client=", after):
        m = _CLIENT_LINE.match(msg)
    if m is None and word == "warning:":
        if ": SASL " in msg:
            m = _SASL_FAILED.match(msg)
        if m is None and msg.startswith("non-SMTP command from ", after):
            m = _NON_SMTP.match(msg)
        if m is None and " limit exceeded: " in msg:
            m = _RATE.match(msg)
    return m


class _Reader:
    """The state of one file: open sessions and queue ids of open transactions.

    The handlers append what they finish to :attr:`out`, which :meth:`PostfixSummaryLog.parse`
    empties after each line.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.prefix = PrefixReader(datetime.now())
        self.table: OpenSessions[Key] = OpenSessions(IDLE_SECONDS)
        self.queue: dict[str, PartialSession] = {}  # queue id -> its open session
        self.queued: dict[str, list[str]] = {}  # session id -> its queue ids in self.queue
        self.count = 0
        self.out: list[StreamItem] = []
        self.swept_at: float | None = None  # the time of the last line, as given to sweep
        self.last_key: Key | None = None  #: the smtpd session key of the last smtpd line

    def line(self, number: int, text: str) -> None:
        parts = self.prefix.read(text)
        if parts is None:
            if PostfixLine.looks_like(text):
                self.out.append(unparsed(self.source, number, "Postfix log line without "
                                         "'program[pid]: ' after the host name, skipped"))
            return
        ts, _host, program, _pid, msg = parts
        # a sweep at a time already seen finds nothing new (it runs once a minute)
        if ts != self.swept_at:
            self.swept_at = ts
            if done := self.table.sweep(ts):
                self._ended(done)
        # the daemon is the program's last part: postfix/smtpd, postfix/submission/smtpd
        if program.endswith("/smtpd"):
            self.smtpd(number, text, PostfixLine(*parts))
        elif program.endswith("/postscreen"):
            self.postscreen(number, text, PostfixLine(*parts))
        elif self.queue:
            self.queue_manager(ts, msg)

    # ------------------------------------------------------------------ sessions
    def open(self, key: Key, number: int, line: PostfixLine, client: Endpoint | None,
             server: Endpoint | None) -> None:
        self.count += 1
        ps = PartialSession(f"postfix-{self.count}", self.source, "postfix-log", number,
                            line.ts, client, server)
        ps.pid = line.pid
        if "/smtps/" in line.program:
            # the smtps service (RFC 8314 §3.3): TLS from the first byte
            ps.session.tls = ps.session.implicit_tls = True
        self._ended(self.table.add(key, ps))

    def close(self, key: Key, reason: str) -> None:
        self._ended(self.table.close(key, reason))

    def _ended(self, done: list[Summary]) -> None:
        for summary in done:
            self._forget(summary.session.id)
            self.out.append(summary)

    def _forget(self, session_id: str) -> None:
        for qid in self.queued.pop(session_id, ()):
            ps = self.queue.get(qid)
            if ps is not None and ps.session.id == session_id:
                del self.queue[qid]

    def session_for(self, key: Key, number: int, line: PostfixLine,
                    m: re.Match[str] | None) -> PartialSession | None:
        """The session of ``key``, made sure to be that of the client in ``m`` (a line
        whose ``connect from`` is not in the log starts it, and so does a new client)."""
        ps, done = self.table.current(key, line.ts)
        self._ended(done)
        if m is None:
            return ps
        ip = m.group("ip")
        if ip and (ps is None or (ps.session.client is not None
                                  and ps.session.client.host != ip)):
            self.open(key, number, line, endpoint(ip, m.group("port")), endpoint(line.host, None))
            return self.table.get(key)
        return ps

    # ------------------------------------------------------------------ smtpd
    def smtpd(self, number: int, text: str, line: PostfixLine) -> None:
        key: Key = (line.host, line.program, line.pid)
        self.last_key = key
        msg = line.msg
        space = msg.find(" ")
        word = msg[:space] if space >= 0 else msg
        if word == "connect" and (m := _CONNECT.match(msg)):
            self.open(key, number, line, endpoint(m.group("ip"), m.group("port")),
                      endpoint(line.host, None))
            return
        m = _smtpd_match(msg, word)
        reject = (parse_reject(msg) if word.endswith(":")
                  and msg.startswith(_REJECT_ACTIONS, len(word) + 1) else None)
        if m is None and reject is not None:
            m = reject.client
        if m is None and msg.startswith(_SHAPED):
            self.out.append(unparsed(self.source, number, "Postfix smtpd line not in its "
                                     "usual shape (no client 'host[address]'?), skipped"))
            return
        ps = self.session_for(key, number, line, m)
        if ps is None:
            return
        ps.touch(line.ts)
        if reject is not None:
            self.rejected(ps, number, text, line, reject)
        elif m is None:
            self.smtpd_other(ps, number, text, line)
        elif m.re is _DISCONNECT:
            self.disconnect(ps, number, text, line, m.group("counters"))
            self.close(key, "disconnect")
        elif m.re is _LOST:
            self.lost(ps, number, text, line, m)
        elif m.re is _PIPELINING:
            self.pipelining(ps, number, text, line, m.group("stage"), m.group("rest") or "")
        elif m.re is _CLIENT_LINE:
            self.new_message(ps, line, m.group("qid"), KV.findall(m.group("rest")))
        elif m.re is _SASL_FAILED:
            self.auth_failed(ps, number, text, line, m)
        elif m.re is _TLS_UP:
            ps.session.tls, ps.session.tls_ts = True, line.ts
        elif m.re is _SSL_ERROR:
            ps.finding("log.tls-failed", number, text, line.ts, None,
                       f"TLS handshake with the client failed (SSL_accept error: "
                       f"{m.group('rest')})")
        elif m.re is _NON_SMTP:
            ps.finding("protocol.unknown-command", number, text, line.ts, Direction.CLIENT,
                       f"Postfix refused a non-SMTP command: {m.group('rest')!r}")
        elif m.re is _TOO_MANY:
            ps.finding("log.too-many-errors", number, text, line.ts, Direction.SERVER,
                       f"Postfix closed the session: too many errors after "
                       f"{m.group('stage')} (smtpd_hard_error_limit)")
        elif m.re is _RATE:
            ps.finding("log.rate-limited", number, text, line.ts, Direction.SERVER,
                       f"{m.group('what')} exceeded: {m.group('count')} for service "
                       f"{m.group('service')} (anvil)")

    def smtpd_other(self, ps: PartialSession, number: int, text: str,
                    line: PostfixLine) -> None:
        if _BACKEND_DOWN.match(line.msg):
            ps.backend_down = True
        elif m := _TLS_PROBLEM.match(line.msg):
            ps.finding("log.tls-failed", number, text, line.ts, None,
                       f"TLS library problem: {m.group('rest')}")
        elif "bare <LF>" in line.msg or "bare <CR>" in line.msg:
            ps.finding("data.bare-lf" if "<LF>" in line.msg else "data.bare-cr", number, text,
                       line.ts, Direction.CLIENT, f"Postfix reported: {line.msg}")

    def disconnect(self, ps: PartialSession, number: int, text: str, line: PostfixLine,
                   counters: str) -> None:
        s = ps.session
        found = _COUNTER.findall(counters)
        for name, ok, total in found:
            if name in ("ehlo", "helo"):
                if s.helo_verb is None:
                    s.helo_verb = name.upper()
            elif name == "quit":
                s.quit = int(ok) > 0
            elif name == "starttls" and int(ok) > 0:
                s.tls = True
            elif name == "auth" and total:
                self.uncounted_failures(ps, number, text, line, int(total) - int(ok))
        if found and s.tls is None:
            # Postfix 3.0+ counts every command, STARTTLS too: none, and no TLS line
            s.tls = False

    def uncounted_failures(self, ps: PartialSession, number: int, text: str,
                           line: PostfixLine, failed: int) -> None:
        """``auth=0/1``: failed AUTH commands no SASL failure line was logged for (an
        AUTH refused before the back-end was asked: malformed, not offered, cancelled)."""
        seen = sum(1 for a in ps.session.auth if a.outcome in ("failure", "unknown"))
        for _ in range(max(0, failed - seen)):
            exchange = ps.auth("?", line.ts, "failure")
            ps.auth_failed(exchange, number, text, "an AUTH command failed (the disconnect "
                           "line's auth= counter; no SASL failure line says why)")

    def lost(self, ps: PartialSession, number: int, text: str, line: PostfixLine,
             m: re.Match[str]) -> None:
        stage, what = m.group("stage"), m.group("what")
        received = f" ({m.group('bytes')} bytes received)" if m.group("bytes") else ""
        if what.startswith("bare"):
            ps.finding("data.bare-lf", number, text, line.ts, Direction.CLIENT,
                       f"Postfix received a bare <LF> after {stage} and disconnected "
                       "(smtpd_forbid_bare_newline)")
            return
        verb = "lost the connection" if what == "lost connection" else "timed out"
        if stage in ("DATA", "BDAT"):
            # inside the message: the queue file smtpd had opened for it is discarded
            cut = [qid for qid, t in ps.by_queue_id.items() if t.message is None]
            if cut:
                received += f"; the message of queue id {cut[-1]} was cut off"
        ps.finding("log.lost-connection", number, text, line.ts, None,
                   f"Postfix {verb} after {stage}{received}"
                   + (f": {m.group('rest')}" if m.group("rest") else ""))

    def pipelining(self, ps: PartialSession, number: int, text: str, line: PostfixLine,
                   stage: str, rest: str) -> None:
        sent = f"; it sent: {rest}" if rest else ""
        if stage == "CONNECT":
            ps.finding("protocol.early-talker", number, text, line.ts, Direction.CLIENT,
                       f"Postfix saw client input before its 220 greeting{sent}")
        else:
            ps.finding("protocol.pipelining-violation", number, text, line.ts,
                       Direction.CLIENT, f"Postfix saw improper command pipelining after "
                       f"{stage}{sent}")

    def auth_failed(self, ps: PartialSession, number: int, text: str, line: PostfixLine,
                    m: re.Match[str]) -> None:
        mech, reason = m.group("mech").upper(), m.group("reason")
        if reason in _BACKEND_REASONS or (ps.backend_down and reason == "generic failure"):
            # the back-end never judged the password: not the client's failure, so
            # neither auth.failed nor a count toward repeated failures (outcome unknown)
            ps.backend_down = False
            user = m.group("user") or None
            ps.auth(mech, line.ts, "unknown", user=user)
            ps.finding("log.sasl-backend-fault", number, text, line.ts, Direction.SERVER,
                       f"SASL {mech} could not be checked: {reason} (the server's SASL "
                       "back-end failed" + (f"; user {user!r}" if user else "") + ")")
            return
        exchange = ps.auth(mech, line.ts, "failure", user=m.group("user") or None)
        step, where = challenge_step(mech, reason)
        if step is not None:
            exchange.steps.append(step)
            detail = f"SASL {mech} failed {where}"
        else:
            detail = f"SASL {mech} failed" + (f": {reason}" if reason else "")
        if exchange.user:
            detail += f", user {exchange.user!r}"
        ps.auth_failed(exchange, number, text, detail)

    def new_message(self, ps: PartialSession, line: PostfixLine, qid: str,
                    pairs: list[tuple[str, str, str, str]]) -> None:
        fields = {k or k2: v or v2 for k, v, k2, v2 in pairs}
        ps.transaction(line.ts, queue_id=qid)
        self.queue[qid] = ps
        self.queued.setdefault(ps.session.id, []).append(qid)
        mech, user = fields.get("sasl_method"), fields.get("sasl_username")
        if mech and not any(a.outcome == "success" for a in ps.session.auth):
            ps.auth(mech, line.ts, "success", user=user or None)

    def rejected(self, ps: PartialSession, number: int, text: str, line: PostfixLine,
                 r: Reject) -> None:
        s = ps.session
        if r.fields.get("helo"):
            s.helo = r.fields["helo"]
        if s.helo_verb is None and r.fields.get("proto") in ("SMTP", "ESMTP"):
            s.helo_verb = "EHLO" if r.fields["proto"] == "ESMTP" else "HELO"
        if r.stage.startswith("RCPT") and "to" in r.fields:
            ps.rejected_recipient(line.ts, r.fields.get("from"), r.fields["to"], r.code,
                                  r.reply, r.queue_id if r.queue_id != "NOQUEUE" else None)
        code = f"{r.code} {r.enhanced or ''}".strip() if r.code else "no code"
        who = "".join(f" {k}=<{r.fields[k]}>" for k in ("from", "to") if k in r.fields)
        ps.finding("log.rejected", number, text, line.ts, Direction.SERVER,
                   f"{r.stage} {_DONE[r.action]} with {code}: {r.reply}"
                   + (f" ({who.strip()})" if who else ""))

    # ------------------------------------------------------------------ postscreen
    def postscreen(self, number: int, text: str, line: PostfixLine) -> None:
        msg = line.msg
        if m := PS_CONNECT.match(msg):
            key: Key = (line.host, line.program, f"{m.group('ip')}:{m.group('port')}")
            self.open(key, number, line, endpoint(m.group("ip"), m.group("port")),
                      endpoint(m.group("sip"), m.group("sport")))
            return
        if m := PS_END.match(msg):
            self.close((line.host, line.program, f"{m.group('ip')}:{m.group('port')}"),
                       "disconnect")
            return
        reject = parse_reject(msg)
        m = PS_EVENT.match(msg) or (reject.client if reject else None)
        if m is None or not m.group("port"):
            return
        key = (line.host, line.program, f"{m.group('ip')}:{m.group('port')}")
        self._ended(self.table.current(key, line.ts)[1])
        if self.table.get(key) is None:
            self.open(key, number, line, endpoint(m.group("ip"), m.group("port")),
                      endpoint(line.host, None))
        ps = self.table.get(key)
        assert ps is not None
        ps.touch(line.ts)
        if reject is not None:
            self.rejected(ps, number, text, line, reject)
        else:
            self.screened(ps, number, text, line, m)

    def screened(self, ps: PartialSession, number: int, text: str, line: PostfixLine,
                 m: re.Match[str]) -> None:
        what, stage = m.group("what"), m.group("stage")
        rest = m.group("rest") or ""
        after = f" after {stage}" if stage else ""
        if what == "PREGREET":
            ps.finding("protocol.early-talker", number, text, line.ts, Direction.CLIENT,
                       f"postscreen: the client sent {m.group('count') or 'some'} bytes "
                       f"{m.group('secs') or '?'} s after connecting, before the greeting"
                       + (f": {rest}" if rest else ""))
        elif what == "COMMAND PIPELINING":
            ps.finding("protocol.pipelining-violation", number, text, line.ts,
                       Direction.CLIENT, f"postscreen: command pipelining{after}"
                       + (f": {rest}" if rest.strip() else ""))
        elif what == "BARE NEWLINE":
            ps.finding("data.bare-lf", number, text, line.ts, Direction.CLIENT,
                       f"postscreen: a line ending in bare <LF>{after}")
        elif what == "NON-SMTP COMMAND":
            ps.finding("protocol.unknown-command", number, text, line.ts, Direction.CLIENT,
                       f"postscreen: non-SMTP command{after}: {rest}")
        else:
            tail = m.group("tail") or ""
            ps.finding("log.lost-connection", number, text, line.ts, None,
                       f"postscreen: {what.lower()}{after}"
                       + (f" after {m.group('secs')} s" if m.group("secs") else "")
                       + (f" {tail}" if tail else ""))

    # ------------------------------------------------------------------ other daemons
    def queue_manager(self, ts: float | None, msg: str) -> None:
        """qmgr's and the delivery agents' lines about a message still in its session."""
        # both patterns begin with "QID: ": a line about no queued message is done here
        if msg[:msg.find(": ")] not in self.queue:  # no ": " (-1): no pattern matches
            return
        if m := _QUEUED.match(msg):
            ps = self.queue.get(m.group("qid"))
            t = ps.by_queue_id.get(m.group("qid")) if ps else None
            if t is not None and t.message is None:
                t.mail_from = m.group("sender")
                # the queue file is complete once qmgr sees it: the message was accepted
                t.method = t.method or "DATA"
                queued = f"queued as {m.group('qid')}"
                t.message = Message(t.method, t.ts, ts, "skipped", True,
                                    int(m.group("size")), reply_code=250, reply_text=queued)
                t.ended, t.last_reply_code, t.last_reply_line = "message", 250, queued
        elif m := _DELIVERED.match(msg):
            ps = self.queue.get(m.group("qid"))
            t = ps.by_queue_id.get(m.group("qid")) if ps else None
            address = m.group("orig") or m.group("to")
            if t is not None and all(r.address != address for r in t.recipients):
                t.recipients.append(Recipient(address, {}, 250,
                                              f"accepted (queued as {m.group('qid')})"))

#: the reader of one file, for the mixed debug + summary logs (see _postfix_mixed)
Reader = _Reader
