"""Nodemailer's transport log (``createTransport({logger: true, debug: true})``).

Nodemailer's own console logger writes one line per logged line, the time in UTC::

    [2026-12-02 05:47:25] INFO  [9Ydd8UdAkv4] Connection established to 127.0.0.1:2550
    [2026-12-02 05:47:25] DEBUG [9Ydd8UdAkv4] S: 220 mx.example.test ESMTP
    [2026-12-02 05:47:25] DEBUG [9Ydd8UdAkv4] C: EHLO app.example.test
    [2026-12-02 05:47:25] DEBUG [9Ydd8UdAkv4] Hello Bob,          <- message text (debug)
    [2026-12-02 05:47:25] INFO  [9Ydd8UdAkv4] <356 bytes encoded mime message ...>

Printed without timestamps (a logger set up so, or pasted from a console that dropped
them), a line starts with the padded level: `` DEBUG [sid] C: EHLO ...``; those are read
the same way, their times unknown. ``[sid]`` names the connection (``[#cid]`` before it,
the pooled transport's connection number), so sessions of transports running at once
interleave freely and are told apart by it. ``S:``/``C:`` are the server's and client's
lines (``tnx: server/client``); with ``debug`` the message text follows the ``354`` as
untagged lines (``tnx: message``, dot-stuffed, with the final ``.``) and an INFO line
``<N bytes encoded mime message ...>`` after it; without ``debug`` (``transactionLog``
only) that INFO line is all there is, and the message is passed on as not logged.

A logger passed in (bunyan, pino, winston in JSON) gets the same entries as objects,
one JSON line each: ``{"level":20,"sid":"...","tnx":"client","msg":"EHLO ..."}``; a
``message`` entry holds a whole chunk of the text, CRLF inside. The ``network`` entry
carries both endpoints (``localAddress``/``localPort``, ``remoteAddress``/``remotePort``).

``Connection established to H:P`` starts a session with server ``H:P``; ``Secure
connection established`` means TLS from the first byte (RFC 8314 §3.3);
``Closing connection`` / ``Connection closed`` end it. Nodemailer hides secrets:
the password of AUTH PLAIN/LOGIN/XOAUTH2 is logged as ``/* secret */`` (older
releases ``/* hidden */``), Base64-encoded like the real one. An AUTH answer that is
only the placeholder is passed on as ``[credentials hidden]`` ("masked by the log"),
a custom handler's ``AUTH MECH /* secret */`` as ``AUTH MECH`` (response not shown);
an AUTH PLAIN initial response holding it is passed on as logged (its user name is
real; its password is the placeholder, which the SASL decoder cannot tell).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from smtplens.sources.logs._interleaved import LogSessions, parse_endpoint
from smtplens.sources.logs._times import iso_time
from smtplens.stream import Direction, Endpoint, Opened, Skipped, StreamItem

_TEXT = re.compile(r"^(?:\[(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\] (?P<level>[A-Z]{4,5})"
                   r"|[ \t]{0,8}(?P<bare>TRACE|DEBUG|INFO|WARN|ERROR|FATAL)) +"
                   r"(?:\[#(?P<cid>[^\]\s]{1,40})\] )?(?:\[(?P<sid>[^\]\s#]{1,40})\](?: |$))?"
                   r"(?P<text>.*)$")
_TAG = re.compile(r"^(?P<who>[CS]): ?(?P<text>.*)$")
_ESTABLISHED = re.compile(r"^(?:(?P<secure>Secure) c|C)onnection established to (?P<addr>\S+)")
_CLOSING = re.compile(r"^(?:Closing connection to the server|Connection closed)")
_MIME_DONE = re.compile(r"^<\d+ bytes encoded mime message")
#: what Nodemailer logs instead of a secret
_PLACEHOLDERS = frozenset({"/* secret */", "/* hidden */"})
_MASKED = "[credentials hidden]"
_AUTH_HIDDEN = re.compile(r"^(?P<auth>AUTH \S{1,40}) /\* (?:secret|hidden) \*/$", re.IGNORECASE)
_MAX_JSON = 1 << 16  # a JSON entry longer than this is not parsed (message chunks are small)


@dataclasses.dataclass(slots=True)
class _Entry:
    """One log entry, from either layout."""

    key: str  #: the connection it belongs to ("" when none is named)
    tnx: str  #: "client", "server", "message", or anything else (a note)
    text: str
    ts: float | None
    level: str = ""
    server: Endpoint | None = None
    client: Endpoint | None = None


def _text_entry(m: re.Match[str]) -> _Entry:
    key = ":".join(p for p in (m.group("cid"), m.group("sid")) if p)
    text = m.group("text")
    time = m.group("time")
    ts = iso_time(time.replace(" ", "T") + "+00:00") if time else None
    level = m.group("level") or m.group("bare")
    tag = _TAG.match(text)
    if tag is not None and key:
        tnx = "client" if tag.group("who") == "C" else "server"
        return _Entry(key, tnx, tag.group("text"), ts, level)
    return _Entry(key, "", text, ts, level)


def _json_time(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):  # pino: Unix milliseconds
        seconds = value / 1000.0
        return seconds if 0 < seconds < 32503680000 else None
    if isinstance(value, str):  # bunyan: ISO 8601
        return iso_time(value)
    return None


def _json_endpoint(host: Any, port: Any) -> Endpoint | None:
    if not isinstance(host, str) or not host or len(host) > 255:
        return None
    ok = isinstance(port, int) and not isinstance(port, bool) and 0 <= port <= 65535
    return Endpoint(host, port if ok else None)


def _json_entry(line: str) -> _Entry | None:
    if len(line) > _MAX_JSON:
        return None
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("msg"), str):
        return None
    parts = [str(obj[k]) for k in ("cid", "sid") if isinstance(obj.get(k), (str, int))]
    tnx = obj.get("tnx") if isinstance(obj.get("tnx"), str) else ""
    return _Entry(":".join(parts)[:80], str(tnx), obj["msg"], _json_time(obj.get("time")),
                  str(obj.get("level", "")),
                  server=_json_endpoint(obj.get("remoteAddress"), obj.get("remotePort")),
                  client=_json_endpoint(obj.get("localAddress"), obj.get("localPort")))


def _placeholder(text: str) -> bool:
    """Is this client line only Nodemailer's stand-in for a secret (plain or Base64)?"""
    if text.strip() in _PLACEHOLDERS:
        return True
    try:
        decoded = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return decoded.decode("latin-1") in _PLACEHOLDERS


class NodemailerLog:
    """Nodemailer ``logger``/``debug`` output, console or JSON."""

    name = "nodemailer"
    description = ("Nodemailer transport log: '[time] DEBUG [sid] C: ...' / 'S: ...', or its "
                   "JSON form ({\"sid\":..., \"tnx\":\"client\", \"msg\":...})")

    def sniff(self, head: list[str]) -> int:
        tagged = json_lines = 0
        for line in head:
            if m := _TEXT.match(line):
                if m.group("sid") and _TAG.match(m.group("text")):
                    tagged += 1
            elif line.startswith("{") and '"tnx":' in line and '"msg":' in line:
                entry = _json_entry(line)
                if entry is not None and entry.tnx in ("client", "server") and entry.key:
                    json_lines += 1
        if tagged >= 2 or json_lines >= 2:
            return 95
        return 50 if tagged or json_lines else 0

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        reader = _Reader(source, self.name)
        for number, raw in lines:
            line = raw.rstrip("\r\n")
            entry: _Entry | None = None
            if m := _TEXT.match(line):
                entry = _text_entry(m)
            elif line.startswith("{"):
                entry = _json_entry(line)
                if entry is None:
                    yield reader.sessions.notice(number, "Nodemailer JSON log: line is not "
                                                 "a JSON log entry")
                    continue
            if entry is None:
                continue  # the program's own output
            yield from reader.entry(number, entry)
        yield from reader.sessions.close_all()


class _Reader:
    def __init__(self, source: str, origin: str) -> None:
        self.sessions = LogSessions(source, origin, content_logged=True)
        #: connections announced ("Connection established") but not yet talking
        self.pending: dict[str, tuple[Endpoint | None, Endpoint | None, bool, float | None]] = {}

    def entry(self, number: int, e: _Entry) -> Iterator[StreamItem]:
        if not e.key:
            return  # transport notes: "Creating transport", "Sending message ..."
        s = self.sessions.get(e.key)
        if e.tnx == "message" or (not e.tnx and s is not None and s.in_data
                                  and e.level in ("DEBUG", "20", "")):
            if s is None or not s.in_data:
                return  # message text without its 354 (a log that starts mid-message)
            # one log entry may hold several lines (JSON: the whole chunk)
            for part in re.split(r"\r?\n", e.text):
                if s.in_data:
                    yield from self.sessions.line(e.key, Direction.CLIENT, part, number, e.ts)
            return
        if e.tnx in ("client", "server"):
            yield from self.protocol(number, e)
            return
        if m := _ESTABLISHED.match(e.text):
            yield from self.sessions.close(e.key)
            server = e.server or parse_endpoint(m.group("addr"))
            self.pending[e.key] = (server, e.client, bool(m.group("secure")), e.ts)
        elif _CLOSING.match(e.text):
            self.pending.pop(e.key, None)
            yield from self.sessions.close(e.key, e.ts)
        elif _MIME_DONE.match(e.text) and s is not None and s.in_data:
            # the text was not logged (no "debug"), or not to its end: RFC 5321 §4.1.1.4
            s.in_data = False
            yield Skipped(s.conn_id, Direction.CLIENT, "message", e.ts, f"line {number}")

    def protocol(self, number: int, e: _Entry) -> Iterator[StreamItem]:
        direction = Direction.CLIENT if e.tnx == "client" else Direction.SERVER
        text = e.text
        if self.sessions.get(e.key) is None:
            server, client, secure, first_ts = self.pending.pop(e.key, (None, None, False, None))
            for item in self.sessions.open(e.key, number, first_ts or e.ts, "nodemailer",
                                           client=client, server=server):
                if isinstance(item, Opened) and secure:
                    item = dataclasses.replace(item, implicit_tls=True)
                yield item
        if direction is Direction.CLIENT:
            if _placeholder(text):
                text = _MASKED  # the log hid the secret: "masked by the log", not Base64
            elif m := _AUTH_HIDDEN.match(text):
                # a custom auth handler's AUTH line, its initial response hidden: what is
                # left is the command (RFC 4954 §4); the response is not shown by the log
                text = m.group("auth")
        for part in re.split(r"\r?\n", text) if direction is Direction.SERVER else [text]:
            yield from self.sessions.line(e.key, direction, part, number, e.ts)

