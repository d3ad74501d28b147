"""MDaemon's SMTP session logs: samples/mdaemon-smtp.log (written by hand after the
documented layout: MDaemon is commercial Windows software), the older block layout
without session numbers, an outbound session, and garbled input."""

from __future__ import annotations

from smtplens.analysis import analyze_stream
from smtplens.sources import detect_text_format
from smtplens.sources.logs.mdaemon import MDaemonSMTPLog
from smtplens.sources.textfile import read_lines
from smtplens.stream import Data, Direction, Endpoint, Notice, Skipped, StreamItem
from tests.helpers import SAMPLES, assert_well_nested, by_id, opened, parse_inline, render_views

SAMPLE = SAMPLES / "mdaemon-smtp.log"
FMT = MDaemonSMTPLog()
SECRETS = ("s3cret!", "czNjcmV0IQ", "wrong-password", "d3JvbmctcGFzc3dvcmQ")


def parse() -> list[StreamItem]:
    return list(FMT.parse(read_lines(str(SAMPLE)), str(SAMPLE)))


def parse_text(text: str) -> list[StreamItem]:
    return parse_inline(FMT, text)



def test_interleaved_sessions_split_by_number() -> None:
    items = parse()
    assert_well_nested(items)
    starts = {o.conn_id: o for o in opened(items)}
    assert set(starts) == {"mdaemon-12345", "mdaemon-12346"}
    assert starts["mdaemon-12345"].client == Endpoint("203.0.113.5", 50123)
    assert starts["mdaemon-12345"].server == Endpoint("192.0.2.1", 25)
    assert starts["mdaemon-12346"].client == Endpoint("198.51.100.7", 61544)
    assert all(not o.exact_bytes for o in starts.values())
    # the content is not logged: it is skipped after the 354
    assert any(isinstance(i, Skipped) and i.conn_id == "mdaemon-12345" for i in items)
    assert not [i for i in items if isinstance(i, Notice)]


def test_auth_replies_and_rejected_recipient() -> None:
    found = by_id(parse())
    good = found["mdaemon-12345"]
    assert good.greeting_code == 220 and good.helo == "client.example.test" and good.quit
    assert [(a.mechanism, a.user, a.outcome) for a in good.auth] == [
        ("LOGIN", "alice@example.test", "success")]
    (t,) = good.transactions
    assert [(r.address, r.reply_code) for r in t.recipients] == [
        ("bob@example.test", 250), ("nobody@example.test", 550)]
    assert t.message is not None and t.message.reply_code == 250
    bad = found["mdaemon-12346"]
    assert [(a.user, a.outcome, a.reply_code) for a in bad.auth] == [
        ("alice@example.test", "failure", 535)]
    assert {"auth.failed", "auth.cleartext"} <= {f.id for f in bad.findings}


def test_secrets_redacted_and_exact_bytes_undetermined() -> None:
    found = list(by_id(parse()).values())
    assert all("data.unstuffed-dot" in s.undetermined for s in found)
    shown = render_views(found)
    assert not [s for s in SECRETS if s in shown]


def test_block_layout_without_session_numbers() -> None:
    # MDaemon 13: one session as a block between separators, no level, no number
    items = parse_text("""
Thu 2022-09-15 10:38:04: Session 4711; child 1
Thu 2022-09-15 10:38:04: Accepting SMTP connection from [192.0.2.50:50000] to [192.0.2.1:587]
Thu 2022-09-15 10:38:04: --> 220 mx.example.test ESMTP MSA MDaemon 13.5.1; Thu, 15 Sep 2022
Thu 2022-09-15 10:38:04: <-- EHLO localhost
Thu 2022-09-15 10:38:04: --> 250-mx.example.test Hello localhost, pleased to meet you
Thu 2022-09-15 10:38:04: --> 250-STARTTLS
Thu 2022-09-15 10:38:04: --> 250 SIZE
Thu 2022-09-15 10:38:04: <-- STARTTLS
Thu 2022-09-15 10:38:04: --> 220 Begin TLS negotiation
Thu 2022-09-15 10:38:04: SSL negotiation successful (TLS 1.0, 256 bit key exchange)
Thu 2022-09-15 10:38:04: <-- EHLO localhost
Thu 2022-09-15 10:38:04: --> 250 SIZE
Thu 2022-09-15 10:38:05: <-- QUIT
Thu 2022-09-15 10:38:05: --> 221 See ya in cyberspace
Thu 2022-09-15 10:38:05: ----------
Thu 2022-09-15 10:38:06: Session 4712; child 2
Thu 2022-09-15 10:38:06: --> 220 mx.example.test ESMTP
Thu 2022-09-15 10:38:06: <-- HELO x
""")
    assert_well_nested(items)
    starts = opened(items)
    assert [o.conn_id for o in starts] == ["mdaemon-4711", "mdaemon-4712"]
    found = by_id(items)
    first = found["mdaemon-4711"]
    assert first.tls and first.client == Endpoint("192.0.2.50", 50000) and first.quit
    assert found["mdaemon-4712"].helo_verb == "HELO"


OUTBOUND = """Mon 2024-05-06 11:00:00.001: 05: [900] Session 900; child 0001
Mon 2024-05-06 11:00:00.002: 05: [900] Attempting SMTP connection to [198.51.100.25:25]
Mon 2024-05-06 11:00:00.010: 05: [900] Socket connection established (192.0.2.1:49999 -> SERVER)
Mon 2024-05-06 11:00:00.020: 02: [900] <-- 220 mx.remote.test ESMTP
Mon 2024-05-06 11:00:00.021: 03: [900] --> EHLO mail.example.test
Mon 2024-05-06 11:00:00.030: 02: [900] <-- 250 mx.remote.test
Mon 2024-05-06 11:00:00.031: 03: [900] --> QUIT
Mon 2024-05-06 11:00:00.040: 02: [900] <-- 221 bye
Mon 2024-05-06 11:00:00.041: 05: [900] SMTP session successful (Bytes in/out: 10/20)
"""


def test_outbound_session_roles_are_swapped() -> None:
    items = parse_text(OUTBOUND.replace("SERVER", "198.51.100.25:25"))
    assert_well_nested(items)
    (o,) = opened(items)
    assert o.client == Endpoint("192.0.2.1", 49999)
    assert o.server == Endpoint("198.51.100.25", 25)
    data = [i for i in items if isinstance(i, Data)]
    assert data[0].direction is Direction.SERVER and data[1].direction is Direction.CLIENT
    (s,) = analyze_stream(items)
    assert s.helo == "mail.example.test" and s.quit


def test_garbled_lines_become_notices() -> None:
    items = parse_text("""
Mon 2024-05-06 11:00:00.001: 05: [1] Session 1; child 0001
garbage \x00 line
Xyz 2024-05-06 11:00:00.001: 05: [1] --> 220 not a weekday
Mon 2024-05-06 11:00:00.002: 03: [1] --> 220 ok
Mon 2024-05-06 99:99:99.999: 02: [1] <-- EHLO bad-time
""")
    assert_well_nested(items)
    notices = [i for i in items if isinstance(i, Notice)]
    assert [n.location for n in notices] == ["line 2", "line 3"]
    assert len(opened(items)) == 1


def test_detection_picks_mdaemon_and_does_not_steal() -> None:
    assert detect_text_format(str(SAMPLE)).name == "mdaemon"
    for other in sorted(SAMPLES.glob("*.log")) + sorted(SAMPLES.glob("*.txt")):
        if other.name != SAMPLE.name:
            head = other.read_text(errors="replace").splitlines()[:60]
            assert FMT.sniff(head) == 0, other.name
