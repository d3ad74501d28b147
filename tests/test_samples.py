"""What the README says about each sample is what smtplens says."""

from __future__ import annotations

import pytest

from smtplens.analysis import Problem, analyze_file
from smtplens.sources import detect_text_format, is_capture
from tests.helpers import SAMPLES

EXPECTED = {  # the README's table: sample -> findings that must be reported
    "sendmail-maillog.log": {"auth.failed", "auth.repeated-failures", "log.rejected",
                             "log.lost-connection"},
    "courier-maillog.log": {"auth.failed", "auth.repeated-failures", "log.rejected",
                            "log.secret-in-log"},
    "dovecot-submission.log": {"auth.failed", "auth.repeated-failures",
                               "log.lost-connection"},
    "qmail-rblsmtpd.log": {"log.rejected", "auth.failed"},
    "domino-log.txt": {"auth.failed", "auth.repeated-failures"},
    "kerio-mail.log": {"auth.failed"},
    "auth-login.txt": {"auth.cleartext"},
    "unstuffed-dot.txt": {"data.unstuffed-dot"},
    "premature-end.txt": {"data.premature-end", "protocol.unknown-command"},
    "premature-end-linewise.txt": {"data.premature-end", "protocol.unknown-command"},
    "syntax-deviations.txt": {"protocol.path-without-brackets", "protocol.space-after-colon",
                              "protocol.helo-without-domain", "auth.plain-empty-authcid",
                              "auth.failed"},
    "swaks-starttls.log": {"log.secret-in-log"},
    "swaks-tls-on-connect.log": {"log.secret-in-log"},
    "missing-terminator.txt": {"data.terminator-missing", "protocol.no-quit"},
    "smuggling.txt": {"data.smuggling-sequence", "data.bare-lf"},
    "auth-login.pcap": {"auth.cleartext"},
    "smuggling.pcap": {"data.smuggling-sequence"},
    "postfix-maillog.log": {"auth.failed", "auth.repeated-failures", "log.lost-connection",
                            "data.bare-lf"},
    "exchange-receive.log": {"auth.failed"},
    "msmtp-verbose.log": {"auth.cleartext", "auth.failed", "log.secret-in-log"},
    "smtp-cli-verbose.log": {"auth.failed", "log.secret-in-log"},
    "mailkit-protocol.log": {"auth.failed"},
    "phpmailer-level4.log": {"auth.failed", "log.secret-in-log"},
    "haraka-protocol.log": {"auth.failed", "log.secret-in-log"},
    "opensmtpd-trace.log": {"auth.failed", "log.secret-in-log"},
    "opensmtpd-maillog.log": {"auth.failed", "log.rejected"},
    "mdaemon-smtp.log": {"auth.failed", "auth.cleartext", "log.secret-in-log"},
    "javamail-debug.log": {"auth.failed", "auth.cleartext", "log.secret-in-log"},
    "nodemailer-debug.log": {"auth.failed", "protocol.no-quit"},
    "nodemailer-pino.log": {"auth.failed"},
    "postfix-mixed.log": {"auth.failed", "auth.repeated-failures", "log.lost-connection",
                          "log.too-many-errors", "log.rate-limited", "log.sasl-backend-fault",
                          "log.rejected", "log.secret-in-log"},
    "postscreen.log": {"protocol.early-talker", "protocol.pipelining-violation",
                       "log.rejected", "log.lost-connection"},
    "exim-syslog.log": {"auth.failed", "auth.not-advertised", "log.too-many-errors",
                        "log.rejected"},
}
FORMATS = {
    "swaks-auth-login.log": "swaks", "swaks-starttls.log": "swaks",
    "swaks-tls-on-connect.log": "swaks", "postfix-debug.log": "postfix-debug",
    "exchange-receive.log": "exchange", "sendmail-x.log": "sendmail",
    "exim-debug-relay.log": "exim-debug", "exim-client.log": "exim-client",
    "smtplib-debug.log": "smtplib", "curl-verbose.log": "curl",
    "phpmailer-debug.log": "phpmailer", "postfix-maillog.log": "postfix-log",
    "exim-mainlog.log": "exim-mainlog", "auth-login.txt": "cs",
    "postfix-mixed.log": "postfix-debug", "postscreen.log": "postfix-log",
    "exim-syslog.log": "exim-mainlog",
    "generic-smtplib-logging.log": "generic", "generic-go-smtp.log": "generic",
    "generic-telnet.log": "generic", "generic-sent-got.log": "generic",
    "generic-logcat.log": "generic",
    "msmtp-verbose.log": "msmtp", "smtp-cli-verbose.log": "smtp-cli",
    "mailkit-protocol.log": "mailkit", "phpmailer-level2.log": "phpmailer",
    "phpmailer-level4.log": "phpmailer", "phpmailer-level4-html.log": "phpmailer",
    "phpmailer-level4-errorlog.log": "phpmailer",
    "haraka-protocol.log": "haraka", "opensmtpd-trace.log": "opensmtpd-trace",
    "opensmtpd-maillog.log": "opensmtpd", "mdaemon-smtp.log": "mdaemon",
    "javamail-debug.log": "javamail", "nodemailer-debug.log": "nodemailer",
    "nodemailer-pino.log": "nodemailer",
    "sendmail-maillog.log": "sendmail-log", "courier-maillog.log": "courier",
    "dovecot-submission.log": "dovecot-submission", "qmail-rblsmtpd.log": "qmail",
    "domino-log.txt": "domino", "kerio-mail.log": "kerio",
}
ALL = sorted(p.name for p in SAMPLES.iterdir() if p.suffix in (".txt", ".log", ".pcap"))


@pytest.mark.parametrize("name", ALL)
def test_sample_is_analyzed_cleanly(name: str) -> None:
    problems: list[Problem] = []
    sessions = list(analyze_file(str(SAMPLES / name), on_problem=problems.append))
    assert sessions and not problems, problems
    found = {f.id for s in sessions for f in s.findings}
    assert EXPECTED.get(name, set()) <= found


@pytest.mark.parametrize(("name", "fmt"), sorted(FORMATS.items()))
def test_sample_format_is_detected(name: str, fmt: str) -> None:
    path = str(SAMPLES / name)
    assert not is_capture(path)
    assert detect_text_format(path).name == fmt


def test_every_log_format_has_a_sample() -> None:
    from smtplens.sources import text_formats

    assert {f.name for f in text_formats()} == set(FORMATS.values())


def test_auth_sessions_decode_the_user() -> None:
    for name, user in [("swaks-auth-login.log", None), ("smtplib-debug.log", None),
                       ("auth-login.pcap", "alice@example.test"), ("auth-login.txt", "alice")]:
        sessions = list(analyze_file(str(SAMPLES / name)))
        users = {a.user for s in sessions for a in s.auth if a.user}
        assert users, name
        if user is not None:
            assert user in users


def test_readme_lists_every_format_with_a_sample() -> None:
    from smtplens.sources import text_formats
    from tests.helpers import ROOT

    readme = (ROOT / "README.md").read_text()
    rows = {line.split("|")[1].strip().strip("`"): line for line in readme.splitlines()
            if line.startswith("| `")}
    for fmt in text_formats():
        assert fmt.name in rows, f"README's format table has no row for {fmt.name}"
    for name, fmt in FORMATS.items():
        if fmt != "cs":
            assert name in rows[fmt], f"README's {fmt} row does not name {name}"
