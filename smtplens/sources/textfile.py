"""Opening text inputs (plain, .gz, .bz2, .xz) and the plug-in shape of text formats.

A text format is a small object with a ``name``, a ``sniff`` that scores the first
lines of a file, and a ``parse`` that turns numbered lines into stream items. Formats
never open files themselves; :func:`read_lines` does that for all of them, the whole
file or a :class:`Span` of it (``smtplens audit --state``: only what was appended).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
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


#: bytes read at a time when a span's start is skipped on an input that cannot seek
_SKIP_BLOCK = 1 << 20


@dataclass(slots=True)
class Span:
    """A part of a text input to read, and how far reading it got.

    Offsets count bytes of the text itself (decompressed, for .gz/.bz2/.xz); ``start``
    must be the start of a line (an earlier span's :attr:`reached`). With a ``stop``,
    a line is read only when its newline is before ``stop``: the last line of a log
    being written may be incomplete, and is left for the next span, which starts at
    ``reached``.
    """

    start: int = 0  #: offset of the first line to read
    stop: int | None = None  #: read no line that ends after this offset (None: to the end)
    first_line: int = 1  #: the number of the line at ``start``
    #: filled in while reading: the offset just after the last line read
    reached: int = field(default=0, init=False)
    #: filled in while reading: the number of the last line read (``first_line - 1``: none)
    last_line: int = field(default=0, init=False)
    #: filled in while reading: the reader got to ``stop`` or to the end of the input
    ended: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.reached = self.start
        self.last_line = self.first_line - 1


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


def is_compressed(path: str) -> bool:
    """Whether ``path`` starts like a gzip, bzip2 or xz file (``-``: not looked at)."""
    if path == "-":
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(6)
    except OSError as e:
        raise InputError(e.strerror or str(e), source=path) from e
    return any(head.startswith(magic) for magic in _OPENERS)


def read_lines(path: str, on_cut: Callable[[int, int], None] | None = None,
               span: Span | None = None) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for a text file; bytes that are not UTF-8 survive
    as surrogate escapes (``text.encode("utf-8", "surrogateescape")`` gives them back).

    A line longer than :data:`MAX_LINE` is cut there (its rest is read and dropped, so
    memory stays bounded) and ``on_cut(line_number, length)`` is told.

    With a ``span``, reading starts at ``span.start`` (a plain file seeks there, a
    compressed one is read up to it), lines are numbered from ``span.first_line``,
    no line ending after ``span.stop`` is read, and ``span.reached`` and
    ``span.last_line`` follow each line as it is yielded.
    """
    span = Span() if span is None else span
    stop = span.stop
    limit = MAX_LINE + 1
    with open_binary(path) as fh:
        number = span.first_line - 1
        try:
            pos = _skip_to(fh, span.start)
            span.reached, span.last_line = pos, number
            while True:
                if stop is not None and stop - pos < limit:
                    raw = fh.readline(stop - pos) if stop > pos else b""
                    if not raw.endswith(b"\n"):
                        break  # the writer may be in the middle of this line: the next span's
                else:
                    raw = fh.readline(limit)
                    if not raw:
                        break
                length = len(raw)
                if length > MAX_LINE and not raw.endswith(b"\n"):
                    length = _rest_of_line(fh, length, None if stop is None else stop - pos)
                    if length < 0:
                        break  # a long last line that is not complete yet
                    raw = raw[:MAX_LINE]
                    if on_cut is not None:
                        on_cut(number + 1, length)
                elif stop is not None and not raw.endswith(b"\n"):
                    break  # the end of the input before ``stop``, inside a line
                number += 1
                pos += length
                span.reached, span.last_line = pos, number
                yield number, raw.decode("utf-8", "surrogateescape").rstrip("\r\n")
        except READ_ERRORS as e:
            raise InputError(f"cannot read further: {e}", source=path,
                             location=f"after line {number}") from e
        span.ended = True


def _rest_of_line(fh: IO[bytes], length: int, left: int | None) -> int:
    """Read and drop the rest of a line of which ``length`` octets were read; its whole
    length, or -1 when ``left`` octets (None: no bound) end before its newline."""
    while left is None or length < left:
        rest = fh.readline(MAX_LINE if left is None else min(MAX_LINE, left - length))
        length += len(rest)
        if rest.endswith(b"\n"):
            return length
        if not rest:
            break
    return -1 if left is not None else length


def _skip_to(fh: IO[bytes], start: int) -> int:
    """Move ``fh`` to ``start`` (or its end, if shorter); the offset it is at."""
    if start <= 0:
        return 0
    if fh.seekable():  # a decompressor seeks forward by reading, which is what it needs
        return fh.seek(start)
    done = 0
    while done < start and (block := fh.read(min(_SKIP_BLOCK, start - done))):
        done += len(block)
    return done


def to_wire(text: str) -> bytes:
    """Text read by :func:`read_lines` back to the original bytes."""
    return text.encode("utf-8", "surrogateescape")
