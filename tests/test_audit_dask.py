"""The audit's tasks on Dask give what a plain map gives, and leave nothing running."""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from smtplens.audit import dask_engine
from smtplens.audit.dask_engine import DaskUnavailable, map_on_dask
from smtplens.errors import SmtplensError
from smtplens.parallel import WorkerError

distributed = pytest.importorskip("distributed")


@dataclass(frozen=True, slots=True)
class Job:
    """What the audit sends a task: small, and pickled by value."""

    n: int


def _square(job: Job) -> tuple[int, int]:
    return job.n, job.n * job.n


def _square_but_seven(job: Job) -> tuple[int, int]:
    if job.n == 7:
        raise ValueError("seven is a bug")
    return _square(job)


JOBS = [Job(n) for n in range(30)]
EXPECTED = list(enumerate(map(_square, JOBS)))


@pytest.fixture(scope="module")
def existing() -> Iterator[Any]:
    """A cluster that someone else started (as with ``--scheduler``)."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None,
                                       scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                       silence_logs=logging.ERROR)
    yield cluster
    cluster.close()


class _Spy:
    """distributed.LocalCluster, in this process (threads: no start-up cost), remembered."""

    def __init__(self, cls: Any) -> None:
        self.cls = cls
        self.clusters: list[Any] = []

    def __call__(self, **options: Any) -> Any:
        options.pop("host", None)  # in one process: inproc://, no host
        cluster = self.cls(**{**options, "processes": False})
        self.clusters.append(cluster)
        return cluster


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> _Spy:
    spy = _Spy(distributed.LocalCluster)
    monkeypatch.setattr(distributed, "LocalCluster", spy)
    return spy


def _descendants() -> set[int]:
    psutil = pytest.importorskip("psutil")
    # multiprocessing's resource tracker is started once and lives as long as we do
    return {p.pid for p in psutil.Process().children(recursive=True)
            if "resource_tracker" not in " ".join(p.cmdline())}


def test_the_package_imports_without_dask() -> None:
    code = ("import sys, smtplens.audit.dask_engine; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'dask', 'distributed'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_without_dask_installed_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed: ImportError
    with pytest.raises(DaskUnavailable, match=r"smtplens\[dask\]") as caught:
        next(map_on_dask(_square, JOBS))
    assert isinstance(caught.value, SmtplensError)


def test_a_local_cluster_gives_what_map_gives_and_is_closed(
        capfd: pytest.CaptureFixture[str]) -> None:
    before = _descendants()
    started: list[str] = []
    results = list(map_on_dask(_square, JOBS, workers=2, on_start=started.append))
    assert sorted(results) == EXPECTED
    assert len(started) == 1 and started[0].startswith("tcp://127.0.0.1:")
    assert _descendants() <= before  # the workers ended with the cluster
    assert capfd.readouterr().out == ""  # nothing of Dask on stdout (the report's place)


def test_an_existing_cluster_gives_what_map_gives_and_stays_up(existing: Any) -> None:
    started: list[str] = []
    first = map_on_dask(_square, JOBS, scheduler=existing.scheduler_address,
                        on_start=started.append)
    one = next(first)
    # a second run on the same cluster meanwhile: keys of the two runs do not collide
    again = list(map_on_dask(_square, JOBS, scheduler=existing.scheduler_address))
    assert sorted([one, *first]) == sorted(again) == EXPECTED
    # its dashboard's link (the scheduler's HTTP port), or else its address
    assert len(started) == 1 and "127.0.0.1:" in started[0]
    assert existing.status.name == "running"  # not ours to close


def test_a_raising_task_names_its_item_on_an_existing_cluster(existing: Any) -> None:
    with pytest.raises(WorkerError, match=r"item 7\b.*seven is a bug") as caught:
        list(map_on_dask(_square_but_seven, JOBS, scheduler=existing.scheduler_address))
    assert isinstance(caught.value.__cause__, ValueError)
    assert "_square_but_seven" in caught.value.details  # the worker's traceback
    again = list(map_on_dask(_square, JOBS[:5], scheduler=existing.scheduler_address))
    assert sorted(again) == EXPECTED[:5]


def test_a_raising_task_closes_the_local_cluster(spy: _Spy) -> None:
    with pytest.raises(WorkerError, match=r"item 7\b"):
        list(map_on_dask(_square_but_seven, JOBS))
    [cluster] = spy.clusters
    assert cluster.status.name == "closed"


def test_closing_the_iterator_early_closes_the_local_cluster(spy: _Spy) -> None:
    results = map_on_dask(_square, JOBS)
    index, result = next(results)
    assert result == _square(JOBS[index])
    results.close()
    [cluster] = spy.clusters
    assert cluster.status.name == "closed"


def test_an_unreachable_scheduler_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dask_engine, "CONNECT_TIMEOUT", 1.0)
    with socket.socket() as s:  # a port that nobody listens on
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(DaskUnavailable, match=f"cannot reach the Dask scheduler at {address}"):
        next(map_on_dask(_square, JOBS, scheduler=address))


@pytest.mark.parametrize("address", ["nonsense://x", "tcp://", "tcp://no-such-host.invalid:1"])
def test_a_malformed_scheduler_address_is_named(address: str) -> None:
    # refused before a Client is made: one that fails on it would hang at exit
    with pytest.raises(DaskUnavailable, match=f"scheduler at {re.escape(address)}: "):
        next(map_on_dask(_square, JOBS, scheduler=address))
