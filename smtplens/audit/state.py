"""What ``smtplens audit --state FILE`` remembers between runs: where each log was left.

Run from cron, an audit should read only what was appended since the previous run, and
follow logrotate: ``mail.log`` renamed to ``mail.log.1`` (its last lines are still unread)
and later compressed to ``mail.log.2.gz``, a new ``mail.log`` started, or the file copied
and truncated in place (``copytruncate``).

Theory of operation. A text file is known by where it is on disk (``st_dev``,
``st_ino``) and by a fingerprint: the SHA-256 of its first line (at most
:data:`FINGERPRINT_BYTES`), decompressed for .gz/.bz2/.xz. The fingerprint follows the
file through renames and compression; the inode tells apart files that start with the
same line, and the two together notice a file rewritten in place. Offsets count bytes of
the text itself (decompressed), so ``mail.log.1`` left at offset N is resumed at offset
N once it is ``mail.log.2.gz``. :meth:`AuditState.plan` decides for every input (the
cases are listed there), the run reads each planned :class:`Span`, which records how
far it got, and :meth:`AuditState.done` remembers that.

Captures are read whole; they are known by the fingerprint of their first 4 KiB, their
size and their modification time, and skipped while those stay the same.

The file is JSON, written atomically (a temporary file in the same directory, then
``os.replace``): a run that fails leaves the previous state as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import time
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any

from smtplens.errors import InputError, SmtplensError
from smtplens.sources import is_capture
from smtplens.sources.textfile import READ_ERRORS, Span, is_compressed, open_binary

__all__ = ["FINGERPRINT_BYTES", "KEEP_DAYS", "STATE_VERSION", "AuditState", "Planned",
           "StateError"]

STATE_VERSION = 1
#: how much of the first line (or of a capture) the fingerprint covers
FINGERPRINT_BYTES = 4096
#: entries of files not seen for this long are dropped when the state is saved
KEEP_DAYS = 400
#: bytes looked at, at a time, for a newline after a remembered offset
_SCAN_BLOCK = 1 << 16

TEXT, CAPTURE = "text", "capture"
#: what logrotate appends to a rotated file's name: ``.1``, ``-20240501``, ``.gz``
_ROTATED_SUFFIX = re.compile(r"(?:[.-]\d{1,10})?(?:\.(?:gz|bz2|xz))?$")


class StateError(SmtplensError):
    """The state file cannot be used: damaged, unreadable, of another version, or it
    cannot be written. The message names the file."""

    def __init__(self, message: str, path: str) -> None:
        self.message = message
        self.path = path
        super().__init__(f"{path}: {message}")


@dataclass(frozen=True, slots=True)
class Planned:
    """What to do with one input this run."""

    path: str  #: the input, as given
    #: the part to read; None: read the whole file (a capture, or a file that could not
    #: be looked at: reading it reports why). A text file always gets a span, from 0
    #: when it is read from the start, so that how far it got is known afterwards
    span: Span | None
    skip: str = ""  #: non-empty: do not read it at all, and why
    note: str = ""  #: what was decided, for the report

    @property
    def whole(self) -> bool:
        """The file is read from its start (new, rewritten, or a capture)."""
        return not self.skip and (self.span is None or self.span.start == 0)


@dataclass(slots=True)
class _Entry:
    """One file as the state remembers it (a row of the JSON file's ``files``)."""

    path: str  #: absolute; where it was last seen
    kind: str  #: TEXT or CAPTURE
    dev: int
    ino: int
    fingerprint: str | None  #: hex SHA-256; None: no complete first line
    size: int  #: octets on disk when last read or seen
    mtime: float
    compressed: bool = False
    offset: int = 0  #: text: the offset just after the last line read
    line: int = 0  #: text: the number of that line (0: none)
    ended: bool = False  #: text: read to the end of the file as it was then
    seen: float = 0.0  #: when a run last found it (Unix time)


_ENTRY_TYPES: dict[str, tuple[type, ...]] = {
    "path": (str,), "kind": (str,), "dev": (int,), "ino": (int,),
    "fingerprint": (str, type(None)), "size": (int,), "mtime": (float, int),
    "compressed": (bool,), "offset": (int,), "line": (int,), "ended": (bool,),
    "seen": (float, int)}


@dataclass(slots=True)
class _Probe:
    """One input as it is on disk now."""

    path: str  #: as given
    abspath: str
    kind: str = TEXT
    dev: int = 0
    ino: int = 0
    size: int = 0
    mtime: float = 0.0
    compressed: bool = False
    fingerprint: str | None = None
    head: int = 0  #: octets of the first line that were read (0: the text is empty)
    error: str = ""  #: it could not be looked at

    def same_inode(self, entry: _Entry) -> bool:
        return (self.dev, self.ino) == (entry.dev, entry.ino)


def _now() -> float:
    return time.time()


class AuditState:
    """Where each input of earlier runs was left, and data the audit carries along."""

    def __init__(self, path: str) -> None:
        self.path = path  #: the state file
        #: opaque JSON-able data the audit carries between runs (the correlator's windows)
        self.carried: dict[str, Any] = {}
        self._entries: list[_Entry] = []
        #: input path -> what plan() saw of it, for done()
        self._pending: dict[str, tuple[_Probe, _Entry | None]] = {}

    # ------------------------------------------------------------------ the file
    @classmethod
    def load(cls, path: str) -> AuditState:
        """The state in ``path``; a missing (or empty) file is the empty state of a
        first run. Anything else that is not a state file of this version raises
        :class:`StateError`."""
        state = cls(path)
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except FileNotFoundError:
            return state
        except OSError as e:
            raise StateError(f"cannot read the state file: {e.strerror or e}", path) from e
        if not raw.strip():
            return state
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise StateError(f"not a smtplens state file (not JSON: {e}); delete it to "
                             "start over (every input is then read whole)", path) from e
        if not isinstance(data, dict) or "version" not in data:
            raise StateError("not a smtplens state file (no \"version\"); delete it to "
                             "start over (every input is then read whole)", path)
        if type(data["version"]) is not int or data["version"] != STATE_VERSION:
            raise StateError(f"state file version {data['version']!r} is not supported "
                             f"(this smtplens reads version {STATE_VERSION}); delete it "
                             "to start over (every input is then read whole)", path)
        files, carried = data.get("files", []), data.get("carried", {})
        if not isinstance(files, list) or not isinstance(carried, dict):
            raise StateError("damaged state file (\"files\" or \"carried\" has the wrong "
                             "type); delete it to start over", path)
        for i, row in enumerate(files):
            state._entries.append(_entry_of(row, i, path))
        state.carried = carried
        return state

    def save(self) -> None:
        """Write the state atomically; entries not seen for :data:`KEEP_DAYS` are
        dropped."""
        oldest = _now() - KEEP_DAYS * 86400
        self._entries = [e for e in self._entries if e.seen >= oldest]
        data = {"version": STATE_VERSION, "written": _now(),
                "files": [asdict(e) for e in self._entries], "carried": self.carried}
        try:
            text = json.dumps(data, indent=1, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise StateError(f"cannot save the state: the data to carry is not JSON "
                             f"({e})", self.path) from e
        folder = os.path.dirname(os.path.abspath(self.path))
        tmp = ""
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(self.path)}.",
                                       suffix=".tmp", dir=folder)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as e:
            if tmp:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            raise StateError(f"cannot save the state: {e.strerror or e} (the previous "
                             "state is kept)", self.path) from e

    # ------------------------------------------------------------------ planning
    def plan(self, paths: list[str]) -> list[Planned]:
        """What to read of each of ``paths`` (one :class:`Planned` each, same order).

        1. A file not known yet is read from the start.
        2. The file left there last time (same inode and fingerprint) that has grown
           is read from where it was left: from that offset, numbering lines on.
        3. ... that has not grown is skipped ("nothing appended since the last run").
        4. Smaller than the offset it was read to, or another first line at the same
           inode (truncated, rewritten, ``copytruncate``): read from the start.
        5. Rotated: a known file that is no longer at its path (another inode or first
           line there) but at another of ``paths`` (``mail.log.1``, ``mail.log.2.gz``;
           found by fingerprint, the inode telling apart files with the same first
           line) is read from where it was left; the new file at the old path is new.
        6. A known file already read to its end (rotated since, or not) is skipped.

        A plain text file is read up to its size now (a line still being written is
        left for the next run); a compressed one does not grow and is read to its end.
        Captures are skipped while their fingerprint, size and time are unchanged,
        and read whole otherwise. A path that cannot be looked at is planned whole,
        so that reading it reports why.
        """
        self._pending = {}
        probes = [self._probe(p) for p in paths]
        first_of: dict[tuple[int, int] | str, str] = {}
        twice: dict[int, str] = {}  # probe index -> the path listed first
        listed: set[str] = set()
        for i, probe in enumerate(probes):
            key = probe.abspath if probe.error else (probe.dev, probe.ino)
            first = first_of.setdefault(key, probe.path)
            if first != probe.path or probe.path in listed:
                twice[i] = first
            listed.add(probe.path)
        present: dict[str, _Probe] = {}
        for probe in probes:
            present.setdefault(probe.abspath, probe)
        matched = self._match([p for i, p in enumerate(probes) if i not in twice], present)
        for i in sorted(twice):
            matched.insert(i, None)
        rotated_to = {id(entry): probe for probe, entry in zip(probes, matched, strict=True)
                      if entry is not None and entry.path != probe.abspath}
        out: list[Planned] = []
        for i, (probe, entry) in enumerate(zip(probes, matched, strict=True)):
            if i in twice:
                out.append(Planned(probe.path, None,
                                   skip=f"the same file as {twice[i]}, read once"))
                continue
            out.append(self._decide(probe, entry, rotated_to))
            self._pending[probe.path] = (probe, entry)
        return out

    def _probe(self, path: str) -> _Probe:
        probe = _Probe(path, os.path.abspath(path))
        if path == "-":
            probe.error = "standard input"
            return probe
        try:
            st = os.stat(path)
            probe.dev, probe.ino, probe.size, probe.mtime = \
                st.st_dev, st.st_ino, st.st_size, st.st_mtime
            if is_capture(path):
                probe.kind, probe.fingerprint = CAPTURE, _capture_print(path)
                return probe
            probe.compressed = is_compressed(path)
            probe.fingerprint, probe.head = _first_line(path)
        except InputError as e:
            probe.error = e.message
        except OSError as e:
            probe.error = e.strerror or str(e)
        return probe

    def _match(self, probes: list[_Probe], present: dict[str, _Probe]) -> list[_Entry | None]:
        """The remembered entry of each probe, each entry given to one probe at most:
        the same path, inode and fingerprint first; then the same inode and fingerprint
        (renamed); then the fingerprint alone, of a file no longer at its own path
        (renamed and compressed, copied and truncated)."""
        matched: list[_Entry | None] = [None] * len(probes)
        taken: set[int] = set()

        def give(i: int, candidates: list[_Entry]) -> None:
            if candidates:
                matched[i] = candidates[0]
                taken.add(id(candidates[0]))

        def free(probe: _Probe) -> list[_Entry]:
            return [e for e in self._entries if id(e) not in taken and e.kind == probe.kind
                    and e.fingerprint == probe.fingerprint]

        live = [i for i, p in enumerate(probes) if not p.error]
        for i in live:
            p = probes[i]
            give(i, [e for e in free(p) if e.path == p.abspath and p.same_inode(e)])
        for i in live:
            p = probes[i]
            if matched[i] is None and p.fingerprint is not None:
                give(i, [e for e in free(p) if p.same_inode(e)])
        gone: dict[int, bool] = {}
        for i in live:
            p = probes[i]
            if matched[i] is not None or p.fingerprint is None:
                continue
            candidates = [e for e in free(p) if self._gone(e, present, gone)]
            base = _base(p.abspath)
            candidates.sort(key=lambda e: (e.path != p.abspath, _base(e.path) != base,
                                           -e.seen))
            give(i, candidates)
        return matched

    @staticmethod
    def _gone(entry: _Entry, present: dict[str, _Probe], cache: dict[int, bool]) -> bool:
        """Whether the file ``entry`` remembers is no longer at its path."""
        if id(entry) in cache:
            return cache[id(entry)]
        probe = present.get(entry.path)
        if probe is None:
            probe = _Probe(entry.path, entry.path)
            try:
                st = os.stat(entry.path)
                probe.dev, probe.ino = st.st_dev, st.st_ino
                if probe.same_inode(entry):
                    probe.fingerprint = _first_line(entry.path)[0] if entry.kind == TEXT \
                        else _capture_print(entry.path)
            except (OSError, InputError):
                probe.error = "gone"
        there = not probe.error and probe.same_inode(entry) and \
            probe.fingerprint == entry.fingerprint
        cache[id(entry)] = not there
        return not there

    def _decide(self, probe: _Probe, entry: _Entry | None,
                rotated_to: dict[int, _Probe]) -> Planned:
        path = probe.path
        if probe.error:
            return Planned(path, None, note=f"not resumable ({probe.error}): read whole")
        if probe.kind == CAPTURE:
            return self._decide_capture(probe, entry)
        if probe.head == 0:
            return Planned(path, None, skip="empty: nothing to read yet")
        if entry is None:
            if probe.fingerprint is None and not probe.compressed:
                return Planned(path, None, skip=f"no complete line yet ({probe.size} "
                               "octets): read once its first line ends")
            return Planned(path, self._from_start(probe), note=self._why_new(probe, rotated_to))
        was = "" if entry.path == probe.abspath else _short(entry.path, probe.abspath)
        at = f"line {entry.line + 1} (offset {entry.offset})"
        if probe.compressed:
            if entry.compressed and entry.ended and probe.same_inode(entry) \
                    and entry.size == probe.size:
                return self._skip(probe, entry, _read_to_end(entry, was))
            tail = _tail(path, entry.offset, None)
        elif probe.size < entry.offset:
            tail = "short"
        elif probe.size == entry.offset:
            return self._skip(probe, entry, _read_to_end(entry, was) if was else
                              f"nothing appended since the last run (read to line "
                              f"{entry.line}, offset {entry.offset})")
        else:
            tail = _tail(path, entry.offset, probe.size)
        if tail == "short":
            return Planned(path, self._from_start(probe),
                           note=f"shorter than the {entry.offset} octets read before "
                           "(truncated or replaced): read from the start")
        if tail == "partial":
            return self._skip(probe, entry, f"only part of a line appended since the last "
                              f"run (after offset {entry.offset}): read once it is complete")
        if tail == "none":
            return self._skip(probe, entry, _read_to_end(entry, was))
        span = Span(entry.offset, None if probe.compressed else probe.size, entry.line + 1)
        if not was:
            how = "resumed at"
            if not probe.same_inode(entry):
                how = "the same first line at a new inode (copied back?): resumed at"
            return Planned(path, span, note=f"{how} {at}")
        packed = " and compressed" if probe.compressed and not entry.compressed else ""
        return Planned(path, span, note=f"rotated{packed}: {os.path.basename(path)} was "
                       f"{was}; its rest read from {at}")

    def _decide_capture(self, probe: _Probe, entry: _Entry | None) -> Planned:
        if entry is None:
            return Planned(probe.path, None, note="new capture: read whole")
        if entry.size == probe.size and entry.mtime == probe.mtime:
            was = "" if entry.path == probe.abspath else _short(entry.path, probe.abspath)
            why = f"unchanged since the last run (a capture of {probe.size} octets)"
            return self._skip(probe, entry, why + (f", read as {was}" if was else ""))
        return Planned(probe.path, None,
                       note="changed since the last run: a capture is read whole again")

    def _skip(self, probe: _Probe, entry: _Entry, why: str) -> Planned:
        # nothing is read, so done() may never come: the file is known where it is now
        entry.path, entry.dev, entry.ino = probe.abspath, probe.dev, probe.ino
        entry.size, entry.mtime = probe.size, probe.mtime
        entry.compressed, entry.seen = probe.compressed, _now()
        if probe.compressed:
            entry.ended = True  # a compressed file skipped has nothing after the offset
        return Planned(probe.path, None, skip=why)

    @staticmethod
    def _from_start(probe: _Probe) -> Span:
        return Span(0, None if probe.compressed else probe.size)

    def _why_new(self, probe: _Probe, rotated_to: dict[int, _Probe]) -> str:
        here = [e for e in self._entries if e.path == probe.abspath and e.kind == TEXT]
        if not here:
            return "new file: read from the start"
        last = max(here, key=lambda e: e.seen)
        moved = rotated_to.get(id(last))
        if moved is not None and probe.same_inode(last):
            return (f"copied to {_short(moved.abspath, probe.abspath)} and truncated since "
                    "the last run (copytruncate): read from the start")
        if moved is not None:
            return (f"new file since the last run ({os.path.basename(probe.path)} was "
                    f"rotated to {_short(moved.abspath, probe.abspath)}): read from the start")
        if probe.same_inode(last):
            return ("rewritten since the last run (another first line: truncated, or "
                    "copied and truncated): read from the start")
        return "a new file since the last run: read from the start"

    # ------------------------------------------------------------------ after reading
    def done(self, planned: Planned, span: Span | None) -> None:
        """Remember how far ``planned`` was read: ``span`` as reading filled it in (for
        None, ``planned.span``; a capture: the file as it was at plan time)."""
        pending = self._pending.pop(planned.path, None)
        if pending is None or planned.skip:
            return
        probe, entry = pending
        if probe.error:
            return  # nothing is known of it: the next run plans it from scratch
        if entry is None:
            entry = _Entry(probe.abspath, probe.kind, probe.dev, probe.ino,
                           probe.fingerprint, probe.size, probe.mtime)
            self._entries.append(entry)
        entry.path, entry.kind, entry.dev, entry.ino = \
            probe.abspath, probe.kind, probe.dev, probe.ino
        entry.fingerprint, entry.size, entry.mtime = probe.fingerprint, probe.size, probe.mtime
        entry.compressed, entry.seen = probe.compressed, _now()
        span = span if span is not None else planned.span
        if probe.kind == CAPTURE or span is None:
            entry.offset, entry.line, entry.ended = probe.size, 0, True
            return
        entry.offset, entry.line = span.reached, span.last_line
        entry.ended = span.ended and (probe.compressed or span.reached >= probe.size)


# ---------------------------------------------------------------------- helpers
def _first_line(path: str) -> tuple[str | None, int]:
    """The fingerprint of ``path``'s first line (None: it has no complete one yet) and
    how many octets of it were read."""
    with open_binary(path) as fh:
        try:
            head = fh.readline(FINGERPRINT_BYTES)
        except READ_ERRORS as e:
            raise InputError(f"cannot read: {e}", source=path, location="offset 0") from e
    if not head.endswith(b"\n") and len(head) < FINGERPRINT_BYTES:
        return None, len(head)
    return hashlib.sha256(head).hexdigest(), len(head)


def _capture_print(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read(FINGERPRINT_BYTES)).hexdigest()


def _tail(path: str, offset: int, stop: int | None) -> str:
    """What follows ``offset`` in the text of ``path`` (up to ``stop``): "lines" (at
    least one complete line; without a ``stop``, any text), "partial" (only part of a
    line), "none", or "short" (the text ends before ``offset``)."""
    with open_binary(path) as fh:
        try:
            if fh.seekable():
                at = fh.seek(offset)
                if stop is None and fh.read(1):
                    return "lines"
                if stop is None:
                    return "short" if fh.tell() < offset else "none"
            else:
                at = offset
            if stop is not None:
                left = stop - at
                while left > 0 and (block := fh.read(min(_SCAN_BLOCK, left))):
                    if b"\n" in block:
                        return "lines"
                    left -= len(block)
                return "partial" if stop > offset else "none"
        except READ_ERRORS as e:
            raise InputError(f"cannot read: {e}", source=path, location=f"offset {offset}") \
                from e
    return "lines"  # cannot look ahead (not seekable): read it and see


def _read_to_end(entry: _Entry, was: str) -> str:
    where = f" (it was {was})" if was else ""
    return f"already read to its end{where}: line {entry.line}, offset {entry.offset}"


def _base(path: str) -> str:
    """The name of the log a rotated file was (``mail.log.2.gz`` -> ``mail.log``)."""
    return _ROTATED_SUFFIX.sub("", path, count=1)


def _short(path: str, beside: str) -> str:
    """``path`` as a note shows it: its name alone when it is in ``beside``'s folder."""
    if os.path.dirname(path) == os.path.dirname(beside):
        return os.path.basename(path)
    return path


def _entry_of(row: Any, i: int, path: str) -> _Entry:
    if not isinstance(row, dict):
        raise StateError(f"damaged state file (files[{i}] is not an object); delete it "
                         "to start over", path)
    values: dict[str, Any] = {}
    for f in fields(_Entry):
        if f.name not in row and f.default is MISSING:
            raise StateError(f"damaged state file (files[{i}] has no {f.name!r}); delete "
                             "it to start over", path)
        value = row.get(f.name, f.default)
        types = _ENTRY_TYPES[f.name]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise StateError(f"damaged state file (files[{i}].{f.name} is {value!r}); "
                             "delete it to start over", path)
        values[f.name] = value
    if values["kind"] not in (TEXT, CAPTURE):
        raise StateError(f"damaged state file (files[{i}].kind is {values['kind']!r}); "
                         "delete it to start over", path)
    return _Entry(**values)
