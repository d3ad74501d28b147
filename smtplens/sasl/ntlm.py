"""NTLM over SASL (``AUTH NTLM``; Microsoft [MS-SMTPNTLM], messages from [MS-NLMP]).

The server opens with an empty 334; the client sends a NEGOTIATE (type 1) message, the
server a CHALLENGE (type 2), the client an AUTHENTICATE (type 3)::

    C: AUTH NTLM
    S: 334
    C: TlRMTVNTUAABAAAAB6IAAAAAAAAAAAAAAAAAAAAAAAA=       type 1
    S: 334 TlRMTVNTUAACAAAAAAAAAAAoAAABggAAbco4uro6HnY...  type 2
    C: TlRMTVNTUAADAAAAGAAYAEAAAAAYABgAWAAAAAAAAAAwAA...  type 3

Every variable part is a "security buffer" (length, max length, offset) pointing into
the message (MS-NLMP §2.2.1): each is bounds-checked, and one pointing outside the
message is an error on the step, never an exception. The NT response (a function of
the password hash, crackable offline for NTLMv1) is a Secret of kind ``"response"``.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

from smtplens.sasl.base import Decoded, Field, Mechanism, printable, size
from smtplens.secret import Secret

SIGNATURE = b"NTLMSSP\x00"

# MS-NLMP §2.2.2.5 NEGOTIATE flags
UNICODE = 0x00000001
OEM_DOMAIN_SUPPLIED = 0x00001000
OEM_WORKSTATION_SUPPLIED = 0x00002000
ESS = 0x00080000  # NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
TARGET_INFO = 0x00800000
VERSION = 0x02000000
FLAG_NAMES = (
    (0x00000001, "NEGOTIATE_UNICODE"),
    (0x00000002, "NEGOTIATE_OEM"),
    (0x00000004, "REQUEST_TARGET"),
    (0x00000010, "NEGOTIATE_SIGN"),
    (0x00000020, "NEGOTIATE_SEAL"),
    (0x00000040, "NEGOTIATE_DATAGRAM"),
    (0x00000080, "NEGOTIATE_LM_KEY"),
    (0x00000200, "NEGOTIATE_NTLM"),
    (0x00000800, "ANONYMOUS"),
    (0x00001000, "NEGOTIATE_OEM_DOMAIN_SUPPLIED"),
    (0x00002000, "NEGOTIATE_OEM_WORKSTATION_SUPPLIED"),
    (0x00008000, "NEGOTIATE_ALWAYS_SIGN"),
    (0x00010000, "TARGET_TYPE_DOMAIN"),
    (0x00020000, "TARGET_TYPE_SERVER"),
    (0x00080000, "NEGOTIATE_EXTENDED_SESSIONSECURITY"),
    (0x00100000, "NEGOTIATE_IDENTIFY"),
    (0x00400000, "REQUEST_NON_NT_SESSION_KEY"),
    (0x00800000, "NEGOTIATE_TARGET_INFO"),
    (0x02000000, "NEGOTIATE_VERSION"),
    (0x20000000, "NEGOTIATE_128"),
    (0x40000000, "NEGOTIATE_KEY_EXCH"),
    (0x80000000, "NEGOTIATE_56"),
)

# MS-NLMP §2.2.2.1 AV_PAIR ids (target info, and the NTLMv2 response blob)
AV_NAMES = {
    1: "NetBIOS computer",
    2: "NetBIOS domain",
    3: "DNS computer",
    4: "DNS domain",
    5: "DNS tree",
    6: "AV flags",
    7: "timestamp",
    8: "single host",
    9: "target SPN",
    10: "channel bindings",
}
_AV_TEXT = frozenset({1, 2, 3, 4, 5, 9})
_MAX_AV_PAIRS = 64  # a real list has about ten; a hostile one stops here

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_BUFFER = struct.Struct("<HHI")  # length, max length, offset
_VERSION = struct.Struct("<BBH3xB")  # major, minor, build, (reserved), NTLM revision
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


def flag_names(flags: int) -> str:
    """``NEGOTIATE_UNICODE|NEGOTIATE_NTLM|...``; unnamed bits as hex."""
    names = [name for bit, name in FLAG_NAMES if flags & bit]
    rest = flags & ~sum(bit for bit, _ in FLAG_NAMES)
    if rest:
        names.append(f"0x{rest:08x}")
    return "|".join(names) or "0"


class _Message:
    """Bounds-checked reads from one NTLM message; problems collect in ``errors``."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.errors: list[str] = []
        self.payload_start = len(data)  # lowest offset of any non-empty buffer

    def u32(self, offset: int) -> int | None:
        if offset + 4 > len(self.data):
            return None
        return int(_U32.unpack_from(self.data, offset)[0])

    def buffer(self, offset: int, name: str) -> bytes:
        """The bytes a security buffer at ``offset`` points to (empty if absent or bad)."""
        if offset + _BUFFER.size > len(self.data):
            return b""
        length, _, start = _BUFFER.unpack_from(self.data, offset)
        if length == 0:
            return b""
        if start + length > len(self.data):
            self.errors.append(
                f"{name} buffer (offset {start}, length {length}) points outside the "
                f"{len(self.data)}-byte message"
            )
            return b""
        self.payload_start = min(self.payload_start, start)
        return self.data[start : start + length]

    def version(self, offset: int, flags: int) -> list[Field]:
        """MS-NLMP §2.2.2.10 VERSION, present when flagged and not overlapped by payload."""
        end = offset + _VERSION.size
        if not flags & VERSION or end > len(self.data) or end > self.payload_start:
            return []
        major, minor, build, revision = _VERSION.unpack_from(self.data, offset)
        return [("OS version", f"{major}.{minor} build {build} (NTLM revision {revision})")]


def _text(raw: bytes, unicode: bool) -> str:
    """Strings are UTF-16LE with NEGOTIATE_UNICODE, else in the OEM code page (taken as
    Latin-1: every byte maps)."""
    return printable(raw.decode("utf-16-le", "replace") if unicode else raw.decode("latin-1"))


def _looks_utf16(raw: bytes) -> bool:
    return len(raw) >= 2 and len(raw) % 2 == 0 and raw[1::2].count(0) * 2 >= len(raw) // 2


def av_pairs(data: bytes, errors: list[str]) -> list[Field]:
    """MS-NLMP §2.2.2.1: ``AvId u16, AvLen u16, value`` until MsvAvEOL."""
    fields: list[Field] = []
    pos = 0
    while pos + 4 <= len(data) and len(fields) < _MAX_AV_PAIRS:
        av_id, av_len = _U16.unpack_from(data, pos)[0], _U16.unpack_from(data, pos + 2)[0]
        value = data[pos + 4 : pos + 4 + av_len]
        if av_id == 0:
            return fields
        if len(value) < av_len:
            errors.append("target info AV pair runs past its buffer")
            return fields
        name = AV_NAMES.get(av_id, f"AV pair {av_id}")
        if av_id in _AV_TEXT:
            fields.append((name, _text(value, unicode=True)))
        elif av_id == 7 and av_len == 8:
            fields.append((name, filetime(int.from_bytes(value, "little"))))
        elif av_id == 6 and av_len == 4:
            fields.append((name, f"0x{int.from_bytes(value, 'little'):08x}"))
        else:
            fields.append((name, size(av_len)))
        pos += 4 + av_len
    return fields


def filetime(value: int) -> str:
    """A Windows FILETIME (100 ns ticks since 1601) as ISO 8601 UTC."""
    try:
        when = _FILETIME_EPOCH + timedelta(microseconds=value // 10)
    except OverflowError:
        return f"FILETIME {value}"
    return when.isoformat().replace("+00:00", "Z")


def negotiate(msg: _Message) -> tuple[str, list[Field]]:
    """Type 1 (MS-NLMP §2.2.1.1): flags, then the OEM domain and workstation when
    flagged (unflagged buffers MUST be ignored, and some clients leave junk there)."""
    flags = msg.u32(12)
    if flags is None:
        msg.errors.append(f"NEGOTIATE message truncated ({len(msg.data)} bytes)")
        return "NTLM type 1 (negotiate)", []
    fields: list[Field] = [("flags", flag_names(flags))]
    domain = msg.buffer(16, "domain") if flags & OEM_DOMAIN_SUPPLIED else b""
    workstation = msg.buffer(24, "workstation") if flags & OEM_WORKSTATION_SUPPLIED else b""
    if domain:
        fields.append(("domain", _text(domain, unicode=False)))
    if workstation:
        fields.append(("workstation", _text(workstation, unicode=False)))
    fields += msg.version(32, flags)
    return "NTLM type 1 (negotiate)", fields


def challenge(msg: _Message) -> tuple[str, list[Field]]:
    """Type 2 (MS-NLMP §2.2.1.2): target name, flags, the 8-byte server challenge,
    optional target info (AV pairs naming the server and its domain)."""
    label = "NTLM type 2 (challenge)"
    flags = msg.u32(20)
    if flags is None or len(msg.data) < 32:
        msg.errors.append(f"CHALLENGE message truncated ({len(msg.data)} bytes)")
        return label, []
    fields: list[Field] = [("flags", flag_names(flags))]
    target = msg.buffer(12, "target name")
    if target:
        fields.append(("target name", _text(target, bool(flags & UNICODE))))
    fields.append(("challenge", msg.data[24:32].hex()))
    if len(msg.data) >= 48 and msg.payload_start >= 48:
        if flags & TARGET_INFO:
            fields += av_pairs(msg.buffer(40, "target info"), msg.errors)
        else:
            fields += _unflagged_target_info(msg.data)
    fields += msg.version(48, flags)
    return label, fields


def _unflagged_target_info(data: bytes) -> list[Field]:
    """§2.2.1.2 says to ignore the target info fields unless flagged. Some servers
    send a good list without the flag (curl's test 921 shows one), others junk (Exim's
    SPA server): take the list only when it parses cleanly, and complain about nothing."""
    quiet = _Message(data)
    errors: list[str] = []
    pairs = av_pairs(quiet.buffer(40, "target info"), errors)
    return [] if quiet.errors or errors else pairs


def authenticate(msg: _Message) -> tuple[str, list[Field], str | None]:
    """Type 3 (MS-NLMP §2.2.1.3): the responses and who is logging in from where.

    Returns (label, fields, user) where user is ``DOMAIN\\user`` or ``user``.
    """
    label = "NTLM type 3 (authenticate)"
    if len(msg.data) < 52:
        msg.errors.append(f"AUTHENTICATE message truncated ({len(msg.data)} bytes)")
        return label, [], None
    lm, nt = msg.buffer(12, "LM response"), msg.buffer(20, "NT response")
    raw_domain, raw_user = msg.buffer(28, "domain"), msg.buffer(36, "user")
    raw_workstation = msg.buffer(44, "workstation")
    # old messages end, or start their payload, before the session key and flags
    has_flags = len(msg.data) >= 64 and msg.payload_start >= 64
    session_key = msg.buffer(52, "session key") if has_flags else b""
    flags = msg.u32(60) if has_flags else None
    # without flags, guess the string encoding from the bytes
    unicode = bool(flags & UNICODE) if flags is not None else _looks_utf16(raw_user)
    domain, user = _text(raw_domain, unicode), _text(raw_user, unicode)
    fields: list[Field] = []
    if domain:
        fields.append(("domain", domain))
    fields.append(("user", user))
    if raw_workstation:
        fields.append(("workstation", _text(raw_workstation, unicode)))
    fields += _nt_response(nt, flags)
    fields += [("LM response length", str(len(lm))), ("NT response length", str(len(nt)))]
    if session_key:
        fields.append(("session key length", str(len(session_key))))
    if flags is not None:
        fields.append(("flags", flag_names(flags)))
        fields += msg.version(64, flags)
    who = f"{domain}\\{user}" if domain else user
    return label, fields, who or None


def _nt_response(nt: bytes, flags: int | None) -> list[Field]:
    """NTLMv1 responses are 24 bytes; NTLMv2 ones are a 16-byte proof plus a blob
    (MS-NLMP §2.2.2.7) whose timestamp and target SPN we show."""
    if not nt:
        return [("NT response", "none (anonymous)")]
    if len(nt) == 24:
        kind = "NTLMv1"
        if flags is not None and flags & ESS:
            kind = "NTLMv1 (extended session security)"
        return [(f"{kind} response", Secret(nt.hex(), "response"))]
    if len(nt) < 16 + 28:
        return [("NT response", Secret(nt.hex(), "response"))]
    fields: list[Field] = [("NTLMv2 response", Secret(nt.hex(), "response"))]
    blob = nt[16:]
    fields.append(("timestamp", filetime(int.from_bytes(blob[8:16], "little"))))
    blob_errors: list[str] = []  # a damaged blob is the server's problem to reject
    fields += [f for f in av_pairs(blob[28:], blob_errors) if f[0] == "target SPN"]
    return fields


class Ntlm(Mechanism):
    """Decoder of one NTLM exchange."""

    def server(self, data: bytes) -> Decoded:
        if not data:
            return Decoded("empty")
        return self._message(data, from_client=False)

    def client(self, data: bytes) -> Decoded:
        if not data:
            return Decoded("empty")
        return self._message(data, from_client=True)

    def _message(self, data: bytes, from_client: bool) -> Decoded:
        if not data.startswith(SIGNATURE) or len(data) < 12:
            return Decoded(
                "not NTLM",
                (("size", size(len(data))),),
                "no NTLMSSP signature",
                secret="data" if from_client else "",
            )
        msg = _Message(data)
        msg_type = msg.u32(8)
        secret = ""
        if msg_type == 1:
            label, fields = negotiate(msg)
        elif msg_type == 2:
            label, fields = challenge(msg)
        elif msg_type == 3:
            label, fields, who = authenticate(msg)
            if who and from_client:
                self.user = who
            secret = "response"
        else:
            label, fields = f"NTLM type {msg_type} (unknown)", [("size", size(len(data)))]
            secret = "data"
        if from_client != (msg_type != 2):
            sender = "client" if from_client else "server"
            msg.errors.append(f"type {msg_type} message sent by the {sender}")
        return Decoded(label, tuple(fields), "; ".join(msg.errors), secret if from_client else "")
