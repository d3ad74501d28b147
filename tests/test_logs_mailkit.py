"""MailKit ProtocolLogger files: samples/mailkit-protocol.log (written from the documented
layout around real aiosmtpd lines: .NET is not installed here), and odd input."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from smtplens.analysis import analyze_file, analyze_stream
from smtplens.sources import detect_text_format
from smtplens.sources.logs.mailkit import MailKitProtocolLog
from smtplens.sources.transcript import CSTranscript
from smtplens.stream import Data, Direction, Endpoint, Notice, StreamItem
from tests.helpers import (
    SAMPLES,
    assert_well_nested,
    opened,
    parse_file,
    parse_inline,
    render_views,
    verbs,
)

SAMPLE = SAMPLES / "mailkit-protocol.log"
FMT = MailKitProtocolLog()


def parse_text(text: str) -> list[StreamItem]:
    return parse_inline(FMT, text)


def items() -> list[StreamItem]:
    return parse_file(FMT, SAMPLE)


def test_connected_to_gives_endpoint_and_tls_mode() -> None:
    found = items()
    assert_well_nested(found)
    conns = opened(found)
    assert [(o.server, o.implicit_tls) for o in conns] == [
        (Endpoint("mx.example.test", 2601), False), (Endpoint("mx.example.test", 2602), True)]
    assert all(o.decrypted and not o.exact_bytes and o.origin == "mailkit" for o in conns)
    assert not [i for i in found if isinstance(i, Notice)]


def test_sessions_masked_auth_and_failure() -> None:
    starttls, smtps = analyze_stream(items())
    assert verbs(starttls) == [("EHLO", 250), ("STARTTLS", 220), ("EHLO", 250), ("AUTH", 235),
                               ("MAIL", 250), ("RCPT", 250), ("DATA", 354), (".", 250),
                               ("QUIT", 221)]
    assert starttls.tls and starttls.auth[0].outcome == "success"
    (tx,) = starttls.transactions
    assert tx.message is not None and tx.message.reply_code == 250
    assert verbs(smtps) == [("EHLO", 250), ("AUTH", 334), ("AUTH-ANSWER", 334),
                            ("AUTH-ANSWER", 535), ("QUIT", 221)]
    auth = smtps.auth[0]
    assert auth.mechanism == "LOGIN" and auth.outcome == "failure" and auth.user is None
    assert [s.label for s in auth.steps if s.direction is Direction.CLIENT] == [
        "masked by the log", "masked by the log"]
    assert "auth.failed" in {f.id for f in smtps.findings}
    assert "auth.cleartext" not in {f.id for s in (starttls, smtps) for f in s.findings}
    assert "data.unstuffed-dot" in starttls.undetermined


def test_masked_initial_response_is_masked_by_the_log() -> None:
    starttls = next(iter(analyze_stream(items())))
    assert [s.label for s in starttls.auth[0].steps] == ["masked by the log"]
    assert "auth.invalid-base64" not in {f.id for f in starttls.findings}


def test_nothing_secret_leaks() -> None:
    text = render_views(list(analyze_file(str(SAMPLE))))
    assert "s3cret!" not in text


def test_detection_and_plain_cs_transcripts_stay_cs() -> None:
    assert detect_text_format(str(SAMPLE)).name == "mailkit"
    for name in ("auth-login.txt", "smuggling.txt", "unstuffed-dot.txt", "premature-end.txt",
                 "missing-terminator.txt", "msmtp-verbose.log", "smtp-cli-verbose.log"):
        head = (SAMPLES / name).read_text().splitlines()[:60]
        assert FMT.sniff(head) == 0, name
        assert detect_text_format(str(SAMPLES / name)).name != "mailkit"
    head = SAMPLE.read_text().splitlines()[:60]
    assert FMT.sniff(head) > CSTranscript().sniff(head)


def test_timestamps_other_prefixes_and_garbage() -> None:
    found = parse_text("""
2026-12-02T05:44:29Z Connected to smtps://[2001:db8::25]/
2026-12-02T05:44:29Z << 220 mx ESMTP
2026-12-02T05:44:30Z >> EHLO [127.0.0.1]
2026-12-02T05:44:30Z << 250 mx
something else
2026-12-02T05:44:31Z C: NOOP
""")
    (conn,) = opened(found)
    assert conn.server == Endpoint("2001:db8::25", 465) and conn.implicit_tls
    assert conn.ts == datetime(2026, 12, 2, 5, 44, 29, tzinfo=UTC).timestamp()
    data = [(i.direction, i.data) for i in found if isinstance(i, Data)]
    assert data == [(Direction.SERVER, b"220 mx ESMTP\r\n"),
                    (Direction.CLIENT, b"EHLO [127.0.0.1]\r\n"),
                    (Direction.SERVER, b"250 mx\r\n")]
    assert [n.location for n in found if isinstance(n, Notice)] == ["line 5", "line 6"]
    assert parse_text("S: 220 no connect line\nC: QUIT") == []


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
