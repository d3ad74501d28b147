"""Microsoft Exchange SMTP protocol logs (SmtpReceive and SmtpSend).

One CSV row per event, sessions interleaved by session id::

    #Log-type: SMTP Receive Protocol Log
    #Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,...
    2024-01-25T15:14:39.026Z,EX\\Default,08DC1DB8591B229A,1,10.0.0.1:25,10.0.0.2:53,>,"220 x",
    2024-01-25T15:14:39.031Z,EX\\Default,08DC1DB8591B229A,2,10.0.0.1:25,10.0.0.2:53,<,EHLO a,

Events: ``+`` connect, ``-`` disconnect, ``>`` sent, ``<`` received, ``*`` information.
``>``/``<`` are Exchange's own point of view, so in a receive log ``<`` is the client
and in a send log ``<`` is the server. Which one a session is comes from the
``#Log-type`` header when there is one, else from its first SMTP line (Exchange
writing a reply code is a server; reading one is a client), else from a connector
named "... Send Connector". Exchange does not log the message content (``<,DATA`` is
followed by ``>,354`` and then the verdict) nor AUTH data (``<authentication
response>`` stands in for it): the first becomes :class:`~smtplens.stream.Skipped`,
the second is passed on as logged.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from smtplens.sources.logs._interleaved import IDLE_SECONDS, LogSessions, parse_endpoint
from smtplens.sources.logs._times import iso_time
from smtplens.stream import Direction, Endpoint, StreamItem
from smtplens.textutil import digits

#: the column order when the file has no ``#Fields:`` header
FIELDS: tuple[str, ...] = ("date-time", "connector-id", "session-id", "sequence-number",
                           "local-endpoint", "remote-endpoint", "event", "data", "context")
_EVENTS = frozenset("+-<>*")
_REPLY = re.compile(r"^\d{3}(?:[ -]|$)")
_SWEEP_EVERY = 2000  #: rows between sweeps for idle sessions
_ROW_START = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


@dataclass(frozen=True, slots=True)
class ExchangeRow:
    """One row of an Exchange protocol log, fields as logged."""

    date_time: str
    connector_id: str
    session_id: str
    sequence_number: int | None
    local_endpoint: str
    remote_endpoint: str
    event: str
    data: str
    context: str


def parse_row(line: str, fields: tuple[str, ...] = FIELDS) -> ExchangeRow | None:
    """A CSV row (quotes doubled inside quoted fields) by the ``#Fields:`` order, or None."""
    try:
        values = next(csv.reader([line]), [])
    except csv.Error:
        return None
    if len(values) < min(len(fields), 8) - 1:
        return None
    row = dict(zip(fields, values, strict=False))
    event = row.get("event", "")
    session = row.get("session-id", "")
    if event not in _EVENTS or not session:
        return None
    seq = row.get("sequence-number", "")
    return ExchangeRow(row.get("date-time", ""), row.get("connector-id", ""), session,
                       int(seq) if digits(seq) else None, row.get("local-endpoint", ""),
                       row.get("remote-endpoint", ""), event, row.get("data", ""),
                       row.get("context", ""))


class _Pending:
    """A session seen before its role (receive or send) is known."""

    __slots__ = ("connected", "connector", "local", "number", "remote", "ts")

    def __init__(self, number: int, ts: float | None, connector: str) -> None:
        self.number = number
        self.ts = ts
        self.connector = connector
        self.local: Endpoint | None = None
        self.remote: Endpoint | None = None
        self.connected = False  #: a ``+`` row: a TCP connection was made


class ExchangeProtocolLog:
    """Exchange SmtpReceive / SmtpSend protocol log."""

    name = "exchange"
    description = "Microsoft Exchange SmtpReceive/SmtpSend protocol log (CSV)"

    def sniff(self, head: list[str]) -> int:
        rows = total = 0
        for line in head:
            if line.startswith("#"):
                if line.startswith(("#Software: Microsoft Exchange", "#Log-type: SMTP")):
                    return 100
                continue
            if not line.strip():
                continue
            total += 1
            if _ROW_START.match(line) and parse_row(line) is not None:
                rows += 1
        return int(95 * rows / total) if total else 0

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        sessions = LogSessions(source, self.name, content_logged=False)
        fields = FIELDS
        file_role: bool | None = None  # True: receive log, False: send log
        pending: dict[str, _Pending] = {}
        roles: dict[str, bool] = {}  # open session id -> receive?
        seen: dict[str, int] = {}  # how often a session id was opened (ids are reused rarely)
        rows = 0
        for number, raw in lines:
            line = raw.strip()
            if not line:
                continue
            if line.startswith("#"):
                if line.startswith("#Fields:"):
                    named = tuple(f.strip() for f in line[8:].split(","))
                    fields = named if "event" in named and "session-id" in named else FIELDS
                elif line.startswith("#Log-type:"):
                    kind = line.lower()
                    file_role = "receive" in kind if "smtp" in kind else file_role
                continue
            row = parse_row(line, fields)
            if row is None:
                yield sessions.notice(number, "not an Exchange protocol log row, skipped")
                continue
            ts = iso_time(row.date_time)
            sid = row.session_id
            sessions.tick(ts)
            rows += 1
            if rows % _SWEEP_EVERY == 0:
                yield from self._sweep(sessions, pending, roles, seen, file_role is not False)
            if sid not in roles:
                p = pending.get(sid)
                if p is None:
                    p = pending[sid] = _Pending(number, ts, row.connector_id)
                p.local = p.local or parse_endpoint(row.local_endpoint)
                p.remote = p.remote or parse_endpoint(row.remote_endpoint)
                p.connected = p.connected or row.event == "+"
                if row.event in "<>":
                    reply = bool(_REPLY.match(row.data))
                    # Exchange writing a reply, or reading a command, is the server
                    receive = file_role if file_role is not None else (
                        reply == (row.event == ">"))
                    yield from self._open(sessions, pending.pop(sid), sid, receive, roles,
                                          seen)
                elif row.event == "-":
                    p = pending.pop(sid)
                    if p.connected:  # a connection with nothing said: still a session
                        receive = file_role if file_role is not None else (
                            "send connector" not in p.connector.lower())
                        yield from self._open(sessions, p, sid, receive, roles, seen)
                        yield from sessions.close(sid, ts, "log")
                        del roles[sid]
                    continue
                else:
                    continue
            if row.event == "-":
                del roles[sid]
                yield from sessions.close(sid, ts, "log")
            elif row.event in "<>":
                receive = roles[sid]
                direction = Direction.CLIENT if (row.event == "<") == receive \
                    else Direction.SERVER
                yield from sessions.line(sid, direction, row.data, number, ts)
        for sid, p in pending.items():
            if p.connected:
                yield from self._open(sessions, p, sid, file_role is not False, roles, seen)
        yield from sessions.close_all()

    def _sweep(self, sessions: LogSessions, pending: dict[str, _Pending],
               roles: dict[str, bool], seen: dict[str, int],
               receive: bool) -> Iterator[StreamItem]:
        """Close what the log stopped mentioning (a rotated file, a lost ``-`` row) and
        forget connection attempts that never connected, so they do not pile up."""
        yield from sessions.sweep()
        for gone in [k for k in roles if sessions.get(k) is None]:
            del roles[gone]
        now = sessions.now
        if now is None:
            return
        for sid in [k for k, p in pending.items()
                    if p.ts is not None and now - p.ts > IDLE_SECONDS]:
            waiting = pending.pop(sid)
            if waiting.connected:
                yield from self._open(sessions, waiting, sid, receive, roles, seen)
                yield from sessions.close(sid, None, "idle")
                del roles[sid]

    @staticmethod
    def _open(sessions: LogSessions, p: _Pending, sid: str, receive: bool,
              roles: dict[str, bool], seen: dict[str, int]) -> Iterator[StreamItem]:
        roles[sid] = receive
        seen[sid] = seen.get(sid, 0) + 1
        client, server = (p.remote, p.local) if receive else (p.local, p.remote)
        conn_id = sid if seen[sid] == 1 else f"{sid}#{seen[sid]}"
        yield from sessions.open(sid, p.number, p.ts, "exchange", client, server,
                                 conn_id=conn_id)
