"""How far the input has been read, for progress bars (no output of its own, no rich).

Every input file is opened by :func:`smtplens.sources.textfile.open_binary`, which
hands the file it opened from disk to :func:`track`; :func:`position` asks that file
where it is (one ``tell()`` when a bar refreshes, nothing on the read path). A worker
process sends its position with each batch (:mod:`smtplens.parallel`), and the parent
records it with :func:`reached`. For a compressed file the position is in the
compressed bytes, so it compares with the file's size.
"""

from __future__ import annotations

import contextlib
import weakref
from typing import IO, Any

_tracked: weakref.ref[IO[bytes]] | None = None
_last = 0  #: the position last seen (a closed file has none)


def track(file: Any) -> None:
    """``file`` (an open binary file, or a decompressor around one) is now the input
    being read."""
    global _tracked, _last
    # a decompressor reads from a file of its own: its position is the one to show
    inner = getattr(file, "fileobj", None) or getattr(file, "_fp", None) or file
    try:
        _tracked = weakref.ref(inner)
    except TypeError:  # an object without weak references: no position to show
        _tracked = None
    _last = 0


def reached(position: int) -> None:
    """A worker read the input up to ``position``."""
    global _last
    _last = max(_last, position)


def position() -> int:
    """Bytes of the current input read so far."""
    global _last
    file = _tracked() if _tracked is not None else None
    if file is not None:
        with contextlib.suppress(OSError, ValueError):  # closed, or a pipe
            _last = max(_last, file.tell())
    return _last


def reset() -> None:
    """A new input starts."""
    global _tracked, _last
    _tracked, _last = None, 0
