"""Writing messages to disk as ``.eml`` files while they stream (``--extract DIR``).

File names are ``<source>-<session>-<n>.eml``, and both the source name and the
session id come from the input (an attacker can pick them), so the writer trusts
neither the names nor the directory's contents:

* names are sanitised: ASCII letters, digits, ``.``, ``_`` and ``-`` only, no leading
  dot, bounded length, so no path separator, control character or hidden file;
* every file is created with ``O_CREAT | O_EXCL | O_NOFOLLOW``, relative to a
  descriptor of ``DIR`` opened once: an existing file (an earlier run's, or one whose
  name collides after sanitising, like the ids ``A/B``, ``A_B`` and ``A:B``) or a
  symbolic link planted in ``DIR`` is never replaced nor followed; the next free name
  is taken instead (``…-2.eml``, ``…-3.eml``);
* ``DIR`` itself may be a symbolic link (the user named it; ``/tmp`` is one on some
  systems), but it is resolved once, so swapping it during the run changes nothing;
* a file is created on the message's first octet, so a message whose content the
  input did not record (Exchange protocol logs, summary logs) gets no empty file, and
  a write error (disk full, permission denied) is recorded on that message, names the
  file and does not stop the run.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from smtplens.builder import MessageSink
from smtplens.errors import SmtplensError
from smtplens.model import Session

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: how many ``-N`` suffixes to try before giving a message up
MAX_TRIES = 10_000
_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
          | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0))
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_MODE = 0o600  # messages are private mail


class ExtractError(SmtplensError):
    """The extraction directory cannot be used."""


def safe_name(text: str, limit: int = 60) -> str:
    """A file-name-safe version of ``text`` (no separators, no controls, no leading dots)."""
    cleaned = _UNSAFE.sub("_", text).strip("._-") or "x"
    return cleaned[:limit].rstrip(".")


class EmlWriter:
    """A sink factory: one file per message, ``<source>-<session>-<n>.eml`` in ``directory``.

    Use it as a context manager (or call :meth:`close`): it holds ``directory`` open.
    ``written`` counts the files written so far, ``failed`` lists the write errors.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._dir_fd: int | None = (os.open(directory, _DIR_FLAGS)
                                        if os.open in os.supports_dir_fd else None)
        except OSError as e:
            raise ExtractError(f"{directory}: cannot write messages here: "
                               f"{e.strerror or e}") from e
        self._next: dict[str, int] = {}  # stem -> the next suffix worth trying
        self.written = 0
        self.failed: list[str] = []  #: one line per file that could not be written

    def __call__(self, session: Session, number: int) -> MessageSink | None:
        source = safe_name(Path(session.source).name or "stdin")
        return _LazyEml(self, f"{source}-{safe_name(session.id)}-{number}")

    def create(self, stem: str) -> tuple[str, BinaryIO]:
        """A new file ``stem.eml`` (or ``stem-N.eml``, the first free N): its path and
        the open file. Raises :class:`OSError` when none can be made."""
        first = self._next.get(stem, 1)
        for n in range(first, first + MAX_TRIES):
            name = f"{stem}.eml" if n == 1 else f"{stem}-{n}.eml"
            try:
                if self._dir_fd is not None:
                    fd = os.open(name, _FLAGS, _MODE, dir_fd=self._dir_fd)
                else:
                    fd = os.open(self.directory / name, _FLAGS, _MODE)
            except FileExistsError:
                continue
            except OSError as e:
                if e.errno == errno.ELOOP:  # a link where O_EXCL did not catch it
                    continue
                raise
            self._next[stem] = n + 1
            return str(self.directory / name), open(fd, "wb")
        raise FileExistsError(errno.EEXIST, f"{MAX_TRIES} names taken",
                              str(self.directory / f"{stem}.eml"))

    def close(self) -> None:
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None

    def __enter__(self) -> EmlWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class _LazyEml:
    """One message's file, created on its first write."""

    def __init__(self, writer: EmlWriter, stem: str) -> None:
        self._writer, self._stem = writer, stem
        self._file: BinaryIO | None = None
        self.name: str | None = None  #: the file created (None: nothing was)
        self.note = ""  #: why the file is missing or incomplete (a write error)

    def write(self, data: bytes, /) -> int:
        if self.note:  # an earlier error: the rest of the message is dropped
            return 0
        try:
            if self._file is None:
                self.name, self._file = self._writer.create(self._stem)
            return self._file.write(data)
        except OSError as e:
            self._fail(e)
            return 0

    def close(self) -> None:
        if self._file is None:
            return
        file, self._file = self._file, None
        try:
            file.close()
        except OSError as e:  # a buffered write fails here (disk full)
            self._fail(e)
        if not self.note:
            self._writer.written += 1

    def _fail(self, e: OSError) -> None:
        where = self.name or e.filename or str(self._writer.directory / f"{self._stem}.eml")
        self.note = f"could not write {where}: {e.strerror or e}"
        self._writer.failed.append(self.note)
        if self._file is not None:
            file, self._file = self._file, None
            with contextlib.suppress(OSError):  # already failing; the note says so
                file.close()


def notes_of(session: Session) -> Counter[str]:
    """The extraction notes of a session's messages: why each message that was not
    (completely) written was not."""
    return Counter(m.extract_note for m in session.messages if m.extract_note)


def extract_summary(writer: EmlWriter, notes: Counter[str]) -> list[str]:
    """What ``--extract`` did, as lines for the user: files written, then how many
    messages were not written and why (``notes``: :func:`notes_of` of every session)."""
    lines = [f"extracted {writer.written} message(s) to {writer.directory}"]
    missing = sum(notes.values())
    if missing:
        why = "; ".join(f"{note} ({count})" if count > 1 else note
                        for note, count in notes.most_common())
        lines.append(f"{missing} message(s) not written: {why}")
    return lines
