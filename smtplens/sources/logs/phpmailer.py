"""PHPMailer's ``SMTPDebug`` output (levels 1-4), as its ``Debugoutput`` modes write it.

``SMTP::client_send`` logs ``CLIENT -> SERVER: <data>`` for every write (commands, AUTH
answers and each line of the message, dot-stuffed, then ``.``) and ``sendCommand`` logs
``SERVER -> CLIENT: <reply>`` with the whole reply. ``edebug`` then shapes the text:

* ``echo`` (the default): ``gmdate('Y-m-d H:i:s')``, a tab, the text trimmed, and
  the lines of a multi-line reply joined by a newline plus an indentation of
  ``19 spaces, tab, 18 spaces``; trimming drops trailing blanks (an empty message line
  shows as ``CLIENT -> SERVER:``);
* ``html``: the date, a space, the text HTML-escaped with its line breaks removed and
  ``<br>``, so a multi-line reply runs together (``250-a250 b``) and is split again
  at each ``NNN-``/``NNN `` of the same code;
* ``error_log`` and PSR-3 loggers: whatever prefix the logger writes, and the reply's
  later lines unprefixed on lines of their own. Behind Apache (mod_php), ``error_log``
  lands in Apache's error log: a ``[date] [php:notice] [pid N] [client IP:port]``
  prefix, every control character escaped (the CRLF PHPMailer logs with each line is
  the literal text ``\r\n``, a multi-line reply one line with ``\r\n`` between its
  lines) and ``, referer: URL`` appended: the tail is dropped, the escapes undone and
  the reply split at its CRLFs again.

Level 3 adds ``Connection: opening to host:port, ...``, ``Connection: opened`` and
``Connection: closed``, which start and end sessions. Without them, a session whose
first line is neither a greeting nor a hello (a pasted excerpt) gets a
``capture.midstream`` notice. Level 4 (``DEBUG_LOWLEVEL``) adds
``SMTP INBOUND: "<line>"`` for every line ``get_lines()`` reads, before the
``SERVER -> CLIENT:`` line that shows the same reply whole: those repeats are skipped,
so no reply is counted twice (checked on real PHPMailer 6.6.3 output,
samples/phpmailer-level4.log). Its ``SMTP -> get_lines(): ... timed-out`` / ``timelimit
reached`` lines become ``protocol.no-reply`` and ``SMTP NOTICE: EOF caught ...``
``log.lost-connection``; ``Auth method requested: ...`` and the like are skipped.
PHPMailer 6.1+ replaces AUTH answers below level 4 with ``[credentials hidden]``
(``<credentials hidden>`` in some releases); those lines are passed on as logged, while
level 4 shows the Base64 answers (smtplens decodes and redacts them). Timestamps are UTC.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from smtplens.sources.logs._interleaved import LogSessions, parse_endpoint
from smtplens.sources.logs._times import iso_time
from smtplens.sources.textfile import to_wire
from smtplens.sources.transcript import clearly_midstream
from smtplens.stream import Direction, StreamItem
from smtplens.textutil import digits

_MARK = re.compile(r"(?P<who>CLIENT|SERVER) -(?:>|&gt;) (?:CLIENT|SERVER):(?: (?P<text>.*))?$")
_OPENING = re.compile(r"Connection: opening to (?P<addr>[^,\s]+)")
_CLOSED = re.compile(r"Connection: closed\s*(?:<br>)?$")
_ISO = re.compile(r"(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?)")
_PHP_LOG = re.compile(r"^\[(\d\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d) ([^\]]*)\]")
_CONTINUATION = re.compile(r"^\s*(?P<text>\d{3}(?:[ -].*)?)$")
#: Apache's error log: "[Mon Nov 30 15:34:33.123456 2020] [php:notice] [pid 1] ..."
_APACHE = re.compile(r"^\[(?:[A-Z][a-z]{2} )?([A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d)"
                     r"(?:\.\d+)? (\d{4})\]")
#: what Apache appends to a message logged while serving a request
_REFERER = re.compile(r", referer: \S*$")
#: Apache's escapes of control characters (ap_escape_errorlog_item: \\ and " stay)
_APACHE_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|[rntbv])")
_CONTROL = {"r": "\r", "n": "\n", "t": "\t", "b": "\b", "v": "\v"}
_KEY = "phpmailer"  # one connection at a time: the output has no session ids
#: level-4 traces that mean the reply never (fully) came
_NO_REPLY = re.compile(r"SMTP -(?:>|&gt;) get_lines\(\): (?:select timed-out|stream timed-out"
                       r"|timelimit reached)")
_EOF = re.compile(r"SMTP NOTICE: EOF caught")


def _time(prefix: str) -> float | None:
    """The timestamp in the part before the marker: PHPMailer's own (UTC), or PHP's
    error_log ``[01-Jan-2024 10:00:00 UTC]``."""
    if m := _PHP_LOG.match(prefix):
        try:
            when = datetime.strptime(m.group(1), "%d-%b-%Y %H:%M:%S")
        except ValueError:
            return None
        zone = m.group(2).strip()
        if zone in ("UTC", "GMT", ""):
            return when.replace(tzinfo=UTC).timestamp()
        return when.timestamp()  # a named zone: the local one is the best guess at hand
    if m := _APACHE.match(prefix):
        try:  # Apache writes the server's local time
            return datetime.strptime(f"{m.group(1)} {m.group(2)}",
                                     "%b %d %H:%M:%S %Y").timestamp()
        except ValueError:
            return None
    if m := _ISO.search(prefix):
        text = m.group(1).replace(" ", "T")
        stamp = iso_time(text + "+00:00") if "+" not in text else iso_time(text)
        return stamp
    return None


def _split_run(text: str) -> list[str]:
    """Html mode joined a multi-line reply (``250-a250-b250 c``): cut it at its code."""
    code = text[:3]
    if len(text) < 4 or not digits(code) or text[3] != "-":
        return [text]
    parts = re.split(rf"(?<=.)(?={code}[ -])", text)
    return [p for p in parts if p]


def _apache_lines(text: str) -> list[str] | None:
    """The lines of a text Apache escaped (it ends with a literal ``\\r\\n``), else None."""
    if not text.endswith(("\\r\\n", "\\n")):
        return None

    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        return chr(int(code[1:], 16)) if code[0] == "x" else _CONTROL[code]

    parts = re.split(r"\r?\n", _APACHE_ESCAPE.sub(one, text))
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # the CRLF that ended the last line
    return parts


class PHPMailerDebug:
    """PHPMailer ``SMTPDebug`` output."""

    name = "phpmailer"
    description = "PHPMailer SMTPDebug output: 'CLIENT -> SERVER: ...' / 'SERVER -> CLIENT: ...'"

    def sniff(self, head: list[str]) -> int:
        who: set[str] = set()
        for line in head:
            m = _MARK.search(line)
            if m is not None:
                who.add(m.group("who"))
        return 95 if who == {"CLIENT", "SERVER"} else 50 if who else 0

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        sessions = LogSessions(source, self.name, content_logged=True)
        reply_open = False  # the last server line was a "NNN-" continuation
        ts: float | None = None
        for number, raw in lines:
            line = _REFERER.sub("", raw.rstrip()).rstrip()
            m = _MARK.search(line)
            if m is None:
                if o := _OPENING.search(line):
                    ts = _time(line[:o.start()]) or ts
                    yield from sessions.open(_KEY, number, ts, "phpmailer",
                                             server=parse_endpoint(o.group("addr")))
                    reply_open = False
                elif _CLOSED.search(line):
                    yield from sessions.close(_KEY, ts, "log")
                    reply_open = False
                elif reply_open and (c := _CONTINUATION.match(line)):
                    # the later lines of a multi-line reply (echo indents them, error_log
                    # writes them bare)
                    text = c.group("text")
                    reply_open = text[3:4] == "-"
                    yield from sessions.line(_KEY, Direction.SERVER, text, number, ts)
                elif (n := _NO_REPLY.search(line)) or _EOF.search(line):
                    ts = _time(line[:n.start()] if n else line) or ts
                    if sessions.get(_KEY) is not None:
                        code = "protocol.no-reply" if n else "log.lost-connection"
                        yield sessions.notice(number, f"PHPMailer: {html.unescape(line)}",
                                              _KEY, ts, code)
                continue  # SMTP INBOUND:, Auth method ..., SMTP ERROR: ...
            ts = _time(line[:m.start()]) or ts
            text = m.group("text") or ""
            escaped = "-&gt;" in line[m.start():m.start() + 12]
            if escaped:
                text = html.unescape(text.removesuffix("<br>"))
            direction = Direction.CLIENT if m.group("who") == "CLIENT" else Direction.SERVER
            texts = _split_run(text) if escaped and direction is Direction.SERVER else [text]
            if not escaped and (apache := _apache_lines(text)) is not None:
                texts = apache
            first = to_wire(texts[0])
            if sessions.get(_KEY) is None or sessions.restarts(_KEY, direction, first):
                yield from sessions.open(_KEY, number, ts, "phpmailer")
                if clearly_midstream(direction, first):
                    # a pasted excerpt (no "Connection: opening", and its first line is
                    # not a greeting or a hello): RFC 5321 §3.1, no greeting to expect
                    yield sessions.notice(number, "the PHPMailer excerpt starts "
                                          "mid-session", _KEY, ts, "capture.midstream")
            for part in texts:
                yield from sessions.line(_KEY, direction, part, number, ts)
            reply_open = direction is Direction.SERVER and texts[-1][3:4] == "-"
            s = sessions.get(_KEY)
            if s is not None and s.quit_answered:
                yield from sessions.close(_KEY, ts, "log")
        yield from sessions.close_all()
