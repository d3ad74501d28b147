"""SaslExchange framing (RFC 4954 §4), SaslStep.describe, secrets, and the property that
no input to any method of any mechanism ever raises."""

from __future__ import annotations

import base64
import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smtplens.sasl import DETAIL_FIELDS, SaslExchange, SaslStep
from smtplens.secret import Secret
from smtplens.stream import Direction

MECHANISMS = [
    "PLAIN",
    "LOGIN",
    "CRAM-MD5",
    "CRAM-SHA1",
    "DIGEST-MD5",
    "XOAUTH2",
    "OAUTHBEARER",
    "SCRAM-SHA-1",
    "SCRAM-SHA-256",
    "SCRAM-SHA-256-PLUS",
    "NTLM",
    "GSSAPI",
    "GSS-SPNEGO",
    "EXTERNAL",
    "ANONYMOUS",
    "X-UNKNOWN",
]


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def secrets_of(step: SaslStep) -> list[Secret]:
    found = [value for _, value in step.fields if isinstance(value, Secret)]
    return found + ([step.wire] if isinstance(step.wire, Secret) else [])


def masked(step: SaslStep) -> SaslStep:
    """The same step with every secret value replaced by another of the same length."""

    def mask(value: str | Secret) -> str | Secret:
        if isinstance(value, Secret):
            return Secret("#" * len(value.value), value.kind)
        return value

    fields = tuple((name, mask(value)) for name, value in step.fields)
    return dataclasses.replace(step, wire=mask(step.wire), fields=fields)


def assert_redacted(step: SaslStep) -> None:
    """Nothing shown by default depends on a secret's value (only on its length)."""
    other = masked(step)
    assert repr(step) == repr(other)
    assert str(step) == str(other)
    assert step.describe() == other.describe()
    assert step.describe(verbose=True) == other.describe(verbose=True)
    # a step holding a secret must not show its Base64 either
    if any(isinstance(value, Secret) for _, value in step.fields):
        assert step.direction is Direction.SERVER or isinstance(step.wire, Secret)


# -- Base64 and framing ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("dGVz dA==", "whitespace at offset 4"),
        ("Username:", "character ':' at offset 8"),
        ("dGVzdA", "length 6 is not a multiple of 4"),
        ("dG=zdA==", "'=' padding before the end"),
        ("dGVzdA==\r", "whitespace at offset 8"),
        ("ZGVtbw==ZGVtbw==", "'=' padding before the end"),
        ("caf\u00e9", "character 'é' at offset 3"),
    ],
)
def test_invalid_base64_is_shown_raw_with_the_reason(text: str, why: str) -> None:
    ex = SaslExchange("PLAIN")
    server = ex.server(text)
    assert (server.valid_base64, server.wire, server.label) == (False, text, "not Base64")
    assert server.error == why
    client = ex.client(text)
    assert not client.valid_base64 and client.error == why
    # an undecodable client line may be a password typed in clear
    assert isinstance(client.wire, Secret) and client.wire.value == text
    assert text not in repr(client) and text not in client.describe()
    assert client.describe() == f"not Base64: {why}"


def test_empty_challenge_and_empty_answer_are_valid() -> None:
    ex = SaslExchange("plain")
    assert ex.mechanism == "PLAIN"
    step = ex.server("")  # RFC 4954 §4 example: "S: 334 " then the credentials
    assert (step.valid_base64, step.label, step.error) == (True, "empty", "")
    assert ex.client("dGVzdAB0ZXN0ADEyMzQ=").label == "credentials"


def test_equals_sign_means_empty_only_on_the_auth_line() -> None:
    ex = SaslExchange("EXTERNAL")
    step = ex.initial_response("=")
    assert step.valid_base64 and step.wire == "="
    assert step.fields == (("authzid", ""),) and ex.authzid is None
    later = SaslExchange("EXTERNAL").client("=")
    assert not later.valid_base64 and "only on the AUTH line" in later.error


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_star_cancels_in_every_mechanism(mechanism: str) -> None:
    ex = SaslExchange(mechanism)
    ex.server("")
    step = ex.client("*")
    assert (step.label, step.valid_base64, step.wire, step.error) == ("cancel", True, "*", "")
    assert step.describe() == "cancel" and ex.cancelled


def test_cancel_after_a_rubbish_challenge() -> None:
    # curl tests 932-937: "334 Rubbish", the client gives up with "*"
    ex = SaslExchange("CRAM-MD5")
    assert not ex.server("Rubbish").valid_base64
    assert ex.client("*").label == "cancel" and ex.cancelled and ex.user is None


def test_star_inside_a_line_is_not_a_cancel() -> None:
    ex = SaslExchange("LOGIN")
    # issue 13: "**" is a log's mask (as Exim's "********"), neither a cancel nor bad Base64
    assert ex.client("**").label == "masked by the log" and not ex.cancelled
    assert ex.client("a*b").label == "not Base64" and not ex.cancelled


def test_unknown_mechanism_keeps_client_data_secret() -> None:
    ex = SaslExchange("X-FOO")
    server = ex.server(b64("hello there"))
    assert server.describe() == 'challenge "hello there"'
    assert ex.server(b64(b"\x00\xff\x10")).describe() == 'challenge: size "3 bytes"'
    client = ex.client(b64("hunter2hunter2"))
    assert isinstance(client.wire, Secret) and client.wire.kind == "data"
    assert client.describe() == 'client data: size "14 bytes"'
    assert not ex.secrets_exposed and ex.user is None


def test_anonymous_trace() -> None:
    # RFC 4505 §3 example: "sirhc" as trace information
    ex = SaslExchange("ANONYMOUS")
    step = ex.initial_response(b64("sirhc"))
    assert step.describe() == 'trace "sirhc"' and step.wire == b64("sirhc")
    assert ex.user is None and not ex.secrets_exposed


# -- describe() ---------------------------------------------------------------------


def test_describe_shapes() -> None:
    prompt = SaslStep(
        Direction.SERVER, "VXNlcm5hbWU6", True, 'prompt "Username:"', (("prompt", "Username:"),)
    )
    assert prompt.describe() == "Username:"
    user = SaslStep(Direction.CLIENT, "YWxpY2U=", True, "username", (("user", "alice"),))
    assert user.describe() == 'user "alice"'
    secret = Secret("s3cret!!", "password")
    password = SaslStep(
        Direction.CLIENT,
        Secret("czNjcmV0ISE=", "password"),
        True,
        "password",
        (("password", secret),),
    )
    assert password.describe() == "password [redacted password, 8 chars]"
    assert password.describe(reveal=True) == 'password "s3cret!!"'
    ntlm = SaslStep(
        Direction.CLIENT,
        Secret("TlRM", "response"),
        True,
        "NTLM type 3 (authenticate)",
        (
            ("domain", "CORP"),
            ("user", "bob"),
            ("workstation", "PC1"),
            ("NTLMv2 response", Secret("ab" * 24, "response")),
            ("flags", "NEGOTIATE_UNICODE"),
        ),
    )
    assert ntlm.describe() == (
        'NTLM type 3: domain "CORP", user "bob", workstation "PC1", '
        "NTLMv2 response [redacted response, 48 chars]"
    )
    assert ntlm.describe(verbose=True).endswith('flags "NEGOTIATE_UNICODE"')
    assert "flags" in DETAIL_FIELDS


def test_describe_quotes_and_errors() -> None:
    step = SaslStep(
        Direction.SERVER, "x", True, "digest-challenge", (("realm", 'cu"rl'),), "no nonce directive"
    )
    assert step.describe() == 'digest-challenge: realm "cu\\"rl"; no nonce directive'
    bare = SaslStep(Direction.SERVER, "x", True, "empty", error="why")
    assert bare.describe() == "empty: why"


def test_revealed_secrets_are_escaped() -> None:
    ex = SaslExchange("PLAIN")
    step = ex.initial_response(b64("\0bob\0pa\x1bss"))
    assert step.describe(reveal=True) == 'credentials: user "bob", password "pa\\x1bss"'


# -- properties: never raise, never leak ---------------------------------------------

_ALPHABET = 'ab=,"\\ \x00\x01\x7f\u00e9:*nrpsicv0123456789NTLMSP'
_b64_of_text = st.text(alphabet=_ALPHABET, max_size=80).map(b64)
_b64_of_bytes = st.binary(max_size=300).map(b64)
_ntlm_like = st.tuples(st.sampled_from([1, 2, 3, 4]), st.binary(max_size=200)).map(
    lambda t: b64(b"NTLMSSP\x00" + t[0].to_bytes(4, "little") + t[1])
)
_gss_like = st.binary(max_size=60).map(lambda b: b64(b"\x60" + b))
_scram_like = st.lists(
    st.tuples(st.sampled_from("nrpscvieam"), st.text(alphabet=_ALPHABET, max_size=10)),
    max_size=5,
).map(lambda attrs: b64("n,," + ",".join(f"{k}={v}" for k, v in attrs)))
LINES = st.one_of(
    st.text(max_size=100),
    st.sampled_from(["", "=", "*", " ", "AQ==", "AA==", "\x00", "====", "A"]),
    _b64_of_text,
    _b64_of_bytes,
    _ntlm_like,
    _gss_like,
    _scram_like,
)
CALLS = st.lists(
    st.tuples(st.sampled_from(["initial_response", "server", "client"]), LINES), max_size=8
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(mechanism=st.sampled_from(MECHANISMS), calls=CALLS)
def test_no_input_raises_and_nothing_leaks(mechanism: str, calls: list[tuple[str, str]]) -> None:
    ex = SaslExchange(mechanism)
    for method, text in calls:
        step = getattr(ex, method)(text)
        assert isinstance(step, SaslStep) and step.label
        assert step.label != "undecoded", step.error  # the last-resort guard never fires
        assert step.direction is (Direction.SERVER if method == "server" else Direction.CLIENT)
        if not step.valid_base64:
            assert step.error
            assert step.direction is Direction.SERVER or isinstance(step.wire, Secret)
        for name, value in step.fields:
            assert isinstance(name, str) and isinstance(value, str | Secret)
        assert "\n" not in step.describe(reveal=True, verbose=True)
        assert_redacted(step)
    assert ex.user is None or isinstance(ex.user, str)
    assert isinstance(ex.secrets_exposed, bool) and isinstance(ex.cancelled, bool)


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_huge_and_binary_lines(mechanism: str) -> None:
    ex = SaslExchange(mechanism)
    huge = b64(b"NTLMSSP\x00\x03\x00\x00\x00" + b"\xff" * 300_000)
    for text in (huge, "A" * 1_000_000, b64("=" * 200_000 + '"' * 100_000), "\x00\xff" * 1000):
        for method in (ex.initial_response, ex.server, ex.client):
            step = method(text)
            assert step.label != "undecoded", step.error
            assert_redacted(step)
