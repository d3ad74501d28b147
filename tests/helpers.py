"""Test helpers: run transcripts through the whole pipeline."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from smtplens.analysis import analyze_stream
from smtplens.model import Session
from smtplens.sources.transcript import CSTranscript
from smtplens.stream import Data, Direction, Opened, StreamItem

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


# -- stream items, for the source tests -------------------------------------------------

def opened(items: list[StreamItem]) -> list[Opened]:
    """The connections a source announced, in order."""
    return [i for i in items if isinstance(i, Opened)]


def side_lines(items: list[StreamItem], direction: Direction) -> list[bytes]:
    """One side's bytes, split into CRLF-terminated lines (the endings dropped)."""
    data = b"".join(i.data for i in items if isinstance(i, Data) and i.direction is direction)
    return data.split(b"\r\n")[:-1]


def by_id(items: list[StreamItem]) -> dict[str, Session]:
    """The analyzed sessions of some items, by id."""
    return {s.id: s for s in analyze_stream(items)}


def verbs(session: Session) -> list[tuple[str, int | None]]:
    """(verb, reply code) of every client item of a session."""
    return [(e.verb, e.reply_code) for e in session.exchanges]
