"""JavaMail / Jakarta Mail debug output (``mail.debug=true``, ``Session.setDebug(true)``).

The library writes to ``System.out`` (or ``Session.setDebugOut``) two kinds of lines,
with no timestamps and no direction markers:

* its own notes, ``DEBUG SMTP: ...`` (and ``DEBUG: ...`` for the session set-up)::

      DEBUG SMTP: trying to connect to host "127.0.0.1", port 2550, isSSL false
      DEBUG SMTP: connected to host "127.0.0.1", port: 2550
      DEBUG SMTP: Found extension "AUTH", arg "LOGIN PLAIN"
      DEBUG SMTP: AUTH LOGIN command trace suppressed
      DEBUG SMTP: AUTH LOGIN succeeded

* the protocol itself, raw: the server's reply lines and the client's commands as
  they went over the wire, then the message text after ``354`` (dot-stuffed, as
  sent) and its final ``.``.

Directions are read from the protocol: a line shaped like a reply (RFC 5321 §4.2:
three digits, then space, hyphen or nothing) is the server's, a known command verb
or an answer to a ``334`` challenge is the client's, and between ``354`` and the
lone ``.`` (RFC 5321 §4.1.1.4) every line is message text. Anything else is the
program's own output (``=== ...``, Java stack traces): skipped, except that inside
a session an unknown line becomes an ``input.unparsed-line`` notice, and an exception
line quoting a reply (``AuthenticationFailedException: 535 5.7.8 ...``) is noted.

Each ``trying to connect to host "H", port P, isSSL B`` starts a session (endpoint
``H:P``; ``isSSL true`` means TLS from the first byte, RFC 8314 §3.3); without one
(debugging switched on late) a fresh ``220`` greeting after ``QUIT`` does.

By default JavaMail does not show the AUTH exchange (``mail.debug.auth=false``):
``AUTH <MECH> command trace suppressed``, then ``AUTH <MECH> succeeded`` or
``failed``. The exchange is passed on as the command ``AUTH <MECH>`` with the
steps not shown by the log, and its end: JavaMail counts only ``235`` as success
(RFC 4954 §6), so ``succeeded`` is a bare ``235``; ``failed`` takes the reply the
exception that follows quotes, else a bare ``535``. With ``mail.debug.auth=true`` the
Base64 lines are in the log like any other, and so is the password.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator

from smtplens.sources.logs._interleaved import LogSessions, reply_code
from smtplens.sources.textfile import to_wire
from smtplens.stream import Direction, Endpoint, Opened, StreamItem

_DEBUG = re.compile(r"^DEBUG(?: (?P<proto>[A-Z0-9]+))?: (?P<note>.*)$")
_TRYING = re.compile(r'^trying to connect to host "(?P<host>[^"]*)", port (?P<port>\d{1,5})'
                     r'(?:, isSSL (?P<ssl>true|false))?')
_SUPPRESSED = re.compile(r"^AUTH (?P<mech>[A-Z0-9_-]{1,40}) command trace suppressed$")
_AUTH_END = re.compile(r"^AUTH (?P<mech>[A-Z0-9_-]{1,40}) (?P<how>succeeded|failed)$")
_REPLY = re.compile(r"^\d{3}(?:[ -].*)?$")
_VERB = re.compile(r"^(?:EHLO|HELO|LHLO|MAIL FROM:|RCPT TO:|DATA$|BDAT |QUIT$|RSET$|NOOP"
                   r"|STARTTLS$|AUTH |VRFY |EXPN |HELP|ETRN |XCLIENT |XFORWARD )",
                   re.IGNORECASE)
_BASE64 = re.compile(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$|^\*$")
#: a Java exception line, ``pkg.Name: text`` (``Caused by: ...`` too)
_EXCEPTION = re.compile(r"^(?:Caused by: )?(?:[a-z_$][\w$]*\.)+[A-Z][\w$]*"
                        r"(?:Exception|Error)(?:: (?P<text>.*))?$")
_STACK = re.compile(r"^\s+(?:at |\.\.\. \d+ (?:more|common frames omitted))")
_KEY = "javamail"  # one connection at a time: the output names no session


class JavaMailDebug:
    """JavaMail / Jakarta Mail ``mail.debug`` output."""

    name = "javamail"
    description = ("JavaMail / Jakarta Mail mail.debug output: 'DEBUG SMTP: ...' notes and "
                   "the raw protocol lines")

    def sniff(self, head: list[str]) -> int:
        notes = protocol = 0
        for line in head:
            m = _DEBUG.match(line.rstrip())
            if m is not None and m.group("proto") == "SMTP":
                notes += 1
            elif _REPLY.match(line) or _VERB.match(line):
                protocol += 1
        if notes and protocol:
            return 92
        return 60 if notes else 0

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        reader = _Reader(source, self.name)
        for number, raw in lines:
            yield from reader.line(number, raw.rstrip("\r\n"))
        if reader.pending_auth:
            yield from reader.auth_failed(0, None)
        yield from reader.sessions.close_all()


class _Reader:
    """The state of one file: at most one open session (the output names none)."""

    def __init__(self, source: str, origin: str) -> None:
        self.sessions = LogSessions(source, origin, content_logged=True)
        self.server: Endpoint | None = None  #: from "trying to connect", for the next open
        self.implicit_tls = False
        self.pending_auth = ""  #: mechanism whose hidden exchange failed, reply not yet seen
        self.challenged = False  #: the last server line was a 334: an AUTH answer follows

    def open(self, number: int) -> Iterator[StreamItem]:
        for item in self.sessions.open(_KEY, number, None, "javamail", server=self.server):
            if isinstance(item, Opened) and self.implicit_tls:
                item = dataclasses.replace(item, implicit_tls=True)
            yield item
        self.server, self.implicit_tls = None, False

    def send(self, direction: Direction, text: str, number: int) -> Iterator[StreamItem]:
        first = to_wire(text)
        if self.sessions.get(_KEY) is None or self.sessions.restarts(_KEY, direction, first):
            yield from self.open(number)
        yield from self.sessions.line(_KEY, direction, text, number)
        if direction is Direction.SERVER:
            self.challenged = reply_code(first) == 334
        s = self.sessions.get(_KEY)
        code = reply_code(first) if direction is Direction.SERVER else None
        if s is not None and (s.quit_answered or (s.verb == "AUTH" and code is not None
                              and code >= 400 and not s.continued)):
            # JavaMail drops the connection (no QUIT) when AUTH fails
            yield from self.sessions.close(_KEY)

    def line(self, number: int, line: str) -> Iterator[StreamItem]:
        s = self.sessions.get(_KEY)
        if s is not None and s.in_data:
            # RFC 5321 §4.1.1.4: the message text, as sent, up to the lone "."
            yield from self.send(Direction.CLIENT, line, number)
            return
        if self.pending_auth and not _EXCEPTION.match(line) and not _STACK.match(line) \
                and line.strip():
            yield from self.auth_failed(number, None)
        if m := _DEBUG.match(line):
            yield from self.note(number, m.group("proto") or "", m.group("note"))
        elif _REPLY.match(line):
            yield from self.send(Direction.SERVER, line, number)
        elif s is not None and (_VERB.match(line) or (self.challenged and _BASE64.match(line))):
            self.challenged = False
            yield from self.send(Direction.CLIENT, line, number)
        elif s is None and _VERB.match(line):
            yield from self.send(Direction.CLIENT, line, number)
        elif e := _EXCEPTION.match(line):
            text = (e.group("text") or "").strip()
            if self.pending_auth and _REPLY.match(text):
                yield from self.auth_failed(number, text)
            elif text and _REPLY.match(text) and s is not None:
                yield self.sessions.notice(number, f"JavaMail exception quotes a reply: "
                                           f"{line[:200]}", _KEY)
        elif _STACK.match(line) or not line.strip() or s is None:
            return  # stack frames, blank lines, the program's own output between sessions
        else:
            yield self.sessions.notice(number, "JavaMail output: line is neither a JavaMail "
                                       "note nor an SMTP command or reply", _KEY)

    def note(self, number: int, proto: str, note: str) -> Iterator[StreamItem]:
        if proto != "SMTP":
            return  # "DEBUG: Jakarta Mail version ...", provider tables, other protocols
        if m := _TRYING.match(note):
            yield from self.sessions.close(_KEY)
            port = int(m.group("port"))
            self.server = Endpoint(m.group("host"), port if port <= 65535 else None)
            self.implicit_tls = m.group("ssl") == "true"
        elif m := _SUPPRESSED.match(note):
            # the AUTH exchange happened; its steps are not shown by the log
            yield from self.send(Direction.CLIENT, f"AUTH {m.group('mech')}", number)
        elif m := _AUTH_END.match(note):
            s = self.sessions.get(_KEY)
            hidden = s is not None and s.verb == "AUTH" and not self.challenged
            if hidden and m.group("how") == "succeeded":
                # JavaMail takes only 235 as success (SMTPTransport.Authenticator)
                yield from self.send(Direction.SERVER, "235", number)
            elif hidden:
                self.pending_auth = m.group("mech")

    def auth_failed(self, number: int, reply: str | None) -> Iterator[StreamItem]:
        """The end of a hidden AUTH exchange that failed: the quoted reply, or 535."""
        self.pending_auth = ""
        yield from self.send(Direction.SERVER, reply or "535", number)
