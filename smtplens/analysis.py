"""How an input is run: in this process, or a large capture on several cores.

:func:`analyze_file` is the one entry for a file. It decides from the input how to run
it (:func:`worth_sharding`): :func:`~smtplens.pipeline.analyze_stream` over the
file's source in this process, or :func:`smtplens.parallel.analyze_capture`, which
only runs shards. :func:`analyze_rendered` does the same and hands each session to a
``render`` function where it was built, so with workers the output is made on every
core and only its text crosses to this process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TypeVar

from smtplens import parallel
from smtplens.builder import SinkFactory
from smtplens.errors import InputError
from smtplens.memcap import DEFAULT_MEMCAP
from smtplens.model import Session
from smtplens.pipeline import Problem, analyze_stream
from smtplens.sources import detect_text_format, forced_text_format, is_capture, read_source
from smtplens.sources.pcap.files import CaptureFile
from smtplens.sources.textfile import Span

__all__ = ["PARALLEL_MIN_BYTES", "SPAWNED_MIN_BYTES", "Problem", "analyze_file", "analyze_rendered",
           "analyze_stream", "default_jobs", "worth_sharding"]

T = TypeVar("T")

#: captures smaller than this are read by one process: below it, starting the workers
#: and each of them reading the whole file costs more than the cores give back
PARALLEL_MIN_BYTES = 4 << 20
#: the same where workers cannot be forked and start as fresh interpreters
SPAWNED_MIN_BYTES = 64 << 20


def default_jobs() -> int:
    """Worker processes for one capture: the cores this process may use, at most 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def worth_sharding(path: str, jobs: int) -> bool:
    """Whether ``path`` is a regular file big enough for ``jobs`` workers to pay off."""
    if jobs < 2 or path == "-":
        return False
    least = PARALLEL_MIN_BYTES if parallel.start_method() == "fork" else SPAWNED_MIN_BYTES
    try:
        return os.path.getsize(path) >= least
    except OSError:
        return False


def _itself(session: Session) -> Session:
    return session


def analyze_file(path: str, *, fmt: str | None = None, ports: frozenset[int] | None = None,
                 on_problem: Callable[[Problem], None] | None = None,
                 sink_factory: SinkFactory | None = None,
                 jobs: int | None = None,
                 memcap: int | None = DEFAULT_MEMCAP,
                 span: Span | None = None) -> Iterator[Session]:
    """Sessions of one input file. Unreadable input is reported to ``on_problem`` as
    a fatal :class:`Problem` (after every session read before the damage) when a
    handler is given, and raised as :class:`~smtplens.errors.InputError` otherwise.

    A large capture is analysed by ``jobs`` processes (default: one per core, see
    :mod:`smtplens.parallel`); ``jobs=1`` keeps it in this one. Extraction
    (``sink_factory``) always runs here: its file names are the session ids.

    ``memcap`` bounds the memory of a capture's open connections, all workers together
    (bytes, default 512 MiB; None: no bound): over it the least recently active ones
    are closed early, each session with a ``capture.memcap-closed`` finding.

    ``span`` reads only that part of a text log (``smtplens audit --state``: what was
    appended since the last run; see :class:`~smtplens.sources.textfile.Span`, which
    tells afterwards how far it got), in this process. A resumed span (``start`` > 0)
    may hold no session at all without that being a problem: nothing happened.
    """
    return analyze_rendered(path, _itself, fmt=fmt, ports=ports, on_problem=on_problem,
                            sink_factory=sink_factory, jobs=jobs, memcap=memcap, span=span)


def analyze_rendered(path: str, render: Callable[[Session], T], *, fmt: str | None = None,
                     ports: frozenset[int] | None = None,
                     on_problem: Callable[[Problem], None] | None = None,
                     sink_factory: SinkFactory | None = None,
                     jobs: int | None = None,
                     memcap: int | None = DEFAULT_MEMCAP,
                     span: Span | None = None) -> Iterator[T]:
    """``render(session)`` for each session of ``path``, as :func:`analyze_file` gives
    them; with workers, ``render`` runs in them (it must be picklable where processes
    are spawned, not forked: a module-level function or an instance of one's class)."""
    found = 0
    try:
        for out in _run(path, render, fmt, ports, on_problem, sink_factory, jobs, memcap,
                        span):
            found += 1
            yield out
        resumed = span is not None and span.start > 0  # an earlier run saw its sessions
        if not found and on_problem is not None and not resumed:  # never an empty success
            on_problem(Problem(path, "", nothing_found(path, fmt, ports), "input.no-smtp"))
    except InputError as e:
        if on_problem is None:
            raise
        on_problem(Problem(e.source or path, e.location, e.message, "input.unreadable", True))


def nothing_found(path: str, fmt: str | None, ports: frozenset[int] | None) -> str:
    """What was looked at in an input that gave no session: a capture's ports, or the
    text format that read the log (the ports mean nothing to a log)."""
    where = f"ports {', '.join(map(str, sorted(ports)))}" if ports else \
        "ports 25, 587, 2525, 465, 24 and SMTP content on any port"
    try:
        capture = fmt == "pcap" or (fmt is None and path != "-" and is_capture(path))
        if capture:
            return f"no SMTP session found (looked at {where})"
        if fmt is None and path == "-":  # spooled and gone: what it was cannot be told
            return ("no SMTP session found in the input (as a capture: looked at "
                    f"{where}; as a text log: no line of a session)")
        chosen = forced_text_format(path, fmt) if fmt else detect_text_format(path)
    except (InputError, OSError):
        return "no SMTP session found in the log"
    return (f"no SMTP session found in the log (read as {chosen.name}: "
            f"{chosen.description})")


def _run(path: str, render: Callable[[Session], T], fmt: str | None,
         ports: frozenset[int] | None, on_problem: Callable[[Problem], None] | None,
         sink_factory: SinkFactory | None, jobs: int | None,
         memcap: int | None, span: Span | None = None) -> Iterator[T]:
    jobs = default_jobs() if jobs is None else jobs
    if span is None and sink_factory is None and fmt in (None, "pcap") \
            and worth_sharding(path, jobs) and is_capture(path):
        CaptureFile(path).close()  # not a capture after all: InputError here, at once
        return parallel.analyze_capture(path, jobs, render, ports=ports,
                                        on_problem=on_problem, memcap=memcap)
    sessions = analyze_stream(read_source(path, fmt, ports, memcap, span),
                              on_problem=on_problem, sink_factory=sink_factory)
    return map(render, sessions)
