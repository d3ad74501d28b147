"""Sources: turn input files into stream items (see :mod:`smtplens.stream`).

:func:`read_source` picks the reader for a file: packet captures by their magic
number, text transcripts and logs by sniffing their first lines (or by ``fmt``).
"""

from __future__ import annotations

import dataclasses
import itertools
import shutil
import sys
import tempfile
from collections.abc import Iterator

from smtplens.errors import InputError, UnknownFormatError
from smtplens.sources.textfile import MAX_LINE, TextFormat, open_binary, read_lines
from smtplens.sources.transcript import CSTranscript
from smtplens.stream import Notice, Opened, StreamItem

CAPTURE_MAGICS = (
    b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4",  # pcap, microseconds
    b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d",  # pcap, nanoseconds
    b"\x0a\x0d\x0d\x0a",  # pcapng section header block
)
SNIFF_LINES = 400
MIN_SCORE = 30


def text_formats() -> list[TextFormat]:
    """Every text format, most specific first (the C:/S: format is the fallback)."""
    from smtplens.sources.logs import FORMATS

    return [*FORMATS, CSTranscript()]


def format_names() -> list[str]:
    return ["pcap", *(f.name for f in text_formats())]


def is_capture(path: str) -> bool:
    if path == "-":
        return False
    with open_binary(path) as fh:
        return fh.read(4) in CAPTURE_MAGICS


def detect_text_format(path: str) -> TextFormat:
    """The text format whose sniffer scores the file's first lines best."""
    head = [text for _, text in itertools.islice(read_lines(path), SNIFF_LINES)]
    if not any(line.strip() for line in head):
        raise UnknownFormatError("the file is empty", source=path)
    scored = sorted(((f.sniff(head), i, f) for i, f in enumerate(text_formats())),
                    key=lambda t: (-t[0], t[1]))
    best_score, _, best = scored[0]
    if best_score < MIN_SCORE:
        names = ", ".join(format_names())
        raise UnknownFormatError(f"no SMTP transcript found; looked for formats: {names}",
                                 source=path)
    return best


def read_source(path: str, fmt: str | None = None,
                ports: frozenset[int] | None = None) -> Iterator[StreamItem]:
    """Stream items of one input file, picking the reader by content or ``fmt``.

    Standard input (``-``) is spooled to a temporary file first (in 1 MiB blocks, so
    memory stays flat), because detection reads the start of the input twice.
    """
    if path == "-":
        with tempfile.NamedTemporaryFile(prefix="smtplens-stdin-") as spool:
            shutil.copyfileobj(sys.stdin.buffer, spool, 1 << 20)
            spool.flush()
            for item in read_source(spool.name, fmt, ports):
                yield _renamed(item, spool.name, "<stdin>")
        return
    if fmt == "pcap" or (fmt is None and is_capture(path)):
        from smtplens.sources.pcap import read_capture

        yield from read_capture(path, ports=ports)
        return
    if fmt is None:
        chosen = detect_text_format(path)
    else:
        named = {f.name: f for f in text_formats()}
        if fmt not in named:
            raise InputError(f"unknown format {fmt!r}; known: {', '.join(format_names())}")
        chosen = named[fmt]
    cuts: list[Notice] = []

    def cut(number: int, length: int) -> None:
        cuts.append(Notice("input.long-line", f"a line of {length} octets was cut to the "
                           f"first {MAX_LINE}", source=path, location=f"line {number}"))

    for item in chosen.parse(read_lines(path, cut), path):
        if cuts:
            yield from cuts
            cuts.clear()
        yield item
    yield from cuts


def _renamed(item: StreamItem, old: str, new: str) -> StreamItem:
    if isinstance(item, Opened | Notice) and item.source == old:
        return dataclasses.replace(item, source=new)
    return item
