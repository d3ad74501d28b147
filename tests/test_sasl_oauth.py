"""XOAUTH2 (Google's protocol document) and OAUTHBEARER (RFC 7628), with curl's cases."""

from __future__ import annotations

import base64

import pytest

from smtplens.sasl import SaslExchange, SaslStep
from smtplens.secret import Secret

# developers.google.com/gmail/imap/xoauth2-protocol
GOOGLE_CLIENT = (
    "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNr"
    "QmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
)
GOOGLE_TOKEN = "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
GOOGLE_ERROR = (
    "eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIG1hYyIsInNjb3BlIjoiaHR0cHM6Ly9t"
    "YWlsLmdvb2dsZS5jb20vIn0K"
)
# RFC 7628 §4.1 and §4.3
RFC7628_CLIENT = (
    "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVh"
    "cmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB"
)
RFC7628_TOKEN = "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="
RFC7628_ERROR = (
    "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxlX3Njb3BlIiwib3BlbmlkLWNvbmZp"
    "Z3VyYXRpb24iOiJodHRwczovL2V4YW1wbGUuY29tLy53ZWxsLWtub3duL29wZW5pZC1jb25maWd1cmF0aW9u"
    "In0="
)


def b64(data: str) -> str:
    return base64.b64encode(data.encode()).decode()


def assert_hidden(step: SaslStep, secret: str) -> None:
    for shown in (str(step), repr(step), step.describe(), step.describe(verbose=True)):
        assert secret not in shown


# -- XOAUTH2 ----------------------------------------------------------------------------


def test_google_xoauth2_failure_dialogue() -> None:
    ex = SaslExchange("XOAUTH2")
    client = ex.initial_response(GOOGLE_CLIENT)
    assert client.label == "credentials" and not client.error
    assert isinstance(client.wire, Secret) and client.wire.kind == "token"
    token = dict(client.fields)["token"]
    assert isinstance(token, Secret) and (token.kind, token.value) == ("token", GOOGLE_TOKEN)
    assert client.describe() == (
        'credentials: user "someuser@example.com", token [redacted token, 45 chars]'
    )
    assert_hidden(client, GOOGLE_TOKEN)
    error = ex.server(GOOGLE_ERROR)
    assert error.label == "error (JSON)" and error.fields == (
        ("status", "401"),
        ("schemes", "bearer mac"),
        ("scope", "https://mail.google.com/"),
    )
    assert error.describe() == (
        'error: status "401", schemes "bearer mac", scope "https://mail.google.com/"'
    )
    assert ex.client("").label == "empty"  # the SASL-required empty answer
    assert (ex.user, ex.secrets_exposed) == ("someuser@example.com", True)


def test_curl_xoauth2() -> None:
    # curl tests 908 / 922
    ex = SaslExchange("XOAUTH2")
    ex.client(b64("user=user\x01auth=Bearer mF_9.B5f-4.1JqM\x01\x01"))
    assert ex.user == "user" and ex.secrets_exposed


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("user=bob\x01auth=Bearer tok", "does not end with ^A^A"),
        ("user=bob\x01\x01", "no auth="),
        ("auth=Bearer tok\x01\x01", "no user="),
        ("user=bob\x01auth=Bearer \x01\x01", "empty token"),
        ("user=bob\x01auth=Basic Ym9iOnB3\x01\x01", "auth scheme is not Bearer"),
        ("user=bob\x01hunter22\x01auth=Bearer t\x01\x01", "a part is not key=value"),
    ],
)
def test_xoauth2_malformed(message: str, error: str) -> None:
    step = SaslExchange("XOAUTH2").initial_response(b64(message))
    assert step.valid_base64 and error in step.error.split("; ")
    assert isinstance(step.wire, Secret)
    assert_hidden(step, "hunter22")


def test_exchange_style_json_error() -> None:
    # Microsoft 365 sends {"status":"401","schemes":"Bearer"} without a scope
    step = SaslExchange("XOAUTH2").server("eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiQmVhcmVyIn0=")
    assert step.fields == (("status", "401"), ("schemes", "Bearer"))


def test_json_lookalikes() -> None:
    ex = SaslExchange("XOAUTH2")
    broken = ex.server(b64('{"status":'))
    assert broken.label == "challenge" and broken.error == "looks like JSON but does not parse"
    nested = ex.server(b64('{"a":{"b":[1,2]},"n":3}'))
    assert nested.fields == (("a", '{"b": [1, 2]}'), ("n", "3"))
    deep = ex.server(b64("{" + '"a":{' * 50_000 + "}" * 50_001))
    assert deep.label == "challenge"  # too deep for the JSON parser: no crash


# -- OAUTHBEARER ------------------------------------------------------------------------


def test_rfc7628_success_and_failure() -> None:
    ex = SaslExchange("OAUTHBEARER")
    client = ex.initial_response(RFC7628_CLIENT)
    assert client.label == "credentials" and not client.error
    assert client.describe() == (
        'credentials: user "user@example.com", host "server.example.com", port "143", '
        "token [redacted token, 42 chars]"
    )
    token = dict(client.fields)["token"]
    assert isinstance(token, Secret) and token.value == RFC7628_TOKEN
    assert_hidden(client, RFC7628_TOKEN)
    assert (ex.user, ex.authzid, ex.secrets_exposed) == (
        "user@example.com",
        "user@example.com",
        True,
    )
    error = ex.server(RFC7628_ERROR)
    assert error.label == "error (JSON)"
    assert dict(error.fields) == {
        "status": "invalid_token",
        "scope": "example_scope",
        "openid-configuration": "https://example.com/.well-known/openid-configuration",
    }
    kvsep = ex.client("AQ==")  # RFC 7628 §3.2.3: a single ^A acknowledges the error
    assert kvsep.label == "kvsep (after error)" and kvsep.wire == "AQ=="


def test_curl_oauthbearer_after_334() -> None:
    # curl test 946: "334 OAUTHBEARER supported" (not Base64), then the credentials
    ex = SaslExchange("OAUTHBEARER")
    assert not ex.server("OAUTHBEARER supported").valid_base64
    step = ex.client(
        b64("n,a=user,\x01host=127.0.0.1\x01port=3025\x01auth=Bearer mF_9.B5f-4.1JqM\x01\x01")
    )
    assert not step.error and ex.user == "user"


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("user=bob\x01auth=Bearer t\x01\x01", "no GS2 header (n,a=...,)"),
        ("y,,\x01auth=Bearer t\x01\x01", "channel binding flag must be 'n'"),
        ("n,,\x01host=x\x01\x01", "no auth="),
        ("n,,auth=Bearer t", "key=value pairs not framed by ^A ... ^A^A"),
        ("n,a=a=3Db=2Cc,\x01auth=Bearer t\x01\x01", ""),
        ("n,a=bad=xy,\x01auth=Bearer t\x01\x01", "bad '=' escape in a name (RFC 5802 §5.1)"),
    ],
)
def test_oauthbearer_malformed(message: str, error: str) -> None:
    step = SaslExchange("OAUTHBEARER").initial_response(b64(message))
    assert step.valid_base64 and (error in step.error.split("; ") if error else not step.error)
    assert isinstance(step.wire, Secret)


def test_oauthbearer_unescapes_the_authzid() -> None:
    ex = SaslExchange("OAUTHBEARER")
    ex.initial_response(b64("n,a=a=3Db=2Cc,\x01auth=Bearer t\x01\x01"))
    assert ex.user == "a=b,c"


def test_oauthbearer_unknown_keys_stay_secret() -> None:
    step = SaslExchange("OAUTHBEARER").initial_response(
        b64("n,,\x01mthd=POST\x01x-pass=hunter22\x01auth=Bearer t\x01\x01")
    )
    fields = dict(step.fields)
    assert fields["mthd"] == "POST" and isinstance(fields["x-pass"], Secret)
    assert_hidden(step, "hunter22")
