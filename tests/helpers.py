"""Test helpers: run transcripts through the whole pipeline."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from pathlib import Path

import pytest

from smtplens.analysis import analyze_stream
from smtplens.model import Session
from smtplens.sources.textfile import TextFormat, read_lines
from smtplens.sources.transcript import CSTranscript
from smtplens.stream import Closed, Data, Direction, Notice, Opened, Skipped, StreamItem

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
SAMPLES = ROOT / "samples"


def transcript_items(text: str) -> list[StreamItem]:
    lines = textwrap.dedent(text).strip("\n").splitlines()
    return list(CSTranscript().parse(enumerate(lines, 1), "test"))


def parse_inline(fmt: TextFormat, text: str, source: str = "inline") -> list[StreamItem]:
    """The items ``fmt`` makes of some lines written in a test."""
    return list(fmt.parse(enumerate(text.strip("\n").splitlines(), 1), source))


def parse_file(fmt: TextFormat, path: Path | str) -> list[StreamItem]:
    """The items ``fmt`` makes of a whole file (a sample)."""
    return list(fmt.parse(read_lines(str(path)), str(path)))


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


def command_lines(items: list[StreamItem]) -> list[bytes]:
    """Client lines outside message bodies (a body runs from a 354 to its '.', or to a
    Skipped item when the log left it out)."""
    out: list[bytes] = []
    in_body = False
    for item in items:
        if isinstance(item, Skipped):
            in_body = False
        if not isinstance(item, Data):
            continue
        for line in item.data.split(b"\r\n")[:-1] or [item.data]:
            if item.direction is Direction.SERVER:
                in_body = line.startswith(b"354")
            elif in_body:
                in_body = line != b"."
            else:
                out.append(line)
    return out


def command_verbs(items: list[StreamItem]) -> list[str]:
    return [c.split(b" ")[0].decode(errors="replace").upper() for c in command_lines(items)]


def reply_codes(items: list[StreamItem]) -> list[int]:
    """The code of the final line of each server reply."""
    return [int(x[:3]) for x in side_lines(items, Direction.SERVER) if x[3:4] != b"-"]


def assert_well_nested(items: Iterable[StreamItem]) -> None:
    """Every connection opens once before its items, and closes once, by the end."""
    open_ids: set[str] = set()
    for item in items:
        if isinstance(item, Opened):
            assert item.conn_id not in open_ids
            open_ids.add(item.conn_id)
        elif isinstance(item, Closed):
            open_ids.remove(item.conn_id)
        elif not isinstance(item, Notice) or item.conn_id:
            assert getattr(item, "conn_id", None) in open_ids
    assert not open_ids


# -- every view of some sessions, as one text --------------------------------------------

def render_views(sessions: list[Session], reveal: bool = False) -> str:
    """What every view shows of ``sessions``: the ``analyze`` text, the ``show``
    conversation, JSON, CSV and every DataFrame (as CSV), joined into one text."""
    import io
    import json

    from rich.console import Console

    from smtplens.cli.text import print_conversation, print_session
    from smtplens.frames import to_frames
    from smtplens.report import findings_csv, session_dict

    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None, highlight=False)
    for s in sessions:
        print_session(console, s, reveal)
        print_conversation(console, s, reveal)
        out.write(json.dumps(session_dict(s, reveal), ensure_ascii=False))
    out.write(findings_csv(sessions))
    frames = to_frames(sessions, reveal)
    for name in ("sessions", "commands", "auth", "messages", "findings"):
        out.write(getattr(frames, name).to_csv())
    return out.getvalue()
