"""Bookkeeping shared by the logs that interleave many SMTP sessions in one file.

Postfix, Exchange, sendmail, smtplib and PHPMailer logs all show one line per SMTP
line, tagged with a process id, a session id or nothing at all. :class:`LogSessions`
keeps the open sessions of one file by a format-chosen key and turns each logged line
into stream items, handling what those logs have in common:

* a line is the text without its CRLF, so the CRLF is put back (``to_wire(text) +
  b"\\r\\n"``); formats that log exact bytes pass them through :meth:`LogSessions.send`;
* most of them do not log the message content: after the 354 reply (or after a BDAT
  command) a :class:`~smtplens.stream.Skipped` tells the engine so, and a lone ``.``
  that some logs do show (Postfix's SMTP client) is dropped with it;
* logs without explicit session markers are split with :meth:`LogSessions.restarts`:
  a new 220 greeting, or a client line after QUIT, starts the next session.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator

from smtplens.sources.textfile import to_wire
from smtplens.stream import (
    Closed,
    Data,
    Direction,
    Endpoint,
    Notice,
    Opened,
    Skipped,
    StreamItem,
)
from smtplens.textutil import digits

#: commands whose reply is a fresh 220 greeting inside the same connection
_GREETING_AGAIN = frozenset({"STARTTLS", "X-ANONYMOUSTLS", "XCLIENT", "TURN", "ATRN"})
#: sessions silent this long (log time) are closed, so memory stays flat on huge logs
IDLE_SECONDS = 3600.0

def parse_endpoint(text: str) -> Endpoint | None:
    """``1.2.3.4:25``, ``[2001:db8::1]:25``, ``[ipv6:2001:db8::1]``, ``host`` to an Endpoint."""
    text = text.strip()
    if not text:
        return None
    port: int | None = None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":") and digits(rest[1:]):
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, tail = text.partition(":")
        if digits(tail):
            port = int(tail)
        else:
            host = text
    else:
        host = text  # a bare IPv6 address or a name
    if host[:5].lower() == "ipv6:":
        host = host[5:]
    if port is not None and port > 65535:
        port = None
    return Endpoint(host, port) if host else None


def reply_code(payload: bytes) -> int | None:
    """The code of a reply line (``250-...``, ``354 ...``, ``220``), else None."""
    if len(payload) >= 3 and payload[:3].isdigit() and payload[3:4] in (b"", b" ", b"-",
                                                                       b"\r", b"\n"):
        return int(payload[:3])
    return None


class LogSession:
    """What the helper remembers about one open session."""

    __slots__ = ("client_lines", "conn_id", "continued", "in_data", "key", "last_ts",
                 "quit", "quit_answered", "swallow_dot", "verb")

    def __init__(self, key: Hashable, conn_id: str, ts: float | None) -> None:
        self.key = key
        self.conn_id = conn_id
        self.last_ts = ts
        self.verb = ""  #: the client's last command verb, uppercase
        self.client_lines = 0
        self.continued = False  #: the server's last line was a ``NNN-`` continuation
        self.in_data = False  #: between 354 and the end of a logged message
        self.swallow_dot = False  #: a logged ``.`` after unlogged content is dropped
        self.quit = False
        self.quit_answered = False  #: QUIT got its (complete) reply


class LogSessions:
    """The open sessions of one log file and the stream items they produce."""

    def __init__(self, source: str, origin: str, *, content_logged: bool) -> None:
        self.source = source
        self.origin = origin
        self.content_logged = content_logged  #: the log shows message content after 354
        self.open_sessions: dict[Hashable, LogSession] = {}
        self.count = 0
        self.now: float | None = None  #: the latest time the log showed

    def get(self, key: Hashable) -> LogSession | None:
        return self.open_sessions.get(key)

    def open(self, key: Hashable, number: int, ts: float | None, label: str,
             client: Endpoint | None = None, server: Endpoint | None = None, *,
             exact_bytes: bool = False, lmtp: bool = False,
             conn_id: str | None = None) -> Iterator[StreamItem]:
        """Start a session (closing one still open under the same key)."""
        yield from self.close(key)
        self.count += 1
        self.tick(ts)
        session = LogSession(key, conn_id or f"{label}#{self.count}", ts)
        self.open_sessions[key] = session
        # logs record what the program read and wrote, so whatever follows STARTTLS is
        # shown in clear: decrypted=True lets the engine go on parsing after TLS starts
        yield Opened(session.conn_id, ts, client=client, server=server, source=self.source,
                     origin=self.origin, exact_bytes=exact_bytes, lmtp=lmtp,
                     location=f"line {number}", decrypted=True)

    def restarts(self, key: Hashable, direction: Direction, payload: bytes) -> bool:
        """Does this line begin a new connection under ``key`` (logs without markers)?"""
        s = self.open_sessions.get(key)
        if s is None:
            return False
        if direction is Direction.CLIENT:
            return s.quit
        if s.quit_answered:
            return True
        return (reply_code(payload) == 220 and s.client_lines > 0 and not s.continued
                and not s.in_data and s.verb not in _GREETING_AGAIN)

    def line(self, key: Hashable, direction: Direction, text: str, number: int,
             ts: float | None = None) -> Iterator[StreamItem]:
        """One logged line: the text and the CRLF the log dropped."""
        yield from self.send(key, direction, to_wire(text) + b"\r\n", number, ts)

    def send(self, key: Hashable, direction: Direction, payload: bytes, number: int,
             ts: float | None = None) -> Iterator[StreamItem]:
        """Bytes one side sent in an open session (nothing when ``key`` is not open)."""
        s = self.open_sessions.get(key)
        if s is None:
            return
        self.tick(ts)
        if ts is not None:
            s.last_ts = ts
        where = f"line {number}"
        if direction is Direction.CLIENT:
            if s.swallow_dot:
                s.swallow_dot = False
                if payload.rstrip(b"\r\n") == b".":
                    return  # the end of a message whose content was not logged
            s.client_lines += 1
            yield Data(s.conn_id, direction, payload, s.last_ts, where)
            if s.in_data:
                # RFC 5321 §4.1.1.4: the message ends with a line holding only "."
                if payload == b".\r\n" or payload.endswith(b"\r\n.\r\n"):
                    s.in_data = False
                return
            s.verb = payload.split(None, 1)[0].decode("ascii", "replace").upper() \
                if payload.strip() else ""
            if s.verb == "QUIT":
                s.quit = True
            elif s.verb == "BDAT" and not self.content_logged:
                # RFC 3030: the chunk's octets follow the command, and are not logged
                yield Skipped(s.conn_id, Direction.CLIENT, "message", s.last_ts, where)
            return
        yield Data(s.conn_id, direction, payload, s.last_ts, where)
        for raw in payload.splitlines(keepends=True) or [payload]:
            code = reply_code(raw)
            s.continued = code is not None and raw[3:4] == b"-"
            if code is None or s.continued:
                continue
            if s.quit:
                s.quit_answered = True
            if code == 354 and s.verb in ("DATA", ""):
                if self.content_logged:
                    s.in_data = True
                else:
                    yield Skipped(s.conn_id, Direction.CLIENT, "message", s.last_ts, where)
                    s.swallow_dot = True

    def close(self, key: Hashable, ts: float | None = None,
              reason: str = "log") -> Iterator[StreamItem]:
        s = self.open_sessions.pop(key, None)
        if s is not None:
            yield Closed(s.conn_id, ts if ts is not None else s.last_ts, reason=reason)

    def close_all(self, reason: str = "eof") -> Iterator[StreamItem]:
        for key in list(self.open_sessions):
            yield from self.close(key, None, reason)

    def sweep(self, idle: float = IDLE_SECONDS) -> Iterator[StreamItem]:
        """Close sessions the log has not mentioned for ``idle`` seconds."""
        if self.now is None:
            return
        stale = [k for k, s in self.open_sessions.items()
                 if s.last_ts is not None and self.now - s.last_ts > idle]
        for key in stale:
            yield from self.close(key, None, "idle")

    def notice(self, number: int, message: str, key: Hashable | None = None,
               ts: float | None = None, code: str = "input.unparsed-line") -> Notice:
        s = self.open_sessions.get(key) if key is not None else None
        return Notice(code, message, source=self.source,
                      location=f"line {number}", conn_id=s.conn_id if s else None,
                      ts=ts)

    def tick(self, ts: float | None) -> None:
        """The log showed this time (sessions idle since long before are swept)."""
        if ts is not None and (self.now is None or ts > self.now):
            self.now = ts
