"""Ordinary server syslogs read into partial sessions: sendmail, Courier, Dovecot
submission, qmail (tcpserver/rblsmtpd), Domino, Kerio (smtplens issue 13).

The samples come from real servers in chroots (see samples/make_syslog_samples.sh),
except Domino, Kerio and the qmail-smtpd lines, written from the documented layouts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from smtplens.analysis import Problem, analyze_file
from smtplens.model import Session
from smtplens.sources import detect_text_format
from smtplens.sources.logs.dovecot import DovecotSubmissionLog
from tests.helpers import SAMPLES


def _sessions(path: Path | str, problems: list[Problem] | None = None) -> list[Session]:
    sink = problems if problems is not None else []
    return list(analyze_file(str(path), on_problem=sink.append))


def _ids(s: Session) -> set[str]:
    return {f.id for f in s.findings}


def _write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------------------- sendmail
SENDMAIL = SAMPLES / "sendmail-maillog.log"


def test_sendmail_sessions_auth_and_tls() -> None:
    sessions = _sessions(SENDMAIL)
    assert len(sessions) == 7
    assert all(s.partial and s.origin == "sendmail-log" for s in sessions)
    assert all(s.client is not None and s.client.host == "127.0.0.1" for s in sessions)
    plain, tls, failed = sessions[0], sessions[1], sessions[2]
    assert [(a.mechanism, a.outcome, a.user) for a in plain.auth] == [
        ("PLAIN", "success", "alice@mail.example.test")]
    assert plain.tls is False and plain.helo_verb == "EHLO"  # proto=ESMTPA: no TLS
    assert tls.tls is True and tls.auth[0].mechanism == "LOGIN"
    assert failed.tls is None  # no from= line, no STARTTLS line: the log cannot tell
    assert [a.outcome for a in failed.auth] == ["failure"] * 3
    assert {"auth.failed", "auth.repeated-failures"} <= _ids(failed)
    t = plain.transactions[0]
    assert t.mail_from == "alice@mail.example.test"
    assert [r.address for r in t.recipients] == ["alice@mail.example.test"]
    assert t.message is not None and t.message.wire_size == 94


def test_sendmail_reject_lost_and_timeout() -> None:
    sessions = _sessions(SENDMAIL)
    rejected = sessions[3]
    rcpts = {r.address: r.reply_code for t in rejected.transactions for r in t.recipients}
    assert rcpts["bob@blocked.example.test"] == 550
    assert "log.rejected" in _ids(rejected)
    lost = sessions[4]
    assert any(f.id == "log.lost-connection" and "after RCPT" in f.detail
               for f in lost.findings)
    assert sessions[5].close_reason == "no MAIL" and not sessions[5].findings
    timeout = sessions[6]
    assert timeout.close_reason == "timeout" and "log.lost-connection" in _ids(timeout)


def test_sendmail_refused_sender_and_unknown_user(tmp_path: Path) -> None:
    # the check_mail and from= lines come from an earlier run of the same chroot (before
    # the sender's domain resolved); the "User unknown" line follows sendmail's layout
    path = _write(tmp_path, "mail.log", [
        "Dec  2 05:42:15 vm sm-mta[3568]: NOQUEUE: connect from mail.example.test [127.0.0.1]",
        "Dec  2 05:42:15 vm sm-mta[3568]: 6B25gFK6003568: ruleset=check_mail, "
        "arg1=<alice@example.test>, relay=mail.example.test [127.0.0.1], reject=553 5.1.8 "
        "<alice@example.test>... Domain of sender address alice@example.test does not exist",
        "Dec  2 05:42:15 vm sm-mta[3568]: 6B25gFK6003568: <nobody@mail.example.test>... "
        "User unknown",
        "Dec  2 05:42:15 vm sm-mta[3568]: 6B25gFK6003568: from=<alice@example.test>, "
        "size=99, class=0, nrcpts=0, proto=ESMTPA, daemon=MTA-v4, "
        "relay=mail.example.test [127.0.0.1]"])
    (s,) = _sessions(path)
    t = s.transactions[0]
    assert (t.mail_from, t.mail_reply_code) == ("alice@example.test", 553)
    assert t.message is None  # size= without msgid= and no recipient: not received
    assert [(r.address, r.reply_code) for r in t.recipients] == [
        ("nobody@mail.example.test", 550)]
    assert [f.id for f in s.findings].count("log.rejected") == 2


def test_sendmail_reused_pid_is_a_new_session(tmp_path: Path) -> None:
    lines = SENDMAIL.read_text().splitlines()
    first = [ln for ln in lines if "sm-mta[5536]" in ln]
    again = [ln.replace("05:44:09", "06:10:00") for ln in first if "connect from" in ln]
    path = _write(tmp_path, "reuse.log", first + again)
    sessions = _sessions(path)
    assert len(sessions) == 2
    assert sessions[0].auth and not sessions[1].auth


def test_sendmail_rfc3339_times_and_garbled_lines(tmp_path: Path) -> None:
    lines = SENDMAIL.read_text().splitlines()[:3]
    iso = [ln.replace("Dec  2 05:44:09", "2026-12-02T05:44:09.051505+00:00") for ln in lines]
    path = _write(tmp_path, "iso.log", [*iso, "Dec  2 05:4 vm sm-mta[1]: garbled"])
    problems: list[Problem] = []
    sessions = _sessions(path, problems)
    assert len(sessions) == 1 and sessions[0].auth[0].user == "alice@mail.example.test"
    assert sessions[0].ts_start is not None
    assert [p.code for p in problems] == ["input.unparsed-line"]


# ---------------------------------------------------------------------------- Courier
COURIER = SAMPLES / "courier-maillog.log"
COURIER_SECRET = "AGFsaWNlAHdyb25nLXBh"  # the cut PLAIN response in the sample


def test_courier_sessions() -> None:
    sessions = _sessions(COURIER)
    assert len(sessions) == 6
    first = sessions[0]
    assert first.client is not None and (first.client.host, first.client.port) == (
        "127.0.0.1", 34686)
    assert first.helo == "client.example.test" and first.auth[0].user == "alice"
    assert first.transactions[0].recipients[0].address == "alice@mail.example.test"
    assert first.tls is None and sessions[1].tls is True  # SSL shutdown line: TLS was on
    failed = sessions[2]
    assert [(a.mechanism, a.outcome, a.user) for a in failed.auth] == [
        ("PLAIN", "failure", "alice"), ("LOGIN", "failure", "alice"),
        ("LOGIN", "failure", "alice")]
    assert {"auth.failed", "auth.repeated-failures", "log.secret-in-log"} <= _ids(failed)
    rejected = sessions[3]
    r = rejected.transactions[0].recipients[0]
    assert (r.address, r.reply_code) == ("bob@blocked.example.test", 513)


def test_courier_credential_is_named_never_shown() -> None:
    lines = COURIER.read_text().splitlines()
    line = next(i for i, t in enumerate(lines, 1) if COURIER_SECRET in t)
    sessions = _sessions(COURIER)
    found = [f for s in sessions for f in s.findings if f.id == "log.secret-in-log"]
    assert len(found) == 1 and found[0].evidence.location == f"line {line}"
    assert all(COURIER_SECRET not in f.evidence.excerpt for s in sessions
               for f in s.findings)
    assert any(a.secrets_exposed for s in sessions for a in s.auth)
    for fmt in ("json", "text", "csv"):
        out = subprocess.run([sys.executable, "-m", "smtplens", "analyze", "--format", fmt,
                              "--fail-on", "never", "-j1", str(COURIER)],
                             capture_output=True, text=True, check=True)
        assert COURIER_SECRET not in out.stdout + out.stderr
        assert "wrong-pa" not in out.stdout + out.stderr
        if fmt == "json":
            doc = json.loads(out.stdout)
            assert any(f["id"] == "log.secret-in-log" for s in doc["sessions"]
                       for f in s["findings"])


# ---------------------------------------------------------------------------- Dovecot
DOVECOT = SAMPLES / "dovecot-submission.log"


def test_dovecot_sessions_tls_states_and_auth() -> None:
    sessions = _sessions(DOVECOT)
    assert len(sessions) == 6
    first, tls, failed = sessions[0], sessions[1], sessions[2]
    assert first.client is not None and first.server is not None
    assert first.tls is None  # "secured": loopback is trusted, TLS or not
    assert tls.tls is True and tls.auth[0].mechanism == "LOGIN"
    assert first.quit and first.transactions[0].message is not None
    assert first.transactions[0].message.wire_size == 76
    assert [(a.mechanism, a.outcome, a.user) for a in failed.auth] == [
        ("LOGIN", "failure", "alice")] * 3
    assert {"auth.failed", "auth.repeated-failures"} <= _ids(failed)
    assert any(f.id == "log.lost-connection" and "RCPT TO" in f.detail
               for f in sessions[4].findings)


def test_dovecot_plaintext_login_says_no_tls(tmp_path: Path) -> None:
    line = next(ln for ln in DOVECOT.read_text().splitlines() if "Login: " in ln)
    path = _write(tmp_path, "plain.log", [line.replace(", secured", ""),
                                          "Dec  2 05:44 vm dovecot: submission-login: x"])
    problems: list[Problem] = []
    sessions = _sessions(path, problems)
    assert [s.tls for s in sessions] == [False]
    assert [p.code for p in problems] == ["input.unparsed-line"]


def test_dovecot_auth_lines_of_imap_logins_make_no_session() -> None:
    lines = [
        "Dec  2 05:45:02 vm dovecot: auth: passwd-file(alice,127.0.0.1,<8r/mJKBh+th/AAAC>): "
        "Password mismatch",
        "Dec  2 05:45:08 vm dovecot: imap-login: Disconnected (auth failed, 1 attempts in 6 "
        "secs): user=<alice>, method=PLAIN, rip=127.0.0.1, lip=127.0.0.1, "
        "session=<8r/mJKBh+th/AAAC>"]
    items = list(DovecotSubmissionLog().parse(enumerate(lines, 1), "imap.log"))
    assert items == []


# ---------------------------------------------------------------------------- qmail
QMAIL = SAMPLES / "qmail-rblsmtpd.log"


def test_qmail_tcpserver_and_rblsmtpd() -> None:
    sessions = _sessions(QMAIL)
    assert len(sessions) == 5
    first = sessions[0]
    assert first.client is not None and first.client.port == 39595
    assert first.server is not None and first.server.port == 2703
    listed, temp = sessions[1], sessions[2]
    assert listed.client is not None and listed.client.host == "127.0.0.2"
    assert listed.greeting_code == 553 and temp.greeting_code == 451
    assert "log.rejected" in _ids(listed) and "log.rejected" in _ids(temp)
    assert sessions[3].tls is None and not sessions[3].findings
    last = sessions[4]  # the qmail-smtpd lines written from the documented layout
    assert last.auth[0].outcome == "failure" and "auth.failed" in _ids(last)
    assert last.tls is False and last.helo == "client.example.test"


def test_qmail_reused_pid_and_garbled_label(tmp_path: Path) -> None:
    lines = [ln for ln in QMAIL.read_text().splitlines() if " 7237" in ln]
    path = _write(tmp_path, "reuse.log", [*lines, *lines[:2], "@40000000zz tcpserver: end"])
    problems: list[Problem] = []
    sessions = _sessions(path, problems)
    assert len(sessions) == 2
    assert [p.code for p in problems] == ["input.unparsed-line"]


# ---------------------------------------------------------------------------- Domino, Kerio
def test_domino_console_log() -> None:
    sessions = _sessions(SAMPLES / "domino-log.txt")
    assert [s.client.host for s in sessions if s.client] == [
        "203.0.113.5", "198.51.100.7", "192.0.2.44"]
    assert len(sessions[0].messages) == 1
    assert [a.user for a in sessions[1].auth] == ["alice", "alice", "admin"]
    assert "auth.repeated-failures" in _ids(sessions[1])
    assert all(s.tls is None for s in sessions)


def test_kerio_mail_and_security_log() -> None:
    sessions = _sessions(SAMPLES / "kerio-mail.log")
    assert len(sessions) == 4  # the Service: Local line is not an SMTP session
    assert [s.tls for s in sessions] == [True, False, None, None]
    assert sessions[0].auth[0].user == "alice@example.test"
    assert sessions[0].transactions[0].message is not None
    assert sessions[0].transactions[0].message.wire_size == 1234
    assert [a.mechanism for s in sessions[2:] for a in s.auth] == ["PLAIN", "LOGIN"]


# ---------------------------------------------------------------------------- detection
@pytest.mark.parametrize(("more", "fmt"), [("sendmail", "sendmail-log"),
                                           ("dovecot", "dovecot-submission")])
def test_mixed_syslog_goes_to_the_program_with_most_lines(tmp_path: Path, more: str,
                                                         fmt: str) -> None:
    sm = [ln for ln in SENDMAIL.read_text().splitlines() if ln.strip()]
    dv = [ln for ln in DOVECOT.read_text().splitlines() if ln.strip()]
    lines = sm[:12] + dv[:4] if more == "sendmail" else sm[:3] + dv
    path = _write(tmp_path, "mixed.log", sorted(lines))
    assert detect_text_format(str(path)).name == fmt
