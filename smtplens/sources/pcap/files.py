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

Plain, gzip, bzip2 and xz files are recognised by their first bytes. Damage in the middle
raises :class:`CaptureDamage`, which the caller turns into a ``Notice``.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import sys
import zlib
from collections.abc import Callable, Iterator
from typing import cast

from smtplens.errors import InputError

CHUNK = 1 << 20
#: libpcap accepts records up to max(snaplen, 262144) (pcap-common.h MAXIMUM_SNAPLEN)
MAX_SNAPLEN = 262144
#: no sane block or record is longer than this; a longer one is damage, not data
MAX_RECORD = 64 << 20

PCAP_MAGICS: dict[bytes, tuple[str, float]] = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),  # microseconds, little-endian writer
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),  # nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
_COMPRESSED = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")
#: what a broken compressed stream raises while being read
READ_ERRORS = (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error)

#: handles one packet: capture time, buffer, frame window, 1-based packet number
Handler = Callable[[float, bytes, int, int, int], None]
#: unpacks a libpcap record header: ``(buf, pos)`` -> ``(ts_sec, ts_frac, incl_len)``
Header = Callable[[bytes, int], tuple[int, int, int]]
#: handles the libpcap records of one buffer: ``(buf, pos, recno, ts)`` ->
#: ``(pos, recno, ts)`` after the last complete, sane record (ts: its time)
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
    """The capture is damaged at ``location``; everything before it was read."""

    def __init__(self, code: str, message: str, location: str) -> None:
        super().__init__(message)
        self.code = code  #: "input.truncated" or "input.corrupt-record"
        self.message = message
        self.location = location


def _open(path: str) -> io.BufferedIOBase:
    """Open ``path`` (``-`` is stdin) and undo gzip/bzip2/xz compression."""
    try:
        raw = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    except OSError as e:
        raise InputError(e.strerror or str(e), source=path) from e
    # peek() needs a BufferedReader (a pipe on stdin may be something else)
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(
        cast(io.RawIOBase, raw))
    head = buffered.peek(6)[:6]
    if head.startswith(_COMPRESSED[0]):
        return gzip.GzipFile(fileobj=buffered)
    if head.startswith(_COMPRESSED[1]):
        return bz2.BZ2File(buffered)
    if head.startswith(_COMPRESSED[2]):
        return lzma.LZMAFile(buffered)
    return buffered


def _describe(head: bytes) -> str:
    if not head:
        return "the file is empty"
    text = head[:8].hex(" ")
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head[:16]):  # a text file
        return f"starts with {text} {head[:16].decode('ascii')!r}"
    return f"starts with {text}"


class CaptureFile:
    """An opened capture; :meth:`feed` reads its packets once.

    Opening reads the file header, so a file that is not a capture fails here,
    before any packet is read.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fh = _open(path)
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
            raise InputError(f"not a pcap or pcapng capture ({_describe(head)})", source=path)
        self._head = head
        #: where the reader is: packets read, file offset, time of the latest packet
        self.recno = 0
        self.offset = 0
        self.last_ts = 0.0

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
        if self.format == "pcap":
            yield from self._pcap(handler_for, loop_for)
        else:
            yield from self._pcapng(handler_for)

    def _where(self) -> str:
        return f"record {self.recno + 1} (offset {self.offset})"

    def _more(self, buf: bytes, pos: int, unit: str) -> bytes | None:
        """``buf`` without its first ``pos`` bytes plus the next chunk; None at a clean
        end of file. Bytes left over at the end are a ``unit`` cut short."""
        try:
            more = self._read(CHUNK)
        except READ_ERRORS as e:
            code = "input.truncated" if isinstance(e, EOFError) else "input.corrupt-record"
            raise CaptureDamage(code, f"cannot read further: {e}", self._where()) from e
        if not more:
            if pos < len(buf):
                raise CaptureDamage(
                    "input.truncated",
                    f"the file ends inside a {unit} ({len(buf) - pos} bytes left over)",
                    self._where())
            return None
        return buf[pos:] + more if pos < len(buf) else more

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
        buf = head[24:]
        base = 24  # file offset of buf[0]
        pos = 0
        recno = 0
        ts = 0.0
        while True:
            n = len(buf)
            pos, recno, ts = loop(buf, pos, recno, ts)
            # the loop stops at the end of the buffer, a record that goes on in the next
            # read, or a record header with an impossible length
            if pos + 16 <= n and header(buf, pos)[2] > limit:
                self.recno, self.offset = recno, base + pos
                raise CaptureDamage(
                    "input.corrupt-record",
                    f"record header gives an impossible length ({header(buf, pos)[2]} "
                    f"bytes, snapshot length {snaplen})", self._where())
            self.recno, self.offset, self.last_ts = recno, base + pos, ts
            yield
            more = self._more(buf, pos, "packet record")
            if more is None:
                return
            base += pos
            buf, pos = more, 0

    # -- pcapng -------------------------------------------------------------------

    def _damage(self, message: str, recno: int, offset: int) -> CaptureDamage:
        self.recno, self.offset = recno, offset
        return CaptureDamage("input.corrupt-record", message, self._where())

    def _pcapng(self, handler_for: Callable[[int], Handler]) -> Iterator[None]:
        buf = self._head
        base = 0
        pos = 0
        recno = 0
        lay = _LAYOUTS["<"]
        ifaces: list[tuple[Handler, float, float, int]] = []  # handler, scale, offset, snaplen
        handlers: dict[int, Handler] = {}  # by link type
        last_ts = 0.0
        while True:
            n = len(buf)
            while pos + 12 <= n:
                try:  # the block header and, if it is an EPB, its fixed fields at once
                    btype, blen, ifid, hi, lo, cap = lay.epb(buf, pos)
                except struct.error:  # fewer than 24 bytes left in this buffer
                    btype, blen = lay.head(buf, pos)
                    ifid = hi = lo = cap = 0
                if btype == SHB_TYPE:  # a palindrome: the same in either byte order
                    # §4.1: the byte-order magic decides this section's endianness
                    bom = buf[pos + 8:pos + 12]
                    if bom not in _BOMS:
                        raise self._damage("section header with a bad byte-order magic",
                                           recno, base + pos)
                    lay = _LAYOUTS[_BOMS[bom]]
                    btype, blen = lay.head(buf, pos)
                    ifaces = []
                if blen < 12 or blen & 3 or blen > MAX_RECORD:
                    raise self._damage(
                        f"block of type {btype:#x} gives an impossible length ({blen})",
                        recno, base + pos)
                end = pos + blen
                if end > n:
                    break
                if lay.u32(buf, end - 4)[0] != blen:
                    raise self._damage(
                        f"block of type {btype:#x}: trailing length does not match ({blen})",
                        recno, base + pos)
                if btype == 6 or btype == 2:
                    # §4.3 Enhanced Packet Block / Appendix A Packet Block (obsolete)
                    if btype == 2:
                        ifid, hi, lo, cap = lay.opb(buf, pos + 8)
                    start = pos + 28
                    if ifid >= len(ifaces) or start + cap > end - 4:
                        what = ("an unknown interface" if ifid >= len(ifaces)
                                else "a captured length larger than the block")
                        raise self._damage(f"packet block with {what}", recno, base + pos)
                    handler, scale, tsoff, _snap = ifaces[ifid]
                    last_ts = ((hi << 32) | lo) * scale + tsoff
                    recno += 1
                    handler(last_ts, buf, start, start + cap, recno)
                elif btype == 3:
                    # §4.4 Simple Packet Block: interface 0, no timestamp
                    if not ifaces:
                        raise self._damage("simple packet block before any interface",
                                           recno, base + pos)
                    (orig,) = lay.u32(buf, pos + 8)
                    handler, _scale, _off, snap = ifaces[0]
                    cap = min(orig, blen - 16, snap or orig)
                    recno += 1
                    handler(last_ts, buf, pos + 12, pos + 12 + cap, recno)
                elif btype == 1:
                    link, scale, tsoff, snap = _interface(buf, pos, end, lay.endian)
                    handler = handlers.get(link) or handlers.setdefault(link, handler_for(link))
                    ifaces.append((handler, scale, tsoff, snap))
                pos = end
            self.recno, self.offset, self.last_ts = recno, base + pos, last_ts
            yield
            more = self._more(buf, pos, "block")
            if more is None:
                return
            base += pos
            buf, pos = more, 0


SHB_TYPE = 0x0A0D0D0A
_BOMS = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}


class _Layout:
    """The pcapng structures in one byte order, compiled once."""

    def __init__(self, endian: str) -> None:
        self.endian = endian
        self.head = struct.Struct(endian + "II").unpack_from  # block type, total length
        self.epb = struct.Struct(endian + "IIIIII").unpack_from  # + if, ts hi/lo, caplen
        self.opb = struct.Struct(endian + "H2xIII").unpack_from  # if, drops, ts, caplen
        self.u32 = struct.Struct(endian + "I").unpack_from


_LAYOUTS = {"<": _Layout("<"), ">": _Layout(">")}


def _interface(buf: bytes, pos: int, end: int, endian: str) -> tuple[int, float, float, int]:
    """§4.2 Interface Description Block: link type, tick length, time offset, snaplen."""
    link, snaplen = struct.unpack_from(endian + "H2xI", buf, pos + 8)
    scale = 1e-6  # default if_tsresol is 6 (microseconds)
    tsoff = 0.0
    opt = pos + 16
    stop = end - 4
    while opt + 4 <= stop:
        code, length = struct.unpack_from(endian + "HH", buf, opt)
        if code == 0:  # opt_endofopt
            break
        value = opt + 4
        if code == 9 and length >= 1:  # if_tsresol: 10^-n, or 2^-n when the top bit is set
            res = buf[value]
            scale = 2.0 ** -(res & 0x7F) if res & 0x80 else 10.0 ** -res
        elif code == 14 and length >= 8:  # if_tsoffset: seconds added to every timestamp
            tsoff = float(struct.unpack_from(endian + "q", buf, value)[0])
        opt = value + ((length + 3) & ~3)
    return link, scale, tsoff, snaplen
