"""Which TCP connections are SMTP: by port, or by how they start.

Connections to a known SMTP port (RFC 5321 §4.5.4.1 port 25, RFC 6409 submission 587,
the common alternative 2525, RFC 8314 implicit TLS 465, RFC 2033 LMTP 24) are SMTP.
On any other port a :class:`Probe` keeps the first packets of the connection until
the content decides: the side that speaks first must send a greeting ``220`` plus a
space or hyphen (RFC 5321 §4.2, §4.3.1), and the other side must answer with
EHLO, HELO or LHLO (RFC 5321 §4.1.1.1, RFC 2033 §4.1). Then the kept packets are
replayed into the reassembly; otherwise they are dropped and the 4-tuple ignored.
"""

from __future__ import annotations

import re

SMTP_PORTS = frozenset((25, 587, 2525, 465, 24))
IMPLICIT_TLS_PORT = 465  # RFC 8314 §3.3
LMTP_PORT = 24  # RFC 2033 §1 (the port IANA lists for "any private mail system")

#: undecided connections give up after this much
PROBE_BYTES = 16384
PROBE_PACKETS = 64

_FIN, _SYN, _RST, _ACK = 0x01, 0x02, 0x04, 0x10
_GREETING = re.compile(rb"220[ -]")
_HELLOS = (b"EHLO", b"HELO", b"LHLO")
_HEAD = 8  # payload bytes of each side kept for the decision

#: one kept packet: time, packet number, addresses, TCP segment bytes, bytes cut off
Kept = tuple[float, int, bytes, bytes, int]


def _could_become(head: bytes, words: tuple[bytes, ...]) -> bool:
    """Whether ``head`` (shorter than 4 bytes) can still grow into one of ``words``."""
    upper = head.upper()
    return any(w.startswith(upper) for w in words)


class Probe:
    """The first packets of a connection on a port not known to be SMTP."""

    __slots__ = ("first", "heads", "keys", "last", "packets", "size", "syn_from")

    def __init__(self, key: bytes, rkey: bytes, ts: float) -> None:
        self.keys = (key, rkey)  #: the connection's two direction keys
        self.packets: list[Kept] = []
        self.size = 0
        self.first: bytes | None = None  #: direction key of the side that spoke first
        self.syn_from: bytes | None = None  #: direction key of the SYN sender
        self.heads: dict[bytes, bytes] = {}  # direction key -> first payload bytes
        self.last = ts

    @property
    def server_key(self) -> bytes:
        """The server's direction key (valid once the probe said yes)."""
        assert self.first is not None
        return self.first

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
            head = self.heads.get(key, b"")
            if len(head) < _HEAD:
                self.heads[key] = (head + payload)[:_HEAD]
            if self.first is None:
                if key == self.syn_from:
                    return False  # the client spoke first: not SMTP
                self.first = key
        verdict = self._decide()
        if verdict is None and (flags & _FIN or self.size > PROBE_BYTES
                                or len(self.packets) > PROBE_PACKETS):
            return False
        return verdict

    def _other(self, key: bytes) -> bytes:
        return self.keys[1] if key == self.keys[0] else self.keys[0]

    def _decide(self) -> bool | None:
        if self.first is None:
            return None
        greeting = self.heads[self.first]
        if len(greeting) < 4:
            return None if b"220 ".startswith(greeting) else False
        if not _GREETING.match(greeting):
            return False
        hello = self.heads.get(self._other(self.first))
        if hello is None:
            return None
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
