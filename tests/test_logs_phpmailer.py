"""PHPMailer SMTPDebug output at levels 2 and 4, produced here by Debian's
libphp-phpmailer 6.6.3 (php-cli 8.2) against aiosmtpd (samples/phpmailer-level*.log,
made by samples/make_cli_client_samples.py): level 4 repeats every reply line as
``SMTP INBOUND:``, which must not be counted twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from smtplens.analysis import analyze_file, analyze_stream
from smtplens.sources import detect_text_format
from smtplens.sources.logs.phpmailer import PHPMailerDebug
from smtplens.sources.textfile import read_lines
from smtplens.stream import Data, Direction, Endpoint, Notice, StreamItem
from tests.helpers import (
    SAMPLES,
    assert_well_nested,
    opened,
    parse_file,
    parse_inline,
    render_views,
    side_lines,
    verbs,
)

FMT = PHPMailerDebug()
LEVEL2, LEVEL4 = SAMPLES / "phpmailer-level2.log", SAMPLES / "phpmailer-level4.log"
HTML4 = SAMPLES / "phpmailer-level4-html.log"
ERRLOG4 = SAMPLES / "phpmailer-level4-errorlog.log"  # Debugoutput = 'error_log'
GOOD = [("EHLO", 250), ("AUTH", 334), ("AUTH-ANSWER", 334), ("AUTH-ANSWER", 235),
        ("MAIL", 250), ("RCPT", 250), ("DATA", 354), (".", 250), ("QUIT", 221)]
BAD = [("EHLO", 250), ("AUTH", 334), ("AUTH-ANSWER", 334), ("AUTH-ANSWER", 535),
       ("QUIT", 221)]


def items(path: Path) -> list[StreamItem]:
    return parse_file(FMT, path)


def parse_text(text: str) -> list[StreamItem]:
    return parse_inline(FMT, text)


def test_every_real_sample_is_detected_as_phpmailer() -> None:
    for path in (LEVEL2, LEVEL4, HTML4, ERRLOG4):
        assert detect_text_format(str(path)).name == "phpmailer", path


def test_level4_inbound_lines_are_not_counted_twice() -> None:
    for path in (LEVEL4, HTML4, ERRLOG4):
        found = items(path)
        assert_well_nested(found)
        assert not [i for i in found if isinstance(i, Notice)]
        server = side_lines(found, Direction.SERVER)
        inbound = [ln for _, ln in read_lines(str(path)) if "SMTP INBOUND:" in ln]
        assert len(server) == len(inbound)  # each reply line once, as the wire had it
        assert server[1:8] == [b"250-mx.example.test", b"250-SIZE 33554432",
                               b"250-8BITMIME", b"250-SMTPUTF8", b"250-STARTTLS",
                               b"250-AUTH LOGIN PLAIN", b"250 HELP"]


@pytest.mark.parametrize("path", [LEVEL4, ERRLOG4], ids=["echo", "error_log"])
def test_level4_sessions_endpoints_and_auth(path: Path) -> None:
    found = items(path)
    conns = opened(found)
    assert [o.server for o in conns] == [Endpoint("127.0.0.1", 2601)] * 2
    assert all(not o.exact_bytes and o.decrypted for o in conns)
    good, bad = analyze_stream(found)
    assert verbs(good) == GOOD and verbs(bad) == BAD
    # level 4 logs the AUTH LOGIN answers themselves: the user is decoded
    assert [(a.mechanism, a.user, a.outcome) for a in good.auth] == [
        ("LOGIN", "alice@example.test", "success")]
    assert [(a.user, a.outcome) for a in bad.auth] == [("alice@example.test", "failure")]
    assert {"auth.failed", "auth.cleartext", "log.secret-in-log"} <= {f.id for f in bad.findings}
    (tx,) = good.transactions
    assert tx.message is not None and tx.message.reply_code == 250
    sent = b"".join(i.data for i in found if isinstance(i, Data)
                    and i.conn_id == "phpmailer#1" and i.direction is Direction.CLIENT)
    assert b"..this line starts with a dot\r\n\r\n.\r\nQUIT\r\n" in sent
    assert "data.unstuffed-dot" in good.undetermined


def test_level2_hides_the_credentials() -> None:
    good, bad = analyze_stream(items(LEVEL2))
    assert verbs(good) == GOOD and verbs(bad) == BAD
    assert good.auth[0].user is None and bad.auth[0].outcome == "failure"
    labels = [s.label for s in good.auth[0].steps if s.direction is Direction.CLIENT]
    assert labels == ["masked by the log", "masked by the log"]
    assert "log.secret-in-log" not in {f.id for f in good.findings}


def test_secrets_are_redacted() -> None:
    for path in (LEVEL4, HTML4, ERRLOG4):
        text = render_views(list(analyze_file(str(path))))
        assert "s3cret!" not in text and "czNjcmV0IQ==" not in text, path
        assert "wrong-pass" not in text and "d3JvbmctcGFzcw==" not in text, path


def test_level4_timeouts_and_eof_become_notices() -> None:
    found = parse_text("""
2026-12-02 05:44:29	Connection: opening to 127.0.0.1:2601, timeout=300, options=array()
2026-12-02 05:44:29	Connection: opened
2026-12-02 05:44:29	SMTP INBOUND: "220 mx ESMTP"
2026-12-02 05:44:29	SERVER -> CLIENT: 220 mx ESMTP
2026-12-02 05:44:29	CLIENT -> SERVER: EHLO web01
2026-12-02 05:49:29	SMTP -> get_lines(): select timed-out in (300 sec)
2026-12-02 05:49:29	SERVER -> CLIENT:
2026-12-02 05:49:29	SMTP NOTICE: EOF caught while checking if connected
""")
    notices = [(n.code, n.location) for n in found if isinstance(n, Notice)]
    assert notices == [("protocol.no-reply", "line 6"), ("log.lost-connection", "line 8")]
    (session,) = analyze_stream(found)
    assert {"protocol.no-reply", "log.lost-connection"} <= {f.id for f in session.findings}
