"""Times past year 9999 (or before 1970, or not numbers) never crash a view (issue 8).

A transcript line ``999999999999 C: EHLO x`` or a pcapng record with a damaged
timestamp used to stop the text views and ``load()`` with "year 33658 is out of
range" / OutOfBoundsDatetime. Now every source's items are checked once: the bad
time is left out of its item (which is kept), the file gets one input problem naming
the position, and the views show any time outside the window as out of range.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

import smtplens
from smtplens import analysis
from smtplens.analysis import Problem, analyze_file
from smtplens.cli import app
from smtplens.cli.text import clock, when
from smtplens.frames import to_frames
from smtplens.model import Session
from smtplens.sources import TIME_CODE, checked_times, read_source
from smtplens.stream import Closed, Data, Direction, Gap, Notice, Opened, StreamItem, Summary
from smtplens.timestamps import TS_MAX, in_range
from tests.test_pcap_build import Conv, framed, pcap_bytes, pcapng_bytes

runner = CliRunner()
TRANSCRIPT = """\
1700000000.0 S: 220 mx.example.test ESMTP
999999999999 C: EHLO x
1700000000.2 S: 250 mx.example.test
1700000000.3 C: QUIT
1700000000.4 S: 221 bye
"""


@pytest.fixture
def transcript(tmp_path: Path) -> str:
    path = tmp_path / "hostile.txt"
    path.write_text(TRANSCRIPT)
    return str(path)


def _pcapng(path: Path, bad_ts: float, index: int = 4) -> str:
    """The short dialog of the capture tests, packet ``index`` (the EHLO) with
    ``bad_ts`` as its time."""
    link, frames = framed(Conv().dialog(), "ether")
    packets = [(0, ts, frame) for ts, frame in frames]
    packets[index] = (0, bad_ts, packets[index][2])
    path.write_bytes(pcapng_bytes([(link, None)], packets))
    return str(path)


@pytest.fixture
def capture(tmp_path: Path) -> str:
    return _pcapng(tmp_path / "damaged.pcapng", 1e13)  # year 318857


def _cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exception
    return result.exit_code, result.stdout, result.stderr


# -- through the command line -----------------------------------------------------------

@pytest.mark.parametrize("fmt", ["text", "json", "jsonl", "csv"])
def test_analyze_a_transcript_with_a_time_past_9999(transcript: str, fmt: str) -> None:
    code, out, err = _cli("analyze", "--fail-on", "never", "-f", fmt, transcript)
    assert code == 0, err
    assert "internal error" not in err
    assert f"{transcript}, line 2: timestamp 999999999999 (year 33658) out of range" in err
    assert err.count("out of range") == 1  # one problem per file
    if fmt == "json":
        doc = json.loads(out)
        assert len(doc["problems"]) == 1 and doc["summary"]["sessions"] == 1
        ehlo = next(e for e in doc["sessions"][0]["commands"] if e["verb"] == "EHLO")
        assert ehlo["ts"] is None and ehlo["reply_code"] == 250
    elif fmt == "csv":
        list(csv.reader(io.StringIO(out)))
    elif fmt == "text":
        assert "Session T1" in out and "EHLO x" in out


def test_show_a_transcript_with_a_time_past_9999(transcript: str) -> None:
    code, out, err = _cli("show", transcript)
    assert code == 0, err
    assert "EHLO x" in out and "250 mx.example.test" in out
    assert f"{transcript}, line 2" in err


@pytest.mark.parametrize("fmt", ["text", "json", "csv"])
def test_analyze_a_pcapng_with_a_damaged_timestamp(capture: str, fmt: str) -> None:
    code, out, err = _cli("analyze", "--fail-on", "never", "-f", fmt, capture)
    assert code == 0, err
    assert (f"{capture}, client data of the connection opened at record 1: timestamp "
            "10000000000000 (year 318857) out of range") in err
    if fmt == "json":
        session = json.loads(out)["sessions"][0]
        assert session["ts_end"] < 2e9  # the bad time did not stretch the session
        assert [e["verb"] for e in session["commands"]] == ["EHLO", "QUIT"]


def test_show_a_pcapng_with_a_damaged_timestamp(capture: str) -> None:
    code, out, err = _cli("show", capture)
    assert code == 0 and "EHLO client.example.org" in out
    assert capture in err and "record 1" in err


def test_load_gives_frames_and_the_problem(transcript: str, capture: str) -> None:
    frames = smtplens.load([transcript, capture])
    assert len(frames.sessions) == 2
    assert frames.commands["ts"].isna().sum() == 2  # the two EHLOs, nothing else
    problems = frames.problems.to_dict("records")
    assert [(p["source"], p["code"]) for p in problems] == [(transcript, TIME_CODE),
                                                            (capture, TIME_CODE)]
    assert problems[0]["location"] == "line 2"


def test_a_libpcap_time_is_always_in_range(tmp_path: Path) -> None:
    # 32-bit seconds end in 2106: inside the window, so nothing to report
    link, frames = framed(Conv().dialog(), "ether")
    frames[4] = (4_294_967_295.0, frames[4][1])
    path = tmp_path / "late.pcap"
    path.write_bytes(pcap_bytes(frames, link))
    problems: list[Problem] = []
    (session,) = analyze_file(str(path), on_problem=problems.append)
    assert problems == [] and session.ts_end == 4_294_967_295.0


def test_several_processes_report_it_once_as_one_does(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(analysis, "PARALLEL_MIN_BYTES", 0)
    path = _pcapng(tmp_path / "damaged.pcapng", 1e13)
    results = []
    for jobs in (1, 3):
        problems: list[Problem] = []
        sessions = list(analyze_file(path, jobs=jobs, on_problem=problems.append))
        results.append(([(s.id, s.ts_start, s.ts_end) for s in sessions], problems))
    assert results[0] == results[1]
    assert [p.code for p in results[0][1]] == [TIME_CODE]


@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
                                   "99999999999999999999999"])
def test_other_hostile_transcript_times(tmp_path: Path, stamp: str) -> None:
    path = tmp_path / "t.txt"
    path.write_text(TRANSCRIPT.replace("999999999999", stamp))
    code, out, err = _cli("analyze", "--fail-on", "never", str(path))
    assert code == 0 and "Session T1" in out
    assert "line 2: timestamp" in err and "out of range" in err


# -- the check itself -------------------------------------------------------------------

def test_every_kind_of_item_is_checked_and_kept() -> None:
    c = Direction.CLIENT
    items: list[StreamItem] = [
        Opened("C1", -5.0, location="record 3"), Data("C1", c, b"EHLO x\r\n", math.inf),
        Gap("C1", c, 10, math.nan), Notice("capture.gap", "x", conn_id="C1", ts=1e300),
        Data("C1", c, b"QUIT\r\n", 1.5), Closed("C1", 2e10)]
    out = list(checked_times(items, "f.pcap"))
    notices = [i for i in out if isinstance(i, Notice) and i.code == TIME_CODE]
    assert len(notices) == 1 and notices[0].location == "record 3"
    assert "timestamp -5 (year 1969)" in notices[0].message
    kept = [i for i in out if not (isinstance(i, Notice) and i.code == TIME_CODE)]
    assert [type(i) for i in kept] == [type(i) for i in items]
    assert [getattr(i, "ts", None) for i in kept] == [None, None, None, None, 1.5, None]


def test_capture_data_is_placed_by_the_record_of_its_connection() -> None:
    items: list[StreamItem] = [Opened("C7", 1.0, location="record 12"),
                               Data("C7", Direction.SERVER, b"220 x\r\n", 1e12)]
    notice = next(i for i in checked_times(items, "f") if isinstance(i, Notice))
    assert notice.location == "server data of the connection opened at record 12"


def test_a_summary_session_is_reported_and_kept() -> None:
    session = Session(id="Q1", source="mainlog", origin="exim-log", ts_start=1e12,
                      ts_end=1e12, location="line 9")
    out = list(checked_times([Summary(session)], "mainlog"))
    assert isinstance(out[0], Notice) and out[0].location == "line 9"
    assert out[1] == Summary(session) and session.ts_start == 1e12


def test_read_source_checks_times(transcript: str) -> None:
    items = list(read_source(transcript))
    assert sum(isinstance(i, Notice) and i.code == TIME_CODE for i in items) == 1
    assert all(getattr(i, "ts", None) is None or in_range(i.ts)  # type: ignore[union-attr]
               for i in items)


# -- the views, given any time ------------------------------------------------------------

@pytest.mark.parametrize("ts", [999999999999.0, -1.0, math.inf, -math.inf, math.nan,
                                1e308, TS_MAX + 1])
def test_views_show_any_time(ts: float) -> None:
    assert when(ts).startswith("time out of range")
    assert clock(ts) == "out of range"
    session = Session(id="X", source="api", origin="transcript", ts_start=ts, ts_end=ts)
    frames = to_frames([session])
    assert frames.sessions["start"].isna().all()
    assert str(frames.sessions["start"].dtype).startswith("datetime64")


def test_views_keep_good_times() -> None:
    assert when(0.0) == "1970-01-01 00:00:00.000"
    assert when(TS_MAX) == "2262-04-11 23:47:16.000"
    assert clock(1_700_000_000.5) == "22:13:20.500"
    frames = to_frames([Session(id="X", source="api", origin="transcript",
                                ts_start=TS_MAX, ts_end=0.0)])
    assert str(frames.sessions["start"][0]) == "2262-04-11 23:47:16+00:00"
