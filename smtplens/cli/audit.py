"""``smtplens audit``: many captures and logs, one report, an exit code for cron and CI.

This module parses what the command was given and writes what the audit found; the
work is in :mod:`smtplens.audit`. Exit codes: 0 clean, 1 a finding at or above
``--fail-on``, 3 some files were bad (the report covers the rest), 2 nothing usable
(or a usage error, or an unreadable ``--state`` file).
"""

from __future__ import annotations

import glob
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from smtplens.audit.correlate import Correlator
from smtplens.audit.report import RunInfo, build, write_csv, write_parquet
from smtplens.audit.run import (
    AuditOptions,
    FileResult,
    Task,
    file_size,
    gather,
    plan_tasks,
    run_dask,
    run_local,
)
from smtplens.audit.state import AuditState, Planned
from smtplens.audit.tally import FileStatus
from smtplens.cli.progressbar import ProgressBar
from smtplens.cli.terminal import SafeConsole
from smtplens.errors import SmtplensError
from smtplens.sources.rotation import expand
from smtplens.textutil import visible


class UsageError(SmtplensError):
    """A bad option value (exit 2)."""


# ------------------------------------------------------------------------ arguments
_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_when(text: str, option: str, now: float | None = None) -> float:
    """``--since``/``--until``: an ISO date or time (UTC unless it says otherwise:
    ``2026-11-25``, ``2026-11-25T10:00``, ``2026-11-25 10:00+01:00``), or a span back
    from now (``90m``, ``24h``, ``7d``, ``2w``)."""
    text = text.strip()
    m = _RELATIVE.match(text)
    if m is not None:
        return (time.time() if now is None else now) - int(m.group(1)) * _UNITS[m.group(2)]
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{option}: {text!r} is neither a date/time (2026-11-25, "
                         "2026-11-25T10:00) nor a span back from now (24h, 7d)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def expand_inputs(patterns: list[str]) -> list[str]:
    """Files, folders (recursive) and globs (``logs/**/mail.log*``, quoted so the shell
    leaves them) as one list, rotated sets oldest first; each file once."""
    paths: list[str] = []
    for pattern in patterns:
        if not os.path.exists(pattern) and glob.has_magic(pattern):
            matched = sorted(glob.glob(pattern, recursive=True))
            paths.extend(matched if matched else [pattern])  # no match: reported as missing
        else:
            paths.append(pattern)
    seen: set[str] = set()
    out = []
    for path in expand(paths):
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            out.append(path)
    return out


def parse_span(text: str, option: str) -> float:
    """A length of time: ``600``, ``600s``, ``10m``, ``1h``, ``2d``."""
    text = text.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    m = _RELATIVE.match(text)
    if m is None or int(m.group(1)) == 0:
        raise UsageError(f"{option}: {text!r} is not a length of time (600s, 10m, 1h)")
    return float(int(m.group(1)) * _UNITS[m.group(2)])


@dataclass(frozen=True, slots=True)
class AuditArgs:
    """What ``smtplens audit`` was asked to do."""

    inputs: list[str]
    jobs: int
    engine: str = "local"
    scheduler: str | None = None
    since: float | None = None
    until: float | None = None
    fail_on: str = "error"
    quiet: bool = False
    json_path: str | None = None
    csv_dir: str | None = None
    parquet_dir: str | None = None
    html_path: str | None = None
    state_path: str | None = None
    options: AuditOptions = field(default_factory=AuditOptions)
    lang: str = "en"


# ------------------------------------------------------------------------ running
def run_audit(args: AuditArgs, err: Callable[[str], None]) -> int:
    """The whole audit; returns the exit code. ``err`` prints a message on stderr."""
    paths = expand_inputs(args.inputs)
    if not paths:
        err("no input files")
        return 2
    state = AuditState.load(args.state_path) if args.state_path else None
    thresholds = args.options.thresholds
    carried = Correlator.resume(state.carried, thresholds) \
        if state is not None and state.carried else None
    planned = state.plan(paths) if state is not None else [None] * len(paths)
    skipped: list[FileStatus] = []
    chosen: list[Task] = []
    by_path: dict[str, Planned] = {}
    for path, plan in zip(paths, planned, strict=True):
        if plan is None:
            chosen.append(Task(path))
        elif plan.skip:
            skipped.append(FileStatus(path, size=file_size(path), skipped=plan.skip,
                                      note=plan.note))
        else:
            chosen.append(Task(path, plan.span, note=plan.note))
            by_path[path] = plan
    tasks = plan_tasks(chosen, args.jobs)

    enabled = None if not args.quiet else False
    with ProgressBar([t.path for t in tasks], enabled=enabled) as bar:
        def finished(result: FileResult) -> None:
            status = result.status
            for problem in status.problems:
                where = ", ".join(x for x in (status.path, problem["location"]) if x)
                if not args.quiet:
                    bar.print(f"smtplens: {visible(where)}: {visible(problem['message'])}",
                              style="red", markup=False, soft_wrap=True)
            if result.ticked:
                bar.file_done(status.path, 0, 0)
            else:
                bar.file_done(status.path, status.sessions, result.findings)
            if state is not None:
                plan = by_path.get(status.path)
                if plan is not None and not status.unreadable:
                    state.done(plan, result.span)

        results: Iterator[tuple[int, FileResult]]
        if args.engine == "dask":
            results = run_dask(tasks, args.options, args.scheduler, args.jobs,
                               on_start=lambda where: None if args.quiet else
                               err(f"dask: {where}"))
        else:
            results = run_local(tasks, args.options, args.jobs, tick=bar.tick)
        gathered = gather(results, thresholds, carried, on_result=finished)
    gathered.tally.files.extend(skipped)
    cross = gathered.correlator.findings()
    run = RunInfo(tuple(args.inputs), args.since, args.until, args.fail_on, args.engine,
                  args.jobs, args.state_path, args.lang)
    report = build(gathered.tally, cross, run)
    _write_outputs(report, args, err)
    if not args.quiet:
        print_report(SafeConsole(highlight=False, soft_wrap=True), report)
    if state is not None:
        state.carried = gathered.correlator.carry()
        state.save()
    code: int = report["exit_code"]
    return code


def _write_outputs(report: dict[str, Any], args: AuditArgs, err: Callable[[str], None]) -> None:
    try:
        if args.json_path is not None:
            text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
            if args.json_path == "-":
                sys.stdout.write(text)
            else:
                _write_text(args.json_path, text)
        if args.csv_dir is not None:
            write_csv(report, args.csv_dir)
        if args.parquet_dir is not None:
            write_parquet(report, args.parquet_dir)
        if args.html_path is not None:
            from smtplens.views.audit_page import render_audit_page

            _write_text(args.html_path, render_audit_page(report))
    except OSError as e:
        raise SmtplensError(f"cannot write the report: {e.filename or ''}: "
                            f"{e.strerror or e}") from e


def _write_text(path: str, text: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as out:
        out.write(text)
    os.replace(tmp, path)


# ------------------------------------------------------------------------ terminal
_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def _when(ts: float | None) -> str:
    if ts is None:
        return "?"
    try:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return "time out of range"


def print_report(console: SafeConsole, report: dict[str, Any]) -> None:
    """The audit on a terminal: totals, cross-session findings, findings by id, the
    worst clients and servers, bad files. Every wire string is escaped by the console."""
    t = report["totals"]
    auth = t["auth"]
    span = f"{_when(t['first_ts'])} to {_when(t['last_ts'])}" if t["first_ts"] else "no times"
    console.print(f"Audit: {t['files']} files ({t['bad_files']} bad), {t['sessions']} sessions"
                  f" ({t['tls_sessions']} TLS), {t['messages']} messages, "
                  f"AUTH {auth.get('success', 0)} ok / {auth.get('failure', 0)} failed; "
                  f"{span}", style="bold", markup=False)
    if report["cross_findings"]:
        console.print("\nAcross sessions:", style="bold", markup=False)
        for c in report["cross_findings"]:
            console.print(f"  {c['severity'].upper():7} {c['id']}  {c['subject']}: "
                          f"{c['detail']}", style=_STYLE.get(c["severity"]), markup=False)
            place = c["places"][0] if c["places"] else None
            if place is not None:
                where = ", ".join(x for x in (place["file"], place["location"]
                                              or f"session {place['session']}") if x)
                console.print(f"           first at {where} ({_when(place['ts'])})",
                              markup=False)
    if report["findings"]:
        console.print("\nFindings by id:", style="bold", markup=False)
        for f in report["findings"]:
            console.print(f"  {f['severity'].upper():7} {f['id']:34} ×{f['count']} in "
                          f"{f['sessions']} sessions  {f['title']}",
                          style=_STYLE.get(f["severity"]), markup=False)
    for title, key in (("Worst clients", "top_clients"), ("Worst servers", "top_servers")):
        rows = [r for r in report[key][:10] if r["errors"] or r["auth_failure"]
                or r["warnings"]]
        if rows:
            console.print(f"\n{title}:", style="bold", markup=False)
            for r in rows:
                users = f"  users: {', '.join(r['users'][:5])}" if r["users"] else ""
                console.print(f"  {r['address']:40} {r['sessions']} sessions, "
                              f"{r['auth_failure']} failed AUTH, {r['errors']} errors, "
                              f"{r['warnings']} warnings{users}", markup=False)
    bad = [f for f in report["files"] if f["bad"]]
    if bad:
        console.print("\nBad files:", style="bold red", markup=False)
        for f in bad:
            p = f["problems"][0] if f["problems"] else None
            why = (f"{p['location'] + ': ' if p['location'] else ''}{p['message']}"
                   if p else "no SMTP session in it")
            console.print(f"  {f['path']}: {why}", markup=False)
    console.print(f"\nexit code {report['exit_code']}", markup=False)
