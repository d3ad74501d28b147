"""What the README says about each sample is what smtplens says."""

from __future__ import annotations

import pytest

from smtplens.analysis import Problem, analyze_file
from smtplens.sources import detect_text_format, is_capture
from tests.helpers import SAMPLES

EXPECTED = {  # the README's table: sample -> findings that must be reported
    "auth-login.txt": {"auth.cleartext"},
    "unstuffed-dot.txt": {"data.unstuffed-dot"},
    "premature-end.txt": {"data.premature-end", "protocol.unknown-command"},
    "missing-terminator.txt": {"data.terminator-missing", "protocol.no-quit"},
    "smuggling.txt": {"data.smuggling-sequence", "data.bare-lf"},
    "auth-login.pcap": {"auth.cleartext"},
    "smuggling.pcap": {"data.smuggling-sequence"},
    "postfix-maillog.log": {"auth.failed", "auth.repeated-failures", "log.lost-connection",
                            "data.bare-lf"},
    "exchange-receive.log": {"auth.failed"},
}
FORMATS = {
    "swaks-auth-login.log": "swaks", "postfix-debug.log": "postfix-debug",
    "exchange-receive.log": "exchange", "sendmail-x.log": "sendmail",
    "exim-debug-relay.log": "exim-debug", "exim-client.log": "exim-client",
    "smtplib-debug.log": "smtplib", "curl-verbose.log": "curl",
    "phpmailer-debug.log": "phpmailer", "postfix-maillog.log": "postfix-log",
    "exim-mainlog.log": "exim-mainlog", "auth-login.txt": "cs",
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
