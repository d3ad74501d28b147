"""The pandas API: typed frames, latency, redaction, problems kept."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import smtplens
from tests.helpers import SAMPLES


def test_load_gives_typed_frames() -> None:
    frames = smtplens.load([str(SAMPLES / "auth-login.txt"), str(SAMPLES / "smuggling.txt")])
    assert list(frames.sessions["session"]) == ["T1", "T1"]
    assert str(frames.sessions["start"].dtype) == "datetime64[ns, UTC]"
    assert frames.auth.loc[0, "user"] == "alice" and frames.auth.loc[0, "outcome"] == "success"
    assert frames.commands["latency_ms"].dtype == pd.Float64Dtype()
    assert (frames.commands["latency_ms"].dropna() >= 0).all()
    assert set(frames.findings["id"]) >= {"auth.cleartext", "data.smuggling-sequence"}
    assert frames.messages.loc[0, "subject"] == "Quarterly report"


def test_frames_redact_unless_revealed() -> None:
    hidden = smtplens.load(str(SAMPLES / "auth-login.txt"))
    shown = smtplens.load(str(SAMPLES / "auth-login.txt"), reveal=True)
    assert not hidden.commands["text"].str.contains("czNjcmV0IQ==").any()
    assert shown.commands["text"].str.contains("czNjcmV0IQ==").any()


def test_problems_are_kept(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("nothing smtp here\n")
    frames = smtplens.load([str(bad), str(SAMPLES / "smuggling.txt")])
    assert len(frames.sessions) == 1
    assert len(frames.problems) == 1
    problem = frames.problems.iloc[0]
    assert problem["source"].endswith("bad.txt") and problem["fatal"]
    assert "no SMTP transcript" in problem["message"]


def test_wire_bytes_that_are_not_utf8_survive_with_pyarrow_installed() -> None:
    # pandas 3 stores str in pyarrow once pyarrow is installed (audit --parquet needs
    # it), and pyarrow refuses the surrogate escapes that carry non-UTF-8 wire bytes
    from smtplens.frames import to_frames
    from tests.helpers import session_of

    s = session_of("S: 220 mx\nC: EHLO \udcff\udcfe.example\nS: 250 ok\n"
                   "C: X\udcffVERB\nS: 500 unknown\n")
    frames = to_frames([s])
    assert frames.sessions["helo"].iloc[0] == "\udcff\udcfe.example"
    assert "X\udcffVERB" in set(frames.commands["verb"].astype(object))
    assert str(frames.commands["verb"].dtype) == "category"
