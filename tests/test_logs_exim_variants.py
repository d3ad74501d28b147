"""Exim main log variants (smtplens issue 13): Exim 4.96 logging to syslog (a real run:
samples/make_exim_syslog_samples.sh, samples/exim-syslog.log), AUTH where it was not
advertised, too many protocol errors, DROP in an ACL, sender verification, a SASL
back-end that does not answer, and pid/port reuse (never a negative duration)."""

from __future__ import annotations

from smtplens.analysis import analyze_file, analyze_stream
from smtplens.model import Session
from smtplens.report import session_dict
from smtplens.sources import detect_text_format
from smtplens.sources.logs.exim_summary import EximMainlog
from smtplens.stream import Endpoint
from tests.helpers import SAMPLES

SAMPLE = SAMPLES / "exim-syslog.log"
EX = EximMainlog()


def ids(s: Session) -> list[str]:
    return [f.id for f in s.findings]


def detail(s: Session, finding_id: str) -> str:
    return next(f.detail for f in s.findings if f.id == finding_id)


def inline(text: str) -> list[Session]:
    return list(analyze_stream(EX.parse(enumerate(text.strip("\n").splitlines(), 1), "inline")))


def test_syslog_sample_is_read_as_the_mainlog() -> None:
    fmt = detect_text_format(str(SAMPLE))
    assert fmt is not None and fmt.name == "exim-mainlog"
    sessions = list(analyze_file(str(SAMPLE)))
    assert len(sessions) == 5
    auth, not_advertised = sessions[:2]
    # the client's address and port, and the interface it reached (I=)
    assert auth.client == Endpoint("127.0.0.2", 54985)
    assert auth.server is not None and auth.server.port == 2760
    assert [(a.mechanism, a.outcome) for a in auth.auth] == [
        ("PLAIN", "failure"), ("LOGIN", "failure"), ("PLAIN", "success")]
    assert ids(auth).count("auth.failed") == 2 and auth.quit
    assert auth.tls is False  # the message line has no X= (no TLS cipher)
    assert not_advertised.tls is None  # nothing in its lines says


def test_auth_not_advertised_decodes_the_user_never_the_password() -> None:
    s = list(analyze_file(str(SAMPLE)))[1]
    assert ids(s) == ["auth.not-advertised"]
    assert detail(s, "auth.not-advertised") == (
        "AUTH PLAIN refused: AUTH command used when not advertised (user "
        "'alice@example.test')")
    assert s.auth[0].user == "alice@example.test"
    assert "s3cret" not in str(session_dict(s))


def test_too_many_errors_drop_and_sender_verify() -> None:
    _, _, errors, verify, drop = list(analyze_file(str(SAMPLE)))
    assert ids(errors) == ["protocol.unknown-command", "protocol.unknown-command",
                           "log.too-many-errors"]
    assert errors.close_reason.startswith("dropped: too many syntax or protocol errors")
    assert errors.helo_verb == "EHLO"  # from C=EHLO,MAIL
    assert detail(verify, "log.rejected") == ("sender verification failed for "
                                              "<nosuch@example.test>: Unknown user")
    assert ids(drop) == ["log.rejected", "log.rejected"]
    assert drop.close_reason == "DROP in ACL"


def test_rfc3339_syslog_prefix_and_no_exim_time() -> None:
    # rsyslog's RSYSLOG_FileFormat, and syslog_timestamp = false (written from Exim's
    # documented layout: the syslog line then carries no time of Exim's own)
    one, two = inline("""
2024-05-01T10:00:00.123456+00:00 mx exim[4242]: 2024-05-01 10:00:00 login authenticator failed for (c) [192.0.2.1]:4000 I=[192.0.2.2]:587: 535 Incorrect authentication data (set_id=bob)
2024-05-01T10:00:01+00:00 mx exim[4242]: 2024-05-01 10:00:01 SMTP connection from (c) [192.0.2.1]:4000 I=[192.0.2.2]:587 closed by QUIT
May  1 10:05:00 mx exim[4300]: login authenticator failed for (c) [192.0.2.9]:4100 I=[192.0.2.2]:587: 535 Incorrect authentication data (set_id=carol)
May  1 10:05:01 mx exim[4300]: [1\\2] SMTP connection from (c) [192.0.2.9]:4100 I=[192.0.2.2]:587 closed by QUIT
May  1 10:05:01 mx exim[4300]: [2/2]  continued text
""")  # noqa: E501
    assert one.auth[0].user == "bob" and one.server is not None and one.server.port == 587
    assert one.quit and one.duration == 1.0
    assert two.auth[0].user == "carol" and two.quit
    assert two.ts_start is not None and two.duration == 1.0


def test_deferred_authenticator_is_a_backend_fault() -> None:
    (s,) = inline("""
2014-08-27 12:37:47 login_saslauthd_server authenticator failed for (h) [85.170.90.200]:5000: 435 Unable to authenticate at present (set_id=david): cannot connect to saslauthd daemon at /var/run/saslauthd/mux: Permission denied
""")  # noqa: E501
    assert ids(s) == ["log.sasl-backend-fault"]
    assert "cannot connect to saslauthd" in detail(s, "log.sasl-backend-fault")
    assert s.auth[0].outcome == "unknown"


def test_port_reuse_out_of_order_never_negative() -> None:
    sessions = inline("""
2024-05-02 10:00:00 H=(c) [192.0.2.1]:4000 F=<a@b.test> rejected RCPT <x@y.test>: no
2024-05-01 09:00:00 H=(c) [192.0.2.1]:4000 F=<a@b.test> rejected RCPT <x@y.test>: no
2024-05-01 09:00:01 SMTP connection from (c) [192.0.2.1]:4000 closed by QUIT
""")
    assert len(sessions) == 2
    assert all(s.duration is not None and s.duration >= 0 for s in sessions)
