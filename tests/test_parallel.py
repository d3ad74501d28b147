"""Several processes on one capture give what one process gives."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from smtplens import analysis, parallel
from smtplens.analysis import Problem, analyze_file
from smtplens.cli import app
from smtplens.model import Session
from smtplens.report import CSV_FIELDS, session_dict
from smtplens.sources.pcap.flows import reverse_key, shard_of
from tests.helpers import CORPUS, ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_pcap import write_capture

CAPTURES = sorted(
    str(p.relative_to(CORPUS)) for p in (CORPUS / "pcap").rglob("*")
    if p.is_file() and p.suffix in (".pcap", ".pcapng", ".cap", ".gz")
) if CORPUS.is_dir() else []


@pytest.fixture(autouse=True)
def small_captures_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers for captures of any size (these are all small)."""
    monkeypatch.setattr(analysis, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(analysis, "SPAWNED_MIN_BYTES", 0)


def _run(path: str, jobs: int) -> tuple[list[Session], list[Problem]]:
    problems: list[Problem] = []
    sessions = list(analyze_file(path, jobs=jobs, on_problem=problems.append))
    return sessions, problems


def _dicts(sessions: list[Session]) -> list[dict[str, Any]]:
    return sorted((session_dict(s, reveal=True) for s in sessions), key=lambda d: d["id"])


def _same(path: str, jobs: int) -> list[Session]:
    one, one_problems = _run(path, 1)
    many, many_problems = _run(path, jobs)
    assert _dicts(many) == _dicts(one)
    assert many_problems == one_problems
    return many


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The benchmark's capture, small: interleaved sessions, AUTH, retransmissions."""
    path = tmp_path_factory.mktemp("parallel") / "gen.pcap"
    write_capture(str(path), 2, seed=3, sizes=(2_000, 20_000, 80_000), at_once=12)
    return str(path)


@pytest.mark.parametrize("jobs", [2, 3])
def test_generated_capture(generated: str, jobs: int) -> None:
    sessions = _same(generated, jobs)
    # ids in the order the connections opened, as one process numbers them
    assert sorted(int(s.id[1:]) for s in sessions) == list(range(1, len(sessions) + 1))
    assert len(sessions) > 20
    # and the same order every time
    assert [s.id for s in _run(generated, jobs)[0]] == [s.id for s in sessions]


@pytest.mark.parametrize("name", CAPTURES)
def test_corpus_capture(name: str, corpus: Path) -> None:
    _same(str(corpus / name), 2)


def test_damage_is_reported_once_and_what_came_before_is_kept(generated: str,
                                                               tmp_path: Path) -> None:
    data = Path(generated).read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:len(data) * 2 // 3] + b"\xff" * 7)
    sessions = _same(str(cut), 2)
    assert sessions
    problems = _run(str(cut), 2)[1]
    assert [p.code for p in problems] == ["input.truncated"]


def test_compressed_capture(generated: str, tmp_path: Path) -> None:
    packed = tmp_path / "gen.pcap.gz"
    packed.write_bytes(gzip.compress(Path(generated).read_bytes(), 1))
    assert len(_same(str(packed), 2)) > 20


def test_a_failing_worker_is_an_error_not_a_hang(generated: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("boom")

    monkeypatch.setattr(parallel, "analyze_stream", broken)  # workers fork with it
    with pytest.raises(parallel.WorkerError, match="failed: ValueError: boom"):
        list(analyze_file(generated, jobs=2))


def test_shards_are_the_same_for_both_directions() -> None:
    key = bytes([10, 0, 0, 1, 192, 0, 2, 25]) + (40000).to_bytes(2, "big") + b"\x00\x19"
    for count in (2, 3, 8):
        assert shard_of(key, count) == shard_of(reverse_key(key), count)
    six = bytes(range(32)) + b"\x9c\x40\x00\x19"
    assert shard_of(six, 5) == shard_of(reverse_key(six), 5)


def test_when_to_use_workers(generated: str, monkeypatch: pytest.MonkeyPatch,
                             tmp_path: Path) -> None:
    calls: list[int] = []
    real = parallel.analyze_capture

    def spy(path: str, jobs: int, render: Any, **kwargs: Any) -> Any:
        calls.append(jobs)
        return real(path, jobs, render, **kwargs)

    monkeypatch.setattr(parallel, "analyze_capture", spy)
    monkeypatch.setattr(analysis, "PARALLEL_MIN_BYTES", 32 << 20)
    list(analyze_file(generated, jobs=2))
    assert calls == []  # smaller than PARALLEL_MIN_BYTES
    monkeypatch.setattr(analysis, "PARALLEL_MIN_BYTES", 0)
    list(analyze_file(generated, jobs=2))
    list(analyze_file(generated, jobs=1))
    list(analyze_file(generated, jobs=2, sink_factory=lambda s, n: None))  # names: one process
    list(analyze_file(str(ROOT / "samples" / "auth-login.txt"), jobs=2))  # not a capture
    assert calls == [2]
    assert analysis.default_jobs() >= 1


def test_cli_jobs(generated: str) -> None:
    runner = CliRunner()
    outs = []
    for jobs in ("1", "2"):
        result = runner.invoke(app, ["analyze", "--fail-on", "never", "-f", "json", "-j", jobs,
                                     generated])
        assert result.exit_code == 0, result.output
        outs.append(result.stdout)
    import json

    one, two = (json.loads(o) for o in outs)
    assert sorted(two["sessions"], key=lambda d: d["id"]) == \
        sorted(one["sessions"], key=lambda d: d["id"])
    assert two["summary"] == one["summary"]
    bad = runner.invoke(app, ["analyze", "-j", "0", generated])
    assert bad.exit_code == 2


def test_spawned_workers_when_threads_run(generated: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # fork copies one thread of many (a lock another thread holds stays locked): with
    # threads about, workers start as fresh interpreters instead
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 2)
    assert parallel.start_method() == "spawn"
    _same(generated, 2)


def test_spawned_workers_only_for_a_larger_capture(generated: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # a fresh interpreter per worker costs half a second: it takes a larger capture
    size = Path(generated).stat().st_size
    monkeypatch.setattr(analysis, "SPAWNED_MIN_BYTES", size + 1)
    assert analysis.worth_sharding(generated, 2)
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 2)
    assert not analysis.worth_sharding(generated, 2)
    monkeypatch.setattr(analysis, "SPAWNED_MIN_BYTES", size)
    assert analysis.worth_sharding(generated, 2)


@pytest.mark.parametrize("fmt", ["text", "jsonl", "csv"])
def test_cli_output_made_in_the_workers_is_what_one_process_writes(generated: str,
                                                                    fmt: str) -> None:
    runner = CliRunner()
    outs = []
    for jobs in ("1", "2"):
        result = runner.invoke(app, ["analyze", "--fail-on", "never", "-f", fmt, "-j", jobs,
                                     generated])
        assert result.exit_code == 0, result.output
        outs.append(result.stdout)
    one = outs[0]
    assert len(one) > 1000
    if fmt == "text":  # session blocks, then the summary (the same, and last)
        blocks = [o.split("\n\n") for o in outs]
        assert sorted(blocks[0]) == sorted(blocks[1])
        assert blocks[0][-1] == blocks[1][-1] and "What the findings mean" in one
    else:
        lines = [o.splitlines() for o in outs]
        if fmt == "csv":
            assert lines[0][0] == lines[1][0] == ",".join(CSV_FIELDS)
        assert sorted(lines[0]) == sorted(lines[1])


def test_show_in_the_workers(generated: str) -> None:
    runner = CliRunner()
    every = [runner.invoke(app, ["show", "-j", jobs, generated]).stdout for jobs in ("1", "2")]
    assert sorted(every[0].split("\n\n")) == sorted(every[1].split("\n\n"))
    one = runner.invoke(app, ["show", "-j", "2", "-s", "C7", generated])
    assert one.exit_code == 0
    assert one.stdout.startswith("Session C7") and "Session C8" not in one.stdout
