"""NTLM messages (MS-NLMP §2.2.1) built here byte by byte, then decoded; damaged
security buffers and truncations become errors, never exceptions. Real client
messages (curl, swaks) are in test_sasl_corpus.py."""

from __future__ import annotations

import base64
import struct

import pytest

from smtplens.sasl import SaslExchange
from smtplens.sasl.ntlm import filetime, flag_names
from smtplens.secret import Secret

UNICODE, OEM, REQUEST_TARGET, NTLM = 0x1, 0x2, 0x4, 0x200
DOMAIN_SUPPLIED, WORKSTATION_SUPPLIED = 0x1000, 0x2000
ESS, TARGET_INFO, VERSION = 0x80000, 0x800000, 0x02000000
WIN10 = struct.pack("<BBH3xB", 10, 0, 19041, 15)
FILETIME_2024 = 133_485_408_000_000_000  # 2024-01-01T00:00:00Z


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def utf16(text: str) -> bytes:
    return text.encode("utf-16-le")


def layout(header: int, payloads: list[bytes]) -> tuple[list[bytes], bytes]:
    """Security buffers (length, max length, offset) for payloads placed after a
    ``header``-byte fixed part, and the payload bytes."""
    buffers, offset = [], header
    for payload in payloads:
        buffers.append(struct.pack("<HHI", len(payload), len(payload), offset))
        offset += len(payload)
    return buffers, b"".join(payloads)


def av(pairs: list[tuple[int, bytes]]) -> bytes:
    return b"".join(struct.pack("<HH", i, len(v)) + v for i, v in pairs) + b"\0\0\0\0"


def negotiate(flags: int, domain: bytes = b"", workstation: bytes = b"") -> bytes:
    header = 40 if flags & VERSION else 32
    (dom, ws), payload = layout(header, [domain, workstation])
    version = WIN10 if flags & VERSION else b""
    return b"NTLMSSP\0" + struct.pack("<II", 1, flags) + dom + ws + version + payload


def challenge(flags: int, target: bytes, nonce: bytes, info: bytes = b"") -> bytes:
    header = 56 if flags & VERSION else 48
    (name, target_info), payload = layout(header, [target, info])
    version = WIN10 if flags & VERSION else b""
    fixed = struct.pack("<I", 2) + name + struct.pack("<I", flags) + nonce + bytes(8)
    return b"NTLMSSP\0" + fixed + target_info + version + payload


def authenticate(
    flags: int, lm: bytes, nt: bytes, domain: bytes, user: bytes, workstation: bytes
) -> bytes:
    header = 88 if flags & VERSION else 64
    buffers, payload = layout(header, [lm, nt, domain, user, workstation, b""])
    extra = WIN10 + bytes(16) if flags & VERSION else b""  # version and MIC
    fixed = struct.pack("<I", 3) + b"".join(buffers) + struct.pack("<I", flags)
    return b"NTLMSSP\0" + fixed + extra + payload


def ntlmv2_response(spn: str) -> bytes:
    """MS-NLMP §2.2.2.8: NTProofStr + blob with timestamp, client challenge, AV pairs."""
    blob = b"\x01\x01" + bytes(6) + FILETIME_2024.to_bytes(8, "little") + b"\x11" * 8
    blob += bytes(4) + av([(2, utf16("CORP")), (9, utf16(spn))]) + bytes(4)
    return b"\xaa" * 16 + blob


def test_full_unicode_ntlmv2_exchange() -> None:
    ex = SaslExchange("NTLM")
    assert ex.server("").label == "empty"  # bare "334 " after AUTH NTLM
    flags1 = UNICODE | OEM | REQUEST_TARGET | NTLM | DOMAIN_SUPPLIED | WORKSTATION_SUPPLIED
    type1 = ex.client(b64(negotiate(flags1 | VERSION, b"CORP", b"PC1")))
    assert type1.label == "NTLM type 1 (negotiate)" and not type1.error
    assert type1.wire == b64(negotiate(flags1 | VERSION, b"CORP", b"PC1"))  # not secret
    assert type1.describe() == 'NTLM type 1: domain "CORP", workstation "PC1"'
    assert dict(type1.fields)["OS version"] == "10.0 build 19041 (NTLM revision 15)"

    flags2 = UNICODE | NTLM | ESS | TARGET_INFO | VERSION
    info = av(
        [
            (2, utf16("CORP")),
            (1, utf16("MAIL1")),
            (4, utf16("corp.example")),
            (3, utf16("mail1.corp.example")),
            (7, FILETIME_2024.to_bytes(8, "little")),
        ]
    )
    type2 = ex.server(b64(challenge(flags2, utf16("CORP"), bytes(range(8)), info)))
    assert type2.label == "NTLM type 2 (challenge)" and not type2.error
    assert type2.describe() == (
        'NTLM type 2: target name "CORP", challenge "0001020304050607", '
        'NetBIOS domain "CORP", NetBIOS computer "MAIL1", DNS domain "corp.example", '
        'DNS computer "mail1.corp.example"'
    )
    assert dict(type2.fields)["timestamp"] == "2024-01-01T00:00:00Z"
    assert "flags" in type2.describe(verbose=True)

    nt = ntlmv2_response("SMTP/mail1.corp.example")
    message = authenticate(
        UNICODE | NTLM | VERSION, bytes(24), nt, utf16("CORP"), utf16("bob"), utf16("PC1")
    )
    type3 = ex.client(b64(message))
    assert type3.label == "NTLM type 3 (authenticate)" and not type3.error
    assert isinstance(type3.wire, Secret) and type3.wire.kind == "response"
    response = dict(type3.fields)["NTLMv2 response"]
    assert isinstance(response, Secret) and response.value == nt.hex()
    assert type3.describe() == (
        'NTLM type 3: domain "CORP", user "bob", workstation "PC1", '
        f"NTLMv2 response [redacted response, {2 * len(nt)} chars], "
        'target SPN "SMTP/mail1.corp.example"'
    )
    assert nt.hex() not in repr(type3) and nt.hex() not in type3.describe(verbose=True)
    detail = dict(type3.fields)
    assert detail["NT response length"] == str(len(nt)) and detail["LM response length"] == "24"
    assert str(detail["OS version"]).startswith("10.0 build 19041")
    assert (ex.user, ex.authzid, ex.secrets_exposed) == ("CORP\\bob", None, False)


def test_oem_ntlmv1_with_extended_session_security() -> None:
    ex = SaslExchange("NTLM")
    step = ex.client(b64(authenticate(OEM | NTLM | ESS, bytes(24), b"\x01" * 24, b"", b"al", b"")))
    assert step.describe() == (
        'NTLM type 3: user "al", NTLMv1 (extended session security) response '
        "[redacted response, 48 chars]"
    )
    assert ex.user == "al"


def test_old_type3_without_flags_guesses_the_encoding() -> None:
    (lm, nt, dom, user, ws), payload = layout(52, [bytes(24), bytes(24), b"", utf16("eve"), b""])
    message = b"NTLMSSP\0" + struct.pack("<I", 3) + lm + nt + dom + user + ws + payload
    ex = SaslExchange("NTLM")
    step = ex.client(b64(message))
    assert not step.error and ex.user == "eve"
    assert "flags" not in dict(step.fields)


def test_anonymous_authenticate() -> None:
    ex = SaslExchange("NTLM")
    step = ex.client(b64(authenticate(UNICODE | NTLM | 0x800, b"\0", b"", b"", b"", b"")))
    assert dict(step.fields)["NT response"] == "none (anonymous)"
    assert ex.user is None


def test_unflagged_buffers_are_ignored() -> None:
    # Exim's SPA server leaves junk in the target info field without the flag
    junk = challenge(UNICODE | NTLM, b"", b"\x01" * 8)[:40] + struct.pack("<HHI", 11520, 1, 0)
    step = SaslExchange("NTLM").server(b64(junk))
    assert not step.error and step.describe() == 'NTLM type 2: challenge "0101010101010101"'
    type1 = negotiate(NTLM)[:16] + struct.pack("<HHI", 4, 4, 999) + bytes(8)
    assert not SaslExchange("NTLM").client(b64(type1)).error


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (negotiate(NTLM)[:14], "NEGOTIATE message truncated (14 bytes)"),
        (challenge(NTLM, b"", bytes(8))[:30], "CHALLENGE message truncated (30 bytes)"),
        (
            authenticate(NTLM, b"", b"", b"", b"u", b"")[:40],
            "AUTHENTICATE message truncated (40 bytes)",
        ),
    ],
)
def test_truncated_messages(message: bytes, error: str) -> None:
    ex = SaslExchange("NTLM")
    step = ex.server(b64(message)) if message[8] == 2 else ex.client(b64(message))
    assert step.valid_base64 and step.error == error


def test_buffers_pointing_outside_the_message() -> None:
    good = authenticate(UNICODE | NTLM, bytes(24), bytes(24), b"", utf16("bob"), b"")
    bad = bytearray(good)
    struct.pack_into("<HHI", bad, 36, 6, 6, 60_000)  # the user buffer
    struct.pack_into("<HHI", bad, 20, 24, 24, len(good) - 4)  # the NT response
    ex = SaslExchange("NTLM")
    step = ex.client(b64(bytes(bad)))
    assert step.error == (
        f"NT response buffer (offset {len(good) - 4}, length 24) points outside the "
        f"{len(good)}-byte message; user buffer (offset 60000, length 6) points outside "
        f"the {len(good)}-byte message"
    )
    assert ex.user is None
    info = bytearray(challenge(UNICODE | TARGET_INFO, b"", bytes(8), av([(2, utf16("X"))])))
    info[-2:] = b"\xff\x00"  # the terminating MsvAvEOL claims 255 bytes: ignored
    assert not SaslExchange("NTLM").server(b64(bytes(info))).error
    info[50:52] = b"\x40\x00"  # the first AV pair claims 64 bytes
    assert SaslExchange("NTLM").server(b64(bytes(info))).error == (
        "target info AV pair runs past its buffer"
    )


def test_wrong_direction_and_unknown_type() -> None:
    ex = SaslExchange("NTLM")
    step = ex.client(b64(challenge(NTLM, b"", bytes(8))))
    assert step.error == "type 2 message sent by the client"
    assert ex.server(b64(negotiate(NTLM))).error == "type 1 message sent by the server"
    unknown = ex.client(b64(b"NTLMSSP\0" + struct.pack("<I", 7) + bytes(20)))
    assert unknown.label == "NTLM type 7 (unknown)" and isinstance(unknown.wire, Secret)


def test_not_ntlm() -> None:
    # exim test 3600: the client sends "teststring" instead of a NEGOTIATE message
    ex = SaslExchange("NTLM")
    step = ex.client("dGVzdHN0cmluZw==")
    assert (step.label, step.error) == ("not NTLM", "no NTLMSSP signature")
    assert isinstance(step.wire, Secret)
    assert SaslExchange("MSN").client(b64(negotiate(NTLM))).label == "NTLM type 1 (negotiate)"


def test_helpers() -> None:
    assert flag_names(0) == "0"
    assert flag_names(UNICODE | 0x8 | 0x4000) == "NEGOTIATE_UNICODE|0x00004008"
    assert filetime(0) == "1601-01-01T00:00:00Z"
    assert filetime(2**64 - 1) == f"FILETIME {2**64 - 1}"
