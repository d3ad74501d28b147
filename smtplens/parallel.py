"""One large capture on several cores: each worker reads the file, analyses a shard.

Every worker process reads the whole capture (reading a packet's headers is the
cheap part) and reassembles and analyses only the connections of its shard: a 4-tuple
belongs to one shard, by a hash of its addresses and ports (see
:func:`smtplens.sources.pcap.read_shard`). Workers send one message per read buffer;
the buffers are the same in every worker, so the parent takes one message from each
in turn. That keeps the merge in step (memory stays flat: a worker that runs ahead
blocks on its pipe) and lets the parent give connections the ids a single process
gives (``C1``, ``C2``... in the order of the packets that opened them).

Sessions come out in the order of the buffer in which they ended, and by id within
a buffer; a single process yields them in the order their last packet was read,
which differs only among sessions that ended in the same megabyte of capture.
File-level problems (damage, unknown link types) are seen by every worker and
reported once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import threading
import traceback
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import NamedTuple

from smtplens.analysis import Problem, analyze_stream
from smtplens.memcap import DEFAULT_MEMCAP, share
from smtplens.model import Session
from smtplens.sources import TIME_CODE, checked_times
from smtplens.stream import StreamItem

#: captures smaller than this are read by one process (starting workers costs more)
PARALLEL_MIN_BYTES = 32 << 20


class WorkerError(RuntimeError):
    """A worker process failed; ``details`` has its traceback."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


class _Batch(NamedTuple):
    opened: list[tuple[int, str]]  #: (number of the packet that opened it, local id)
    sessions: list[Session]  #: sessions that ended in this buffer
    problems: list[Problem]
    last: bool = False  #: the worker's final message
    error: str = ""  #: a worker that failed: what happened


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
    try:
        return os.path.getsize(path) >= PARALLEL_MIN_BYTES
    except OSError:
        return False


def analyze_capture(path: str, jobs: int, *, ports: frozenset[int] | None = None,
                    on_problem: Callable[[Problem], None] | None = None,
                    memcap: int | None = DEFAULT_MEMCAP) -> Iterator[Session]:
    """The sessions of capture ``path``, analysed by ``jobs`` worker processes.

    The same sessions, ids and findings as :func:`smtplens.analysis.analyze_stream`
    over :func:`~smtplens.sources.pcap.read_capture` in one process. The caller makes
    sure ``path`` is a capture (workers start after its header was read). Each
    worker keeps to ``memcap / jobs`` bytes, so that together they keep to ``memcap``.
    """
    # fork shares the imported modules; without it (or with threads, which fork does
    # not copy safely) each worker starts a fresh interpreter
    method = ("fork" if "fork" in multiprocessing.get_all_start_methods()
              and threading.active_count() == 1 else "spawn")
    ctx = multiprocessing.get_context(method)
    pipes: list[Connection] = []
    procs = []
    try:
        for index in range(jobs):
            receive, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(  # type: ignore[attr-defined]  # typeshed: BaseContext
                target=_work, args=(path, (index, jobs), ports, share(memcap, jobs), send),
                name=f"smtplens-shard-{index}", daemon=True)
            proc.start()
            send.close()
            pipes.append(receive)
            procs.append(proc)
        yield from _merge(pipes, on_problem)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join()
        for pipe in pipes:
            pipe.close()


def _merge(pipes: list[Connection],
           on_problem: Callable[[Problem], None] | None) -> Iterator[Session]:
    count = 0
    ids: list[dict[str, str]] = [{} for _ in pipes]  # per worker: local id -> global id
    timed = False  # the file's out-of-range time was reported
    while True:
        batches: list[_Batch] = []
        for index, pipe in enumerate(pipes):
            try:
                batch = pipe.recv()
            except EOFError:
                raise WorkerError(f"worker {index} of {len(pipes)} ended without a "
                                  "result") from None
            if batch.error:
                last = batch.error.strip().splitlines()[-1]
                raise WorkerError(f"worker {index} of {len(pipes)} failed: {last}", batch.error)
            batches.append(batch)
        for _, index, local in sorted((packet, index, local)
                                      for index, batch in enumerate(batches)
                                      for packet, local in batch.opened):
            count += 1
            ids[index][local] = f"C{count}"
        ended = [(ids[index].pop(s.id), s) for index, batch in enumerate(batches)
                 for s in batch.sessions]
        ended.sort(key=lambda pair: (len(pair[0]), pair[0]))  # C9 before C10
        for cid, session in ended:
            yield _renamed(session, cid)
        if on_problem is not None:
            for problem in batches[0].problems:  # the same in every worker
                if problem.code != TIME_CODE:
                    on_problem(problem)
            # times are checked where their connection is analysed, in one worker; the
            # file gets one report, as in one process
            late = [p for batch in batches for p in batch.problems if p.code == TIME_CODE]
            if late and not timed:
                timed = True
                on_problem(late[0])
        lasts = {batch.last for batch in batches}
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
          memcap: int | None, pipe: Connection) -> None:
    """A worker: analyse one shard, send one :class:`_Batch` per read buffer."""
    try:
        _analyse_shard(path, shard, ports, memcap, pipe)
    except (KeyboardInterrupt, BrokenPipeError):
        pass  # the parent was interrupted, or stopped reading: nobody to tell
    except BaseException:  # anything else goes to the parent, which raises it
        with contextlib.suppress(OSError):
            pipe.send(_Batch([], [], [], last=True, error=traceback.format_exc()))
    finally:
        pipe.close()


def _analyse_shard(path: str, shard: tuple[int, int], ports: frozenset[int] | None,
                   memcap: int | None, pipe: Connection) -> None:
    from smtplens.sources.pcap import read_shard

    opened: list[tuple[int, str]] = []
    sessions: list[Session] = []
    problems: list[Problem] = []

    def items() -> Iterator[StreamItem]:
        for batch_items, batch_opened in read_shard(path, shard, ports=ports, memcap=memcap):
            opened.extend(batch_opened)
            yield from batch_items
            # analyze_stream asks for the next item only after it handled this one, so
            # every session this buffer ended is in ``sessions`` now
            pipe.send(_Batch(opened[:], sessions[:], problems[:]))
            opened.clear()
            sessions.clear()
            problems.clear()

    for session in analyze_stream(checked_times(items(), path), on_problem=problems.append):
        sessions.append(session)
    pipe.send(_Batch([], sessions, problems, last=True))
