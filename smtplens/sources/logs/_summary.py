"""What the summary-log formats share: one partial session under construction, the open
sessions of a file, log times, and the SASL step a failure log line names.

Summary mail logs (Postfix's maillog, Exim's mainlog) record events, not the SMTP
dialogue: no transcript reaches the engine. Each format keeps a :class:`PartialSession`
per open client connection, fills it from the lines it understands and hands the
finished :class:`~smtplens.model.Session` (``partial=True``) to the stream as a
:class:`~smtplens.stream.Summary`. :class:`OpenSessions` holds only the connections
still open, so memory stays flat however long the log.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

from smtplens.builder import excerpt
from smtplens.findings.catalog import CATALOG
from smtplens.findings.finding import Evidence, Finding
from smtplens.model import AuthExchange, Recipient, Session, Transaction
from smtplens.sasl import SaslExchange, SaslStep
from smtplens.sasl.plain_login import classify_prompt
from smtplens.stream import Direction, Endpoint, Notice, Summary
from smtplens.textutil import digits

#: failed AUTH attempts in one session from which ``auth.repeated-failures`` is reported
REPEATED_FAILURES = 3
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=]")


def unparsed(source: str, number: int, why: str) -> Notice:
    return Notice("input.unparsed-line", why, source=source, location=f"line {number}")


def endpoint(ip: str, port: str | None) -> Endpoint:
    """The endpoint a log line names (a frozen Endpoint: the lines of one client share
    one, from a small cache of short addresses)."""
    if len(ip) <= 64:
        return _cached_endpoint(ip, port)
    return _endpoint(ip, port)


def _endpoint(ip: str, port: str | None) -> Endpoint:
    return Endpoint(ip, int(port) if port and digits(port) and len(port) <= 5 else None)


_cached_endpoint = functools.lru_cache(maxsize=1024)(_endpoint)


def challenge_step(mechanism: str, text: str) -> tuple[SaslStep | None, str]:
    """The 334 challenge a failure line quotes, decoded, and what it tells in words.

    Postfix logs the last challenge the server sent before the failure (Base64), so
    ``UGFzc3dvcmQ6`` ("Password:") means the client's password was refused. Text that
    is not strict Base64 is the back-end's own reason, not a challenge: no step.
    """
    if not text or _NOT_BASE64.search(text):
        # strict Base64 (RFC 4648 §4, as decode_base64 reads it) has no other character:
        # the usual "authentication failure" text needs no decoder
        return None, ""
    if len(text) <= 64:  # the cache holds short texts only, so its memory stays small
        return _cached_challenge(mechanism, text)
    return _decoded_challenge(mechanism, text)


def _decoded_challenge(mechanism: str, text: str) -> tuple[SaslStep | None, str]:
    step = SaslExchange(mechanism).server(text)
    if not step.valid_base64:
        return None, ""
    shown = step.describe()
    prompt = step.fields[0][1] if step.label.startswith("prompt ") and step.fields else None
    kind = classify_prompt(prompt) if isinstance(prompt, str) else None
    where = {"password": "the password step", "user": "the username step"}.get(
        kind or "", "the step after that challenge")
    return step, f"at {where} (334 {text} = {shown!r})"


# a fresh decoder reads a challenge the same way every time, and a brute-force log repeats
# the same few ("UGFzc3dvcmQ6"); SaslStep is frozen, so exchanges can share one
_cached_challenge = functools.lru_cache(maxsize=256)(_decoded_challenge)


class PartialSession:
    """One client connection as a summary log describes it."""

    def __init__(self, conn_id: str, source: str, origin: str, number: int,
                 ts: float | None, client: Endpoint | None = None,
                 server: Endpoint | None = None) -> None:
        # most summary lines cannot tell whether TLS was on: None until one does
        self.session = Session(id=conn_id, source=source, origin=origin, client=client,
                               server=server, ts_start=ts, ts_end=ts, exact_bytes=False,
                               partial=True, location=f"line {number}", tls=None)
        self.last_ts = ts  #: time of the last line seen for this connection
        self.pid: str | None = None  #: the process that served it, when the log says
        self.by_queue_id: dict[str, Transaction] = {}
        self.backend_down = False  #: the server logged that its SASL back-end failed
        self._last_failure: Evidence | None = None

    def touch(self, ts: float | None) -> None:
        """A line of this connection at ``ts``: the session only grows (lines out of
        order never give a negative duration)."""
        if ts is not None:
            s = self.session
            if self.last_ts is None or ts > self.last_ts:
                self.last_ts = ts
            if s.ts_start is None or ts < s.ts_start:
                s.ts_start = ts
            if s.ts_end is None or ts > s.ts_end:
                s.ts_end = ts

    def belongs(self, ts: float | None, idle: float) -> bool:
        """Can a line at ``ts`` be of this connection? Not when it is earlier than the
        last line seen (a reused pid in a log merged out of order: one process serves
        one connection at a time, and its lines are written in order) or after more
        than ``idle`` seconds of silence."""
        last = self.last_ts
        return ts is None or last is None or last - _SLACK <= ts <= last + idle

    def finding(self, finding_id: str, number: int, line: str, ts: float | None,
                direction: Direction | None, detail: str) -> Evidence:
        evidence = Evidence(self.session.id, direction, ts, None, f"line {number}",
                            excerpt(line))
        self.session.findings.append(
            Finding(finding_id, CATALOG[finding_id].severity, evidence, detail))
        return evidence

    # ------------------------------------------------------------------ AUTH
    def auth(self, mechanism: str, ts: float | None, outcome: str, user: str | None = None,
             reply_code: int | None = None, reply_text: str = "") -> AuthExchange:
        s = self.session
        exchange = AuthExchange(mechanism.upper(), len(s.auth) + 1, ts, outcome=outcome,
                                reply_code=reply_code, reply_text=reply_text, user=user,
                                encrypted=s.tls)
        s.auth.append(exchange)
        return exchange

    def auth_failed(self, exchange: AuthExchange, number: int, line: str, detail: str) -> None:
        self._last_failure = self.finding("auth.failed", number, line, exchange.ts,
                                          Direction.CLIENT, detail)

    # ------------------------------------------------------------------ mail
    def transaction(self, ts: float | None, mail_from: str | None = None,
                    queue_id: str | None = None) -> Transaction:
        """A new transaction (a queue id is one message, so it opens its own); the sender
        is None until a line names it."""
        t = Transaction(len(self.session.transactions) + 1, ts, mail_from, {})
        self.session.transactions.append(t)
        if queue_id:
            self.by_queue_id[queue_id] = t
        return t

    def rejected_recipient(self, ts: float | None, mail_from: str | None, rcpt: str,
                           code: int | None, text: str, queue_id: str | None) -> None:
        """A refused RCPT joins the transaction it belongs to (by queue id, or the last
        one without a queue id and the same sender), else starts one."""
        t = self.by_queue_id.get(queue_id) if queue_id else None
        if t is None:
            last = self.session.transactions[-1] if self.session.transactions else None
            if (last is not None and last.message is None and last.mail_from == mail_from
                    and last not in self.by_queue_id.values()):
                t = last
            else:
                t = self.transaction(ts, mail_from, queue_id)
        t.recipients.append(Recipient(rcpt, {}, code, text))
        t.last_reply_code, t.last_reply_line = code, text

    # ------------------------------------------------------------------ ending
    def finish(self) -> Summary:
        """The finished session, with the findings only the whole session shows."""
        s = self.session
        if s.tls is False:
            for a in s.auth:  # TLS was never on: no AUTH of it was encrypted
                if a.encrypted is None:
                    a.encrypted = False
        failures = [a for a in s.auth if a.outcome == "failure"] if s.auth else []
        if len(failures) >= REPEATED_FAILURES and self._last_failure is not None:
            users = sorted({a.user for a in failures if a.user})
            who = f" (users tried: {', '.join(users)})" if users else ""
            ev = self._last_failure
            s.findings.append(Finding(
                "auth.repeated-failures", CATALOG["auth.repeated-failures"].severity, ev,
                f"{len(failures)} failed AUTH attempts in one connection{who}"))
        # what needs the exact bytes cannot be told from a summary, unless the server
        # itself reported it (Postfix's bare <LF> checks)
        found = {f.id for f in s.findings}
        s.undetermined = (_EXACT_BYTES if found.isdisjoint(_EXACT_BYTES)
                          else tuple(fid for fid in _EXACT_BYTES if fid not in found))
        if len(s.findings) > 1:
            s.findings.sort(key=_in_time_order)
        return Summary(s)


def _in_time_order(f: Finding) -> tuple[bool, float]:
    return f.evidence.ts is None, f.evidence.ts or 0.0


_EXACT_BYTES = tuple(fid for fid, spec in CATALOG.items() if spec.exact_bytes)
#: how far back (seconds) a line may be stamped and still belong to the open connection
#: (syslog daemons receive the lines of several processes slightly out of order)
_SLACK = 2.0
K = TypeVar("K", bound=Hashable)


class OpenSessions(Generic[K]):
    """The open connections of one log, by a format-chosen key.

    Connections the log never closes (a rotated or filtered log) are closed once they
    have been silent for ``idle`` seconds of log time, or when more than ``limit`` are
    open, so memory stays bounded.
    """

    def __init__(self, idle: float, limit: int = 20000) -> None:
        self.idle = idle
        self.limit = limit
        self._open: dict[K, PartialSession] = {}
        self._swept: float | None = None

    def get(self, key: K) -> PartialSession | None:
        return self._open.get(key)

    def current(self, key: K, ts: float | None) -> tuple[PartialSession | None, list[Summary]]:
        """The open connection of ``key`` if a line at ``ts`` can belong to it; one that
        it cannot (see :meth:`PartialSession.belongs`) is finished and returned."""
        ps = self._open.get(key)
        if ps is None or ps.belongs(ts, self.idle):
            return ps, []
        del self._open[key]
        return None, [_ended(ps, "pid reused")]

    def add(self, key: K, ps: PartialSession) -> list[Summary]:
        """Open ``ps`` under ``key``; what held that key before is finished and returned."""
        done = []
        old = self._open.pop(key, None)
        if old is not None:
            done.append(_ended(old, "reopened"))
        self._open[key] = ps
        if len(self._open) > self.limit:
            done.append(_ended(self._open.pop(next(iter(self._open))), "limit"))
        return done

    def rekey(self, old: K, new: K) -> None:
        ps = self._open.pop(old, None)
        if ps is not None:
            self._open[new] = ps

    def close(self, key: K, reason: str = "") -> list[Summary]:
        ps = self._open.pop(key, None)
        return [] if ps is None else [_ended(ps, reason)]

    def items(self) -> list[tuple[K, PartialSession]]:
        return list(self._open.items())

    def sweep(self, now: float | None) -> list[Summary]:
        """Close the connections silent for longer than ``idle`` (checked once a minute
        of log time, so a busy log does not pay for it on every line)."""
        if now is None or (self._swept is not None and now - self._swept < 60.0):
            return []
        self._swept = now
        stale = [k for k, ps in self._open.items()
                 if ps.last_ts is not None and now - ps.last_ts > self.idle]
        return [_ended(self._open.pop(key), "idle") for key in stale]

    def drain(self) -> Iterator[Summary]:
        """Everything still open (end of the log), in the order the connections began."""
        while self._open:
            yield _ended(self._open.pop(next(iter(self._open))), "eof")


def _ended(ps: PartialSession, reason: str) -> Summary:
    ps.session.close_reason = ps.session.close_reason or reason
    return ps.finish()
