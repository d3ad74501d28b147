"""Opening a capture: a path or stdin, plain or gzip/bzip2/xz (one opener for every input,
:func:`smtplens.sources.textfile.open_binary`), and what to say of a file that is none."""

from __future__ import annotations

import io
from typing import cast

from smtplens.sources.textfile import READ_ERRORS, open_binary

__all__ = ["READ_ERRORS", "describe", "open_capture"]



def open_capture(path: str) -> io.BufferedIOBase:
    """Open ``path`` (``-`` is stdin) and undo gzip/bzip2/xz compression."""
    return cast(io.BufferedIOBase, open_binary(path))


def describe(head: bytes) -> str:
    """The first bytes of a file that is not a capture, for the error message."""
    if not head:
        return "the file is empty"
    text = head[:8].hex(" ")
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head[:16]):  # a text file
        return f"starts with {text} {head[:16].decode('ascii')!r}"
    return f"starts with {text}"
