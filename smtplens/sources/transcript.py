"""The plain ``C:``/``S:`` transcript format (as in RFC 5321's examples).

Hand-writable; every line is one of::

    # a comment                       ignored, as are blank lines
    === session [client=IP:PORT] [server=IP:PORT]   starts a new session (optional)
    [TIME] C: text                    client line: ``text`` followed by CRLF
    [TIME] S: text                    server line: ``text`` followed by CRLF
    [TIME] C= escaped bytes           exact client bytes, no CRLF added; escapes
                                      \\r \\n \\t \\0 \\\\ \\xHH
    [TIME] S= escaped bytes           exact server bytes
    !gap C 1200                       1200 client bytes are missing here
    !close                            the connection closed here

``TIME`` is optional: Unix seconds (``1700000000.25``) or ISO 8601
(``2024-05-01T10:00:00.5Z``). Leading indentation is ignored, so the dialogues of the
RFCs can be pasted as they are. The bytes are taken as exact: a ``C:`` line is the
text plus CRLF, and the ``=`` form writes bare CR/LF, NUL or anything else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime

from smtplens.sources.textfile import to_wire
from smtplens.stream import Closed, Data, Direction, Endpoint, Gap, Notice, Opened, StreamItem
from smtplens.textutil import digits

_LINE = re.compile(
    r"^(?:(?P<ts>[0-9][0-9T:.+\-Z]*)\s+)?(?P<dir>[CS])(?P<kind>[:=])(?: ?(?P<text>.*))?$")
_HEADER = re.compile(r"^===\s*session\b(?P<rest>.*)$", re.IGNORECASE)
_GAP = re.compile(r"^!gap\s+(?P<dir>[CS])\s+(?P<size>\d+)\s*$", re.IGNORECASE)
_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|[rnt0\\])")
_SIMPLE_ESCAPES = {b"r": b"\r", b"n": b"\n", b"t": b"\t", b"0": b"\x00", b"\\": b"\\"}


def parse_time(text: str | None) -> float | None:
    """Unix seconds or ISO 8601 text to a float, None when absent or unreadable."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def unescape(text: str) -> bytes:
    """The ``=`` form's escapes to bytes."""

    def one(m: re.Match[bytes]) -> bytes:
        code = m.group(1)
        if code.startswith(b"x"):
            return bytes([int(code[1:], 16)])
        return _SIMPLE_ESCAPES[code]

    return _ESCAPE.sub(one, to_wire(text))


def _endpoint(text: str) -> Endpoint | None:
    host, sep, port = text.rpartition(":")
    if not sep:
        return Endpoint(text)
    host = host.strip("[]")
    return Endpoint(host, int(port)) if digits(port) else Endpoint(text)


class CSTranscript:
    """The plain ``C:``/``S:`` transcript format."""

    name = "cs"
    description = "plain transcript: 'C: ' and 'S: ' lines as in RFC 5321's examples"

    def sniff(self, head: list[str]) -> int:
        lines = [ln.strip() for ln in head if ln.strip() and not ln.lstrip().startswith("#")]
        if not lines:
            return 0
        hits = [m for ln in lines if (m := _LINE.match(ln))]
        sides = {m.group("dir") for m in hits}
        share = len(hits) / len(lines)
        return int(90 * share) if sides == {"C", "S"} else int(40 * share)

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        conn: str | None = None
        count = 0
        last_ts: float | None = None

        def start(number: int, client: Endpoint | None = None,
                  server: Endpoint | None = None) -> Opened:
            nonlocal conn, count
            count += 1
            conn = f"T{count}"
            return Opened(conn, last_ts, client=client, server=server, source=source,
                          origin="transcript", exact_bytes=True, decrypted=True,
                          location=f"line {number}")

        for number, raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if m := _HEADER.match(line):
                if conn is not None:
                    yield Closed(conn, last_ts, reason="eof")
                opts = dict(p.split("=", 1) for p in m.group("rest").split() if "=" in p)
                yield start(number, _endpoint(opts["client"]) if "client" in opts else None,
                            _endpoint(opts["server"]) if "server" in opts else None)
                continue
            if line.lower() == "!close":
                if conn is not None:
                    yield Closed(conn, last_ts, reason="log")
                    conn = None
                continue
            if m := _GAP.match(line):
                if conn is None:
                    yield start(number)
                assert conn is not None
                yield Gap(conn, Direction(m.group("dir")), int(m.group("size")), last_ts)
                continue
            body = raw.lstrip()
            m = _LINE.match(body)
            if m is None:
                yield Notice("input.unparsed-line", "not a C:/S: transcript line, skipped",
                             source=source, location=f"line {number}", conn_id=conn)
                continue
            ts = parse_time(m.group("ts"))
            last_ts = ts if ts is not None else last_ts
            if conn is None:
                yield start(number)
            assert conn is not None
            # the text exactly as written after "C: " (trailing spaces matter: "334 ")
            text = m.group("text") or ""
            payload = unescape(text) if m.group("kind") == "=" else to_wire(text) + b"\r\n"
            yield Data(conn, Direction(m.group("dir")), payload, last_ts, f"line {number}")
        if conn is not None:
            yield Closed(conn, last_ts, reason="eof")
