"""msmtp -v output: five real runs of Debian's msmtp 1.8.23 against aiosmtpd
(samples/msmtp-verbose.log, made by samples/make_cli_client_samples.py), and odd input."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from smtplens.analysis import analyze_file, analyze_stream
from smtplens.sources import detect_text_format
from smtplens.sources.logs.msmtp import MsmtpVerbose
from smtplens.stream import Closed, Endpoint, Notice, StreamItem
from tests.helpers import (
    SAMPLES,
    assert_well_nested,
    opened,
    parse_file,
    parse_inline,
    render_views,
    verbs,
)

SAMPLE = SAMPLES / "msmtp-verbose.log"
FMT = MsmtpVerbose()


def parse_text(text: str) -> list[StreamItem]:
    return parse_inline(FMT, text)


def items() -> list[StreamItem]:
    return parse_file(FMT, SAMPLE)


def test_five_runs_five_sessions() -> None:
    found = items()
    assert_well_nested(found)
    conns = opened(found)
    assert [o.conn_id for o in conns] == [f"msmtp-{n}" for n in range(1, 6)]
    # the settings dump gives the server; msmtp's lines lost their CRLF
    assert [o.server for o in conns] == [Endpoint("127.0.0.1", 2601)] * 4 + [
        Endpoint("127.0.0.1", 2602)]
    assert all(not o.exact_bytes and o.origin == "msmtp" for o in conns)
    # the STARTTLS run and the TLS-on-connect run show what went on inside TLS
    assert [o.decrypted for o in conns] == [False, True, False, False, True]
    assert [o.implicit_tls for o in conns] == [False] * 4 + [True]
    assert not [i for i in found if isinstance(i, Notice)]
    assert [c.reason for c in found if isinstance(c, Closed)] == ["log"] * 4 + ["eof"]


def test_sessions_commands_replies_and_auth() -> None:
    plain, tls, wrong, rejected, smtps = analyze_stream(items())
    assert verbs(plain) == [("EHLO", 250), ("AUTH", 235), ("MAIL", 250), ("RCPT", 250),
                            ("DATA", 354), (".", 250), ("QUIT", 221)]
    assert plain.helo == "client.example.test"
    assert [(a.mechanism, a.user, a.outcome) for a in plain.auth] == [
        ("PLAIN", "alice@example.test", "success")]
    assert verbs(tls)[:3] == [("EHLO", 250), ("STARTTLS", 220), ("EHLO", 250)]
    assert tls.tls and tls.auth[0].mechanism == "LOGIN" and tls.auth[0].encrypted
    assert [(a.user, a.outcome) for a in wrong.auth] == [("alice@example.test", "failure")]
    assert verbs(wrong)[-1] == ("AUTH-ANSWER", 535)  # msmtp gives up without QUIT
    assert verbs(rejected)[-2:] == [("RCPT", 250), ("RCPT", 550)]
    assert smtps.tls and smtps.auth[0].encrypted and verbs(smtps)[-1] == ("QUIT", 221)
    ids = [{f.id for f in s.findings} for s in (plain, tls, wrong, rejected, smtps)]
    assert "auth.cleartext" in ids[0] and "auth.cleartext" not in ids[1] | ids[4]
    assert "auth.failed" in ids[2] and "protocol.no-quit" in ids[2]
    assert all("log.secret-in-log" in i for i in ids)


def test_message_is_read_and_exact_bytes_checks_are_not_determinable() -> None:
    plain = next(iter(analyze_stream(items())))
    (tx,) = plain.transactions
    assert tx.recipients[0].address == "bob@example.test"
    assert tx.message is not None and tx.message.reply_code == 250
    assert "data.unstuffed-dot" in plain.undetermined


def test_secrets_are_redacted() -> None:
    sessions = list(analyze_file(str(SAMPLE)))
    text = render_views(sessions)
    assert "s3cret!" not in text and "czNjcmV0IQ==" not in text
    assert "AGFsaWNlQGV4YW1wbGUudGVzdABzM2NyZXQh" not in text
    assert "alice@example.test" in text


def test_detection() -> None:
    assert detect_text_format(str(SAMPLE)).name == "msmtp"
    others = ["swaks-auth-login.log", "curl-verbose.log", "auth-login.txt",
              "phpmailer-level4.log", "smtp-cli-verbose.log", "mailkit-protocol.log"]
    for name in others:
        head = (SAMPLES / name).read_text().splitlines()[:60]
        assert FMT.sniff(head) == 0, name


def test_implicit_tls_errors_and_garbage() -> None:
    found = parse_text("""
host = smtp.example.test
port = 465
tls = on
tls_starttls = off
TLS session parameters:
    (TLS1.3)-(ECDHE-SECP256R1)-(RSA-PSS-RSAE-SHA256)-(AES-256-GCM)
<-- 220 smtp.example.test ESMTP
--> EHLO client
<-- 250 smtp.example.test
--> MAIL FROM:<a@example.test>
%%% garbled
msmtp: the server sent an empty reply
msmtp: could not send mail
""")
    (conn,) = opened(found)
    assert conn.server == Endpoint("smtp.example.test", 465) and conn.implicit_tls
    notices = [(n.code, n.location) for n in found if isinstance(n, Notice)]
    assert notices == [("input.unparsed-line", "line 11"), ("log.lost-connection", "line 12")]
    (session,) = analyze_stream(found)
    assert "log.lost-connection" in {f.id for f in session.findings}


def test_runs_without_header_are_split_at_the_greeting() -> None:
    found = parse_text("""
<-- 220 a
--> QUIT
<-- 221 bye
<-- 220 b
-->
--> NOOP
""")
    assert len(opened(found)) == 2
    assert_well_nested(found)


_PIECES = ["<-- ", "--> ", "-->", "[250] '", "[0] ''", "> ", "Connected to smtp://h:25/",
           "Connected to smtps://[::1]:99999/", "C: ", "S: ", ">> ", "<< ", "host = ",
           "port = 70000", "TLS session parameters:", "msmtp: network read error",
           "Connection from a:1 to b:2", "Starting SMTP/SSL...", "2026-01-01T00:00:00Z ",
           "220 x", "354 go", "250-a", "DATA", "QUIT", ".", "'", "\t", ""]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_PIECES), st.sampled_from(_PIECES),
                          st.text(max_size=10)), max_size=30))
def test_random_lines_never_raise(parts: list[tuple[str, str, str]]) -> None:
    text = [a + b + c for a, b, c in parts]
    FMT.sniff(text)
    found = list(FMT.parse(enumerate(text, 1), "random"))
    assert_well_nested(found)
    list(analyze_stream(found))
