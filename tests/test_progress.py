"""The progress bar of long runs, and the position it shows."""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from smtplens import progress
from smtplens.analysis import analyze_file
from smtplens.cli import app, progressbar
from smtplens.cli.progressbar import ProgressBar
from smtplens.sources.textfile import open_binary
from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_pcap import write_capture


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("progress") / "gen.pcap"
    write_capture(str(path), 1, seed=5, sizes=(2_000, 20_000), at_once=8)
    return path


def test_position_of_a_plain_and_a_compressed_file(tmp_path: Path) -> None:
    plain = tmp_path / "a.bin"
    plain.write_bytes(bytes(300_000))
    with open_binary(str(plain)) as f:
        f.read(100_000)
        assert 100_000 <= progress.position() <= 300_000
    packed = tmp_path / "a.bin.gz"
    packed.write_bytes(gzip.compress(bytes(range(256)) * 4000, 1))
    with open_binary(str(packed)) as f:
        f.read(500_000)
        # the position is in the compressed bytes, so it compares with the file's size
        assert 0 < progress.position() <= packed.stat().st_size
    progress.reset()
    assert progress.position() == 0
    progress.reached(1234)  # what a worker said
    assert progress.position() == 1234


def test_the_bar_shows_bytes_sessions_and_findings(capture: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progressbar, "SHOW_AFTER", 0.0)
    monkeypatch.setattr(progressbar, "EVERY", 0.0)
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120, color_system=None)
    with ProgressBar([str(capture)], enabled=True, console=console) as bar:
        bar.start(str(capture))
        for session in analyze_file(str(capture), jobs=1):
            bar.tick(len(session.findings))
        shown = screen.getvalue()
    size_mb = f"{capture.stat().st_size / 1e6:.1f} MB"
    assert f"{bar.sessions} sessions" in shown and bar.sessions > 10
    assert f"{bar.findings} findings" in shown
    assert size_mb in shown and "gen.pcap" in shown


def test_file_names_reach_the_bar_escaped(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progressbar, "SHOW_AFTER", 0.0)
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120, color_system=None)
    name = str(tmp_path / "evil\x1b]0;owned\x07[bold]x.pcap")
    with ProgressBar([name], enabled=True, console=console) as bar:
        bar.start(name)
        bar.tick()
    shown = screen.getvalue()
    assert "\x1b]0;" not in shown and "\x07" not in shown
    assert "\\x1b]0;owned\\x07[bold]x" in shown  # and not taken for rich markup


def test_nothing_when_not_on_a_terminal(capture: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progressbar, "SHOW_AFTER", 0.0)
    result = CliRunner().invoke(app, ["analyze", "--fail-on", "never", "-j1", str(capture)])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert not progressbar.wanted()


def test_short_runs_show_nothing(capture: Path) -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120)
    with ProgressBar([str(capture)], enabled=True, console=console) as bar:
        bar.start(str(capture))
        bar.tick()  # well within SHOW_AFTER
    assert screen.getvalue() == ""


def test_load_shows_the_bar_when_asked(capture: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    import smtplens

    screen = io.StringIO()

    class OnScreen(ProgressBar):
        def __init__(self, paths: list[str], enabled: bool | None = None) -> None:
            super().__init__(paths, enabled, Console(file=screen, force_terminal=True,
                                                     width=120, color_system=None))

    monkeypatch.setattr(progressbar, "SHOW_AFTER", 0.0)
    monkeypatch.setattr(progressbar, "EVERY", 0.0)
    monkeypatch.setattr(progressbar, "ProgressBar", OnScreen)
    frames = smtplens.load(str(capture), jobs=1, progress=True)
    assert f"{len(frames.sessions)} sessions" in screen.getvalue()
    screen.truncate(0)
    smtplens.load(str(capture), jobs=1)  # stderr is not a terminal here: no bar
    assert screen.getvalue() == "" and capsys.readouterr().err == ""


def test_the_package_load_takes_the_frames_options() -> None:
    import inspect

    import smtplens
    from smtplens import frames

    ours = inspect.signature(smtplens.load).parameters
    theirs = inspect.signature(frames.load).parameters
    assert list(ours) == list(theirs)
    assert {k: p.default for k, p in ours.items()} == {k: p.default for k, p in theirs.items()}


def test_workers_send_how_far_they_read(capture: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from smtplens import analysis

    monkeypatch.setattr(analysis, "PARALLEL_MIN_BYTES", 0)
    progress.reset()
    seen = []
    for _ in analysis.analyze_file(str(capture), jobs=2):
        seen.append(progress.position())
    assert seen == sorted(seen) and seen[-1] == capture.stat().st_size
