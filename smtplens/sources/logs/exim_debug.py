"""``exim -d`` debug output: the SMTP lines among Exim's debugging chatter.

Exim prints each SMTP line it reads or writes with a marker::

    SMTP>> 220 myhost ESMTP Exim       server side (column 0): reply sent
    SMTP>| 250 OK                      reply sent, output flushed
    SMTP<< mail from:<a@b>             command received
    SMTP>- ◀flush▶                     flush marker: no bytes
    SMTP(closed)<<                     the client went away
      SMTP<< 220 ESMTP                 client side (transport, callout; indented)
      SMTP>> EHLO myhost               command sent
      SMTP|> RCPT TO:<a@b>             command written into the pipelining buffer
      SMTP+> QUIT                      written, more to follow
      SMTP>> (writing message)         the message body goes out, not logged
      SMTP(close)>>                    the connection is closed
             250-SIZE 52428800         the rest of a multi-line reply, aligned

Lines may start with a time and a process id (``01:01:01 p1237 ``, ``+timestamp``
and ``+pid`` selectors) and, in ``-bh`` runs, with ``>>> ``. After those, server
lines are at column 0 or 1 and client lines at column 2 or more; this indentation
decides the side (it agrees with the content on every corpus line). Each process
id and side is a session of its own: the server side and each transport or callout
connection are different sessions, with the directions of that role. Message text
is never logged: after the server's 354 and at ``(writing message)`` the stream gets
:class:`~smtplens.stream.Skipped`, and so after every BDAT command. Everything else
in the file is Exim's own debugging and is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from smtplens.sources.logs._sessionbuf import SessionBuffer
from smtplens.stream import Direction, Endpoint, Notice, StreamItem
from smtplens.textutil import digits

_PREFIX = re.compile(
    r"^(?:(?P<time>\d\d:\d\d:\d\d(?:\.\d+)?) (?:(?P<tpid>p?\d+) )?|(?P<pid>p\d+) )?(?:>>> )?")
_SMTP = re.compile(
    r"^SMTP(?P<op><<|>>|\|>|>\||>-|\+>|\((?P<note>[^)]*)\)(?:<<|>>)|>>\((?P<note2>[^)]*)\))"
    r"(?: (?P<text>.*))?$")
_CONTINUATION = re.compile(r"^[2-5][0-9]{2}[ -]")
_REPLY = re.compile(r"^[0-9]{3}(?:[ -]|$)")
_CONNECTING = re.compile(r"^Connecting to \S+ \[(?P<ip>[^\]]+)\]:(?P<port>[^ ]+)"
                         r"(?: from (?P<from>[^ ]+))? \.\.\.")
_CONNECTION_FROM = re.compile(r"^SMTP connection from .*?\[(?P<ip>[^\]]+)\](?::(?P<port>\d+))?")
# phrases of Exim's debug output that are not SMTP, for sniffing fragments
_MARKERS = ("Exim version ", "changed uid/gid", "configuration file is", "using ACL ",
            "processing ACL ", "end of ACL ", "LOG: ", "search_tidyup called")
_TERMINATING = re.compile(r"^>{16} Exim pid=(?P<pid>p?\d+) .*terminating")


def _endpoint(host: str, port: str | None = None) -> Endpoint:
    return Endpoint(host, int(port) if port and digits(port) else None)


Key = tuple[str, bool]  #: (process id or "", client role)


class _Side:
    """One SMTP connection as one Exim process saw it (server or client role)."""

    def __init__(self, buf: SessionBuffer, client_role: bool) -> None:
        self.buf = buf
        self.client_role = client_role
        self.last_verb = ""
        self.in_data = False  # client role: 354 received, body not yet marked
        self.body_skipped = False  # client role: Skipped given, its "." still to come
        self.continued = False  # the last reply line was "ddd-": more lines follow

    def command(self, text: str, number: int) -> None:
        self.last_verb = text.split(" ", 1)[0].upper()
        self.buf.line(Direction.CLIENT, text, number)
        if self.last_verb == "BDAT":
            # RFC 3030 §2: the chunk follows the command, and Exim does not log it
            self.buf.skipped(Direction.CLIENT, number)

    def client_sends(self, text: str, number: int) -> None:
        if text == "(writing message)" or (text == "." and (self.in_data or self.body_skipped)):
            # the body went out unlogged; its end-of-data "." belongs to it
            if not self.body_skipped:
                self.buf.skipped(Direction.CLIENT, number)
            self.body_skipped = text != "."
            self.in_data = False
            return
        self.in_data = self.body_skipped = False
        self.command(text, number)

    def reply(self, text: str, number: int) -> None:
        self.buf.line(Direction.SERVER, text, number)
        self.continued = text[3:4] == "-"
        if self.continued:
            return
        if text.startswith("354") and self.last_verb == "DATA":
            if self.client_role:
                self.in_data = True  # "(writing message)" follows
            else:
                self.buf.skipped(Direction.CLIENT, number)
        elif text.startswith("220") and self.last_verb == "STARTTLS":
            self.buf.tls_started()


class _Reader:
    """The sessions of one debug file being read."""

    def __init__(self, source: str, origin: str) -> None:
        self.source = source
        self.origin = origin
        self.sides: dict[Key, _Side] = {}
        self.peers: dict[Key, tuple[Endpoint | None, Endpoint | None]] = {}
        self.count = 0

    def side(self, key: Key, number: int) -> _Side:
        if key not in self.sides:
            self.count += 1
            buf = SessionBuffer(f"exim-debug-{self.count}", self.source, self.origin, number)
            buf.client, buf.server = self.peers.pop(key, (None, None))
            self.sides[key] = _Side(buf, client_role=key[1])
        return self.sides[key]

    def close(self, key: Key, reason: str) -> Iterator[StreamItem]:
        side = self.sides.pop(key, None)
        if side is not None:
            yield from side.buf.close(reason)

    def smtp(self, key: Key, op: str, line: str, number: int) -> Iterator[StreamItem]:
        client_role = key[1]
        current = self.sides.get(key)
        if (not client_role and op in (">>", ">|") and line.startswith("220")
                and current is not None and current.buf.has_data
                and current.last_verb != "STARTTLS"):
            yield from self.close(key, "eof")  # a new greeting: a new connection
        side = self.side(key, number)
        if op == "<<":
            if client_role:
                side.reply(line, number)
            else:
                side.command(line, number)
        elif client_role:
            side.client_sends(line, number)
        else:
            side.reply(line, number)
            if line.startswith(("221 ", "421 ")):
                yield from self.close(key, "log")  # RFC 5321 §3.8: the server closes
                return
        yield from side.buf.drain()

    def event(self, key: Key, op: str, note: str, number: int) -> Iterator[StreamItem]:
        """``SMTP(close)>>``, ``SMTP(closed)<<``, ``SMTP>>(close on process exit)`` ..."""
        side = self.sides.get(key)
        if note == "close" or note.startswith("close on"):
            yield from self.close(key, "log")
        elif side is not None and (note == "closed" or "timed out" in note) \
                and side.last_verb != "QUIT":
            side.buf.notice("log.lost-connection",
                            f"SMTP({note}){op[-2:]} after {side.last_verb or 'the greeting'}",
                            number)

    def continuation(self, pid: str, text: str, number: int) -> Iterator[StreamItem]:
        for key in ((pid, True), (pid, False)):
            side = self.sides.get(key)
            if side is not None and side.continued:
                side.reply(text, number)
                yield from side.buf.drain()
                return

    def other(self, key: Key, text: str) -> Iterator[StreamItem]:
        """Non-SMTP lines that still tell something: endpoints, process ends."""
        pid = key[0]
        if m := _CONNECTING.match(text):
            # an outgoing connection (transport or callout), whatever its indentation
            client_key = (pid, True)
            yield from self.close(client_key, "eof")
            client = Endpoint(m.group("from")) if m.group("from") else None
            self.peers[client_key] = (client, _endpoint(m.group("ip"), m.group("port")))
        elif (m := _CONNECTION_FROM.match(text)) and " closed by " not in text:
            server_key = (pid, False)
            peer = _endpoint(m.group("ip"), m.group("port"))
            if server_key not in self.sides:
                self.peers[server_key] = (peer, None)
            elif self.sides[server_key].buf.client is None:
                self.sides[server_key].buf.client = peer
        elif pid and (m := _TERMINATING.match(text)) and m.group("pid") == pid:
            # with pids in the prefix a process's end closes its sessions; without
            # them a child's end would cut its parent's session, so it is not used
            for side_key in [k for k in self.sides if k[0] == pid]:
                yield from self.close(side_key, "eof")


class EximDebug:
    """``exim -d`` debug output (``SMTP<<`` / ``SMTP>>`` lines)."""

    name = "exim-debug"
    description = "exim -d debug output: 'SMTP<<' / 'SMTP>>' lines, server and transport side"

    def sniff(self, head: list[str]) -> int:
        smtp = markers = 0
        for line in head:
            m = _PREFIX.match(line)
            rest = line[m.end():].lstrip(" ") if m else line
            if _SMTP.match(rest):
                smtp += 1
            elif rest.startswith(_MARKERS) or _TERMINATING.match(rest):
                markers += 1
        if smtp and markers:
            return 92
        if smtp >= 3:
            return 80  # a fragment: "SMTP<<"/"SMTP>>" are Exim's alone
        return 60 if markers else 0

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        reader = _Reader(source, self.name)
        for number, raw in lines:
            m = _PREFIX.match(raw)
            if m is None:  # cannot happen: every part of the prefix is optional
                continue
            pid = m.group("tpid") or m.group("pid") or ""
            rest = raw[m.end():]
            text = rest.lstrip(" ")
            # server lines sit at column 0 (1 after a time/pid prefix), client lines deeper
            key = (pid, len(rest) - len(text) >= 2)
            tok = _SMTP.match(text)
            if tok is None:
                if rest[:1] == " " and _CONTINUATION.match(text):
                    # the rest of a multi-line reply, aligned under its first line
                    yield from reader.continuation(pid, text, number)
                elif text.startswith("SMTP") and text[4:5] in ("<", ">", "|", "+", "("):
                    yield Notice("input.unparsed-line", "unknown SMTP debug marker, skipped",
                                 source=source, location=f"line {number}")
                else:
                    yield from reader.other(key, text)
                continue
            op, note = tok.group("op"), tok.group("note") or tok.group("note2")
            if op == ">-":
                continue  # a flush marker: no bytes
            if note is not None:
                yield from reader.event(key, op, note, number)
            else:
                yield from reader.smtp(key, op[-2:] if op[0] == "(" else op,
                                       tok.group("text") or "", number)
        for key in list(reader.sides):
            yield from reader.close(key, "eof")
