"""Damaged versions of real inputs: never an exception, whatever the damage."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from smtplens.analysis import Problem, analyze_file
from tests.helpers import CORPUS

FILES = sorted(p for p in (CORPUS / "pcap").rglob("*.pcap*") if p.suffix != ".out") + sorted(
    p for p in (CORPUS / "logs").rglob("*") if p.is_file() and p.suffix != ".json"
)[::7] if CORPUS.is_dir() else []


@pytest.mark.parametrize("seed", range(12))
def test_mutated_corpus_files_never_raise(seed: int, tmp_path: Path, corpus: Path) -> None:
    rnd = random.Random(seed)
    for n in range(25):
        source = rnd.choice(FILES)
        data = bytearray(source.read_bytes())
        for _ in range(rnd.randint(1, 20)):
            if data:
                data[rnd.randrange(len(data))] = rnd.randrange(256)
        if rnd.random() < 0.3 and data:
            del data[rnd.randrange(len(data)):]
        path = tmp_path / f"{n}{source.suffix}"
        path.write_bytes(bytes(data))
        problems: list[Problem] = []
        list(analyze_file(str(path), on_problem=problems.append))
        assert all(str(path) in str(p) or p.source == str(path) for p in problems)
