"""smtp-cli ``--verbose`` output: Michal Ludvig's Perl command-line SMTP client.

smtp-cli (github.com/mludvig/smtp-cli) prints, with ``--verbose``::

    Connection from 10.0.0.5:48402 to 192.0.2.25:25    the connection (both ends)
    Starting SMTP/SSL...                               --ssl / port 465: TLS on connect
    [220] 'mx.example.test ESMTP'                      one reply line: printf "[%d] '%s'"
    > EHLO localhost                                   one command:    printf "> %s"
    [250] 'mx.example.test'                            ... each line of a multi-line
    [250] 'STARTTLS'                                   reply, without its '-'
    Starting TLS...                                    before STARTTLS
    Using cipher: ...  Subject Name: ...  Issuer  Name: ...   TLS is up
    AUTH method (LOGIN PLAIN): using LOGIN
    Authentication of alice@mx.example.test succeeded
    RCPT TO <x@example.test> failed: '550 ...'         warn()/die() messages

A reply's lines lose their ``-``/space separator, so the reader puts them back: a run
of lines with the same code is one reply, its last line the final one (smtp-cli reads
replies one at a time and dies when the code changes inside one, so this is what was
on the wire, up to the separator of an empty text). The message after DATA is not
printed: a :class:`~smtplens.stream.Skipped` stands for it. AUTH lines are printed as
sent (Base64), so the user and password can be decoded (smtplens redacts them).
``[0] ''`` is what smtp-cli prints when the server closed the connection.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from smtplens.sources.logs._interleaved import parse_endpoint
from smtplens.sources.logs._sessionbuf import SessionBuffer
from smtplens.stream import Direction, StreamItem

_REPLY = re.compile(r"^\[(?P<code>\d+)\] '(?P<text>.*)'$")
_CONNECTION = re.compile(r"^Connection from (?P<client>\S+) to (?P<server>\S+)$")
_INFO = ("Starting TLS...", "Subject Name:", "Issuer  Name:", "AUTH method (",
         "Authentication of ", "Enter password for ", "!!! ", "From: address not set",
         "No supported authentication method", "advertised by the server.",
         "Unknown welcome string", "Unknown STARTTLS response", "Unknown QUIT response",
         "Error code changed from ", "Can't open file ", "Module ",
         "Use --disable-starttls")
_FAILED = re.compile(r"^(?:AUTH \S+ failed: |(?:MAIL FROM|RCPT TO) <[^>]*> failed: |"
                     r"DATA failed: |DATA not send: )")


class _Run:
    """One smtp-cli run (one connection) being read."""

    def __init__(self, buf: SessionBuffer) -> None:
        self.buf = buf
        self.last_verb = ""
        self.pending: list[tuple[int, str, int]] = []  # (code, text, line) of one reply

    def reply(self, code: int, text: str, number: int) -> None:
        if self.pending and self.pending[0][0] != code:
            self.flush()  # a new code: the previous reply is complete
        self.pending.append((code, text, number))

    def flush(self) -> None:
        """The reply's lines are all there: give them back their separators."""
        last = len(self.pending) - 1
        for i, (code, text, number) in enumerate(self.pending):
            sep = "-" if i < last else (" " if text else "")
            self.buf.line(Direction.SERVER, f"{code:03d}{sep}{text}", number)
        if self.pending and self.pending[-1][0] == 354 and self.last_verb == "DATA":
            # the message smtp-cli sent next is not printed
            self.buf.skipped(Direction.CLIENT, self.pending[-1][2])
        self.pending.clear()

    def command(self, text: str, number: int) -> None:
        self.flush()
        self.last_verb = text.split(" ", 1)[0].upper()
        self.buf.line(Direction.CLIENT, text, number)


class SmtpCliVerbose:
    """smtp-cli ``--verbose`` output (``[250] '...'`` replies, ``> `` commands)."""

    name = "smtp-cli"
    description = "smtp-cli --verbose output: \"[250] '...'\" replies and '> ' commands"

    def sniff(self, head: list[str]) -> int:
        lines = [ln for ln in head if ln.strip()]
        if not lines:
            return 0
        replies = sum(1 for ln in lines if _REPLY.match(ln))
        sent = sum(1 for ln in lines if ln.startswith("> "))
        if not replies or not sent:
            return 0
        own = sum(1 for ln in lines if ln.startswith(_INFO) or _CONNECTION.match(ln)
                  or ln.startswith(("Using cipher: ", "Starting SMTP/SSL")))
        share = (replies + sent + own) / len(lines)
        connection = any(_CONNECTION.match(ln) for ln in lines)
        return min(96, int(55 + 36 * share) + (5 if connection else 0))

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        run: _Run | None = None
        count = 0

        def start(number: int) -> _Run:
            nonlocal count
            count += 1
            return _Run(SessionBuffer(f"smtp-cli-{count}", source, self.name, number))

        for number, raw in lines:
            line = raw.rstrip("\r")
            if m := _CONNECTION.match(line):
                if run is not None:
                    run.flush()
                    yield from run.buf.close("log")
                run = start(number)
                run.buf.client = parse_endpoint(m.group("client"))
                run.buf.server = parse_endpoint(m.group("server"))
                continue
            if m := _REPLY.match(line):
                if run is None:
                    run = start(number)
                code = int(m.group("code"))
                if code == 0 or code > 999:
                    # getline() gave nothing: the server closed the connection
                    run.flush()
                    run.buf.notice("log.lost-connection",
                                   "smtp-cli read no reply: the connection was closed", number)
                else:
                    run.reply(code, m.group("text"), number)
            elif line.startswith("> ") or line == ">":
                if run is None:
                    run = start(number)
                run.command(line[2:], number)
            elif run is None:
                continue  # before the first connection: module warnings, prompts
            elif line.startswith(("Starting SMTP/SSL", "Using cipher: ")):
                run.flush()
                run.buf.tls_started()
            elif line.startswith("SSL/TLS: "):
                run.flush()
                run.buf.notice("log.tls-failed", f"smtp-cli: {line}", number)
            elif line.startswith(_INFO) or _FAILED.match(line) or not line.strip():
                run.flush()
            else:
                run.flush()
                run.buf.notice("input.unparsed-line", "not an smtp-cli --verbose line, skipped",
                               number)
            yield from run.buf.drain()
        if run is not None:
            run.flush()
            yield from run.buf.close("eof")
