"""A progress bar on stderr for long runs: bytes read of the total, sessions, findings,
ETA (``rich.progress``).

It appears only on a terminal (stderr one, stdout not: output scrolling on the same
screen is its own progress), and only once a run has lasted half a second, so short
runs and pipes see nothing. It refreshes from the loop that receives sessions
(``auto_refresh`` off): no thread, so workers can still be forked.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from smtplens import progress
from smtplens.cli.terminal import SafeConsole
from smtplens.textutil import visible

#: the run must last this long before a bar is worth showing (seconds)
SHOW_AFTER = 0.5
#: between two refreshes (seconds)
EVERY = 0.1


def wanted() -> bool:
    """Whether a bar can be shown: stderr a terminal, stdout not."""
    return sys.stderr.isatty() and not sys.stdout.isatty()


class ProgressBar:
    """``with ProgressBar(paths) as bar``: :meth:`start` each file, :meth:`tick` each
    session; :meth:`print` for messages while it shows (they go above the bar)."""

    def __init__(self, paths: list[str], enabled: bool | None = None,
                 console: Console | None = None) -> None:
        self.enabled = wanted() if enabled is None else enabled
        self._sizes = {p: _size(p) for p in paths}
        self._total = sum(self._sizes.values())
        self._console = console or SafeConsole(stderr=True, highlight=False)
        self._done = 0  # bytes of the files finished
        self._current = ""
        self._began = time.monotonic()
        self._next = self._began + SHOW_AFTER
        self.sessions = 0
        self.findings = 0
        self.files_done = 0
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def start(self, path: str) -> None:
        """``path`` is read next (the one before it is done)."""
        if self._current:
            self._done += self._sizes.get(self._current, 0)
        self._current = path
        progress.reset()

    def tick(self, findings: int = 0) -> None:
        """One more session, with ``findings`` findings."""
        self.sessions += 1
        self.findings += findings
        if self.enabled and time.monotonic() >= self._next:
            self._refresh()

    def file_done(self, path: str, sessions: int, findings: int) -> None:
        """A whole file was read elsewhere (an audit's worker) with these counts."""
        self._done += self._sizes.get(path, 0)
        self._current = path
        self.files_done += 1
        self.sessions += sessions
        self.findings += findings
        if self.enabled and time.monotonic() >= self._next:
            self._refresh(workers=True)

    def print(self, *objects: Any, **kwargs: Any) -> None:
        """A message on stderr, above the bar when it shows."""
        self._console.print(*objects, **kwargs)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _refresh(self, workers: bool = False) -> None:
        self._next = time.monotonic() + EVERY
        if self._progress is None:
            self._progress = Progress(
                TextColumn("{task.description}", markup=False), BarColumn(), DownloadColumn(),
                TextColumn("{task.fields[sessions]} sessions, {task.fields[findings]} "
                           "findings"), TimeRemainingColumn(),
                console=self._console, auto_refresh=False, transient=True,
                redirect_stdout=False, redirect_stderr=False)
            self._task = self._progress.add_task("reading", total=self._total or None,
                                                 sessions=0, findings=0)
        assert self._task is not None
        name = os.path.basename(self._current) or self._current
        here = 0 if workers else progress.position()  # workers' files count when done
        what = f"{self.files_done}/{len(self._sizes)} files" if workers else name[:40]
        self._progress.update(self._task, completed=self._done + here,
                              description=visible(what), sessions=self.sessions,
                              findings=self.findings)
        if not self._progress.live.is_started:
            self._progress.start()
        self._progress.refresh()


def _size(path: str) -> int:
    try:
        return os.path.getsize(path) if path != "-" else 0
    except OSError:
        return 0
