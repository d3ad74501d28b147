"""MailKit ``ProtocolLogger`` files: what the .NET mail library's SmtpClient logs.

``new SmtpClient(new ProtocolLogger("smtp.log"))`` writes, for each connection::

    Connected to smtp://smtp.example.test:587/?starttls=when-available
    S: 220 smtp.example.test ESMTP
    C: EHLO [192.0.2.7]
    S: 250-smtp.example.test
    S: 250 AUTH PLAIN LOGIN
    C: AUTH PLAIN ********

``LogConnect`` writes the ``Connected to <uri>`` line: the server's host and port, and
the scheme says how TLS was asked for (``smtps://``: TLS on connect, RFC 8314 §3;
``smtp://...?starttls=...``: STARTTLS, RFC 3207). ``LogClient``/``LogServer`` write
the bytes read and written, each line after the ``ClientPrefix``/``ServerPrefix``
(``C: ``/``S: `` by default; some tools set ``>> ``/``<< ``), the message included, so
what follows STARTTLS is in clear. Newer MailKit masks AUTH data with ``********``
(``AuthenticationSecretDetector``, "masked by the log") and may put a timestamp
(``LogTimestamps``, ``yyyy-MM-ddTHH:mm:ssZ`` by default) before the prefix.

Only the ``Connected to smtp[s]://`` line makes a file MailKit's: RFC-style ``C:``/``S:``
transcripts without it are the plain ``cs`` format. The file is read as text, so the
CRLF of each line is put back and exact-bytes checks cannot be run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit

from smtplens.sources.logs._sessionbuf import SessionBuffer
from smtplens.sources.logs._times import iso_time
from smtplens.stream import Direction, Endpoint, StreamItem

_STAMP = r"(?:(?P<ts>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?) )?"
_CONNECTED = re.compile(rf"^{_STAMP}Connected to (?P<uri>smtps?://\S+)\s*$", re.IGNORECASE)
_LINE = re.compile(rf"^{_STAMP}(?P<who>C: |S: |>> |<< |C:$|S:$|>>$|<<$)(?P<text>.*)$")
_DEFAULT_PORT = {"smtp": 25, "smtps": 465}


def _server(uri: str) -> tuple[Endpoint | None, bool]:
    """The endpoint of ``smtp[s]://host:port/...`` and whether TLS starts on connect."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None, False
    scheme = parts.scheme.lower()
    host = parts.hostname
    if not host:
        return None, scheme == "smtps"
    return Endpoint(host, port if port is not None else _DEFAULT_PORT.get(scheme)), \
        scheme == "smtps"


def _time(text: str | None) -> float | None:
    if not text:
        return None
    text = text.replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif not re.search(r"[+-]\d\d:?\d\d$", text):
        text += "+00:00"  # MailKit's default format writes UTC with a literal Z
    return iso_time(text)


class MailKitProtocolLog:
    """MailKit ``ProtocolLogger`` output (``Connected to smtp://...``, ``C: ``/``S: ``)."""

    name = "mailkit"
    description = "MailKit ProtocolLogger: 'Connected to smtp[s]://...' then 'C: '/'S: ' lines"

    def sniff(self, head: list[str]) -> int:
        if not any(_CONNECTED.match(ln) for ln in head):
            return 0
        marked = sum(1 for ln in head if _LINE.match(ln))
        return 97 if marked else 60

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        buf: SessionBuffer | None = None
        prefixes: tuple[str, str] | None = None  # (client, server) of this file
        count = 0
        for number, raw in lines:
            line = raw.rstrip("\r")
            if m := _CONNECTED.match(line):
                if buf is not None:
                    yield from buf.close("log")
                count += 1
                buf = SessionBuffer(f"mailkit-{count}", source, self.name, number)
                buf.server, buf.implicit_tls = _server(m.group("uri"))
                # a log shows what the program read and wrote: inside TLS too
                buf.decrypted = True
                buf.ts = buf.last_ts = _time(m.group("ts"))
                continue
            m = _LINE.match(line)
            if buf is None:
                continue  # before the first connection: not MailKit's
            if m is None:
                if line.strip():
                    buf.notice("input.unparsed-line", "not a ProtocolLogger line, skipped",
                               number)
                continue
            who = m.group("who").strip()
            if prefixes is None:
                prefixes = ("C:", "S:") if who in ("C:", "S:") else (">>", "<<")
            if who not in prefixes:
                buf.notice("input.unparsed-line", "not a ProtocolLogger line, skipped", number)
                continue
            direction = Direction.CLIENT if who == prefixes[0] else Direction.SERVER
            buf.line(direction, m.group("text"), number, _time(m.group("ts")))
            yield from buf.drain()
        if buf is not None:
            yield from buf.close("eof")
