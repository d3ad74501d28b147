"""Test helpers: run transcripts through the whole pipeline."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from smtplens.analysis import analyze_stream
from smtplens.model import Session
from smtplens.sources.transcript import CSTranscript
from smtplens.stream import StreamItem

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
SAMPLES = ROOT / "samples"


def transcript_items(text: str) -> list[StreamItem]:
    lines = textwrap.dedent(text).strip("\n").splitlines()
    return list(CSTranscript().parse(enumerate(lines, 1), "test"))


def sessions_of(text: str) -> list[Session]:
    return list(analyze_stream(transcript_items(text)))


def session_of(text: str) -> Session:
    found = sessions_of(text)
    assert len(found) == 1, found
    return found[0]


def ids(session: Session) -> set[str]:
    return {f.id for f in session.findings}


def need_corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is absent (a clone outside the smtplens workplace)")
    return CORPUS
