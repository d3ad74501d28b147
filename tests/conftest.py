"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import need_corpus


@pytest.fixture
def corpus() -> Path:
    return need_corpus()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The in-process Dask tests last: dask.distributed leaves threads running in this
    process (its IO loop, offload executor), and with threads running smtplens starts
    workers by spawn, not fork (parallel.start_method), which other tests look at."""
    items.sort(key=lambda item: item.path.name == "test_audit_dask.py")


@pytest.fixture(autouse=True)
def _english_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests expect English unless they ask for another language: a developer's
    SMTPLENS_LANG must not change what the views print (subprocesses inherit this)."""
    monkeypatch.delenv("SMTPLENS_LANG", raising=False)
