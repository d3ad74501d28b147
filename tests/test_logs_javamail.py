"""JavaMail / Jakarta Mail ``mail.debug`` output: samples/javamail-debug.log, written by
real Jakarta Mail 2.0 (Debian libjakarta-mail-java) against aiosmtpd (see
samples/make_client_samples.py), and hostile input."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from smtplens.analysis import analyze_file, analyze_stream
from smtplens.sources import SNIFF_LINES, detect_text_format, text_formats
from smtplens.sources.logs.javamail import JavaMailDebug
from smtplens.sources.textfile import read_lines
from smtplens.stream import Direction, Endpoint, Notice, StreamItem
from tests.helpers import (
    SAMPLES,
    assert_well_nested,
    need_corpus,
    opened,
    parse_file,
    parse_inline,
    render_views,
    verbs,
)

SAMPLE = SAMPLES / "javamail-debug.log"
FMT = JavaMailDebug()
PASSWORD_B64 = "czNjcmV0IQ=="  # base64("s3cret!")


def parse_text(text: str) -> list[StreamItem]:
    return parse_inline(FMT, text)


def items() -> list[StreamItem]:
    return parse_file(FMT, SAMPLE)


def test_sessions_endpoints_and_tls_modes() -> None:
    found = items()
    assert_well_nested(found)
    conns = opened(found)
    assert [(o.server, o.implicit_tls) for o in conns] == [
        (Endpoint("127.0.0.1", 2550), False)] * 4 + [(Endpoint("127.0.0.1", 2553), True)]
    assert all(o.decrypted and not o.exact_bytes and o.origin == "javamail" for o in conns)
    # the Java stack trace and the program's own lines are noise, not notices
    assert not [i for i in found if isinstance(i, Notice)]


def test_auth_traced_suppressed_and_failed() -> None:
    login, plain, failed, starttls, smtps = analyze_stream(items())
    # mail.debug.auth=true: the whole exchange, Base64 included
    assert verbs(login) == [("EHLO", 250), ("AUTH", 334), ("AUTH-ANSWER", 334),
                            ("AUTH-ANSWER", 235), ("MAIL", 250), ("RCPT", 250), ("DATA", 354),
                            (".", 250), ("QUIT", 221)]
    assert login.user == "alice" and login.auth[0].outcome == "success"
    assert login.capabilities["AUTH"] == ("LOGIN", "PLAIN")
    ids = {f.id for f in login.findings}
    assert {"auth.cleartext", "log.secret-in-log"} <= ids
    # default: "AUTH PLAIN command trace suppressed" / "succeeded": steps not shown
    assert verbs(plain)[:2] == [("EHLO", 250), ("AUTH", 235)]
    auth = plain.auth[0]
    assert (auth.mechanism, auth.outcome, auth.user, auth.steps) == ("PLAIN", "success", None, [])
    assert not {"auth.invalid-base64", "log.secret-in-log"} & {f.id for f in plain.findings}
    (tx,) = plain.transactions
    assert tx.message is not None and tx.message.complete and tx.message.reply_code == 250
    # the failure's reply comes from the exception that quotes it
    assert verbs(failed) == [("EHLO", 250), ("AUTH", 535)]
    assert "Authentication credentials invalid" in failed.auth[0].reply_text
    assert failed.auth[0].outcome == "failure"
    assert "auth.failed" in {f.id for f in failed.findings}
    assert "auth.invalid-base64" not in {f.id for f in failed.findings}
    # STARTTLS then the traced exchange, inside TLS: no cleartext finding
    assert [v for v, _ in verbs(starttls)][:3] == ["EHLO", "STARTTLS", "EHLO"]
    assert starttls.tls and "auth.cleartext" not in {f.id for f in starttls.findings}
    assert smtps.tls and smtps.auth[0].outcome == "success"


def test_message_text_is_read_as_sent() -> None:
    found = items()
    first = opened(found)[1].conn_id  # the multipart message with an attachment
    sent = b"".join(i.data for i in found if getattr(i, "conn_id", "") == first
                    and getattr(i, "direction", None) is Direction.CLIENT)
    assert b"\r\n..a line that starts with a dot\r\n" in sent  # dot-stuffed, as logged
    assert b"filename=report.csv\r\n" in sent and sent.endswith(b"QUIT\r\n")


def test_exact_byte_findings_are_not_determinable() -> None:
    for s in analyze_stream(items()):
        assert not s.exact_bytes
        assert "data.unstuffed-dot" in s.undetermined or not s.transactions


def test_nothing_secret_leaks() -> None:
    text = render_views(list(analyze_file(str(SAMPLE))))
    assert "s3cret!" not in text and PASSWORD_B64 not in text


def test_without_trying_to_connect_and_hostile_lines() -> None:
    found = parse_text("""
220 mx ESMTP
EHLO me
250 mx
DEBUG SMTP: AUTH CRAM-MD5 command trace suppressed
DEBUG SMTP: AUTH CRAM-MD5 failed
MAIL FROM:<a@b>
\x1b[31mgarbage\x00 \xff
DEBUG SMTP: trying to connect to host "mx.example", port 99999, isSSL true
DEBUG SMTP: trying to connect to host "mx.example", port 25, isSSL false
220 mx.example ESMTP
HELO me
250 ok
what is this
QUIT
221 bye
""")
    assert_well_nested(found)
    conns = opened(found)
    # a command after the dropped connection starts a session of its own (debugging
    # switched on late looks the same)
    assert [o.server for o in conns] == [None, None, Endpoint("mx.example", 25)]
    notices = [i for i in found if isinstance(i, Notice)]
    assert [n.location for n in notices] == ["line 7", "line 13"]
    first, _, third = analyze_stream(found)
    # no exception quoted the reply: a bare 535, and the session ends (JavaMail drops it)
    assert verbs(first) == [("EHLO", 250), ("AUTH", 535)]
    assert "auth.invalid-base64" not in {f.id for f in first.findings}
    assert verbs(third) == [("HELO", 250), ("QUIT", 221)]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([
    "220 mx", "EHLO x", "250-a", "250 b", "334 VXNlcm5hbWU6", "YWxpY2U=", "DATA", "354 go",
    ".", "QUIT", "221 bye", "DEBUG SMTP: AUTH LOGIN command trace suppressed",
    "DEBUG SMTP: AUTH LOGIN failed", "DEBUG SMTP: AUTH LOGIN succeeded",
    'DEBUG SMTP: trying to connect to host "h", port 25, isSSL false',
    "jakarta.mail.MessagingException: 421 x", "\tat a.b(C.java:1)", "", "\x00\xff"]),
    max_size=40))
def test_random_lines_never_raise(lines: list[str]) -> None:
    found = list(FMT.parse(enumerate(lines, 1), "random"))
    assert_well_nested(found)
    list(analyze_stream(found))


def test_detection() -> None:
    assert detect_text_format(str(SAMPLE)).name == "javamail"
    for path in sorted(SAMPLES.iterdir()):
        if path.suffix not in (".log", ".txt") or path == SAMPLE:
            continue
        head = [t for _, t in itertools.islice(read_lines(str(path)), SNIFF_LINES)]
        assert detect_text_format(str(path)).name != "javamail", path
        assert FMT.sniff(head) < 90, path


def test_corpus_files_are_not_claimed() -> None:
    corpus = need_corpus() / "logs"
    assert "javamail" in {f.name for f in text_formats()}
    for path in sorted(p for p in corpus.rglob("*") if p.is_file()):
        head = [t for _, t in itertools.islice(read_lines(str(path)), SNIFF_LINES)]
        assert FMT.sniff(head) == 0, path
