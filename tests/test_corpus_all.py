"""Every file of ../shared/corpus goes through the whole analysis without an exception."""

from __future__ import annotations

from pathlib import Path

import pytest

from smtplens.analysis import Problem, analyze_file
from tests.helpers import CORPUS

SKIP_SUFFIXES = {".out", ".test", ".txt", ".json", ".md", ".cut"}
FILES = sorted(
    str(p.relative_to(CORPUS)) for p in (CORPUS / "pcap").rglob("*")
    if p.is_file() and p.suffix not in SKIP_SUFFIXES
) + sorted(
    str(p.relative_to(CORPUS)) for p in (CORPUS / "logs").rglob("*")
    if p.is_file() and p.suffix != ".json"
) if CORPUS.is_dir() else []


@pytest.mark.parametrize("name", FILES)
def test_corpus_file_is_analyzed(name: str, corpus: Path) -> None:
    problems: list[Problem] = []
    sessions = list(analyze_file(str(corpus / name), on_problem=problems.append))
    assert sessions or problems, f"{name}: no session and no explanation"
    for p in problems:  # every problem names the file
        assert name.split("/")[-1] in str(p)
