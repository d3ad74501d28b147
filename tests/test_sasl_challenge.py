"""CRAM-MD5 / CRAM-SHA1 (RFC 2195) and DIGEST-MD5 (RFC 2831), with the RFC examples
and curl's; each response is checked against the password
so the examples are known to be genuine."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from smtplens.sasl import SaslExchange, SaslStep
from smtplens.sasl.challenge import parse_directives
from smtplens.secret import Secret


def b64(data: str) -> str:
    return base64.b64encode(data.encode()).decode()


def field(step: SaslStep, name: str) -> str | Secret:
    return dict(step.fields)[name]


def revealed(value: str | Secret) -> str:
    return value.reveal() if isinstance(value, Secret) else value


def assert_hidden(step: SaslStep, secret: str) -> None:
    for shown in (str(step), repr(step), step.describe(), step.describe(verbose=True)):
        assert secret not in shown


# -- CRAM -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mechanism", "challenge", "response", "user", "password"),
    [
        # RFC 2195 §2 example
        (
            "CRAM-MD5",
            "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+",
            "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw",
            "tim",
            "tanstaaftanstaaf",
        ),
        # curl test 905
        (
            "CRAM-MD5",
            b64("<1972.987654321@curl>"),
            b64("user 7031725599fdbb5d412689aa323e3e0b"),
            "user",
            "secret",
        ),
    ],
)
def test_cram_examples(
    mechanism: str, challenge: str, response: str, user: str, password: str
) -> None:
    ex = SaslExchange(mechanism)
    server = ex.server(challenge)
    text = base64.b64decode(challenge).decode()
    assert server.label == "challenge" and server.describe() == f'challenge "{text}"'
    client = ex.client(response)
    assert client.label == "response" and not client.error
    assert isinstance(client.wire, Secret) and client.wire.kind == "response"
    digest = field(client, "response")
    assert isinstance(digest, Secret) and digest.kind == "response"
    algorithm = "sha1" if mechanism.endswith("SHA1") else "md5"
    assert digest.value == hmac.new(password.encode(), text.encode(), algorithm).hexdigest()
    assert client.describe().startswith(f'user "{user}", response [redacted response, ')
    assert (ex.user, ex.secrets_exposed) == (user, False)
    assert_hidden(client, digest.value)


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ("tim", "no space between user and digest"),
        ("tim xyz", "digest is not hexadecimal"),
        ("tim abcdef", "digest has 6 hex digits, MD5 gives 32"),
    ],
)
def test_cram_malformed(answer: str, error: str) -> None:
    ex = SaslExchange("CRAM-MD5")
    step = ex.client(b64(answer))
    assert step.valid_base64 and step.error == error
    assert isinstance(step.wire, Secret)


def test_cram_user_with_spaces() -> None:
    ex = SaslExchange("CRAM-MD5")
    ex.client(b64("John Smith " + "0" * 32))
    assert ex.user == "John Smith"


# -- DIGEST-MD5 -------------------------------------------------------------------------

RFC2831_CHALLENGE = (
    'realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",qop="auth",algorithm=md5-sess,charset=utf-8'
)
RFC2831_RESPONSE = (
    'charset=utf-8,username="chris",realm="elwood.innosoft.com",'
    'nonce="OA6MG9tEQGm2hh",nc=00000001,cnonce="OA6MHXh6VqTrRk",'
    'digest-uri="imap/elwood.innosoft.com",response=d388dad90d4bbd760a152321f2143af7,'
    "qop=auth"
)


def _digest(user: str, realm: str, password: str, d: dict[str, str], a2: str) -> str:
    """RFC 2831 §2.1.2.1 response-value for qop=auth, md5-sess."""

    def hexmd5(data: bytes) -> str:
        return hashlib.md5(data).hexdigest()

    a1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).digest()
    a1 += f":{d['nonce']}:{d['cnonce']}".encode()
    kd = f"{hexmd5(a1)}:{d['nonce']}:{d['nc']}:{d['cnonce']}:{d['qop']}:{hexmd5(a2.encode())}"
    return hexmd5(kd.encode())


def test_rfc2831_example() -> None:
    # RFC 2831 §4 (IMAP example): chris / secret at elwood.innosoft.com
    ex = SaslExchange("DIGEST-MD5")
    challenge = ex.server(b64(RFC2831_CHALLENGE))
    assert challenge.label == "digest-challenge" and not challenge.error
    assert challenge.fields == (
        ("realm", "elwood.innosoft.com"),
        ("nonce", "OA6MG9tEQGm2hh"),
        ("qop", "auth"),
        ("algorithm", "md5-sess"),
        ("charset", "utf-8"),
    )
    response = ex.client(b64(RFC2831_RESPONSE))
    assert response.label == "digest-response" and not response.error
    assert isinstance(response.wire, Secret) and response.wire.kind == "response"
    values = {name: revealed(value) for name, value in response.fields}
    assert values["digest-uri"] == "imap/elwood.innosoft.com"
    secret = field(response, "response")
    assert isinstance(secret, Secret)
    assert secret.value == _digest(
        "chris", "elwood.innosoft.com", "secret", values, "AUTHENTICATE:imap/elwood.innosoft.com"
    )
    assert_hidden(response, secret.value)
    assert response.describe().endswith('response [redacted response, 32 chars], qop "auth"')
    rspauth = ex.server(b64("rspauth=ea40f60335c427b5527b84dbabcdfffd"))
    assert rspauth.label == "rspauth"
    assert rspauth.describe() == 'rspauth "ea40f60335c427b5527b84dbabcdfffd"'
    assert rspauth.fields[0][1] == _digest(
        "chris", "elwood.innosoft.com", "secret", values, ":imap/elwood.innosoft.com"
    )
    assert ex.client("").label == "empty"
    assert (ex.user, ex.authzid, ex.secrets_exposed) == ("chris", None, False)


def test_curl_digest_with_escaped_quotes() -> None:
    # curl test 907: realm="cu\"rl", username="us\"er"
    ex = SaslExchange("DIGEST-MD5")
    challenge = ex.server(
        b64(
            'realm="cu\\"rl",nonce="5300d17a1d695bd411e4cdf96f9548c23ced6175",'
            'algorithm=md5-sess,qop="auth"'
        )
    )
    assert field(challenge, "realm") == 'cu"rl'
    assert challenge.describe().startswith('digest-challenge: realm "cu\\"rl", nonce "5300')
    response = ex.client(
        b64(
            'username="us\\"er",realm="cu\\"rl",nonce="5300d17a1d695bd411e4cdf96f9548c23ced6175",'
            'cnonce="34333231353332313633323137333231",nc="00000001",'
            'digest-uri="smtp/127.0.0.1",response=53d3347e1b559d23be78934ae4a78488,qop=auth'
        )
    )
    assert not response.error and ex.user == 'us"er'
    assert ex.server(b64("rspauth=9ea859cb9d90c37ca30d49d35378630c")).label == "rspauth"


@pytest.mark.parametrize(
    ("text", "pairs", "error"),
    [
        ('a="x,y", b = 2 ,,c=""', [("a", "x,y"), ("b", "2"), ("c", "")], ""),
        ('realm="a",realm="b"', [("realm", "a"), ("realm", "b")], ""),
        ('A="\\\\"', [("a", "\\")], ""),
        ('a="open', [], "unterminated quoted string at offset 2"),
        ("a", [], "directive at offset 0 has no value"),
        ('a="x" b=1', [("a", "x")], "expected ',' at offset 6"),
        ("=x", [], "expected a directive name at offset 0"),
    ],
)
def test_parse_directives(text: str, pairs: list[tuple[str, str]], error: str) -> None:
    assert parse_directives(text) == (pairs, error)


def test_digest_errors_do_not_quote_client_data() -> None:
    ex = SaslExchange("DIGEST-MD5")
    step = ex.client(b64("hunter22"))  # a password typed where a response was due
    assert step.error == "directive at offset 0 has no value"
    assert_hidden(step, "hunter22")
    unknown = ex.client(b64('username="bob",x-secret="hunter22",response=00'))
    assert isinstance(field(unknown, "x-secret"), Secret)
    assert_hidden(unknown, "hunter22")


def test_digest_challenge_without_nonce() -> None:
    step = SaslExchange("DIGEST-MD5").server(b64('realm="x"'))
    assert step.error == "no nonce directive"
