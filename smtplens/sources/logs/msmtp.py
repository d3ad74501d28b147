"""msmtp ``-v`` / ``--debug`` output: what the sendmail-like SMTP client prints while it talks.

msmtp (marlam.de/msmtp) with ``-v`` (the same as ``-d``/``--debug``) first dumps its
settings, one ``key = value`` line each (``host = ...``, ``port = ...``, ``tls = on``,
``tls_starttls = off``, ``password = *``: the password itself is never shown, but a
``passwordeval`` command is), then prints every line it exchanges::

    <-- 220 mx.example.test ESMTP          a line read from the server
    --> EHLO client.example.test           a line sent (the message too, dot-stuffed)
    TLS session parameters:                after STARTTLS (or on connect, for
        (TLS1.3)-(ECDHE-SECP256R1)-...     ``tls_starttls = off``): the TLS
    TLS certificate information:           session and the server certificate,
        Subject: ...                       indented
    msmtp: authentication failed ...       errors, on stderr

The ``-->`` lines show AUTH exactly as sent (Base64, so the user and the password can
be decoded; smtplens redacts them). ``-->`` lines lose their CRLF, so exact-bytes
checks cannot be run. A run begins with ``loaded ...``/``ignoring ... configuration
file``, ``using account ...`` or the settings dump (which gives the server endpoint);
a file holding several runs gives one session per run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from smtplens.sources.logs._sessionbuf import SessionBuffer
from smtplens.stream import Direction, Endpoint, StreamItem
from smtplens.textutil import digits

_SERVER, _CLIENT = "<-- ", "--> "
_SETTING = re.compile(r"^(?P<key>[a-z_]+) = (?P<value>.*)$")
#: lines that start a run of msmtp (before the settings dump, or without one)
_RUN_START = re.compile(r"^(?:(?:loaded|ignoring) (?:system|user) configuration file"
                        r"|using account |using default account)")
_INFO = ("reading recipients from ", "TLS session parameters:",
         "TLS certificate information:", "msmtp: ", "sendmail: ")
_TLS_LOST = ("TLS handshake failed", "TLS certificate verification failed",
             "cannot use TLS", "the server does not support TLS", "TLS failed")
_LOST = ("the server sent an empty reply", "network read error", "network write error",
         "connection closed", "cannot read from", "operation timed out")


class _Run:
    """One msmtp run (one SMTP connection) being read."""

    def __init__(self, buf: SessionBuffer) -> None:
        self.buf = buf
        self.last_verb = ""
        self.in_data = False
        self.quit = False


class MsmtpVerbose:
    """msmtp ``-v`` output (``<-- `` server and ``--> `` client lines)."""

    name = "msmtp"
    description = "msmtp -v/--debug output: '<-- ' server and '--> ' client lines"

    def sniff(self, head: list[str]) -> int:
        lines = [ln for ln in head if ln.strip()]
        if not lines:
            return 0
        recv = sum(1 for ln in lines if ln.startswith(_SERVER))
        send = sum(1 for ln in lines if ln.startswith(_CLIENT) or ln == "-->")
        if not recv or not send:
            return 0
        own = sum(1 for ln in lines if ln.startswith(_INFO) or _RUN_START.match(ln)
                  or _SETTING.match(ln) or ln.startswith("    "))
        share = (recv + send + own) / len(lines)
        known = any(ln.startswith(("using account", "msmtp: ", "TLS certificate information"))
                    or ln.startswith("tls_starttls = ") for ln in lines)
        return min(97, int(55 + 37 * share) + (5 if known else 0))

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        run: _Run | None = None
        settings: dict[str, str] = {}
        count = 0

        def start(number: int) -> _Run:
            nonlocal count
            count += 1
            buf = SessionBuffer(f"msmtp-{count}", source, self.name, number)
            host, port = settings.get("host", ""), settings.get("port", "")
            if host and host != "(not set)":
                buf.server = Endpoint(host, int(port) if digits(port) and
                                      int(port) <= 65535 else None)
            return _Run(buf)

        for number, raw in lines:
            line = raw.rstrip("\r")
            if line.startswith(_SERVER) or line.startswith(_CLIENT) or line in ("<--", "-->"):
                if run is None:
                    run = start(number)
                text = line[4:]
                if line.startswith("<--"):
                    if (text.startswith("220") and run.buf.has_data and not run.in_data
                            and run.last_verb not in ("STARTTLS", "")):
                        yield from run.buf.close("eof")  # a new connection without a header
                        run = start(number)
                    self._server(run, text, number)
                else:
                    self._client(run, text, number)
                yield from run.buf.drain()
                continue
            if _RUN_START.match(line) or (line.startswith("host = ") and not settings):
                if run is not None:
                    yield from run.buf.close("log")
                    run = None
                    settings = {}
                if line.startswith("host = "):
                    settings["host"] = line[7:]
                continue
            if (m := _SETTING.match(line)) and (run is None or not run.buf.has_data):
                if m.group("key") == "host" and run is None:
                    settings = {}
                settings[m.group("key")] = m.group("value")
                continue
            if line.startswith("TLS session parameters:"):
                # before the greeting (tls_starttls = off): TLS on connect, RFC 8314 §3
                run = run or start(number)
                run.buf.tls_started()
            elif run is None:
                continue  # before the first SMTP line: banners, prompts, other output
            elif line.startswith(("msmtp: ", "sendmail: ")):
                self._error(run, line.partition(": ")[2], number)
            elif line.startswith(_INFO) or line.startswith((" ", "\t")) or not line.strip():
                pass  # certificate details, the recipients notice, blank lines
            else:
                run.buf.notice("input.unparsed-line", "not an msmtp -v line, skipped", number)
            yield from run.buf.drain()
        if run is not None:
            yield from run.buf.close("eof")

    @staticmethod
    def _client(run: _Run, text: str, number: int) -> None:
        if run.in_data:
            # RFC 5321 §4.1.1.4: the message ends with a line holding only "."
            if text == ".":
                run.in_data = False
        else:
            run.last_verb = text.split(" ", 1)[0].upper()
            run.quit = run.last_verb == "QUIT"
        run.buf.line(Direction.CLIENT, text, number)

    @staticmethod
    def _server(run: _Run, text: str, number: int) -> None:
        run.buf.line(Direction.SERVER, text, number)
        if text.startswith("354") and run.last_verb in ("DATA", "RCPT"):
            # pipelined MAIL/RCPT/DATA: the 354 is still DATA's answer
            run.in_data = True

    @staticmethod
    def _error(run: _Run, message: str, number: int) -> None:
        if any(m in message for m in _TLS_LOST):
            run.buf.notice("log.tls-failed", f"msmtp: {message}", number)
        elif any(m in message for m in _LOST):
            run.buf.notice("log.lost-connection", f"msmtp: {message}", number)
