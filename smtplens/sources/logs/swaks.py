"""swaks transcripts: what the Swiss Army Knife for SMTP prints while it talks.

swaks (jetmore.org/john/code/swaks) prefixes every line it prints with a hint of
four characters (its ``ptrans``)::

    === Trying 127.0.0.1:25...        info (``===``); ``***`` errors go to stderr
    <-  220 mail.example.com ESMTP    a server line        (``<~  `` inside TLS)
     -> EHLO client.example.com       a client line        (`` ~> `` inside TLS)
    <** 550 rejected                  a reply swaks did not expect (``<~* `` in TLS)
    **> ...                           a send error          (``*~> `` in TLS)
    <   0000: 32 32 30 ...            ``--show-raw-text`` hex dumps (``  > `` sent)

A message is printed line by line with `` -> `` after the 354, ending with
`` -> .``; ``--suppress-data`` prints `` -> 11 lines sent`` instead, which becomes
:class:`~smtplens.stream.Skipped`. The hex dumps repeat the text lines, so they are
skipped. ``--no-hints`` (and ``--no-send-hints``/``--no-receive-hints``) drops the
prefixes: such lines are read as replies when they start with a reply code and as
client lines otherwise. Each ``Trying ...`` starts a new run, so a file holding
several swaks runs gives several sessions.

Pasted excerpts lose parts of this: a run whose first line already carries the TLS
hint (``<~``) and no ``=== TLS started`` is TLS from the first byte (implicit TLS); a
run with no ``=== Trying`` whose first line is not the 220 greeting starts
mid-session (a ``capture.midstream`` notice, so no reply is taken for the greeting);
an unprefixed line that starts with an SMTP verb is the client's, even when the
other lines kept their hints.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Iterator

from smtplens.engine.syntax import KNOWN_VERBS
from smtplens.sources.logs._sessionbuf import SessionBuffer
from smtplens.stream import Direction, Endpoint, StreamItem
from smtplens.textutil import digits

_RECV = ("<-  ", "<~  ", "<** ", "<~* ")
_SEND = (" -> ", " ~> ", "**> ", "*~> ")
# the same hints when an editor stripped the trailing space of an empty line
_BARE = {p.rstrip(): p for p in (*_RECV, *_SEND)}
_HEXDUMP = re.compile(r"^(?:<   |  > )[0-9]{4}: ")
_REPLY = re.compile(r"^[2-5][0-9]{2}(?:[ -]|$)")
_TRYING = re.compile(r"^Trying (?P<target>.+?)\.\.\.$")
_TIMEOUT = re.compile(r"^Timeout \([0-9]+ secs\) waiting for server response")
_LINES_SENT = re.compile(r"^[0-9]+ lines sent$")
_INFO_START = ("Trying ", "Connected to ", "Connection closed", "Dropping connection")
# a client line that lost its `` -> `` in a paste: an SMTP verb where a command goes
_VERB_LINE = re.compile(r"^(?P<verb>[A-Za-z][A-Za-z0-9-]{3,13})(?: |$)")


def _is_command(text: str) -> bool:
    m = _VERB_LINE.match(text)
    return m is not None and m.group("verb").upper() in KNOWN_VERBS


def _endpoint(target: str) -> Endpoint | None:
    """``host:port`` from ``Trying host:port...``; None for pipes and sockets."""
    host, sep, port = target.rpartition(":")
    if not sep or not digits(port) or not host or " " in host or "/" in host:
        return None
    return Endpoint(host.strip("[]"), int(port))


_PROXY_V2 = b"\r\n\r\n\x00\r\nQUIT\n"  # HAProxy PROXY protocol v2 signature


def _is_proxy_v2(text: str) -> bool:
    try:
        return base64.b64decode(text, validate=True).startswith(_PROXY_V2)
    except ValueError:
        return False


class _Run:
    """One swaks run (one connection) being read."""

    def __init__(self, buf: SessionBuffer) -> None:
        self.buf = buf
        self.last_verb = ""
        self.in_data = False  # between the 354 and the client's "."
        self.first_data_line = False
        self.send_hints = False  # saw " -> " style lines: unprefixed text is not ours
        self.tried = False  # the run began with "=== Trying": swaks saw it from the start
        self.first = True  # no protocol line read yet

    def begin(self, prefix: str, text: str, number: int) -> None:
        """The run's first protocol line: is the log whole, and already inside TLS?"""
        self.first = False
        if "~" in prefix and not self.buf.decrypted:
            # every line carries the TLS hint from the start and no "=== TLS started"
            # was kept: TLS ran from the first byte (RFC 8314 §3.3, implicit TLS)
            self.buf.tls_started()
        greeting = prefix in _RECV and text.startswith("220")
        if not self.tried and not greeting:
            # a pasted excerpt: no "=== Trying", and the first line is not the greeting
            # (RFC 5321 §3.1): the engine must not take the first reply for one
            self.buf.notice("capture.midstream",
                            "the swaks excerpt starts mid-session (no greeting, no "
                            "'=== Trying' line)", number)

    def client(self, text: str, number: int) -> None:
        if self.in_data:
            if self.first_data_line and _LINES_SENT.match(text):
                # --suppress-data: swaks counted the lines instead of showing them
                self.buf.skipped(Direction.CLIENT, number)
                self.in_data = False
                return
            self.first_data_line = False
            if text == ".":
                self.in_data = False
        else:
            self.last_verb = text.split(" ", 1)[0].upper()
            if not self.buf.has_data and _is_proxy_v2(text):
                # swaks prints the binary PROXY v2 header in Base64: it is for the proxy,
                # not SMTP; hand on the real bytes so the engine sees the same as on the wire
                self.buf.data(Direction.CLIENT, base64.b64decode(text), number)
                return
        self.buf.line(Direction.CLIENT, text, number)

    def server(self, text: str, number: int) -> None:
        self.buf.line(Direction.SERVER, text, number)
        if text.startswith("220") and self.last_verb == "STARTTLS":
            # whatever follows is printed in clear, inside TLS or not (when swaks
            # could not start it): the transcript shows it all
            self.buf.decrypted = True
        # RFC 5321 §4.1.1.4: after DATA's 354 the client sends the message text
        if text.startswith("354") and self.last_verb == "DATA":
            self.in_data = True
            self.first_data_line = True


class SwaksTranscript:
    """swaks output (``<-``, `` ->``, ``<~``, `` ~>``, ``===`` lines)."""

    name = "swaks"
    description = "swaks output: '<-  ' server and ' -> ' client lines, '=== ' info"

    def sniff(self, head: list[str]) -> int:
        lines = [ln for ln in head if ln.strip()]
        if not lines:
            return 0
        recv = sum(1 for ln in lines if ln[:4] in _RECV)
        send = sum(1 for ln in lines if ln[:4] in _SEND or ln in (" ->", " ~>"))
        info = sum(1 for ln in lines if ln.startswith(("=== ", "*** ")))
        if recv == 0 and send == 0:
            return 0
        share = (recv + send + info) / len(lines)
        trying = any(ln.startswith("=== Trying ") for ln in lines)
        if recv and send:
            return min(98, int(60 + 38 * share) + (5 if trying else 0))
        # one side hidden (--hide-receive, --no-receive-hints): swaks' own info lines
        # still make it unmistakable
        return 85 if trying else int(45 * share)

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        run: _Run | None = None
        count = 0

        def start(number: int, server: Endpoint | None = None) -> _Run:
            nonlocal count
            count += 1
            buf = SessionBuffer(f"swaks-{count}", source, self.name, number)
            buf.server = server
            return _Run(buf)

        for number, raw in lines:
            head = raw[:4]
            if head in _RECV or head in _SEND or raw in _BARE:
                prefix = _BARE.get(raw, head)
                text = raw[4:]
                if run is None:
                    run = start(number)
                if run.first:
                    run.begin(prefix, text, number)
                if "~" in prefix:
                    run.buf.decrypted = True
                if prefix in _RECV and _TIMEOUT.match(text):
                    # swaks' own message in the reply slot: the server never answered
                    run.buf.notice("protocol.no-reply", f"swaks: {text}", number)
                elif prefix in _RECV:
                    run.server(text, number)
                else:
                    run.send_hints = True
                    run.client(text, number)
                yield from run.buf.drain()
                continue
            if _HEXDUMP.match(raw) or not raw.strip():
                continue
            info = raw[4:] if raw.startswith(("=== ", "*** ")) else raw
            error = raw.startswith("*** ")
            if info.startswith(_INFO_START) or raw.startswith(("=== ", "*** ")):
                if m := _TRYING.match(info):
                    # a new run: the previous one ends here even without its close line
                    if run is not None:
                        yield from run.buf.close("eof")
                    run = start(number, _endpoint(m.group("target")))
                    run.tried = True
                elif info.startswith("Connection closed"):
                    if run is not None:
                        yield from run.buf.close("log")
                    run = None
                elif run is not None:
                    self._info(run, info, error, number)
                continue
            if raw[:1] in " \t":
                continue  # continuation of a multi-line info or error message
            # a line without a hint: --no-hints / --no-send-hints / --no-receive-hints
            if run is None:
                run = start(number)
            if run.first:
                run.begin(" -> " if not _REPLY.match(raw) else "<-  ", raw, number)
            if _REPLY.match(raw) and not run.in_data:
                run.server(raw, number)
            elif not run.send_hints or (not run.in_data and _is_command(raw)):
                run.client(raw, number)
            else:
                run.buf.notice("input.unparsed-line", "not a swaks transcript line, skipped",
                               number)
            yield from run.buf.drain()
        if run is not None:
            yield from run.buf.close("eof")

    @staticmethod
    def _info(run: _Run, info: str, error: bool, number: int) -> None:
        if info.startswith("TLS started"):
            run.buf.tls_started()
        elif error and ("TLS startup failed" in info or "STARTTLS attempted but failed" in info):
            run.buf.notice("log.tls-failed", info, number)
        elif error and "closed connection unexpectedly" in info:
            run.buf.notice("log.lost-connection", info, number)
