"""Which TCP connections are SMTP: by port, or by how they start.

Connections to a known SMTP port (RFC 5321 §4.5.4.1 port 25, RFC 6409 submission 587,
the common alternative 2525, RFC 8314 implicit TLS 465, RFC 2033 LMTP 24) are SMTP.
On any other port a :class:`Probe` keeps the first packets of the connection until
the content decides: the side that speaks first must send a greeting ``220`` plus a
space or hyphen (RFC 5321 §4.2, §4.3.1), and the other side must answer with
EHLO, HELO or LHLO (RFC 5321 §4.1.1.1, RFC 2033 §4.1). A connection whose client
speaks first may be a proxy tunnel (:mod:`.tunnel`): then the same test applies to
what follows the tunnel set-up, and the streams start after it. Then the kept packets
are replayed into the reassembly; otherwise they are dropped and the 4-tuple ignored.
"""

from __future__ import annotations

import re

from smtplens.sources.pcap.tunnel import preamble

SMTP_PORTS = frozenset((25, 587, 2525, 465, 24))
IMPLICIT_TLS_PORT = 465  # RFC 8314 §3.3
LMTP_PORT = 24  # RFC 2033 §1 (the port IANA lists for "any private mail system")

#: undecided connections give up after this much
PROBE_BYTES = 16384
PROBE_PACKETS = 64

_FIN, _SYN, _RST, _ACK = 0x01, 0x02, 0x04, 0x10
_GREETING = re.compile(rb"220[ -]")
_HELLOS = (b"EHLO", b"HELO", b"LHLO")
_HEAD = 4096  # payload bytes of each side kept for the decision (tunnel set-up + hello)

#: one kept packet: time, packet number, addresses, TCP segment bytes, bytes cut off
Kept = tuple[float, int, bytes, bytes, int]


def _could_become(head: bytes, words: tuple[bytes, ...]) -> bool:
    """Whether ``head`` (shorter than 4 bytes) can still grow into one of ``words``."""
    upper = head.upper()
    return any(w.startswith(upper) for w in words)


class Probe:
    """The first packets of a connection on a port not known to be SMTP."""

    __slots__ = ("first", "heads", "keys", "last", "nexts", "packets", "server", "size",
                 "skips", "syn_from")

    def __init__(self, key: bytes, rkey: bytes, ts: float) -> None:
        self.keys = (key, rkey)  #: the connection's two direction keys
        self.packets: list[Kept] = []
        self.size = 0
        self.first: bytes | None = None  #: direction key of the side that spoke first
        self.syn_from: bytes | None = None  #: direction key of the SYN sender
        self.heads: dict[bytes, bytes] = {}  # direction key -> first payload bytes
        self.nexts: dict[bytes, int] = {}  # direction key -> sequence number after its head
        self.last = ts
        #: once the probe said yes: the server's direction key, and the tunnel set-up
        #: bytes (client, server) the streams skip
        self.server = rkey
        self.skips = (0, 0)

    def add(self, key: bytes, ts: float, recno: int, addrs: bytes, segment: bytes, cut: int,
            ) -> bool | None:
        """Keep one packet; True: SMTP, False: not SMTP, None: not decided yet."""
        self.packets.append((ts, recno, addrs, segment, cut))
        self.size += len(segment)
        self.last = ts
        flags = segment[13]
        if flags & _RST:
            return False
        if flags & _SYN:
            self.syn_from = key if not flags & _ACK else self._other(key)
        payload = segment[(segment[12] >> 4) << 2:]
        if payload:
            # the first bytes of each side in sequence order: retransmissions (a proxy
            # handshake often has some) must not be read twice
            seq = int.from_bytes(segment[4:8], "big")
            if flags & _SYN:
                seq = (seq + 1) & 0xFFFFFFFF
            head = self.heads.get(key, b"")
            expected = self.nexts.setdefault(key, seq)
            behind = (expected - seq) & 0xFFFFFFFF
            if behind < len(payload) and len(head) < _HEAD:
                self.heads[key] = (head + payload[behind:])[:_HEAD]
                self.nexts[key] = (seq + len(payload)) & 0xFFFFFFFF
            if self.first is None:
                self.first = key
        verdict = self._decide()
        if verdict is None and (flags & _FIN or self.size > PROBE_BYTES
                                or len(self.packets) > PROBE_PACKETS):
            return False
        return verdict

    def _other(self, key: bytes) -> bytes:
        return self.keys[1] if key == self.keys[0] else self.keys[0]

    def _decide(self) -> bool | None:
        first = self.first
        if first is None:
            return None
        other = self._other(first)
        head, reply = self.heads[first], self.heads.get(other, b"")
        if first != self.syn_from:  # the first speaker may be the server: greeting?
            verdict = _smtp_start(head, reply)
            if verdict is not False:
                self.server = first
                return verdict
        # the client spoke first: SMTP can only come after a proxy tunnel's set-up
        tunnel = preamble(head, reply)
        if tunnel is None or tunnel is False or tunnel is True:
            return None if tunnel is None else False
        cskip, sskip = tunnel
        verdict = _smtp_start(reply[sskip:], head[cskip:])
        if verdict:
            self.server, self.skips = other, (cskip, sskip)
        return verdict


def _smtp_start(greeting: bytes, hello: bytes) -> bool | None:
    """Whether a server's first bytes and the client's answer look like SMTP."""
    if len(greeting) < 4:
        return None if b"220 ".startswith(greeting) else False
    if not _GREETING.match(greeting):
        return False
    if len(hello) < 4:
        return None if _could_become(hello, _HELLOS) else False
    return hello[:4].upper() in _HELLOS


class Detector:
    """The undecided connections (:class:`Probe`) and the 4-tuples found not to be SMTP."""

    def __init__(self) -> None:
        self.probes: dict[bytes, Probe] = {}  # both direction keys -> probe
        self.ignored: dict[bytes, float] = {}  # direction key -> time last seen

    def start(self, key: bytes, rkey: bytes, ts: float) -> Probe:
        probe = self.probes[key] = self.probes[rkey] = Probe(key, rkey, ts)
        return probe

    def drop(self, probe: Probe) -> None:
        """Forget a probe (decided SMTP, or expired)."""
        for k in probe.keys:
            self.probes.pop(k, None)

    def ignore(self, probe: Probe, ts: float) -> None:
        """The probe's connection is not SMTP: skip its packets from now on."""
        self.drop(probe)
        for k in probe.keys:
            self.ignored[k] = ts

    def unignore(self, key: bytes, rkey: bytes) -> None:
        self.ignored.pop(key, None)
        self.ignored.pop(rkey, None)

    def sweep(self, limit: float) -> None:
        """Forget what was last seen before ``limit`` (capture time)."""
        for probe in [p for k, p in self.probes.items() if k == p.keys[0] and p.last < limit]:
            self.drop(probe)
        stale = [k for k, ts in self.ignored.items() if ts < limit]
        for k in stale:
            del self.ignored[k]
