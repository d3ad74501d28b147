"""Haraka's log at ``loglevel=protocol``: every SMTP line both ways, sessions by UUID.

Haraka (the Node.js MTA) writes one line per event, tagged with the connection's UUID
(``UUID.N`` inside its N-th transaction) and the plugin that logged it::

    2026-12-02T05:43:55.288Z [NOTICE] [2CCF...] [core] connect ip=127.0.0.1 port=34686 ...
    2026-12-02T05:43:55.290Z [PROTOCOL] [2CCF...] [core] S: 220 mx.example.test ESMTP ...
    2026-12-02T05:43:55.291Z [PROTOCOL] [2CCF...] [core] C: ehlo client.example.test state=1
    2026-12-02T05:43:56.304Z [PROTOCOL] [2CCF....1] [core] S: 250 sender <a@example.test> OK
    2026-12-02T05:43:55.292Z [NOTICE] [2CCF...] [core] disconnect ip=127.0.0.1 ... time=0.005

(``2CCF...`` stands for the 36-character UUID.)

The timestamp is there only with ``timestamps=true`` in ``log.ini``; a syslog or
journal prefix before ``[LEVEL]`` is skipped. Some logs (older releases, pastes) carry
no UUID (``[PROTOCOL] [core] C: ...``, or ``[-]`` in its place): they are read as one
connection at a time, the next starting at ``connect``, at a 220 greeting after the
client spoke, or at a client line after QUIT. A session whose first line is not a
greeting or a hello (the log starts inside it) gets a ``capture.midstream`` notice.
``S:`` lines are the server's, ``C:`` the client's (Haraka appends `` state=N``, its
own state number, which is never part of the command and is removed).
``connect`` gives both endpoints and starts the session; ``disconnect`` ends it.

Haraka logs the client's lines as it read them, AUTH data included (unmasked: the
engine redacts it); it does not log the message content at ``protocol`` level (only
at ``data``, whose ``[DATA]`` lines are not read here), so the content after 354
becomes :class:`~smtplens.stream.Skipped` and the exact bytes (CR/LF, dot-stuffing)
cannot be judged. Other lines (plugin results, ``[INFO]`` chatter) are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from smtplens.sources.logs._interleaved import LogSessions
from smtplens.sources.logs._times import iso_time
from smtplens.sources.textfile import to_wire
from smtplens.sources.transcript import clearly_midstream
from smtplens.stream import Direction, Endpoint, StreamItem

_LEVELS = "PROTOCOL|DATA|DEBUG|INFO|NOTICE|WARN|ERROR|CRIT|ALERT|EMERG"
_LINE = re.compile(
    rf"\[(?P<level>{_LEVELS})\] (?:\[(?P<uuid>[0-9A-Fa-f]{{8}}-[0-9A-Fa-f-]{{27}})"
    r"(?:\.(?P<txn>\d{1,9}))?\] |\[-\] |(?=\[[^\]]{0,200}\] (?!\[)))"
    r"\[(?P<plugin>[^\]]{0,200})\] (?P<msg>.*)$")
#: the key of the one connection a log without UUIDs shows at a time
_NO_UUID = "haraka"
_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?) ")
_STATE = re.compile(r" state=\d{1,3}\s*$")
_KV = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')
_SWEEP_EVERY = 2000  #: lines between sweeps for sessions the log stopped mentioning


def _endpoints(msg: str) -> tuple[Endpoint | None, Endpoint | None]:
    """``connect ip=.. port=.. local_ip=.. local_port=..``: the client's and Haraka's end."""
    kv = dict(_KV.findall(msg))

    def end(ip: str | None, port: str | None) -> Endpoint | None:
        if not ip:
            return None
        return Endpoint(ip, int(port) if port and port.isdigit() and len(port) <= 5
                        else None)

    return end(kv.get("ip"), kv.get("port")), end(kv.get("local_ip"), kv.get("local_port"))


class HarakaProtocolLog:
    """Haraka's log with ``loglevel=protocol``."""

    name = "haraka"
    description = "Haraka log at loglevel=protocol ([PROTOCOL] [uuid] [core] S:/C: lines)"

    def sniff(self, head: list[str]) -> int:
        lines = [ln for ln in head if ln.strip()]
        ours = dialogue = 0
        for text in lines:
            m = _LINE.search(text)
            if m is None or (m.group("uuid") is None and m.group("plugin") != "core"):
                continue  # without a UUID, only Haraka's core is recognisable
            ours += 1
            msg = m.group("msg")
            if (m.group("level") == "PROTOCOL" and msg[:3] in ("S: ", "C: ")) \
                    or msg.startswith("connect ip="):
                dialogue += 1
        if not lines or not dialogue:
            return 0
        return min(98, 60 + int(38 * ours / len(lines)))

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        sessions = LogSessions(source, self.name, content_logged=False)
        count = 0
        for number, raw in lines:
            if not raw.strip():
                continue
            count += 1
            if count % _SWEEP_EVERY == 0:
                yield from sessions.sweep()
            m = _LINE.search(raw)
            if m is None:
                yield sessions.notice(number, "not a Haraka log line, skipped")
                continue
            t = _TS.match(raw)
            ts = iso_time(t.group(1)) if t else None
            msg = m.group("msg")
            level = m.group("level")
            if m.group("uuid") is None and m.group("plugin") != "core" \
                    and not (level == "PROTOCOL" and msg[:3] in ("S: ", "C: ")):
                continue  # "[INFO] [-] [plugin]": nothing of a connection's dialogue
            uuid = (m.group("uuid") or _NO_UUID).upper()
            no_uuid = m.group("uuid") is None
            if msg.startswith("connect ip=") and m.group("plugin") == "core":
                client, server = _endpoints(msg)
                yield from sessions.open(uuid, number, ts, self.name, client, server,
                                         conn_id=None if no_uuid else uuid)
                continue
            if msg.startswith("disconnect ip=") and m.group("plugin") == "core":
                yield from sessions.close(uuid, ts, "log")
                continue
            if level != "PROTOCOL" or msg[:3] not in ("S: ", "C: "):
                continue  # plugin results, DATA-level content, chatter
            direction = Direction.SERVER if msg.startswith("S: ") else Direction.CLIENT
            text = msg[3:] if direction is Direction.SERVER else _STATE.sub("", msg[3:])
            payload = to_wire(text)
            if sessions.get(uuid) is None or (
                    no_uuid and sessions.restarts(uuid, direction, payload)):
                # the log began inside this session (rotation, a paste), or a log
                # without UUIDs went on to the next connection: open it without endpoints
                yield from sessions.open(uuid, number, ts, self.name,
                                         conn_id=None if no_uuid else uuid)
                if clearly_midstream(direction, payload):
                    yield sessions.notice(number, "the Haraka log starts mid-session",
                                          uuid, ts, "capture.midstream")
            if direction is Direction.SERVER:
                yield from sessions.line(uuid, Direction.SERVER, text, number, ts)
                continue
            if text.startswith("(after-disconnect): "):
                yield sessions.notice(number, "client line after Haraka disconnected, "
                                      "skipped: " + text[20:][:80], ts=ts)
                continue
            yield from sessions.line(uuid, Direction.CLIENT, text, number, ts)
        yield from sessions.close_all()
