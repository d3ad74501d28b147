"""What an audit keeps of one session: a few small records, never its bytes.

An audit may read weeks of logs. Each :class:`~smtplens.model.Session` is reduced, in
the process that built it, to one :class:`Seen` — who talked to whom, when, the AUTH
attempts, the finding ids, what the server offered — and the session itself is
dropped. Cross-session findings (:mod:`smtplens.audit.correlate`) and the report's
totals (:mod:`smtplens.audit.tally`) are made from these alone.

Nothing here holds a secret: user names are identities (RFC 4954 §4: the
authentication identity), not credentials, and every text is already redacted by the
model.
"""

from __future__ import annotations

from dataclasses import dataclass

from smtplens.findings.finding import Severity
from smtplens.model import AuthExchange, Session

#: sources that are text logs (everything but a capture): a credential in them is a
#: credential stored on disk
CAPTURE_ORIGINS = frozenset({"pcap"})


@dataclass(frozen=True, slots=True)
class AuthTry:
    """One AUTH attempt (RFC 4954 §4) as the audit keeps it."""

    ts: float | None
    mechanism: str
    user: str | None  #: the authentication identity, when the mechanism shows it
    outcome: str  #: "success", "failure", "cancelled" or "unknown"
    location: str  #: where in its file ("line 12", "record 40")
    encrypted: bool


@dataclass(frozen=True, slots=True)
class Hit:
    """One finding of one session, without its excerpt."""

    id: str
    severity: Severity
    ts: float | None
    location: str
    detail: str


@dataclass(frozen=True, slots=True)
class Seen:
    """One session reduced to what the audit report and the correlations need."""

    file: str  #: the input file
    session: str  #: the session id within it
    origin: str  #: "pcap", "postfix-log", "swaks", ...
    location: str  #: where the session starts in its file
    ts_start: float | None
    ts_end: float | None
    client: str | None  #: the client's address (no port: one client, many connections)
    server: str | None  #: the server's address and port
    helo: str | None
    user_agent: str | None  #: the User-Agent or X-Mailer of its first message
    tls: bool
    partial: bool  #: rebuilt from a summary log
    auth: tuple[AuthTry, ...]
    hits: tuple[Hit, ...]
    messages: int
    message_bytes: int
    recipients: int
    rejected_recipients: int
    #: EHLO offered STARTTLS in clear text (None: no EHLO reply seen in clear text)
    starttls_offered: bool | None
    #: AUTH offered before TLS (in the clear-text EHLO reply) where STARTTLS also was
    auth_before_tls: bool

    @property
    def client_key(self) -> tuple[str, str, str]:
        """What identifies client software: address, EHLO name, user agent."""
        return (self.client or "?", self.helo or "", self.user_agent or "")

    def has(self, finding_id: str) -> bool:
        return any(h.id == finding_id for h in self.hits)


def observe(session: Session) -> Seen:
    """The audit's record of ``session``."""
    s = session
    user_agent = None
    size = rcpts = rejected = 0
    for tx in s.transactions:
        rcpts += len(tx.recipients)
        rejected += sum(1 for r in tx.recipients
                        if r.reply_code is not None and r.reply_code >= 400)
        msg = tx.message
        if msg is not None:
            size += msg.info.size if msg.info is not None else msg.wire_size
            if user_agent is None and msg.info is not None:
                user_agent = msg.info.user_agent
    clear_caps = _clear_text_capabilities(s)
    starttls = None if clear_caps is None else "STARTTLS" in clear_caps
    auth_before_tls = bool(starttls and clear_caps is not None and "AUTH" in clear_caps)
    return Seen(
        file=s.source, session=s.id, origin=s.origin, location=s.location,
        ts_start=s.ts_start, ts_end=s.ts_end,
        client=s.client.host if s.client is not None else None,
        server=str(s.server) if s.server is not None else None,
        helo=s.helo, user_agent=user_agent, tls=s.tls is True, partial=s.partial,
        auth=tuple(AuthTry(a.ts, a.mechanism, a.user, _outcome(s, a),
                           _auth_location(s, a.item), a.encrypted is True) for a in s.auth),
        hits=tuple(Hit(f.id, f.severity, f.evidence.ts, f.evidence.location, f.detail)
                   for f in s.findings),
        messages=len(s.messages), message_bytes=size, recipients=rcpts,
        rejected_recipients=rejected, starttls_offered=starttls,
        auth_before_tls=auth_before_tls,
    )


def _clear_text_capabilities(s: Session) -> dict[str, tuple[str, ...]] | None:
    """What the server offered in clear text: the EHLO reply before TLS (after
    STARTTLS the client must ask again, RFC 3207 §4.2, and ``Session.capabilities``
    holds the reply inside TLS)."""
    return None if s.implicit_tls else s.clear_capabilities


def _auth_location(s: Session, item: int) -> str:
    for e in s.exchanges:
        if e.item == item:
            return e.location
    return s.location


#: reply texts of an AUTH the server's SASL back-end could not judge
_BACKEND_REPLIES = ("generic failure", "connection lost to authentication server",
                    "temporary authentication failure", "unable to authenticate at present")


def _outcome(s: Session, a: AuthExchange) -> str:
    """An AUTH refused because the server's SASL back-end failed (the log said so:
    ``log.sasl-backend-fault``) is no failed password: "unknown", never counted as
    guessing."""
    if a.outcome != "failure" or not any(f.id == "log.sasl-backend-fault"
                                         for f in s.findings):
        return a.outcome
    reply = a.reply_text.lower()
    return "unknown" if any(r in reply for r in _BACKEND_REPLIES) else a.outcome
