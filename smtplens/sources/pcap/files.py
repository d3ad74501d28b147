"""libpcap and pcapng record readers: a handler call per packet, a yield per buffer.

Records are never copied: each packet is a ``buf[start:stop]`` window on a large read
buffer (about 1 MiB), framed with :func:`struct.unpack_from` and handed to the handler
of its interface's link type (a call, not a generator step: this loop runs once per
packet). Formats:

* libpcap: https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcap/ (§4 file header,
  §5 packet record); micro- and nanosecond magic, both byte orders.
* pcapng: https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcapng/ (§4.1 SHB, §4.2 IDB,
  §4.3 EPB, §4.4 SPB, Appendix A obsolete Packet Block); every section's own byte order,
  several interfaces with their own link type, ``if_tsresol`` and ``if_tsoffset``.

Plain, gzip, bzip2 and xz files are recognised by their first bytes. A record or block
header that cannot be right (an impossible length, a trailing length that does not match)
sends the reader looking for the next plausible one (:mod:`.resync`); each skipped span
is a :class:`CaptureDamage` handed to :attr:`CaptureFile.on_damage`, and the read goes on. Damage
that ends the read (nothing plausible follows, a cut file, a broken compressed stream)
raises :class:`CaptureDamage`. The caller turns both into ``Notice`` items.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable, Iterator

from smtplens.errors import InputError
from smtplens.sources.pcap.compressed import READ_ERRORS, describe, open_capture
from smtplens.sources.pcap.pcapng import BOMS, LAYOUTS, SHB_TYPE, interface, kept_interface
from smtplens.sources.pcap.resync import (
    WINDOW,
    Find,
    PcapFinder,
    PcapngFinder,
    frame_check,
    scan,
)

CHUNK = 1 << 20
#: libpcap accepts records up to max(snaplen, 262144) (pcap-common.h MAXIMUM_SNAPLEN)
MAX_SNAPLEN = 262144
#: no sane block or record is longer than this; a longer one is damage, not data
MAX_RECORD = 64 << 20
#: skipped spans reported one by one; any further ones are counted in one last notice
MAX_SPANS = 100

PCAP_MAGICS: dict[bytes, tuple[str, float]] = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),  # microseconds, little-endian writer
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),  # nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"

#: handles one packet: capture time, buffer, frame window, 1-based packet number
Handler = Callable[[float, bytes, int, int, int], None]
#: unpacks a libpcap record header: ``(buf, pos)`` -> ``(ts_sec, ts_frac, incl_len)``
Header = Callable[[bytes, int], tuple[int, int, int]]
#: handles the libpcap records of one buffer: ``(buf, pos, recno, ts)`` ->
#: ``(pos, recno, ts)`` after the last complete, sane record (ts: its time; sane: the
#: captured length is within the limit)
Loop = Callable[[bytes, int, int, float], tuple[int, int, float]]
#: ``(linktype, handler, header unpack, tick length, length limit)`` -> a Loop or None
LoopFactory = Callable[[int, Handler, Header, float, int], "Loop | None"]


def pcap_loop(handler: Handler, header: Header, scale: float, limit: int) -> Loop:
    """The plain libpcap record loop: one handler call per record (§5 packet record:
    ts_sec, ts_usec or ts_nsec, captured length, original length, data)."""

    def loop(buf: bytes, pos: int, recno: int, ts: float) -> tuple[int, int, float]:
        n = len(buf)
        last = n - 16  # the last offset where a record header fits
        while pos <= last:
            sec, frac, incl = header(buf, pos)
            end = pos + 16 + incl
            if end > n or incl > limit:
                break
            recno += 1
            ts = sec + frac * scale
            handler(ts, buf, pos + 16, end, recno)
            pos = end
        return pos, recno, ts

    return loop


class CaptureDamage(Exception):
    """The capture is damaged at ``location``: raised, everything before it was read; in
    :attr:`CaptureFile.on_damage`, a span was skipped and the read went on after it."""

    def __init__(self, code: str, message: str, location: str) -> None:
        super().__init__(message)
        self.code = code  #: "input.truncated" or "input.corrupt-record"
        self.message = message
        self.location = location


class CaptureFile:
    """An opened capture; :meth:`feed` reads its packets once.

    Opening reads the file header, so a file that is not a capture fails here,
    before any packet is read.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fh = open_capture(path)
        self._error: Exception | None = None  # a read error held back (see _read)
        try:
            head = self._read(28)
        except READ_ERRORS as e:
            self._fh.close()
            raise InputError(f"not a pcap or pcapng capture (cannot decompress: {e})",
                             source=path) from e
        if head[:4] in PCAP_MAGICS and len(head) >= 24:
            self.format = "pcap"
        elif head[:4] == PCAPNG_SHB and len(head) >= 12 and head[8:12] in (
                b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
            self.format = "pcapng"
        else:
            self._fh.close()
            raise InputError(f"not a pcap or pcapng capture ({describe(head)})", source=path)
        self._head = head
        #: where the reader is: packets read, file offset, time of the latest packet
        self.recno = 0
        self.offset = 0
        self.last_ts = 0.0
        #: spans skipped to the next plausible record (when nobody set on_damage)
        self.damage: list[CaptureDamage] = []
        #: called with each skipped span as the reader finds it, in packet order
        self.on_damage: Callable[[CaptureDamage], None] = self.damage.append
        self._spans = 0  # skipped spans so far
        self._unlisted = 0  # bytes in the spans past MAX_SPANS

    def _read(self, n: int) -> bytes:
        """Up to ``n`` bytes. A decompressor hands out what it has before failing: a read
        that breaks returns the bytes so far and the error is raised at the next read."""
        if self._error is not None:
            raise self._error
        parts: list[bytes] = []
        got = 0
        try:
            while got < n:
                piece = self._fh.read1(n - got)
                if not piece:
                    break
                parts.append(piece)
                got += len(piece)
        except READ_ERRORS as e:
            if not parts:
                raise
            self._error = e
        return b"".join(parts)

    def close(self) -> None:
        if self._fh is not sys.stdin.buffer:
            self._fh.close()

    def feed(self, handler_for: Callable[[int], Handler],
             loop_for: LoopFactory | None = None) -> Iterator[None]:
        """Call a handler for every packet, yielding after each read buffer.

        ``handler_for(linktype)`` gives the handler for one interface's packets; it is
        called as ``handler(ts, buf, start, stop, recno)``. For libpcap files,
        ``loop_for`` may supply the whole per-buffer loop instead (see
        :data:`LoopFactory`), so the common packet costs no call. Raises
        :class:`CaptureDamage` at damage, after handling every packet before it.
        """
        try:
            if self.format == "pcap":
                yield from self._pcap(handler_for, loop_for)
            else:
                yield from self._pcapng(handler_for)
        finally:
            if self._spans > MAX_SPANS:
                self.on_damage(CaptureDamage(
                    "input.corrupt-record",
                    f"{self._spans - MAX_SPANS:,} more damaged spans ({self._unlisted:,} bytes "
                    f"skipped in all) were not listed one by one", ""))

    def _where(self) -> str:
        return f"record {self.recno + 1} (offset {self.offset})"

    def _chunk(self) -> bytes:
        """The next chunk of the file, empty at its end."""
        try:
            return self._read(CHUNK)
        except READ_ERRORS as e:
            code = "input.truncated" if isinstance(e, EOFError) else "input.corrupt-record"
            raise CaptureDamage(code, f"cannot read further: {e}", self._where()) from e

    def _cut(self, buf: bytes, pos: int, unit: str) -> CaptureDamage:
        return CaptureDamage(
            "input.truncated", f"the file ends inside a {unit} ({len(buf) - pos} bytes left "
            "over)", self._where())

    def _resync(self, buf: bytes, base: int, pos: int, at_eof: bool, find: Find, unit: str,
                reason: str) -> tuple[bytes, int, int]:
        """Skip from the damaged ``unit`` at ``buf[pos]`` to the next plausible one.

        Returns ``(buf, base, pos)`` with ``pos`` at that one, after noting the skipped
        span in :attr:`damage`; raises :class:`CaptureDamage` if none follows.
        """
        start = base + pos
        self.offset = start  # self.recno: the records before the damage
        what = f"damaged {unit} at offset {start} (record {self.recno + 1}): {reason}"
        buf, base, q, found = scan(find, self._chunk, buf, base, pos, at_eof)
        stop = base + q
        if not found:
            stop = base + len(buf)
            end = "no packet could be read" if self.recno == 0 else "the read ends here"
            raise CaptureDamage("input.corrupt-record", f"{what}; no plausible {unit} follows "
                                f"in the remaining {stop - start:,} bytes: {end}", self._where())
        self._spans += 1
        if self._spans <= MAX_SPANS:
            self.on_damage(CaptureDamage(
                "input.corrupt-record", f"{what}; skipped {stop - start:,} bytes to the next "
                f"plausible {unit} at offset {stop}", self._where()))
        else:
            self._unlisted += stop - start
        return buf, base, q

    # -- libpcap ------------------------------------------------------------------

    def _pcap(self, handler_for: Callable[[int], Handler],
              loop_for: LoopFactory | None) -> Iterator[None]:
        head = self._head
        endian, scale = PCAP_MAGICS[head[:4]]
        snaplen, link = struct.unpack_from(endian + "II", head, 16)
        # the FCS-length bits of the link-type field (draft-ietf-opsawg-pcap §4) are not
        # part of the link type
        link &= 0x0FFFFFFF
        limit = min(max(snaplen, MAX_SNAPLEN), MAX_RECORD)
        handler = handler_for(link)
        header: Header = struct.Struct(endian + "III").unpack_from
        loop = loop_for(link, handler, header, scale, limit) if loop_for else None
        if loop is None:
            loop = pcap_loop(handler, header, scale, limit)
        finder: list[PcapFinder] = []  # made at the first damage

        def pcap_finder() -> PcapFinder:
            if not finder:
                finder.append(PcapFinder(endian, scale, limit, frame_check(link)))
            return finder[0]

        def find(buf: bytes, q: int, at_eof: bool) -> tuple[bool, int]:  # a Find
            return pcap_finder().find(buf, q, at_eof, int(ts) if recno else None)

        buf = head[24:]
        base = 24  # file offset of buf[0]
        pos = 0
        recno = 0
        ts = 0.0
        while True:
            n = len(buf)
            first, first_recno, first_ts = pos, recno, ts
            pos, recno, ts = loop(buf, pos, recno, ts)
            reason = ""
            if recno > first_recno and ts < (first_ts if first_recno
                                             else header(buf, first)[0]) - WINDOW:
                # a wrong length that was still possible leaves the loop reading headers
                # at an offset inside records; that can go on (4 bytes on: the fraction
                # as seconds, in 1970), so it is looked for once per buffer, not per record
                wrong = pcap_finder().misread(buf, first, pos, first_recno, first_ts)
                if wrong is not None:
                    pos, recno, ts = wrong
                    sec = header(buf, pos)[0]
                    reason = (f"record header gives a time {(ts - sec) / 86400:,.0f} days "
                              "before the record before it")
            elif pos + 16 <= n and (incl := header(buf, pos)[2]) > limit:
                # §5: the captured length is at most the snapshot length
                reason = (f"record header gives an impossible length ({incl:,} bytes, "
                          f"snapshot length {snaplen:,})")
            self.recno, self.offset, self.last_ts = recno, base + pos, ts
            if reason:  # the loop stopped at a header that is not sane
                buf, base, pos = self._resync(buf, base, pos, False, find, "record", reason)
                continue
            yield
            more = self._chunk()
            if not more:
                if pos >= len(buf):
                    return
                if pos + 16 > len(buf):
                    raise self._cut(buf, pos, "packet record")
                # a length that fits the limit but runs past the end: damage if a
                # plausible record follows, else a file cut short
                incl = header(buf, pos)[2]
                try:
                    buf, base, pos = self._resync(
                        buf, base, pos, True, find, "record",
                        f"its length ({incl:,} bytes) runs past the end of the file")
                except CaptureDamage:
                    raise self._cut(buf, pos, "packet record") from None
                continue
            base += pos
            buf, pos = buf[pos:] + more if pos < len(buf) else more, 0

    # -- pcapng -------------------------------------------------------------------

    def _pcapng(self, handler_for: Callable[[int], Handler]) -> Iterator[None]:
        buf = self._head
        base = 0
        pos = 0
        recno = 0
        lay = LAYOUTS["<"]
        ifaces: list[tuple[Handler, float, float, int]] = []  # handler, scale, offset, snaplen
        handlers: dict[int, Handler] = {}  # by link type
        last_ts = 0.0
        finder: list[PcapngFinder] = []  # made at the first damage

        def find_for(endian: str, interfaces: int) -> Find:
            if not finder:
                finder.append(PcapngFinder())
            return lambda buf, q, at_eof: finder[0].find(buf, q, at_eof, endian, interfaces)

        while True:
            n = len(buf)
            try:
                while pos + 12 <= n:
                    try:  # the block header and, if it is an EPB, its fixed fields at once
                        btype, blen, ifid, hi, lo, cap = lay.epb(buf, pos)
                    except struct.error:  # fewer than 24 bytes left in this buffer
                        btype, blen = lay.head(buf, pos)
                        ifid = hi = lo = cap = 0
                    if btype == SHB_TYPE:  # a palindrome: the same in either byte order
                        # §4.1: the byte-order magic decides this section's endianness
                        bom = buf[pos + 8:pos + 12]
                        if bom not in BOMS:
                            raise _Damaged("section header with a bad byte-order magic")
                        lay = LAYOUTS[BOMS[bom]]
                        btype, blen = lay.head(buf, pos)
                        ifaces = []
                    if blen < 12 or blen & 3 or blen > MAX_RECORD:
                        raise _Damaged(
                            f"block of type {btype:#x} gives an impossible length ({blen:,})")
                    end = pos + blen
                    if end > n:
                        break
                    if lay.u32(buf, end - 4)[0] != blen:
                        # §3.1: the total length is repeated at the end of every block
                        raise _Damaged(f"block of type {btype:#x}: trailing length does not "
                                       f"match ({blen:,})")
                    if btype == 6 or btype == 2:
                        # §4.3 Enhanced Packet Block / Appendix A Packet Block (obsolete)
                        if btype == 2:
                            ifid, hi, lo, cap = lay.opb(buf, pos + 8)
                        start = pos + 28
                        if ifid >= len(ifaces) or start + cap > end - 4:
                            raise _Damaged("packet block with " + (
                                "an unknown interface" if ifid >= len(ifaces)
                                else "a captured length larger than the block"))
                        handler, scale, tsoff, _snap = ifaces[ifid]
                        last_ts = ((hi << 32) | lo) * scale + tsoff
                        recno += 1
                        handler(last_ts, buf, start, start + cap, recno)
                    elif btype == 3:
                        # §4.4 Simple Packet Block: interface 0, no timestamp
                        if not ifaces:
                            raise _Damaged("simple packet block before any interface")
                        (orig,) = lay.u32(buf, pos + 8)
                        handler, _scale, _off, snap = ifaces[0]
                        cap = min(orig, blen - 16, snap or orig)
                        recno += 1
                        handler(last_ts, buf, pos + 12, pos + 12 + cap, recno)
                    elif btype == 1:
                        link, scale, tsoff, snap = interface(buf, pos, end, lay.endian)
                        handler = handlers.get(link) or handlers.setdefault(
                            link, handler_for(link))
                        ifaces.append((handler, scale, tsoff, snap))
                    pos = end
            except _Damaged as damaged:
                self.recno = recno
                reason = str(damaged) + kept_interface(buf, pos, lay, ifaces, handlers,
                                                        handler_for)
                buf, base, pos = self._resync(buf, base, pos, False,
                                              find_for(lay.endian, len(ifaces)), "block", reason)
                continue
            self.recno, self.offset, self.last_ts = recno, base + pos, last_ts
            yield
            more = self._chunk()
            if not more:
                if pos >= len(buf):
                    return
                if pos + 12 > len(buf):
                    raise self._cut(buf, pos, "block")
                # a length that runs past the end: damage if a plausible block follows
                btype, blen = lay.head(buf, pos)
                reason = (f"block of type {btype:#x} ({blen:,} bytes) runs past the end of "
                          "the file" + kept_interface(buf, pos, lay, ifaces, handlers,
                                                       handler_for))
                try:
                    buf, base, pos = self._resync(
                        buf, base, pos, True, find_for(lay.endian, len(ifaces)), "block",
                        reason)
                except CaptureDamage:
                    raise self._cut(buf, pos, "block") from None
                continue
            base += pos
            buf, pos = buf[pos:] + more if pos < len(buf) else more, 0


class _Damaged(Exception):
    """A pcapng block that cannot be right (internal: the reader resyncs after it)."""
