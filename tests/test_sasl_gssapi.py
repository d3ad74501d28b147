"""GSSAPI / GSS-SPNEGO (RFC 4752): opaque tokens, sized and recognised by their header."""

from __future__ import annotations

import base64

import pytest

from smtplens.sasl import SaslExchange
from smtplens.sasl.gssapi import der_length, oid_text, token_kind
from smtplens.secret import Secret

KRB5_OID = bytes.fromhex("06092a864886f712010202")  # 1.2.840.113554.1.2.2
KRB5_MS_OID = bytes.fromhex("06092a864882f712010202")  # 1.2.840.48018.1.2.2
SPNEGO_OID = bytes.fromhex("06062b0601050502")  # 1.3.6.1.5.5.2
OTHER_OID = bytes.fromhex("06032a0304")  # 1.2.3.4


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def initial_token(oid: bytes, inner: bytes) -> bytes:
    """RFC 2743 §3.1 InitialContextToken, with a long-form length when needed."""
    body = oid + inner
    if len(body) < 0x80:
        return b"\x60" + bytes([len(body)]) + body
    return b"\x60\x82" + len(body).to_bytes(2, "big") + body


AP_REQ = initial_token(KRB5_OID, b"\x01\x00" + b"\x6e\x82\x01\x00" + b"\x55" * 300)


def test_kerberos_exchange() -> None:
    ex = SaslExchange("GSSAPI")
    assert ex.server("").label == "empty"
    step = ex.client(b64(AP_REQ))
    assert step.label == "GSSAPI token"
    assert isinstance(step.wire, Secret) and step.wire.kind == "token"
    assert step.describe() == f'GSSAPI token: size "{len(AP_REQ)} bytes", hint "Kerberos AP-REQ"'
    reply = ex.server(b64(initial_token(KRB5_OID, b"\x02\x00" + b"\x6f\x10" + bytes(16))))
    assert reply.describe().endswith('hint "Kerberos AP-REP"') and reply.wire
    assert not isinstance(reply.wire, Secret)
    # RFC 4752 §3.1: the server's wrapped security-layer offer, the client's answer
    wrap = b"\x05\x04\x00\xff" + bytes(12) + b"\x01\x00\x10\x00"
    assert dict(ex.server(b64(wrap)).fields)["hint"] == "Kerberos wrap token (RFC 4121)"
    assert ex.client(b64(wrap)).label == "GSSAPI token"
    assert ex.client("").label == "empty"
    assert (ex.user, ex.secrets_exposed) == (None, False)


@pytest.mark.parametrize(
    ("token", "hint"),
    [
        (AP_REQ, "Kerberos AP-REQ"),
        (initial_token(KRB5_MS_OID, b"\x01\x00"), "Kerberos AP-REQ (Microsoft OID)"),
        (initial_token(KRB5_OID, b"\x03\x00"), "Kerberos KRB-ERROR"),
        (initial_token(KRB5_OID, b"\x09\x09"), "Kerberos token"),
        (initial_token(SPNEGO_OID, b"\xa0\x00"), "SPNEGO negTokenInit"),
        (initial_token(OTHER_OID, b""), "GSS-API initial context token (OID 1.2.3.4)"),
        (b"\x60\x05\x04", "GSS-API initial context token (malformed)"),
        (b"\x60\x80\x06", "GSS-API initial context token (malformed)"),
        (b"\x60\x05\x06\x7f", "GSS-API initial context token (malformed)"),
        (b"\x60", "GSS-API initial context token (malformed)"),
        (b"\xa1\x07\x30\x05", "SPNEGO negTokenResp"),
        (b"\x04\x04\x00", "Kerberos MIC token (RFC 4121)"),
        (b"NTLMSSP\x00\x01", "raw NTLMSSP message"),
        (b"\x00\x01", "opaque"),
    ],
)
def test_token_kind(token: bytes, hint: str) -> None:
    assert token_kind(token) == hint


def test_spnego_mechanism() -> None:
    step = SaslExchange("GSS-SPNEGO").client(b64(initial_token(SPNEGO_OID, b"\xa0\x00")))
    assert dict(step.fields)["hint"] == "SPNEGO negTokenInit"


def test_der_helpers() -> None:
    assert der_length(b"\x05", 0) == (5, 1)
    assert der_length(b"\x82\x01\x00", 0) == (256, 3)
    assert der_length(b"\x80", 0) is None  # indefinite length
    assert der_length(b"\x85\x01\x02\x03\x04\x05", 0) is None
    assert der_length(b"\x82\x01", 0) is None
    assert der_length(b"", 0) is None
    assert oid_text(bytes.fromhex("2a864886f712010202")) == "1.2.840.113554.1.2.2"
    assert oid_text(bytes.fromhex("8837")) == "2.999"
    assert oid_text(b"\x86") is None and oid_text(b"") is None
