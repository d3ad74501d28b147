"""Postfix's verbose peer logging (``debug_peer_list``): the SMTP dialogue in the mail log.

For a peer in ``debug_peer_list`` Postfix logs every line it sends and receives,
among many lines of internal tracing::

    Nov 28 11:51:52 mx postfix/smtpd[9826]: connect from unknown[127.0.0.1]
    Nov 28 11:51:52 mx postfix/smtpd[9826]: > unknown[127.0.0.1]: 220 mx ESMTP Postfix
    Nov 28 11:51:52 mx postfix/smtpd[9826]: < unknown[127.0.0.1]: ehlo client.test
    Nov 28 11:51:52 mx postfix/smtp[9835]: > 127.0.0.1[127.0.0.1]:2525: MAIL FROM:<a@b>
    Nov 28 11:51:52 mx postfix/smtp[9835]: < 127.0.0.1[127.0.0.1]:2525: 250 OK

``>`` is what Postfix wrote and ``<`` what it read, so the receiving side (``smtpd``)
and the sending side (``smtp``, ``lmtp``) have the client and server swapped. Neither
logs the message content; the sending side does log the final ``.``.

Sessions are keyed by process and peer. A Postfix process serves one connection at a
time, so a pid that talks to another peer has finished with the previous one;
``connect from`` / ``disconnect from`` (smtpd) open and close sessions where present,
and the sending side, which logs no end (it does not wait for QUIT's reply), is closed
when the process moves on, when a new greeting arrives, after an hour of silence, or at
the end of the file. Known limit: a cached connection that another ``smtp`` process
reuses shows as a new session starting at MAIL FROM.

A maillog where ``debug_peer_list`` covers only some peers also holds the ordinary
summary lines of every connection: a transcript session opens at its first ``<``/``>``
line, and :mod:`smtplens.sources.logs._postfix_mixed` joins what only the summary says
(lost connection after DATA, too many errors, rejects, rate limits, SASL back-end
faults) to it, while connections without transcript lines come out as ``postfix-log``
partial sessions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from smtplens.sources.logs._interleaved import IDLE_SECONDS, LogSessions, parse_endpoint
from smtplens.sources.logs._postfix_mixed import Merger
from smtplens.sources.logs._times import SyslogClock, iso_time
from smtplens.sources.textfile import to_wire
from smtplens.stream import Direction, Endpoint, StreamItem

# "<time> <host> <syslog_name>/<service>[pid]: message"; syslog_name may have several
# parts (postfix/submission/smtpd) or another name (postfix-out/smtp). Found by a plain
# search for the service tag: a pattern for the whole line backtracks badly on junk.
_SERVICE = re.compile(r"(?:^|(?<=[\s/]))(?P<svc>smtpd|smtp|lmtp)\[(?P<pid>\d+)\]: ")
_PEER = r"(?P<peer>[^\s\[]*\[[^\]\s]*\](?::\d+)?)"  # name[addr] or name[addr]:port
_PROTOCOL = re.compile(rf"^(?P<dir>[<>]) {_PEER}:(?: (?P<text>.*))?$")
_CONNECT_FROM = re.compile(rf"^connect from {_PEER}\s*$")
_CONNECT_TO = re.compile(rf"^connect to {_PEER}\s*$")  # a failed attempt has ": error" after
_DISCONNECT = re.compile(rf"^disconnect from {_PEER}")
_ISO_HEAD = re.compile(r"^(\d{4}-\d\d-\d\dT\S+)")
_SYSLOG_HEAD = re.compile(r"^(?:[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\S+)")
#: how many lines pass between sweeps for idle sessions
_SWEEP_EVERY = 2000


def _split(line: str) -> tuple[str, str, str, str] | None:
    """``(head, service, pid, message)`` of a Postfix line; head is time and host."""
    m = _SERVICE.search(line)
    if m is None:
        return None
    before = line[:m.start()]
    cut = max(before.rfind(" "), before.rfind("\t"))  # the head ends before the program
    return before[:cut] if cut > 0 else "", m.group("svc"), m.group("pid"), line[m.end():]


def _address(peer: str) -> Endpoint | None:
    """``name[addr]`` or ``name[addr]:port`` to the address Endpoint."""
    _name, _, rest = peer.partition("[")
    addr, _, tail = rest.partition("]")
    return parse_endpoint(f"[{addr}]{tail}") if addr else None


#: Postfix with Cyrus SASL at debug_peer_level >= 2 logs the client's decoded SASL
#: response, for PLAIN "authzid NUL user NUL password" in clear text
DECODED_RESPONSE = "xsasl_cyrus_server_next: decoded response: "
DECODED_NOTE = ("Postfix wrote the decoded SASL response (the client's credentials, in "
                "clear text) into this log (xsasl_cyrus_server_next, debug_peer_level >= 2)")

class PostfixDebugLog:
    """Postfix mail log with verbose peer logging (``debug_peer_list``)."""

    name = "postfix-debug"
    description = "Postfix mail log with debug_peer_list: '< peer: EHLO' / '> peer: 250' lines"

    def sniff(self, head: list[str]) -> int:
        seen: set[tuple[str, str]] = set()
        postfix = 0
        for line in head:
            parts = _split(line)
            if parts is None or (parts[0] and not _SYSLOG_HEAD.match(parts[0])):
                continue
            postfix += 1
            p = _PROTOCOL.match(parts[3])
            if p is not None:
                seen.add((parts[1], p.group("dir")))
        if not postfix or not seen:
            return 0
        both = any({(svc, "<"), (svc, ">")} <= seen for svc in ("smtpd", "smtp", "lmtp"))
        return 95 if both else 60

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        sessions = LogSessions(source, self.name, content_logged=False)
        merger = Merger(source, sessions)
        return merger.hold(self._parse(lines, sessions, merger))

    def _parse(self, lines: Iterable[tuple[int, str]], sessions: LogSessions,
               merger: Merger) -> Iterator[StreamItem]:
        clock = SyslogClock()
        peers: dict[tuple[str, str], str] = {}  # (service, pid) -> peer of its open session
        # a connection opens at its first transcript line: a peer outside debug_peer_list
        # has none, and its summary session stands alone (service, pid) -> connect line
        waiting: dict[tuple[str, str], tuple[str, int, float | None]] = {}
        since_sweep = 0
        for number, raw in lines:
            if not raw.strip():
                continue
            # the summary lines of every connection (see _postfix_mixed), first: what
            # they finish joins the transcript session before this line may close it
            yield from merger.line(number, raw)
            parts = _split(raw)
            if parts is None:
                if not _SYSLOG_HEAD.match(raw):
                    yield sessions.notice(number, "not a syslog line, skipped")
                continue  # another program's line in the same mail log
            head, svc, pid, msg = parts
            iso = _ISO_HEAD.match(head)
            ts = iso_time(iso.group(1)) if iso else clock.read(head)
            sessions.tick(ts)
            proc = (svc, pid)
            since_sweep += 1
            if since_sweep >= _SWEEP_EVERY:
                since_sweep = 0
                yield from sessions.sweep()
                peers = {p: k for p, k in peers.items() if sessions.get((*p, k)) is not None}
                waiting = {p: w for p, w in waiting.items()
                           if ts is None or w[2] is None or ts - w[2] <= IDLE_SECONDS}
            if c := (_CONNECT_FROM if svc == "smtpd" else _CONNECT_TO).match(msg):
                old = peers.pop(proc, None)
                if old is not None:
                    yield from sessions.close((*proc, old))
                waiting[proc] = (c.group("peer"), number, ts)
                continue
            if _DISCONNECT.match(msg):
                waiting.pop(proc, None)
                peer = peers.pop(proc, None)
                if peer is not None:
                    yield from sessions.close((*proc, peer), ts, "log")
                continue
            p = _PROTOCOL.match(msg)
            if p is None:
                if proc in peers:
                    merger.summary_line((*proc, peers[proc]), msg)
                if msg.startswith(DECODED_RESPONSE) and proc in peers:
                    # the credential itself is on this line: say where, never what
                    yield sessions.notice(number, DECODED_NOTE, (*proc, peers[proc]),
                                          ts=ts, code="log.secret-in-log")
                elif msg[:2] in ("< ", "> ") and "[" in msg:
                    yield sessions.notice(number, "Postfix protocol line without a peer "
                                          "Postfix would write, skipped", ts=ts)
                continue  # internal tracing: match_*, xsasl_*, vstream_*, smtp_get: EOF ...
            peer, text = p.group("peer"), p.group("text") or ""
            # smtpd reads the client ("<"); smtp and lmtp are the client, so ">" is theirs
            receiving = svc == "smtpd"
            direction = (Direction.CLIENT if (p.group("dir") == "<") == receiving
                         else Direction.SERVER)
            key = (*proc, peer)
            connect = waiting.pop(proc, None)
            if connect is not None and connect[0] == peer:
                yield from self._start(sessions, peers, proc, peer, connect[1], connect[2])
            elif peers.get(proc) != peer or sessions.restarts(key, direction,
                                                            to_wire(text)):
                yield from self._start(sessions, peers, proc, peer, number, ts)
            yield from sessions.line(key, direction, text, number, ts)
            merger.transcript(key, svc == "smtpd")
        yield from merger.drain()
        yield from sessions.close_all()

    @staticmethod
    def _start(sessions: LogSessions, peers: dict[tuple[str, str], str],
               proc: tuple[str, str], peer: str, number: int,
               ts: float | None) -> Iterator[StreamItem]:
        old = peers.get(proc)
        if old is not None:
            yield from sessions.close((*proc, old))
        peers[proc] = peer
        svc, pid = proc
        addr = _address(peer)
        client, server = (addr, None) if svc == "smtpd" else (None, addr)
        yield from sessions.open((*proc, peer), number, ts, f"{svc}[{pid}]", client, server,
                                 lmtp=svc == "lmtp")
