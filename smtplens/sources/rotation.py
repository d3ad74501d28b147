"""Input lists: directories expanded, rotated log sets (``mail.log``, ``mail.log.1``,
``mail.log.2.gz``) in time order.

A shell glob lists them newest first (``mail.log`` sorts before ``mail.log.1``); logrotate
numbers them oldest-highest. :func:`in_time_order` puts every set oldest first, so
sessions come out in the order they happened; other paths keep their place.
"""

from __future__ import annotations

import os
import re

_ROTATED = re.compile(r"^(?P<base>.+?)(?:\.(?P<n>\d{1,4}))?(?P<z>\.(?:gz|bz2|xz))?$")


def _key(path: str) -> tuple[str, int]:
    m = _ROTATED.match(path)
    if m is None or (m.group("n") is None and m.group("z") is not None):
        return path, 0
    return m.group("base"), int(m.group("n")) if m.group("n") else 0


def in_time_order(paths: list[str]) -> list[str]:
    """``paths`` with each rotated set ordered oldest (highest number) first."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for path in paths:
        base, number = _key(path)
        groups.setdefault(base, []).append((number, path))
    ordered: list[str] = []
    for members in groups.values():
        ordered.extend(p for _, p in sorted(members, key=lambda m: -m[0]))
    return ordered


def expand(paths: list[str]) -> list[str]:
    """Directories replaced by the files below them (sorted, hidden ones skipped), then
    :func:`in_time_order`. ``-`` (stdin) and plain files stay as they are."""
    out: list[str] = []
    for path in paths:
        if path != "-" and os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                out.extend(os.path.join(root, f) for f in sorted(files)
                           if not f.startswith("."))
        else:
            out.append(path)
    return in_time_order(out)
