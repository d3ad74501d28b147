"""Python ``smtplib`` debug output (``SMTP.set_debuglevel(1)`` or ``(2)``) on stderr.

Each line is ``send:`` or ``reply:`` and the ``repr`` of what went over the wire, so
both sides' bytes are exact, CRLF included, and the whole message (dot-stuffed, with
its final ``.``) is one ``send: b'...'`` line::

    12:06:13.590614 send: 'ehlo client.test\\r\\n'
    12:06:13.591020 reply: b'250-sink.example\\r\\n'
    12:06:13.591402 reply: retcode (250); Msg: b'sink.example\\nSIZE 33554432'
    12:06:13.601057 data: (354, b'End data with <CR><LF>.<CR><LF>')
    12:06:13.606276 connect: to ('127.0.0.1', 8025) None

Level 2 adds the local time of day (``datetime.time``, so without microseconds when
they are zero, and without a date: today's date is assumed, stepping a day when the
clock wraps). ``reply: retcode``, ``data:`` and ``connect: b'...'`` repeat what the
``reply:`` lines showed and are skipped, as is anything else the program printed to
stderr. A ``connect: to (host, port)`` line starts a session; without it (debugging
switched on after connecting) the first line does, and a new 220 greeting or a
command after QUIT starts the next.

The literals are decoded with :func:`ast.literal_eval` (no code runs). A session's
``Opened.exact_bytes`` is True only when every line decoded, so a session's items are
held until it ends (at most :data:`HOLD_LIMIT` of them).
"""

from __future__ import annotations

import ast
import codecs
import re
import time
import warnings
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from smtplens.sources.logs._interleaved import LogSessions
from smtplens.sources.textfile import to_wire
from smtplens.stream import Data, Direction, Endpoint, Opened, StreamItem

#: items held per session before it is released without waiting for its end
HOLD_LIMIT = 5000
_LINE = re.compile(r"^(?:(?P<time>\d\d:\d\d:\d\d(?:\.\d{1,6})?) )?"
                   r"(?P<kind>send|reply|connect|data): (?P<rest>.*)$")
_LITERAL = re.compile(r"^b?(?:'.*'|\".*\")$", re.DOTALL)
_CONNECT_TO = re.compile(r"^(?:to )?(?P<addr>\(.*?\))(?: .*)?$")
_KEY = "smtplib"  # one connection at a time: smtplib's output has no session ids


def decode_literal(text: str) -> bytes | None:
    """A Python ``str``/``bytes`` repr back to bytes, None when it is not one."""
    if not _LITERAL.match(text):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "invalid escape sequence" in damaged text
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        # smtplib encodes commands as ASCII, or UTF-8 for SMTPUTF8 (RFC 6531)
        return value.encode("utf-8", "surrogateescape")
    return None


def _salvage(text: str) -> bytes:
    """Best effort for a damaged literal (cut short, say): strip the quotes, undo escapes."""
    body = text[1:] if text.startswith("b") else text
    body = body.strip("'\"")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return codecs.escape_decode(to_wire(body))[0]
    except (ValueError, UnicodeError):
        return to_wire(body)


class _Clock:
    """Times of day to Unix seconds, on the local date the file is read."""

    def __init__(self) -> None:
        self.day = datetime.fromtimestamp(time.time()).replace(hour=0, minute=0, second=0,
                                                               microsecond=0)
        self.last: datetime | None = None

    def read(self, text: str | None) -> float | None:
        if not text:
            return None
        try:
            t = datetime.strptime(text, "%H:%M:%S.%f" if "." in text else "%H:%M:%S").time()
            when = datetime.combine(self.day.date(), t)
            if self.last is not None and when < self.last - timedelta(hours=12):
                self.day += timedelta(days=1)  # midnight passed
                when += timedelta(days=1)
            self.last = when
            return when.timestamp()
        except (ValueError, OverflowError, OSError):
            return None


class SmtplibDebug:
    """Python smtplib ``set_debuglevel`` output."""

    name = "smtplib"
    description = "Python smtplib debug output: \"send: 'EHLO x\\r\\n'\" / \"reply: b'250 ...'\""

    def sniff(self, head: list[str]) -> int:
        kinds: set[str] = set()
        for line in head:
            m = _LINE.match(line)
            if m is not None and m.group("kind") in ("send", "reply") \
                    and _LITERAL.match(m.group("rest")):
                kinds.add(m.group("kind"))
        return 95 if kinds == {"send", "reply"} else 50 if kinds else 0

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        sessions = LogSessions(source, self.name, content_logged=True)
        clock = _Clock()
        held: list[StreamItem] = []
        exact = True
        released = False

        def flush(end: bool) -> Iterator[StreamItem]:
            """Release the held items; ``end``: the session is over, start afresh."""
            nonlocal exact, released
            if held and isinstance(held[0], Opened) and not released:
                first = held[0]
                lmtp = any(isinstance(i, Data) and i.data[:5].upper() == b"LHLO "
                           for i in held[1:20])
                held[0] = Opened(first.conn_id, first.ts, first.client, first.server,
                                 first.source, first.origin, exact_bytes=exact, lmtp=lmtp,
                                 location=first.location, decrypted=True)
                released = True
            yield from held
            held.clear()
            if end:
                exact, released = True, False

        def restart(number: int, ts: float | None,
                    server: Endpoint | None = None) -> Iterator[StreamItem]:
            held.extend(sessions.close(_KEY))
            yield from flush(True)
            held.extend(sessions.open(_KEY, number, ts, "smtplib", server=server))

        for number, raw in lines:
            m = _LINE.match(raw)
            if m is None:
                continue  # whatever else the program wrote to stderr
            kind, rest = m.group("kind"), m.group("rest")
            ts = clock.read(m.group("time"))
            if kind == "data" or rest.startswith("retcode ("):
                continue  # repeats the reply lines
            if kind == "connect":
                c = _CONNECT_TO.match(rest)
                if c is not None:  # not "connect: b'greeting'", which repeats the reply
                    yield from restart(number, ts, _server(c.group("addr")))
                continue
            direction = Direction.CLIENT if kind == "send" else Direction.SERVER
            payload = decode_literal(rest)
            if sessions.get(_KEY) is None or sessions.restarts(
                    _KEY, direction, payload if payload is not None else _salvage(rest)):
                yield from restart(number, ts)
            if payload is None:
                exact = False
                held.append(sessions.notice(number, f"smtplib {kind}: line is not a Python "
                                            "literal; its bytes are a guess", _KEY, ts))
                payload = _salvage(rest)
            held.extend(sessions.send(_KEY, direction, payload, number, ts))
            s = sessions.get(_KEY)
            if s is not None and s.quit_answered:
                held.extend(sessions.close(_KEY))
                yield from flush(True)
            elif len(held) >= HOLD_LIMIT:
                yield from flush(False)
        held.extend(sessions.close_all())
        yield from flush(True)


def _server(text: str) -> Endpoint | None:
    """``('127.0.0.1', 8025)`` (or a bare host, for LMTP over a socket) to an Endpoint."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(value, tuple) and value and isinstance(value[0], str):
        port = value[1] if len(value) > 1 and isinstance(value[1], int) else None
        return Endpoint(value[0], port if port is not None and 0 <= port <= 65535 else None)
    return None
