"""The sans-I/O SMTP conversation engine.

Theory of operation
-------------------
One :class:`Conversation` follows one connection. It is fed the bytes of each side in
order (``receive``), told about missing bytes (``gap``), about content a log left out
(``skipped``) and about the end (``close``), and returns :mod:`~smtplens.engine.events`.
It never opens files or sockets, and any chunking of the same bytes gives the same
events (except how message content is split into :class:`~.events.MessageData`).

The client side is a small state machine (:class:`ClientState`)::

    COMMAND --DATA--> WAIT --354--> DATA --<CRLF>.<CRLF>--> COMMAND   RFC 5321 §4.1.1.4
                          `-other--> COMMAND
    COMMAND --AUTH--> WAIT --334--> AUTH --answer--> WAIT ... --235/5xx--> COMMAND
    COMMAND --STARTTLS--> WAIT --220--> TLS, or COMMAND when plaintext follows   RFC 3207
                                         (logs, captures decrypted by Arkime or Wireshark)
    COMMAND --BDAT n--> BDAT --n octets--> COMMAND                     RFC 3030 §2

WAIT exists because what the client's next bytes mean (message text, an AUTH answer, a
command, TLS) depends on a reply the client had to wait for: bytes that arrive early are
held until that reply is seen and are then read in the right mode. If the reply never
comes (one-sided capture, cut stream, a gap) the engine guesses and says so
(:class:`~.events.Guessed`).

Every client item (command, AUTH answer, end of message) is queued; each complete
server reply answers the oldest queued item (RFC 2920 §3.2: replies come in order). The
engine records facts; the checks decide what is wrong.
"""

from __future__ import annotations

import enum
import itertools
import re
from collections import deque
from dataclasses import dataclass, field

from smtplens.engine import events as ev
from smtplens.engine.dotdata import DotReader
from smtplens.engine.replies import ReplyAssembler, enhanced_status, text_of
from smtplens.engine.syntax import KNOWN_VERBS, split_command
from smtplens.stream import Direction

MAX_LINE = 64 * 1024  #: longest command/reply line kept; longer ones are cut (and flagged)
MAX_WAIT = 256 * 1024  #: client bytes held while waiting for a reply before guessing
MAX_BDAT = 1 << 40  #: larger BDAT sizes are treated as invalid
WAITING = 16  #: unanswered items a command event lists (the latest ones)
_TLS_RECORD = (b"\x16\x03", b"\x80")  # TLS handshake record / SSLv2-style hello
_PROXY_V2 = b"\r\n\r\n\x00\r\nQUIT\n"  # HAProxy PROXY protocol v2 signature
_COMMANDISH = (b"MAIL ", b"RCPT ", b"RSET", b"QUIT", b"NOOP", b"EHLO", b"HELO", b"LHLO",
               b"DATA", b"AUTH ", b"STARTTLS", b"BDAT ", b"VRFY", b"HELP")

#: a line that can only be Base64 (RFC 4648 §4): after a successful AUTH, only such a
#: line is taken for a credential out of step; after a failure, any unknown line is
_BASE64_LINE = re.compile(rb"[ \t]*[A-Za-z0-9+/]{4,}={0,2}[ \t]*")

C, S = Direction.CLIENT, Direction.SERVER


class ClientState(enum.Enum):
    COMMAND = "COMMAND"
    WAIT = "WAIT"
    AUTH = "AUTH"
    DATA = "DATA"
    BDAT = "BDAT"
    TLS = "TLS"


@dataclass(slots=True)
class _Item:
    index: int
    verb: str  #: command verb, "AUTH-ANSWER" or "."
    to: str  #: "command", "auth" or "data-end"
    expect: int = 1  #: replies still expected (LMTP: one per accepted RCPT after DATA)
    bdat_received: int = -1  #: for BDAT: octets received so far (-1: not a BDAT)


@dataclass(slots=True)
class _Side:
    buf: bytes = b""
    offset: int = 0  #: stream offset of buf[0]
    skip_line: bool = False  #: resynchronising after a gap or an overlong line
    tls: bool = False
    marks: deque[tuple[int, float | None, str]] = field(
        default_factory=lambda: deque([(0, None, "")]))

    def when(self, offset: int) -> tuple[float | None, str]:
        """Time and source location of the chunk holding ``offset``."""
        marks = self.marks
        while len(marks) > 1 and marks[1][0] <= offset:
            marks.popleft()
        return marks[0][1], marks[0][2]

    def drop(self, n: int) -> None:
        self.buf = self.buf[n:]
        self.offset += n


def _is_commandish(line: bytes) -> bool:
    return line[:9].upper().startswith(_COMMANDISH)


class Conversation:
    """Follows one SMTP connection; see the module docstring."""

    def __init__(self, *, decrypted: bool = False, lmtp: bool = False,
                 implicit_tls: bool = False) -> None:
        self.lmtp = lmtp
        encrypted = implicit_tls and not decrypted  # a log of a TLS-on-connect session is text
        self.state = ClientState.TLS if encrypted else ClientState.COMMAND
        self._c, self._s = _Side(tls=encrypted), _Side(tls=encrypted)
        self._reply = ReplyAssembler()
        self._events: list[ev.Event] = []
        self._pending: deque[_Item] = deque()
        self._items = 0
        self._greeted = encrypted
        self._wait: _Item | None = None
        self._early: tuple[int, str] = (0, "")  # bytes before offset arrived while waiting
        self._rcpt_ok = 0
        self._dot = DotReader()
        self._msg_complete = True
        self._bdat: _Item | None = None
        self._bdat_left = 0
        self._bdat_last = False
        self._bdat_start = 0
        self._in_bdat_message = False
        self._sniff_tls = implicit_tls and decrypted  # after TLS starts: TLS records or text?
        self._after_auth = False  # the last client item was AUTH or an answer to it
        self._auth_ok = False  # ... and the exchange succeeded (235)

    # ------------------------------------------------------------------ public API
    def midstream(self) -> None:
        """The capture started after the greeting: do not expect one."""
        self._greeted = True

    def receive(self, direction: Direction, data: bytes, ts: float | None = None,
                location: str = "") -> list[ev.Event]:
        """Feed bytes one side sent, in order; returns the events they complete."""
        side = self._c if direction is C else self._s
        side.marks.append((side.offset + len(side.buf), ts, location))
        if side.tls:
            side.offset += len(data)
            self._events.append(ev.Encrypted(direction, len(data), ts))
            return self._take()
        side.buf += data
        if direction is C:
            self._pump_client()
        else:
            self._pump_server()
        return self._take()

    def gap(self, direction: Direction, size: int, ts: float | None = None) -> list[ev.Event]:
        """``size`` bytes of one side are missing; resynchronise at the next line."""
        side = self._c if direction is C else self._s
        if self.state is ClientState.WAIT:
            self._guess(ts)
        at = side.offset + len(side.buf)
        self._events.append(ev.GapSeen(direction, size, ts, at, self.state.value))
        if direction is S:
            self._reply.drop()
            side.drop(len(side.buf))
            side.skip_line = not side.tls
        elif self.state is ClientState.DATA:
            self._pump_client()
            raw, content = self._dot.flush()
            if raw:
                self._events.append(ev.MessageData(raw, content, ts, at - len(raw)))
            self._msg_complete = False
            self._dot.restart_line()
        elif self.state is ClientState.BDAT:
            self._msg_complete = False
            if size < self._bdat_left:
                self._bdat_left -= size
            else:  # the gap swallowed the chunk's end and whatever followed it
                self._bdat_left = 0
                self._finish_bdat(ts, at, how="gap")
                self._c.skip_line = True
        elif self.state is not ClientState.TLS:
            self._c.drop(len(self._c.buf))
            self._c.skip_line = True
        side.offset += size
        side.marks.append((side.offset + len(side.buf), ts, ""))
        return self._take()

    def skipped(self, direction: Direction, what: str = "message", ts: float | None = None,
                location: str = "") -> list[ev.Event]:
        """The source left the message content out (logs that do not record bodies)."""
        if direction is C and what == "message":
            at = self._c.offset
            if self.state is ClientState.WAIT and self._wait and self._wait.verb == "DATA":
                self._start_data(self._wait.index, ts)
            if self.state is ClientState.DATA:
                self._dot = DotReader()
                self._end_data("skipped", ts, at, complete=False)
            elif self.state is ClientState.BDAT:
                self._bdat_left = 0
                self._finish_bdat(ts, at, how="skipped")
            self._pump_client()
        return self._take()

    def close(self, ts: float | None = None, reason: str = "eof") -> list[ev.Event]:
        """The connection ended; flush what is open."""
        while self.state is ClientState.WAIT and self._wait is not None:
            self._guess(ts)
        c, s = self._c, self._s
        end = c.offset + len(c.buf)
        if self.state is ClientState.DATA:
            self._pump_client()
            raw, content = self._dot.flush()
            if raw:
                self._events.append(ev.MessageData(raw, content, ts, end - len(raw)))
            self._end_data("closed", ts, end, complete=False, queue=False)
        elif self.state is ClientState.BDAT:
            self._finish_bdat(ts, end, how="closed")
        waiting = tuple((i.index, i.verb) for i in self._pending)
        self._events.append(ev.ConnectionEnd(ts, reason, self.state.value, waiting,
                                             end, s.offset + len(s.buf)))
        return self._take()

    # ------------------------------------------------------------------ helpers
    def _take(self) -> list[ev.Event]:
        out, self._events = self._events, []
        return out

    def _queue(self, verb: str, to: str, expect: int = 1) -> _Item:
        self._items += 1
        item = _Item(self._items, verb, to, expect)
        self._pending.append(item)
        return item

    def _line(self, side: _Side) -> tuple[bytes, int, str] | None:
        """Take the next line from a side's buffer: (line, length, ending), or None."""
        while True:
            nl = side.buf.find(b"\n")
            if side.skip_line and self._starts_line(side):
                side.skip_line = False  # the bytes after the gap begin a line after all
            if side.skip_line:  # resync: drop everything up to the next line end
                if nl < 0:
                    side.drop(len(side.buf))
                    return None
                side.drop(nl + 1)
                side.skip_line = False
                continue
            if nl < 0:
                if len(side.buf) <= MAX_LINE:
                    return None
                line = side.buf[:MAX_LINE]
                side.skip_line = True
                return line, len(line), ""
            line = side.buf[:nl]
            if line.endswith(b"\r"):
                return line[:-1][:MAX_LINE], nl + 1, "CRLF"
            return line[:MAX_LINE], nl + 1, "LF"

    def _starts_line(self, side: _Side) -> bool:
        head = side.buf[:10]
        if side is self._c:
            return _is_commandish(head) and len(side.buf) > 4
        return len(head) >= 4 and head[:3].isdigit() and head[3:4] in (b" ", b"-")

    # ------------------------------------------------------------------ client side
    def _sniff(self) -> None:
        side = self._c if self._c.buf else self._s
        self._sniff_tls = False
        if side.buf.startswith(_TLS_RECORD):
            self._encrypt_from_here(side.when(side.offset)[0])
            if self._c.buf:
                self._events.append(ev.Encrypted(C, len(self._c.buf),
                                                 self._c.when(self._c.offset)[0]))
                self._c.drop(len(self._c.buf))

    def _pump_client(self) -> None:
        c = self._c
        if c.offset == 0 and c.buf[:12] == _PROXY_V2[:len(c.buf[:12])] and not self._proxy_v2():
            return  # a PROXY v2 header still arriving
        if self._sniff_tls and c.buf:
            self._sniff()
        while c.buf:
            state = self.state
            if state is ClientState.WAIT:
                if len(c.buf) > MAX_WAIT:
                    self._guess(c.when(c.offset)[0])
                    continue
                return
            if state is ClientState.TLS:
                ts = c.when(c.offset)[0]
                self._events.append(ev.Encrypted(C, len(c.buf), ts))
                c.tls = True
                c.drop(len(c.buf))
                return
            if state is ClientState.DATA:
                self._read_data()
                continue
            if state is ClientState.BDAT:
                self._read_bdat()
                continue
            got = self._line(c)
            if got is None:
                return
            start = c.offset  # after _line: resynchronising may have dropped bytes
            line, length, ending = got
            ts, location = c.when(start)
            if ending:
                c.drop(length)
            else:
                c.drop(len(c.buf))  # overlong: cut here, resync at the next line end
            if state is ClientState.AUTH:
                item = self._queue("AUTH-ANSWER", "auth")
                self._events.append(ev.AuthAnswer(item.index, text_of(line), length, ending,
                                                  ts, start, location))
                self._after_auth = True
                self._enter_wait(item)
            else:
                self._command(line, length, ending, ts, start, location)

    def _proxy_v2(self) -> bool:
        """Consume a complete PROXY v2 header at the stream start (it gets no reply)."""
        c = self._c
        if len(c.buf) < 16:
            return False
        size = 16 + int.from_bytes(c.buf[14:16], "big")
        if len(c.buf) < size:
            return False
        ts, location = c.when(0)
        self._events.append(ev.Command(0, "PROXY", "v2", c.buf[:size], size, "", ts, 0,
                                       location, (), not self._greeted))
        c.drop(size)
        return True

    def _command(self, line: bytes, length: int, ending: str, ts: float | None,
                 start: int, location: str) -> None:
        word, rest = split_command(line)
        verb = text_of(word).upper()
        if self._after_auth and verb not in KNOWN_VERBS and line.strip() and (
                not self._auth_ok or _BASE64_LINE.fullmatch(line)):
            # RFC 4954 §4: answers are lines of their own; one that comes after the
            # exchange ended is the client's next credential, out of step with the server
            item = self._queue("AUTH-ANSWER", "auth")
            self._events.append(ev.AuthAnswer(item.index, text_of(line), length, ending,
                                              ts, start, location, stray=True))
            return
        self._after_auth = verb == "AUTH"
        # the latest few are enough for the checks (and a queue of 20,000 unanswered
        # commands must not be copied at every command)
        waiting = tuple(i.verb for i in itertools.islice(reversed(self._pending), WAITING))[::-1]
        if start < self._early[0]:
            waiting = (*waiting, self._early[1])
        if verb == "PROXY" and start == 0:
            # HAProxy PROXY protocol v1 header: for the proxy, not SMTP; no reply comes
            self._events.append(ev.Command(0, verb, text_of(rest), line, length, ending, ts,
                                           start, location, (), not self._greeted))
            return
        item = self._queue(verb, "command")
        self._events.append(ev.Command(item.index, verb, text_of(rest), line, length, ending,
                                       ts, start, location, waiting, not self._greeted))
        end = start + length
        if verb in ("DATA", "AUTH", "STARTTLS"):
            self._enter_wait(item)
        elif verb == "BDAT":
            self._start_bdat(item, rest, ts, end)
        elif verb in ("MAIL", "RSET") and self._in_bdat_message:
            # RFC 3030 §2: a new transaction or RSET abandons the chunked message
            self._in_bdat_message = False
            self._events.append(ev.MessageEnd("aborted", None, ts, start, False))
        if verb == "MAIL":
            self._rcpt_ok = 0

    def _enter_wait(self, item: _Item) -> None:
        self.state = ClientState.WAIT
        self._wait = item

    def _resume(self, item: _Item, reply: ev.Reply) -> None:
        """The reply the client waited for arrived: choose how to read what follows."""
        self._wait = None
        self._early = (self._c.offset + len(self._c.buf), item.verb)
        code = reply.code
        if item.verb == "DATA" and code == 354:
            self._start_data(item.index, reply.ts)
        elif item.to == "auth" or item.verb == "AUTH":
            self._auth_ok = code == 235
            self.state = ClientState.AUTH if code == 334 else ClientState.COMMAND
        elif item.verb == "STARTTLS" and code == 220:
            self._start_tls(reply.ts)
        else:
            self.state = ClientState.COMMAND
        self._pump_client()

    def _guess(self, ts: float | None) -> None:
        """The awaited reply will not be seen: decide from the client's own bytes."""
        item = self._wait
        if item is None:
            return
        head = self._c.buf[:16]
        if item.verb == "DATA":
            assumed = "503" if _is_commandish(head) else "354"
        elif item.verb == "STARTTLS":
            assumed = "220" if head.startswith(_TLS_RECORD) else "454"
        else:
            assumed = "235" if _is_commandish(head) else "334"
        self._events.append(ev.Guessed(item.index, item.verb, assumed, ts))
        self._wait = None
        if assumed == "354":
            self._start_data(item.index, ts)
        elif assumed == "220":
            self._start_tls(ts)
        else:
            self.state = ClientState.AUTH if assumed == "334" else ClientState.COMMAND
        self._pump_client()

    def _start_tls(self, ts: float | None) -> None:
        c = self._c
        injected = b"" if c.buf.startswith(_TLS_RECORD) else c.buf
        self._events.append(ev.TlsStarted(ts, c.offset, self._s.offset + len(self._s.buf),
                                          injected[:MAX_LINE]))
        if injected:
            c.drop(len(injected))
        # What follows is TLS records, or the decrypted dialogue (logs, captures decrypted
        # by Arkime or Wireshark): the first bytes either side sends after the 220 decide.
        self.state = ClientState.COMMAND
        self._sniff_tls = True
        if c.buf or self._s.buf:
            self._sniff()

    def _encrypt_from_here(self, ts: float | None) -> None:
        self.state = ClientState.TLS
        self._s.tls = self._c.tls = True
        if self._s.buf:
            self._events.append(ev.Encrypted(S, len(self._s.buf), ts))
            self._s.drop(len(self._s.buf))

    # ------------------------------------------------------------------ message content
    def _start_data(self, item_index: int, ts: float | None) -> None:
        self._wait = None
        early = self._c.buf != b""
        self.state = ClientState.DATA
        self._dot = DotReader()
        self._msg_complete = True
        self._events.append(ev.MessageStart(item_index, "DATA", ts, self._c.offset, early))

    def _read_data(self) -> None:
        c = self._c
        ts = c.when(c.offset)[0]
        held = self._dot.held_real
        raw, content, used = self._dot.feed(c.buf)
        if raw:
            self._events.append(ev.MessageData(raw, content, ts, c.offset - held))
        if used < 0:
            c.drop(len(c.buf))
            return
        c.drop(used)
        self._end_data("dot", c.when(c.offset - 1)[0], c.offset, self._msg_complete)

    def _end_data(self, how: str, ts: float | None, offset: int, complete: bool,
                  queue: bool = True) -> None:
        item = None
        if queue:
            expect = max(1, self._rcpt_ok) if self.lmtp else 1
            item = self._queue(".", "data-end", expect).index
        self._events.append(ev.MessageEnd(how, item, ts, offset, complete))
        self.state = ClientState.COMMAND

    def _start_bdat(self, item: _Item, rest: bytes, ts: float | None, end: int) -> None:
        parts = rest.split()
        size = int(parts[0]) if parts and parts[0].isdigit() else -1
        last = len(parts) == 2 and parts[1].upper() == b"LAST"
        if size < 0 or size > MAX_BDAT or len(parts) > 2 or (len(parts) == 2 and not last):
            return  # invalid BDAT: the octets cannot be followed; stay in command mode
        if not self._in_bdat_message:
            self._in_bdat_message = True
            self._msg_complete = True
            self._events.append(ev.MessageStart(item.index, "BDAT", ts, end))
        item.bdat_received = 0
        self._bdat, self._bdat_left, self._bdat_last, self._bdat_start = item, size, last, end
        self.state = ClientState.BDAT
        if size == 0:
            self._finish_bdat(ts, end, how="last" if last else "chunk")

    def _read_bdat(self) -> None:
        c, item = self._c, self._bdat
        assert item is not None
        take = c.buf[:self._bdat_left]
        ts = c.when(c.offset)[0]
        self._events.append(ev.MessageData(take, take, ts, c.offset))
        c.drop(len(take))
        self._bdat_left -= len(take)
        item.bdat_received += len(take)
        if self._bdat_left == 0:
            self._finish_bdat(c.when(c.offset - 1)[0], c.offset, how="last")

    def _finish_bdat(self, ts: float | None, offset: int, how: str) -> None:
        item = self._bdat
        if item is None:
            return
        declared = item.bdat_received + self._bdat_left
        received = item.bdat_received if how != "skipped" else declared
        self._events.append(ev.BdatChunk(item.index, declared, received, self._bdat_last,
                                         ts, self._bdat_start))
        self.state = ClientState.COMMAND
        self._bdat = None
        ended = how in ("closed", "skipped", "gap") or self._bdat_last
        if ended and (self._bdat_last or how == "closed"):
            complete = self._msg_complete and how not in ("closed", "gap")
            end_how = "last" if how in ("last", "chunk") else how
            self._events.append(ev.MessageEnd(end_how, item.index, ts, offset, complete))
            self._in_bdat_message = False

    # ------------------------------------------------------------------ server side
    def _pump_server(self) -> None:
        s = self._s
        if self._sniff_tls and s.buf:
            self._sniff()
        while s.buf and not s.tls:
            got = self._line(s)
            if got is None:
                return
            start = s.offset  # after _line, as on the client side
            line, length, _ending = got
            ts, location = s.when(start)
            s.drop(length if _ending else len(s.buf))
            if self._reply.add(line, start, ts, location):
                self._finish_reply()

    def _finish_reply(self) -> None:
        asm = self._reply
        ts, offset, location = asm.ts, asm.offset, asm.location
        code, texts, raws, malformed, mixed = asm.take()
        enhanced = enhanced_status(texts[0]) if code is not None and texts else None
        item: _Item | None = None
        if not self._greeted and (not self._pending or code in (220, 421, 554)):
            to = "greeting"
            self._greeted = True
        elif self._pending:
            self._greeted = True
            item = self._pending[0]
            item.expect -= 1
            if item.expect <= 0:
                self._pending.popleft()
            to = item.to
        else:
            to = "unmatched"
        reply = ev.Reply(code, texts, raws, enhanced, ts, offset,
                         item.index if item else None, to, item.verb if item else "",
                         malformed, mixed, location)
        self._events.append(reply)
        if item is None:
            return
        if item.verb == "RCPT" and reply.code is not None and 200 <= reply.code < 300:
            self._rcpt_ok += 1
        if item is self._wait:
            self._resume(item, reply)
        elif (item is self._bdat and item.bdat_received == 0 and self._bdat_left
              and not reply.positive):
            # a BDAT refused before any of its octets arrived: the client will not send
            # them (OISF/suricata-verify#3350); leave BDAT mode so commands stay in sync
            self._bdat_left = 0
            self._bdat = None
            self._in_bdat_message = False
            self.state = ClientState.COMMAND
            self._events.append(ev.MessageEnd("aborted", item.index, reply.ts,
                                              self._c.offset, False))
