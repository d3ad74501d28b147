"""Running an audit: every input file read once, its sessions reduced as they come.

One task per file (:func:`audit_file`): the file's sessions are built, each is reduced
to a :class:`~smtplens.audit.observe.Seen` that fills the file's
:class:`~smtplens.audit.tally.Tally` and :class:`~smtplens.audit.correlate.Correlator`,
and the session is dropped. A task never raises: whatever goes wrong with its file is
in its :class:`FileResult` (a batch never stops because of one bad file).

Tasks run in worker processes, the largest files first so the workers end together
(:func:`run_local`), or on a Dask cluster (:mod:`smtplens.audit.dask_engine`). A lone
large capture is read in this process with the capture's own shards instead
(:func:`smtplens.analysis.analyze_file`). Results are merged in input order, so the
report does not depend on which worker finished first.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from smtplens.analysis import Problem, analyze_file, default_jobs
from smtplens.audit.correlate import Correlator, Thresholds
from smtplens.audit.observe import observe
from smtplens.audit.tally import FileStatus, Tally
from smtplens.memcap import DEFAULT_MEMCAP
from smtplens.model import Session
from smtplens.sources.textfile import Span


@dataclass(frozen=True, slots=True)
class AuditOptions:
    """What every task needs to know (picklable: it travels to the workers)."""

    since: float | None = None  #: sessions that started before this are left out
    until: float | None = None  #: ... and those that started at or after this
    input_format: str | None = None
    ports: frozenset[int] | None = None
    memcap: int | None = DEFAULT_MEMCAP
    thresholds: Thresholds = field(default_factory=Thresholds)

    def wanted(self, session: Session) -> bool:
        """Whether ``session`` is inside the time window (no time: always inside)."""
        ts = session.ts_start
        if ts is None:
            return True
        return (self.since is None or ts >= self.since) and \
            (self.until is None or ts < self.until)


@dataclass(frozen=True, slots=True)
class Task:
    """One file to read, and from where."""

    path: str
    span: Span | None = None  #: ``--state``: the part not read before
    jobs: int = 1  #: processes for the file itself (a lone large capture)
    note: str = ""  #: how ``--state`` decided to read it, for the report


@dataclass(slots=True)
class FileResult:
    """What one file gave: its totals, its correlation evidence, how it was read."""

    status: FileStatus
    tally: Tally
    correlator: Correlator
    span: Span | None = None  #: the task's span, with how far it was read
    ticked: bool = False  #: its sessions were counted one by one as they came

    @property
    def findings(self) -> int:
        return sum(self.tally.findings.values())


def audit_file(task: Task, options: AuditOptions,
               tick: Callable[[int], None] | None = None) -> FileResult:
    """Read one file (never raises: problems go into the result). ``tick(findings)``
    is called for each session when given (a progress bar in this process)."""
    status = FileStatus(task.path, size=file_size(task.path),
                        read_from=task.span.start if task.span else 0, note=task.note)
    tally, correlator = Tally(), Correlator(options.thresholds)

    def problem(p: Problem) -> None:
        status.problems.append({"location": p.location, "message": p.message,
                                "code": p.code, "fatal": p.fatal})
        status.unreadable = status.unreadable or p.fatal

    try:
        for session in analyze_file(task.path, fmt=options.input_format, ports=options.ports,
                                    on_problem=problem, jobs=task.jobs,
                                    memcap=options.memcap, span=task.span):
            status.origin = status.origin or session.origin
            status.sessions += 1
            if not options.wanted(session):
                continue
            seen = observe(session)
            tally.add(seen)
            correlator.add(seen)
            if tick is not None:
                tick(len(seen.hits))
    except Exception as e:  # an internal error must not end the batch: say which file
        status.unreadable = True
        status.problems.append({"location": "", "code": "input.internal-error",
                                "message": f"internal error while reading: "
                                           f"{type(e).__name__}: {e}", "fatal": True})
    tally.files.append(status)
    return FileResult(status, tally, correlator, task.span, ticked=tick is not None)


def file_size(path: str) -> int:
    """Octets of ``path`` on disk (0 when it cannot be looked at)."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def plan_tasks(tasks: Sequence[Task], jobs: int) -> list[Task]:
    """The tasks, a lone one allowed every core (capture sharding)."""
    if len(tasks) == 1:
        return [dataclasses.replace(tasks[0], jobs=jobs)]
    return list(tasks)


def _run_one(args: tuple[Task, AuditOptions]) -> FileResult:
    return audit_file(*args)


def run_local(tasks: Sequence[Task], options: AuditOptions, jobs: int | None = None,
              tick: Callable[[int], None] | None = None) -> Iterator[tuple[int, FileResult]]:
    """``(index, result)`` of every task, in completion order, on ``jobs`` processes
    (in this one, with ``tick`` called per session, for one job or one file)."""
    jobs = default_jobs() if jobs is None else jobs
    if jobs <= 1 or len(tasks) <= 1:
        for i, task in enumerate(tasks):
            yield i, audit_file(task, options, tick)
        return
    # largest first: the last file to start is a small one, so the workers end together
    order = sorted(range(len(tasks)), key=lambda i: -file_size(tasks[i].path))
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with cf.ProcessPoolExecutor(max_workers=min(jobs, len(tasks)),
                                mp_context=multiprocessing.get_context(method)) as pool:
        futures = {pool.submit(_run_one, (tasks[i], options)): i for i in order}
        try:
            for future in cf.as_completed(futures):
                yield futures[future], future.result()
        finally:
            for future in futures:
                future.cancel()


def run_dask(tasks: Sequence[Task], options: AuditOptions, scheduler: str | None,
             workers: int, on_start: Callable[[str], None] | None = None,
             ) -> Iterator[tuple[int, FileResult]]:
    """As :func:`run_local`, one task per file on a Dask cluster."""
    from smtplens.audit.dask_engine import map_on_dask

    # a Dask worker cannot start processes of its own: one process per file there; the
    # largest files first, as locally, so the workers end together
    order = sorted(range(len(tasks)), key=lambda i: -file_size(tasks[i].path))
    items = [(dataclasses.replace(tasks[i], jobs=1), options) for i in order]
    for index, result in map_on_dask(_run_one, items, scheduler=scheduler, workers=workers,
                                     on_start=on_start):
        yield order[index], result


@dataclass(slots=True)
class Gathered:
    """Every file's results merged in input order."""

    tally: Tally
    correlator: Correlator


def gather(results: Iterator[tuple[int, FileResult]], thresholds: Thresholds,
           carried: Correlator | None = None,
           on_result: Callable[[FileResult], None] | None = None) -> Gathered:
    """Merge results that come in any completion order into one tally and correlator,
    in input order, each as soon as those before it are in (memory holds only the
    results that wait for an earlier one). ``carried``: the correlator an earlier run
    left (``--state``)."""
    tally = Tally()
    correlator = carried if carried is not None else Correlator(thresholds)
    waiting: dict[int, FileResult] = {}
    upto = 0
    for index, result in results:
        if on_result is not None:
            on_result(result)
        waiting[index] = result
        while upto in waiting:
            ready = waiting.pop(upto)
            tally.merge(ready.tally)
            correlator.merge(ready.correlator)
            upto += 1
    for index in sorted(waiting):  # a gap: a task that gave no result (not expected)
        tally.merge(waiting[index].tally)
        correlator.merge(waiting[index].correlator)
    return Gathered(tally, correlator)
