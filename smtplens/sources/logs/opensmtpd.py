"""OpenSMTPD's brief mail log (``opensmtpd``): one partial session per session id.

OpenSMTPD (6.x, 7.x) logs events, not the dialogue, one line each, tagged with the
16-hex-digit session id, in syslog or on stderr with ``smtpd -d``::

    Dec  2 05:47:26 mx smtpd[812]: 0e312cf45d1b5c66 smtp connected address=127.0.0.1 host=<unknown>
    0e312cf45d1b5c66 smtp tls ciphers=TLSv1.3:TLS_AES_256_GCM_SHA384:256
    0e312cf45d1b5c66 smtp authentication user=alice@example.test result=ok
    0e312cf5a520a8ea smtp failed-command command="AUTH LOGIN (password)" result="535 ..."
    0e312cf9741d1c0b smtp failed-command command="rcpt TO:<d@x.invalid>" result="550 ..."
    0e312cf45d1b5c66 smtp message msgid=9b40a204 size=449 nrcpt=1 proto=ESMTP
    0e312cf45d1b5c66 smtp envelope evpid=9b40a20475387956 from=<a@example.test> to=<b@...>
    0e312cf45d1b5c66 smtp disconnected reason=quit
    0e312cfe61de0b1d mta connecting address=smtp://127.0.0.1:2653 host=127.0.0.1
    0e312cfe61de0b1d mta error reason=IO Error: Connection refused

``smtp`` lines are the server side of a client's connection (``connected`` to
``disconnected``); ``mta`` lines are OpenSMTPD relaying as a client (``connecting`` to
``disconnected``, or ``error`` when no connection was made), each its own session.
What is read: the client's address (no port), TLS, AUTH user and outcome
(``permfail``: ``auth.failed``; ``tempfail``: ``log.sasl-backend-fault``), refused
commands (``log.rejected``; a refused RCPT is a recipient with its code), accepted
messages with size and recipients, relayed deliveries with their ``stat`` reply, how
the session ended (``quit``; an I/O error or timeout: ``log.lost-connection``; a TLS
error: ``log.tls-failed``). The log has no HELO name, no mechanism for a successful
AUTH and no bytes: findings needing exact bytes are undetermined. ``mda`` (local
delivery) and other lines are ignored; the ``-T smtp`` trace is ``opensmtpd-trace``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from smtplens.model import Message, Recipient
from smtplens.sources.logs._summary import OpenSessions, PartialSession, endpoint, unparsed
from smtplens.sources.logs._times import SyslogClock, iso_time
from smtplens.stream import Direction, StreamItem, Summary
from smtplens.textutil import digits

_SYSLOG = re.compile(r"^(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|"
                     r"(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?))"
                     r" \S+ smtpd\[\d+\]: ")
_LINE = re.compile(r"^(?P<id>[0-9a-f]{16}) (?P<proc>smtp|mta|mda) (?P<event>[a-z-]+)"
                   r"(?: (?P<rest>.*))?$")
_KV = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')
_REPLY = re.compile(r"^(?P<code>[2-5]\d\d)(?:[ -](?P<text>.*))?$")
_SMTP_URL = re.compile(r"^(?:[a-z+]+://)?\[?(?P<ip>[^\]/]*?)\]?(?::(?P<port>\d{1,5}))?/?$")
#: the trace's lines: the opensmtpd-trace format's
_TRACE = re.compile(r"^smtp: 0x[0-9a-f]+: (?:>>>|<<<) ")
IDLE_SECONDS = 3600.0


def _fields(rest: str) -> dict[str, str]:
    """``k=v k2="quoted v"``; for ``reason=`` (the last field, unquoted, with spaces) the
    rest of the line."""
    out: dict[str, str] = {}
    for key, value in _KV.findall(rest):
        out.setdefault(key, value[1:-1].replace('\\"', '"')
                       if value.startswith('"') and len(value) > 1 else value)
    if (at := rest.find("reason=")) >= 0 and not rest[at + 7:].startswith('"'):
        out["reason"] = rest[at + 7:]
    return out


def _bracketed(text: str) -> str:
    return text[1:-1] if text.startswith("<") and text.endswith(">") else text


class OpenSMTPDLog:
    """OpenSMTPD's mail log, read into partial sessions."""

    name = "opensmtpd"
    description = "OpenSMTPD mail log (<session-id> smtp connected/authentication/...)"

    def sniff(self, head: list[str]) -> int:
        lines = [_SYSLOG.sub("", ln) for ln in head if ln.strip()]
        if not lines or any(_TRACE.match(ln) for ln in lines):
            return 0 if not lines else 5  # the trace: opensmtpd-trace's
        ours = sum(1 for ln in lines if _LINE.match(ln))
        return min(95, 50 + int(45 * ours / len(lines))) if ours else 0

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        reader = _Reader(source)
        for number, text in lines:
            yield from reader.line(number, text.rstrip("\r"))
        yield from reader.table.drain()


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.clock = SyslogClock()
        self.table: OpenSessions[str] = OpenSessions(IDLE_SECONDS)
        self.mta_up: set[str] = set()  #: mta sessions that got a connection

    def line(self, number: int, text: str) -> Iterator[StreamItem]:
        ts = None
        if (p := _SYSLOG.match(text)) is not None:
            ts = iso_time(p.group("iso")) if p.group("iso") else self.clock.read(text)
            text = text[p.end():]
        if not text.strip():
            return
        m = _LINE.match(text)
        if m is None:
            if not _TRACE.match(text):
                yield unparsed(self.source, number, "not an OpenSMTPD log line, skipped")
            return
        yield from self.table.sweep(ts)
        sid, proc, event = m.group("id"), m.group("proc"), m.group("event")
        rest = m.group("rest") or ""
        if proc == "mda":
            return  # local delivery: no SMTP session
        f = _fields(rest)
        if (proc, event) in (("smtp", "connected"), ("mta", "connecting")):
            yield from self.open(sid, proc, number, text, ts, f)
            return
        ps = self.table.get(sid)
        if ps is None:
            # the log began inside this session (rotation): open it without its start
            yield from self.open(sid, proc, number, text, ts, {})
            ps = self.table.get(sid)
            if ps is None:
                return
        ps.touch(ts)
        if proc == "mta" and event in ("connected", "error"):
            # an error before "connected" is a connection never made, not one lost
            if event == "connected":
                self.mta_up.add(sid)
            elif sid in self.mta_up:
                _mta_error(ps, number, text, ts, f)
            ps.session.close_reason = ps.session.close_reason or f.get("reason", "")[:80]
        handler = _SMTP.get(event) if proc == "smtp" else _MTA.get(event)
        if handler is not None:
            handler(ps, number, text, ts, f)
        if event == "disconnected" or (proc, event) == ("mta", "error"):
            self.mta_up.discard(sid)
            yield from self.table.close(sid, "disconnect")

    def open(self, sid: str, proc: str, number: int, text: str, ts: float | None,
             f: dict[str, str]) -> Iterator[Summary]:
        ps = PartialSession(sid, self.source, "opensmtpd", number, ts)
        if proc == "smtp" and f.get("address"):
            ps.session.client = endpoint(f["address"], None)
        elif proc == "mta" and (u := _SMTP_URL.match(f.get("address", ""))) is not None:
            ps.session.server = endpoint(u.group("ip"), u.group("port") or "25")
            if f.get("address", "").startswith(("smtps://", "tls://")):
                ps.session.tls = ps.session.implicit_tls = f["address"].startswith("smtps")
        yield from self.table.add(sid, ps)



def _reply(text: str) -> tuple[int | None, str]:
    m = _REPLY.match(text)
    return (int(m.group("code")), m.group("text") or "") if m else (None, text)


def _tls(ps: PartialSession, number: int, text: str, ts: float | None,
         f: dict[str, str]) -> None:
    ps.session.tls, ps.session.tls_ts = True, ts


def _authentication(ps: PartialSession, number: int, text: str, ts: float | None,
                    f: dict[str, str]) -> None:
    user, result = f.get("user") or None, f.get("result", "")
    if result == "ok":
        ps.auth("?", ts, "success", user=user)
    elif result == "permfail":
        exchange = ps.auth("?", ts, "failure", user=user)
        ps.auth_failed(exchange, number, text, "OpenSMTPD refused the credentials"
                       + (f" of user {user!r}" if user else ""))
    else:
        ps.auth("?", ts, "unknown", user=user)
        ps.finding("log.sasl-backend-fault", number, text, ts, Direction.SERVER,
                   f"authentication could not be checked (result={result or '?'})"
                   + (f"; user {user!r}" if user else ""))


def _failed_command(ps: PartialSession, number: int, text: str, ts: float | None,
                    f: dict[str, str]) -> None:
    command, (code, reply) = f.get("command", ""), _reply(f.get("result", ""))
    verb = command.split(" ", 1)[0].upper()
    if verb == "AUTH":
        # "AUTH LOGIN (password)": the mechanism of the failure line just before
        mech = command.split(" ")[1].upper() if " " in command else "?"
        last = ps.session.auth[-1] if ps.session.auth else None
        if last is not None and last.mechanism == "?":
            last.mechanism = mech
        if last is not None:
            last.reply_code, last.reply_text = code, reply
        return
    if verb == "RCPT":
        _, _, path = command.partition(":")
        t = ps.session.transactions[-1] if ps.session.transactions else None
        ps.rejected_recipient(ts, t.mail_from if t and t.message is None else None,
                              _bracketed(path.strip().split(" ")[0]), code, reply, None)
    ps.finding("log.rejected", number, text, ts, Direction.SERVER,
               f"{verb or 'command'} refused with {code or 'no code'}: {reply}"
               + (f" ({command})" if command else ""))


def _bad_input(ps: PartialSession, number: int, text: str, ts: float | None,
               f: dict[str, str]) -> None:
    code, reply = _reply(f.get("result", ""))
    fid = "protocol.pipelining-violation" if "pipelining" in reply.lower() else "log.rejected"
    ps.finding(fid, number, text, ts, Direction.CLIENT,
               f"OpenSMTPD refused the client's input with {code or 'no code'}: {reply}")


def _message(ps: PartialSession, number: int, text: str, ts: float | None,
             f: dict[str, str]) -> None:
    msgid, size = f.get("msgid", ""), f.get("size", "")
    s = ps.session
    last = s.transactions[-1] if s.transactions else None
    t = last if (last is not None and last.message is None
                 and last not in ps.by_queue_id.values()) else ps.transaction(ts)
    if msgid:
        ps.by_queue_id[msgid] = t
    proto = f.get("proto", "")
    if s.helo_verb is None and proto in ("SMTP", "ESMTP", "ESMTPS", "ESMTPA", "ESMTPSA"):
        s.helo_verb = "HELO" if proto == "SMTP" else "EHLO"
    ok = f"accepted as {msgid or '?'}"
    t.method = "DATA"
    t.message = Message("DATA", ts, ts, "skipped", True,
                        int(size) if digits(size) and len(size) < 16 else 0,
                        reply_code=250, reply_text=ok)
    t.ended, t.last_reply_code, t.last_reply_line = "message", 250, ok


def _envelope(ps: PartialSession, number: int, text: str, ts: float | None,
              f: dict[str, str]) -> None:
    t = ps.by_queue_id.get(f.get("evpid", "")[:8])
    if t is None:
        return
    if t.mail_from is None and "from" in f:
        t.mail_from = _bracketed(f["from"])
    to = _bracketed(f.get("to", ""))
    if to and all(r.address != to for r in t.recipients):
        t.recipients.append(Recipient(to, {}, 250, "accepted"))


def _disconnected(ps: PartialSession, number: int, text: str, ts: float | None,
                  f: dict[str, str]) -> None:
    reason = f.get("reason", "")
    s = ps.session
    if reason == "quit":
        s.quit = True
        s.close_reason = "quit"
        return
    s.close_reason = reason[:80]
    if "ssl" in reason.lower() or "tls" in reason.lower():
        ps.finding("log.tls-failed", number, text, ts, None,
                   f"the session ended in a TLS error: {reason}")
    elif reason:
        ps.finding("log.lost-connection", number, text, ts, None,
                   f"the session ended without QUIT: {reason}")


def _mta_delivery(ps: PartialSession, number: int, text: str, ts: float | None,
                  f: dict[str, str]) -> None:
    evp = f.get("evpid", "")[:8]
    t = ps.by_queue_id.get(evp)
    if t is None:
        t = ps.transaction(ts, _bracketed(f.get("from", "")) if "from" in f else None, evp)
    code, reply = _reply(f.get("stat", ""))
    rcpt = _bracketed(f.get("to", ""))
    t.recipients.append(Recipient(rcpt, {}, code, reply))
    t.last_reply_code, t.last_reply_line = code, reply
    result = f.get("result", "")
    if result == "Ok" and t.message is None:
        t.method = "DATA"
        t.message = Message("DATA", ts, ts, "skipped", True, 0, reply_code=code,
                            reply_text=reply)
    elif result in ("TempFail", "PermFail"):
        ps.finding("log.rejected", number, text, ts, Direction.SERVER,
                   f"relaying to <{rcpt}> failed ({result}): {f.get('stat', '')}")


def _mta_error(ps: PartialSession, number: int, text: str, ts: float | None,
               f: dict[str, str]) -> None:
    reason = f.get("reason", "")
    fid = "log.tls-failed" if "tls" in reason.lower() or "ssl" in reason.lower() \
        else "log.lost-connection"
    ps.finding(fid, number, text, ts, None, f"relaying failed: {reason}")


_SMTP = {"tls": _tls, "authentication": _authentication, "failed-command": _failed_command,
         "bad-input": _bad_input, "message": _message, "envelope": _envelope,
         "disconnected": _disconnected}
_MTA = {"tls": _tls, "delivery": _mta_delivery}
