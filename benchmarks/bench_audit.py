"""``smtplens audit`` on many files: 2 workers against 1, Dask against local, and one busy
Postfix log next to pflogsumm, all measured in the same run.

Generates (at run time, in a temporary directory) a folder of ``--files`` (21) inputs from
the mix of ``realistic_traffic.py`` and ``realistic_logs.py``, in turn a capture (500
sessions, about 4 MB), a Postfix mail log and an Exim main log (30,000 lines, about 4 MB,
each); ``--scale`` multiplies these sizes. The three kinds take about the same CPU time
per file, so two workers can share them evenly. Then, each in a child process:

(a) ``smtplens audit FOLDER --jobs 1`` and ``--jobs 2``: wall time, CPU time (user +
    system of the process and of its workers, from ``getrusage(RUSAGE_CHILDREN)``), and
    the ratio jobs1/jobs2 (2.0 is a perfect split on two free cores);
(b) a Postfix log of ``--lines`` (300,000) lines: ``smtplens audit`` and ``pflogsumm``
    (``benchmarks/install-peers`` installs it; skipped when missing), lines/s and the
    ratio;
(c) when dask is importable, the folder with ``--engine dask --jobs 2`` (a LocalCluster
    of two worker processes, started and closed by the run) against ``--jobs 2``.

The core count and the load average are printed first: a jobs1/jobs2 ratio is only
worth reading when the second core is free. The reports of (a) and (c) are compared
(totals and findings), since a faster split that gives another report is no use.

    python benchmarks/bench_audit.py [--files N] [--scale X] [--lines N] [--repeat N]
        [--only folder|postfix] [--keep]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from realistic_logs import write_exim_log, write_postfix_log
from realistic_traffic import Counts, write_capture

#: per file at --scale 1: capture sessions, log lines (about the same CPU time each)
CAPTURE_SESSIONS = 500
LOG_LINES = 30_000
KINDS = ("capture", "postfix", "exim")
_NAMES = {"capture": "capture.pcap", "postfix": "postfix-maillog", "exim": "exim-mainlog"}


@dataclass
class Run:
    label: str
    wall: float  #: seconds
    cpu: float  #: user + system seconds of the child and of its own children
    report: dict[str, Any] | None  #: the --json report, when there is one


# ---------------------------------------------------------------------------- inputs
def _write(kind: str, path: str, size: int, seed: int) -> Counts:
    counts = Counts()
    if kind == "capture":
        write_capture(path, size, counts, seed=seed)
    elif kind == "postfix":
        write_postfix_log(path, size, counts, seed=seed)
    else:
        write_exim_log(path, size, counts, seed=seed)
    return counts


def write_folder(folder: str, files: int, scale: float) -> dict[str, list[Counts]]:
    """``files`` inputs, the kinds in turn, each with its own seed; on every core."""
    os.makedirs(folder)
    jobs = []
    for i in range(files):
        kind = KINDS[i % len(KINDS)]
        size = max(10, round((CAPTURE_SESSIONS if kind == "capture" else LOG_LINES) * scale))
        jobs.append((kind, os.path.join(folder, f"{i:03d}-{_NAMES[kind]}"), size, 100 + i))
    made: dict[str, list[Counts]] = {kind: [] for kind in KINDS}
    with cf.ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        done = pool.map(_write, *(list(column) for column in zip(*jobs, strict=True)))
        for (kind, *_), counts in zip(jobs, done, strict=True):
            made[kind].append(counts)
    return made


# ---------------------------------------------------------------------------- runs
def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(label: str, cmd: list[str], json_path: str | None = None) -> Run | None:
    """``cmd`` in a child process, stdout to /dev/null; None (the reason printed) when it
    fails. The CPU time counts the workers too: each is waited for by its parent."""
    if json_path is not None and os.path.exists(json_path):
        os.unlink(json_path)
    cpu, start = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall, cpu = time.perf_counter() - start, _children_cpu() - cpu
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        print(f"  {label}: failed ({proc.returncode}): {err[-600:]}")
        return None
    report = None
    if json_path is not None:
        with open(json_path, encoding="utf-8") as fh:
            report = json.load(fh)
    return Run(label, wall, cpu, report)


def best(label: str, cmd: list[str], json_path: str | None, repeat: int) -> Run | None:
    """The fastest of ``repeat`` runs (the others were slowed by something else)."""
    runs = [timed(label, cmd, json_path) for _ in range(repeat)]
    ok = [r for r in runs if r is not None]
    return min(ok, key=lambda r: r.wall) if len(ok) == len(runs) else None


def audit(paths: list[str], json_path: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "smtplens", "audit", *paths, *extra, "--quiet",
            "--fail-on", "never", "--json", json_path]


def show(run: Run, unit: str = "", amount: float = 0) -> None:
    rate = f"{amount / run.wall:10.0f} {unit}/s" if unit else ""
    print(f"  {run.label:34s}{run.wall:7.2f} s wall {run.cpu:7.2f} s CPU{rate}")


def _first_difference(a: object, b: object, where: str) -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            found = _first_difference(a.get(key), b.get(key), f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_difference(x, y, f"{where}[{i}]")
            if found:
                return found
        return None
    return None if a == b else where


def same_report(a: Run, b: Run) -> str:
    """Whether two audits of the same inputs agree (all but run-specific fields)."""
    if a.report is None or b.report is None:
        return "no report to compare"
    keys = ("totals", "cross_findings", "findings", "top_clients", "top_servers", "timeline")
    diff = [d for k in keys if (d := _first_difference(a.report.get(k), b.report.get(k), k))]
    return "same report" if not diff else f"REPORTS DIFFER at {', '.join(diff)}"


def have_audit() -> bool:
    proc = subprocess.run([sys.executable, "-m", "smtplens", "audit", "--help"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if proc.returncode != 0:
        print("smtplens audit: not available in this checkout (smtplens audit --help failed); "
              "the audit runs are skipped")
    return proc.returncode == 0


# ---------------------------------------------------------------------------- parts
def machine() -> None:
    cores = os.cpu_count() or 1
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    load = os.getloadavg()
    print(f"machine: {cores} cores ({usable} usable here), load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1, 5, 15 min)")
    if load[0] > max(0.5, usable - 1.5):
        print("  the other cores are busy: a jobs1/jobs2 ratio below 2 says little now")


def folder_part(folder: str, made: dict[str, list[Counts]], work: str, repeat: int) -> None:
    n = sum(len(c) for c in made.values())
    size = sum(c.size for cs in made.values() for c in cs)
    sessions = sum(c.sessions for cs in made.values() for c in cs)
    print(f"\n(a) a folder of {n} files, {size / 1e6:.1f} MB, {sessions} sessions:")
    for kind, counts in made.items():
        if counts:
            unit = "packets" if kind == "capture" else "lines"
            print(f"      {len(counts):3d} x {kind:8s} about {counts[0].size / 1e6:4.1f} MB, "
                  f"{counts[0].lines} {unit}, {counts[0].sessions} sessions each")
    one = best("smtplens audit --jobs 1", audit([folder], os.path.join(work, "j1.json"),
                                                "--jobs", "1"), os.path.join(work, "j1.json"),
               repeat)
    two = best("smtplens audit --jobs 2", audit([folder], os.path.join(work, "j2.json"),
                                                "--jobs", "2"), os.path.join(work, "j2.json"),
               repeat)
    for run in (one, two):
        if run is not None:
            show(run, "sess", sessions)
    if one is not None and two is not None:
        print(f"      jobs1/jobs2: wall {one.wall / two.wall:5.2f}x (2.00: a perfect split), "
              f"CPU {one.cpu / two.cpu:5.2f}x (1.00: no overhead); {same_report(one, two)}")
    if importlib.util.find_spec("distributed") is None:
        print("\n(c) dask: not installed (pip install smtplens[dask]), skipped")
        return
    print("\n(c) the same folder on Dask (a LocalCluster of 2, started by the run):")
    dask = best("smtplens audit --engine dask -j2",
                audit([folder], os.path.join(work, "dask.json"), "--engine", "dask",
                      "--jobs", "2"), os.path.join(work, "dask.json"), repeat)
    if dask is None:
        return
    show(dask, "sess", sessions)
    if two is not None:
        show(two, "sess", sessions)
        print(f"      local/dask (both 2 workers): wall {two.wall / dask.wall:5.2f}x "
              f"(below 1: Dask is slower, mostly its cluster's start-up), CPU "
              f"{two.cpu / dask.cpu:5.2f}x; {same_report(two, dask)}")


def postfix_part(tmp: str, work: str, lines: int, repeat: int, audit_ok: bool) -> None:
    path, counts = os.path.join(tmp, "busy-maillog"), Counts()
    t = time.perf_counter()
    write_postfix_log(path, lines, counts)
    print(f"\n(b) one busy Postfix log: {counts.lines} lines, {counts.size / 1e6:.1f} MB, "
          f"{counts.sessions} sessions (written in {time.perf_counter() - t:.1f} s)")
    start = timed("python + import smtplens.cli", [sys.executable, "-c", "import smtplens.cli"])
    if start is not None:
        print(f"  python + import smtplens.cli: {start.wall:.2f} s, in the smtplens run below")
    ours = None
    if audit_ok:
        json_path = os.path.join(work, "postfix.json")
        ours = best("smtplens audit", audit([path], json_path, "--jobs", "1"), json_path,
                    repeat)
        if ours is not None:
            show(ours, "lines", counts.lines)
    pflogsumm = shutil.which("pflogsumm")
    if pflogsumm is None:
        print("  pflogsumm: not installed (benchmarks/install-peers installs it), skipped")
        return
    peer = best("pflogsumm", [pflogsumm, path], None, repeat)
    if peer is None:
        return
    show(peer, "lines", counts.lines)
    if ours is not None:
        print(f"      smtplens/pflogsumm lines/s: {peer.wall / ours.wall:5.2f}x "
              f"(above 1: smtplens is faster), CPU {peer.cpu / ours.cpu:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--files", type=int, default=21, help="files in the folder (>= 2)")
    parser.add_argument("--scale", type=float, default=1.0, help="size of each file, x")
    parser.add_argument("--lines", type=int, default=300_000, help="lines of the busy log")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the fastest")
    parser.add_argument("--only", choices=("folder", "postfix"))
    parser.add_argument("--keep", action="store_true", help="keep the generated inputs")
    args = parser.parse_args()
    machine()
    audit_ok = have_audit()
    tmp = tempfile.mkdtemp(prefix="smtplens-audit-bench-")
    work = os.path.join(tmp, "reports")  # outside the folder: not read as an input
    os.makedirs(work)
    try:
        if args.only in (None, "folder"):
            folder = os.path.join(tmp, "inputs")
            t = time.perf_counter()
            made = write_folder(folder, max(2, args.files), args.scale)
            print(f"inputs written in {time.perf_counter() - t:.1f} s at {folder}")
            if audit_ok:
                folder_part(folder, made, work, max(1, args.repeat))
        if args.only in (None, "postfix"):
            postfix_part(tmp, work, args.lines, max(1, args.repeat), audit_ok)
    finally:
        if args.keep:
            print(f"\ninputs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
