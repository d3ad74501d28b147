"""Regressions from the "new user" sweep over SMTP transcripts pasted in GitHub issues,
the dedicated readers' part: excerpts that start mid-session (cs, PHPMailer, Haraka),
PHPMailer behind Apache's error log, Haraka without UUIDs, Nodemailer without
timestamps, and an Exim mainlog holding only a refused outbound delivery.

Every input here is hand-written in the shape of what was pasted (the pasted texts
themselves are third-party and not in the repository)."""

from __future__ import annotations

from pathlib import Path

import pytest

from smtplens.analysis import analyze_file, analyze_stream
from smtplens.model import Session
from smtplens.pipeline import Problem
from smtplens.sources import detect_text_format, forced_text_format
from smtplens.sources.logs.exim_summary import EximMainlog
from smtplens.sources.logs.haraka import HarakaProtocolLog
from smtplens.sources.logs.nodemailer import NodemailerLog
from smtplens.sources.logs.phpmailer import PHPMailerDebug
from smtplens.sources.textfile import TextFormat
from smtplens.stream import Direction, Notice
from tests.helpers import ids, sessions_of, side_lines, verbs


def read(fmt: TextFormat, text: str) -> list[Session]:
    lines = text.strip("\n").splitlines()
    return list(analyze_stream(fmt.parse(enumerate(lines, 1), "inline")))


def one(fmt: TextFormat, text: str) -> Session:
    found = read(fmt, text)
    assert len(found) == 1, found
    return found[0]


# -- D2: an excerpt that starts mid-session ---------------------------------------------

MIDSESSION = """
S: 250-mx.example Hello
S: 250 AUTH LOGIN
C: AUTH LOGIN
S: 334 VXNlcm5hbWU6
C: dXNlcg==
S: 334 UGFzc3dvcmQ6
C: cGFzcw==
S: 235 ok
C: QUIT
S: 221 bye
"""


def test_cs_excerpt_starting_with_a_250_is_midstream() -> None:
    (s,) = sessions_of(MIDSESSION)
    found = ids(s)
    assert "capture.midstream" in found
    assert "protocol.greeting-refused" not in found
    assert "auth.before-ehlo" not in found
    assert s.greeting_code is None
    assert s.auth[0].user == "user" and s.auth[0].outcome == "success"


@pytest.mark.parametrize("first", ["S: 220 mx.example ESMTP", "S: 554 5.7.1 go away",
                                   "S: 421 busy", "C: EHLO a.example", "C: HELO a",
                                   "C: LHLO a", "C: Blah blah"])
def test_cs_session_starts_are_not_midstream(first: str) -> None:
    for s in sessions_of(first + "\nS: 250 ok\nC: QUIT\nS: 221 bye"):
        assert "capture.midstream" not in ids(s)


def test_cs_header_says_the_session_is_whole() -> None:
    (s,) = sessions_of("=== session client=192.0.2.1:1234\n" + MIDSESSION)
    assert "capture.midstream" not in ids(s)


def test_cs_command_first_is_midstream() -> None:
    (s,) = sessions_of("C: MAIL FROM:<a@example.test>\nS: 250 ok\nC: QUIT\nS: 221 bye")
    assert "capture.midstream" in ids(s)
    assert s.transactions[0].mail_from == "a@example.test"


def test_phpmailer_excerpt_starting_after_auth_is_midstream() -> None:
    s = one(PHPMailerDebug(), """
2024-05-01 10:00:00 SERVER -> CLIENT: 235 2.7.0 Authentication successful
2024-05-01 10:00:00 CLIENT -> SERVER: MAIL FROM:<alice@example.test>
2024-05-01 10:00:00 SERVER -> CLIENT: 250 ok
2024-05-01 10:00:00 CLIENT -> SERVER: QUIT
2024-05-01 10:00:00 SERVER -> CLIENT: 221 bye
""")
    assert "capture.midstream" in ids(s) and "protocol.greeting-refused" not in ids(s)
    assert s.greeting_code is None


def test_phpmailer_whole_session_is_not_midstream() -> None:
    s = one(PHPMailerDebug(), """
2024-05-01 10:00:00 SERVER -> CLIENT: 220 mx.example ESMTP
2024-05-01 10:00:00 CLIENT -> SERVER: EHLO a.example
2024-05-01 10:00:00 SERVER -> CLIENT: 250 mx.example
2024-05-01 10:00:00 CLIENT -> SERVER: QUIT
2024-05-01 10:00:00 SERVER -> CLIENT: 221 bye
""")
    assert "capture.midstream" not in ids(s) and s.greeting_code == 220


def test_haraka_log_starting_inside_a_session_is_midstream() -> None:
    uuid = "D01B4388-7099-4560-9A22-C6ABBBDCEA93"
    s = one(HarakaProtocolLog(), f"""
[PROTOCOL] [{uuid}] [core] S: 250-mx.example Hello
[PROTOCOL] [{uuid}] [core] S: 250 AUTH LOGIN CRAM-MD5
[PROTOCOL] [{uuid}] [core] C: AUTH CRAM-MD5 state=1
[PROTOCOL] [{uuid}] [core] S: 334 PDEyMzQ1QG14LmV4YW1wbGU+
""")
    assert s.id == uuid
    assert "capture.midstream" in ids(s) and "protocol.greeting-refused" not in ids(s)


# -- D4: PHPMailer's error_log output in Apache's error log ------------------------------

REFERER = ", referer: https://x.example/a.php"
APACHE = "[Mon Nov 30 15:34:33.123456 2020] [php:notice] [pid 4242] [client 198.51.100.7:5123] "
ERRORLOG = "\n".join(APACHE + line + REFERER for line in [
    r"SMTP (level 2): SERVER -> CLIENT: 220 mx.example ESMTP\r\n",
    r"SMTP (level 1): CLIENT -> SERVER: EHLO a.example\r\n",
    r'SMTP (level 4): SMTP INBOUND: "250-mx.example"',
    r'SMTP (level 4): SMTP INBOUND: "250 AUTH LOGIN"',
    r"SMTP (level 2): SERVER -> CLIENT: 250-mx.example\r\n250 AUTH LOGIN\r\n",
    r"SMTP (level 1): CLIENT -> SERVER: AUTH LOGIN\r\n",
    r"SMTP (level 2): SERVER -> CLIENT: 334 VXNlcm5hbWU6\r\n",
    r"SMTP (level 1): CLIENT -> SERVER: YWxpY2VAZXhhbXBsZS50ZXN0\r\n",
    r"SMTP (level 2): SERVER -> CLIENT: 334 UGFzc3dvcmQ6\r\n",
    r"SMTP (level 1): CLIENT -> SERVER: czNjcmV0IQ==\r\n",
    r"SMTP (level 2): SERVER -> CLIENT: 235 ok\r\n",
    r"SMTP (level 1): CLIENT -> SERVER: MAIL FROM:<alice@example.test>\r\n",
    r"SMTP (level 2): SERVER -> CLIENT: 250 ok\r\n",
    r"SMTP (level 1): CLIENT -> SERVER: RCPT TO:<bob@example.test>\r\n",
    r"SMTP (level 2): SERVER -> CLIENT: 250 ok\r\n",
    r"SMTP (level 1): CLIENT -> SERVER: DATA\r\n",
    r"SMTP (level 2): SERVER -> CLIENT: 354 go ahead\r\n",
    r"SMTP (level 1): CLIENT -> SERVER: Subject: hi\r\n",
    r"SMTP (level 1): CLIENT -> SERVER: \r\n",
    r"SMTP (level 1): CLIENT -> SERVER: body\r\n",
    r"SMTP (level 1): CLIENT -> SERVER: .\r\n",
    r"SMTP (level 2): SERVER -> CLIENT: 250 queued\r\n",
    r"SMTP (level 1): CLIENT -> SERVER: QUIT\r\n",
    r"SMTP (level 2): SERVER -> CLIENT: 221 bye\r\n",
])


def test_phpmailer_behind_apache_error_log() -> None:
    assert detect_text_format_of(ERRORLOG) == "phpmailer"
    s = one(PHPMailerDebug(), ERRORLOG)
    assert verbs(s) == [("EHLO", 250), ("AUTH", 334), ("AUTH-ANSWER", 334),
                        ("AUTH-ANSWER", 235), ("MAIL", 250), ("RCPT", 250), ("DATA", 354),
                        (".", 250), ("QUIT", 221)]
    assert s.greeting_text == "mx.example ESMTP"
    assert s.capabilities["AUTH"] == ("LOGIN",)
    assert s.auth[0].mechanism == "LOGIN" and s.auth[0].user == "alice@example.test"
    found = ids(s)
    assert not found & {"protocol.mixed-reply-codes", "protocol.unknown-command",
                        "protocol.no-reply", "protocol.no-quit", "capture.midstream"}
    message = s.transactions[0].message
    assert message is not None and message.complete and message.reply_code == 250
    assert message.info is not None and message.info.subject == "hi"
    text = "\n".join(e.text for e in s.exchanges)
    assert "s3cret!" not in text and "czNjcmV0IQ==" not in text
    assert "referer" not in text and "\\r\\n" not in text


def test_phpmailer_apache_lines_split_and_unescaped() -> None:
    lines = [APACHE + r"SMTP (level 2): SERVER -> CLIENT: 220 mx\r\n" + REFERER,
             APACHE + r"SMTP (level 1): CLIENT -> SERVER: EHLO a\r\n" + REFERER,
             APACHE + r"SMTP (level 2): SERVER -> CLIENT: 250-mx\r\n250-SIZE 10\r\n"
                      r"250 HELP\r\n" + REFERER]
    items = list(PHPMailerDebug().parse(enumerate(lines, 1), "inline"))
    assert side_lines(items, Direction.SERVER) == [b"220 mx", b"250-mx", b"250-SIZE 10",
                                                   b"250 HELP"]
    assert side_lines(items, Direction.CLIENT) == [b"EHLO a"]
    assert not [i for i in items if isinstance(i, Notice)]


def detect_text_format_of(text: str) -> str:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as fh:
        fh.write(text + "\n")
    try:
        return detect_text_format(fh.name).name
    finally:
        Path(fh.name).unlink()


# -- D7: Haraka without UUIDs, and its " state=N" --------------------------------------

HARAKA_NOID = """
[NOTICE] [core] connect ip=192.0.2.9 port=52680 local_ip=192.0.2.1 local_port=587
[DEBUG] [core] running connect hooks
[PROTOCOL] [core] S: 220 mx.example ESMTP Haraka ready
[PROTOCOL] [core] C: EHLO a.example state=1
[PROTOCOL] [core] S: 250-mx.example Hello
[PROTOCOL] [core] S: 250 AUTH PLAIN LOGIN
[PROTOCOL] [core] C: AUTH LOGIN state=1
[PROTOCOL] [core] S: 334 VXNlcm5hbWU6
[PROTOCOL] [core] C: YWxpY2VAZXhhbXBsZS50ZXN0 state=1
[PROTOCOL] [core] S: 334 UGFzc3dvcmQ6
[PROTOCOL] [core] C: czNjcmV0IQ== state=1
[PROTOCOL] [core] S: 235 2.7.0 Authentication successful
[PROTOCOL] [core] C: QUIT state=1
[PROTOCOL] [core] S: 221 mx.example closing connection
[NOTICE] [core] disconnect ip=192.0.2.9 rdns=Unknown helo=a.example relay=N time=0.2
[PROTOCOL] [core] S: 220 mx.example ESMTP Haraka ready
[PROTOCOL] [core] C: EHLO b.example state=1
[PROTOCOL] [core] S: 250 mx.example Hello
"""


def test_haraka_without_uuid_is_read_one_connection_at_a_time() -> None:
    assert detect_text_format_of(HARAKA_NOID) == "haraka"
    first, second = read(HarakaProtocolLog(), HARAKA_NOID)
    assert first.client is not None and first.client.host == "192.0.2.9"
    assert first.helo == "a.example"  # without " state=1"
    a = first.auth[0]
    assert a.mechanism == "LOGIN" and a.user == "alice@example.test" and a.outcome == "success"
    assert first.quit and second.helo == "b.example"
    for s in (first, second):
        assert not ids(s) & {"auth.invalid-base64", "capture.midstream",
                             "protocol.greeting-refused"}
        text = "\n".join(e.text for e in s.exchanges)
        assert "state=" not in text and "s3cret!" not in text


def test_haraka_state_suffix_is_never_taken_for_a_secret() -> None:
    s = one(HarakaProtocolLog(), """
[PROTOCOL] [core] S: 220 mx.example ESMTP Haraka ready
[PROTOCOL] [core] C: EHLO a.example state=1
[PROTOCOL] [core] S: 250 AUTH LOGIN
[PROTOCOL] [core] C: AUTH LOGIN state=1
[PROTOCOL] [core] S: 334 VXNlcm5hbWU6
[PROTOCOL] [core] C: dXNlcg== state=1
[PROTOCOL] [core] S: 235 ok
""")
    assert "auth.invalid-base64" not in ids(s)
    assert s.auth[0].user == "user"
    assert s.origin == "haraka"


# -- D14: Nodemailer's console logger without timestamps ---------------------------------

NODEMAILER_BARE = """
 DEBUG Sending mail using SMTP/6.3.1[client:6.3.1]
 DEBUG [pUzDNyFoiLg] Resolved smtp.example.test as 192.0.2.25 [cache miss]
 INFO  [pUzDNyFoiLg] Connection established to 192.0.2.25:587
 DEBUG [pUzDNyFoiLg] S: 220 smtp.example.test ESMTP
 DEBUG [pUzDNyFoiLg] C: EHLO [127.0.0.1]
 DEBUG [pUzDNyFoiLg] S: 250-smtp.example.test Hello
 DEBUG [pUzDNyFoiLg] S: 250 STARTTLS
 DEBUG [pUzDNyFoiLg] C: AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAAvKiBzZWNyZXQgKi8=
 DEBUG [pUzDNyFoiLg] S: 503 AUTH command used when not advertised
 INFO  [pUzDNyFoiLg] User "alice@example.test" failed to authenticate
 DEBUG [pUzDNyFoiLg] Closing connection to the server using "end"
"""


def test_nodemailer_lines_without_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "nodemailer.log"
    path.write_text(NODEMAILER_BARE.strip("\n") + "\n")
    assert detect_text_format(str(path)).name == "nodemailer"
    assert forced_text_format(str(path), "nodemailer").name == "nodemailer"
    (s,) = analyze_file(str(path), fmt="nodemailer")
    assert s.server is not None and (s.server.host, s.server.port) == ("192.0.2.25", 587)
    assert s.greeting_code == 220 and s.helo == "[127.0.0.1]"
    assert s.auth[0].mechanism == "PLAIN" and s.auth[0].reply_code == 503
    assert s.ts_start is None


def test_nodemailer_bare_levels_need_a_known_level() -> None:
    fmt = NodemailerLog()
    assert fmt.sniff([" NOTE [abc] C: EHLO a", " NOTE [abc] S: 250 ok"]) == 0
    assert fmt.sniff([" DEBUG [abc] C: EHLO a", " DEBUG [abc] S: 250 ok"]) == 95


# -- D10: an Exim mainlog with only a refused outbound delivery ---------------------------

OUTBOUND = ("2025-02-17 17:59:47 1tk2b3-006Xtp-0N ** bob@remote.example R=dnslookup "
            "T=remote_smtp H=mx.remote.example [192.0.2.2] X=TLS1.3:TLS_AES_256_GCM_SHA384:256 "
            "CV=yes: SMTP error from remote mail server after RCPT TO:<bob@remote.example>: "
            "550 Relay not permitted")


def test_exim_refused_delivery_is_a_partial_session() -> None:
    s = one(EximMainlog(), OUTBOUND)
    assert s.partial and s.origin == "exim-mainlog"
    assert s.server is not None and s.server.host == "192.0.2.2" and s.client is None
    assert s.tls is True
    (t,) = s.transactions
    (r,) = t.recipients
    assert (r.address, r.reply_code, r.reply_text) == ("bob@remote.example", 550,
                                                       "Relay not permitted")
    (f,) = [f for f in s.findings if f.id == "log.rejected"]
    assert "RCPT TO:<bob@remote.example>" in f.detail and "550" in f.detail
    assert "mx.remote.example" in f.detail


@pytest.mark.parametrize(("after", "check"), [
    ("initial connection", lambda s: s.greeting_code == 554),
    ("MAIL FROM:<alice@example.test> SIZE=1234",
     lambda s: s.transactions[0].mail_from == "alice@example.test"
     and s.transactions[0].mail_reply_code == 554),
    ("pipelined DATA", lambda s: s.transactions[0].data_reply_code == 554),
    ("end of data", lambda s: s.transactions[0].last_reply_code == 554),
    ("EHLO mx.example.test", lambda s: s.helo == "mx.example.test"),
])
def test_exim_refusals_after_each_command(after: str, check: object) -> None:
    line = ("2025-02-17 17:59:47 1tk2b3-006Xtp-0N == bob@remote.example R=dnslookup "
            f"T=remote_smtp H=192.0.2.2 [192.0.2.2]:25: SMTP error from remote mail server "
            f"after {after}: 554 5.7.1 refused")
    s = one(EximMainlog(), line)
    assert callable(check) and check(s)
    assert s.server is not None and s.server.port == 25 and s.tls is None
    assert "log.rejected" in ids(s)


def test_no_session_in_a_log_names_the_log_format(tmp_path: Path) -> None:
    path = tmp_path / "mainlog"
    path.write_text("2025-02-17 17:59:45 1tk2b3-006Xtp-0N <= <> R=1tk2b1-006Xtb-NL "
                    "U=Debian-exim P=local S=662\n"
                    "2025-02-17 17:59:47 1tk2b3-006Xtp-0N Completed\n")
    problems: list[Problem] = []
    assert list(analyze_file(str(path), on_problem=problems.append)) == []
    (p,) = problems
    assert p.code == "input.no-smtp"
    assert "in the log" in p.message and "exim-mainlog" in p.message
    assert "port" not in p.message


def test_exim_refusal_in_the_old_layout_names_the_host_after_the_command() -> None:
    s = one(EximMainlog(), "2009-03-02 10:00:00 1LdtBx-0003Qm-4z ** bob@remote.example "
            "R=dnslookup T=remote_smtp: SMTP error from remote mail server after RCPT "
            "TO:<bob@remote.example>: host mx.remote.example [192.0.2.3]: 550 5.1.1 "
            "unknown user")
    assert s.server is not None and s.server.host == "192.0.2.3"
    assert s.transactions[0].recipients[0].reply_code == 550
    assert s.transactions[0].recipients[0].reply_text == "5.1.1 unknown user"


def test_cs_reply_lines_that_lost_their_marker_continue_the_reply() -> None:
    # a pasted EHLO reply whose later lines lost "S: " (sweep inputs 15, 38)
    (s,) = sessions_of("S: 220 mx.example ESMTP\nC: EHLO a.example\nS: 250-mx.example\n"
                       "250-AUTH LOGIN\n250 OK\nC: AUTH LOGIN\nS: 334 VXNlcm5hbWU6\n"
                       "C: dXNlcg==\nS: 334 UGFzc3dvcmQ6\nC: cGFzcw==\nS: 235 ok\n"
                       "C: QUIT\nS: 221 bye")
    assert s.capabilities.get("AUTH") == ("LOGIN",)
    assert s.auth[0].user == "user" and s.auth[0].outcome == "success"
    assert not {"protocol.mixed-reply-codes", "protocol.unmatched-reply"} & ids(s)


def test_cs_a_bare_line_with_another_code_is_not_a_continuation() -> None:
    (s,) = sessions_of("S: 220 mx\nC: EHLO a\nS: 250-mx\n354 odd\nS: 250 OK\nC: QUIT\n"
                       "S: 221 bye")
    # "354 odd" is skipped (with a notice), not read as part of the 250 reply
    assert s.capabilities == {"OK": ()}
