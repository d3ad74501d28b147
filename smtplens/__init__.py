"""smtplens: rebuild SMTP sessions from captures and mail logs, and explain what went wrong."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from smtplens.memcap import DEFAULT_MEMCAP

if TYPE_CHECKING:
    from smtplens.frames import Frames

__version__ = "0.1.0"


def load(paths: str | Iterable[str], *, reveal: bool = False,
         input_format: str | None = None, jobs: int | None = None,
         memcap: int | str | None = DEFAULT_MEMCAP, progress: bool | None = None) -> Frames:
    """Analyze files into pandas DataFrames (see :func:`smtplens.frames.load` for the
    options).

    pandas is imported only when this is called, so the CLI starts fast.
    """
    from smtplens.frames import load as _load

    return _load(paths, reveal=reveal, input_format=input_format, jobs=jobs, memcap=memcap,
                 progress=progress)
