"""Finding the next plausible record after damage in a capture file.

Neither format has a sync marker: a libpcap record (draft-ietf-opsawg-pcap §5) is a
16-byte header and its frame, a pcapng block (draft-ietf-opsawg-pcapng §3.1) a type, a
total length and a body ending in a copy of that length. So one wrong length makes
every byte after it unreadable unless the reader looks for where records start again.
The readers in :mod:`.files` only get here when a header is impossible; undamaged
files never do. A scan tries every byte offset after the damage (a regular expression
finds the offsets whose bytes could be a header, so long stretches of garbage go at C
speed) and stops at the first *plausible* record:

* libpcap: a header whose fraction of a second is below one second, whose captured
  length is at most the length limit and at most the original length, whose time is
  not more than a day before the last good record's, followed by a decodable frame
  (the link layer gives an IPv4 or IPv6 header), and then either the exact end of the
  file or a second header that fits too, within a day of the first.
* pcapng: a known block type (§10.1), a total length that is a multiple of 4 and long
  enough for the type, the trailing copy of the length matching (§3.1), a section
  header's byte-order magic (§4.1), and for packet blocks an interface that exists and
  a captured length inside the block (§4.3, §4.4).

A finder returns ``(found, at)``: found, ``at`` is the plausible record; not found,
every offset before ``at`` was ruled out and the rest needs more bytes (or, at the end
of the file, nothing plausible follows).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable

from smtplens.sources.pcap.link import DECODERS
from smtplens.sources.pcap.pcapng import BLOCK_MIN, BOMS, SHB_TYPE

#: two records more than this many seconds apart are not taken as neighbours
WINDOW = 86400
#: no sane block or record is longer than this (the same bound as :mod:`.files`)
MAX_RECORD = 64 << 20

#: ``(buf, start, stop)`` -> whether the frame there can be decoded
FrameCheck = Callable[[bytes, int, int], bool]
#: a finder bound to the reader's state: ``(buf, q, at_eof)`` -> ``(found, at)``
Find = Callable[[bytes, int, bool], tuple[bool, int]]


def scan(find: Find, read: Callable[[], bytes], buf: bytes, base: int, pos: int,
         at_eof: bool) -> tuple[bytes, int, int, bool]:
    """Look past the damaged record at ``buf[pos]`` (``base``: file offset of ``buf[0]``),
    reading more with ``read`` (empty at the end of the file) while the finder needs it.

    Returns ``(buf, base, at, found)``: ``buf[at]`` is the next plausible record, or
    with ``found`` false the end of the file was reached without one. Bytes ruled out
    are dropped from ``buf`` as it goes, so a long scan keeps memory flat.
    """
    q = pos + 1
    while True:
        found, q = find(buf, q, at_eof)
        if found or at_eof:
            return buf, base, q, found
        more = read()
        if not more:
            at_eof = True
        else:
            buf, base, q = buf[q:] + more, base + q, 0


def frame_check(link: int) -> FrameCheck:
    """Whether a frame of link type ``link`` carries a well-formed IP header start.

    Link types without a decoder in :mod:`.link` (scapy's) accept any frame; their
    records rest on the header checks alone.
    """
    decode = DECODERS.get(link)
    if decode is None:
        return lambda buf, start, stop: start < stop

    def ok(buf: bytes, start: int, stop: int) -> bool:
        o = decode(buf, start, stop)
        if o < 0:
            return False
        version = buf[o] >> 4
        if version == 4:  # RFC 791 §3.1: IHL is at least 5 words
            return buf[o] & 0x0F >= 5 and stop - o >= 20
        return version == 6 and stop - o >= 40  # RFC 8200 §3

    return ok


def ticks_per_second(scale: float) -> int:
    """§5: ts_usec counts microseconds, ts_nsec (another magic) nanoseconds."""
    return 1_000_000 if scale > 1e-7 else 1_000_000_000


def _byte_class(high: int) -> bytes:
    """A regex class for one byte in ``0..high``."""
    if high >= 0xFF:
        return b"."
    return b"[" + re.escape(b"\x00") + b"-" + re.escape(bytes([high])) + b"]"


class PcapFinder:
    """The next plausible libpcap record header (draft-ietf-opsawg-pcap §5)."""

    def __init__(self, endian: str, scale: float, limit: int, frame_ok: FrameCheck) -> None:
        self.scale = scale
        self.ticks = ticks_per_second(scale)
        self.limit = limit
        self.frame_ok = frame_ok
        self.header = struct.Struct(endian + "IIII").unpack_from
        # the most significant byte of the fraction and of the captured length is
        # bounded: a prefilter that every plausible header passes
        top = [0xFF] * 12
        frac_msb, incl_msb = (7, 11) if endian == "<" else (4, 8)
        top[frac_msb] = (self.ticks - 1) >> 24
        top[incl_msb] = limit >> 24
        self.prefilter = re.compile(b"(?=" + b"".join(map(_byte_class, top)) + b")", re.S)

    def _fits(self, buf: bytes, q: int) -> tuple[int, int] | None:
        """``(ts_sec, incl_len)`` of the header at ``q`` if its fields fit."""
        sec, frac, incl, orig = self.header(buf, q)
        if frac >= self.ticks or incl > self.limit or orig < incl or orig > MAX_RECORD:
            return None
        return sec, incl

    def find(self, buf: bytes, q: int, at_eof: bool, ref_sec: int | None) -> tuple[bool, int]:
        n = len(buf)
        search = self.prefilter.search
        while True:
            m = search(buf, q)
            if m is None:
                return False, max(q, n - 15)  # a header may start in the last 15 bytes
            q = m.start()
            if q + 16 > n:
                return False, q
            fits = self._fits(buf, q)
            if fits is not None and fits[1] > 0 and (ref_sec is None
                                                     or fits[0] >= ref_sec - WINDOW):
                sec, incl = fits
                end = q + 16 + incl
                if end + 16 > n and not at_eof:
                    return False, q  # decide with more bytes
                if (end + 16 <= n or end == n) and self.frame_ok(buf, q + 16, end):
                    if end == n:  # the last record of the file
                        return True, q
                    after = self._fits(buf, end)
                    if after is not None and abs(after[0] - sec) <= WINDOW:
                        return True, q
            q += 1

    def time_jump(self, buf: bytes, q: int) -> bool:
        """Whether the record at ``q``, whose time is far before the last one's, starts a
        run of good records (the clock was set back) rather than a misreading: its frame
        and the next two (those in ``buf``) decode, and their times are close."""
        n = len(buf)
        prev: int | None = None
        for _ in range(3):
            if q + 16 > n:
                return prev is not None
            fits = self._fits(buf, q)
            if fits is None or (prev is not None and abs(fits[0] - prev) > WINDOW):
                return False
            end = q + 16 + fits[1]
            if end > n:
                return prev is not None
            if not self.frame_ok(buf, q + 16, end):
                return False
            prev, q = fits[0], end
        return True

    def misread(self, buf: bytes, q: int, stop: int, recno: int,
                ts: float) -> tuple[int, int, float] | None:
        """The first of the records from ``buf[q]`` to ``buf[stop]`` whose time is a day
        before its predecessor's (``ts``: the time before ``q``, ``recno`` records read)
        and that starts no run of good records: ``(offset, recno, ts)`` before it."""
        prev = ts if recno else None
        while q < stop:
            sec, frac, incl, _orig = self.header(buf, q)
            if prev is not None and sec < prev - WINDOW and not self.time_jump(buf, q):
                return q, recno, prev
            prev = sec + frac * self.scale
            recno += 1
            q += 16 + incl
        return None


class PcapngFinder:
    """The next plausible pcapng block (draft-ietf-opsawg-pcapng §3.1)."""

    def __init__(self) -> None:
        types = [t for t in BLOCK_MIN if t != SHB_TYPE]
        self.prefilter: dict[str, re.Pattern[bytes]] = {}
        self.head: dict[str, Callable[[bytes, int], tuple[int, int]]] = {}
        self.u32: dict[str, Callable[[bytes, int], tuple[int]]] = {}
        self.packet: dict[str, Callable[[bytes, int], tuple[int, int]]] = {}
        for endian in "<>":
            codes = [re.escape(struct.pack(endian + "I", t)) for t in [SHB_TYPE, *types]]
            self.prefilter[endian] = re.compile(b"(?=" + b"|".join(codes) + b")", re.S)
            self.head[endian] = struct.Struct(endian + "II").unpack_from
            self.u32[endian] = struct.Struct(endian + "I").unpack_from
            # interface id and captured length of an EPB (§4.3) or Packet Block (App. A)
            self.packet[endian] = struct.Struct(endian + "I8xI").unpack_from

    def find(self, buf: bytes, q: int, at_eof: bool, endian: str,
             interfaces: int) -> tuple[bool, int]:
        n = len(buf)
        search = self.prefilter[endian].search
        while True:
            m = search(buf, q)
            if m is None:
                return False, max(q, n - 11)  # a block header may start in the last bytes
            q = m.start()
            if q + 12 > n:
                return False, q
            verdict = self._plausible(buf, q, endian, interfaces)
            if verdict is None and not at_eof:
                return False, q  # decide with more bytes
            if verdict:
                return True, q
            q += 1

    def _plausible(self, buf: bytes, q: int, endian: str, interfaces: int) -> bool | None:
        """Whether the block at ``q`` is plausible; None: it ends past ``buf``."""
        btype, blen = self.head[endian](buf, q)
        if btype == SHB_TYPE:  # §4.1: the section's own byte order
            section = BOMS.get(buf[q + 8:q + 12])
            if section is None:
                return False
            endian = section
            btype, blen = self.head[endian](buf, q)
        least = BLOCK_MIN.get(btype)
        if least is None or blen < least or blen & 3 or blen > MAX_RECORD:
            return False
        if q + blen > len(buf):
            return None
        if self.u32[endian](buf, q + blen - 4)[0] != blen:
            return False
        if btype in (6, 2):
            ifid, cap = self.packet[endian](buf, q + 8)
            if btype == 2:  # a 16-bit interface id, then a 16-bit drops count
                ifid = ifid >> 16 if endian == ">" else ifid & 0xFFFF
            return ifid < interfaces and cap <= blen - 32
        if btype == 3:
            return interfaces > 0
        return True
