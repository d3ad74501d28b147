"""GSSAPI (RFC 4752, usually Kerberos V5) and GSS-SPNEGO: opaque tokens.

We do not parse Kerberos; we report each token's size and, from its first bytes, what
kind of token it looks like:

* ``0x60``: an RFC 2743 §3.1 InitialContextToken, ``[APPLICATION 0]`` with the mechanism
  OID first: Kerberos V5 (RFC 1964 §1.1, token id 01 00 = AP-REQ, 02 00 = AP-REP,
  03 00 = KRB-ERROR) or SPNEGO (RFC 4178 negTokenInit);
* ``0xa1``: a SPNEGO negTokenResp (RFC 4178 §4.2.2);
* ``05 04`` / ``04 04``: a Kerberos wrap / MIC token (RFC 4121 §4.2.6), as in the final
  security-layer negotiation of RFC 4752 §3.1.

Client tokens are Secrets (kind ``"token"``): an AP-REQ carries a service ticket and an
authenticator that could be replayed for a while.
"""

from __future__ import annotations

from smtplens.sasl.base import Decoded, Mechanism, size

KERBEROS_V5 = "1.2.840.113554.1.2.2"
KERBEROS_V5_MS = "1.2.840.48018.1.2.2"  # the OID Windows uses for the same thing
SPNEGO = "1.3.6.1.5.5.2"
NTLMSSP = "1.3.6.1.4.1.311.2.2.10"

_MECH_NAMES = {
    KERBEROS_V5: "Kerberos",
    KERBEROS_V5_MS: "Kerberos (Microsoft OID)",
    SPNEGO: "SPNEGO",
    NTLMSSP: "NTLMSSP",
}
_KRB_TOKEN_IDS = {b"\x01\x00": "AP-REQ", b"\x02\x00": "AP-REP", b"\x03\x00": "KRB-ERROR"}


def der_length(data: bytes, pos: int) -> tuple[int, int] | None:
    """X.690 §8.1.3 definite length at ``pos``: (length, position after it), or None."""
    if pos >= len(data):
        return None
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    count = first & 0x7F
    if count == 0 or count > 4 or pos + 1 + count > len(data):
        return None  # indefinite, absurd or truncated
    return int.from_bytes(data[pos + 1 : pos + 1 + count], "big"), pos + 1 + count


def oid_text(raw: bytes) -> str | None:
    """X.690 §8.19 OBJECT IDENTIFIER contents as dotted text, or None if malformed."""
    if not raw or raw[-1] & 0x80:
        return None
    arcs: list[int] = []
    value = 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(arc) for arc in head + arcs[1:])


def token_kind(data: bytes) -> str:
    """A short guess at what a GSS-API token is (see the module docstring)."""
    if data[:1] == b"\x60":
        return _initial_token(data)
    if data[:1] == b"\xa1":
        return "SPNEGO negTokenResp"
    if data[:2] == b"\x05\x04":
        return "Kerberos wrap token (RFC 4121)"
    if data[:2] == b"\x04\x04":
        return "Kerberos MIC token (RFC 4121)"
    if data.startswith(b"NTLMSSP\x00"):
        return "raw NTLMSSP message"
    return "opaque"


def _initial_token(data: bytes) -> str:
    outer = der_length(data, 1)
    if outer is None or outer[1] >= len(data) or data[outer[1]] != 0x06:
        return "GSS-API initial context token (malformed)"
    oid_len = der_length(data, outer[1] + 1)
    if oid_len is None or oid_len[1] + oid_len[0] > len(data):
        return "GSS-API initial context token (malformed)"
    start, end = oid_len[1], oid_len[1] + oid_len[0]
    oid = oid_text(data[start:end])
    mech = _MECH_NAMES.get(oid or "", f"OID {oid}" if oid else "unknown OID")
    if oid in (KERBEROS_V5, KERBEROS_V5_MS):
        kind = _KRB_TOKEN_IDS.get(data[end : end + 2], "token")
        return f"Kerberos {kind}" + (" (Microsoft OID)" if oid == KERBEROS_V5_MS else "")
    if oid == SPNEGO:
        return "SPNEGO negTokenInit"
    return f"GSS-API initial context token ({mech})"


class Gssapi(Mechanism):
    """RFC 4752 §3.1: context tokens until established, then a wrapped 4-byte
    security-layer offer from the server and the client's wrapped choice."""

    def server(self, data: bytes) -> Decoded:
        if not data:
            return Decoded("empty")
        return Decoded("GSSAPI token", (("size", size(len(data))), ("hint", token_kind(data))))

    def client(self, data: bytes) -> Decoded:
        if not data:
            return Decoded("empty")
        fields = (("size", size(len(data))), ("hint", token_kind(data)))
        return Decoded("GSSAPI token", fields, secret="token")
