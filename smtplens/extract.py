"""Writing messages to disk as ``.eml`` files while they stream (``--extract DIR``)."""

from __future__ import annotations

import re
from pathlib import Path

from smtplens.builder import MessageSink
from smtplens.model import Session

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str, limit: int = 60) -> str:
    """A file-name-safe version of ``text`` (no separators, no leading dots)."""
    cleaned = _UNSAFE.sub("_", text).strip("._") or "x"
    return cleaned[:limit]


class EmlWriter:
    """A sink factory: one file per message, ``<source>-<session>-<n>.eml``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def __call__(self, session: Session, number: int) -> MessageSink | None:
        stem = safe_name(Path(session.source).name or "stdin")
        path = self.directory / f"{stem}-{safe_name(session.id)}-{number}.eml"
        return path.open("wb")
