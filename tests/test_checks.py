"""Every finding, raised by a session that shows it, and absent from a clean one."""

from __future__ import annotations

import pytest

from smtplens.checks import CHECK_CLASSES
from smtplens.findings.catalog import CATALOG
from tests.helpers import ids, session_of

HELLO = """
S: 220 mx.example ESMTP
C: EHLO client.example
S: 250-mx.example
S: 250-PIPELINING
S: 250-SIZE 1000
S: 250-8BITMIME
S: 250-CHUNKING
S: 250-STARTTLS
S: 250 AUTH PLAIN LOGIN
"""
ENVELOPE = """
C: MAIL FROM:<a@example.org>
S: 250 ok
C: RCPT TO:<b@example.com>
S: 250 ok
"""


def message(body: str, ending: str = "C: .\nS: 250 queued\n") -> str:
    return HELLO + ENVELOPE + "C: DATA\nS: 354 go\n" + body + "\n" + ending


CASES: dict[str, str] = {
    "data.terminator-missing": message("C: Subject: x\nC:\nC: body", ending=""),
    "data.unstuffed-dot": message("C: Subject: x\nC:\nC: .net is here"),
    "data.premature-end": message(
        "C: Subject: x\nC:\nC: part\nC: .\nC: lost text\nC: more\nC: .\n"
        "S: 250 queued\nS: 500 unknown\nS: 500 unknown", ending=""),
    "data.smuggling-sequence": message("C: Subject: x\nC:\nC= hi\\r\\n\\n.\\r\\n"
                                       "MAIL FROM:<ceo@x>\\r\\n"),
    "data.bare-lf": message("C: Subject: x\nC:\nC= one\\ntwo\\r\\n"),
    "data.bare-cr": message("C: Subject: x\nC:\nC= one\\rtwo\\r\\n"),
    "data.nul-byte": message("C: Subject: x\nC:\nC= a\\0b\\r\\n"),
    "data.line-too-long": message("C: Subject: x\nC:\nC: " + "y" * 999),
    "data.8bit-without-8bitmime": message("C: Subject: x\nC:\nC= caf\\xc3\\xa9\\r\\n"),
    "data.size-exceeded": message("C: Subject: x\nC:\n" + "C: " + "z" * 600 + "\nC: "
                                  + "z" * 600),
    "data.body-after-refused-data": HELLO + """
C: MAIL FROM:<a@example.org>
S: 250 ok
C: RCPT TO:<b@example.com>
S: 550 no
C: DATA
S: 554 no valid recipients
C: Subject: hi
C: hello there
C: .
S: 500 unknown
S: 500 unknown
S: 500 unknown
""",
    "data.binarymime-with-data": HELLO + """
C: MAIL FROM:<a@example.org> BODY=BINARYMIME
S: 250 ok
C: RCPT TO:<b@example.com>
S: 250 ok
C: DATA
S: 354 go
C: x
C: .
S: 250 ok
""",
    "bdat.size-mismatch": HELLO + ENVELOPE + """
C= BDAT 3 LAST\\r\\nabcdef\\r\\n
S: 250 ok
S: 500 what
""",
    "bdat.mixed-with-data": HELLO + ENVELOPE + """
C= BDAT 3\\r\\nabc
S: 250 ok
C: DATA
S: 503 no mixing
""",
    "bdat.after-last": HELLO + ENVELOPE + """
C= BDAT 3 LAST\\r\\nabc
S: 250 ok
C= BDAT 3\\r\\nabc
S: 503 bad sequence
""",
    "bdat.invalid": HELLO + ENVELOPE + """
C: BDAT -5
S: 501 syntax
""",
    "bdat.not-advertised": """
S: 220 mx
C: EHLO a
S: 250 mx
C: MAIL FROM:<a@b>
S: 250 ok
C: RCPT TO:<c@d>
S: 250 ok
C= BDAT 2 LAST\\r\\nab
S: 250 ok
""",
    "bdat.dot-stuffed": HELLO + ENVELOPE + """
C= BDAT 11 LAST\\r\\nhi\\r\\n..\\r\\n.\\r\\n
S: 250 ok
""",
    "auth.invalid-base64": HELLO + """
C: AUTH LOGIN
S: 334 VXNlcm5hbWU6
C: alice in clear!
S: 501 not base64
""",
    "auth.cleartext": HELLO + """
C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
S: 235 ok
""",
    "auth.not-advertised": HELLO + """
C: AUTH CRAM-MD5
S: 504 unrecognized
""",
    "auth.failed": HELLO + """
C: AUTH PLAIN AGFsaWNlAHdyb25n
S: 535 5.7.8 Authentication credentials invalid
""",
    "auth.cancelled": HELLO + """
C: AUTH LOGIN
S: 334 VXNlcm5hbWU6
C: *
S: 501 5.7.0 cancelled
""",
    "auth.before-ehlo": """
S: 220 mx
C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
S: 503 EHLO first
""",
    "auth.in-transaction": HELLO + """
C: MAIL FROM:<a@b>
S: 250 ok
C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
S: 503 not in transaction
""",
    "auth.after-success": HELLO + """
C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
S: 235 ok
C: AUTH PLAIN AGJvYgBzZWNyZXQ=
S: 503 already authenticated
""",
    "auth.repeated-failures": HELLO + "".join(f"""
C: AUTH PLAIN AGFsaWNlAHdyb25n{i}
S: 535 5.7.8 no
""" for i in range(4)),
    "auth.out-of-step": HELLO + """
C: AUTH LOGIN
S: 334 VXNlcm5hbWU6
C: YWxpY2U=
S: 334 UGFzc3dvcmQ6
C: d3Jvbmc=
S: 535 5.7.8 no
C: c2VjcmV0MQ==
S: 500 5.5.2 unrecognized
""",
    "protocol.early-talker": """
C: EHLO hasty
S: 220 mx
S: 250 mx
""",
    "protocol.greeting-refused": """
S: 554 5.7.1 go away
C: QUIT
S: 221 bye
""",
    "protocol.pipelining-not-advertised": """
S: 220 mx
C: EHLO a
S: 250 mx
C: MAIL FROM:<a@b>
C: RCPT TO:<c@d>
S: 250 ok
S: 250 ok
""",
    "protocol.pipelining-violation": HELLO + """
C: NOOP
C: MAIL FROM:<a@b>
S: 250 ok
S: 250 ok
""",
    "protocol.starttls-injection": HELLO + """
C: STARTTLS
C: MAIL FROM:<evil@x>
S: 220 ready
""",
    "protocol.starttls-readvertised": """
S: 220 mx
C: EHLO a
S: 250-mx
S: 250 STARTTLS
C: STARTTLS
S: 220 go
C: EHLO a
S: 250-mx
S: 250 STARTTLS
""",
    "protocol.starttls-refused": HELLO + """
C: STARTTLS
S: 454 4.7.0 TLS not available
""",
    "protocol.mixed-reply-codes": """
S: 220 mx
C: EHLO a
S: 250-mx
S: 251 odd
""",
    "protocol.malformed-reply": """
S: 220 mx
C: NOOP
S: OK fine
""",
    "protocol.command-too-long": HELLO + "C: MAIL FROM:<" + "a" * 520 + "@b>\nS: 501 too long",
    "protocol.reply-too-long": "S: 220 mx\nC: HELP\nS: 214 " + "h" * 520,
    "protocol.out-of-sequence": HELLO + """
C: RCPT TO:<c@d>
S: 503 need MAIL
""",
    "protocol.unmatched-reply": """
S: 220 mx
C: NOOP
S: 250 ok
S: 250 again
""",
    "protocol.no-reply": """
S: 220 mx
C: EHLO a
S: 250 mx
C: MAIL FROM:<a@b>
""",
    "protocol.no-quit": """
S: 220 mx
C: EHLO a
S: 250 mx
""",
    "protocol.unknown-command": """
S: 220 mx
C: XYZZY plugh
S: 500 unknown
""",
    "protocol.smtputf8-without-8bitmime": """
S: 220 mx
C: EHLO a
S: 250-mx
S: 250 SMTPUTF8
""",
    "protocol.utf8-address-without-smtputf8": HELLO + """
C: MAIL FROM:<jörg@example.de>
S: 553 no
""",
    "protocol.address-too-long": HELLO + "C: MAIL FROM:<" + "l" * 70 + "@example.org>\nS: 250 ok",
    # issue 13 (smtplens/checks/syntax.py); real cases in test_regressions_issue13.py
    "protocol.path-without-brackets": HELLO + "C: MAIL FROM:alice@example.org\nS: 250 ok",
    "protocol.space-after-colon": HELLO + "C: MAIL FROM: <alice@example.org>\nS: 250 ok",
    "protocol.helo-without-domain": "S: 220 mx\nC: HELO\nS: 501 Syntax: HELO hostname",
    "auth.plain-empty-authcid": HELLO + "C: AUTH PLAIN AABzM2NyZXQh\nS: 535 no",
    "capture.gap": HELLO + "!gap C 100\nC: NOOP\nS: 250 ok",
    "capture.one-sided": "C: EHLO a\nC: QUIT",
    "capture.encrypted": HELLO + "C: STARTTLS\nS: 220 go\nC= \\x16\\x03\\x01hello",
}

# produced by sources (pcap reassembly, mail logs), tested with them
FROM_SOURCES = {"capture.overlap-conflict", "capture.midstream", "capture.memcap-closed",
                "log.lost-connection", "log.tls-failed", "log.rejected",
                # Postfix and Exim summary logs: test_logs_postfix_mixed.py, _exim_variants.py
                "log.sasl-backend-fault", "log.too-many-errors", "log.rate-limited",
                # raised on logs only (a C:/S: transcript is not one): test_logsecrets.py
                "log.secret-in-log",
                # how the generic reader read a file: test_generic_samples.py
                "log.read-by-guess"}
#: across sessions, by smtplens.audit.correlate (tested in test_audit_correlate.py)
ACROSS = {fid for fid in CATALOG if fid.startswith("audit.")}


@pytest.mark.parametrize("finding_id", sorted(CASES))
def test_finding_is_raised(finding_id: str) -> None:
    session = session_of(CASES[finding_id])
    assert finding_id in ids(session), [(f.id, f.detail) for f in session.findings]


def test_every_catalog_entry_is_tested_and_emitted() -> None:
    emitted = {fid for cls in CHECK_CLASSES for fid in cls.emits}
    assert set(CATALOG) == set(CASES) | FROM_SOURCES | ACROSS
    assert set(CASES) <= emitted  # each tested id is declared by the check that emits it
    assert emitted <= set(CATALOG)


def test_clean_session_has_no_findings() -> None:
    text = HELLO + """
C: STARTTLS
S: 220 2.0.0 Ready to start TLS
C= \\x16\\x03\\x01\\x00\\x05hello
S= \\x16\\x03\\x03\\x00\\x05world
"""
    session = session_of(text)
    assert ids(session) == {"capture.encrypted"}


def test_clean_message_has_no_findings() -> None:
    text = message("C: Subject: hello\nC:\nC: ..leading dot, stuffed\nC: body") + """
C: QUIT
S: 221 bye
"""
    session = session_of(text)
    assert ids(session) == set()
    msg = session.messages[0]
    assert msg.complete and msg.info is not None and msg.info.subject == "hello"
    assert msg.reply_code == 250


def test_smuggling_detail_names_the_commands_that_follow() -> None:
    session = session_of(CASES["data.smuggling-sequence"])
    found = next(f for f in session.findings if f.id == "data.smuggling-sequence")
    assert "MAIL FROM" in found.detail
    assert found.evidence.excerpt.startswith("\\n.\\r\\nMAIL FROM")


@pytest.mark.parametrize("sequence", [
    "\\n.\\n", "\\n.\\r\\n", "\\r.\\r", "\\r\\n.\\n", "\\n.\\r", "\\r.\\n", "\\r\\n.\\r",
    "\\r\\n\\0.\\r\\n", "\\r.\\r\\n", "\\r\\n.\\r\\r\\n"])
def test_every_smuggling_sequence_is_seen(sequence: str) -> None:
    session = session_of(message(f"C: Subject: x\nC:\nC= text{sequence}more\\r\\n"))
    assert "data.smuggling-sequence" in ids(session)


def test_stuffed_dots_are_not_smuggling_or_unstuffed() -> None:
    session = session_of(message("C: Subject: x\nC:\nC: ..\nC: ...\nC: ..x"))
    assert not ids(session) & {"data.smuggling-sequence", "data.unstuffed-dot"}


def test_exact_byte_findings_are_undetermined_for_inexact_sources() -> None:
    from dataclasses import replace

    from smtplens.analysis import analyze_stream
    from smtplens.stream import Opened
    from tests.helpers import transcript_items

    items = transcript_items(CASES["data.bare-lf"])
    items = [replace(i, exact_bytes=False) if isinstance(i, Opened) else i for i in items]
    session = next(iter(analyze_stream(items)))
    assert "data.bare-lf" not in ids(session)
    assert "data.bare-lf" in session.undetermined


def test_excerpts_never_carry_an_auth_initial_response() -> None:
    session = session_of(HELLO + """
C: STARTTLS
C: AUTH PLAIN AGFsaWNlAHMzY3JldA==
S: 220 ready
""")
    (found,) = [f for f in session.findings if f.id == "protocol.starttls-injection"]
    assert "AGFsaWNl" not in found.evidence.excerpt
    assert "AUTH PLAIN [redacted]" in found.evidence.excerpt


def test_message_sent_before_354_is_a_pipelining_violation() -> None:
    session = session_of(HELLO + ENVELOPE + """
C: DATA
C: Subject: eager
C:
C: body
C: .
S: 354 go
S: 250 ok
""")
    (found,) = [f for f in session.findings if f.id == "protocol.pipelining-violation"]
    assert "DATA" in found.detail and session.messages[0].complete


def test_finding_detail_is_bounded() -> None:
    # an unknown "verb" can be a whole overlong line; the detail stays one short sentence
    s = session_of(HELLO + "C: " + "X" * 5000 + "\nS: 500 what\n")
    detail = next(f.detail for f in s.findings if f.id == "protocol.unknown-command")
    assert len(detail) <= 300
