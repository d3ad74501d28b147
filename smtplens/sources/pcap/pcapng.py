"""pcapng structures (draft-ietf-opsawg-pcapng), compiled once per byte order.

Block types and least total lengths (§10.1), the section header's byte-order magic
(§4.1), the fixed fields of the packet blocks (§4.3, §4.4, Appendix A) and the options
of an Interface Description Block that change timestamps (§4.2).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TypeVar

H = TypeVar("H")  # a packet handler (see .files)

SHB_TYPE = 0x0A0D0D0A  # a palindrome: the same in either byte order
#: §10.1 block types, with the least total length of each: SHB, IDB, Packet Block
#: (obsolete), SPB, NRB, ISB, EPB, IRIG timestamp, ARINC 429, systemd journal export,
#: Decryption Secrets, Custom (copyable and not)
BLOCK_MIN = {SHB_TYPE: 28, 1: 20, 2: 32, 3: 16, 4: 16, 5: 24, 6: 32, 7: 12, 8: 12, 9: 12,
             0xA: 20, 0xBAD: 16, 0x40000BAD: 16}
#: §4.1 byte-order magic -> struct byte order
BOMS = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}


class Layout:
    """The pcapng structures in one byte order, compiled once."""

    def __init__(self, endian: str) -> None:
        self.endian = endian
        self.head = struct.Struct(endian + "II").unpack_from  # block type, total length
        self.epb = struct.Struct(endian + "IIIIII").unpack_from  # + if, ts hi/lo, caplen
        self.opb = struct.Struct(endian + "H2xIII").unpack_from  # if, drops, ts, caplen
        self.u32 = struct.Struct(endian + "I").unpack_from


LAYOUTS = {"<": Layout("<"), ">": Layout(">")}


def interface(buf: bytes, pos: int, end: int, endian: str) -> tuple[int, float, float, int]:
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


def kept_interface(buf: bytes, pos: int, lay: Layout,
                   ifaces: list[tuple[H, float, float, int]],
                   handlers: dict[int, H], handler_for: Callable[[int], H]) -> str:
    """§4.2: a damaged Interface Description Block whose fixed fields still read well
    (the reserved field is 0) keeps its interface, or every packet on it would be lost;
    what the reason for the skip then adds."""
    if pos + 16 > len(buf) or lay.head(buf, pos)[0] != 1:
        return ""
    link, reserved, snap = struct.unpack_from(lay.endian + "HHI", buf, pos + 8)
    if reserved:
        return ""
    handler = handlers.get(link) or handlers.setdefault(link, handler_for(link))
    ifaces.append((handler, 1e-6, 0.0, snap))
    return f" (its interface is kept: link type {link}, options and time resolution lost)"
