"""Opening and closing connections: SMTP detection, roles, port reuse, idle timeout.

A segment whose direction key belongs to no open connection lands in
:meth:`Flows.unknown`. It is dropped when it belongs to a 4-tuple found not to be SMTP,
or is a late retransmission of a connection closed a moment ago (closed 4-tuples are
remembered for :data:`CLOSED_MEMORY` seconds with their final sequence numbers, so a
stray FIN/ACK or retransmission cannot resurrect a session); otherwise it opens a
connection when a port is an SMTP port, or starts a :class:`~.detect.Probe`.
"""

from __future__ import annotations

import re
import socket
import struct
import zlib

from smtplens.sources.pcap.conn import ACK, HALF, MASK, RST, SYN, Conn, Half
from smtplens.sources.pcap.detect import IMPLICIT_TLS_PORT, LMTP_PORT, Detector, Probe
from smtplens.sources.pcap.tcp import Stream
from smtplens.stream import Closed, Direction, Endpoint, Opened

#: how long (capture time) and how many closed 4-tuples are remembered
CLOSED_MEMORY = 120.0
CLOSED_MAX = 65536
#: a segment up to this far past a closed connection's last byte still belongs to it
LATE_WINDOW = 1 << 20

_PORTS = struct.Struct("!HH").unpack_from
_SEQ = struct.Struct("!I").unpack_from
#: an SMTP reply line start (RFC 5321 §4.2): tells the server in a mid-stream capture
_REPLY = re.compile(rb"[2-5][0-9][0-9][ \-\r]")


def reverse_key(key: bytes) -> bytes:
    """The direction key of the other direction (addresses and ports swapped)."""
    n = (len(key) - 4) >> 1
    return key[n:2 * n] + key[:n] + key[2 * n + 2:] + key[2 * n:2 * n + 2]


def shard_of(key: bytes, shards: int) -> int:
    """Which of ``shards`` workers reads the 4-tuple of direction key ``key`` (the same
    for both directions, and in every process: CRC-32, not the salted ``hash``)."""
    return zlib.crc32(min(key, reverse_key(key))) % shards


def _endpoints(key: bytes) -> tuple[Endpoint, Endpoint]:
    n = (len(key) - 4) >> 1
    family = socket.AF_INET if n == 4 else socket.AF_INET6
    sport, dport = _PORTS(key, 2 * n)
    return (Endpoint(socket.inet_ntop(family, key[:n]), sport),
            Endpoint(socket.inet_ntop(family, key[n:2 * n]), dport))


class Flows(Stream):
    """The reassembly of every connection of one capture."""

    def __init__(self, source: str, ports: frozenset[int], idle_timeout: float,
                 shard: tuple[int, int] | None = None) -> None:
        super().__init__(source)
        #: (index, count): read only the 4-tuples of this shard (see :func:`shard_of`)
        self.shard = shard
        #: (number of the packet that opened it, id) of each connection opened, for the
        #: reader to hand on and clear
        self.opened: list[tuple[int, str]] = []
        self.ports = ports
        self.idle_timeout = idle_timeout
        self.conns: dict[str, Conn] = {}  #: open connections by id, oldest first
        self.closed: dict[bytes, tuple[float, int | None, int | None]] = {}
        self.detector = Detector()
        self.count = 0  #: connections opened so far (for ids)
        self.sweep_every = min(max(idle_timeout / 4, 0.25), 60.0)
        self.next_sweep = float("-inf")

    def tick(self, now: float) -> None:
        """Capture time is ``now``: sweep idle connections when it is time to."""
        if now > self.next_sweep:
            self.sweep(now)
            self.next_sweep = now + self.sweep_every

    def unknown(self, ts: float, recno: int, key: bytes, addrs: bytes, buf: bytes, t: int,
                stop: int, cut: int) -> None:
        """A segment of no open connection."""
        flags = buf[t + 13]
        det = self.detector
        if self.shard is not None and shard_of(key, self.shard[1]) != self.shard[0]:
            det.ignored[key] = ts
            return
        if key in det.ignored:
            if flags & (SYN | ACK) != SYN:
                det.ignored[key] = ts
                return
            det.unignore(key, reverse_key(key))  # a new connection: look at it afresh
        probe = det.probes.get(key)
        if probe is not None:
            self._probe(probe, key, ts, recno, addrs, buf[t:stop], cut)
            return
        closed = self.closed.get(key)
        if closed is not None:
            if _late(closed, _SEQ(buf, t + 4)[0], flags):
                return
            self._forget(key)
        p = t + ((buf[t + 12] >> 4) << 2)
        if flags & RST or not (p < stop or flags & SYN):
            return  # an ACK, FIN or RST of a connection never seen: nothing to read
        sport, dport = _PORTS(buf, t)
        ports = self.ports
        if sport in ports or dport in ports:
            if flags & SYN:
                client_is_src = not flags & ACK
            elif (sport in ports) != (dport in ports):
                client_is_src = dport in ports
            elif _REPLY.match(buf, p, stop):
                client_is_src = False
            else:
                client_is_src = sport >= dport  # the higher (ephemeral) port is the client
            self.open(ts, recno, key, client_is_src, midstream=not flags & SYN, trigger=recno)
            self.segment(ts, recno, addrs, buf, t, stop, cut)
            return
        probe = det.start(key, reverse_key(key), ts)
        self._probe(probe, key, ts, recno, addrs, buf[t:stop], cut)

    def _probe(self, probe: Probe, key: bytes, ts: float, recno: int, addrs: bytes,
               segment: bytes, cut: int) -> None:
        verdict = probe.add(key, ts, recno, addrs, segment, cut)
        if verdict is None:
            return
        if not verdict:
            self.detector.ignore(probe, ts)
            return
        self.detector.drop(probe)
        first_ts, first_recno, first_addrs, first_segment, _ = probe.packets[0]
        first_key = first_addrs + first_segment[:4]
        conn = self.open(first_ts, first_recno, first_key, first_key != probe.server,
                         midstream=probe.syn_from is None, trigger=recno)
        # through a proxy tunnel, both streams start after its set-up
        conn.client.skip, conn.server.skip = probe.skips
        for kts, krecno, kaddrs, ksegment, kcut in probe.packets:
            self.segment(kts, krecno, kaddrs, ksegment, 0, len(ksegment), kcut)

    def open(self, ts: float, recno: int, key: bytes, client_is_src: bool,
             midstream: bool, trigger: int) -> Conn:
        """A new connection whose first packet (number ``recno``) went in direction
        ``key``; packet ``trigger`` decided it is SMTP."""
        self.tick(ts)  # idle connections close before a new one opens, in capture order
        rkey = reverse_key(key)
        self.count += 1
        conn = Conn(f"C{self.count}", ts)
        self.opened.append((trigger, conn.cid))
        first = Half(conn, Direction.CLIENT if client_is_src else Direction.SERVER, key)
        other = Half(conn, first.direction.other, rkey)
        first.peer, other.peer = other, first
        conn.client, conn.server = (first, other) if client_is_src else (other, first)
        self.halves[key] = first
        self.halves[rkey] = other
        self.conns[conn.cid] = conn
        src, dst = _endpoints(key)
        client, server = (src, dst) if client_is_src else (dst, src)
        location = f"record {recno}"
        self.out.append(Opened(conn.cid, ts, client=client, server=server, source=self.source,
                               origin="pcap", exact_bytes=True,
                               implicit_tls=server.port == IMPLICIT_TLS_PORT,
                               lmtp=server.port == LMTP_PORT, location=location))
        if midstream:
            self.notice(conn, "capture.midstream",
                        "the capture starts after the connection opened (no SYN seen); "
                        "reading starts at the first captured segment", ts,
                        location=location)
        return conn

    def close(self, conn: Conn, ts: float, reason: str) -> None:
        """Emit what is left of ``conn`` (holes become gaps), then ``Closed``."""
        if not conn.open:
            return
        conn.open = False
        client, server = conn.client, conn.server
        for half in (client, server):
            while half.ooo:
                self.skip_hole(half, ts)
            if half.fin is not None and half.nxt is not None:
                ahead = (half.fin - half.nxt) & MASK
                if 0 < ahead < HALF:
                    self.gap(half, ahead, ts)
            half.set_slow(False)
        self.flush(conn)
        if (client.total > 0) != (server.total > 0):
            talker, quiet = (client, server) if client.total else (server, client)
            if quiet.silent:
                who = "client" if talker is client else "server"
                self.notice(conn, "capture.one-sided",
                            f"only the {who}'s bytes were captured", ts)
        self.out.append(Closed(conn.cid, ts, reason))
        del self.conns[conn.cid]
        closed = self.closed
        for half in (client, server):
            self.halves.pop(half.key, None)
            # after FIN or RST, stray segments are late copies; after an idle close, more
            # data is the same connection waking up, and opens again (mid-stream)
            if reason in ("fin", "rst"):
                closed[half.key] = (ts, half.isn, half.nxt)
        while len(closed) > CLOSED_MAX:
            del closed[next(iter(closed))]

    def _forget(self, key: bytes) -> None:
        self.closed.pop(key, None)
        self.closed.pop(reverse_key(key), None)

    def sweep(self, now: float) -> None:
        """Close connections idle since before ``now - idle_timeout``; expire memories."""
        limit = now - self.idle_timeout
        for conn in [c for c in self.conns.values() if c.last < limit]:
            self.close(conn, conn.last, "idle")
        self.detector.sweep(limit)
        closed = self.closed
        old = now - CLOSED_MEMORY
        while closed:
            first = next(iter(closed))
            if closed[first][0] >= old:
                break
            del closed[first]

    def finish(self) -> None:
        """End of the capture: close everything still open."""
        for conn in list(self.conns.values()):
            self.close(conn, conn.last, "eof")
        self.detector.probes.clear()


def _late(closed: tuple[float, int | None, int | None], seq: int, flags: int) -> bool:
    """Whether a segment on a closed 4-tuple belongs to the closed connection."""
    _, isn, final = closed
    if flags & SYN:
        return seq == isn  # a retransmitted SYN; a new ISN is a new connection
    if final is None:
        return True
    ahead = (seq - final) & MASK
    return ahead >= HALF or ahead < LATE_WINDOW
