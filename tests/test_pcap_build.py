"""Capture builders for the pcap tests, and checks that tshark reads what they write.

:class:`Conv` crafts one TCP conversation with scapy (sequence and acknowledgment
numbers tracked like a real stack); :func:`framed` puts its packets in a link layer;
:func:`pcap_bytes` and :func:`pcapng_bytes` write files with ``struct`` so the tests
control every header field (byte order, timestamp resolution, block kinds).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether
from scapy.packet import Packet, Raw

from smtplens.sources.pcap import read_capture
from smtplens.stream import Data, Direction, StreamItem

T0 = 1_700_000_000.0
#: one packet: capture time and the IP packet (scapy)
Frame = tuple[float, Packet]


@dataclass
class Conv:
    """One TCP conversation; each method returns the packet(s) a real stack would send."""

    client: tuple[str, int] = ("10.0.0.1", 40001)
    server: tuple[str, int] = ("10.0.0.2", 25)
    cseq: int = 1000  #: next sequence number of the client
    sseq: int = 5000
    t: float = T0
    step: float = 0.001
    log: list[Frame] = field(default_factory=list)

    def __post_init__(self) -> None:
        # time kept in integer microseconds: float sums drift (0.001 * 5 != 0.005)
        self._us = int(Decimal(repr(self.t)).scaleb(6).to_integral_value())

    def packet(self, from_client: bool, flags: str, payload: bytes = b"",
               seq: int | None = None, ack: int | None = None) -> Frame:
        self._us += max(1, round(self.step * 1e6))
        self.t = self._us / 1e6
        (sip, sport), (dip, dport) = ((self.client, self.server) if from_client
                                      else (self.server, self.client))
        ipl: Packet = IPv6(src=sip, dst=dip) if ":" in sip else IP(src=sip, dst=dip)
        if seq is None:
            seq = self.cseq if from_client else self.sseq
        if ack is None:
            ack = self.sseq if from_client else self.cseq
        pkt = ipl / TCP(sport=sport, dport=dport, flags=flags, seq=seq & 0xFFFFFFFF,
                        ack=ack & 0xFFFFFFFF if "A" in flags else 0, window=65535)
        if payload:
            pkt = pkt / Raw(payload)
        frame = (self.t, pkt)
        self.log.append(frame)
        return frame

    def syn(self) -> Frame:
        f = self.packet(True, "S", ack=0)
        self.cseq += 1
        return f

    def synack(self) -> Frame:
        f = self.packet(False, "SA")
        self.sseq += 1
        return f

    def handshake(self) -> list[Frame]:
        return [self.syn(), self.synack(), self.packet(True, "A")]

    def send(self, from_client: bool, data: bytes, flags: str = "PA") -> Frame:
        f = self.packet(from_client, flags, data)
        if from_client:
            self.cseq += len(data)
        else:
            self.sseq += len(data)
        return f

    def c(self, data: bytes) -> Frame:
        return self.send(True, data)

    def s(self, data: bytes) -> Frame:
        return self.send(False, data)

    def ack(self, from_client: bool) -> Frame:
        return self.packet(from_client, "A")

    def fin(self, from_client: bool) -> Frame:
        f = self.packet(from_client, "FA")
        if from_client:
            self.cseq += 1
        else:
            self.sseq += 1
        return f

    def close(self) -> list[Frame]:
        return [self.fin(True), self.fin(False), self.ack(True)]

    def rst(self, from_client: bool) -> Frame:
        return self.packet(from_client, "R" if from_client else "RA")

    def dialog(self) -> list[Frame]:
        """A complete short SMTP session."""
        return [*self.handshake(),
                self.s(b"220 mx.example.net ESMTP\r\n"),
                self.c(b"EHLO client.example.org\r\n"),
                self.s(b"250-mx.example.net\r\n250 AUTH LOGIN PLAIN\r\n"),
                self.c(b"QUIT\r\n"),
                self.s(b"221 Bye\r\n"),
                *self.close()]


CLIENT_DIALOG = b"EHLO client.example.org\r\nQUIT\r\n"
SERVER_DIALOG = (b"220 mx.example.net ESMTP\r\n250-mx.example.net\r\n250 AUTH LOGIN PLAIN\r\n"
                 b"221 Bye\r\n")


# explicit addresses: without them scapy resolves the destination (ARP/NDP, slow)
MAC_A, MAC_B = "02:00:00:00:00:01", "02:00:00:00:00:02"


def framed(frames: list[Frame], link: str) -> tuple[int, list[tuple[float, bytes]]]:
    """Put IP packets into a link layer: ``(linktype, [(ts, frame bytes)])``."""
    out = []
    linktype = {"ether": 1, "vlan": 1, "qinq": 1, "sll": 113, "sll2": 276, "raw": 101,
                "raw12": 12, "ipv4": 228, "ipv6": 229, "null": 0, "loop": 108,
                "ppp": 9}[link]
    for ts, pkt in frames:
        v6 = isinstance(pkt, IPv6)
        if link == "ether":
            frame = bytes(Ether(src=MAC_A, dst=MAC_B) / pkt)
        elif link == "vlan":
            frame = bytes(Ether(src=MAC_A, dst=MAC_B) / Dot1Q(vlan=10) / pkt)
        elif link == "qinq":
            frame = bytes(Ether(src=MAC_A, dst=MAC_B) / Dot1AD(vlan=100) / Dot1Q(vlan=10) / pkt)
        elif link == "sll":
            frame = bytes(CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6) / pkt)
        elif link == "sll2":
            frame = bytes(CookedLinuxV2() / pkt)
        elif link == "null":  # the family in the writer's (here little-endian) byte order
            frame = struct.pack("<I", 30 if v6 else 2) + bytes(pkt)
        elif link == "loop":
            frame = struct.pack(">I", 24 if v6 else 2) + bytes(pkt)
        elif link == "ppp":
            frame = b"\xff\x03" + (b"\x00\x57" if v6 else b"\x00\x21") + bytes(pkt)
        else:
            frame = bytes(pkt)
        out.append((ts, frame))
    return linktype, out


def pcap_bytes(frames: list[tuple[float, bytes]], linktype: int = 1, *, endian: str = "<",
               nano: bool = False, snaplen: int = 262144) -> bytes:
    """A libpcap file (draft-ietf-opsawg-pcap §4, §5)."""
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    parts = [struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    scale = 1_000_000_000 if nano else 1_000_000
    for ts, frame in frames:
        ticks = int(Decimal(repr(ts)).scaleb(9 if nano else 6).to_integral_value())
        sec, frac = divmod(ticks, scale)
        cap = frame[:snaplen]
        parts.append(struct.pack(endian + "IIII", sec, frac, len(cap), len(frame)) + cap)
    return b"".join(parts)


def _block(endian: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = len(body) + 12
    return struct.pack(endian + "II", btype, length) + body + struct.pack(endian + "I", length)


def pcapng_bytes(interfaces: list[tuple[int, int | None]],
                 packets: list[tuple[int, float, bytes]], *, endian: str = "<",
                 kind: str = "epb", noise: bool = True, tsoffset: int = 0) -> bytes:
    """A pcapng section (draft-ietf-opsawg-pcapng): SHB, IDBs ``(linktype, if_tsresol)``,
    then packets as Enhanced (``epb``), obsolete (``opb``) or Simple (``spb``) blocks.
    ``noise`` adds blocks a reader must skip (a custom block, an interface statistics);
    ``tsoffset`` is written as every interface's ``if_tsoffset`` (seconds).
    """
    e = endian
    out = [_block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))]
    resolutions = []
    for link, tsresol in interfaces:
        opts = b""
        if tsresol is not None:
            opts += struct.pack(e + "HHB3x", 9, 1, tsresol)
        if tsoffset:
            opts += struct.pack(e + "HHq", 14, 8, tsoffset)
        opts += struct.pack(e + "HH", 0, 0)
        out.append(_block(e, 1, struct.pack(e + "HHI", link, 0, 262144) + opts))
        res = 6 if tsresol is None else tsresol
        resolutions.append(2 ** (res & 0x7F) if res & 0x80 else 10 ** res)
    if noise:
        out.append(_block(e, 4, struct.pack(e + "HH", 0, 0)))  # name resolution, empty
        out.append(_block(e, 0x00000BAD, b"\0\0\0\0custom"))  # custom block, PEN 0
    for ifid, ts, frame in packets:
        ticks = int(((Decimal(repr(ts)) - tsoffset) * resolutions[ifid]).to_integral_value())
        hi, lo = ticks >> 32, ticks & 0xFFFFFFFF
        if kind == "epb":
            body = struct.pack(e + "IIIII", ifid, hi, lo, len(frame), len(frame)) + frame
            out.append(_block(e, 6, body))
        elif kind == "opb":
            body = struct.pack(e + "HHIIII", ifid, 0, hi, lo, len(frame), len(frame)) + frame
            out.append(_block(e, 2, body))
        else:
            out.append(_block(e, 3, struct.pack(e + "I", len(frame)) + frame))
    if noise:
        out.append(_block(e, 5, struct.pack(e + "III", 0, 0, 0)))  # interface statistics
    return b"".join(out)


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def read(path: str | Path, **kw: object) -> list[StreamItem]:
    return list(read_capture(str(path), **kw))  # type: ignore[arg-type]


def streams(items: list[StreamItem]) -> dict[str, tuple[bytes, bytes]]:
    """conn_id -> (client bytes, server bytes)."""
    acc: dict[str, tuple[bytearray, bytearray]] = {}
    for item in items:
        if isinstance(item, Data):
            c, s = acc.setdefault(item.conn_id, (bytearray(), bytearray()))
            (c if item.direction is Direction.CLIENT else s).extend(item.data)
    return {k: (bytes(c), bytes(s)) for k, (c, s) in acc.items()}


def kinds(items: list[StreamItem]) -> list[str]:
    return [type(i).__name__ for i in items]


# -- the builders themselves, checked against tshark ---------------------------------

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")


@needs_tshark
@pytest.mark.parametrize("link", ["ether", "vlan", "qinq", "sll", "sll2", "raw", "null",
                                  "loop", "ppp"])
def test_tshark_reads_the_built_link_layers(tmp_path: Path, link: str) -> None:
    linktype, frames = framed(Conv().dialog(), link)
    path = write(tmp_path / "x.pcap", pcap_bytes(frames, linktype))
    out = subprocess.run(["tshark", "-r", path, "-T", "fields", "-e", "tcp.len"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert sum(map(int, out)) == len(CLIENT_DIALOG) + len(SERVER_DIALOG)


@needs_tshark
@pytest.mark.parametrize("kind", ["epb", "opb", "spb"])
@pytest.mark.parametrize("endian", ["<", ">"])
def test_tshark_reads_the_built_pcapng(tmp_path: Path, kind: str, endian: str) -> None:
    linktype, frames = framed(Conv().dialog(), "ether")
    data = pcapng_bytes([(linktype, 9)], [(0, ts, f) for ts, f in frames], endian=endian,
                        kind=kind)
    path = write(tmp_path / "x.pcapng", data)
    out = subprocess.run(["tshark", "-r", path, "-Y", "tcp", "-T", "fields", "-e",
                          "frame.time_epoch", "-e", "tcp.len"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(out) == len(frames)
    if kind != "spb":  # a simple packet block has no timestamp
        assert abs(float(out[0].split()[0]) - frames[0][0]) < 1e-6
