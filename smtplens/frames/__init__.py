"""pandas DataFrames of sessions (the package that imports pandas and matplotlib).

``smtplens.load(paths)`` returns a :class:`Frames` with one typed DataFrame per kind of
record: ``sessions``, ``commands`` (with reply latency), ``auth``, ``auth_steps`` (every
decoded ``334`` challenge and answer), ``messages``, ``findings`` and ``problems``
(input errors). Their columns are in :data:`~smtplens.frames.tables.COLUMNS`. Secrets
stay redacted unless ``reveal=True``. In a notebook, :meth:`Frames.session` shows one
conversation as a ladder and the result shows its totals; :mod:`smtplens.frames.plots`
draws the usual figures; :meth:`Frames.to_parquet` and :func:`read_parquet` keep the
dtypes across a round trip.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

import pandas as pd

from smtplens.analysis import Problem, analyze_file
from smtplens.frames.tables import COLUMNS, TIME, Rows, columns_markdown, frame
from smtplens.memcap import DEFAULT_MEMCAP, parse_size
from smtplens.model import Session
from smtplens.sources.rotation import expand

__all__ = ["COLUMNS", "Frames", "SessionView", "columns_markdown", "load", "read_csv",
           "read_parquet", "to_frames"]

#: the tables, in the order of :class:`Frames`' fields
TABLES = tuple(COLUMNS)


@dataclass
class Frames:
    """The DataFrames of one or more inputs, and the input problems met."""

    sessions: pd.DataFrame
    commands: pd.DataFrame
    auth: pd.DataFrame
    auth_steps: pd.DataFrame
    messages: pd.DataFrame
    findings: pd.DataFrame
    problems: pd.DataFrame

    def session(self, session_id: str, source: str | None = None) -> SessionView:
        """One conversation (its rows of every table), shown as a ladder in a notebook.
        ``source`` picks the file when several have a session of that id."""
        picked = self.sessions[self.sessions["session"] == session_id]
        if source is not None:
            picked = picked[picked["source"] == source]
        if picked.empty:
            known = ", ".join(self.sessions["session"].head(5).astype(str))
            raise KeyError(f"no session {session_id!r} (some ids: {known})")
        if len(picked) > 1:
            files = ", ".join(picked["source"].astype(str))
            raise KeyError(f"session {session_id!r} is in several files ({files}): "
                           "pass source=")
        row = picked.iloc[0]
        return SessionView(session_id, str(row["source"]), {
            t: _of_session(getattr(self, t), session_id, str(row["source"]))
            for t in TABLES if t not in ("sessions", "problems")
        } | {"sessions": picked})

    def totals(self) -> dict[str, Any]:
        """The numbers a summary shows."""
        outcomes = self.auth["outcome"].astype(object).value_counts()
        return {"sessions": len(self.sessions), "auth": len(self.auth),
                "auth_success": int(outcomes.get("success", 0)),
                "auth_failure": int(outcomes.get("failure", 0)),
                "messages": int(self.messages["method"].notna().sum()),
                "findings": len(self.findings), "problems": len(self.problems)}

    def _repr_html_(self) -> str:
        from smtplens.views.ladder import render_summary

        by_severity = {str(k): int(v) for k, v in
                       self.findings["severity"].astype(object).value_counts().items()}
        return str(render_summary(self.totals(), _records(self.sessions.head(50)),
                                  by_severity, _records(self.problems.head(50))))

    def __repr__(self) -> str:
        t = self.totals()
        return (f"<smtplens Frames: {t['sessions']} sessions, {t['auth']} AUTH "
                f"({t['auth_success']} ok, {t['auth_failure']} failed), {t['messages']} "
                f"messages, {t['findings']} findings, {t['problems']} input problems; "
                f"tables: {', '.join(TABLES)}>")

    def to_parquet(self, folder: str | os.PathLike[str]) -> list[str]:
        """One Parquet file per table in ``folder`` (pyarrow); :func:`read_parquet`
        reads them back with the same dtypes."""
        return _write(self, folder, "parquet")

    def to_csv(self, folder: str | os.PathLike[str]) -> list[str]:
        """One CSV file per table in ``folder``; :func:`read_csv` restores the dtypes
        (an empty text and a missing one are the same empty cell in CSV: both come back
        missing; Parquet keeps them apart)."""
        return _write(self, folder, "csv")


def _of_session(df: pd.DataFrame, session_id: str, source: str) -> pd.DataFrame:
    return df[(df["session"] == session_id) & (df["source"] == source)]


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): (None if _na(v) else v) for k, v in row.items()}
            for row in df.to_dict("records")]


def _na(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or array: a value
        return False


@dataclass
class SessionView:
    """One conversation: its rows of every table, and the ladder in a notebook."""

    id: str
    source: str
    tables: dict[str, pd.DataFrame]

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            found: pd.DataFrame = tables[name]
            return found
        raise AttributeError(name)

    def _repr_html_(self) -> str:
        from smtplens.explain import UnknownCode, default_lang, lookup
        from smtplens.views.ladder import render_ladder

        lang = default_lang()  # SMTPLENS_LANG: en or vi

        def explain(finding_id: str) -> tuple[str, str, str]:
            try:
                entry = lookup(finding_id, lang)[0]
            except UnknownCode:
                return ("", "", "")
            return (entry.description, entry.when, entry.fix)

        t = self.tables
        return str(render_ladder(_records(t["sessions"])[0], _records(t["commands"]),
                                 _records(t["auth_steps"]), _records(t["messages"]),
                                 _records(t["findings"]), explain=explain))

    def __repr__(self) -> str:
        t = self.tables
        s = _records(t["sessions"])[0]
        return (f"<smtplens session {self.id} of {self.source}: {s.get('client')} -> "
                f"{s.get('server')}, {len(t['commands'])} commands, {len(t['auth'])} AUTH, "
                f"{len(t['messages'])} transactions, {len(t['findings'])} findings>")


def to_frames(sessions: Iterable[Session], reveal: bool = False,
              problems: Iterable[Problem] = ()) -> Frames:
    """DataFrames from sessions already analyzed."""
    rows = Rows(reveal)
    for s in sessions:
        rows.add(s)
    for p in problems:
        rows.add_problem(p)
    return Frames(**rows.frames())


def load(paths: str | Iterable[str], *, reveal: bool = False,
         input_format: str | None = None, jobs: int | None = None,
         memcap: int | str | None = DEFAULT_MEMCAP, progress: bool | None = None) -> Frames:
    """Analyze files and return their DataFrames; unreadable input is listed in
    ``problems`` (with file and position), never silently dropped. ``jobs``: processes
    for one large capture (default: one per core). ``memcap``: the memory budget of a
    capture's open connections, bytes or a size such as ``"1G"`` (default 512 MiB).
    ``progress``: a progress bar on stderr for a run longer than half a second
    (default: when stderr is a terminal, or in a Jupyter kernel with ipywidgets).

    Each session becomes rows as soon as it is built and is then dropped: memory holds
    the rows, not the sessions (and never a message body)."""
    from smtplens.cli.progressbar import ProgressBar  # rich, for the bar only

    budget = parse_size(memcap) if isinstance(memcap, str) else memcap
    rows = Rows(reveal)
    files = expand([paths] if isinstance(paths, str) else list(paths))
    enabled = _interactive() if progress is None else progress
    console = _console() if enabled else None
    bar = ProgressBar(files, enabled=enabled) if console is None else \
        ProgressBar(files, enabled=enabled, console=console)
    with bar:
        for path in files:
            bar.start(path)
            for session in analyze_file(path, fmt=input_format, on_problem=rows.add_problem,
                                        jobs=jobs, memcap=budget):
                rows.add(session)
                bar.tick(len(session.findings))
    return Frames(**rows.frames())


def _in_kernel() -> bool:
    shell = sys.modules.get("IPython")
    get = getattr(shell, "get_ipython", None)
    return get is not None and get() is not None and "ipykernel" in sys.modules


def _interactive() -> bool:
    # rich draws its bar in a notebook through ipywidgets (smtplens[notebook] has it)
    return sys.stderr.isatty() or (_in_kernel()
                                   and importlib.util.find_spec("ipywidgets") is not None)


def _console() -> Any:
    """A console for the bar: in a Jupyter kernel, rich's notebook display."""
    if not _in_kernel():
        return None
    from smtplens.cli.terminal import SafeConsole

    return SafeConsole(force_jupyter=True, highlight=False)


# ------------------------------------------------------------------- files on disk
def _write(frames: Frames, folder: str | os.PathLike[str], kind: str) -> list[str]:
    os.makedirs(folder, exist_ok=True)
    written = []
    for name in TABLES:
        df: pd.DataFrame = getattr(frames, name)
        path = os.path.join(folder, f"{name}.{kind}")
        if kind == "parquet":
            try:
                df.to_parquet(path, index=False)
            except ImportError:
                from smtplens.errors import SmtplensError

                raise SmtplensError("to_parquet needs pyarrow: pip install "
                                    "'smtplens[parquet]'") from None
        else:
            out = df.copy()
            for column, (dtype, _) in COLUMNS[name].items():
                if dtype == TIME:  # ISO 8601 with the offset, read back as UTC
                    out[column] = out[column].map(lambda t: None if pd.isna(t)
                                                  else t.isoformat())
            out.to_csv(path, index=False, encoding="utf-8", errors="surrogateescape")
        written.append(path)
    return written


def read_parquet(folder: str | os.PathLike[str]) -> Frames:
    """The frames :meth:`Frames.to_parquet` wrote, with their dtypes."""
    return _read(folder, "parquet")


def read_csv(folder: str | os.PathLike[str]) -> Frames:
    """The frames :meth:`Frames.to_csv` wrote, with their dtypes."""
    return _read(folder, "csv")


def _read(folder: str | os.PathLike[str], kind: str) -> Frames:
    tables = {}
    for name in TABLES:
        path = os.path.join(folder, f"{name}.{kind}")
        if kind == "parquet":
            raw = pd.read_parquet(path)
        else:
            raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""],
                              encoding="utf-8", encoding_errors="surrogateescape")
        tables[name] = _retyped(name, raw)
    return Frames(**tables)


def _retyped(name: str, raw: pd.DataFrame) -> pd.DataFrame:
    """``raw`` with the table's dtypes again (Parquet keeps most; CSV keeps none)."""
    data: dict[str, list[Any]] = {}
    for column, (dtype, _) in COLUMNS[name].items():
        values = raw[column] if column in raw else pd.Series([None] * len(raw))
        if dtype == TIME:
            stamps = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
            data[column] = [None if pd.isna(t) else t.timestamp() for t in stamps]
        elif dtype == "boolean":
            data[column] = [None if _na(v) else (v if isinstance(v, bool)
                                                 else str(v) == "True") for v in values]
        elif dtype in ("Int16", "Int64"):
            data[column] = [None if _na(v) else int(v) for v in values]
        elif dtype == "Float64":
            data[column] = [None if _na(v) else float(v) for v in values]
        else:
            data[column] = [None if _na(v) else str(v) for v in values]
    return frame(name, data)


#: the field names of :class:`Frames` are the tables (a test checks)
assert tuple(f.name for f in fields(Frames)) == TABLES
