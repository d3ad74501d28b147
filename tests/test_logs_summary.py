"""Summary mail logs (no transcript): Postfix's maillog (``postfix-log``) and Exim's main
log (``exim-mainlog``) read into partial sessions.

The lines are real, quoted from published logs:

* Postfix: whyscream/postfix-grok-patterns test lines (lost connection, timeout, NOQUEUE
  reject, pipelining, postscreen PREGREET / COMMAND PIPELINING / BARE NEWLINE / NON-SMTP
  COMMAND, SSL_accept error; message parts, syslog prefixes added); a mail.log posted to
  a forum about SASL brute force (``May  4 21:17:42 mail postfix/smtpd[22653]: ...``);
  the Wintermute walkthrough's mail.log (``straylight``: SSL_accept error, TLS library
  problem, ``starttls=0/1``). ``bare <LF> received after DATA`` follows the pattern
  postfix-grok-patterns added for Postfix's smtpd_forbid_bare_newline logging (#186).
* Exim: mysociety/alaveteli's spec (``[31388] SMTP connection from [127.0.0.1]:41019 ...``,
  ``no MAIL in SMTP connection ... C=HELO,QUIT``), an exim4 TLS forum thread (the port
  465 session with ``A=plain_saslauthd_server:testuser``), an IO::Pipeline test
  (trout.me.uk rejects), Exim's own test/log/3450 (``rejected AUTH plain``), an exim-users
  post (``lookup_login authenticator failed ...: 501 Invalid base64 data``), saslauthd
  failures posted to a forum, and Exim's smtp_in.c format for the synchronization errors.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from smtplens.analysis import analyze_file
from smtplens.cli import app
from smtplens.model import Session
from smtplens.sources import detect_text_format
from smtplens.sources.logs._times import syslog_time
from smtplens.sources.logs.exim_summary import EximMainlog, mechanism
from smtplens.sources.logs.postfix_summary import PostfixSummaryLog
from smtplens.sources.textfile import TextFormat, read_lines
from smtplens.stream import Direction, Endpoint, Notice, StreamItem, Summary

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
POSTFIX_SAMPLE = SAMPLES / "postfix-maillog.log"
EXIM_SAMPLE = SAMPLES / "exim-mainlog.log"
PF, EX = PostfixSummaryLog(), EximMainlog()

SASL_FAIL = ("May  4 21:18:09 mail postfix/smtpd[22653]: warning: unknown[181.214.206.133]: "
             "SASL LOGIN authentication failed: UGFzc3dvcmQ6")


def items(fmt: TextFormat, text: str) -> list[StreamItem]:
    return list(fmt.parse(enumerate(text.strip("\n").splitlines(), 1), "test.log"))


def sessions(fmt: TextFormat, text: str) -> list[Session]:
    return [i.session for i in items(fmt, text) if isinstance(i, Summary)]


def one(fmt: TextFormat, text: str) -> Session:
    found = sessions(fmt, text)
    assert len(found) == 1, [s.id for s in found]
    return found[0]


def ids(s: Session) -> list[str]:
    return [f.id for f in s.findings]


def detail(s: Session, finding_id: str) -> str:
    return next(f.detail for f in s.findings if f.id == finding_id)


def smtpd(pid: int, *messages: str, host: str = "mail", time: str = "May  5 00:10:0") -> str:
    return "\n".join(f"{time}{i % 10} {host} postfix/smtpd[{pid}]: {m}"
                     for i, m in enumerate(messages))


# ---------------------------------------------------------------------- Postfix: AUTH
def test_sasl_login_failure_decodes_the_challenge_it_failed_at() -> None:
    s = one(PF, "May  4 21:18:07 mail postfix/smtpd[22653]: connect from "
                "unknown[181.214.206.133]\n" + SASL_FAIL + "\nMay  4 21:18:09 mail "
                "postfix/smtpd[22653]: disconnect from unknown[181.214.206.133]")
    assert (s.origin, s.partial, s.exact_bytes) == ("postfix-log", True, False)
    assert s.client == Endpoint("181.214.206.133") and s.server == Endpoint("mail")
    assert s.location == "line 1" and s.close_reason == "disconnect"
    (auth,) = s.auth
    assert (auth.mechanism, auth.outcome) == ("LOGIN", "failure")
    assert auth.steps[0].direction is Direction.SERVER
    assert auth.steps[0].describe() == "Password:"
    assert detail(s, "auth.failed") == ("SASL LOGIN failed at the password step "
                                        "(334 UGFzc3dvcmQ6 = 'Password:')")
    finding = s.findings[0]
    assert finding.evidence.location == "line 2" and finding.evidence.session == s.id
    assert finding.evidence.excerpt.startswith("May  4 21:18:09 mail postfix/smtpd[22653]")
    assert "auth.cleartext" not in ids(s)  # not decidable from a summary


def test_username_step_and_back_end_reasons() -> None:
    s = one(PF, smtpd(7, "connect from unknown[192.0.2.1]",
                      "warning: unknown[192.0.2.1]: SASL LOGIN authentication failed: "
                      "VXNlcm5hbWU6",
                      "warning: xen0.satimis.com[192.0.2.1]: SASL PLAIN authentication "
                      "failed: authentication failure",
                      "disconnect from unknown[192.0.2.1]"))
    assert [a.steps[0].describe() if a.steps else None for a in s.auth] == ["Username:", None]
    details = [f.detail for f in s.findings if f.id == "auth.failed"]
    assert "at the username step" in details[0]
    assert details[1] == "SASL PLAIN failed: authentication failure"


def test_repeated_failures_with_sasl_usernames() -> None:
    s = next(x for x in analyze_file(str(POSTFIX_SAMPLE))
             if any(a.user == "fax" for a in x.auth))
    assert [a.user for a in s.auth] == ["info", "fax", "admin"]
    assert s.tls and all(a.encrypted for a in s.auth)
    assert ids(s).count("auth.failed") == 3
    assert detail(s, "auth.repeated-failures") == ("3 failed AUTH attempts in one connection "
                                                   "(users tried: admin, fax, info)")
    assert detail(s, "log.lost-connection") == "Postfix lost the connection after AUTH"
    assert s.helo_verb == "EHLO" and not s.quit


def test_authenticated_message_with_queue_manager_and_delivery() -> None:
    s = one(PF, """
May  5 00:05:53 mail postfix/smtpd[24324]: connect from mta477a.sparkpostmail.com[52.26.78.194]
May  5 00:05:54 mail postfix/smtpd[24324]: 5793E336035: client=mta477a.sparkpostmail.com[52.26.78.194], sasl_method=PLAIN, sasl_username=alice@example.test
May  5 00:05:55 mail postfix/qmgr[23972]: 5793E336035: from=<msprvs1=17663n-qlmi2D=bounces-27637@spmailtechnol.com>, size=151555, nrcpt=1 (queue active)
May  5 00:05:57 mail postfix/smtp[24333]: 5793E336035: to=<client@host.com>, relay=127.0.0.1[127.0.0.1]:10024, delay=3.1, delays=1.2/0/0/1.8, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 23E8E336042)
May  5 00:06:00 mail postfix/smtpd[24324]: disconnect from mta477a.sparkpostmail.com[52.26.78.194] ehlo=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=6
""")  # noqa: E501
    assert [(a.mechanism, a.outcome, a.user) for a in s.auth] == [
        ("PLAIN", "success", "alice@example.test")]
    (t,) = s.transactions
    assert t.mail_from == "msprvs1=17663n-qlmi2D=bounces-27637@spmailtechnol.com"
    assert [r.address for r in t.recipients] == ["client@host.com"]
    assert t.message is not None and t.message.wire_size == 151555
    assert t.last_reply == "250 queued as 5793E336035"
    assert s.helo_verb == "EHLO" and s.quit and s.findings == []


# ---------------------------------------------------------------------- Postfix: other lines
def test_lost_connection_names_the_command() -> None:
    lost = one(PF, smtpd(9, "connect from unknown[72.13.58.7]",
                         "lost connection after DATA (0 bytes) from unknown[72.13.58.7]",
                         "disconnect from unknown[72.13.58.7] ehlo=1 mail=1 rcpt=1 data=0/1 "
                         "commands=3/4"))
    assert detail(lost, "log.lost-connection") == ("Postfix lost the connection after DATA "
                                                   "(0 bytes received)")
    timeout = one(PF, smtpd(9, "timeout after END-OF-MESSAGE from unknown[72.13.58.7]"))
    assert detail(timeout, "log.lost-connection") == "Postfix timed out after END-OF-MESSAGE"
    assert timeout.close_reason == "eof"  # no connect/disconnect: still a session


def test_noqueue_reject_gives_code_text_and_envelope() -> None:
    s = one(PF, smtpd(11, "NOQUEUE: reject: RCPT from 061238241086.static.ctinets.com"
                          "[61.238.241.86]: 550 5.1.1 <toernooicommissie@example.com>: Recipient "
                          "address rejected: User unknown in virtual mailbox table; "
                          "from=<wumt5@cchfdc.com> to=<toernooicommissie@example.com> "
                          "proto=ESMTP helo=<ecsolved.com>"))
    assert (s.helo_verb, s.helo) == ("EHLO", "ecsolved.com")
    (t,) = s.transactions
    assert t.mail_from == "wumt5@cchfdc.com"
    (r,) = t.recipients
    assert (r.address, r.reply_code, r.accepted) == ("toernooicommissie@example.com", 550, False)
    d = detail(s, "log.rejected")
    assert d.startswith("RCPT rejected with 550 5.1.1: <toernooicommissie@example.com>: "
                        "Recipient address rejected")
    assert s.findings[0].evidence.direction is Direction.SERVER


def test_improper_pipelining_after_data_and_after_connect() -> None:
    s = one(PF, smtpd(12, "improper command pipelining after DATA from unknown[192.0.2.9]: "
                          "QUIT\\r\\n"))
    assert ids(s) == ["protocol.pipelining-violation"]
    assert "after DATA" in s.findings[0].detail and "QUIT" in s.findings[0].detail
    early = one(PF, smtpd(13, "improper command pipelining after CONNECT from "
                              "unknown[195.3.222.78]:"))
    assert ids(early) == ["protocol.early-talker"]


def test_bare_lf_is_reported_because_the_server_saw_the_bytes() -> None:
    s = one(PF, smtpd(14, "connect from unknown[192.0.2.44]",
                      "bare <LF> received after DATA from unknown[192.0.2.44]",
                      "disconnect from unknown[192.0.2.44] ehlo=1 mail=1 rcpt=1 data=0/1 "
                      "commands=3/4"))
    assert ids(s) == ["data.bare-lf"] and "after DATA" in s.findings[0].detail
    assert "data.bare-lf" not in s.undetermined and "data.smuggling-sequence" in s.undetermined
    assert "log.lost-connection" not in ids(s)


def test_tls_established_and_tls_failures() -> None:
    ok = one(PF, smtpd(15, "Anonymous TLS connection established from julie.example.com"
                           "[10.163.89.202]: TLSv1.2 with cipher AECDH-AES256-SHA (256/256 bits)"))
    assert ok.tls and ok.tls_ts is not None
    bad = one(PF, """
Apr 14 19:24:31 straylight postfix/smtpd[4787]: connect from unknown[192.168.251.4]
Apr 14 19:24:31 straylight postfix/smtpd[4787]: SSL_accept error from unknown[192.168.251.4]: -1
Apr 14 19:24:31 straylight postfix/smtpd[4787]: warning: TLS library problem: error:1417D18C:SSL routines:tls_process_client_hello:version too low:../ssl/statem/statem_srvr.c:974:
Apr 14 19:24:31 straylight postfix/smtpd[4787]: lost connection after STARTTLS from unknown[192.168.251.4]
Apr 14 19:24:31 straylight postfix/smtpd[4787]: disconnect from unknown[192.168.251.4] ehlo=1 starttls=0/1 commands=1/2
""")  # noqa: E501
    assert ids(bad) == ["log.tls-failed", "log.tls-failed", "log.lost-connection"]
    assert "version too low" in bad.findings[1].detail
    assert not bad.tls and bad.helo_verb == "EHLO"  # starttls=0/1: it never came up


def test_postscreen_sessions_by_address_and_port() -> None:
    found = sessions(PF, """
2024-05-01T10:00:00.123456+02:00 mx postfix-in/postscreen[100]: CONNECT from [216.81.72.72]:43421 to [89.105.204.244]:25
2024-05-01T10:00:01+02:00 mx postfix-in/postscreen[100]: CONNECT from [88.208.233.4]:42606 to [89.105.204.244]:25
2024-05-01T10:00:02+02:00 mx postfix-in/postscreen[100]: PREGREET 6 after 1.2 from [216.81.72.72]:43421: RSET\\r\\n
2024-05-01T10:00:03+02:00 mx postfix-in/postscreen[100]: COMMAND PIPELINING from [88.208.233.4]:42606 after .: \\n
2024-05-01T10:00:03+02:00 mx postfix-in/postscreen[100]: BARE NEWLINE from [88.208.233.4]:42606 after .
2024-05-01T10:00:04+02:00 mx postfix-in/postscreen[100]: DISCONNECT [216.81.72.72]:43421
2024-05-01T10:00:05+02:00 mx postfix-in/postscreen[100]: DISCONNECT [88.208.233.4]:42606
""")  # noqa: E501
    assert [(s.client, s.server) for s in found] == [
        (Endpoint("216.81.72.72", 43421), Endpoint("89.105.204.244", 25)),
        (Endpoint("88.208.233.4", 42606), Endpoint("89.105.204.244", 25))]
    assert ids(found[0]) == ["protocol.early-talker"]
    assert "6 bytes 1.2 s after connecting" in found[0].findings[0].detail
    assert ids(found[1]) == ["protocol.pipelining-violation", "data.bare-lf"]
    assert found[0].ts_start == datetime.fromisoformat("2024-05-01T10:00:00.123456+02:00"
                                                       ).timestamp()


def test_instance_names_and_pid_reuse() -> None:
    found = sessions(PF, """
May  5 00:21:30 mail postfix/submission/smtpd[7]: connect from unknown[192.0.2.1]
May  5 00:21:31 mail postfix-out/smtpd[7]: connect from unknown[192.0.2.2]
May  5 00:21:32 mail postfix/submission/smtpd[7]: connect from unknown[192.0.2.3]
May  5 00:21:33 mail postfix-out/smtpd[7]: disconnect from unknown[192.0.2.2]
""")
    assert [(s.client.host if s.client else "", s.close_reason) for s in found] == [
        ("192.0.2.1", "reopened"), ("192.0.2.2", "disconnect"), ("192.0.2.3", "eof")]


def test_syslog_year_is_current_unless_that_is_the_future() -> None:
    now = datetime(2025, 1, 2, 8, 0, 0)
    assert datetime.fromtimestamp(syslog_time("Dec", "31", "23:59:59", now) or 0).year == 2024
    assert datetime.fromtimestamp(syslog_time("Jan", "2", "07:00:00", now) or 0).year == 2025
    assert datetime.fromtimestamp(syslog_time("Feb", "29", "10:00:00", now) or 0).year == 2024
    assert syslog_time("Feb", "30", "10:00:00", now) is None


def test_broken_postfix_lines_are_notices_other_programs_are_ignored() -> None:
    found = items(PF, """
May  4 21:17:42 mail postfix/smtpd
May  4 21:17:43 mail postfix/smtpd[22669]: connect from nowhere
May  4 21:18:45 mail dovecot: pop3-login: Login: user=<mail@host.com>, method=PLAIN, rip=41.142.104.219, lip=45.254.93.23, mpid=22665, session=<qJCB3WdrcAApjmjb>
May  4 21:20:15 mail postfix/smtpd[22669]: warning: dict_nis_init: NIS domain name not set - NIS lookups disabled
""")  # noqa: E501
    assert [(type(i).__name__, getattr(i, "location", "")) for i in found] == [
        ("Notice", "line 1"), ("Notice", "line 2")]
    assert all(isinstance(i, Notice) and i.code == "input.unparsed-line" for i in found)
    (bad_time,) = items(EX, "2024-05-01 10:0 H=(x) [192.0.2.1] rejected RCPT <a@b>: no")
    assert isinstance(bad_time, Notice) and bad_time.location == "line 1"


# ---------------------------------------------------------------------- Exim
def test_exim_port_465_session_with_auth_and_message() -> None:
    s = one(EX, """
2013-05-11 18:52:27 [6418] SMTP connection from [127.0.0.1]:55900 I=[127.0.0.1]:465 (TCP/IP connection count = 1)
2013-05-11 18:52:27 [7034] 1UbC5z-0001pS-6Z <= testuser@test.com H=(test.com) [127.0.0.1]:55900 I=[127.0.0.1]:465 P=esmtpsa X=TLS1.0:DHE_RSA_CAMELLIA_256_CBC_SHA1:256 CV=no SNI="test.com" A=plain_saslauthd_server:testuser S=633 id=518E693B.506@test.com from <testuser@test.com> for testuser@test.com
2013-05-11 18:52:27 [7034] SMTP connection from (test.com) [127.0.0.1]:55900 I=[127.0.0.1]:465 closed by QUIT
2013-05-11 18:52:27 [7036] 1UbC5z-0001pS-6Z => testuser <testuser@test.com> F=<testuser@test.com> P=<testuser@test.com> R=local_user T=mail_spool S=787 QT=0s DT=0s
""")  # noqa: E501
    assert (s.origin, s.partial, s.exact_bytes) == ("exim-mainlog", True, False)
    assert s.client == Endpoint("127.0.0.1", 55900) and s.server == Endpoint("127.0.0.1", 465)
    assert (s.helo_verb, s.helo, s.tls, s.implicit_tls, s.quit) == (
        "EHLO", "test.com", True, True, True)
    assert [(a.mechanism, a.outcome, a.user) for a in s.auth] == [
        ("PLAIN", "success", "testuser")]
    (t,) = s.transactions
    assert t.mail_from == "testuser@test.com"
    assert [r.address for r in t.recipients] == ["testuser@test.com"]
    assert t.message is not None and t.message.wire_size == 633
    assert t.last_reply == "250 OK id=1UbC5z-0001pS-6Z"


def test_exim_no_mail_line_after_quit_joins_its_session() -> None:
    s = one(EX, """
2016-02-03 06:59:49 [31388] SMTP connection from [46.235.226.171]:57365 I=[127.0.0.1]:25 (TCP/IP connection count = 1)
2016-02-03 06:59:49 [16392] SMTP connection from null.ukcod.org.uk (null) [46.235.226.171]:57365 I=[127.0.0.1]:25 closed by QUIT
2016-02-03 06:59:49 [16392] no MAIL in SMTP connection from null.ukcod.org.uk (null) [46.235.226.171]:57365 I=[127.0.0.1]:25 D=0s C=HELO,QUIT
""")  # noqa: E501
    assert (s.helo_verb, s.helo, s.quit, s.transactions) == ("HELO", "null", True, [])


def test_exim_rejected_rcpt_then_lost_connection() -> None:
    s = one(EX, """
2010-03-21 16:28:51 H=(ZTZUWWCRQY) [218.108.42.254] F=<pansiesyd75@setupper.com> rejected RCPT <inline@trout.me.uk>: rejected because 218.108.42.254 is in a black list at zen.spamhaus.org
2010-03-21 16:28:51 unexpected disconnection while reading SMTP command from (ZTZUWWCRQY) [218.108.42.254] (error: Connection reset by peer)
""")  # noqa: E501
    assert ids(s) == ["log.rejected", "log.lost-connection"]
    assert detail(s, "log.rejected") == (
        "RCPT <inline@trout.me.uk> rejected: rejected because 218.108.42.254 is in a black "
        "list at zen.spamhaus.org (F=<pansiesyd75@setupper.com>)")
    assert "Connection reset by peer" in detail(s, "log.lost-connection")
    (t,) = s.transactions
    assert (t.mail_from, t.recipients[0].address) == ("pansiesyd75@setupper.com",
                                                      "inline@trout.me.uk")


def test_exim_authenticator_failures() -> None:
    s = one(EX, "\n".join(
        f"2014-08-27 12:3{m} {name}_saslauthd_server authenticator failed for "
        "85-170-90-200.rev.numericable.fr ([192.168.0.14]) [85.170.90.200]: 435 Unable to "
        "authenticate at present (set_id=david.myers@myHostname.com): cannot connect to "
        "saslauthd daemon at /var/run/saslauthd/mux: Permission denied"
        for m, name in (("7:47", "login"), ("8:12", "plain"), ("8:12", "login"))))
    assert [(a.mechanism, a.reply_code, a.user) for a in s.auth] == [
        ("LOGIN", 435, "david.myers@myHostname.com"), ("PLAIN", 435,
                                                       "david.myers@myHostname.com"),
        ("LOGIN", 435, "david.myers@myHostname.com")]
    # 435: saslauthd was unreachable, a server fault (issue 13), not failed passwords
    assert ids(s) == ["log.sasl-backend-fault"] * 3
    assert {a.outcome for a in s.auth} == {"unknown"}
    refused = one(EX, "1999-03-02 09:44:33 H=(foobar) [127.0.0.1] rejected AUTH plain: "
                      "STARTTLS required before AUTH")
    assert detail(refused, "auth.failed") == "AUTH PLAIN rejected: STARTTLS required before AUTH"
    assert (mechanism("dovecot_login"), mechanism("cram_md5"), mechanism("spa")) == (
        "LOGIN", "CRAM-MD5", "NTLM")


def test_exim_synchronization_errors_and_tls() -> None:
    early, pipe, tls = sessions(EX, """
2019-10-20 11:14:38 SMTP protocol synchronization error (input sent without waiting for greeting): rejected connection from H=[134.234.45.34] input="GET / HTTP/1.1\\r\\n"
2024-05-01 10:00:00 SMTP protocol synchronization error (next input sent too soon: pipelining was not advertised): rejected "EHLO client.example" H=(client.example) [192.0.2.8]:40122 next input="MAIL FROM:<a@client.example>\\r\\n"
2024-05-01 10:00:01 TLS error on connection from (matrix.lan) [192.168.2.9] (gnutls_handshake): Decryption has failed.
""")  # noqa: E501
    assert ids(early) == ["protocol.early-talker"] and "GET / HTTP/1.1" in early.findings[0].detail
    assert early.close_reason == "rejected"
    assert ids(pipe) == ["protocol.pipelining-not-advertised"]
    assert 'after "EHLO client.example"' in pipe.findings[0].detail
    assert ids(tls) == ["log.tls-failed"] and "Decryption has failed" in tls.findings[0].detail


def test_exim_subject_cannot_fake_fields() -> None:
    s = one(EX, '2026-01-01 10:00:00 1abc23-000456-AB <= sender@example.com H=mail.example '
                '[203.0.113.5]:2525 P=esmtp S=100 T="Invoice A=evil:root X=TLS1.3" '
                "for a@example.org")
    assert s.auth == [] and not s.tls and s.helo == "mail.example"
    assert [r.address for r in s.transactions[0].recipients] == ["a@example.org"]


# ---------------------------------------------------------------------- detection
def test_samples_are_detected() -> None:
    assert detect_text_format(str(POSTFIX_SAMPLE)).name == "postfix-log"
    assert detect_text_format(str(EXIM_SAMPLE)).name == "exim-mainlog"


def test_real_snippets_score_high_and_transcripts_are_not_claimed() -> None:
    assert PF.sniff([SASL_FAIL]) >= 90
    assert EX.sniff(["2010-03-21 16:15:30 1NtNoI-000658-6V Completed"]) >= 90
    debug = [t for _, t in itertools.islice(read_lines(str(SAMPLES / "postfix-debug.log")), 400)]
    assert PF.sniff(debug) <= 10
    assert detect_text_format(str(SAMPLES / "postfix-debug.log")).name == "postfix-debug"
    transcript = ["Nov 28 11:51:52 mx postfix/smtpd[9826]: connect from unknown[127.0.0.1]",
                  "Nov 28 11:51:52 mx postfix/smtpd[9826]: < unknown[127.0.0.1]: ehlo x"]
    assert PF.sniff(transcript) <= 10
    exim_debug = [t for _, t in itertools.islice(
        read_lines(str(SAMPLES / "exim-debug-relay.log")), 400)]
    assert EX.sniff(exim_debug) < 30 and PF.sniff(exim_debug) < 30
    assert EX.sniff([SASL_FAIL]) == 0 and PF.sniff(debug[:0]) == 0


# ---------------------------------------------------------------------- whole pipeline
def test_analyze_file_postfix_sample() -> None:
    found = list(analyze_file(str(POSTFIX_SAMPLE)))
    assert len(found) == 26 and all(s.partial and s.origin == "postfix-log" for s in found)
    seen = {f.id for s in found for f in s.findings}
    assert seen == {"auth.failed", "auth.repeated-failures", "log.lost-connection",
                    "log.tls-failed", "log.rejected", "protocol.pipelining-violation",
                    "protocol.early-talker", "data.bare-lf", "protocol.unknown-command"}
    assert sum(len(s.transactions) for s in found) == 7


def test_analyze_file_exim_sample() -> None:
    found = list(analyze_file(str(EXIM_SAMPLE)))
    assert len(found) == 15 and all(s.origin == "exim-mainlog" for s in found)
    seen = {f.id for s in found for f in s.findings}
    assert seen == {"auth.failed", "auth.repeated-failures", "log.sasl-backend-fault",
                    "log.lost-connection",
                    "log.tls-failed", "log.rejected", "protocol.early-talker",
                    "protocol.pipelining-not-advertised"}


@pytest.mark.parametrize("sample", [POSTFIX_SAMPLE, EXIM_SAMPLE])
def test_cli_analyze(sample: Path) -> None:
    result = CliRunner().invoke(app, ["analyze", str(sample)])
    assert result.exit_code == 1, result.output  # an error-severity finding
    assert "auth.repeated-failures" in result.output and "Traceback" not in result.output
    assert ("postfix-log" if "postfix" in sample.name else "exim-mainlog") in result.output


# ---------------------------------------------------------------------- streaming, robustness
def _many(count: int, consumed: list[int]) -> Iterator[tuple[int, str]]:
    for n in range(count):
        client = f"unknown[10.0.{n // 250}.{n % 250}]"
        for text in (f"connect from {client}",
                     f"warning: {client}: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
                     f"disconnect from {client}"):
            consumed[0] += 1
            yield consumed[0], f"May  5 00:10:00 mail postfix/smtpd[{1000 + n % 50}]: {text}"


def test_sessions_stream_as_they_end() -> None:
    consumed = [0]
    stream = PF.parse(_many(5000, consumed), "big.log")
    first = next(stream)
    assert isinstance(first, Summary) and consumed[0] == 3
    assert sum(1 for _ in stream) == 4999 and consumed[0] == 15000


LINE_PIECES = [
    "May  4 21:17:42 mail postfix/smtpd[22653]: ",
    "2024-05-01T10:00:00+00:00 mx postfix/postscreen[1]: ",
    "2016-02-03 06:58:56 [16211] ", "1aQrOx-0004DT-PC ", "connect from ", "disconnect from ",
    "unknown[181.214.206.133]", "[127.0.0.1]:41019", "H=(x) [1.2.3.4] ", "<= a@b ",
    "SASL LOGIN authentication failed: ", "UGFzc3dvcmQ6", ", sasl_username=", "reject: ",
    "NOQUEUE: reject: RCPT from ", ": 554 5.7.1 ", "; from=<a> to=<b>", "lost connection after ",
    "DATA (0 bytes) from ", "PREGREET 6 after 1.2 from ", "authenticator failed for ",
    "SMTP connection from ", " closed by QUIT", "rejected RCPT <x>: ", "S=12 ", "A=x:y ",
    "improper command pipelining after ", "SMTP protocol synchronization error (", "\x00", "]",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=80),
                          st.lists(st.sampled_from(LINE_PIECES), max_size=8).map("".join)),
                max_size=20))
def test_random_lines_never_raise(lines: list[str]) -> None:
    numbered = list(enumerate(lines, 1))
    for fmt in (PF, EX):
        assert fmt.sniff(lines) in range(0, 101)
        for item in fmt.parse(numbered, "random.log"):
            assert isinstance(item, Summary | Notice)
