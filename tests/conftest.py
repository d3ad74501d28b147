"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import need_corpus


@pytest.fixture
def corpus() -> Path:
    return need_corpus()
