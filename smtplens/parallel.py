"""One large capture on several cores: each worker reads the file, analyses a shard.

This module only runs shards; :mod:`smtplens.analysis` decides when an input is worth
it. Every worker process reads the whole capture (reading a packet's headers is the
cheap part) and reassembles and analyses only the connections of its shard: a 4-tuple
belongs to one shard, by a hash of its addresses and ports (see
:func:`smtplens.sources.pcap.read_shard`). The read buffers are the same in every
worker, so the parent and the workers go through them in step, two messages a buffer:

1. each worker sends the connections the buffer opened (with the number of the packet
   that opened each) and the file's problems; the parent numbers the connections of all
   workers in packet order — the ids one process gives (``C1``, ``C2``...) — and sends
   each worker the ids of its own;
2. each worker names the sessions that ended in the buffer, hands each to ``render``
   (the caller's output, made on the worker's core) and sends what it returned.

Memory stays flat (a worker that runs ahead waits for its ids), and what crosses the
pipes is the rendered output, not the sessions (pickling a session costs about as much
as building it). Results come out in the order of the buffer in which their session
ended, and by id within a buffer; a single process yields them in the order their last
packet was read, which differs only among sessions that ended in the same megabyte of
capture. File-level problems (damage, unknown link types) are seen by every worker and
reported once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import threading
import traceback
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any, Generic, NamedTuple, TypeVar

from smtplens import progress
from smtplens.memcap import DEFAULT_MEMCAP, share
from smtplens.model import Session
from smtplens.pipeline import Problem, analyze_stream
from smtplens.sources import TIME_CODE, checked_times
from smtplens.stream import StreamItem

T = TypeVar("T")


class WorkerError(RuntimeError):
    """A worker process failed; ``details`` has its traceback."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


class _Opened(NamedTuple):
    """Step 1 of a buffer, worker to parent."""

    opened: list[tuple[int, str]]  #: (number of the packet that opened it, local id)
    problems: list[Problem]
    position: int  #: bytes of the file read so far
    last: bool = False  #: the end of the file: the worker's final buffer


class _Ended(NamedTuple, Generic[T]):
    """Step 2 of a buffer, worker to parent: the rendered sessions it ended, by id."""

    results: list[tuple[str, T]]


class _Failed(NamedTuple):
    """A worker that failed, at any step: its traceback."""

    error: str


def analyze_capture(path: str, jobs: int, render: Callable[[Session], T], *,
                    ports: frozenset[int] | None = None,
                    on_problem: Callable[[Problem], None] | None = None,
                    memcap: int | None = DEFAULT_MEMCAP) -> Iterator[T]:
    """``render(session)`` for the sessions of capture ``path``, analysed by ``jobs``
    worker processes.

    The same sessions, ids and findings as :func:`~smtplens.pipeline.analyze_stream`
    over :func:`~smtplens.sources.pcap.read_capture` in one process. The caller makes
    sure ``path`` is a capture (workers start after its header was read). Each
    worker keeps to ``memcap / jobs`` bytes, so that together they keep to ``memcap``.
    """
    ctx = multiprocessing.get_context(start_method())
    pipes: list[Connection] = []
    procs = []
    try:
        for index in range(jobs):
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(  # type: ignore[attr-defined]  # typeshed: BaseContext
                target=_work, args=(path, (index, jobs), ports, share(memcap, jobs), render,
                                    theirs),
                name=f"smtplens-shard-{index}", daemon=True)
            proc.start()
            theirs.close()
            pipes.append(mine)
            procs.append(proc)
        yield from _merge(pipes, on_problem)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join()
        for pipe in pipes:
            pipe.close()


def start_method() -> str:
    """How workers start: ``fork`` shares the imported modules; without it (or with
    threads, which fork does not copy safely) each worker is a fresh interpreter
    (``spawn``, about half a second of imports each)."""
    return ("fork" if "fork" in multiprocessing.get_all_start_methods()
            and threading.active_count() == 1 else "spawn")


def _receive(pipes: list[Connection], index: int) -> Any:
    try:
        message = pipes[index].recv()
    except EOFError:
        raise WorkerError(f"worker {index} of {len(pipes)} ended without a result") from None
    if isinstance(message, _Failed):
        last = message.error.strip().splitlines()[-1]
        raise WorkerError(f"worker {index} of {len(pipes)} failed: {last}", message.error)
    return message


def _merge(pipes: list[Connection],
           on_problem: Callable[[Problem], None] | None) -> Iterator[Any]:
    count = 0
    timed = False  # the file's out-of-range time was reported
    while True:
        steps: list[_Opened] = [_receive(pipes, index) for index in range(len(pipes))]
        ids: list[dict[str, str]] = [{} for _ in pipes]  # per worker: local id -> global id
        for _, index, local in sorted((packet, index, local)
                                      for index, step in enumerate(steps)
                                      for packet, local in step.opened):
            count += 1
            ids[index][local] = f"C{count}"
        for pipe, named in zip(pipes, ids, strict=True):
            pipe.send(named)
        progress.reached(max(step.position for step in steps))
        ended = [pair for index in range(len(pipes))
                 for pair in _receive(pipes, index).results]
        ended.sort(key=lambda pair: (len(pair[0]), pair[0]))  # C9 before C10
        for _, result in ended:
            yield result
        if on_problem is not None:
            for problem in steps[0].problems:  # the same in every worker
                if problem.code != TIME_CODE:
                    on_problem(problem)
            # times are checked where their connection is analysed, in one worker; the
            # file gets one report, as in one process
            late = [p for step in steps for p in step.problems if p.code == TIME_CODE]
            if late and not timed:
                timed = True
                on_problem(late[0])
        lasts = {step.last for step in steps}
        if lasts == {True}:
            return
        if len(lasts) > 1:
            raise WorkerError("the workers read the capture differently (batches do not "
                              "line up)")


def _renamed(session: Session, cid: str) -> Session:
    if session.id == cid:
        return session
    session.id = cid
    session.findings = [dataclasses.replace(f, evidence=dataclasses.replace(
        f.evidence, session=cid)) for f in session.findings]
    return session


def _work(path: str, shard: tuple[int, int], ports: frozenset[int] | None,
          memcap: int | None, render: Callable[[Session], Any], pipe: Connection) -> None:
    """A worker: analyse one shard, two messages per read buffer (see the module)."""
    try:
        _analyse_shard(path, shard, ports, memcap, render, pipe)
    except (KeyboardInterrupt, BrokenPipeError, EOFError):
        pass  # the parent was interrupted, or stopped reading: nobody to tell
    except BaseException:  # anything else goes to the parent, which raises it
        with contextlib.suppress(OSError):
            pipe.send(_Failed(traceback.format_exc()))
    finally:
        pipe.close()


def _analyse_shard(path: str, shard: tuple[int, int], ports: frozenset[int] | None,
                   memcap: int | None, render: Callable[[Session], Any],
                   pipe: Connection) -> None:
    from smtplens.sources.pcap import read_shard

    opened: list[tuple[int, str]] = []
    sessions: list[Session] = []
    problems: list[Problem] = []
    names: dict[str, str] = {}  # local id -> global id, from the parent

    def step(last: bool = False) -> None:
        pipe.send(_Opened(opened[:], problems[:], progress.position(), last))
        opened.clear()
        problems.clear()
        names.update(pipe.recv())
        pipe.send(_Ended([(cid, render(_renamed(s, cid)))
                          for s in sessions for cid in (names.pop(s.id),)]))
        sessions.clear()

    def items() -> Iterator[StreamItem]:
        for batch_items, batch_opened in read_shard(path, shard, ports=ports, memcap=memcap):
            opened.extend(batch_opened)
            yield from batch_items
            # analyze_stream asks for the next item only after it handled this one, so
            # every session this buffer ended is in ``sessions`` now
            step()

    for session in analyze_stream(checked_times(items(), path), on_problem=problems.append):
        sessions.append(session)
    step(last=True)
