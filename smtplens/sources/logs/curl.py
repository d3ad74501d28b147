"""curl: its SMTP test cases, and what ``curl -v smtp://...`` prints.

Two shapes share this format, told apart by the first line:

* a test case from curl's own suite (``<testcase>`` ... ``<protocol>``): one session
  whose client side is the ``<protocol>`` and ``<upload>`` sections and whose server
  side is inferred from the test server's defaults and ``<servercmd>`` (see
  :mod:`smtplens.sources.logs._curl_testcase`);
* the verbose output of the curl tool::

      *   Trying 192.0.2.25:587...
      * Connected to smtp.example.com (192.0.2.25) port 587
      < 220 smtp.example.com ESMTP          a line curl received
      > EHLO laptop                         a line curl sent
      } [389 bytes data]                    data not shown (the message, TLS records)
      * SSL connection using TLSv1.3 / ...  after STARTTLS: the rest ran inside TLS

  ``--trace-time`` puts ``HH:MM:SS.ffffff`` first; without a date it is not used as
  a timestamp. curl never shows the message in ``-v`` output, so the 354 reply to
  DATA is followed by :class:`~smtplens.stream.Skipped`.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterable, Iterator

from smtplens.sources.logs._curl_testcase import (
    PingpongServer,
    expand,
    section_lines,
    sections,
)
from smtplens.sources.logs._sessionbuf import SessionBuffer
from smtplens.stream import Direction, Endpoint, Notice, StreamItem

_TRACE_TIME = re.compile(r"^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]+ ")
_CONNECTED = re.compile(r"^Connected to \S+ \((?P<ip>[^)]*)\) port (?P<port>[0-9]+)")
_CLOSING = ("Closing connection", "shutting down connection", "Connection died")
_MAX_TESTCASE_LINES = 1 << 20  # test cases are small; a huge file is not one
_TESTNUMBER = re.compile(r"test([0-9]+)")


class CurlLog:
    """curl's SMTP test cases and ``curl -v`` output."""

    name = "curl"
    description = "curl: test-case files (tests/data/testNNN) and 'curl -v smtp://' output"

    def sniff(self, head: list[str]) -> int:
        if any(ln.lstrip().startswith("<testcase") for ln in head[:20]):
            text = "\n".join(head).lower()
            smtp = "smtp://" in text or re.search(r"<server>\s*smtp", text) is not None
            return 95 if smtp else 50
        lines = [_TRACE_TIME.sub("", ln) for ln in head if ln.strip()]
        sent = sum(1 for ln in lines if ln.startswith("> "))
        got = sum(1 for ln in lines if re.match(r"< [2-5][0-9]{2}[ -]", ln))
        info = sum(1 for ln in lines if ln.startswith(("* ", "} [", "{ [")))
        if not (sent and got and info):
            return 0
        return min(95, int(60 + 40 * (sent + got + info) / len(lines)))

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        it = iter(lines)
        first: list[tuple[int, str]] = []
        for number, text in it:
            first.append((number, text))
            if text.strip():
                break
        rest = itertools.chain(first, it)
        if first and first[-1][1].lstrip().startswith(("<?xml", "<testcase")):
            yield from self._testcase(list(itertools.islice(rest, _MAX_TESTCASE_LINES)),
                                      source)
        else:
            yield from self._verbose(rest, source)

    # ------------------------------------------------------------------ test cases
    def _testcase(self, lines: list[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        found = sections(lines, {"servercmd", "protocol", "upload", "data"})
        protocol = found.get("protocol")
        if protocol is None:
            return  # curl sent nothing the test checks (it failed before connecting)
        m = _TESTNUMBER.search(os.path.basename(source))
        testnumber = m.group(1) if m else ""
        servercmd = found.get("servercmd")
        data = found.get("data")
        commands = [expand(text, testnumber) for _, text in servercmd.lines] if servercmd else []
        answers = [line for _, line in section_lines(data, testnumber)] if data else []
        upload = found.get("upload")
        message = section_lines(upload, testnumber) if upload is not None else []
        buf: SessionBuffer | None = None
        server = PingpongServer(commands, answers)
        count = 0
        last = b""
        for number, sent in section_lines(protocol, testnumber):
            if buf is None or last == b"QUIT":
                # after QUIT the next line is a new connection (tests with several URLs);
                # the test server reads its <servercmd> afresh for each connection
                if buf is not None:
                    yield from buf.close("eof")
                count += 1
                buf = SessionBuffer(f"curl-{count}", source, self.name, number)
                buf.server = Endpoint("127.0.0.1")  # %HOSTIP; the port is the harness's
                server = PingpongServer(commands, answers)
                for reply in server.welcome():
                    buf.data(Direction.SERVER, reply + b"\r\n", number)
            buf.data(Direction.CLIENT, sent, number)
            last = sent.rstrip(b"\r\n").split(b" ", 1)[0].upper()
            replies = server.answer(sent)
            for reply in replies:
                buf.data(Direction.SERVER, reply + b"\r\n", number)
            if message and last == b"DATA" and replies and replies[-1].startswith(b"354"):
                # the message as the server stored it, end-of-data line included; an
                # empty <upload> means curl gave up before sending any of it
                for line_number, chunk in message:
                    buf.data(Direction.CLIENT, chunk, line_number)
                for reply in server.after_data():
                    buf.data(Direction.SERVER, reply + b"\r\n", number)
            yield from buf.drain()
        if buf is not None:
            yield from buf.close("eof")

    # ------------------------------------------------------------------ curl -v
    def _verbose(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        buf: SessionBuffer | None = None
        count = 0
        last_verb = ""

        def start(number: int) -> SessionBuffer:
            nonlocal count, last_verb
            count += 1
            last_verb = ""
            return SessionBuffer(f"curl-{count}", source, self.name, number)

        for number, raw in lines:
            text = raw[m.end():] if (m := _TRACE_TIME.match(raw)) else raw
            mark, body = text[:2], text[2:]
            if mark in ("> ", "< ") or text in (">", "<"):
                if buf is None:
                    buf = start(number)
                if mark == "> " or text == ">":
                    last_verb = body.split(" ", 1)[0].upper()
                    buf.line(Direction.CLIENT, body, number)
                else:
                    buf.line(Direction.SERVER, body, number)
                    if body.startswith("354 ") and last_verb == "DATA":
                        # -v never shows the message, only "} [N bytes data]"
                        buf.skipped(Direction.CLIENT, number)
                yield from buf.drain()
            elif mark == "* " or text == "*":
                info = body.strip()
                if m := _CONNECTED.match(info):
                    if buf is not None:
                        yield from buf.close("eof")
                    buf = start(number)
                    buf.server = Endpoint(m.group("ip").strip("[]"), int(m.group("port")))
                elif buf is not None and info.startswith("SSL connection using"):
                    buf.tls_started()
                elif buf is not None and info.startswith(_CLOSING):
                    yield from buf.close("log")
                    buf = None
            elif text.startswith(("} [", "{ [")) or not text.strip() or text[0] in " \t\r%":
                continue  # data not shown, blank lines, the progress meter
            elif buf is not None:
                buf.notice("input.unparsed-line", "not a curl -v line, skipped", number)
            else:
                yield Notice("input.unparsed-line", "not a curl -v line, skipped",
                             source=source, location=f"line {number}")
        if buf is not None:
            yield from buf.close("eof")
