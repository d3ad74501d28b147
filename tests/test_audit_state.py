"""``smtplens audit --state``: reading spans of text inputs, and what the state remembers
between runs (appended lines, rotation by rename and compression, copytruncate)."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from smtplens.analysis import Problem, analyze_file
from smtplens.audit import state as state_module
from smtplens.audit.state import KEEP_DAYS, STATE_VERSION, AuditState, Planned, StateError
from smtplens.errors import InputError
from smtplens.model import Session
from smtplens.sources import read_source, textfile
from smtplens.sources.textfile import Span, read_lines
from tests.helpers import SAMPLES

POSTFIX = SAMPLES / "postfix-maillog.log"  # 109 lines
EXIM = SAMPLES / "exim-mainlog.log"  # 37 lines


def lines_of(path: Path) -> int:
    return path.read_bytes().count(b"\n")


def postfix_session(pid: int, ip: str, day: int = 6) -> bytes:
    """Two real-format Postfix lines: one short session of ``ip``."""
    return (f"May  {day} 10:00:00 mail postfix/smtpd[{pid}]: connect from unknown[{ip}]\n"
            f"May  {day} 10:00:01 mail postfix/smtpd[{pid}]: disconnect from unknown[{ip}] "
            "ehlo=1 quit=1 commands=2\n").encode()


def exim_session(ip: str) -> bytes:
    return (f"2026-04-15 08:00:00 H=(probe.example) [{ip}] rejected AUTH plain: "
            "STARTTLS required before AUTH\n").encode()


class Run:
    """One audit run over ``paths``, as the runner does it: plan, read each planned
    span in a "worker" (a pickled copy of the span comes back), done, save."""

    def __init__(self, state_file: Path, paths: list[Path]) -> None:
        self.state = AuditState.load(str(state_file))
        self.plans = self.state.plan([str(p) for p in paths])
        self.sessions: dict[str, list[Session]] = {}
        self.problems: list[Problem] = []
        for plan in self.plans:
            if plan.skip:
                continue
            span = pickle.loads(pickle.dumps(plan.span))
            self.sessions[plan.path] = list(analyze_file(plan.path, span=span,
                                                         on_problem=self.problems.append))
            self.state.done(plan, pickle.loads(pickle.dumps(span)))
        self.state.save()

    def plan(self, path: Path) -> Planned:
        return next(p for p in self.plans if p.path == str(path))

    def clients(self, path: Path) -> list[str]:
        return [str(s.client) for s in self.sessions.get(str(path), [])]

    def lines(self, path: Path) -> list[int]:
        return [int(s.location.split()[-1]) for s in self.sessions.get(str(path), [])]


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    return tmp_path / "audit.state"


# ------------------------------------------------------------------ Span and read_lines
def test_span_stops_before_a_line_that_crosses_stop(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    path.write_bytes(b"one\ntwo\r\nthree\n")
    span = Span(0, 12)  # inside "three"
    assert list(read_lines(str(path), span=span)) == [(1, "one"), (2, "two")]
    assert (span.reached, span.last_line, span.ended) == (9, 2, True)
    span = Span(0, 9)  # just after "two\r\n": that line is complete
    assert [n for n, _ in read_lines(str(path), span=span)] == [1, 2]
    assert span.reached == 9


def test_span_starts_at_a_line_start_and_numbers_on(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    path.write_bytes(b"one\ntwo\nthree\nfour\n")
    span = Span(4, None, 2)
    assert list(read_lines(str(path), span=span)) == [(2, "two"), (3, "three"), (4, "four")]
    assert (span.reached, span.last_line) == (19, 4)
    again = Span(span.reached, None, span.last_line + 1)  # nothing new
    assert list(read_lines(str(path), span=again)) == []
    assert (again.reached, again.last_line, again.ended) == (19, 4, True)


def test_a_last_line_without_newline_waits_when_there_is_a_stop(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    path.write_bytes(b"one\ntwo\nthr")
    size = path.stat().st_size
    span = Span(0, size)
    assert [t for _, t in read_lines(str(path), span=span)] == ["one", "two"]
    assert span.reached == 8  # "thr" is left for the next run
    span = Span(0, size + 100)  # a stop beyond the end: the same
    assert [t for _, t in read_lines(str(path), span=span)] == ["one", "two"]
    whole = Span()  # no stop: the file as it is, last line included (as before spans)
    assert [t for _, t in read_lines(str(path), span=whole)] == ["one", "two", "thr"]
    assert whole.reached == size
    assert [t for _, t in read_lines(str(path))] == ["one", "two", "thr"]


@pytest.mark.parametrize("pack", [gzip.compress, bz2.compress, lzma.compress])
def test_span_of_compressed_input(tmp_path: Path, pack: Callable[[bytes], bytes]) -> None:
    path = tmp_path / "t.log.z"
    path.write_bytes(pack(b"one\ntwo\nthree\nfour"))
    span = Span(8, None, 3)  # offsets in the decompressed text
    assert list(read_lines(str(path), span=span)) == [(3, "three"), (4, "four")]
    assert (span.reached, span.last_line, span.ended) == (18, 4, True)
    span = Span(4, 14, 2)
    assert list(read_lines(str(path), span=span)) == [(2, "two"), (3, "three")]
    past = Span(100, None, 9)  # past the end: nothing, and where the text ended
    assert list(read_lines(str(path), span=past)) == [] and past.reached == 18


def test_long_lines_are_cut_inside_a_span(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(textfile, "MAX_LINE", 8)
    path = tmp_path / "t.log"
    path.write_bytes(b"short\n" + b"x" * 30 + b"\nend\n" + b"y" * 20)
    cuts: list[tuple[int, int]] = []
    span = Span(0, path.stat().st_size)
    got = list(read_lines(str(path), lambda n, length: cuts.append((n, length)), span))
    assert got == [(1, "short"), (2, "x" * 8), (3, "end")]
    assert cuts == [(2, 31)] and span.reached == 6 + 31 + 4  # the long unfinished tail waits
    span = Span(0, 20)  # a stop inside the long line: it is not read at all
    assert list(read_lines(str(path), span=span)) == [(1, "short")] and span.reached == 6


def test_a_span_survives_pickling(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    path.write_bytes(b"a\nb\n")
    span = Span(2, 4, 2)
    list(read_lines(str(path), span=span))
    again = pickle.loads(pickle.dumps(span))
    assert (again.start, again.stop, again.first_line, again.reached, again.last_line,
            again.ended) == (2, 4, 2, 4, 2, True)


def test_a_resumed_log_is_still_detected_from_its_head(tmp_path: Path) -> None:
    path = tmp_path / "mail.log"
    data = POSTFIX.read_bytes()
    path.write_bytes(data + postfix_session(999, "10.0.0.1"))
    span = Span(len(data), path.stat().st_size, lines_of(POSTFIX) + 1)
    sessions = list(analyze_file(str(path), span=span))
    assert [(s.origin, str(s.client), s.location) for s in sessions] == [
        ("postfix-log", "10.0.0.1", f"line {lines_of(POSTFIX) + 1}")]
    assert span.last_line == lines_of(POSTFIX) + 2


def test_a_span_on_a_capture_is_a_clear_error() -> None:
    capture = str(SAMPLES / "auth-login.pcap")
    with pytest.raises(InputError, match="capture is read whole") as e:
        list(read_source(capture, span=Span(100)))
    assert e.value.source == capture
    problems: list[Problem] = []
    assert list(analyze_file(capture, span=Span(), on_problem=problems.append)) == []
    assert [p.code for p in problems] == ["input.unreadable"]


def test_a_resumed_span_without_sessions_is_no_problem(tmp_path: Path) -> None:
    path = tmp_path / "mail.log"
    data = POSTFIX.read_bytes()
    quiet = b"May  6 10:00:00 mail postfix/anvil[1]: statistics: max cache size 1 at x\n"
    path.write_bytes(data + quiet)
    problems: list[Problem] = []
    span = Span(len(data), path.stat().st_size, lines_of(POSTFIX) + 1)
    assert list(analyze_file(str(path), span=span, on_problem=problems.append)) == []
    assert problems == [] and span.reached == path.stat().st_size
    # read from the start, a part without sessions is still reported (the comments)
    comments = sum(len(x) for x in data.splitlines(keepends=True)[:4])
    list(analyze_file(str(path), span=Span(0, comments), on_problem=problems.append))
    assert [p.code for p in problems] == ["input.no-smtp"]


# ------------------------------------------------------------------ runs over a log
@pytest.mark.parametrize(("sample", "session_of", "ips"), [
    (POSTFIX, lambda ip: postfix_session(999, ip), ("10.0.0.1", "10.0.0.2")),
    (EXIM, exim_session, ("198.51.100.7", "198.51.100.8")),
])
def test_each_run_reads_only_the_complete_lines_appended(
        tmp_path: Path, state_file: Path, sample: Path,
        session_of: Callable[[str], bytes], ips: tuple[str, str]) -> None:
    log = tmp_path / "mail.log"
    shutil.copy(sample, log)
    first = Run(state_file, [log])
    everything = list(analyze_file(str(sample)))
    assert first.plan(log).whole and not first.plan(log).skip
    assert len(first.sessions[str(log)]) == len(everything) > 10
    assert "new file" in first.plan(log).note

    known = lines_of(sample)
    added = session_of(ips[0])
    partial = session_of(ips[1])
    with log.open("ab") as f:
        f.write(added + partial[:20])  # a writer in the middle of a line
    second = Run(state_file, [log])
    plan = second.plan(log)
    assert plan.span is not None and plan.span.start == len(sample.read_bytes())
    assert not plan.whole
    assert f"resumed at line {known + 1} (offset {len(sample.read_bytes())})" == plan.note
    assert second.clients(log) == [ips[0]]  # and none of the earlier sessions
    assert second.lines(log) == [known + 1]
    assert second.problems == []

    third = Run(state_file, [log])  # only the partial line is new
    assert "only part of a line" in third.plan(log).skip and third.sessions == {}

    with log.open("ab") as f:
        f.write(partial[20:])
    fourth = Run(state_file, [log])
    assert fourth.clients(log) == [ips[1]]
    assert fourth.lines(log) == [known + added.count(b"\n") + 1]

    fifth = Run(state_file, [log])
    assert fifth.plan(log).skip.startswith("nothing appended since the last run")
    last = known + added.count(b"\n") + partial.count(b"\n")
    assert f"line {last}" in fifth.plan(log).skip
    assert fifth.sessions == {}


def test_rotation_by_rename(tmp_path: Path, state_file: Path) -> None:
    log, old = tmp_path / "mail.log", tmp_path / "mail.log.1"
    shutil.copy(POSTFIX, log)
    Run(state_file, [log])
    with log.open("ab") as f:  # written after the last run, before logrotate
        f.write(postfix_session(901, "10.0.0.1"))
    log.rename(old)
    log.write_bytes(postfix_session(902, "10.0.0.2", day=7))
    run = Run(state_file, [old, log])  # as rotation.in_time_order lists them
    rotated = run.plan(old)
    assert rotated.span is not None and rotated.span.start == len(POSTFIX.read_bytes())
    assert rotated.note == (f"rotated: mail.log.1 was mail.log; its rest read from line "
                            f"{lines_of(POSTFIX) + 1} (offset {len(POSTFIX.read_bytes())})")
    assert run.clients(old) == ["10.0.0.1"] and run.lines(old) == [lines_of(POSTFIX) + 1]
    assert run.plan(log).whole and "rotated to mail.log.1" in run.plan(log).note
    assert run.clients(log) == ["10.0.0.2"] and run.lines(log) == [1]

    again = Run(state_file, [old, log])
    assert again.plan(old).skip.startswith("nothing appended")
    assert again.plan(log).skip.startswith("nothing appended")


def test_rotation_by_rename_and_gzip(tmp_path: Path, state_file: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    log, packed = tmp_path / "mail.log", tmp_path / "mail.log.1.gz"
    shutil.copy(POSTFIX, log)
    Run(state_file, [log])
    with log.open("ab") as f:
        f.write(postfix_session(901, "10.0.0.1"))
    with log.open("rb") as src, gzip.open(packed, "wb") as dst:  # no delaycompress
        shutil.copyfileobj(src, dst)
    log.unlink()
    log.write_bytes(postfix_session(902, "10.0.0.2", day=7))
    run = Run(state_file, [packed, log])
    note = run.plan(packed).note
    assert note.startswith("rotated and compressed: mail.log.1.gz was mail.log")
    assert f"line {lines_of(POSTFIX) + 1} (offset {len(POSTFIX.read_bytes())})" in note
    assert run.clients(packed) == ["10.0.0.1"] and run.lines(packed) == [lines_of(POSTFIX) + 1]
    assert run.clients(log) == ["10.0.0.2"]

    # the next run knows the compressed file by inode and size: no decompressing
    def no_look(*args: object) -> str:
        raise AssertionError("looked into a file known to be read to its end")

    monkeypatch.setattr(state_module, "_tail", no_look)
    again = Run(state_file, [packed, log])
    assert again.plan(packed).skip.startswith("already read to its end")
    assert again.plan(log).skip.startswith("nothing appended")


def test_a_rotated_file_read_to_its_end_is_skipped_once_compressed(
        tmp_path: Path, state_file: Path) -> None:
    log, one, two = tmp_path / "mail.log", tmp_path / "mail.log.1", tmp_path / "mail.log.2.gz"
    shutil.copy(POSTFIX, log)
    Run(state_file, [log])
    log.rename(one)  # delaycompress: mail.log.1 stays plain for a day
    log.write_bytes(postfix_session(902, "10.0.0.2", day=7))
    run = Run(state_file, [one, log])
    assert run.plan(one).skip == (f"already read to its end (it was mail.log): line "
                                  f"{lines_of(POSTFIX)}, offset {len(POSTFIX.read_bytes())}")
    assert run.clients(log) == ["10.0.0.2"]
    with one.open("rb") as src, gzip.open(two, "wb") as dst:  # the next rotation
        shutil.copyfileobj(src, dst)
    one.unlink()
    log.rename(one)
    log.write_bytes(b"")
    run = Run(state_file, [two, one, log])
    assert run.plan(two).skip.startswith("already read to its end (it was mail.log.1)")
    assert run.plan(one).skip.startswith("already read to its end (it was mail.log)")
    assert run.plan(log).skip == "empty: nothing to read yet"
    assert run.sessions == {}


def test_copytruncate(tmp_path: Path, state_file: Path) -> None:
    log, copy = tmp_path / "mail.log", tmp_path / "mail.log.1"
    shutil.copy(POSTFIX, log)
    Run(state_file, [log])
    with log.open("ab") as f:
        f.write(postfix_session(901, "10.0.0.1"))
    shutil.copy(log, copy)  # logrotate copytruncate: copy, then truncate in place
    inode = log.stat().st_ino
    with log.open("r+b") as f:
        f.truncate(0)
    with log.open("ab") as f:
        f.write(postfix_session(902, "10.0.0.2", day=7) * 90)  # more than before
    assert log.stat().st_ino == inode and log.stat().st_size > len(POSTFIX.read_bytes())
    run = Run(state_file, [copy, log])
    assert run.plan(copy).note.startswith("rotated: mail.log.1 was mail.log")
    assert run.clients(copy) == ["10.0.0.1"]
    assert run.plan(log).whole and run.plan(log).note == (
        "copied to mail.log.1 and truncated since the last run (copytruncate): read from "
        "the start")
    assert len(run.sessions[str(log)]) == 90 and run.lines(log)[0] == 1


def test_a_file_smaller_than_what_was_read_is_read_from_the_start(
        tmp_path: Path, state_file: Path) -> None:
    log = tmp_path / "mail.log"
    shutil.copy(POSTFIX, log)
    Run(state_file, [log])
    head = b"".join(POSTFIX.read_bytes().splitlines(keepends=True)[:12])  # same first line
    log.write_bytes(head)
    run = Run(state_file, [log])
    assert run.plan(log).whole
    assert run.plan(log).note == (f"shorter than the {len(POSTFIX.read_bytes())} octets "
                                  "read before (truncated or replaced): read from the start")
    assert run.lines(log)[0] == 5


def test_a_file_rewritten_in_place_is_read_from_the_start(tmp_path: Path,
                                                          state_file: Path) -> None:
    log = tmp_path / "mail.log"
    shutil.copy(POSTFIX, log)
    Run(state_file, [log])
    inode = log.stat().st_ino
    with log.open("r+b") as f:  # another first line, and longer than before
        f.write(postfix_session(903, "10.0.0.3", day=3) + POSTFIX.read_bytes())
    assert log.stat().st_ino == inode
    run = Run(state_file, [log])
    assert run.plan(log).whole and run.plan(log).note.startswith("rewritten since the last run")
    assert run.clients(log)[0] == "10.0.0.3" and run.lines(log)[0] == 1
    assert len(run.sessions[str(log)]) == len(list(analyze_file(str(POSTFIX)))) + 1


def test_a_copy_put_back_in_place_is_resumed(tmp_path: Path, state_file: Path) -> None:
    # logs fetched with rsync arrive as a new inode each time, with the same start
    log = tmp_path / "mail.log"
    shutil.copy(EXIM, log)
    Run(state_file, [log])
    fetched = tmp_path / "fetched"
    fetched.write_bytes(EXIM.read_bytes() + exim_session("198.51.100.7"))
    fetched.replace(log)
    run = Run(state_file, [log])
    assert run.plan(log).note == (f"the same first line at a new inode (copied back?): "
                                  f"resumed at line {lines_of(EXIM) + 1} "
                                  f"(offset {len(EXIM.read_bytes())})")
    assert run.clients(log) == ["198.51.100.7"]


def test_files_with_the_same_first_line_are_told_apart(tmp_path: Path,
                                                       state_file: Path) -> None:
    # Exchange and IIS-style logs all start with the same header line
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    shutil.copy(POSTFIX, a)
    Run(state_file, [a])
    shutil.copy(POSTFIX, b)  # a new file, while a.log is still where it was
    run = Run(state_file, [a, b])
    assert run.plan(a).skip.startswith("nothing appended")
    assert run.plan(b).whole and run.plan(b).note == "new file: read from the start"


def test_a_file_listed_twice_is_read_once(tmp_path: Path, state_file: Path) -> None:
    log = tmp_path / "mail.log"
    shutil.copy(POSTFIX, log)
    os.link(log, tmp_path / "hard.log")
    state = AuditState.load(str(state_file))
    plans = state.plan([str(log), str(log), str(tmp_path / "hard.log")])
    assert not plans[0].skip
    assert plans[1].skip == plans[2].skip == f"the same file as {log}, read once"


# ------------------------------------------------------------------ captures, odd paths
def test_captures_are_skipped_while_unchanged(tmp_path: Path, state_file: Path) -> None:
    capture = tmp_path / "auth-login.pcap"
    shutil.copy(SAMPLES / "auth-login.pcap", capture)
    first = Run(state_file, [capture])
    assert first.plan(capture).span is None and first.plan(capture).whole
    assert len(first.sessions[str(capture)]) == 1
    second = Run(state_file, [capture])
    assert second.plan(capture).skip.startswith("unchanged since the last run (a capture of")
    os.utime(capture, (1_000_000_000, 1_000_000_000))
    third = Run(state_file, [capture])
    assert third.plan(capture).span is None and not third.plan(capture).skip
    assert third.plan(capture).note == "changed since the last run: a capture is read whole again"


def test_unreadable_paths_are_planned_whole(tmp_path: Path, state_file: Path) -> None:
    missing = tmp_path / "gone.log"
    run = Run(state_file, [missing])
    plan = run.plan(missing)
    assert plan.span is None and not plan.skip and "not resumable" in plan.note
    assert [p.code for p in run.problems] == ["input.unreadable"]  # the runner reports it
    assert json.loads(state_file.read_text())["files"] == []


def test_files_not_listed_are_kept_and_old_ones_dropped(
        tmp_path: Path, state_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    shutil.copy(POSTFIX, a)
    shutil.copy(EXIM, b)
    Run(state_file, [a, b])
    Run(state_file, [a])  # b.log not given this time
    again = Run(state_file, [a, b])
    assert again.plan(b).skip.startswith("nothing appended")
    now = state_module._now()
    monkeypatch.setattr(state_module, "_now", lambda: now + (KEEP_DAYS + 1) * 86400)
    Run(state_file, [a])  # seen now; b.log not for more than KEEP_DAYS
    paths = [f["path"] for f in json.loads(state_file.read_text())["files"]]
    assert paths == [str(a)]


# ------------------------------------------------------------------ the state file
@pytest.mark.parametrize(("content", "why"), [
    (b"\x00\x01junk\xff", "not JSON"),
    (b"[1, 2, 3]", "no \"version\""),
    (b'{"files": []}', "no \"version\""),
    (json.dumps({"version": 99, "files": []}).encode(), "version 99 is not supported"),
    (json.dumps({"version": True, "files": []}).encode(), "version True is not supported"),
    (json.dumps({"version": STATE_VERSION, "files": {}}).encode(), "wrong type"),
    (json.dumps({"version": STATE_VERSION, "files": [{"path": "x"}]}).encode(),
     "files[0] has no 'kind'"),
    (json.dumps({"version": STATE_VERSION, "files": [
        {"path": "x", "kind": "text", "dev": 1, "ino": "2", "fingerprint": None,
         "size": 0, "mtime": 0}]}).encode(), "files[0].ino is '2'"),
])
def test_a_damaged_state_file_is_a_state_error(state_file: Path, content: bytes,
                                               why: str) -> None:
    state_file.write_bytes(content)
    with pytest.raises(StateError) as e:
        AuditState.load(str(state_file))
    assert str(state_file) in str(e.value) and why in str(e.value)
    assert e.value.path == str(state_file)


def test_a_missing_or_empty_state_file_is_a_first_run(tmp_path: Path,
                                                      state_file: Path) -> None:
    assert AuditState.load(str(state_file)).carried == {}
    state_file.write_bytes(b"")
    log = tmp_path / "mail.log"
    shutil.copy(EXIM, log)
    assert AuditState.load(str(state_file)).plan([str(log)])[0].whole


def test_an_unreadable_state_file_is_a_state_error(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="cannot read the state file"):
        AuditState.load(str(tmp_path))  # a directory


def test_save_is_atomic(tmp_path: Path, state_file: Path,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "mail.log"
    shutil.copy(POSTFIX, log)
    Run(state_file, [log])
    before = state_file.read_bytes()
    with log.open("ab") as f:
        f.write(postfix_session(901, "10.0.0.1"))
    state = AuditState.load(str(state_file))
    plan = state.plan([str(log)])[0]
    list(analyze_file(str(log), span=plan.span))
    state.done(plan, plan.span)

    def fail(fd: int) -> None:  # the disk fills up in the middle of writing
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(StateError, match="No space left on device") as e:
        state.save()
    assert str(state_file) in str(e.value) and "previous state is kept" in str(e.value)
    assert state_file.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.state", "mail.log"]
    monkeypatch.undo()
    state.save()
    assert state_file.read_bytes() != before
    assert json.loads(state_file.read_text())["version"] == STATE_VERSION


def test_carried_data_round_trips(state_file: Path) -> None:
    state = AuditState.load(str(state_file))
    state.carried = {"windows": [{"client": "192.0.2.1", "fails": [1.5, 2.5]}], "n": 3}
    state.save()
    assert AuditState.load(str(state_file)).carried == state.carried
    state.carried = {"bad": {1, 2}}
    with pytest.raises(StateError, match="not JSON"):
        state.save()
    assert AuditState.load(str(state_file)).carried["n"] == 3


def test_done_on_a_skipped_or_unplanned_file_changes_nothing(tmp_path: Path,
                                                             state_file: Path) -> None:
    log = tmp_path / "mail.log"
    shutil.copy(EXIM, log)
    Run(state_file, [log])
    state = AuditState.load(str(state_file))
    skipped = state.plan([str(log)])[0]
    assert skipped.skip
    state.done(skipped, None)
    state.done(Planned(str(tmp_path / "other.log"), Span()), Span())
    state.save()
    rows = json.loads(state_file.read_text())["files"]
    assert [(r["path"], r["line"]) for r in rows] == [(str(log), lines_of(EXIM))]
