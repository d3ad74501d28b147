"""Per-packet handlers: the general layered path, and the fused fast path in front of it.

The general handler of a link type is the readable chain :mod:`.link` decoder ->
:class:`~.ip.IpLayer` -> :meth:`~.tcp.Stream.segment`. It is correct for every packet,
and costs several function calls and header unpacks per packet.

Most packets of a capture are the simple case: an Ethernet or Linux cooked frame, an
IPv4 header without options or fragmentation (or an IPv6 header straight followed by
TCP), a segment without SYN/FIN/RST of a connection already open. For those the fast
handler reads link, IP and TCP headers with **one** ``unpack_from`` whose 12- or 36-byte
string field is the direction key itself (addresses and ports are contiguous in the
packet), and repeats the in-order fast path of :meth:`~.tcp.Stream.segment` inline.
Anything else falls through to the general handler, which re-reads the packet. For
libpcap files :func:`make_pcap_loop` goes one step further and puts the IPv4 fast path
inside the record loop itself. The tests run captures through all three and require
identical output.
"""

from __future__ import annotations

import struct

from smtplens.sources.pcap.files import Handler, Header, Loop
from smtplens.sources.pcap.flows import Flows
from smtplens.sources.pcap.ip import IpLayer
from smtplens.sources.pcap.link import DECODERS, ScapyLink
from smtplens.sources.pcap.tcp import COALESCE
from smtplens.stream import Notice

#: link types with a fixed header and an EtherType field: format of the link header
#: part (the EtherType as ``H``) and its length
FAST_LINKS: dict[int, tuple[str, int]] = {
    1: ("12xH", 14),  # Ethernet II
    113: ("14xH", 16),  # Linux cooked capture v1
    276: ("H18x", 20),  # Linux cooked capture v2
}
# RFC 791 §3.1 header without options, then TCP (RFC 9293 §3.1) up to the flags:
# version+IHL, total length, flags+fragment offset, protocol, src+dst+ports, seq, ack, flags
_IPV4_TCP = "BxH2xHxB2x12sIIH"
# RFC 8200 §3 header with Next Header = TCP: version, payload length, next header,
# src+dst+ports, seq, ack, flags
_IPV6_TCP = "B3xHBx36sIIH"


def general_handler(link: int, ip: IpLayer, flows: Flows,
                    scapy_links: list[ScapyLink]) -> Handler:
    """The layered handler for packets of link type ``link``.

    Link types without a decoder in :mod:`.link` go through scapy; their
    :class:`~.link.ScapyLink` is added to ``scapy_links``.
    """
    ipv4, ipv6 = ip.ipv4, ip.ipv6
    decode = DECODERS.get(link)
    if decode is not None:
        def packet(ts: float, buf: bytes, start: int, stop: int, recno: int) -> None:
            o = decode(buf, start, stop)
            if o < 0:
                return
            version = buf[o] >> 4
            if version == 4:
                ipv4(ts, recno, buf, o, stop)
            elif version == 6:
                ipv6(ts, recno, buf, o, stop)
        return packet

    scapy = ScapyLink(link)
    reported: list[bool] = []

    def rare(ts: float, buf: bytes, start: int, stop: int, recno: int) -> None:
        if not scapy.known:
            if not reported:
                reported.append(True)
                flows.out.append(Notice(
                    "input.link-type", f"link type {link} is not supported (not even by "
                    "scapy); its packets are skipped", source=flows.source,
                    location=f"record {recno}"))
            return
        packet = scapy.ip_packet(buf[start:stop])
        if packet is None:
            return
        version = packet[0] >> 4
        if version == 4:
            ipv4(ts, recno, packet, 0, len(packet))
        elif version == 6:
            ipv6(ts, recno, packet, 0, len(packet))

    scapy_links.append(scapy)
    return rare


def make_handler(link: int, ip: IpLayer, flows: Flows, scapy_links: list[ScapyLink],
                 fast: bool = True) -> Handler:
    """The handler for link type ``link``: the fast path when it has one."""
    general = general_handler(link, ip, flows, scapy_links)
    spec = FAST_LINKS.get(link)
    if spec is None or not fast:
        return general
    prefix, iph = spec
    v4 = struct.Struct("!" + prefix + _IPV4_TCP).unpack_from
    v6 = struct.Struct("!" + prefix + _IPV6_TCP).unpack_from
    min6 = iph + 60
    tcp4 = iph + 20
    tcp6 = iph + 40
    halves_get = flows.halves.get
    ignored = flows.detector.ignored
    flush, start_chunk, payload, after = flows.flush, flows.start_chunk, flows.payload, flows.after

    def packet(ts: float, buf: bytes, start: int, stop: int, recno: int) -> None:
        try:
            etype, vihl, total, frag, proto, key, seq, ack, hflags = v4(buf, start)
        except struct.error:  # the frame is the buffer's last and too short for this
            general(ts, buf, start, stop, recno)
            return
        # (a shorter frame elsewhere reads into the next record: then end > stop below)
        if etype == 0x0800:
            if vihl != 0x45 or proto != 6 or frag & 0x3FFF or total < 40:
                if proto != 6 and vihl >> 4 == 4:
                    return  # UDP, ICMP, ...: not for us (nor are their fragments)
                general(ts, buf, start, stop, recno)
                return
            end = start + iph + total
            p = start + tcp4 + ((hflags >> 10) & 0x3C)
        elif etype == 0x86DD and stop - start >= min6:
            etype, vtc, plen, proto, key, seq, ack, hflags = v6(buf, start)
            if vtc >> 4 != 6 or proto != 6 or plen < 20:
                if proto in (17, 58) and vtc >> 4 == 6:
                    return  # UDP, ICMPv6 straight after the header
                general(ts, buf, start, stop, recno)
                return
            end = start + iph + 40 + plen
            p = start + tcp6 + ((hflags >> 10) & 0x3C)
        else:
            general(ts, buf, start, stop, recno)
            return
        if end <= stop and not hflags & 7:
            half = halves_get(key)
            if half is not None:
                # == Stream.segment's fast path, inline ==
                conn = half.conn
                conn.last = ts
                if p < end:
                    if seq == half.nxt:
                        data = buf[p:end]
                        half.nxt = (seq + end - p) & 0xFFFFFFFF
                        if conn.pend is half:
                            conn.chunks.append(data)
                            conn.size += end - p
                            if conn.size > COALESCE:
                                flush(conn)
                        else:
                            start_chunk(conn, half, data, ts)
                    else:
                        payload(half, ts, seq, buf, p, end, 0)
                else:
                    half.seen = True
                if conn.slow:
                    after(half, ack, hflags, ts)
                return
            if key in ignored:  # a connection found not to be SMTP
                ignored[key] = ts
                return
        general(ts, buf, start, stop, recno)

    return packet


def make_pcap_loop(link: int, handler: Handler, header: Header, scale: float, limit: int,
                   flows: Flows) -> Loop | None:
    """For libpcap files: the record loop with the IPv4 fast path inline, or None.

    The same as :func:`.files.pcap_loop` calling the handler of :func:`make_handler`,
    minus one call per packet (a sixth of the time per packet on this kind of loop).
    Other packets (IPv6, anything unusual) go to ``handler``.
    """
    spec = FAST_LINKS.get(link)
    if spec is None:
        return None
    prefix, iph = spec
    v4 = struct.Struct("!" + prefix + _IPV4_TCP).unpack_from
    tcp4 = iph + 20
    halves_get = flows.halves.get
    ignored = flows.detector.ignored
    flush, start_chunk, payload, after = flows.flush, flows.start_chunk, flows.payload, flows.after

    def loop(buf: bytes, pos: int, recno: int, ts: float) -> tuple[int, int, float]:
        n = len(buf)
        last = n - 16
        while pos <= last:
            sec, frac, incl = header(buf, pos)
            start = pos + 16
            stop = start + incl
            if stop > n or incl > limit:
                break
            pos = stop
            recno += 1
            ts = sec + frac * scale
            try:
                etype, vihl, total, frag, proto, key, seq, ack, hflags = v4(buf, start)
            except struct.error:
                handler(ts, buf, start, stop, recno)
                continue
            if etype != 0x0800 or vihl != 0x45 or proto != 6 or frag & 0x3FFF or total < 40:
                handler(ts, buf, start, stop, recno)
                continue
            end = start + iph + total
            if end <= stop and not hflags & 7:
                half = halves_get(key)
                if half is not None:
                    # == Stream.segment's fast path, inline ==
                    p = start + tcp4 + ((hflags >> 10) & 0x3C)
                    conn = half.conn
                    conn.last = ts
                    if p < end:
                        if seq == half.nxt:
                            data = buf[p:end]
                            half.nxt = (seq + end - p) & 0xFFFFFFFF
                            if conn.pend is half:
                                conn.chunks.append(data)
                                conn.size += end - p
                                if conn.size > COALESCE:
                                    flush(conn)
                            else:
                                start_chunk(conn, half, data, ts)
                        else:
                            payload(half, ts, seq, buf, p, end, 0)
                    else:
                        half.seen = True
                    if conn.slow:
                        after(half, ack, hflags, ts)
                    continue
                if key in ignored:
                    ignored[key] = ts
                    continue
            handler(ts, buf, start, stop, recno)
        return pos, recno, ts

    return loop
