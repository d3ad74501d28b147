"""SCRAM-SHA-1 (RFC 5802 §5) and SCRAM-SHA-256 (RFC 7677 §3) example exchanges; the
proofs are recomputed from the password so the examples are known to be genuine."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from smtplens.sasl import SaslExchange, SaslStep
from smtplens.secret import Secret

RFC5802 = (
    "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
    "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
    "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
    "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
)
RFC7677 = (
    "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    (
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    ),
    "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
)


def b64(data: str) -> str:
    return base64.b64encode(data.encode()).decode()


def proof(algorithm: str, password: str, messages: tuple[str, str, str, str]) -> str:
    """RFC 5802 §3 ClientProof for the given exchange."""
    client_first, server_first, client_final, _ = messages
    salt = base64.b64decode(dict(a.split("=", 1) for a in server_first.split(","))["s"])
    salted = hashlib.pbkdf2_hmac(algorithm, password.encode(), salt, 4096)
    client_key = hmac.new(salted, b"Client Key", algorithm).digest()
    auth_message = ",".join(
        (client_first[3:], server_first, client_final.rsplit(",p=", 1)[0])
    ).encode()
    signature = hmac.new(hashlib.new(algorithm, client_key).digest(), auth_message, algorithm)
    return base64.b64encode(
        bytes(a ^ b for a, b in zip(client_key, signature.digest(), strict=True))
    ).decode()


def run(mechanism: str, messages: tuple[str, ...]) -> tuple[SaslExchange, list[SaslStep]]:
    ex = SaslExchange(mechanism)
    steps = [ex.initial_response(b64(messages[0]))]
    steps.append(ex.server(b64(messages[1])))
    steps.append(ex.client(b64(messages[2])))
    steps.append(ex.server(b64(messages[3])))
    steps.append(ex.client(""))
    return ex, steps


@pytest.mark.parametrize(
    ("mechanism", "messages", "algorithm"),
    [("SCRAM-SHA-1", RFC5802, "sha1"), ("SCRAM-SHA-256", RFC7677, "sha256")],
)
def test_rfc_examples(mechanism: str, messages: tuple[str, str, str, str], algorithm: str) -> None:
    ex, steps = run(mechanism, messages)
    labels = [step.label for step in steps]
    assert labels == ["client-first", "server-first", "client-final", "server-final", "empty"]
    assert all(not step.error and step.valid_base64 for step in steps)
    first, server_first, final, server_final, _ = steps
    assert first.wire == b64(messages[0])  # nothing secret in client-first
    nonce = messages[0].rsplit("r=", 1)[1]
    assert first.describe() == (
        f'client-first: channel binding "n (the client does not support it)", '
        f'user "user", nonce "{nonce}"'
    )
    assert dict(server_first.fields)["iterations"] == "4096"
    assert isinstance(final.wire, Secret) and final.wire.kind == "proof"
    client_proof = dict(final.fields)["proof"]
    assert isinstance(client_proof, Secret)
    assert client_proof.value == proof(algorithm, "pencil", messages)
    assert dict(final.fields)["channel binding"] == "n,,"
    for shown in (repr(final), final.describe(), final.describe(verbose=True)):
        assert client_proof.value not in shown
    assert server_final.describe() == f'server-final: verifier "{messages[3][2:]}"'
    assert (ex.user, ex.authzid, ex.secrets_exposed) == ("user", None, False)


def test_names_are_unescaped_and_authzid_read() -> None:
    ex = SaslExchange("SCRAM-SHA-1")
    step = ex.initial_response(b64("n,a=adm=3Din=2C1,n=we=2Cird=3Dname,r=abc"))
    assert not step.error
    assert (ex.user, ex.authzid) == ("we,ird=name", "adm=in,1")


def test_server_error() -> None:
    _, steps = run("SCRAM-SHA-1", (RFC5802[0], RFC5802[1], RFC5802[2], "e=invalid-proof"))
    assert steps[3].label == "server-error"
    assert steps[3].describe() == 'server-error: error "invalid-proof"'


def test_nonce_and_channel_binding_checks() -> None:
    ex = SaslExchange("SCRAM-SHA-256")
    ex.initial_response(b64("n,,n=user,r=clientnonce"))
    bad_server = ex.server(b64("r=othernonce,s=QSXCR+Q6sek8bf92,i=4096"))
    assert bad_server.error == "server nonce does not extend the client nonce"
    bad_final = ex.client(b64("c=eSws,r=something,p=AAAA"))
    assert bad_final.error == (
        "c= does not repeat the client-first GS2 header; nonce differs from the server-first nonce"
    )


@pytest.mark.parametrize(
    ("mechanism", "first", "error"),
    [
        ("SCRAM-SHA-1-PLUS", "n,,n=u,r=x", "SCRAM -PLUS without channel binding (p=)"),
        (
            "SCRAM-SHA-1",
            "p=tls-unique,,n=u,r=x",
            "channel binding (p=) with a mechanism that is not -PLUS",
        ),
        ("SCRAM-SHA-1-PLUS", "p=tls-exporter,,n=u,r=x", ""),
        ("SCRAM-SHA-1", "y,,n=u,r=x", ""),
        ("SCRAM-SHA-1", "n,,m=ext,n=u,r=x", "mandatory extension m= (reserved, RFC 5802 §5.1)"),
        ("SCRAM-SHA-1", "n,,r=x", "no n= attribute"),
        ("SCRAM-SHA-1", "n,,n=u=zz,r=x", "bad '=' escape in a name (RFC 5802 §5.1)"),
    ],
)
def test_client_first_checks(mechanism: str, first: str, error: str) -> None:
    step = SaslExchange(mechanism).initial_response(b64(first))
    assert step.label == "client-first" and step.error == error


def test_plus_channel_binding_data_is_sized() -> None:
    ex = SaslExchange("SCRAM-SHA-256-PLUS")
    ex.initial_response(b64("p=tls-exporter,,n=u,r=x"))
    c = base64.b64encode(b"p=tls-exporter,," + b"\x01" * 32).decode()
    final = ex.client(b64(f"c={c},r=x,p=AAAA"))
    assert dict(final.fields)["channel binding"] == (
        "p=tls-exporter,, + 32 bytes of channel-binding data"
    )


def test_not_scram() -> None:
    step = SaslExchange("SCRAM-SHA-1").client(b64("hunter22"))
    assert step.error == "not a SCRAM message" and isinstance(step.wire, Secret)
