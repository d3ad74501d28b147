"""The session model: plain, picklable records with no global state.

A :class:`Session` is one connection (aiosmtpd's word); a :class:`Transaction` is one
MAIL FROM ... DATA/BDAT envelope (aiosmtpd's ``Envelope``); a :class:`Message` is the
content a transaction carried; an :class:`AuthExchange` is one AUTH command with its
decoded SASL steps. Secrets are :class:`~smtplens.secret.Secret` values everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from smtplens.findings.finding import Finding
from smtplens.mime import MessageInfo
from smtplens.sasl import SaslStep
from smtplens.secret import Secret
from smtplens.stream import Endpoint


@dataclass(slots=True)
class Exchange:
    """One client item (command, AUTH answer, end of message) and the reply to it."""

    item: int  #: order in which the client sent it (1, 2, ...)
    kind: str  #: "command", "auth" (an AUTH answer) or "data-end"
    verb: str  #: "EHLO", "MAIL", ... ; "AUTH-ANSWER"; "." for the end of a message
    text: str  #: the line as shown, secrets redacted
    ts: float | None  #: when the client sent it
    offset: int  #: client stream offset
    location: str = ""  #: position in the source file
    pipelined: bool = False  #: sent while earlier items still waited for replies
    reply_code: int | None = None
    reply_text: str = ""  #: all reply lines joined with newlines
    enhanced: str | None = None  #: RFC 3463 status of the reply
    reply_ts: float | None = None
    note: str = ""  #: decoded meaning (AUTH steps: 'prompt "Password:"')
    secret: Secret | None = None  #: the line as sent, when it holds a secret
    step: SaslStep | None = None  #: the decoded AUTH step this line carried
    reply_note: str = ""  #: decoded meaning of the reply (334 challenges)

    def meaning(self, reveal: bool = False) -> str:
        """What the line means (decoded AUTH data), secrets only when ``reveal``."""
        return self.step.describe(reveal) if self.step is not None else self.note

    def shown(self, reveal: bool = False) -> str:
        """The line, with its secret only when ``reveal``."""
        return self.secret.reveal() if reveal and self.secret is not None else self.text

    @property
    def latency(self) -> float | None:
        """Seconds between the command and the first line of its reply."""
        if self.ts is None or self.reply_ts is None:
            return None
        return self.reply_ts - self.ts


@dataclass(slots=True)
class AuthExchange:
    """One AUTH command (RFC 4954) and its decoded SASL steps."""

    mechanism: str
    item: int  #: the AUTH command's item
    ts: float | None
    steps: list[SaslStep] = field(default_factory=list)
    outcome: str = "unknown"  #: "success", "failure", "cancelled" or "unknown"
    reply_code: int | None = None
    reply_text: str = ""
    enhanced: str | None = None
    user: str | None = None  #: decoded authentication identity, when the mechanism shows it
    encrypted: bool | None = False  #: the exchange ran inside TLS (None: the log cannot tell)
    advertised: bool | None = None  #: the mechanism was in EHLO's AUTH list (None: no EHLO seen)
    secrets_exposed: bool = False  #: a reusable secret travelled in recoverable form
    #: a reusable secret was sent (PLAIN, LOGIN) but the log masked it
    secrets_masked: bool = False


@dataclass(slots=True)
class Recipient:
    """One RCPT TO and the server's answer."""

    address: str
    params: dict[str, str | None]
    reply_code: int | None = None
    reply_text: str = ""

    @property
    def accepted(self) -> bool:
        return self.reply_code is not None and 200 <= self.reply_code < 300


@dataclass(slots=True)
class Message:
    """The content one transaction carried."""

    method: str  #: "DATA" or "BDAT"
    ts_start: float | None
    ts_end: float | None = None
    end: str = ""  #: "dot", "last", "closed", "skipped", "aborted"
    complete: bool = False  #: ended properly with no bytes missing
    wire_size: int = 0  #: octets on the wire (dot-stuffed for DATA)
    info: MessageInfo | None = None  #: size, sha256, headers, attachments (None: not logged)
    reply_code: int | None = None  #: the server's verdict on the message
    reply_text: str = ""
    chunks: int = 0  #: BDAT chunks
    extracted_to: str | None = None  #: .eml path when extraction was asked for
    extract_note: str = ""  #: why extraction wrote no (or an incomplete) file
    end_item: int | None = None  #: the client item whose reply judges the message


@dataclass(slots=True)
class Transaction:
    """One MAIL FROM ... envelope (RFC 5321 §3.3)."""

    index: int
    ts: float | None
    mail_from: str | None  #: reverse-path without brackets; "" for <>; None: no MAIL sent
    mail_params: dict[str, str | None]
    mail_reply_code: int | None = None
    mail_reply_text: str = ""
    recipients: list[Recipient] = field(default_factory=list)
    method: str | None = None  #: "DATA", "BDAT" or None when no content was sent
    data_reply_code: int | None = None  #: reply to DATA itself (354 or a refusal)
    message: Message | None = None
    ended: str = ""  #: "message", "rset", "mail", "quit", "closed"

    last_reply_code: int | None = None  #: the last reply to any command of the transaction
    last_reply_line: str = ""  #: the last line of that reply (the form Zeek's log shows)

    @property
    def last_reply(self) -> str:
        """The last reply of the transaction, as Zeek's ``last_reply`` shows it."""
        if self.last_reply_code is None:
            return ""
        return f"{self.last_reply_code} {self.last_reply_line}".strip()


@dataclass(slots=True)
class Session:
    """One SMTP connection, rebuilt."""

    id: str
    source: str  #: file it came from
    origin: str  #: "pcap", "transcript", "swaks", "postfix-log", ...
    client: Endpoint | None = None
    server: Endpoint | None = None
    ts_start: float | None = None
    ts_end: float | None = None
    exact_bytes: bool = True  #: False: CR/LF and segmenting were not recorded by the source
    partial: bool = False  #: rebuilt from a summary log, not a transcript
    greeting_code: int | None = None
    greeting_text: str = ""
    helo_verb: str | None = None  #: "EHLO", "HELO" or "LHLO" (the last one sent)
    helo: str | None = None  #: its argument
    capabilities: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: the capabilities of the last EHLO reply before TLS (None: none seen in clear text)
    clear_capabilities: dict[str, tuple[str, ...]] | None = None
    #: STARTTLS succeeded or implicit TLS; None: unknown (a summary log that does not say)
    tls: bool | None = False
    implicit_tls: bool = False
    tls_ts: float | None = None
    exchanges: list[Exchange] = field(default_factory=list)
    auth: list[AuthExchange] = field(default_factory=list)
    transactions: list[Transaction] = field(default_factory=list)
    client_bytes: int = 0
    server_bytes: int = 0
    encrypted_bytes: int = 0
    gaps: int = 0
    close_reason: str = ""
    quit: bool = False
    findings: list[Finding] = field(default_factory=list)
    undetermined: tuple[str, ...] = ()  #: finding ids this source cannot decide
    location: str = ""  #: where the session starts in its source

    @property
    def messages(self) -> list[Message]:
        return [t.message for t in self.transactions if t.message is not None]

    @property
    def user(self) -> str | None:
        """The user of the last successful AUTH (or the last attempted one)."""
        ok = [a.user for a in self.auth if a.outcome == "success" and a.user]
        tried = [a.user for a in self.auth if a.user]
        found = ok or tried
        return found[-1] if found else None

    @property
    def duration(self) -> float | None:
        if self.ts_start is None or self.ts_end is None:
            return None
        return self.ts_end - self.ts_start
