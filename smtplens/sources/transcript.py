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

A session without an ``=== session`` header whose first line is clearly not the start
of one (a reply other than a greeting's 220, 421 or 554, or a known command other than
EHLO/HELO/LHLO/PROXY) is an excerpt pasted from the middle of a session: it gets a
``capture.midstream`` notice, so its first reply is not taken for the greeting
(RFC 5321 §3.1) nor its AUTH for one sent before EHLO.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime

from smtplens.engine.syntax import KNOWN_VERBS
from smtplens.sources.textfile import to_wire
from smtplens.stream import Closed, Data, Direction, Endpoint, Gap, Notice, Opened, StreamItem
from smtplens.textutil import digits

_LINE = re.compile(
    r"^(?:(?P<ts>[0-9][0-9T:.+\-Z]*)\s+)?(?P<dir>[CS])(?P<kind>[:=])(?: ?(?P<text>.*))?$")
_HEADER = re.compile(r"^===\s*session\b(?P<rest>.*)$", re.IGNORECASE)
_GAP = re.compile(r"^!gap\s+(?P<dir>[CS])\s+(?P<size>\d+)\s*$", re.IGNORECASE)
_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|[rnt0\\])")
_SIMPLE_ESCAPES = {b"r": b"\r", b"n": b"\n", b"t": b"\t", b"0": b"\x00", b"\\": b"\\"}
#: RFC 5321 §3.1: the greeting is 220, or 554 (refused); 421 (closing) may replace it
_GREETING_CODES = frozenset({b"220", b"421", b"554"})
#: commands a client may open a session with (PROXY: HAProxy's header before it)
_OPENING_VERBS = frozenset({"EHLO", "HELO", "LHLO", "PROXY"})


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


_REPLY_OPEN = re.compile(r"^[2-5]\d\d-")


def _continues(body: str, code: str) -> bool:
    """Is ``body`` (a line with no marker) the next line of the open reply ``code``?"""
    return body.startswith(code) and (len(body) == 3 or body[3] in " -")


def clearly_midstream(direction: Direction, payload: bytes) -> bool:
    """Is this, as the first line of a session, clearly not its start (an excerpt)?"""
    first = payload.split(b"\n", 1)[0].strip()
    if direction is Direction.SERVER:
        return first[:3].isdigit() and first[:3] not in _GREETING_CODES
    verb = first.split(None, 1)[0].decode("ascii", "replace").upper() if first else ""
    return verb in KNOWN_VERBS and verb not in _OPENING_VERBS


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
        fresh = False  # a session opened without a header has had no line yet
        open_reply = ""  # the code of a server reply whose last line was "NNN-..."

        def start(number: int, client: Endpoint | None = None,
                  server: Endpoint | None = None) -> Opened:
            nonlocal conn, count, fresh
            count += 1
            fresh = False
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
                if conn is not None and open_reply and _continues(body, open_reply):
                    # a pasted multi-line reply whose later lines lost their "S: "
                    # (RFC 5321 §4.2.1: "250-" lines, then "250 " ends the reply)
                    open_reply = open_reply if body[3:4] == "-" else ""
                    yield Data(conn, Direction.SERVER, to_wire(body) + b"\r\n", last_ts,
                               f"line {number}")
                    continue
                open_reply = ""
                yield Notice("input.unparsed-line", "not a C:/S: transcript line, skipped",
                             source=source, location=f"line {number}", conn_id=conn)
                continue
            ts = parse_time(m.group("ts"))
            last_ts = ts if ts is not None else last_ts
            if conn is None:
                yield start(number)
                fresh = True
            assert conn is not None
            # the text exactly as written after "C: " (trailing spaces matter: "334 ")
            text = m.group("text") or ""
            payload = unescape(text) if m.group("kind") == "=" else to_wire(text) + b"\r\n"
            direction = Direction(m.group("dir"))
            if fresh:
                fresh = False
                if clearly_midstream(direction, payload):
                    what = "reply" if direction is Direction.SERVER else "command"
                    yield Notice("capture.midstream", "the transcript starts mid-session "
                                 f"(its first line is a {what} that cannot open one, and "
                                 "there is no '=== session' line)",
                                 source=source, location=f"line {number}", conn_id=conn)
            open_reply = text[:3] if direction is Direction.SERVER and m.group("kind") == ":" \
                and _REPLY_OPEN.match(text) else ""
            yield Data(conn, direction, payload, last_ts, f"line {number}")
        if conn is not None:
            yield Closed(conn, last_ts, reason="eof")
