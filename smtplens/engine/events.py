"""Events the conversation engine emits: facts, not judgements.

Every event is a small frozen record. Client "items" (commands, AUTH answers, the end of
a message) are numbered in the order the client sent them; a :class:`Reply` names the
item it answers, so pipelined replies are matched whatever the segmenting (RFC 2920
§3.2: replies come in order). Checks turn these facts into findings.
"""

from __future__ import annotations

from dataclasses import dataclass

from smtplens.stream import Direction


@dataclass(frozen=True, slots=True)
class Command:
    """A client command line (RFC 5321 §4.1)."""

    item: int  #: client item number
    verb: str  #: uppercased first word ("MAIL", "EHLO", "X-FOO", "" for an empty line)
    args: str  #: the rest of the line after one space, as text (surrogate-escaped bytes)
    raw: bytes  #: the line without its ending (capped)
    length: int  #: octets of the line including its ending
    ending: str  #: "CRLF", "LF" (bare LF) or "" (cut: overlong, or stream ended)
    ts: float | None
    offset: int  #: client stream offset of the line's first octet
    location: str = ""
    waiting: tuple[str, ...] = ()  #: verbs of earlier items still waiting (the latest 16)
    before_greeting: bool = False  #: sent before the server's greeting


@dataclass(frozen=True, slots=True)
class AuthAnswer:
    """A client line answering a 334 AUTH challenge (RFC 4954 §4)."""

    item: int
    text: str
    length: int
    ending: str
    ts: float | None
    offset: int
    location: str = ""
    #: sent in command mode right after an AUTH exchange (or its refusal) and not a
    #: command: a client out of step with the server, whose line is most likely its
    #: next credential (a password guess after 535, the lines after a 504 or a cancel)
    stray: bool = False


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete server reply (one or more lines), RFC 5321 §4.2."""

    code: int | None  #: None when the first line has no valid code
    lines: tuple[str, ...]  #: text of every line after "NNN-"/"NNN " (or the whole line)
    raw_lines: tuple[bytes, ...]  #: every line as sent, without its ending (capped)
    enhanced: str | None  #: RFC 3463 enhanced status code from the first line, "5.7.8"
    ts: float | None  #: time of the first line
    offset: int  #: server stream offset of the first line
    answers: int | None  #: item number this reply answers; None for greeting/unmatched
    to: str  #: "greeting", "command", "auth", "data-end" or "unmatched"
    verb: str = ""  #: verb of the answered command ("DATA", "AUTH", "." for data-end)
    malformed: tuple[int, ...] = ()  #: indexes of lines that break the Reply-line grammar
    mixed_codes: bool = False  #: lines of one multi-line reply carry different codes
    location: str = ""

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def positive(self) -> bool:
        return self.code is not None and 200 <= self.code < 400


@dataclass(frozen=True, slots=True)
class MessageStart:
    """The client started sending message content (after 354, or the first BDAT)."""

    item: int  #: the DATA or first BDAT command's item
    method: str  #: "DATA" or "BDAT"
    ts: float | None
    offset: int
    early: bool = False  #: content was sent before the 354 arrived (pipelined past DATA)


@dataclass(frozen=True, slots=True)
class MessageData:
    """A piece of message content.

    ``raw`` is exactly what was on the wire (dot-stuffed for DATA); ``content`` is the
    message after RFC 5321 §4.5.2 dot-unstuffing (same as ``raw`` for BDAT).
    """

    raw: bytes
    content: bytes
    ts: float | None
    offset: int  #: client stream offset of raw[0]


@dataclass(frozen=True, slots=True)
class MessageEnd:
    """The message ended."""

    how: str  #: "dot" (<CRLF>.<CRLF>), "last" (BDAT LAST), "closed", "skipped" (log left it out)
    item: int | None  #: item whose reply accepts or refuses the message
    ts: float | None
    offset: int  #: client stream offset just after the end
    complete: bool  #: False when the stream ended or bytes were missing inside it


@dataclass(frozen=True, slots=True)
class BdatChunk:
    """One BDAT chunk's octets were all received (or the stream ended inside it)."""

    item: int
    declared: int
    received: int
    last: bool
    ts: float | None
    offset: int


@dataclass(frozen=True, slots=True)
class TlsStarted:
    """STARTTLS was accepted (220): from here both sides speak TLS (RFC 3207 §4)."""

    ts: float | None
    client_offset: int
    server_offset: int
    injected: bytes = b""  #: plaintext the client sent after STARTTLS, before the 220


@dataclass(frozen=True, slots=True)
class Encrypted:
    """Bytes inside TLS (counted, not parsed)."""

    direction: Direction
    size: int
    ts: float | None


@dataclass(frozen=True, slots=True)
class GapSeen:
    """``size`` bytes of one side are missing; the engine resynchronises."""

    direction: Direction
    size: int
    ts: float | None
    offset: int
    state: str  #: the client state when it happened ("COMMAND", "DATA", ...)


@dataclass(frozen=True, slots=True)
class Guessed:
    """The engine had to guess what a reply would have said (reply never seen)."""

    item: int
    verb: str
    assumed: str  #: what it assumed, e.g. "354" or "334"
    ts: float | None


@dataclass(frozen=True, slots=True)
class ConnectionEnd:
    """The stream ended; what was still open."""

    ts: float | None
    reason: str
    state: str  #: client state at the end ("COMMAND", "DATA", "BDAT", "TLS", ...)
    waiting: tuple[tuple[int, str], ...]  #: (item, verb) still waiting for replies
    client_bytes: int
    server_bytes: int


Event = (Command | AuthAnswer | Reply | MessageStart | MessageData | MessageEnd | BdatChunk
         | TlsStarted | Encrypted | GapSeen | Guessed | ConnectionEnd)
