"""Properties: any chunking of the same bytes gives the same session; junk never raises."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smtplens.analysis import analyze_stream
from smtplens.report import session_dict
from smtplens.sources.textfile import read_lines
from smtplens.sources.transcript import CSTranscript
from smtplens.stream import Closed, Data, Direction, Opened, StreamItem
from tests.helpers import SAMPLES, transcript_items

CRAFTED = """
S: 220 mx ESMTP
C: EHLO a
S: 250-mx
S: 250-PIPELINING
S: 250-CHUNKING
S: 250 AUTH PLAIN
C: AUTH PLAIN AGFsaWNlAHMzY3JldA==
S: 235 ok
C: MAIL FROM:<a@b> BODY=8BITMIME
C: RCPT TO:<c@d>
C: BDAT 12
C= line one\\r\\nBDAT 7 LAST\\r\\n.\\n.x\\r\\n
S: 250 ok
S: 250 ok
S: 250 ok
S: 250 ok
C: MAIL FROM:<a@b>
S: 250 ok
C: RCPT TO:<c@d>
S: 250 ok
C: DATA
S: 354 go
C= x\\r\\n.y\\r\\n\\n.\\r\\nA\\rB\\x00\\xff\\r\\n..\\r\\n.\\r\\n
S: 250 ok
C: STARTTLS
S: 220 go
C= \\x16\\x03\\x01junk
"""


def _transcripts() -> list[list[StreamItem]]:
    runs = [transcript_items(CRAFTED)]
    for path in sorted(SAMPLES.glob("*.txt")):
        runs.append(list(CSTranscript().parse(read_lines(str(path)), str(path))))
    return runs


RUNS = _transcripts()


def _rechunk(items: list[StreamItem], cuts: list[int]) -> list[StreamItem]:
    out: list[StreamItem] = []
    k = 0
    for item in items:
        if not isinstance(item, Data) or len(item.data) < 2:
            out.append(item)
            continue
        pos, data = 0, item.data
        while pos < len(data):
            step = 1 + cuts[k % len(cuts)] % max(1, len(data) - pos)
            k += 1
            out.append(Data(item.conn_id, item.direction, data[pos:pos + step], item.ts,
                            item.location))
            pos += step
    return out


def _dicts(items: list[StreamItem]) -> list[dict[str, object]]:
    return [session_dict(s, reveal=True) for s in analyze_stream(items)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run=st.sampled_from(range(len(RUNS))),
       cuts=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=30))
def test_any_chunking_gives_the_same_session(run: int, cuts: list[int]) -> None:
    items = RUNS[run]
    assert _dicts(_rechunk(items, cuts)) == _dicts(items)


def test_byte_by_byte_equals_whole_lines() -> None:
    for items in RUNS:
        assert _dicts(_rechunk(items, [0])) == _dicts(items)


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st.tuples(st.booleans(), st.binary(max_size=300)), max_size=25),
       decrypted=st.booleans())
def test_random_bytes_never_raise(steps: list[tuple[bool, bytes]], decrypted: bool) -> None:
    items: list[StreamItem] = [Opened("X", 0.0, decrypted=decrypted)]
    items += [Data("X", Direction.CLIENT if c else Direction.SERVER, b, 0.0) for c, b in steps]
    items.append(Closed("X", 1.0))
    sessions = list(analyze_stream(items))
    assert len(sessions) == 1


SMTPISH = st.sampled_from([b"220 x\r\n", b"250-a\r\n", b"250 b\r\n", b"354 go\r\n",
                           b"334 VXNlcm5hbWU6\r\n", b"235 ok\r\n", b"EHLO a\r\n", b"DATA\r\n",
                           b"AUTH LOGIN\r\n", b"BDAT 5\r\n", b"BDAT 3 LAST\r\n", b".\r\n",
                           b"\n.\n", b"STARTTLS\r\n", b"MAIL FROM:<a@b>\r\n", b"x\r", b"*\r\n",
                           b"RCPT TO:<c@d>\r\n", b"\x00", b"QUIT\r\n", b"221 bye\r\n"])


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(st.tuples(st.booleans(), SMTPISH), max_size=40),
       gap_at=st.integers(min_value=-1, max_value=40))
def test_smtp_like_sequences_never_raise(steps: list[tuple[bool, bytes]], gap_at: int) -> None:
    from smtplens.stream import Gap

    items: list[StreamItem] = [Opened("X", 0.0)]
    for i, (c, b) in enumerate(steps):
        d = Direction.CLIENT if c else Direction.SERVER
        if i == gap_at:
            items.append(Gap("X", d, 17, 0.0))
        items.append(Data("X", d, b, 0.0))
    sessions = list(analyze_stream(items))
    assert sessions[0].id == "X"


@settings(max_examples=500, deadline=None)
@given(piece=st.binary(max_size=40).map(lambda b: bytes(x % 4 for x in b)
                                        .translate(bytes.maketrans(b"\x00\x01\x02\x03",
                                                                   b"\r\n.x"))),
       before=st.sampled_from([b"\r\n", b"x\r", b"\n.", b"xx", b"\r\r"]))
def test_unstuff_matches_the_rfc_definition(piece: bytes, before: bytes) -> None:
    from smtplens.engine.dotdata import unstuff

    # RFC 5321 §4.5.2: the first '.' of every line that starts with '.' is removed
    assert unstuff(piece, before) == (before + piece).replace(b"\r\n.", b"\r\n")[len(before):]
