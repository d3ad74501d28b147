"""curl's test-case files (``tests/data/testNNN``) read as a log of one SMTP session.

A test case states what curl must send (``<protocol>``: the command stream, byte for
byte, and ``<upload>``: the message the server stored, with its end-of-data line)
and how the test server behaves (``<servercmd>``). The client side is taken from
those sections after curl's preprocessing (:func:`expand`): variables such as
``%LT``, ``%GT``, ``%CR`` and ``%TESTNUMBER``, then ``%b64[...]b64%``,
``%hex[...]hex%`` and ``%repeat[N x s]%``, and ``crlf="yes"``/``nonewline="yes"``.

The server side is never logged, so it is *inferred* by :class:`PingpongServer`,
a model of the SMTP part of curl's test server (``tests/ftpserver.pl``): its
welcome banner, its EHLO answer built from ``CAPA`` and ``AUTH``, its address
checks, and the ``REPLY``/``COUNT`` overrides. Variables it cannot know (the port)
stay as written.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field

#: variables curl's test harness replaces, with the values its servers use locally
VARIABLES = {"HOSTIP": "127.0.0.1", "CLIENTIP": "127.0.0.1", "LT": "<", "GT": ">",
             "CR": "\r", "SP": " ", "TAB": "\t"}
_SECTION = re.compile(r"^\s*<(?P<tag>[a-z]+[0-9]*)(?P<attrs>(?:\s[^>]*)?)>\s*$")
_ATTR = re.compile(r'(?P<name>[a-z]+)="(?P<value>[^"]*)"')
_B64 = re.compile(rb"%b64\[(.*?)\]b64%", re.IGNORECASE | re.DOTALL)
_HEX = re.compile(rb"%hex\[(.*?)\]hex%", re.IGNORECASE | re.DOTALL)
_REPEAT = re.compile(rb"%repeat\[([0-9]+) x (.*?)\]%", re.IGNORECASE | re.DOTALL)
_PCT = re.compile(rb"%([0-9A-Fa-f]{2})")
_MAX_REPEAT = 1 << 24  # a hostile %repeat must not exhaust memory
# ftpserver.pl's address check (the "." before the TLD is a regex "any character")
_ADDRESS = re.compile(rb"<[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+.[a-zA-Z]{2,4}>")
_ADDRESS_UTF8 = re.compile(rb"<[a-zA-Z0-9._%+\x80-\xff-]+@[a-zA-Z0-9.\x80-\xff-]+.[a-zA-Z]{2,4}>")
_COMMAND = re.compile(rb"([A-Za-z]{3,4})(?:\s(.*))?", re.DOTALL)
_BASE64ISH = re.compile(rb"[A-Za-z0-9+/]{0,512}={0,2}")
_WELCOME = [b"220-        _   _ ____  _     ", b"220-    ___| | | |  _ \\| |    ",
            b"220-   / __| | | | |_) | |    ", b"220-  | (__| |_| |  _ {| |___ ",
            b"220    \\___|\\___/|_| \\_\\_____|"]


@dataclass
class Section:
    """One ``<tag ...>`` block: its attributes and its ``(line number, text)`` lines."""

    attrs: dict[str, str]
    start: int
    lines: list[tuple[int, str]] = field(default_factory=list)


def sections(lines: list[tuple[int, str]], wanted: set[str]) -> dict[str, Section]:
    """The first block of each wanted tag (blocks of other tags are looked through)."""
    found: dict[str, Section] = {}
    current: tuple[str, Section] | None = None
    for number, text in lines:
        if current is not None:
            if text.strip() == f"</{current[0]}>":
                found.setdefault(*current)
                current = None
            else:
                current[1].lines.append((number, text))
            continue
        m = _SECTION.match(text)
        if m and m.group("tag") in wanted and m.group("tag") not in found:
            attrs = {a.group("name"): a.group("value") for a in _ATTR.finditer(m.group("attrs"))}
            current = (m.group("tag"), Section(attrs, number))
    return found


def _unpercent(data: bytes) -> bytes:
    return _PCT.sub(lambda m: bytes([int(m.group(1), 16)]), data)


def _repeat(m: re.Match[bytes]) -> bytes:
    unit = _unpercent(m.group(2))
    times = min(int(m.group(1)), _MAX_REPEAT // max(1, len(unit)))
    return unit * times


def expand(text: str, testnumber: str) -> bytes:
    """curl's preprocessing of one line: variables, then base64, hex and repeat."""
    names = {**VARIABLES, "TESTNUMBER": testnumber} if testnumber else VARIABLES
    pattern = "|".join(sorted(names, key=len, reverse=True))
    text = re.sub(f"%({pattern})", lambda m: names[m.group(1)], text)
    data = text.encode("utf-8", "surrogateescape")
    data = _B64.sub(lambda m: base64.b64encode(_unpercent(m.group(1))), data)
    data = _HEX.sub(lambda m: _unpercent(m.group(1)), data)
    return _REPEAT.sub(_repeat, data)


def section_lines(section: Section, testnumber: str) -> list[tuple[int, bytes]]:
    """A section's lines as bytes with their newlines, as the test harness uses them."""
    crlf = section.attrs.get("crlf") == "yes"
    out = [(number, expand(text, testnumber) + (b"\r\n" if crlf else b"\n"))
           for number, text in section.lines]
    if out and section.attrs.get("nonewline") == "yes":
        number, last = out[-1]
        out[-1] = (number, last[:-2] if last.endswith(b"\r\n") else last[:-1])
    return out


def _perl_string(text: bytes) -> bytes:
    """The escapes of a Perl ``qq{}`` string that REPLY texts use."""
    table = {b"r": b"\r", b"n": b"\n", b"t": b"\t", b"\\": b"\\"}
    return re.sub(rb"\\(.)", lambda m: table.get(m.group(1), m.group(1)), text)


class PingpongServer:
    """The SMTP replies curl's test server (``ftpserver.pl``) gives, per command."""

    def __init__(self, servercmd: list[bytes], data: list[bytes]) -> None:
        self.capabilities: list[bytes] = []
        self.mechanisms: list[bytes] = []
        self.fulltext: dict[bytes, bytes] = {}
        self.custom: dict[bytes, bytes] = {}
        self.count: dict[bytes, int] = {}
        self.data = data  # <reply><data>: the answer to VRFY and EXPN
        self.client = b""  # the EHLO/HELO argument (holds the test number)
        self.kind = b""  # "ESMTP" after EHLO, "SMTP" after HELO
        self.utf8 = False  # MAIL had SMTPUTF8 and the server offers it
        self.closed = False  # the server ended the session ("500 Unrecognized command")
        self._handlers: dict[bytes, Callable[[bytes], list[bytes]]] = {
            b"EHLO": self._EHLO, b"HELO": self._HELO, b"MAIL": self._MAIL,
            b"RCPT": self._RCPT, b"DATA": self._DATA, b"NOOP": self._NOOP,
            b"RSET": self._RSET, b"HELP": self._HELP, b"VRFY": self._VRFY,
            b"EXPN": self._VRFY, b"QUIT": self._QUIT}
        for line in servercmd:
            self._configure(line.rstrip(b"\r\n"))

    def _configure(self, line: bytes) -> None:
        # the order of tests follows ftpserver.pl's customize()
        if m := re.search(rb'REPLY "([A-Z]+ [A-Za-z0-9+\-/=*. ]+)" (.*)', line):
            self.fulltext[m.group(1)] = _perl_string(m.group(2))
        elif m := re.search(rb"REPLY ([A-Za-z0-9+/=*]*) (.*)", line):
            self.custom[m.group(1)] = _perl_string(m.group(2))
        elif m := re.search(rb"COUNT ([A-Z]+) ([0-9]+)", line):
            self.count[m.group(1)] = int(m.group(2))
        elif m := re.search(rb"CAPA (.*)", line):
            words = re.findall(rb'"[^"]*"|\S+', m.group(1))
            self.capabilities = [w.strip(b'"') for w in words]
        elif m := re.search(rb"AUTH (.*)", line):
            self.mechanisms = m.group(1).split()

    def welcome(self) -> list[bytes]:
        text = self.custom.pop(b"welcome", b"")
        return [text.rstrip(b"\r\n")] if text else list(_WELCOME)

    def answer(self, sent: bytes) -> list[bytes]:
        """The reply lines (without CRLF) to one client line; [] when none is known.

        After a command the model cannot answer (VRFY without ``<data>``), or after
        the server gave up, nothing more is inferred: the rest is left one-sided
        rather than answered wrongly."""
        if self.closed:
            return []
        full = sent.rstrip(b"\r\n")
        if m := _COMMAND.fullmatch(full):
            verb, arg = m.group(1), m.group(2) or b""
        elif full == b"*" or _BASE64ISH.fullmatch(full):
            verb, arg = full, b""  # an AUTH answer or cancellation is its own "command"
        else:
            self.closed = True
            return [b"500 Unrecognized command"]
        text = self.fulltext.get(verb + b" " + arg if arg else verb)
        if not text and (text := self.custom.get(verb)) and verb in self.count:
            # COUNT: the custom reply is used this many times, then the default
            self.count[verb] -= 1
            if self.count[verb] <= 0:
                self.custom[verb] = b""
        if text:
            return text.split(b"\r\n")
        handler = self._handlers.get(verb)  # case matters, as in the Perl hash
        if handler is None:
            return [b"500 " + verb + b" is not dealt with!"]
        lines = handler(arg)
        self.closed = not lines
        return lines

    # one method per verb, named as on the wire (ftpserver.pl's EHLO_smtp, ...)
    def _EHLO(self, arg: bytes) -> list[bytes]:
        self.client, self.kind = arg or b"[127.0.0.1]", b"ESMTP"
        lines = [b"ESMTP pingpong test server Hello " + self.client, *self.capabilities]
        if self.mechanisms:
            lines.append(b"AUTH " + b" ".join(self.mechanisms))
        return [b"250" + (b" " if i == len(lines) - 1 else b"-") + line
                for i, line in enumerate(lines)]

    def _HELO(self, arg: bytes) -> list[bytes]:
        self.client, self.kind = arg or b"[127.0.0.1]", b"SMTP"
        return [b"250 SMTP pingpong test server Hello " + self.client]

    def _valid(self, address: bytes) -> bool:
        return bool((_ADDRESS_UTF8 if self.utf8 else _ADDRESS).fullmatch(address))

    def _MAIL(self, arg: bytes) -> list[bytes]:
        if not arg:
            return [b"501 Unrecognized parameter"]
        words = arg.split(b" ")
        sender = next((w[5:] for w in words if w.startswith(b"FROM:")), b"")
        size = next((int(w[5:]) for w in words if re.fullmatch(rb"SIZE=[0-9]+", w)), 0)
        self.utf8 = b"SMTPUTF8" in words and b"SMTPUTF8" in self.capabilities
        if not sender or (sender != b"<>" and not self._valid(sender)):
            return [b"501 Invalid address"]
        limits = [int(c[5:]) for c in self.capabilities if re.fullmatch(rb"SIZE [0-9]+", c)]
        if limits and size > limits[0]:
            return [b"552 Message size too large"]
        return [b"250 Sender OK"]

    def _RCPT(self, arg: bytes) -> list[bytes]:
        if not arg.startswith(b"TO:"):
            return [b"501 Unrecognized parameter"]
        return [b"250 Recipient OK" if self._valid(arg[3:]) else b"501 Invalid address"]

    def _DATA(self, arg: bytes) -> list[bytes]:
        if arg:
            return [b"501 Unrecognized parameter"]
        # the server files the upload under the test number EHLO gave; an unknown
        # %TESTNUMBER (a test case read from stdin) is given the benefit of the doubt
        if self.client and not self.client.isdigit() and b"%" not in self.client:
            return [b"501 Invalid arguments"]
        return [b"354 Show me the mail"]

    def _NOOP(self, arg: bytes) -> list[bytes]:
        return [b"501 Unrecognized parameter" if arg else b"250 OK"]

    def _RSET(self, arg: bytes) -> list[bytes]:
        return [b"501 Unrecognized parameter" if arg else b"250 Resetting"]

    def _HELP(self, arg: bytes) -> list[bytes]:
        verbs = b"HELO EHLO RCPT DATA RSET MAIL VRFY EXPN QUIT HELP"
        return [b"214-This server supports the following commands:",
                b"214 " + verbs + (b" AUTH" if self.mechanisms else b"")]

    def _VRFY(self, arg: bytes) -> list[bytes]:
        if not arg.split(b" ", 1)[0]:
            return [b"501 Unrecognized parameter"]
        return [line.rstrip(b"\r\n") for line in self.data]

    def _QUIT(self, arg: bytes) -> list[bytes]:
        return [b"221 curl " + self.kind + b" server signing off"]

    @staticmethod
    def after_data() -> list[bytes]:
        return [b"250 OK, data received!"]
