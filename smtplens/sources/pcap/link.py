"""Link layers: where the IP header starts in a captured frame.

A decoder is ``(buf, start, stop) -> offset`` of the IP header inside ``buf``, or -1 when
the frame carries no IP (or is too short); the offset is always below ``stop``. Link-type
numbers are the LINKTYPE_ values of https://www.tcpdump.org/linktypes.html. Link types
without a decoder here go through scapy (:class:`ScapyLink`), imported only then.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

Decoder = Callable[[bytes, int, int], int]

_H = struct.Struct("!H").unpack_from

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
#: IEEE 802.1Q C-tag, 802.1ad S-tag, and the pre-standard QinQ tag 0x9100
VLAN_TAGS = frozenset((0x8100, 0x88A8, 0x9100, 0x9200))
ETH_PPPOE_SESSION = 0x8864  # RFC 2516 §4
ETH_MPLS = frozenset((0x8847, 0x8848))  # RFC 3032
PPP_IPV4 = 0x0021  # RFC 1332
PPP_IPV6 = 0x0057  # RFC 5072


def _ip_after_ethertype(buf: bytes, etype: int, o: int, stop: int) -> int:
    """The IP offset for an EtherType found at ``o - 2``; handles the rarer encapsulations."""
    while etype in VLAN_TAGS and o + 4 <= stop:  # 802.1Q: TCI(2) + inner EtherType(2)
        (etype,) = _H(buf, o + 2)
        o += 4
    if etype in (ETH_IPV4, ETH_IPV6):
        return o if o < stop else -1
    if etype == ETH_PPPOE_SESSION and o + 8 < stop:  # ver/type, code, session, length, PPP
        (proto,) = _H(buf, o + 6)
        if proto in (PPP_IPV4, PPP_IPV6):
            return o + 8
        return -1
    if etype in ETH_MPLS:
        # label stack entries of 4 bytes until the bottom-of-stack bit; the payload
        # type is not signalled, so trust the IP version nibble (as tcpdump does)
        while o + 4 <= stop:
            bottom = buf[o + 2] & 1
            o += 4
            if bottom:
                return o if o < stop and buf[o] >> 4 in (4, 6) else -1
    return -1


def ethernet(buf: bytes, start: int, stop: int) -> int:
    """LINKTYPE_ETHERNET (1): IEEE 802.3 header, VLAN tags, PPPoE, MPLS."""
    o = start + 14
    if o >= stop:
        return -1
    (etype,) = _H(buf, start + 12)
    if etype in (ETH_IPV4, ETH_IPV6):
        return o
    return _ip_after_ethertype(buf, etype, o, stop)


def linux_sll(buf: bytes, start: int, stop: int) -> int:
    """LINKTYPE_LINUX_SLL (113): 16-byte cooked header, protocol at offset 14."""
    o = start + 16
    if o >= stop:
        return -1
    return _ip_after_ethertype(buf, _H(buf, start + 14)[0], o, stop)


def linux_sll2(buf: bytes, start: int, stop: int) -> int:
    """LINKTYPE_LINUX_SLL2 (276): 20-byte cooked header, protocol at offset 0."""
    o = start + 20
    if o >= stop:
        return -1
    return _ip_after_ethertype(buf, _H(buf, start)[0], o, stop)


def raw_ip(buf: bytes, start: int, stop: int) -> int:
    """LINKTYPE_RAW (101, also 12 and 14 on some systems), IPV4 (228), IPV6 (229)."""
    return start if start < stop else -1


def loopback(buf: bytes, start: int, stop: int) -> int:
    """LINKTYPE_NULL (0) and LINKTYPE_LOOP (108): a 4-byte address family.

    The family is in the writer's byte order (NULL) or network order (LOOP), and
    AF_INET6 differs between systems (24, 28, 30), so the IP version nibble decides.
    """
    o = start + 4
    if o >= stop:
        return -1
    return o if buf[o] >> 4 in (4, 6) else -1


def ppp(buf: bytes, start: int, stop: int) -> int:
    """LINKTYPE_PPP (9) and PPP_HDLC (50): optional ff 03, then a 1- or 2-byte protocol."""
    o = start
    if o + 2 < stop and buf[o] == 0xFF and buf[o + 1] == 0x03:
        o += 2
    if o + 1 < stop and buf[o] & 1:  # RFC 1661 §6.5: compressed 1-byte protocol field
        proto, o = buf[o], o + 1
    elif o + 2 < stop:
        (proto,), o = _H(buf, o), o + 2
    else:
        return -1
    return o if proto in (PPP_IPV4, PPP_IPV6) and o < stop else -1


DECODERS: dict[int, Decoder] = {
    0: loopback,
    1: ethernet,
    9: ppp,
    12: raw_ip,
    14: raw_ip,
    50: ppp,
    101: raw_ip,
    108: loopback,
    113: linux_sll,
    228: raw_ip,
    229: raw_ip,
    276: linux_sll2,
}


class ScapyLink:
    """Any other link type, dissected by scapy (slow, so only for rare link types)."""

    def __init__(self, linktype: int) -> None:
        import scapy.layers.all  # noqa: F401  (registers every layer's link types)
        from scapy.config import conf

        self.linktype = linktype
        self.layer = conf.l2types.num2layer.get(linktype)
        self.found_ip = False  #: whether any packet of this link type held IP

    @property
    def known(self) -> bool:
        """Whether scapy has a dissector for this link type."""
        return self.layer is not None

    def ip_packet(self, frame: bytes) -> bytes | None:
        """The IP header and everything after it, or None when scapy finds no IP."""
        if self.layer is None:
            return None
        from scapy.layers.inet import IP
        from scapy.layers.inet6 import IPv6

        try:
            pkt = self.layer(frame)
        except Exception:
            return None
        for cls in (IP, IPv6):
            layer = pkt.getlayer(cls)
            if layer is not None:
                self.found_ip = True
                return bytes(layer)
        return None
