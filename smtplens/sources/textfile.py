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
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any, Protocol, cast

from smtplens import progress
from smtplens.errors import InputError
from smtplens.stream import StreamItem

#: lines longer than this are cut (and reported) so a junk file cannot exhaust memory
MAX_LINE = 1 << 20

#: what a broken compressed stream raises while being read
READ_ERRORS = (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error)
#: first bytes of a compressed file -> the module's ``open`` (gzip RFC 1952, bzip2, xz)
_OPENERS: dict[bytes, Callable[..., Any]] = {
    b"\x1f\x8b": gzip.open, b"BZh": bz2.open, b"\xfd7zXZ\x00": lzma.open}


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
    """Open ``path`` (``-`` is stdin), transparently decompressing gzip, bzip2 and xz.

    A decompressor opens the file itself, so closing it closes the file (one wrapped
    around an open file object would leave that open).
    """
    try:
        raw = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
        # peek() needs a BufferedReader (a pipe on stdin may be something else)
        buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(
            cast(io.RawIOBase, raw))
        head = buffered.peek(6)[:6]
        for magic, opener in _OPENERS.items():
            if head.startswith(magic):
                if path == "-":
                    return cast(IO[bytes], opener(buffered, "rb"))  # stdin stays open
                buffered.close()
                unpacked = cast(IO[bytes], opener(path, "rb"))
                progress.track(unpacked)
                return unpacked
    except OSError as e:
        raise InputError(e.strerror or str(e), source=path) from e
    progress.track(buffered)
    return buffered


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
        except READ_ERRORS as e:
            raise InputError(f"cannot read further: {e}", source=path,
                             location=f"after line {number}") from e


def to_wire(text: str) -> bytes:
    """Text read by :func:`read_lines` back to the original bytes."""
    return text.encode("utf-8", "surrogateescape")
