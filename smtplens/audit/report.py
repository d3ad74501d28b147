"""The audit report as data: one JSON-ready dict (schema ``smtplens-audit``, version 1),
and the same tables as CSV and Parquet files.

The dict is what every output is made from: ``--json``, the terminal summary, the
HTML page (:mod:`smtplens.views.audit_page`), ``--csv`` and ``--parquet``. Its fields
are documented in the README ("Audit report schema"); a test checks the two agree.
Strings in it come from the wire and from file names: each view escapes them for its
medium. Secrets never reach it (user names are identities, not credentials).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smtplens import __version__
from smtplens.audit.correlate import CrossFinding
from smtplens.audit.tally import BUCKET, Party, Tally
from smtplens.errors import SmtplensError
from smtplens.findings.catalog import CATALOG
from smtplens.findings.finding import Severity
from smtplens.textutil import visible

SCHEMA = "smtplens-audit"
VERSION = 1
#: clients and servers listed as the worst offenders
TOP = 20

JSON = dict[str, Any]

# exit codes (README "Exit codes"): worst first
EXIT_OK, EXIT_FINDINGS, EXIT_UNUSABLE, EXIT_BAD_FILES = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class RunInfo:
    """How the audit was run (the report's header)."""

    inputs: tuple[str, ...]
    since: float | None = None
    until: float | None = None
    fail_on: str = "error"
    engine: str = "local"
    jobs: int = 1
    state: str | None = None  #: the ``--state`` file, when one was used
    lang: str = "en"  #: the language of the findings' titles and fixes (en, vi)


def _iso(ts: float | None) -> str | None:
    if ts is None or not math.isfinite(ts):
        return None
    try:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return None


def exit_code(tally: Tally, cross: Sequence[CrossFinding], fail_on: str) -> int:
    """0 clean; 1 a finding at or above ``fail_on``; 3 some files were bad (the report
    covers the rest); 2 nothing usable was read at all (files skipped by ``--state``
    because nothing was appended are not bad)."""
    read = [f for f in tally.files if not f.skipped]
    if read and all(f.bad for f in read):
        return EXIT_UNUSABLE
    if any(f.bad for f in read):
        return EXIT_BAD_FILES
    worst = _worst(tally, cross)
    if fail_on != "never" and worst is not None and worst >= Severity.parse(fail_on):
        return EXIT_FINDINGS
    return EXIT_OK


def _worst(tally: Tally, cross: Sequence[CrossFinding]) -> Severity | None:
    levels = [s for s in (tally.worst, *(c.severity for c in cross)) if s is not None]
    return max(levels) if levels else None


def build(tally: Tally, cross: Sequence[CrossFinding], run: RunInfo) -> JSON:
    """The report dict (schema version :data:`VERSION`)."""
    for c in cross:  # cross findings count in the findings table like the others
        tally.findings[c.id] += 1
        tally.finding_sessions[c.id] += c.count
        tally.severities[c.id] = str(max(c.severity, Severity.parse(
            tally.severities.get(c.id, str(c.severity)))))
    worst = _worst(tally, cross)
    bad = [f for f in tally.files if f.bad]
    return {
        "schema": SCHEMA, "version": VERSION, "smtplens": __version__,
        "generated": _iso(datetime.now(UTC).timestamp()),
        "inputs": list(run.inputs), "window": {"since": _iso(run.since),
                                               "until": _iso(run.until)},
        "fail_on": run.fail_on, "engine": run.engine, "jobs": run.jobs, "state": run.state,
        "lang": run.lang,
        "exit_code": exit_code(tally, cross, run.fail_on),
        "totals": {
            "files": len(tally.files), "bad_files": len(bad), "sessions": tally.sessions,
            "partial_sessions": tally.partial_sessions, "tls_sessions": tally.tls_sessions,
            "messages": tally.messages, "message_bytes": tally.message_bytes,
            "recipients": tally.recipients, "rejected_recipients": tally.rejected_recipients,
            "auth": dict(sorted(tally.auth.items())),
            "mechanisms": dict(sorted(tally.mechanisms.items())),
            "origins": dict(sorted(tally.origins.items())),
            "first_ts": tally.first_ts, "last_ts": tally.last_ts,
            "worst": str(worst) if worst is not None else None,
            "findings": sum(tally.findings.values()),
        },
        "cross_findings": [_cross(c, run.lang) for c in cross],
        "findings": _findings(tally, run.lang),
        "top_clients": _top(tally.clients),
        "top_servers": _top(tally.servers),
        "timeline": [{"start": float(hour * BUCKET), "sessions": n, "auth_failures": fails,
                      "error_sessions": errors}
                     for hour, (n, fails, errors) in sorted(tally.timeline.items())],
        "files": [{"path": f.path, "origin": f.origin, "sessions": f.sessions,
                   "size": f.size, "read_from": f.read_from, "unreadable": f.unreadable,
                   "skipped": f.skipped, "bad": f.bad, "note": f.note,
                   "problems": list(f.problems)} for f in tally.files],
    }


def _texts(finding_id: str, lang: str) -> tuple[str, str, str]:
    """Title, fix and rule of a finding in ``lang`` (smtplens.explain; en: the catalog)."""
    spec = CATALOG[finding_id]
    if lang == "en":
        return spec.title, spec.fix, spec.rfc
    from smtplens.explain import lookup

    entry = lookup(finding_id, lang)[0]
    return entry.title, entry.fix, spec.rfc


def _cross(c: CrossFinding, lang: str) -> JSON:
    title, fix, rfc = _texts(c.id, lang)
    return {"id": c.id, "severity": str(c.severity), "title": title,
            "subject": c.subject, "detail": c.detail, "count": c.count,
            "first_ts": c.first_ts, "last_ts": c.last_ts, "rfc": rfc, "fix": fix,
            "places": [{"file": p.file, "session": p.session, "location": p.location,
                        "ts": p.ts} for p in c.places]}


def _findings(tally: Tally, lang: str) -> list[JSON]:
    rows: list[JSON] = []
    for fid, count in tally.findings.items():
        spec = CATALOG[fid]
        title, fix, rfc = _texts(fid, lang)
        rows.append({
            "id": fid, "severity": tally.severities.get(fid, str(spec.severity)),
            "title": title, "count": count, "sessions": tally.finding_sessions[fid],
            "rfc": rfc, "fix": fix, "cross": fid.startswith("audit."),
            "examples": [{"file": e.file, "session": e.session, "location": e.location,
                          "ts": e.ts, "detail": e.detail}
                         for e in tally.examples.get(fid, [])]})
    rows.sort(key=lambda r: (-Severity.parse(str(r["severity"])), -int(r["count"]),
                             str(r["id"])))
    return rows


def _top(parties: dict[str, Party]) -> list[JSON]:
    ranked = sorted(parties.items(), key=lambda kv: (tuple(-x for x in kv[1].score()), kv[0]))
    return [{"address": key, "sessions": p.sessions, "auth_success": p.auth_success,
             "auth_failure": p.auth_failure, "messages": p.messages,
             "errors": p.findings["error"], "warnings": p.findings["warning"],
             "users": sorted(p.users)} for key, p in ranked[:TOP]]


# --------------------------------------------------------------------------- tables
#: the tables of ``--csv`` and ``--parquet``: name -> (column, type) in order
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "files": (("path", "str"), ("origin", "str"), ("sessions", "int"), ("size", "int"),
              ("read_from", "int"), ("unreadable", "bool"), ("skipped", "str"),
              ("bad", "bool"), ("problems", "int"), ("first_problem", "str")),
    "findings": (("id", "str"), ("severity", "str"), ("title", "str"), ("count", "int"),
                 ("sessions", "int"), ("cross", "bool"), ("rfc", "str"),
                 ("example_file", "str"), ("example_location", "str"),
                 ("example_detail", "str")),
    "cross_findings": (("id", "str"), ("severity", "str"), ("subject", "str"),
                       ("detail", "str"), ("count", "int"), ("first_ts", "time"),
                       ("last_ts", "time"), ("file", "str"), ("location", "str")),
    "clients": (("address", "str"), ("sessions", "int"), ("auth_success", "int"),
                ("auth_failure", "int"), ("messages", "int"), ("errors", "int"),
                ("warnings", "int"), ("users", "str")),
    "servers": (("address", "str"), ("sessions", "int"), ("auth_success", "int"),
                ("auth_failure", "int"), ("messages", "int"), ("errors", "int"),
                ("warnings", "int"), ("users", "str")),
    "timeline": (("start", "time"), ("sessions", "int"), ("auth_failures", "int"),
                 ("error_sessions", "int")),
}


def table_rows(report: JSON) -> dict[str, list[JSON]]:
    """The report's tables as rows (columns of :data:`TABLES`)."""
    def first(items: list[JSON], key: str) -> Any:
        return items[0].get(key, "") if items else ""

    return {
        "files": [{**{k: f[k] for k in ("path", "origin", "sessions", "size", "read_from",
                                          "unreadable", "skipped", "bad")},
                   "problems": len(f["problems"]),
                   "first_problem": _problem_text(f["problems"])} for f in report["files"]],
        "findings": [{**{k: r[k] for k in ("id", "severity", "title", "count", "sessions",
                                           "cross", "rfc")},
                      "example_file": first(r["examples"], "file"),
                      "example_location": first(r["examples"], "location"),
                      "example_detail": first(r["examples"], "detail")}
                     for r in report["findings"]],
        "cross_findings": [{**{k: c[k] for k in ("id", "severity", "subject", "detail",
                                                 "count", "first_ts", "last_ts")},
                            "file": first(c["places"], "file"),
                            "location": first(c["places"], "location")}
                           for c in report["cross_findings"]],
        "clients": [{**p, "users": " ".join(p["users"])} for p in report["top_clients"]],
        "servers": [{**p, "users": " ".join(p["users"])} for p in report["top_servers"]],
        "timeline": list(report["timeline"]),
    }


def _problem_text(problems: list[JSON]) -> str:
    if not problems:
        return ""
    p = problems[0]
    return f"{p['location']}: {p['message']}" if p.get("location") else str(p["message"])


#: a cell that a spreadsheet would run as a formula (CSV injection): shown with a quote
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        value = visible(value)  # no control character from the wire goes raw
        if value.startswith(_FORMULA_START):
            return "'" + value
    return value


def write_csv(report: JSON, folder: str) -> list[str]:
    """One CSV file per table in ``folder`` (made if missing); the paths written."""
    os.makedirs(folder, exist_ok=True)
    written = []
    for name, rows in table_rows(report).items():
        path = os.path.join(folder, f"{name}.csv")
        columns = [c for c, _ in TABLES[name]]
        with open(path, "w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _cell(row.get(k)) for k in columns})
        written.append(path)
    return written


def write_parquet(report: JSON, folder: str) -> list[str]:
    """One Parquet file per table in ``folder`` (pyarrow); times as UTC timestamps."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise SmtplensError("--parquet needs pyarrow: pip install 'smtplens[parquet]'") \
            from None

    kinds = {"str": pa.string(), "int": pa.int64(), "bool": pa.bool_(),
             "time": pa.timestamp("us", tz="UTC")}
    os.makedirs(folder, exist_ok=True)
    written = []
    for name, rows in table_rows(report).items():
        schema = pa.schema([(c, kinds[t]) for c, t in TABLES[name]])
        columns: dict[str, list[Any]] = {c: [] for c, _ in TABLES[name]}
        for row in rows:
            for c, t in TABLES[name]:
                columns[c].append(_arrow_value(row.get(c), t))
        table = pa.table(columns, schema=schema)
        path = os.path.join(folder, f"{name}.parquet")
        pq.write_table(table, path)
        written.append(path)
    return written


def _arrow_value(value: Any, kind: str) -> Any:
    if kind == "time":
        if value is None or not math.isfinite(value):
            return None
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return value
