"""The Exim test suite's ``client`` transcripts (``test/stdout/NNNN``).

Exim's test harness drives its daemon with a small program, ``client``, that reads
a script and prints what happens::

    Connecting to 127.0.0.1 port 1225 ... connected     a new connection
    ??? 250                                            an expectation: ignored
    <<< 250 OK                                         a line the server sent
    >>> mail from:<a@b>                                a line the client sent
    +++ 1                                              a pause: ignored
    Attempting to start TLS / Succeeded in starting TLS
    End of script                                      the connection closes

A ``>>>`` line is printed *before* the client turns ``\\r``, ``\\n``, ``\\xHH`` and
``\\c`` in it into bytes, and the script decides whether CRLF is added: a plain
script line gets CRLF, a script line that itself starts with ``>>> `` is sent raw.
Both print the same, so a line whose unescaped bytes end in LF is taken as raw
(``>>> ehlo x\\r\\nmail from:<>\\r\\n``, ``>>> To: a@b\\n`` in bare-LF tests) and any
other line gets CRLF. Message lines are printed as ``>>>`` lines too and ``>>> .``
ends the message (RFC 5321 §4.1.1.4), so nothing is left out.

The same files hold the standard output of ``exim -bs``/``-bh`` runs: only the
server's replies, after a ``**** SMTP testing session`` banner or starting with the
220 greeting. These become server-only sessions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from smtplens.sources.logs._sessionbuf import SessionBuffer
from smtplens.stream import Direction, Endpoint, StreamItem
from smtplens.textutil import digits

# the port may be a placeholder of the test harness ("PORT_D", "<dynamic port>"), and
# some builds of the client print "PORT_D... connected"
_CONNECT = re.compile(r"^Connecting to (?P<host>\S+) port (?P<port>.+?) ?\.\.\. ?(?P<result>.*)$")
_ESCAPE = re.compile(rb"\\(x[0-9A-Fa-f]{2}|.)", re.DOTALL)
_REPLY = re.compile(r"^[2-5][0-9]{2}(?:[ -]|$)")
_BH_BANNER = re.compile(r"^\*\*\*\* SMTP testing session as if from host (?P<host>\S+)")
_FINAL = ("221 ", "421 ")


def unescape(text: str) -> bytes:
    """``client``'s escapes (its ``unescape_buf``): \\n, \\r, \\xHH, \\<any> -> <any>."""

    def one(m: re.Match[bytes]) -> bytes:
        code = m.group(1)
        if code == b"n":
            return b"\n"
        if code == b"r":
            return b"\r"
        if code.startswith(b"x") and len(code) == 3:
            return bytes([int(code[1:], 16)])
        return code

    return _ESCAPE.sub(one, text.encode("utf-8", "surrogateescape"))


def sent_bytes(text: str) -> bytes:
    """What a ``>>> text`` line put on the wire (see the module docstring)."""
    data = unescape(text)
    return data if data.endswith(b"\n") else data + b"\r\n"


class EximClientTranscript:
    """Exim test-suite ``client`` output (``<<<`` received, ``>>>`` sent)."""

    name = "exim-client"
    description = "Exim test-suite client transcript: '<<< ' received, '>>> ' sent, '??? '"

    def sniff(self, head: list[str]) -> int:
        recv = sum(1 for ln in head if ln.startswith("<<< "))
        sent = sum(1 for ln in head if ln.startswith(">>> "))
        expect = sum(1 for ln in head if ln.startswith("???"))
        connect = any(_CONNECT.match(ln) for ln in head)
        banner = any(_BH_BANNER.match(ln) for ln in head)
        if recv and (expect or connect):
            return 95
        if recv and sent:
            return 70
        if connect or banner:
            return 60
        return 0

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        conn: SessionBuffer | None = None  # a "client" connection
        bs: SessionBuffer | None = None  # server replies of an exim -bs/-bh run
        count = 0

        def new(number: int) -> SessionBuffer:
            nonlocal count
            count += 1
            return SessionBuffer(f"exim-client-{count}", source, self.name, number)

        for number, raw in lines:
            if m := _CONNECT.match(raw):
                if conn is not None:
                    yield from conn.close("eof")
                    conn = None
                if bs is not None:
                    yield from bs.close("eof")
                    bs = None
                if m.group("result").startswith("connected"):
                    conn = new(number)
                    port = m.group("port")
                    conn.server = Endpoint(m.group("host"), int(port) if digits(port) else None)
                continue
            if conn is not None:
                if raw == "End of script":
                    yield from conn.close("log")
                    conn = None
                    continue
                self._client_line(conn, raw, number)
                yield from conn.drain()
                continue
            # outside client connections: exim -bs / -bh standard output, or other output
            if m := _BH_BANNER.match(raw):
                if bs is not None:
                    yield from bs.close("eof")
                bs = new(number)
                bs.client = Endpoint(m.group("host"))
            elif _REPLY.match(raw):
                if bs is None and raw.startswith("220"):
                    bs = new(number)
                if bs is not None:
                    bs.line(Direction.SERVER, raw, number)
                    if raw.startswith(_FINAL):
                        # RFC 5321 §3.8: the server closes after 221 / 421
                        yield from bs.close("log")
                        bs = None
                    else:
                        yield from bs.drain()
        if conn is not None:
            yield from conn.close("eof")
        if bs is not None:
            yield from bs.close("eof")

    @staticmethod
    def _client_line(buf: SessionBuffer, raw: str, number: int) -> None:
        if raw.startswith("<<< ") or raw == "<<<":
            buf.line(Direction.SERVER, raw[4:], number)
            last_command = buf.last_sent.rstrip(b"\r\n").rsplit(b"\n", 1)[-1]
            if raw.startswith("<<< 220") and last_command.upper().startswith(b"STARTTLS"):
                # what follows is printed in clear whether or not the client went on
                # to start TLS (a test may stop right after the 220): it is all shown
                buf.decrypted = True
        elif raw.startswith(">>> ") or raw == ">>>":
            buf.data(Direction.CLIENT, sent_bytes(raw[4:]), number)
        elif raw.startswith("Succeeded in starting TLS"):
            buf.tls_started()
        elif raw.startswith(("Failed to start TLS", "Failed to verify certificate")):
            buf.notice("log.tls-failed", raw, number)
        elif raw.startswith(("Unexpected EOF read", "Read error")):
            buf.notice("log.lost-connection", raw, number)
        elif raw.startswith(("<<<", ">>>")):
            buf.notice("input.unparsed-line", "not a client transcript line, skipped", number)
        # everything else ("??? 250", "+++ 1", "Attempting to start TLS", certificate
        # and OCSP chatter) is the client program's own talk, not SMTP
