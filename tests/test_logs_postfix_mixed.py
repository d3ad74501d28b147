"""Postfix maillogs where debug_peer_list covers some peers (smtplens issue 13).

samples/postfix-mixed.log is a real Postfix 3.7.11 run (samples/make_postfix_mixed_samples.sh):
clients on 127.0.0.2 are debugged (transcript lines), clients on 127.0.0.1 are not (summary
lines only), on smtpd, smtps, an smtpd whose saslauthd back-end is down and one with anvil
rate limits; samples/postscreen.log is its postscreen. Also: lines that raised nothing
before, "TLS unknown", pid reuse, and memory that holds only open connections.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from rich.console import Console

from smtplens import report
from smtplens.analysis import analyze_file, analyze_stream
from smtplens.audit.observe import observe
from smtplens.cli.text import print_session
from smtplens.errors import SmtplensError
from smtplens.model import Session
from smtplens.sources import detect_text_format
from smtplens.sources.logs._interleaved import LogSessions
from smtplens.sources.logs._postfix_mixed import Merger
from smtplens.sources.logs.postfix import PostfixDebugLog
from smtplens.sources.logs.postfix_summary import PostfixSummaryLog
from tests.helpers import CORPUS, SAMPLES

MIXED = SAMPLES / "postfix-mixed.log"
SCREEN = SAMPLES / "postscreen.log"
DEBUG, SUMMARY = PostfixDebugLog(), PostfixSummaryLog()


def ids(s: Session) -> list[str]:
    return [f.id for f in s.findings]


def detail(s: Session, finding_id: str) -> str:
    return next(f.detail for f in s.findings if f.id == finding_id)


@pytest.fixture(scope="module")
def mixed() -> list[Session]:
    return list(analyze_file(str(MIXED)))


def inline(text: str, fmt: PostfixDebugLog | PostfixSummaryLog = SUMMARY) -> list[Session]:
    lines = enumerate(text.strip("\n").splitlines(), 1)
    return list(analyze_stream(fmt.parse(lines, "inline")))


def debugged(sessions: list[Session]) -> list[Session]:
    return [s for s in sessions if s.origin == "postfix-debug"]


def summarised(sessions: list[Session]) -> list[Session]:
    return [s for s in sessions if s.origin == "postfix-log"]


# ---------------------------------------------------------------- one stream, two kinds
def test_mixed_log_is_the_debug_format_and_keeps_every_peer(mixed: list[Session]) -> None:
    fmt = detect_text_format(str(MIXED))
    assert fmt is not None and fmt.name == "postfix-debug"
    # 6 debugged connections through the engine, 12 others from their summary lines
    assert len(debugged(mixed)) == 6 and len(summarised(mixed)) == 12
    assert {s.client.host for s in debugged(mixed) if s.client} == {"127.0.0.2"}
    assert {s.client.host for s in summarised(mixed) if s.client} == {"127.0.0.1"}
    # a peer outside debug_peer_list no longer gives an empty transcript session
    assert all(s.exchanges for s in debugged(mixed))
    assert all(s.partial and not s.exchanges for s in summarised(mixed))


def test_debug_sessions_gain_what_only_the_summary_says(mixed: list[Session]) -> None:
    auth_fail, relay, errors, cut = debugged(mixed)[1:5]
    assert [a.outcome for a in auth_fail.auth] == ["failure"] * 3
    assert "Postfix closed the session: too many errors after AUTH" in detail(
        auth_fail, "log.too-many-errors")
    assert ids(relay).count("log.rejected") == 1
    assert "Relay access denied" in detail(relay, "log.rejected")
    assert ids(errors).count("log.rejected") == 3
    assert "after RCPT" in detail(errors, "log.too-many-errors")
    # cut inside DATA: a lost connection, not "waiting for replies to ."
    assert detail(cut, "log.lost-connection").startswith(
        "Postfix lost the connection after DATA (41 bytes received); the message of queue "
        "id ")
    assert "protocol.no-reply" not in ids(cut)
    (t,) = cut.transactions
    assert t.message is not None and t.message.end == "closed" and not t.message.complete


def test_completed_debug_message_still_ends_with_its_reply(mixed: list[Session]) -> None:
    first = debugged(mixed)[0]
    (t,) = first.transactions
    assert t.message is not None and t.message.reply_code == 250
    assert "queued as" in t.message.reply_text
    assert first.user == "alice@example.test" and "protocol.no-reply" not in ids(first)


def test_summary_sessions_of_undebugged_peers(mixed: list[Session]) -> None:
    ok, fails, relay, errors, cut, starttls, smtps, backend = summarised(mixed)[:8]
    assert [(a.mechanism, a.outcome, a.user) for a in ok.auth] == [
        ("PLAIN", "success", "alice@example.test")]
    assert ok.transactions[0].message is not None and ok.quit
    assert ids(fails).count("auth.failed") == 3 and "auth.repeated-failures" in ids(fails)
    assert "log.too-many-errors" in ids(fails)
    assert "log.rejected" in ids(relay)
    assert ids(errors).count("log.rejected") == 3 and "log.too-many-errors" in ids(errors)
    assert detail(cut, "log.lost-connection").startswith(
        "Postfix lost the connection after DATA (41 bytes received); the message of queue "
        "id ")
    assert starttls.tls is True
    assert (smtps.tls, smtps.implicit_tls) == (True, True)
    assert all(a.encrypted for a in smtps.auth) and "auth.cleartext" not in ids(smtps)
    assert backend.auth and all(a.outcome == "unknown" for a in backend.auth)


def test_sasl_backend_fault_is_not_a_client_failure(mixed: list[Session]) -> None:
    backend = summarised(mixed)[7]
    assert ids(backend) == ["log.sasl-backend-fault", "log.sasl-backend-fault"]
    assert "generic failure" in detail(backend, "log.sasl-backend-fault")
    assert "auth.failed" not in ids(backend) and "auth.repeated-failures" not in ids(backend)
    assert all(a.outcome != "failure" for a in observe(backend).auth)


def test_connection_lost_to_auth_server_is_a_backend_fault() -> None:
    (s,) = inline("""
Nov 28 11:51:52 mx postfix/submission/smtpd[9826]: connect from unknown[192.0.2.7]
Nov 28 11:51:53 mx postfix/submission/smtpd[9826]: warning: unknown[192.0.2.7]: SASL LOGIN authentication failed: Connection lost to authentication server
Nov 28 11:51:53 mx postfix/submission/smtpd[9826]: warning: unknown[192.0.2.7]: SASL LOGIN authentication failed: Connection lost to authentication server
Nov 28 11:51:54 mx postfix/submission/smtpd[9826]: warning: unknown[192.0.2.7]: SASL LOGIN authentication failed: Connection lost to authentication server
Nov 28 11:51:55 mx postfix/submission/smtpd[9826]: disconnect from unknown[192.0.2.7] ehlo=1 auth=0/3 quit=1 commands=2/5
""")  # noqa: E501
    assert ids(s) == ["log.sasl-backend-fault"] * 3
    assert [a.outcome for a in s.auth] == ["unknown"] * 3  # auth=0/3: no extra failures


def test_rate_limits(mixed: list[Session]) -> None:
    limited = [s for s in summarised(mixed) if "log.rate-limited" in ids(s)]
    details = [f.detail for s in limited for f in s.findings if f.id == "log.rate-limited"]
    assert len(limited) == 4
    assert details[0] == ("Message delivery request rate limit exceeded: 2 for service "
                          "127.0.0.1:2754 (anvil)")
    assert details[-1].startswith("Connection rate limit exceeded: 4")


def test_postscreen_sample() -> None:
    fmt = detect_text_format(str(SCREEN))
    assert fmt is not None and fmt.name == "postfix-log"
    pregreet, hangup, pipelining = list(analyze_file(str(SCREEN)))
    assert [f.id for f in pregreet.findings] == ["protocol.early-talker",
                                                  "protocol.pipelining-violation",
                                                  "log.rejected", "log.lost-connection"]
    assert "25 bytes" in detail(pregreet, "protocol.early-talker")
    assert "550 5.5.1" in detail(pregreet, "log.rejected")
    assert ids(hangup) == ["log.lost-connection"]
    assert ids(pipelining) == ["protocol.pipelining-violation"]


def test_postscreen_dnsbl_reject_and_pass() -> None:
    # written from postscreen(8)'s documented lines: no DNSBL answers here
    sessions = inline("""
Nov 28 11:51:52 mx postfix/postscreen[101]: CONNECT from [192.0.2.9]:40000 to [192.0.2.1]:25
Nov 28 11:51:52 mx postfix/postscreen[101]: DNSBL rank 3 for [192.0.2.9]:40000
Nov 28 11:51:53 mx postfix/postscreen[101]: NOQUEUE: reject: RCPT from [192.0.2.9]:40000: 550 5.7.1 Service unavailable; client [192.0.2.9] blocked using zen.spamhaus.org; from=<a@b.test>, to=<c@d.test>, proto=ESMTP, helo=<x>
Nov 28 11:51:53 mx postfix/postscreen[101]: DISCONNECT [192.0.2.9]:40000
Nov 28 11:51:54 mx postfix/postscreen[101]: CONNECT from [192.0.2.10]:40001 to [192.0.2.1]:25
Nov 28 11:51:55 mx postfix/postscreen[101]: PASS NEW [192.0.2.10]:40001
""")  # noqa: E501
    blocked, passed = sessions
    assert "zen.spamhaus.org" in detail(blocked, "log.rejected")
    assert blocked.close_reason == "disconnect" and passed.findings == []


# ---------------------------------------------------------------- lines that said nothing
def test_disconnect_counter_records_an_unlogged_auth_failure() -> None:
    (s,) = inline("""
Nov 28 11:51:52 mx postfix/smtpd[9826]: connect from unknown[192.0.2.7]
Nov 28 11:51:53 mx postfix/smtpd[9826]: disconnect from unknown[192.0.2.7] ehlo=1 auth=0/1 quit=1 commands=2/3
""")  # noqa: E501
    assert [(a.mechanism, a.outcome) for a in s.auth] == [("?", "failure")]
    assert "auth= counter" in detail(s, "auth.failed")
    assert s.tls is False  # the counters list STARTTLS when it was used


# ---------------------------------------------------------------- TLS unknown
def test_tls_is_unknown_when_the_log_does_not_say() -> None:
    (s,) = inline("""
Nov 28 11:51:52 mx postfix/smtpd[9826]: connect from unknown[192.0.2.7]
Nov 28 11:51:53 mx postfix/smtpd[9826]: warning: unknown[192.0.2.7]: SASL LOGIN authentication failed: UGFzc3dvcmQ6
""")  # noqa: E501
    assert s.tls is None and s.auth[0].encrypted is None
    assert "auth.cleartext" not in ids(s)
    console = Console(record=True, width=200)
    print_session(console, s, reveal=False)
    shown = console.export_text()
    assert "TLS unknown" in shown and "no TLS" not in shown
    assert report.session_dict(s)["tls"] is None


def test_smtps_service_is_implicit_tls() -> None:
    (s,) = inline("""
Nov 28 11:51:52 mx postfix/smtps/smtpd[77]: connect from unknown[192.0.2.7]
Nov 28 11:51:53 mx postfix/smtps/smtpd[77]: warning: unknown[192.0.2.7]: SASL PLAIN authentication failed: authentication failure
""")  # noqa: E501
    assert (s.tls, s.implicit_tls, s.auth[0].encrypted) == (True, True, True)


# ---------------------------------------------------------------- pid reuse
def test_pid_reused_out_of_order_gives_new_sessions_never_negative() -> None:
    sessions = inline("""
Nov 29 10:00:00 mx postfix/smtpd[500]: connect from unknown[192.0.2.7]
Nov 29 10:00:05 mx postfix/smtpd[500]: warning: unknown[192.0.2.7]: SASL LOGIN authentication failed: UGFzc3dvcmQ6
Nov 28 09:00:00 mx postfix/smtpd[500]: warning: unknown[192.0.2.7]: SASL LOGIN authentication failed: UGFzc3dvcmQ6
Nov 28 09:00:01 mx postfix/smtpd[500]: disconnect from unknown[192.0.2.7] ehlo=1 auth=0/1 commands=1/2
Nov 28 09:00:02 mx postfix/smtpd[500]: lost connection after AUTH from unknown[192.0.2.7]
Nov 30 09:00:02 mx postfix/smtpd[500]: lost connection after AUTH from unknown[192.0.2.7]
""")  # noqa: E501
    assert len(sessions) == 4
    assert sessions[0].close_reason == "pid reused"
    assert all(s.duration is not None and s.duration >= 0 for s in sessions)


def _text_files() -> list[Path]:
    found = [p for p in SAMPLES.iterdir() if p.suffix in (".log", ".txt")]
    logs = CORPUS / "logs"
    if logs.is_dir():
        found += [p for p in sorted(logs.rglob("*")) if p.is_file()
                  and p.stat().st_size < 2_000_000][:400]
    return found


def test_no_negative_durations_in_any_sample_or_corpus_log() -> None:
    checked = 0
    for path in _text_files():
        try:
            sessions = list(analyze_file(str(path)))
        except SmtplensError:
            continue  # not a mail log (JSON fixtures of the corpus)
        for s in sessions:
            checked += 1
            assert s.duration is None or s.duration >= 0, (path, s.id)
    assert checked > 50


# ---------------------------------------------------------------- memory
def _big_mixed_log(n: int) -> list[str]:
    lines = []
    for i in range(n):
        pid, ip = 1000 + i % 7, "127.0.0.2" if i % 2 else "127.0.0.1"
        t = datetime(2026, 11, 28, 10, 0, 0).timestamp() + i
        stamp = datetime.fromtimestamp(t).strftime("%b %d %H:%M:%S")
        head = f"{stamp} mx postfix/smtpd[{pid}]: "
        lines.append(head + f"connect from unknown[{ip}]")
        if ip == "127.0.0.2":
            lines += [head + f"> unknown[{ip}]: 220 mx ESMTP", head + f"< unknown[{ip}]: DATA",
                      head + f"> unknown[{ip}]: 354 go ahead"]
        lines.append(head + f"lost connection after DATA (10 bytes) from unknown[{ip}]")
        lines.append(head + f"disconnect from unknown[{ip}] ehlo=1 data=0/1 commands=1/2")
    return lines


def test_memory_holds_only_open_connections() -> None:
    lines = _big_mixed_log(3000)
    sessions = LogSessions("big", "postfix-debug", content_logged=False)
    merger = Merger("big", sessions)
    most = 0
    count = 0
    for _item in merger.hold(DEBUG._parse(enumerate(lines, 1), sessions, merger)):
        count += 1
        most = max(most, len(merger.merged), len(merger.held), len(sessions.open_sessions),
                   len(merger.summary.table.items()))
    assert most <= 2 and count > 3000
    assert not merger.merged and not merger.held and not sessions.open_sessions
    found = list(analyze_stream(DEBUG.parse(enumerate(lines, 1), "big")))
    assert len(found) == 3000
    assert all("log.lost-connection" in ids(s) for s in found)
