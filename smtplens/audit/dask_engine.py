"""The audit's tasks on a Dask cluster: one task per input file, results as they finish.

``smtplens audit --engine dask`` runs the same per-file task as the local process pool,
on a ``dask.distributed`` cluster: the one at ``--scheduler`` (whose workers must have
smtplens installed: the task is pickled by reference, as ``module.function``), or a
``LocalCluster`` started here, of single-threaded worker processes (the task is pure
Python: threads would share one GIL), and closed at the end.

Dask is optional (``pip install smtplens[dask]``) and imported on the first ``next()``
only, so the package imports without it. Each result is fetched and its future released
as soon as it finishes, so neither the workers nor this process keep results that were
already handed over. The task catches the errors of its input and returns them as a
result; a task that raises anyway is a bug, so the others are cancelled and the error
is raised here, naming the item.
"""

from __future__ import annotations

import contextlib
import logging
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from smtplens.errors import SmtplensError
from smtplens.parallel import WorkerError

T = TypeVar("T")
R = TypeVar("R")

#: seconds to wait for the scheduler at ``--scheduler``
CONNECT_TIMEOUT = 10.0


class DaskUnavailable(SmtplensError):
    """``--engine dask`` cannot run: dask is not installed, or its scheduler is out of reach."""


def map_on_dask(fn: Callable[[T], R], items: Sequence[T], *, scheduler: str | None = None,
                workers: int = 2, on_start: Callable[[str], None] | None = None,
                ) -> Iterator[tuple[int, R]]:
    """(index, fn(item)) for every item, in completion order, computed on a dask.distributed
    cluster: the one at `scheduler` ("tcp://host:8786"), or a LocalCluster of `workers`
    single-threaded worker processes started here and closed at the end (also on error and on
    early close of the iterator). on_start(dashboard_link_or_address) is called once connected.

    Nothing starts before the first ``next()``; :class:`DaskUnavailable` is raised there.
    """
    with contextlib.ExitStack() as stack:
        client, where = _connect(stack, scheduler, workers)
        if on_start is not None:
            on_start(where)
        yield from _run(client, fn, items)


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as e:
        raise DaskUnavailable("--engine dask needs dask[distributed]: install smtplens[dask] "
                              f"({e})") from e
    # distributed is typed in part only (LocalCluster and Client.__init__ are not)
    return distributed


def _connect(stack: contextlib.ExitStack, scheduler: str | None,
             workers: int) -> tuple[Any, str]:
    """A client of the scheduler, or of a LocalCluster started here (both closed by
    ``stack``), and the dashboard's link or else the scheduler's address."""
    dist = _import_distributed()
    if scheduler is None:
        try:
            # no dashboard, and only critical messages logged: nothing of Dask on stdout,
            # and no traceback of Dask's own on stderr (a worker whose heartbeat races the
            # cluster's close logs one at ERROR on a loaded machine); a task's failure
            # still reaches the report as that file's problem. The scheduler's HTTP server
            # (health, metrics) would take port 8787, or warn when it is in use: a free
            # port of the loopback instead
            cluster = dist.LocalCluster(n_workers=max(1, workers), threads_per_worker=1,
                                        processes=True, host="127.0.0.1",
                                        dashboard_address=None,
                                        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                        silence_logs=logging.CRITICAL)
        except Exception as e:
            raise DaskUnavailable(f"could not start a local Dask cluster: {e}") from e
        stack.callback(cluster.close)
        client = dist.Client(cluster, set_as_default=False)
        stack.callback(client.close)
        return client, str(cluster.scheduler_address)
    try:
        # a malformed address or an unknown host first, and at once: a Client that
        # fails on one hangs for 20 s at exit (in its __del__)
        dist.comm.resolve_address(scheduler)
        client = dist.Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        # the timeout's message says how long it waited
        raise DaskUnavailable(f"cannot reach the Dask scheduler at {scheduler}: {e}") from e
    stack.callback(client.close)
    try:
        link = client.dashboard_link
    except Exception:  # a scheduler without a dashboard: its address will do
        link = None
    return client, str(link or scheduler)


def _run(client: Any, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
    dist = _import_distributed()
    run = uuid.uuid4().hex[:12]  # keys of two runs on one cluster never collide
    keys = [f"smtplens-audit-{run}-{i}" for i in range(len(items))]
    futures = client.map(fn, items, key=keys, pure=False)
    # futures are only held here until their result is handed over
    pending: dict[str, tuple[int, Any]] = {f.key: (i, f) for i, f in enumerate(futures)}
    done = dist.as_completed(futures, loop=client.loop)
    del futures
    try:
        for future in done:
            index, _ = pending.pop(future.key)
            if future.status == "error":
                error = future.exception()
                details = "".join(traceback.format_exception(type(error), error,
                                                             future.traceback()))
                raise WorkerError(f"dask task of item {index} raised {error!r}",
                                  details) from error
            if future.status != "finished":  # cancelled, or lost with its worker
                raise WorkerError(f"dask task of item {index} ended {future.status}")
            result: R = future.result()
            future.release()
            del future
            yield index, result
    finally:
        if pending:  # error, or the caller stopped early
            client.cancel([f for _, f in pending.values()])
            pending.clear()
