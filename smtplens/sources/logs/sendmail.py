"""sendmail's traffic log (``sendmail -X tracefile``).

Every process appends to one file, each line tagged with its pid (``%05d``)::

    21126 >>> 220 mx.example ESMTP Sendmail 8.17.1.9; Sat, 28 Nov 2026 12:06:30 GMT
    21126 <<< ehlo client.example
    21128 === CONNECT [127.0.0.2]
    21128 <<< 220 sink.example ESMTP
    21128 >>> EHLO mx.example

``>>>`` is what sendmail wrote and ``<<<`` what it read, whether it is the server (a
daemon child, ``-bs``) or the client (a delivery to another host); ``=== CONNECT
host`` starts a client connection and ``=== EXEC program args`` a local mailer. The
role of each session comes from its first line: a process that writes a reply code
(the greeting) is the server, one that reads one is the client. Unlike most logs the
trace shows the message content (dot-stuffed, with its final ``.``). Lines read from
the network keep their CR, which :func:`~smtplens.sources.textfile.read_lines` drops
with the LF. There are no timestamps.

A local mailer is followed only when it answers like an SMTP/LMTP server (``mail.local
-l``); the plain message that sendmail pipes into procmail or a program is not SMTP and
is left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from smtplens.sources.logs._interleaved import LogSessions, parse_endpoint, reply_code
from smtplens.sources.textfile import to_wire
from smtplens.stream import Direction, Endpoint, StreamItem

_LINE = re.compile(r"^(?P<pid>\d+) (?P<tag><<<|>>>|===)(?: (?P<text>.*))?$")


class _Process:
    """What is known about one pid's current connection."""

    __slots__ = ("exec_lmtp", "key", "pending", "server", "wrote_is_client")

    def __init__(self) -> None:
        self.key: tuple[str, int] | None = None  #: key of its open session
        self.wrote_is_client: bool | None = None  #: True: ">>>" lines are the client's
        self.server: Endpoint | None = None  #: the host of ``=== CONNECT``
        self.pending = False  #: an ``=== CONNECT``/``EXEC`` waits for its first line
        self.exec_lmtp: bool | None = None  #: None: not a local mailer


class SendmailTrace:
    """sendmail ``-X`` traffic log."""

    name = "sendmail"
    description = "sendmail -X trace: 'PID >>> sent' / 'PID <<< received' lines"

    def sniff(self, head: list[str]) -> int:
        tags: set[str] = set()
        hits = total = 0
        for line in head:
            if not line.strip():
                continue
            total += 1
            m = _LINE.match(line)
            if m is not None:
                hits += 1
                tags.add(m.group("tag"))
        if not total or not {"<<<", ">>>"} <= tags:
            return 0
        return int(95 * hits / total)

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        sessions = LogSessions(source, self.name, content_logged=True)
        procs: dict[str, _Process] = {}
        for number, raw in lines:
            if not raw.strip():
                continue
            m = _LINE.match(raw)
            if m is None:
                yield sessions.notice(number, "not a sendmail -X trace line, skipped")
                continue
            pid, tag, text = m.group("pid"), m.group("tag"), m.group("text") or ""
            proc = procs.setdefault(pid, _Process())
            if tag == "===":
                verb, _, arg = text.partition(" ")
                if verb in ("CONNECT", "EXEC"):
                    if proc.key is not None:
                        yield from sessions.close(proc.key)
                    proc.key, proc.pending, proc.wrote_is_client = None, True, True
                    if verb == "CONNECT":
                        proc.server, proc.exec_lmtp = parse_endpoint(arg), None
                    else:
                        args = arg.split()
                        proc.server = Endpoint(args[0]) if args else None
                        proc.exec_lmtp = "-l" in args[1:] or "lmtp" in arg.lower()
                continue
            payload = to_wire(text) + b"\r\n"
            wrote = tag == ">>>"
            if proc.key is not None and sessions.get(proc.key) is None:
                proc.key = None  # closed after QUIT's reply
            if proc.key is None:
                if proc.exec_lmtp is not None and proc.pending:
                    # a local mailer only counts when it greets like an SMTP/LMTP server
                    if wrote or reply_code(payload) is None:
                        continue
                elif proc.exec_lmtp is not None:
                    continue  # the rest of a program mailer's input (a plain message)
                if not proc.pending:
                    # no CONNECT: the first line tells the role (the greeting's writer
                    # is the server); see the module docstring
                    proc.wrote_is_client = (reply_code(payload) is not None) != wrote
                    proc.server = None
                yield from self._open(sessions, proc, pid, number)
            assert proc.key is not None
            direction = Direction.CLIENT if wrote == proc.wrote_is_client else Direction.SERVER
            if sessions.restarts(proc.key, direction, payload):
                proc.pending = False
                yield from self._open(sessions, proc, pid, number)
            yield from sessions.send(proc.key, direction, payload, number)
            s = sessions.get(proc.key)
            if s is not None and s.quit_answered:
                yield from sessions.close(proc.key)
        yield from sessions.close_all()

    @staticmethod
    def _open(sessions: LogSessions, proc: _Process, pid: str,
              number: int) -> Iterator[StreamItem]:
        if proc.key is not None:
            yield from sessions.close(proc.key)
        proc.key = (pid, sessions.count + 1)
        proc.pending = False
        yield from sessions.open(proc.key, number, None, f"sendmail[{pid}]",
                                 server=proc.server if proc.wrote_is_client else None,
                                 lmtp=bool(proc.exec_lmtp))
