"""The example dialogues of RFC 5321 (Appendix D), RFC 4954 (§4) and RFC 3030 (§4)."""

from __future__ import annotations

from tests.helpers import ids, session_of

RFC5321_D1 = """
   S: 220 foo.com Simple Mail Transfer Service Ready
   C: EHLO bar.com
   S: 250-foo.com greets bar.com
   S: 250-8BITMIME
   S: 250-SIZE
   S: 250-DSN
   S: 250 HELP
   C: MAIL FROM:<Smith@bar.com>
   S: 250 OK
   C: RCPT TO:<Jones@foo.com>
   S: 250 OK
   C: RCPT TO:<Green@foo.com>
   S: 550 No such user here
   C: RCPT TO:<Brown@foo.com>
   S: 250 OK
   C: DATA
   S: 354 Start mail input; end with <CRLF>.<CRLF>
   C: Blah blah blah...
   C: ...etc. etc. etc.
   C: .
   S: 250 OK
   C: QUIT
   S: 221 foo.com Service closing transmission channel
"""

RFC5321_D2_ABORTED = """
   S: 220 foo.com Simple Mail Transfer Service Ready
   C: EHLO bar.com
   S: 250-foo.com greets bar.com
   S: 250 HELP
   C: MAIL FROM:<Smith@bar.com>
   S: 250 OK
   C: RCPT TO:<Jones@foo.com>
   S: 250 OK
   C: RCPT TO:<Green@foo.com>
   S: 550 No such user here
   C: RSET
   S: 250 OK
   C: QUIT
   S: 221 foo.com Service closing transmission channel
"""

RFC5321_D4_VRFY = """
   S: 220 foo.com Simple Mail Transfer Service Ready
   C: EHLO bar.com
   S: 250-foo.com greets bar.com
   S: 250 HELP
   C: VRFY Crispin
   S: 250 Mark Crispin <Admin.MRC@foo.com>
   C: MAIL FROM:<EAK@bar.com>
   S: 250 OK
   C: RCPT TO:<Admin.MRC@foo.com>
   S: 250 OK
   C: DATA
   S: 354 Start mail input; end with <CRLF>.<CRLF>
   C: Blah blah blah...
   C: .
   S: 250 OK
   C: QUIT
   S: 221 foo.com Service closing transmission channel
"""

# RFC 4954 §4, first example, with its greeting written "220-" in the RFC's text
RFC4954_PLAIN_TLS = """
S: 220{sep}smtp.example.com ESMTP Server
C: EHLO client.example.com
S: 250-smtp.example.com Hello client.example.com
S: 250-AUTH GSSAPI DIGEST-MD5
S: 250-ENHANCEDSTATUSCODES
S: 250 STARTTLS
C: STARTTLS
S: 220 Ready to start TLS
C: EHLO client.example.com
S: 250-smtp.example.com Hello client.example.com
S: 250 AUTH GSSAPI DIGEST-MD5 PLAIN
C: AUTH PLAIN dGVzdAB0ZXN0ADEyMzQ=
S: 235 2.7.0 Authentication successful
"""

RFC4954_CRAM = """
S: 220 smtp.example.com ESMTP server ready
C: EHLO jgm.example.com
S: 250-smtp.example.com
S: 250 AUTH DIGEST-MD5 CRAM-MD5
C: AUTH FOOBAR
S: 504 5.5.4 Unrecognized authentication type.
C: AUTH CRAM-MD5
S: 334 PENCeUxFREJoU0NnbmhNWitOMjNGNndAZWx3b29kLmlubm9zb2Z0LmNvbT4=
C: ZnJlZCA5ZTk1YWVlMDljNDBhZjJiODRhMGMyYjNiYmFlNzg2ZQ==
S: 235 2.7.0 Authentication successful
"""

RFC4954_EMPTY_CHALLENGE = """
S: 220 smtp.example.com ESMTP server ready
C: EHLO client.example.com
S: 250 AUTH PLAIN
C: AUTH PLAIN
S= 334 \\r\\n
C: dGVzdAB0ZXN0ADEyMzQ=
S: 235 2.7.0 Authentication successful
"""

RFC3030_EXAMPLE = """
S: 220 Example.com SMTP receiver ready
C: EHLO Example.ORG
S: 250-Example.com
S: 250-CHUNKING
S: 250 BINARYMIME
C: MAIL FROM:<Sam@Random.com> BODY=BINARYMIME
S: 250 <Sam@Random.com>... Sender and BINARYMIME ok
C: RCPT TO:<Susan@Random.com>
S: 250 <Susan@Random.com>... Recipient ok
C: BDAT 20
C= 0123456789abcdefghij
S: 250 20 octets received
C: BDAT 6 LAST
C= klmnop
S: 250 Message OK, 26 octets received
C: QUIT
S: 221 Goodbye
"""


def test_rfc5321_typical_transaction() -> None:
    s = session_of(RFC5321_D1)
    assert s.helo == "bar.com" and set(s.capabilities) == {"8BITMIME", "SIZE", "DSN", "HELP"}
    (tx,) = s.transactions
    assert tx.mail_from == "Smith@bar.com"
    assert [(r.address, r.accepted) for r in tx.recipients] == [
        ("Jones@foo.com", True), ("Green@foo.com", False), ("Brown@foo.com", True)]
    assert tx.message is not None and tx.message.reply_code == 250
    assert tx.message.info is not None and tx.message.info.size == len(
        b"Blah blah blah...\r\n..etc. etc. etc.\r\n")
    assert s.quit and ids(s) == set()


def test_rfc5321_aborted_transaction() -> None:
    s = session_of(RFC5321_D2_ABORTED)
    (tx,) = s.transactions
    assert tx.ended == "rset" and tx.message is None and ids(s) == set()


def test_rfc5321_vrfy_then_mail() -> None:
    s = session_of(RFC5321_D4_VRFY)
    assert [e.verb for e in s.exchanges][:2] == ["EHLO", "VRFY"]
    assert s.exchanges[1].reply_text == "Mark Crispin <Admin.MRC@foo.com>"
    assert ids(s) == set()


def test_rfc4954_plain_after_starttls() -> None:
    s = session_of(RFC4954_PLAIN_TLS.format(sep=" "))
    (auth,) = s.auth
    assert auth.mechanism == "PLAIN" and auth.outcome == "success" and auth.user == "test"
    assert auth.encrypted and auth.advertised
    assert s.tls and s.capabilities["AUTH"] == ("GSSAPI", "DIGEST-MD5", "PLAIN")
    assert ids(s) == {"protocol.no-quit"}
    secret_line = s.exchanges[-1]
    assert "dGVzdAB0ZXN0ADEyMzQ=" not in secret_line.text
    assert secret_line.shown(reveal=True).endswith("dGVzdAB0ZXN0ADEyMzQ=")


def test_rfc4954_literal_text_has_a_broken_greeting() -> None:
    # the RFC writes the one-line greeting as "220-...": a continuation line that the
    # client never waits out, so the server's next lines join it with another code
    s = session_of(RFC4954_PLAIN_TLS.format(sep="-"))
    assert "protocol.mixed-reply-codes" in ids(s)


def test_rfc4954_cram_md5_after_unknown_mechanism() -> None:
    s = session_of(RFC4954_CRAM)
    foobar, cram = s.auth
    assert foobar.outcome == "failure" and foobar.reply_code == 504 and not foobar.advertised
    assert cram.outcome == "success" and cram.user == "fred"
    assert cram.steps[0].describe() == 'challenge "<CByLEDBhSCgnhMZ+N23F6w@elwood.innosoft.com>"'
    assert {"auth.not-advertised", "auth.failed"} <= ids(s)
    assert "auth.cleartext" not in ids(s)  # CRAM-MD5 does not expose the password


def test_rfc4954_empty_challenge_then_plain() -> None:
    s = session_of(RFC4954_EMPTY_CHALLENGE)
    (auth,) = s.auth
    assert auth.user == "test" and auth.outcome == "success"
    assert "auth.cleartext" in ids(s)


def test_rfc3030_binarymime_in_two_chunks() -> None:
    s = session_of(RFC3030_EXAMPLE)
    (tx,) = s.transactions
    msg = tx.message
    assert msg is not None and msg.method == "BDAT" and msg.chunks == 2
    assert msg.info is not None and msg.info.size == 26 and msg.complete
    assert msg.reply_code == 250 and tx.last_reply.startswith("250 Message OK")
    assert ids(s) == set()
