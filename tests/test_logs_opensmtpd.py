"""OpenSMTPD: the ``smtpd -d -T smtp`` trace and the brief mail log of one real run of
OpenSMTPD 7.6.0p1 (samples/opensmtpd-trace.log, samples/opensmtpd-maillog.log, made by
samples/make_server_samples.py), syslog-prefixed variants and garbled input."""

from __future__ import annotations

import re
from pathlib import Path

from smtplens.model import Session
from smtplens.sources import detect_text_format
from smtplens.sources.logs.opensmtpd import OpenSMTPDLog
from smtplens.sources.logs.opensmtpd_trace import OpenSMTPDTrace
from smtplens.sources.textfile import read_lines
from smtplens.stream import Data, Direction, Endpoint, Notice, StreamItem, Summary
from tests.helpers import SAMPLES, assert_well_nested, by_id, opened, render_views

TRACE = SAMPLES / "opensmtpd-trace.log"
BRIEF = SAMPLES / "opensmtpd-maillog.log"
SECRETS = ("s3cret!", "czNjcmV0IQ", "AGFsaWNlQGV4YW1wbGUudGVzdABzM2NyZXQh", "wrong-password",
           "d3JvbmctcGFzc3dvcmQ")
#: the sessions of the run in order (their ids change on each run): the port probe, AUTH
#: PLAIN and a message, AUTH LOGIN failing, a refused RCPT, a relayed message
PROBE, GOOD, BAD, REJECTED, RELAYED = re.findall(r"^([0-9a-f]{16}) smtp connected ",
                                                 BRIEF.read_text(), re.M)


def items_of(fmt: OpenSMTPDTrace | OpenSMTPDLog, path: Path) -> list[StreamItem]:
    return list(fmt.parse(read_lines(str(path)), str(path)))


def text_items(fmt: OpenSMTPDTrace | OpenSMTPDLog, text: str) -> list[StreamItem]:
    return list(fmt.parse(enumerate(text.strip("\n").splitlines(), 1), "inline"))



# -- the trace ---------------------------------------------------------------------------


def test_trace_sessions_split_by_pointer_and_named_by_session_id() -> None:
    items = items_of(OpenSMTPDTrace(), TRACE)
    assert_well_nested(items)
    starts = opened(items)
    # the same session pointer is reused once a session is freed: still five sessions
    assert [o.conn_id for o in starts] == [PROBE, GOOD, BAD, REJECTED, RELAYED]
    for o in starts:
        assert o.client == Endpoint("127.0.0.1")
        assert o.server == Endpoint("mx.example.test", 2651)
        assert o.decrypted and not o.exact_bytes
    assert not [i for i in items if isinstance(i, Notice)]


def test_trace_dialogue_auth_and_message() -> None:
    found = by_id(items_of(OpenSMTPDTrace(), TRACE))
    good = found[GOOD]
    assert good.tls and good.helo == "client.example.test"
    assert [(a.mechanism, a.user, a.outcome) for a in good.auth] == [
        ("PLAIN", "alice@example.test", "success")]
    (t,) = good.transactions
    assert [(r.address, r.reply_code) for r in t.recipients] == [("bob@example.test", 250)]
    assert t.message is not None and t.message.complete and t.message.reply_code == 250
    bad = found[BAD]
    assert [(a.mechanism, a.user, a.outcome, a.reply_code) for a in bad.auth] == [
        ("LOGIN", "alice@example.test", "failure", 535)]
    assert "auth.failed" in {f.id for f in bad.findings}
    (t,) = found[REJECTED].transactions
    assert [(r.address, r.reply_code) for r in t.recipients] == [("dave@elsewhere.invalid", 550)]


def test_trace_message_lines_go_to_their_session_dot_stuffed() -> None:
    items = items_of(OpenSMTPDTrace(), TRACE)
    sent = [i.data for i in items if isinstance(i, Data) and i.conn_id == GOOD
            and i.direction is Direction.CLIENT]
    start = sent.index(b"data\r\n") + 1
    body = sent[start:sent.index(b".\r\n", start)]
    assert body[0] == b"From: alice@example.test\r\n"
    # the trace shows the line as read: dot-stuffed (RFC 5321 §4.5.2)
    assert b"..a line that starts with a dot (dot-stuffed on the wire)\r\n" in body


def test_trace_secrets_redacted_and_exact_bytes_undetermined() -> None:
    found = list(by_id(items_of(OpenSMTPDTrace(), TRACE)).values())
    assert all("data.bare-lf" in s.undetermined for s in found)
    shown = render_views(found)
    assert not [s for s in SECRETS if s in shown]


def test_trace_with_syslog_prefix_and_garbage() -> None:
    text = "\n".join(f"Dec  2 05:47:26 mx smtpd[812]: {line}"
                     for line in TRACE.read_text().splitlines()[:12])
    items = text_items(OpenSMTPDTrace(), text + "\n\x00garbage\n<<< [MSG] stray\n")
    assert_well_nested(items)
    assert len(opened(items)) == 2 and all(o.ts is not None for o in opened(items))
    notices = [i for i in items if isinstance(i, Notice)]
    assert [n.location for n in notices] == ["line 13", "line 14"]


# -- the brief log -----------------------------------------------------------------------


def summaries() -> dict[str, Session]:
    items = items_of(OpenSMTPDLog(), BRIEF)
    assert all(isinstance(i, Summary) for i in items)
    return {i.session.id: i.session for i in items if isinstance(i, Summary)}


def test_brief_log_partial_sessions() -> None:
    found = summaries()
    assert set(found) >= {GOOD, BAD, REJECTED, RELAYED}
    good = found[GOOD]
    assert good.partial and not good.exact_bytes and good.tls and good.quit
    assert good.client == Endpoint("127.0.0.1")
    assert [(a.user, a.outcome) for a in good.auth] == [("alice@example.test", "success")]
    (t,) = good.transactions
    assert t.mail_from == "alice@example.test" and t.message is not None
    assert t.message.wire_size == 449
    assert [(r.address, r.reply_code) for r in t.recipients] == [("bob@example.test", 250)]
    bad = found[BAD]
    assert [(a.mechanism, a.user, a.outcome, a.reply_code) for a in bad.auth] == [
        ("LOGIN", "alice@example.test", "failure", 535)]
    assert {f.id for f in bad.findings} == {"auth.failed"}
    rejected = found[REJECTED]
    (t,) = rejected.transactions
    assert [(r.address, r.reply_code) for r in t.recipients] == [("dave@elsewhere.invalid", 550)]
    assert "log.rejected" in {f.id for f in rejected.findings}
    assert all("data.bare-lf" in s.undetermined for s in found.values())


def test_brief_log_mta_session() -> None:
    mta = [s for s in summaries().values() if s.server is not None]
    assert len(mta) == 1
    assert mta[0].server == Endpoint("127.0.0.1", 2653)
    assert mta[0].close_reason == "IO Error: Connection refused"
    # a connection never made is not a lost one
    assert not mta[0].findings


def test_brief_log_events_in_syslog() -> None:
    one, two = "1111111111111111", "2222222222222222"
    lines = [f"{one} smtp connected address=203.0.113.9 host=x.test",
             f"{one} smtp authentication user=bob result=tempfail",
             f"{one} smtp disconnected reason=io-error: SSL error",
             f"{two} mta connecting address=smtp://[2001:db8::1]:25 host=mx",
             f"{two} mta connected",
             f"{two} mta delivery evpid=0123456789abcdef from=<a@x.test> to=<b@y.test> "
             'rcpt=<-> source="192.0.2.1" relay="mx" delay=1s result="PermFail" '
             'stat="550 5.1.1 no such user"',
             f"{two} mta disconnected reason=quit messages=1"]
    items = text_items(OpenSMTPDLog(), "\n".join(f"Dec  2 05:47:2{n} mx smtpd[812]: {line}"
                                                  for n, line in enumerate(lines)))
    found = {i.session.id: i.session for i in items if isinstance(i, Summary)}
    first, second = found[one], found[two]
    assert first.client == Endpoint("203.0.113.9") and first.ts_start is not None
    assert [a.outcome for a in first.auth] == ["unknown"]
    assert {f.id for f in first.findings} == {"log.sasl-backend-fault", "log.tls-failed"}
    assert second.server == Endpoint("2001:db8::1", 25)
    (t,) = second.transactions
    assert [(r.address, r.reply_code) for r in t.recipients] == [("b@y.test", 550)]
    assert "log.rejected" in {f.id for f in second.findings}


def test_brief_log_garbage_becomes_notices() -> None:
    items = text_items(OpenSMTPDLog(), """
0e312cf45d1b5c66 smtp connected address=127.0.0.1 host=<unknown>
this is not a log line
0e312cf45d1b5c66 smtp failed-command command="rcpt" result="garbled
0e312cf45d1b5c66 smtp envelope evpid=zz from=<
zzzz smtp connected
""")
    notices = [i for i in items if isinstance(i, Notice)]
    assert [n.location for n in notices] == ["line 2", "line 5"]
    assert sum(isinstance(i, Summary) for i in items) == 1


# -- detection ---------------------------------------------------------------------------


def test_detection_picks_each_and_does_not_steal() -> None:
    assert detect_text_format(str(TRACE)).name == "opensmtpd-trace"
    assert detect_text_format(str(BRIEF)).name == "opensmtpd"
    trace_head = TRACE.read_text().splitlines()[:60]
    assert OpenSMTPDLog().sniff(trace_head) < OpenSMTPDTrace().sniff(trace_head)
    for other in sorted(SAMPLES.glob("*.log")) + sorted(SAMPLES.glob("*.txt")):
        if other.name not in (TRACE.name, BRIEF.name):
            head = other.read_text(errors="replace").splitlines()[:60]
            assert OpenSMTPDTrace().sniff(head) == 0, other.name
            assert OpenSMTPDLog().sniff(head) == 0, other.name
