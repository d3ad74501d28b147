"""smtp-cli --verbose output: samples/smtp-cli-verbose.log (written from smtp-cli's source
around real aiosmtpd lines: smtp-cli is not installable here), and odd input."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from smtplens.analysis import analyze_file, analyze_stream
from smtplens.sources import detect_text_format
from smtplens.sources.logs.smtpcli import SmtpCliVerbose
from smtplens.stream import Data, Direction, Endpoint, Notice, Skipped, StreamItem
from tests.helpers import (
    SAMPLES,
    assert_well_nested,
    opened,
    parse_file,
    parse_inline,
    render_views,
    verbs,
)

SAMPLE = SAMPLES / "smtp-cli-verbose.log"
FMT = SmtpCliVerbose()


def parse_text(text: str) -> list[StreamItem]:
    return parse_inline(FMT, text)


def items() -> list[StreamItem]:
    return parse_file(FMT, SAMPLE)


def test_sessions_and_endpoints() -> None:
    found = items()
    assert_well_nested(found)
    conns = opened(found)
    assert [(o.client, o.server) for o in conns] == [
        (Endpoint("127.0.0.1", p), Endpoint("127.0.0.1", 2601)) for p in (51834, 51840, 51846)]
    assert [o.decrypted for o in conns] == [True, False, False]
    assert all(not o.exact_bytes and not o.implicit_tls for o in conns)
    assert not [i for i in found if isinstance(i, Notice)]
    # the message is not printed: one Skipped after DATA's 354
    assert [s.location for s in found if isinstance(s, Skipped)] == ["line 42"]


def test_multiline_replies_get_their_separators_back() -> None:
    found = items()
    server = [i.data for i in found if isinstance(i, Data) and i.direction is Direction.SERVER
              and i.conn_id == "smtp-cli-1"]
    assert server[1:8] == [b"250-mx.example.test\r\n", b"250-SIZE 33554432\r\n",
                           b"250-8BITMIME\r\n", b"250-SMTPUTF8\r\n", b"250-STARTTLS\r\n",
                           b"250-AUTH LOGIN PLAIN\r\n", b"250 HELP\r\n"]


def test_commands_replies_auth_and_findings() -> None:
    tls, wrong, rejected = analyze_stream(items())
    assert verbs(tls) == [("EHLO", 250), ("STARTTLS", 220), ("EHLO", 250), ("AUTH", 334),
                          ("AUTH-ANSWER", 334), ("AUTH-ANSWER", 235), ("MAIL", 250),
                          ("RCPT", 250), ("DATA", 354), (".", 250), ("QUIT", 221)]
    assert tls.tls and tls.capabilities["AUTH"] == ("LOGIN", "PLAIN")
    assert [(a.mechanism, a.user, a.outcome) for a in tls.auth] == [
        ("LOGIN", "alice@example.test", "success")]
    assert [(a.user, a.outcome) for a in wrong.auth] == [("alice@example.test", "failure")]
    assert {"auth.failed", "auth.cleartext", "protocol.no-quit"} <= {f.id for f in wrong.findings}
    assert verbs(rejected)[-2:] == [("RCPT", 550), ("QUIT", 221)]
    assert rejected.auth[0].mechanism == "PLAIN" and rejected.auth[0].user == "alice@example.test"
    assert "data.unstuffed-dot" in tls.undetermined


def test_secrets_are_redacted() -> None:
    text = render_views(list(analyze_file(str(SAMPLE))))
    assert "s3cret!" not in text and "czNjcmV0IQ==" not in text
    assert "wrong-pass" not in text and "d3JvbmctcGFzcw==" not in text


def test_detection() -> None:
    assert detect_text_format(str(SAMPLE)).name == "smtp-cli"
    for name in ("curl-verbose.log", "swaks-auth-login.log", "msmtp-verbose.log",
                 "auth-login.txt", "mailkit-protocol.log", "phpmailer-debug.log"):
        head = (SAMPLES / name).read_text().splitlines()[:60]
        assert FMT.sniff(head) == 0, name


def test_ssl_on_connect_lost_connection_and_garbage() -> None:
    found = parse_text("""
!!! Use --missing-modules-ok if you don't need the above listed modules
Connection from [2001:db8::5]:40000 to [2001:db8::25]:465
Starting SMTP/SSL...
Using cipher: TLS_AES_256_GCM_SHA384
[220] 'mx ESMTP'
> EHLO localhost
[250] 'mx'
[250] ''
what is this
> NOOP
[0] ''
""")
    (conn,) = opened(found)
    assert conn.implicit_tls and conn.decrypted
    assert conn.client == Endpoint("2001:db8::5", 40000)
    assert [i.data for i in found if isinstance(i, Data)][2:4] == [b"250-mx\r\n", b"250\r\n"]
    assert [(n.code, n.location) for n in found if isinstance(n, Notice)] == [
        ("input.unparsed-line", "line 9"), ("log.lost-connection", "line 11")]


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
