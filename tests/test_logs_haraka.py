"""Haraka's loglevel=protocol log: a real Haraka 3.3.4 run (samples/haraka-protocol.log,
made by samples/make_server_samples.py), variants of its lines, and garbled input."""

from __future__ import annotations

import re
from pathlib import Path

from smtplens.analysis import analyze_stream
from smtplens.sources import detect_text_format
from smtplens.sources.logs.haraka import HarakaProtocolLog
from smtplens.sources.textfile import read_lines
from smtplens.stream import Data, Direction, Endpoint, Notice, Opened, Skipped, StreamItem
from tests.helpers import SAMPLES, assert_well_nested, opened, parse_inline, render_views

SAMPLE = SAMPLES / "haraka-protocol.log"
FMT = HarakaProtocolLog()
SECRETS = ("s3cret!", "czNjcmV0IQ", "AGFsaWNlQGV4YW1wbGUudGVzdABzM2NyZXQh", "wrong-password",
           "d3JvbmctcGFzc3dvcmQ")
TEXT = SAMPLE.read_text()


def uuid_of(marker: str) -> str:
    """The session whose line shows ``marker`` (the sample's ids change on each run)."""
    m = re.search(r"\[([0-9A-F-]{36})(?:\.\d+)?\] \[core\] " + re.escape(marker), TEXT)
    assert m is not None, marker
    return m.group(1)


UUID, BAD, REJECTED = uuid_of("C: AUTH PLAIN"), uuid_of("C: AUTH LOGIN"), uuid_of("S: 550")


def parse(path: Path = SAMPLE) -> list[StreamItem]:
    return list(FMT.parse(read_lines(str(path)), str(path)))


def parse_text(text: str) -> list[StreamItem]:
    return parse_inline(FMT, text)


def test_interleaved_sessions_split_by_uuid() -> None:
    items = parse()
    assert_well_nested(items)
    starts = opened(items)
    assert len(starts) == 4
    assert all(o.exact_bytes is False and o.decrypted and o.origin == "haraka" for o in starts)
    by_id = {o.conn_id: o for o in starts}
    client = by_id[UUID].client
    assert client is not None and client.host == "127.0.0.1" and client.port
    assert by_id[UUID].server == Endpoint("127.0.0.1", 2650)
    # the transaction's lines (UUID.1) belong to the connection's session
    lines = [i.data for i in items if isinstance(i, Data) and i.conn_id == UUID]
    assert b"rcpt TO:<bob@example.test>\r\n" in lines
    assert f"250 Message Queued ({UUID}.1)\r\n".encode() in lines
    # Haraka's " state=1" is not part of what the client sent
    assert not any(b"state=" in line for line in lines)
    # the content is not logged at loglevel=protocol
    assert any(isinstance(i, Skipped) and i.conn_id == UUID for i in items)


def test_sessions_auth_and_transactions() -> None:
    found = {s.id: s for s in analyze_stream(parse())}
    good = found[UUID]
    assert good.helo == "client.example.test"
    assert [(a.mechanism, a.user, a.outcome) for a in good.auth] == [
        ("PLAIN", "alice@example.test", "success")]
    (t,) = good.transactions
    assert t.mail_from == "alice@example.test"
    assert [(r.address, r.reply_code) for r in t.recipients] == [("bob@example.test", 250)]
    assert t.message is not None and good.quit
    bad = found[BAD]
    assert [(a.mechanism, a.user, a.outcome, a.reply_code) for a in bad.auth] == [
        ("LOGIN", "alice@example.test", "failure", 535)]
    assert "auth.failed" in {f.id for f in bad.findings}
    rejected = found[REJECTED]
    (t,) = rejected.transactions
    assert [(r.address, r.reply_code) for r in t.recipients] == [("dave@elsewhere.invalid", 550)]
    # Haraka logs the AUTH lines unmasked: the log itself holds the secret
    assert "log.secret-in-log" in {f.id for f in good.findings}


def test_exact_bytes_findings_are_undetermined_and_secrets_redacted() -> None:
    found = list(analyze_stream(parse()))
    for s in found:
        assert not s.exact_bytes
        assert "data.bare-lf" in s.undetermined and "data.unstuffed-dot" in s.undetermined
    shown = render_views(found)
    for secret in SECRETS:
        assert secret not in shown
    assert "alice@example.test" in shown


def test_detection_picks_haraka() -> None:
    assert detect_text_format(str(SAMPLE)).name == "haraka"
    head = SAMPLE.read_text().splitlines()[:40]
    assert FMT.sniff(head) >= 90
    # without timestamps (log.ini's default) and behind a syslog prefix, still Haraka
    bare = [line.split(" ", 1)[1] for line in head]
    assert FMT.sniff(bare) >= 90
    assert FMT.sniff([f"Dec  2 05:43:55 mx haraka[77]: {line}" for line in bare]) >= 90


def test_detection_does_not_steal_other_samples() -> None:
    for other in sorted(SAMPLES.glob("*.log")) + sorted(SAMPLES.glob("*.txt")):
        if other.name != SAMPLE.name:
            head = other.read_text(errors="replace").splitlines()[:60]
            assert FMT.sniff(head) == 0, other.name


def test_without_timestamps_and_mid_session_start() -> None:
    items = parse_text(f"""
[PROTOCOL] [{UUID}.1] [core] C: rcpt TO:<bob@example.test> state=1
[PROTOCOL] [{UUID}.1] [core] S: 250 recipient <bob@example.test> OK
[NOTICE] [{UUID}.1] [core] disconnect ip=127.0.0.1 rdns=x helo=y
""")
    assert_well_nested(items)
    (o,) = opened(items)
    assert o.client is None and o.ts is None
    assert [i.direction for i in items if isinstance(i, Data)] == [Direction.CLIENT,
                                                                    Direction.SERVER]


def test_garbled_lines_become_notices() -> None:
    items = parse_text(f"""
[NOTICE] [{UUID}] [core] connect ip=127.0.0.1 port=x local_ip= local_port=99999999
garbage \x00\xff line
[PROTOCOL] [{UUID}] [core] S: 220 ok
[PROTOCOL] [{UUID}] [core] C: (after-disconnect): EHLO late state=9
[PROTOCOL] [not-a-uuid] [core] S: 220 nope
""")
    assert_well_nested(items)
    (o,) = opened(items)
    assert o.client == Endpoint("127.0.0.1") and o.server is None
    notices = [i for i in items if isinstance(i, Notice)]
    assert [n.location for n in notices] == ["line 2", "line 4", "line 5"]
    assert {n.code for n in notices} == {"input.unparsed-line"}
    assert isinstance(items[0], Opened)
