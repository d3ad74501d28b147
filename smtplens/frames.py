"""pandas DataFrames of sessions (the only module that imports pandas).

``smtplens.load(paths)`` returns a :class:`Frames` with one typed DataFrame per kind of
record: ``sessions``, ``commands`` (with reply latency), ``auth``, ``messages`` and
``findings``. Secrets stay redacted unless ``reveal=True``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from smtplens.analysis import Problem, analyze_file
from smtplens.memcap import DEFAULT_MEMCAP, parse_size
from smtplens.model import Session
from smtplens.report import finding_dict
from smtplens.sources.rotation import expand
from smtplens.timestamps import TS_MAX, TS_MIN

_TIME = "datetime64[ns, UTC]"
_DTYPES: dict[str, dict[str, Any]] = {
    "sessions": {"session": "string", "source": "string", "origin": "category",
                 "client": "string", "server": "string", "start": _TIME, "end": _TIME,
                 "helo": "string", "tls": "boolean", "user": "string",
                 "messages": "Int64", "findings": "Int64", "client_bytes": "Int64",
                 "server_bytes": "Int64"},
    "commands": {"session": "string", "item": "Int64", "kind": "category",
                 "verb": "category", "text": "string", "meaning": "string", "ts": _TIME,
                 "reply_code": "Int16", "enhanced": "string", "reply": "string",
                 "latency_ms": "Float64", "pipelined": "boolean"},
    "auth": {"session": "string", "mechanism": "category", "user": "string",
             "outcome": "category", "reply_code": "Int16", "encrypted": "boolean",
             "advertised": "boolean", "steps": "Int64", "ts": _TIME},
    "messages": {"session": "string", "index": "Int64", "mail_from": "string",
                 "recipients": "string", "method": "category", "size": "Int64",
                 "sha256": "string", "subject": "string", "from": "string", "to": "string",
                 "date": "string", "message_id": "string", "attachments": "string",
                 "reply_code": "Int16", "complete": "boolean", "ts": _TIME},
    "findings": {"session": "string", "id": "category", "severity": "category",
                 "title": "string", "detail": "string", "direction": "category",
                 "ts": _TIME, "offset": "Int64", "location": "string", "excerpt": "string"},
}


@dataclass
class Frames:
    """The DataFrames of one or more inputs, plus the input problems met."""

    sessions: pd.DataFrame
    commands: pd.DataFrame
    auth: pd.DataFrame
    messages: pd.DataFrame
    findings: pd.DataFrame
    problems: list[Problem]


#: text columns keep Python strings: wire bytes that were not UTF-8 travel as surrogate
#: escapes, which pandas' pyarrow-backed strings (its default once pyarrow is installed)
#: cannot hold
_TEXT = pd.StringDtype("python")


def _frame(kind: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    columns = _DTYPES[kind]
    df = pd.DataFrame(rows, columns=list(columns), dtype=object)  # no inference: see _TEXT
    for name, dtype in columns.items():
        if dtype == "string":
            df[name] = df[name].astype(_TEXT)
            continue
        if dtype == "category":  # its categories are text too (sorted, as astype does)
            values = df[name]
            found = sorted({v for v in values if isinstance(v, str)})
            df[name] = pd.Categorical(values, categories=pd.Index(found, dtype=_TEXT))
            continue
        if dtype == _TIME:
            # a time outside the window every view shares (smtplens.timestamps) is
            # NaT, not OutOfBoundsDatetime: the input problem was reported already
            seconds = pd.to_numeric(df[name], errors="coerce")
            seconds = seconds.where((seconds >= TS_MIN) & (seconds <= TS_MAX))
            df[name] = pd.to_datetime(seconds, unit="s", utc=True)
        else:
            df[name] = df[name].astype(dtype)
    return df


def to_frames(sessions: Iterable[Session], reveal: bool = False,
              problems: list[Problem] | None = None) -> Frames:
    """DataFrames from sessions already analyzed."""
    rows: dict[str, list[dict[str, Any]]] = {kind: [] for kind in _DTYPES}
    for s in sessions:
        rows["sessions"].append({
            "session": s.id, "source": s.source, "origin": s.origin,
            "client": str(s.client) if s.client else None,
            "server": str(s.server) if s.server else None, "start": s.ts_start,
            "end": s.ts_end, "helo": s.helo, "tls": s.tls, "user": s.user,
            "messages": len(s.messages), "findings": len(s.findings),
            "client_bytes": s.client_bytes, "server_bytes": s.server_bytes})
        for e in s.exchanges:
            rows["commands"].append({
                "session": s.id, "item": e.item, "kind": e.kind, "verb": e.verb,
                "text": e.shown(reveal), "meaning": e.meaning(reveal), "ts": e.ts,
                "reply_code": e.reply_code, "enhanced": e.enhanced, "reply": e.reply_text,
                "latency_ms": None if e.latency is None else e.latency * 1000,
                "pipelined": e.pipelined})
        for a in s.auth:
            rows["auth"].append({
                "session": s.id, "mechanism": a.mechanism, "user": a.user,
                "outcome": a.outcome, "reply_code": a.reply_code, "encrypted": a.encrypted,
                "advertised": a.advertised, "steps": len(a.steps), "ts": a.ts})
        for t in s.transactions:
            m = t.message
            info = m.info if m is not None else None
            rows["messages"].append({
                "session": s.id, "index": t.index, "mail_from": t.mail_from,
                "recipients": ",".join(r.address for r in t.recipients),
                "method": t.method, "size": info.size if info else None,
                "sha256": info.sha256 if info else None,
                "subject": info.subject if info else None,
                "from": info.from_ if info else None, "to": info.to if info else None,
                "date": info.date if info else None,
                "message_id": info.message_id if info else None,
                "attachments": ",".join(a.filename or a.content_type
                                        for a in info.attachments) if info else None,
                "reply_code": m.reply_code if m else None,
                "complete": m.complete if m else None, "ts": t.ts})
        for f in s.findings:
            d = finding_dict(f)
            rows["findings"].append({k: d[k] for k in _DTYPES["findings"]})
    frames = {kind: _frame(kind, r) for kind, r in rows.items()}
    return Frames(problems=problems or [], **frames)


def load(paths: str | Iterable[str], *, reveal: bool = False,
         input_format: str | None = None, jobs: int | None = None,
         memcap: int | str | None = DEFAULT_MEMCAP, progress: bool | None = None) -> Frames:
    """Analyze files and return their DataFrames; unreadable input is listed in
    ``problems`` (with file and position), never silently dropped. ``jobs``: processes
    for one large capture (default: one per core). ``memcap``: the memory budget of a
    capture's open connections, bytes or a size such as ``"1G"`` (default 512 MiB).
    ``progress``: a progress bar on stderr for a run longer than half a second
    (default: when stderr is a terminal)."""
    from smtplens.cli.progressbar import ProgressBar  # rich, for the bar only

    budget = parse_size(memcap) if isinstance(memcap, str) else memcap
    problems: list[Problem] = []
    sessions: list[Session] = []
    files = expand([paths] if isinstance(paths, str) else list(paths))
    with ProgressBar(files, enabled=sys.stderr.isatty() if progress is None
                     else progress) as bar:
        for path in files:
            bar.start(path)
            for session in analyze_file(path, fmt=input_format, on_problem=problems.append,
                                        jobs=jobs, memcap=budget):
                sessions.append(session)
                bar.tick(len(session.findings))
    return to_frames(sessions, reveal, problems)
