"""Opening text inputs (plain, .gz, .bz2, .xz) and the plug-in shape of text formats.

A text format is a small object with a ``name``, a ``sniff`` that scores the first
lines of a file, and a ``parse`` that turns numbered lines into stream items. Formats
never open files themselves; :func:`read_lines` does that for all of them.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Protocol, cast

from smtplens.errors import InputError
from smtplens.stream import StreamItem

#: lines longer than this are cut (and reported) so a junk file cannot exhaust memory
MAX_LINE = 1 << 20

def _decompressed(head: bytes, raw: IO[bytes]) -> IO[bytes]:
    """``raw`` itself, or a decompressing reader when ``head`` is a known magic."""
    if head.startswith(b"\x1f\x8b"):
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw))
    if head.startswith(b"BZh"):
        return cast(IO[bytes], bz2.BZ2File(raw))
    if head.startswith(b"\xfd7zXZ\x00"):
        return cast(IO[bytes], lzma.LZMAFile(raw))
    return raw


class TextFormat(Protocol):
    """A text transcript or log format."""

    name: str  #: short name used by ``--format``
    description: str  #: one line for ``--help`` and error messages

    def sniff(self, head: list[str]) -> int:
        """Score 0-100: how sure the format is that these first lines are its own."""
        ...

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        """Turn ``(line_number, text)`` pairs (text without its newline) into items."""
        ...


def open_binary(path: str) -> IO[bytes]:
    """Open ``path`` (``-`` is stdin), transparently decompressing gzip, bzip2 and xz."""
    import sys

    try:
        raw: io.BufferedReader = (sys.stdin.buffer if path == "-"  # type: ignore[assignment]
                                  else open(path, "rb"))  # noqa: SIM115
    except OSError as e:
        raise InputError(e.strerror or str(e), source=path) from e
    return _decompressed(raw.peek(6)[:6], raw)


def read_lines(path: str, on_cut: Callable[[int, int], None] | None = None,
               ) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for a text file; bytes that are not UTF-8 survive
    as surrogate escapes (``text.encode("utf-8", "surrogateescape")`` gives them back).

    A line longer than :data:`MAX_LINE` is cut there (its rest is read and dropped, so
    memory stays bounded) and ``on_cut(line_number, length)`` is told.
    """
    with open_binary(path) as fh:
        number = 0
        try:
            while raw := fh.readline(MAX_LINE + 1):
                number += 1
                if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
                    length = len(raw)
                    while (rest := fh.readline(MAX_LINE)) and not rest.endswith(b"\n"):
                        length += len(rest)
                    length += len(rest)
                    raw = raw[:MAX_LINE]
                    if on_cut is not None:
                        on_cut(number, length)
                yield number, raw.decode("utf-8", "surrogateescape").rstrip("\r\n")
        except (OSError, EOFError, lzma.LZMAError, ValueError) as e:
            raise InputError(f"cannot read further: {e}", source=path,
                             location=f"after line {number}") from e


def to_wire(text: str) -> bytes:
    """Text read by :func:`read_lines` back to the original bytes."""
    return text.encode("utf-8", "surrogateescape")
