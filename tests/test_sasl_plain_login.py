"""PLAIN (RFC 4616), LOGIN, EXTERNAL, with the RFC examples and real client transcripts."""

from __future__ import annotations

import base64

import pytest

from smtplens.sasl import SaslExchange, SaslStep
from smtplens.sasl.plain_login import classify_prompt
from smtplens.secret import Secret


def b64(data: str) -> str:
    return base64.b64encode(data.encode()).decode()


def assert_hidden(step: SaslStep, *secrets: str) -> None:
    for secret in secrets:
        for shown in (str(step), repr(step), step.describe(), step.describe(verbose=True)):
            assert secret not in shown
            assert b64(secret) not in shown


# -- PLAIN ------------------------------------------------------------------------------


def test_rfc4616_example_without_authzid() -> None:
    # RFC 4616 §4: "\0tim\0tanstaaftanstaaf"
    ex = SaslExchange("PLAIN")
    step = ex.initial_response("AHRpbQB0YW5zdGFhZnRhbnN0YWFm")
    assert step.valid_base64 and not step.error
    assert step.fields[0] == ("user", "tim")
    password = step.fields[1][1]
    assert isinstance(password, Secret) and password.value == "tanstaaftanstaaf"
    assert isinstance(step.wire, Secret) and step.wire.kind == "password"
    assert step.describe() == 'credentials: user "tim", password [redacted password, 16 chars]'
    assert (ex.user, ex.authzid, ex.secrets_exposed) == ("tim", None, True)
    assert_hidden(step, "tanstaaftanstaaf")


def test_rfc4616_example_with_authzid() -> None:
    # RFC 4616 §4: "Ursel\0Kurt\0xipj3plmq" (curl test 953 uses it too)
    ex = SaslExchange("PLAIN")
    step = ex.initial_response(b64("Ursel\0Kurt\0xipj3plmq"))
    assert [name for name, _ in step.fields] == ["authzid", "user", "password"]
    assert (ex.user, ex.authzid) == ("Kurt", "Ursel")
    assert step.describe(reveal=True) == (
        'credentials: authzid "Ursel", user "Kurt", password "xipj3plmq"'
    )
    assert_hidden(step, "xipj3plmq")


def test_rfc4954_plain_with_and_without_initial_response() -> None:
    # RFC 4954 §4: "C: AUTH PLAIN dGVzdAB0ZXN0ADEyMzQ=" and the same after "S: 334 "
    first = SaslExchange("PLAIN")
    first.initial_response("dGVzdAB0ZXN0ADEyMzQ=")
    second = SaslExchange("PLAIN")
    assert second.server("").label == "empty"
    step = second.client("dGVzdAB0ZXN0ADEyMzQ=")
    for ex in (first, second):
        assert (ex.user, ex.authzid, ex.secrets_exposed) == ("test", "test", True)
    assert_hidden(step, "1234")


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("bob\0secret", "malformed PLAIN message: 1 NUL separator(s), expected 2"),
        ("\0a\0b\0c", "malformed PLAIN message: 3 NUL separator(s), expected 2"),
        ("bobsecret", "malformed PLAIN message: 0 NUL separator(s), expected 2"),
    ],
)
def test_malformed_plain_is_valid_base64_with_an_error(message: str, error: str) -> None:
    ex = SaslExchange("PLAIN")
    step = ex.initial_response(b64(message))
    assert step.valid_base64 and step.error == error and step.fields == ()
    assert isinstance(step.wire, Secret)  # still likely holds the password
    assert ex.user is None and not ex.secrets_exposed


def test_plain_empty_parts() -> None:
    ex = SaslExchange("PLAIN")
    step = ex.initial_response(b64("\0\0"))
    assert step.error == "empty user name; empty password"
    assert SaslExchange("PLAIN").initial_response("=").label == "empty"


# -- LOGIN ------------------------------------------------------------------------------


def test_login_with_standard_prompts() -> None:
    ex = SaslExchange("LOGIN")
    prompt = ex.server("VXNlcm5hbWU6")
    assert prompt.label == 'prompt "Username:"' and prompt.describe() == "Username:"
    user = ex.client(b64("alice"))
    assert user.label == "username" and user.wire == b64("alice")
    assert user.describe() == 'user "alice"'
    assert ex.server("UGFzc3dvcmQ6").describe() == "Password:"
    password = ex.client(b64("s3cret!!"))
    assert password.label == "password" and isinstance(password.wire, Secret)
    assert password.describe() == "password [redacted password, 8 chars]"
    assert password.describe(reveal=True) == 'password "s3cret!!"'
    assert (ex.user, ex.secrets_exposed) == ("alice", True)
    assert_hidden(password, "s3cret!!")


def test_login_nul_terminated_prompts() -> None:
    # stalwartlabs/smtp-server#21: "User Name\0" and "Password\0"
    ex = SaslExchange("LOGIN")
    step = ex.server("VXNlciBOYW1lAA==")
    assert step.label == 'prompt "User Name\\0"' and step.describe() == "User Name\\0"
    assert ex.client(b64("bob")).label == "username"
    assert ex.server("UGFzc3dvcmQA").describe() == "Password\\0"
    assert ex.client(b64("pw")).label == "password"
    assert ex.user == "bob"


def test_login_initial_response_is_the_user() -> None:
    # rnwood/smtp4dev#17; curl test 920: "AUTH LOGIN dXNlcg==" then "334 Password:"
    ex = SaslExchange("LOGIN")
    assert ex.initial_response("dXNlcg==").label == "username"
    assert ex.server(b64("Password:")).label == 'prompt "Password:"'
    assert ex.client(b64("secret")).label == "password"
    assert (ex.user, ex.secrets_exposed) == ("user", True)


def test_login_server_asking_the_user_twice_gets_the_password() -> None:
    # the smtp4dev#17 bug: "Username:" after the initial response; the client
    # answers by order, and a password must never be shown as a user name
    ex = SaslExchange("LOGIN")
    ex.initial_response(b64("bob"))
    ex.server("VXNlcm5hbWU6")
    step = ex.client(b64("hunter22"))
    assert step.label == "password" and ex.user == "bob"
    assert_hidden(step, "hunter22")


def test_login_unknown_prompts_fall_back_on_order() -> None:
    ex = SaslExchange("LOGIN")
    assert ex.server(b64("???")).label == 'prompt "???"'
    assert ex.client(b64("carol")).label == "username"
    ex.server(b64("!!!"))
    assert ex.client(b64("pw")).label == "password"
    empty = SaslExchange("LOGIN")
    assert empty.server("").label == "empty"
    assert empty.client(b64("dave")).label == "username"


def test_login_password_prompt_first() -> None:
    ex = SaslExchange("LOGIN")
    ex.server("UGFzc3dvcmQ6")
    assert ex.client(b64("pw")).label == "password" and ex.user is None


def test_login_prompts_in_clear_as_some_logs_show_them() -> None:
    # swaks --auth-plaintext (swaks regression 00635) prints the exchange decoded
    ex = SaslExchange("LOGIN")
    step = ex.server("Username:")
    assert (step.valid_base64, step.label) == (False, 'prompt "Username:"')
    user = ex.client("validuser")
    assert not user.valid_base64 and isinstance(user.wire, Secret)
    ex.server("Password:")
    password = ex.client("validpassword")
    assert not password.valid_base64 and isinstance(password.wire, Secret)
    assert ex.user is None and not ex.secrets_exposed
    assert SaslExchange("LOGIN").server("LOGIN supported").label == "not Base64"


def test_login_clear_text_answer_that_happens_to_be_base64() -> None:
    # "password" is valid Base64; its decoding is junk and must not be shown
    ex = SaslExchange("LOGIN")
    step = ex.client("password")
    assert step.label == "username" and step.error and ex.user is None
    assert isinstance(step.wire, Secret)
    assert_hidden(step, "password")


@pytest.mark.parametrize(
    ("prompt", "role"),
    [
        ("Username:", "user"),
        ("User Name\0", "user"),
        ("login:", "user"),
        ("Benutzername:", "user"),
        ("Password:", "password"),
        ("Password\0", "password"),
        ("Passwort:", "password"),
        ("Enter password for user", "password"),
        ("Go on", None),
    ],
)
def test_classify_prompt(prompt: str, role: str | None) -> None:
    assert classify_prompt(prompt) == role


# -- EXTERNAL ---------------------------------------------------------------------------


def test_external() -> None:
    # exim test 3600-range: "AUTH EXTERNAL c2VydmVyMi5leGFtcGxlLm9yZw=="
    ex = SaslExchange("EXTERNAL")
    step = ex.initial_response("c2VydmVyMi5leGFtcGxlLm9yZw==")
    assert step.describe() == 'authzid "server2.example.org"'
    assert step.wire == "c2VydmVyMi5leGFtcGxlLm9yZw=="  # not a secret
    assert (ex.authzid, ex.user, ex.secrets_exposed) == ("server2.example.org", None, False)
    empty = SaslExchange("EXTERNAL")
    empty.server("")
    assert empty.client("").label == "authzid (empty: the external identity)"
