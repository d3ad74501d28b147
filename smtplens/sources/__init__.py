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
from collections.abc import Iterable, Iterator

from smtplens.errors import InputError, UnknownFormatError
from smtplens.memcap import DEFAULT_MEMCAP
from smtplens.sources.textfile import (
    MAX_LINE,
    READ_ERRORS,
    Span,
    TextFormat,
    open_binary,
    read_lines,
)
from smtplens.sources.transcript import CSTranscript
from smtplens.sources.wrappers import Wrapper, find_wrapper
from smtplens.stream import (
    Closed,
    Data,
    Direction,
    Gap,
    Notice,
    Opened,
    Skipped,
    StreamItem,
    Summary,
)
from smtplens.timestamps import TS_MAX, TS_MIN, describe, in_range

CAPTURE_MAGICS = (
    b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4",  # pcap, microseconds
    b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d",  # pcap, nanoseconds
    b"\x0a\x0d\x0d\x0a",  # pcapng section header block
)
SNIFF_LINES = 400
MIN_SCORE = 30


def text_formats() -> list[TextFormat]:
    """Every text format, most specific first (the C:/S: format, then the generic
    reader, are the fallbacks)."""
    from smtplens.sources.generic import GenericTranscript
    from smtplens.sources.logs import FORMATS

    return [*FORMATS, CSTranscript(), GenericTranscript()]


def format_names() -> list[str]:
    return ["pcap", *(f.name for f in text_formats())]


def is_capture(path: str) -> bool:
    if path == "-":
        return False
    with open_binary(path) as fh:
        try:
            return fh.read(4) in CAPTURE_MAGICS
        except READ_ERRORS as e:  # a damaged .gz/.bz2/.xz: say so, never a traceback
            raise InputError(f"cannot read: the compressed data is damaged ({e})",
                             source=path, location="offset 0") from e


def _head(path: str) -> list[str]:
    return [text for _, text in itertools.islice(read_lines(path), SNIFF_LINES)]


def _scored(head: list[str]) -> list[tuple[int, int, TextFormat]]:
    return sorted(((f.sniff(head), i, f) for i, f in enumerate(text_formats())),
                  key=lambda t: (-t[0], t[1]))


def _looks_like(head: list[str], scored: list[tuple[int, int, TextFormat]],
                suggest: bool = True) -> str:
    """What the file looks like most: the best format that scored something, and what
    the generic reader saw in it."""
    from smtplens.sources.generic import looks_like

    best_score, _, best = scored[0]
    near = f"the closest format is {best.name} (score {best_score} of 100); " \
        if best_score > 0 and best.name != "generic" else ""
    return f"{near}it looks like {looks_like(head, suggest)}"


def detect_text_format(path: str) -> TextFormat:
    """The text format whose sniffer scores the file's first lines best."""
    return _detect(path)[0]


def _unwrapped(head: list[str]) -> tuple[list[str], Wrapper | None]:
    """``head`` without the wrapper its lines share (see :mod:`.wrappers`), if any."""
    wrapper = find_wrapper(head)
    if wrapper is None:
        return head, None
    return wrapper.head(head), wrapper


def _detect(path: str) -> tuple[TextFormat, Wrapper | None]:
    """The best format for the file, and the wrapper to take off its lines: the file
    is read stripped when that scores better than as it is."""
    head = _head(path)
    if not any(line.strip() for line in head):
        raise UnknownFormatError("the file is empty", source=path)
    scored = _scored(head)
    stripped, wrapper = _unwrapped(head)
    if wrapper is not None:
        unwrapped = _scored(stripped)
        if unwrapped[0][0] > scored[0][0]:
            head, scored = stripped, unwrapped
        else:
            wrapper = None
    best_score, _, best = scored[0]
    if best_score < MIN_SCORE:
        names = ", ".join(format_names())
        raise UnknownFormatError(f"no SMTP transcript found ({_looks_like(head, scored)}); "
                                 f"looked for formats: {names}", source=path)
    return best, wrapper


def forced_text_format(path: str, fmt: str) -> TextFormat:
    """The format named ``fmt`` (``--input-format``), when the file looks like it:
    a file its sniffer scores below :data:`MIN_SCORE` (or the format's own
    ``forced_min``) is an :class:`InputError` that says what the file looks like
    instead (the CLI exits 2)."""
    return _forced(path, fmt)[0]


def _forced(path: str, fmt: str) -> tuple[TextFormat, Wrapper | None]:
    named = {f.name: f for f in text_formats()}
    if fmt not in named:
        raise InputError(f"unknown format {fmt!r}; known: {', '.join(format_names())}")
    chosen = named[fmt]
    head = _head(path)
    score = chosen.sniff(head)
    stripped, wrapper = _unwrapped(head)
    if wrapper is not None and chosen.sniff(stripped) > score:
        head, score = stripped, chosen.sniff(stripped)
    else:
        wrapper = None
    least = getattr(chosen, "forced_min", MIN_SCORE)
    if any(line.strip() for line in head) and score < least:
        scored = _scored(head)
        best_score, _, best = scored[0]
        if best_score >= MIN_SCORE:
            what = f"it looks most like {best.name} ({best.description})"
        else:
            what = _looks_like(head, scored, suggest=fmt != "generic")
        raise InputError(f"the file does not look like {fmt} ({chosen.description}); "
                         f"{what}", source=path)
    return chosen, wrapper


def read_source(path: str, fmt: str | None = None,
                ports: frozenset[int] | None = None,
                memcap: int | None = DEFAULT_MEMCAP,
                span: Span | None = None) -> Iterator[StreamItem]:
    """Stream items of one input file, picking the reader by content or ``fmt``.

    Standard input (``-``) is spooled to a temporary file first (in 1 MiB blocks, so
    memory stays flat), because detection reads the start of the input twice. Every
    item's time is checked (:func:`checked_times`). ``memcap``: the memory budget of
    a capture's open connections (see :mod:`smtplens.memcap`).

    ``span``: read only that part of a text input (see :class:`Span`, which is filled
    in as the lines are read); its format is still told from the file's first lines.
    Captures are read whole: a span on one is an :class:`InputError`.
    """
    if path == "-":
        with tempfile.NamedTemporaryFile(prefix="smtplens-stdin-") as spool:
            shutil.copyfileobj(sys.stdin.buffer, spool, 1 << 20)
            spool.flush()
            for item in read_source(spool.name, fmt, ports, memcap, span):
                yield _renamed(item, spool.name, "<stdin>")
        return
    yield from checked_times(_read_file(path, fmt, ports, memcap, span), path)


def _read_file(path: str, fmt: str | None, ports: frozenset[int] | None,
               memcap: int | None = DEFAULT_MEMCAP,
               span: Span | None = None) -> Iterator[StreamItem]:
    if fmt == "pcap" or (fmt is None and is_capture(path)):
        from smtplens.sources.pcap import read_capture

        if span is not None:
            raise InputError("a packet capture is read whole, not from an offset "
                             f"(asked to start at {span.start})", source=path)

        yield from read_capture(path, ports=ports, memcap=memcap)
        return
    chosen, wrapper = _detect(path) if fmt is None else _forced(path, fmt)
    cuts: list[Notice] = []
    if wrapper is not None:
        yield Notice(UNWRAPPED_CODE, f"read as {chosen.name} without {wrapper.what}",
                     source=path, location="line 1")

    def cut(number: int, length: int) -> None:
        cuts.append(Notice("input.long-line", f"a line of {length} octets was cut to the "
                           f"first {MAX_LINE}", source=path, location=f"line {number}"))

    # detection above read the file's first lines; parsing starts at the span
    lines = read_lines(path, cut, span)
    for item in chosen.parse(lines if wrapper is None else wrapper.lines(lines), path):
        if cuts:
            yield from cuts
            cuts.clear()
        yield item
    yield from cuts


TIME_CODE = "input.time-out-of-range"
#: the notice that says a wrapper (see :mod:`.wrappers`) was taken off every line
UNWRAPPED_CODE = "input.unwrapped"
_WHAT = {Data: "data", Gap: "gap", Skipped: "skipped content", Closed: "close",
         Notice: "notice", Opened: "start"}


def checked_times(items: Iterable[StreamItem], source: str) -> Iterator[StreamItem]:
    """``items`` with every time checked against :mod:`smtplens.timestamps`' window.

    A time outside it (not finite, before 1970, after 2262-04-11: a damaged capture
    record, a hostile log line) is removed from its item, which is kept: the bytes
    and the order are what the analysis needs, and a wrong time would only spread
    (session durations, reply latencies, idle times); the value itself is in the one
    ``input.time-out-of-range`` notice each file gets, at the first such time. A
    :class:`~smtplens.stream.Summary` session keeps its times (the views show them as
    out of range) and is reported the same way.
    """
    reported = False
    opened_at: dict[str, str] = {}  # open connection -> where it started (captures)
    for item in items:
        if isinstance(item, Summary):
            bad = [t for t in (item.session.ts_start, item.session.ts_end)
                   if t is not None and not in_range(t)]
            if bad and not reported:
                reported = True
                yield _time_notice(bad[0], source, item.session.location
                                   or f"session {item.session.id}",
                                   "such times are shown as 'time out of range'")
            yield item
            continue
        ts = item.ts
        if isinstance(item, Opened) and item.location:
            opened_at[item.conn_id] = item.location
        elif isinstance(item, Closed):
            opened_at.pop(item.conn_id, None)
        if ts is None or TS_MIN <= ts <= TS_MAX:  # NaN fails both comparisons
            yield item
            continue
        if not reported:
            reported = True
            yield _time_notice(ts, source, _where(item, opened_at),
                               "it and any later such time in the file are left out "
                               "(shown as no time), the data is kept")
        yield dataclasses.replace(item, ts=None)


def _where(item: Opened | Data | Gap | Skipped | Closed | Notice,
           opened_at: dict[str, str]) -> str:
    """Where ``item`` is in its file: its own line or record, or for capture data
    (which has none) the record that opened its connection."""
    if getattr(item, "location", ""):
        return item.location  # type: ignore[union-attr]  # Gap and Closed have none
    conn_id = item.conn_id
    if conn_id is None:
        return ""
    direction: Direction | None = getattr(item, "direction", None)
    side = "" if direction is None else \
        ("client " if direction is Direction.CLIENT else "server ")
    start = opened_at.get(conn_id)
    of = f"the connection opened at {start}" if start else f"connection {conn_id}"
    return f"{side}{_WHAT[type(item)]} of {of}"


def _time_notice(ts: float, source: str, location: str, fate: str) -> Notice:
    return Notice(TIME_CODE, f"timestamp {describe(ts)} out of range (times are read "
                  f"from 1970-01-01 to 2262-04-11 UTC); {fate}", source=source,
                  location=location)


def _renamed(item: StreamItem, old: str, new: str) -> StreamItem:
    if isinstance(item, Opened | Notice) and item.source == old:
        return dataclasses.replace(item, source=new)
    return item
