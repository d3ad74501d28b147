"""IPv4 and IPv6: find the TCP segment in a datagram, reassembling fragments.

:class:`IpLayer` hands each TCP segment to a ``segment`` callback as
``(ts, recno, addrs, buf, tcp_offset, stop, cut)``: ``addrs`` is the source address
followed by the destination address (4+4 or 16+16 bytes), ``buf[tcp_offset:stop]`` the
captured segment and ``cut`` the number of bytes the snapshot length cut off its end.

* IPv4: RFC 791 §3.1 (header, options via IHL, fragments), RFC 815 (reassembly).
* IPv6: RFC 8200 §4 (extension headers: Hop-by-Hop 0, Routing 43, Fragment 44,
  Destination Options 60), RFC 4302 (AH 51), RFC 6946 (atomic fragments).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

Segment = Callable[[float, int, bytes, bytes, int, int, int], None]

TCP = 6
NO_NEXT_HEADER = 59
IPV6_EXT = frozenset((0, 43, 60))  # hop-by-hop, routing, destination options: (len+1)*8
IPV6_AH = 51
IPV6_FRAGMENT = 44

#: reassembly limits: RFC 791 caps a datagram at 65535 bytes; at most this many datagrams
#: wait at once, each for at most FRAG_TIMEOUT seconds of capture time (Linux uses 30 s)
MAX_DATAGRAM = 65535
MAX_PENDING = 1024
MAX_PIECES = 128
FRAG_TIMEOUT = 30.0

_V4 = struct.Struct("!HHHBB").unpack_from  # total length, id, flags+offset, ttl, protocol
_V6 = struct.Struct("!HB").unpack_from  # payload length, next header
_V6FRAG = struct.Struct("!BxHI").unpack_from  # next header, offset+M, identification


class _Datagram:
    """Fragments of one datagram waiting to be complete."""

    __slots__ = ("addrs", "pieces", "proto", "size", "total", "ts")

    def __init__(self, ts: float, proto: int, addrs: bytes) -> None:
        self.ts = ts
        self.pieces: dict[int, bytes] = {}  # fragment offset -> bytes (first copy wins)
        self.total: int | None = None  # known once the last fragment (MF=0) arrived
        self.size = 0
        self.proto = proto
        self.addrs = addrs

    def add(self, offset: int, data: bytes, last: bool) -> bytes | None:
        """Add one fragment; the reassembled payload once every byte is there."""
        if offset not in self.pieces:
            self.pieces[offset] = data
            self.size += len(data)
        if last:
            self.total = offset + len(data)
        if self.total is None or self.size < self.total:
            return None
        parts = []
        pos = 0
        for off in sorted(self.pieces):
            piece = self.pieces[off]
            if off > pos:
                return None  # a hole: overlapping pieces inflated the size
            if off + len(piece) > pos:
                parts.append(piece[pos - off:])  # overlaps: the first copy wins
                pos = off + len(piece)
        return b"".join(parts) if pos >= self.total else None


class Fragments:
    """Bounded reassembly of fragmented IPv4 and IPv6 datagrams."""

    def __init__(self) -> None:
        self._pending: dict[bytes, _Datagram] = {}  # insertion order = age
        self.dropped = 0  #: datagrams given up (timeout, limits)

    def add(self, key: bytes, ts: float, proto: int, addrs: bytes, offset: int,
            data: bytes, last: bool) -> tuple[int, bytes, bytes] | None:
        """``(protocol, addrs, payload)`` once the datagram ``key`` is complete."""
        pending = self._pending
        while pending:  # expire from the oldest
            oldest = next(iter(pending))
            if pending[oldest].ts >= ts - FRAG_TIMEOUT and len(pending) < MAX_PENDING:
                break
            del pending[oldest]
            self.dropped += 1
        dg = pending.get(key)
        if dg is None:
            dg = pending[key] = _Datagram(ts, proto, addrs)
        if offset + len(data) > MAX_DATAGRAM or len(dg.pieces) >= MAX_PIECES:
            del pending[key]
            self.dropped += 1
            return None
        payload = dg.add(offset, data, last)
        if payload is None:
            return None
        del pending[key]
        return dg.proto, dg.addrs, payload


class IpLayer:
    """Parses IPv4/IPv6 headers and passes TCP segments on to ``segment``."""

    def __init__(self, segment: Segment) -> None:
        self.segment = segment
        self.fragments = Fragments()

    def ipv4(self, ts: float, recno: int, buf: bytes, o: int, stop: int) -> None:
        """RFC 791 §3.1 header at ``buf[o]``; ``stop`` ends the captured frame."""
        if stop - o < 20:
            return
        ihl = (buf[o] & 0x0F) << 2
        total, _ident, frag, _ttl, proto = _V4(buf, o + 2)
        if proto != TCP or ihl < 20:
            return
        # the total length trims Ethernet padding; 0 is what TSO captures show
        end = o + total if total >= ihl else stop
        cut = 0
        if end > stop:
            cut, end = end - stop, stop
        t = o + ihl
        if frag & 0x3FFF:  # MF set or a non-zero offset: a fragment
            if cut or t > end:
                return
            addrs = buf[o + 12:o + 20]
            done = self.fragments.add(addrs + buf[o + 4:o + 6] + b"\x06", ts, TCP, addrs,
                                      (frag & 0x1FFF) << 3, buf[t:end], not frag & 0x2000)
            if done is not None:
                payload = done[2]
                if len(payload) >= 20:
                    self.segment(ts, recno, addrs, payload, 0, len(payload), 0)
            return
        if t + 20 > end:
            return
        self.segment(ts, recno, buf[o + 12:o + 20], buf, t, end, cut)

    def ipv6(self, ts: float, recno: int, buf: bytes, o: int, stop: int) -> None:
        """RFC 8200 §3 header at ``buf[o]``, then the extension-header chain (§4)."""
        if stop - o < 40:
            return
        plen, nh = _V6(buf, o + 4)
        end = o + 40 + plen if plen else stop  # 0: jumbogram (RFC 2675) or TSO
        cut = 0
        if end > stop:
            cut, end = end - stop, stop
        p = o + 40
        if nh != TCP:
            p, nh = _skip_extensions(buf, p, end, nh)
            if nh == IPV6_FRAGMENT:
                if cut or p + 8 > end:
                    return
                inner, offm, ident = _V6FRAG(buf, p)
                addrs = buf[o + 8:o + 40]
                if offm & 0xFFF9 == 0:  # RFC 6946: an atomic fragment is a whole packet
                    p, nh = _skip_extensions(buf, p + 8, end, inner)
                else:
                    done = self.fragments.add(addrs + ident.to_bytes(4, "big"), ts, inner,
                                              addrs, offm & 0xFFF8, buf[p + 8:end],
                                              not offm & 1)
                    if done is not None:
                        proto, _, payload = done
                        q, nh = _skip_extensions(payload, 0, len(payload), proto)
                        if nh == TCP and q + 20 <= len(payload):
                            self.segment(ts, recno, addrs, payload, q, len(payload), 0)
                    return
            if nh != TCP:
                return
        if p + 20 > end:
            return
        self.segment(ts, recno, buf[o + 8:o + 40], buf, p, end, cut)


def _skip_extensions(buf: bytes, p: int, end: int, nh: int) -> tuple[int, int]:
    """Skip IPv6 extension headers up to TCP or a Fragment header: ``(offset, next)``."""
    while nh != TCP and nh != IPV6_FRAGMENT:
        if p + 8 > end:
            return p, NO_NEXT_HEADER
        if nh in IPV6_EXT:
            nh, p = buf[p], p + ((buf[p + 1] + 1) << 3)
        elif nh == IPV6_AH:
            nh, p = buf[p], p + ((buf[p + 1] + 2) << 2)
        else:
            return p, nh  # ESP, ICMPv6, UDP, no next header...: not TCP
    return p, nh
