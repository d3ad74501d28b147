"""TCP reassembly: ordered byte chunks per connection and direction (RFC 9293).

Theory of operation. Every connection has two :class:`Half` objects, one per
direction, found by a *direction key*: source address, destination address, source
port, destination port as one bytes object (the packet's own bytes, no parsing). A half
knows the next sequence number it expects (``nxt``); a segment starting there is
appended to the connection's pending chunk (the fast path). Everything else goes through
the slow path:

* sequence numbers compare modulo 2**32 (RFC 9293 §3.4, RFC 1982 serial arithmetic);
* a segment before ``nxt`` is a retransmission: its bytes are compared with what was
  delivered (the pending chunk and a short tail) and dropped; the first copy wins and a
  difference is a ``capture.overlap-conflict`` notice (RFC 9293 §3.10.7.4);
* a segment after ``nxt`` waits in a bounded out-of-order buffer; the hole before it
  becomes a :class:`~smtplens.stream.Gap` when the other side acknowledges data the
  capture never had, when the buffer is full, or at close;
* FIN ends a direction once its bytes are complete; both directions ended (or the other
  one never seen) close the connection; RST closes at once.

Coalescing: in-order payload of one direction accumulates in ``Conn.chunks`` and is
emitted as a single :class:`~smtplens.stream.Data` when the other direction sends
payload, at a gap or close, or past :data:`COALESCE` bytes, so the order of the two
directions is the capture order while message bodies travel in large chunks.

:mod:`.hotpath` repeats the in-order fast path of :meth:`Stream.segment` inline for the
common packet; the two must stay in step (the tests compare their output).
"""

from __future__ import annotations

import struct

from smtplens.sources.pcap.conn import (
    ACK,
    FIN,
    HALF,
    MASK,
    RST,
    SYN,
    Conn,
    Half,
    Outputs,
)

COALESCE = 64 * 1024
#: out-of-order limits per direction: past them the first hole becomes a Gap
OOO_MAX_BYTES = 1 << 20
OOO_MAX_SEGMENTS = 1024

_SEQ = struct.Struct("!IIH").unpack_from  # sequence, acknowledgment, offset+flags


class Stream(Outputs):
    """Sequence handling of open connections; :class:`~.flows.Flows` opens and closes them."""

    def segment(self, ts: float, recno: int, addrs: bytes, buf: bytes, t: int, stop: int,
                cut: int) -> None:
        """One TCP segment: header at ``buf[t]``, captured bytes up to ``stop``."""
        key = addrs + buf[t:t + 4]
        half = self.halves.get(key)
        if half is None:
            self.unknown(ts, recno, key, addrs, buf, t, stop, cut)
            return
        seq, ack, hflags = _SEQ(buf, t + 4)
        conn = half.conn
        conn.last = ts
        p = t + ((hflags >> 10) & 0x3C)  # RFC 9293 §3.1: data offset in 32-bit words
        if hflags & 0x07:  # FIN, SYN or RST
            if self._control(half, ts, seq, ack, hflags, buf, p, stop, cut):
                self.unknown(ts, recno, key, addrs, buf, t, stop, cut)
            return
        if p < stop:
            if seq == half.nxt and not cut:
                data = buf[p:stop]
                half.nxt = (seq + stop - p) & MASK
                if conn.pend is half:
                    conn.chunks.append(data)
                    conn.size += stop - p
                    if conn.size > COALESCE:
                        self.flush(conn)
                else:
                    self.start_chunk(conn, half, data, ts)
            else:
                self.payload(half, ts, seq, buf, p, stop, cut)
        else:
            half.seen = True
        if conn.slow:
            self.after(half, ack, hflags, ts)

    def after(self, half: Half, ack: int, hflags: int, ts: float) -> None:
        """The rest of a segment of a connection with buffered segments or a FIN."""
        if half.slow:
            self.settle(half, ts)
        peer = half.peer
        if peer.slow and hflags & ACK and half.conn.open:
            self.acked(peer, ack, ts)

    def unknown(self, ts: float, recno: int, key: bytes, addrs: bytes, buf: bytes, t: int,
                stop: int, cut: int) -> None:
        """A segment of no open connection (see :meth:`.flows.Flows.unknown`)."""
        raise NotImplementedError

    def close(self, conn: Conn, ts: float, reason: str) -> None:
        """End ``conn`` (see :meth:`.flows.Flows.close`)."""
        raise NotImplementedError

    # -- delivery -----------------------------------------------------------------

    def start_chunk(self, conn: Conn, half: Half, data: bytes, ts: float) -> None:
        """``half`` sends payload while the pending chunk is the other side's (or empty)."""
        if conn.pend is not None:
            self.flush(conn)
        conn.pend = half
        conn.chunks = [data]
        conn.size = len(data)
        conn.pend_ts = ts

    def _deliver(self, half: Half, data: bytes, ts: float) -> None:
        half.nxt = (half.nxt + len(data)) & MASK  # type: ignore[operator]
        conn = half.conn
        if conn.pend is half:
            conn.chunks.append(data)
            conn.size += len(data)
            if conn.size > COALESCE:
                self.flush(conn)
        else:
            self.start_chunk(conn, half, data, ts)

    def payload(self, half: Half, ts: float, seq: int, buf: bytes, p: int, stop: int,
                 cut: int) -> None:
        """Payload that is not simply the next in-order segment."""
        nxt = half.nxt
        if nxt is None:  # no SYN seen for this side: its stream starts here
            nxt = half.nxt = half.base = (seq + half.skip) & MASK
        n = stop - p
        if (seq - nxt) & MASK >= HALF:  # starts before nxt: retransmission or overlap
            behind = (nxt - seq) & MASK
            if behind >= n:
                self.compare(half, seq, buf[p:stop], ts)
                if behind < n + cut:  # the new part of it was cut off by the snaplen
                    self.gap(half, n + cut - behind, ts)
                return
            self.compare(half, seq, buf[p:p + behind], ts)
            p += behind
            seq = nxt
        if seq == nxt:
            self._deliver(half, buf[p:stop], ts)
            if cut:
                self.gap(half, cut, ts)
            if half.slow:
                self.settle(half, ts)
        else:
            self._buffer(half, seq, buf[p:stop], ts)

    def _buffer(self, half: Half, seq: int, data: bytes, ts: float) -> None:
        """Keep a segment that starts after ``nxt`` until the hole before it is filled."""
        ooo = half.ooo
        old = ooo.get(seq)
        if old is None:
            ooo[seq] = data
            half.ooo_bytes += len(data)
        else:
            m = min(len(old), len(data))
            if old[:m] != data[:m]:
                self.conflict(half, seq, m, ts)
            if len(data) > len(old):
                ooo[seq] = old + data[len(old):]
                half.ooo_bytes += len(data) - len(old)
        half.set_slow(True)
        if half.ooo_bytes > OOO_MAX_BYTES or len(ooo) > OOO_MAX_SEGMENTS:
            self.skip_hole(half, ts)

    def settle(self, half: Half, ts: float) -> None:
        """Deliver buffered segments that became in-order; close when both sides ended."""
        ooo = half.ooo
        while ooo:
            nxt: int = half.nxt  # type: ignore[assignment]
            data = ooo.pop(nxt, None)
            if data is None:
                if nxt == half.checked:
                    break  # nothing moved since the last search
                seq = _first_behind(ooo, nxt)
                if seq is None:
                    half.checked = nxt
                    break
                data = ooo.pop(seq)
                half.ooo_bytes -= len(data)
                behind = (nxt - seq) & MASK
                self.compare(half, seq, data[:behind], ts)
                if behind >= len(data):
                    continue
                data = data[behind:]
            else:
                half.ooo_bytes -= len(data)
            self._deliver(half, data, ts)
        half.set_slow(bool(ooo) or half.fin is not None)
        if half.fin is not None and half.done and half.conn.open:
            peer = half.peer
            if peer.done or peer.silent:
                self.close(half.conn, ts, "fin")

    def gap(self, half: Half, size: int, ts: float) -> None:
        """``size`` bytes of ``half`` are missing: emit a Gap and continue after them."""
        conn = half.conn
        self.flush(conn)
        self.emit_gap(conn, half, size, ts)
        half.nxt = (half.nxt + size) & MASK  # type: ignore[operator]
        half.tail = b""

    def skip_hole(self, half: Half, ts: float) -> None:
        """Give up waiting for the hole before the nearest buffered segment."""
        nxt: int = half.nxt  # type: ignore[assignment]
        nearest = min((s - nxt) & MASK for s in half.ooo)
        if nearest:
            self.gap(half, nearest, ts)
        self.settle(half, ts)

    def acked(self, half: Half, ack: int, ts: float) -> None:
        """The peer of ``half`` acknowledged up to ``ack``: holes before it are capture loss."""
        nxt = half.nxt
        if nxt is None:
            return
        d = (ack - nxt) & MASK
        if d == 0 or d >= HALF:
            return
        limit = d
        for s in half.ooo:
            limit = min(limit, (s - nxt) & MASK)
        if half.fin is not None:
            df = (half.fin - nxt) & MASK
            if df < HALF:
                limit = min(limit, df)
        if limit:
            self.gap(half, limit, ts)
        self.settle(half, ts)

    # -- control ------------------------------------------------------------------

    def _control(self, half: Half, ts: float, seq: int, ack: int, hflags: int, buf: bytes,
                 p: int, stop: int, cut: int) -> bool:
        """SYN, FIN and RST; True when the packet starts a new connection on this 4-tuple."""
        conn = half.conn
        half.seen = True
        if hflags & RST:
            # RFC 9293 §3.10.7.4 checks the RST against the window; a capture sees both
            # sides' windows only approximately, so it believes every RST
            self.close(conn, ts, "rst")
            return False
        if hflags & SYN:
            if half.isn is None and half.nxt is None:
                half.isn = seq
                half.nxt = half.base = (seq + 1 + half.skip) & MASK
            elif seq != half.isn:
                # a SYN with a new initial sequence number: the port pair is reused
                # (RFC 9293 §3.10.7.4, TIME-WAIT assassination aside)
                self.close(conn, ts, "eof")
                return True
            seq = (seq + 1) & MASK  # the SYN occupies one sequence number
        if p < stop:
            self.payload(half, ts, seq, buf, p, stop, cut)
        if not conn.open:
            return False
        if hflags & FIN:
            if half.nxt is None:
                half.nxt = half.base = seq
            if half.fin is None:
                half.fin = (seq + max(stop - p, 0) + cut) & MASK
            half.set_slow(True)
            self.settle(half, ts)
        if conn.open and hflags & ACK and half.peer.slow:
            self.acked(half.peer, ack, ts)
        return False


def _first_behind(ooo: dict[int, bytes], nxt: int) -> int | None:
    """A buffered sequence number at or before ``nxt`` (an overlapping segment), if any."""
    for seq in ooo:
        if (nxt - seq) & MASK < HALF:
            return seq
    return None
