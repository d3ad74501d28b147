"""Opening and closing connections: SMTP detection, roles, port reuse, idle timeout.

A segment whose direction key belongs to no open connection lands in
:meth:`Flows.unknown`. It is dropped when it belongs to a 4-tuple found not to be SMTP,
or is a late retransmission of a connection closed a moment ago (closed 4-tuples are
remembered for :data:`CLOSED_MEMORY` seconds with their final sequence numbers, so a
stray FIN/ACK or retransmission cannot resurrect a session); otherwise it opens a
connection when a port is an SMTP port, or starts a :class:`~.detect.Probe`.

Memory has a ceiling (issue 8: a SYN scan, or thousands of connections left inside
DATA, must not take gigabytes). A connection that has carried no payload yet (a
handshake, a scan's SYN) is an :class:`Embryo` of a few numbers rather than two
:class:`~.conn.Half` objects, and the analysis state is made only once it grows up: at
its first payload, FIN or RST (its :class:`~smtplens.stream.Opened` comes then, with
the time and record of its first packet; ids are still given in the order of the
packets that opened connections). An embryo idle for :data:`EMBRYO_TIMEOUT` seconds of
capture time expires like any idle connection (Suricata's ``flow-timeouts.tcp.new``).
All open connections share one budget, ``memcap`` bytes, of estimated memory (a fixed
cost per state plus the bytes buffered in the reassembly); over it, the least recently
active connections are closed through the usual close path, each with a
``capture.memcap-closed`` finding, until the estimate is back under
:data:`MEMCAP_LOW` of the budget (Suricata's ``stream.memcap``, Zeek's connection
timeouts).
"""

from __future__ import annotations

import re
import socket
import struct
import zlib

from smtplens.memcap import DEFAULT_MEMCAP, format_size
from smtplens.sources.pcap.conn import ACK, FIN, HALF, MASK, RST, SYN, Conn, Embryo, Half
from smtplens.sources.pcap.detect import IMPLICIT_TLS_PORT, LMTP_PORT, Detector, Probe
from smtplens.sources.pcap.tcp import Stream
from smtplens.stream import Closed, Direction, Endpoint, Notice, Opened
from smtplens.timestamps import TS_MAX, TS_MIN

#: the idle clock follows a leap of more than this (seconds) that a new connection's
#: record claims only when the next ticks confirm it (a damaged record's time must not
#: expire every connection)
LEAP = 86400.0
LEAP_CONFIRMED = 3

#: how long (capture time) and how many closed 4-tuples are remembered
CLOSED_MEMORY = 120.0
CLOSED_MAX = 65536
#: a segment up to this far past a closed connection's last byte still belongs to it
LATE_WINDOW = 1 << 20

_PORTS = struct.Struct("!HH").unpack_from
_SEQ = struct.Struct("!I").unpack_from
#: an SMTP reply line start (RFC 5321 §4.2): tells the server in a mid-stream capture
_REPLY = re.compile(rb"[2-5][0-9][0-9][ \-\r]")

#: capture seconds after which a connection that never carried payload expires (at
#: most the idle timeout)
EMBRYO_TIMEOUT = 60.0
#: estimated bytes of state of an embryo, and of an open connection: its reassembly
#: (a :class:`Conn`, two halves, table entries) plus the analysis of it (conversation
#: engine, session builder, checks). tracemalloc counts about 400 and 13,300 (see
#: tests/test_memory_limits.py); these add the allocator's overhead (RSS: about 1.3x)
EMBRYO_COST = 512
CONN_COST = 18 << 10
#: over the budget, connections are closed until the estimate is under this share of it
#: (so that a capture at the ceiling does not sort the table at every new connection)
MEMCAP_LOW = 0.9
#: how far the buffered bytes can grow between two read buffers: the bytes of one read
#: buffer (files.CHUNK, a record's rest), held at most twice (pending chunk and tail)
_GROWTH = 4 << 20


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
                 shard: tuple[int, int] | None = None,
                 memcap: int | None = DEFAULT_MEMCAP) -> None:
        super().__init__(source)
        #: (index, count): read only the 4-tuples of this shard (see :func:`shard_of`)
        self.shard = shard
        #: (number of the packet that opened it, id) of each connection opened, for the
        #: reader to hand on and clear
        self.opened: list[tuple[int, str]] = []
        self.ports = ports
        self.idle_timeout = idle_timeout
        self.conns: dict[str, Conn] = {}  #: open connections by id
        self.embryos: dict[bytes, Embryo] = {}  #: both direction keys -> embryo
        self.embryo_timeout = min(idle_timeout, EMBRYO_TIMEOUT)
        #: the memory budget of all open connections (bytes; None: no limit)
        self.memcap = memcap
        self.buffered = 0  #: payload bytes held in open connections, when last measured
        self.grown = 0  #: connections made since then
        self.memcap_closed = 0  #: connections closed to stay within the budget
        self.closed: dict[bytes, tuple[float, int | None, int | None]] = {}
        self.detector = Detector()
        self.count = 0  #: connections opened so far (for ids)
        self.sweep_every = min(max(idle_timeout / 4, 0.25), 60.0)
        self.next_sweep = float("-inf")
        self.clock = float("inf")  #: capture time the idle sweeps go by (inf: not set)
        self.leaps = 0  #: ticks in a row that leapt ahead of the clock

    def tick(self, now: float, settled: bool = False) -> None:
        """Capture time is ``now``: sweep idle connections when it is time to, and keep
        to the budget (checked with the buffered bytes as last measured). ``settled``:
        the time of a read buffer's last record, taken even when it leaps ahead (a
        capture that goes on days later), where one new connection's record is not."""
        if not TS_MIN < now <= TS_MAX:
            # no record read yet (0), or a damaged record's time (year 33658): it must not
            # make every connection idle and put the next sweep out of reach
            return
        if self.clock == float("inf"):
            self.clock = now
        elif now - self.clock > LEAP and not settled:
            # one record's word is not enough for a leap: a damaged header would close
            # every open connection as idle; real time that moved on is seen again
            self.leaps += 1
            if self.leaps < LEAP_CONFIRMED:
                return
        self.leaps = 0
        self.clock = max(self.clock, now)
        if now > self.next_sweep:
            self.sweep(now)
            self.next_sweep = now + self.sweep_every
        if self.memcap is not None:
            self.keep_to_budget(now)

    def buffer_done(self, now: float) -> None:
        """A read buffer was handled (``now``: the time of its last packet). Its payload
        may sit in the connections' buffers now: measure them when that could be over
        the budget (only near the ceiling, as measuring visits every connection)."""
        memcap = self.memcap
        if memcap is not None and self.fixed_cost() + self.buffered + _GROWTH > memcap:
            self.measure()
        self.tick(now, settled=True)

    def keep_to_budget(self, now: float, need: int = 0, keep: Embryo | None = None) -> None:
        """Close connections if the estimate, with ``need`` bytes more, is over the budget.

        The fixed costs are counted exactly; the buffered bytes are as last measured, and
        measured again in the top tenth of the budget once an eighth of the connections
        are new since (so that costs little per connection, and misses only the newest
        connections' buffers and what a read buffer added)."""
        memcap: int = self.memcap  # type: ignore[assignment]
        total = self.fixed_cost() + self.buffered + need
        if total > memcap * MEMCAP_LOW and self.grown * 8 >= len(self.conns):
            self.measure()
            total = self.fixed_cost() + self.buffered + need
        if total > memcap:
            self.squeeze(now, need, keep)

    def measure(self) -> None:
        """Count the bytes buffered in the open connections (visits every one)."""
        self.buffered = sum(c.buffered for c in self.conns.values())
        self.grown = 0

    def fixed_cost(self) -> int:
        """The estimated memory of the open connections, without their buffered bytes."""
        return len(self.conns) * CONN_COST + (len(self.embryos) >> 1) * EMBRYO_COST

    def squeeze(self, now: float, need: int = 0, keep: Embryo | None = None) -> None:
        """Over the budget (with ``need`` bytes more): close the least recently active
        connections but ``keep``, at capture time ``now``, until the estimate is under
        :data:`MEMCAP_LOW` of the budget."""
        memcap: int = self.memcap  # type: ignore[assignment]
        self.measure()
        total = self.fixed_cost() + self.buffered + need
        if total <= memcap:
            return
        low = memcap * MEMCAP_LOW
        count = len(self.conns) + (len(self.embryos) >> 1)
        budget = format_size(memcap)
        if self.shard is not None:
            budget += f" in each of {self.shard[1]} processes"
        victims: list[Conn | Embryo] = [*self.conns.values(), *self._embryos()]
        victims.sort(key=_last)
        for victim in victims:
            if total <= low:
                break
            if victim is keep:
                continue
            message = (f"closed early to keep within the memory budget of the open "
                       f"connections (--memcap: {budget}; {count} open): the least "
                       f"recently active, idle for {now - victim.last:.3f}s of capture "
                       "time; what it sends later, if anything, is read as a new "
                       "session, mid-stream")
            self.memcap_closed += 1
            if isinstance(victim, Embryo):
                total -= EMBRYO_COST
                self._close_embryo(victim, victim.last, "memcap", message)
            else:
                size = victim.buffered
                total -= CONN_COST + size
                self.buffered -= size
                self.notice(victim, "capture.memcap-closed", message, victim.last)
                self.close(victim, victim.last, "memcap")

    def unknown(self, ts: float, recno: int, key: bytes, addrs: bytes, buf: bytes, t: int,
                stop: int, cut: int) -> None:
        """A segment of no open connection."""
        embryo = self.embryos.get(key)
        if embryo is not None:
            if self._stays_embryo(embryo, key, ts, buf, t, stop):
                return
            self.segment(ts, recno, addrs, buf, t, stop, cut)  # it grew: as any packet
            return
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
            if p >= stop and not flags & FIN:  # a bare SYN (or SYN/ACK): no state yet
                self._embryo(ts, recno, key, client_is_src, _SEQ(buf, t + 4)[0])
                return
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
        return self._conn(self._number(ts, trigger), ts, recno, key, client_is_src,
                          midstream)

    def _number(self, ts: float, trigger: int) -> str:
        """The id of a connection opening now; packet ``trigger`` decided it is SMTP."""
        self.tick(ts)  # idle connections close before a new one opens, in capture order
        self.count += 1
        cid = f"C{self.count}"
        self.opened.append((trigger, cid))
        return cid

    def _embryo(self, ts: float, recno: int, key: bytes, client_is_src: bool,
                isn: int) -> None:
        embryo = Embryo(self._number(ts, recno), ts, recno, key, client_is_src, isn)
        self.embryos[key] = self.embryos[reverse_key(key)] = embryo

    def _stays_embryo(self, embryo: Embryo, key: bytes, ts: float, buf: bytes, t: int,
                      stop: int) -> bool:
        """A packet of ``embryo``'s 4-tuple: True when it changes nothing but what the
        embryo records; False when the embryo grew into a connection to handle it (the
        packet has payload, FIN or RST, or a SYN that the embryo cannot keep)."""
        flags = buf[t + 13]
        if t + ((buf[t + 12] >> 4) << 2) >= stop and not flags & (FIN | RST):
            seq = _SEQ(buf, t + 4)[0]
            if key == embryo.key:
                if not flags & SYN or seq == embryo.isn:  # an ACK, a retransmitted SYN
                    embryo.last = ts
                    return True
            elif not flags & SYN or embryo.risn is None or seq == embryo.risn:
                if flags & SYN:
                    embryo.risn = seq
                embryo.rseen = True
                embryo.last = ts
                return True
        self.grow(embryo, ts)
        return False

    def grow(self, embryo: Embryo, now: float) -> Conn:
        """Turn ``embryo`` into a connection (at capture time ``now``), in the state its
        packets would have left it in had it been one from the start (see
        :meth:`.tcp.Stream._control`)."""
        if self.memcap is not None:
            self.keep_to_budget(now, CONN_COST - EMBRYO_COST, embryo)
        self._forget_embryo(embryo)
        conn = self._conn(embryo.cid, embryo.ts, embryo.recno, embryo.key,
                          embryo.client_is_src, midstream=False)
        first = self.halves[embryo.key]
        first.isn = embryo.isn
        first.nxt = first.base = (embryo.isn + 1) & MASK  # the SYN takes one number
        first.seen = True
        other = first.peer
        if embryo.risn is not None:
            other.isn = embryo.risn
            other.nxt = other.base = (embryo.risn + 1) & MASK
        other.seen = embryo.rseen
        conn.last = embryo.last
        return conn

    def _forget_embryo(self, embryo: Embryo) -> None:
        del self.embryos[embryo.key]
        del self.embryos[reverse_key(embryo.key)]

    def _close_embryo(self, embryo: Embryo, ts: float, reason: str, memcap: str = "") -> None:
        """An embryo ends: its session is announced and closed at once (a SYN-only
        connection is still a session, as it was when it had a full state)."""
        self._forget_embryo(embryo)
        self._announce(embryo.cid, embryo.ts, embryo.recno, embryo.key,
                       embryo.client_is_src)
        if memcap:
            self.out.append(Notice("capture.memcap-closed", memcap, source=self.source,
                                   conn_id=embryo.cid, ts=ts))
        self.out.append(Closed(embryo.cid, ts, reason))

    def _embryos(self) -> list[Embryo]:
        return [e for k, e in self.embryos.items() if k == e.key]

    def _announce(self, cid: str, ts: float, recno: int, key: bytes,
                  client_is_src: bool) -> None:
        src, dst = _endpoints(key)
        client, server = (src, dst) if client_is_src else (dst, src)
        self.out.append(Opened(cid, ts, client=client, server=server, source=self.source,
                               origin="pcap", exact_bytes=True,
                               implicit_tls=server.port == IMPLICIT_TLS_PORT,
                               lmtp=server.port == LMTP_PORT, location=f"record {recno}"))

    def _conn(self, cid: str, ts: float, recno: int, key: bytes, client_is_src: bool,
              midstream: bool) -> Conn:
        rkey = reverse_key(key)
        conn = Conn(cid, ts)
        self.grown += 1
        first = Half(conn, Direction.CLIENT if client_is_src else Direction.SERVER, key)
        other = Half(conn, first.direction.other, rkey)
        first.peer, other.peer = other, first
        conn.client, conn.server = (first, other) if client_is_src else (other, first)
        self.halves[key] = first
        self.halves[rkey] = other
        self.conns[conn.cid] = conn
        self._announce(cid, ts, recno, key, client_is_src)
        if midstream:
            self.notice(conn, "capture.midstream",
                        "the capture starts after the connection opened (no SYN seen); "
                        "reading starts at the first captured segment", ts,
                        location=f"record {recno}")
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
        """Close connections idle since before ``now - idle_timeout`` (embryos: before
        ``now - embryo_timeout``), in the order they opened; expire memories."""
        limit = now - self.idle_timeout
        stale: list[Conn | Embryo] = [c for c in self.conns.values() if c.last < limit]
        if self.embryos:
            young = now - self.embryo_timeout
            stale += [e for e in self._embryos() if e.last < young]
        self._close_all(stale, "idle")
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
        self._close_all([*self.conns.values(), *self._embryos()], "eof")
        self.detector.probes.clear()

    def _close_all(self, conns: list[Conn | Embryo], reason: str) -> None:
        conns.sort(key=_order)  # as they opened (embryos grow up out of order)
        for conn in conns:
            if isinstance(conn, Embryo):
                self._close_embryo(conn, conn.last, reason)
            else:
                self.close(conn, conn.last, reason)


def _order(conn: Conn | Embryo) -> tuple[int, str]:
    return len(conn.cid), conn.cid  # C9 before C10


def _last(conn: Conn | Embryo) -> float:
    return conn.last



def _late(closed: tuple[float, int | None, int | None], seq: int, flags: int) -> bool:
    """Whether a segment on a closed 4-tuple belongs to the closed connection."""
    _, isn, final = closed
    if flags & SYN:
        return seq == isn  # a retransmitted SYN; a new ISN is a new connection
    if final is None:
        return True
    ahead = (seq - final) & MASK
    return ahead >= HALF or ahead < LATE_WINDOW
