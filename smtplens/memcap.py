"""The memory budget of the open connections of a capture (``--memcap``).

One budget covers every connection open at once, estimated as a fixed cost per
connection state plus the bytes buffered for it (see :mod:`smtplens.sources.pcap.flows`);
with worker processes, each one keeps to its share, so their sum holds it too. Sizes are
written as on the command line of tcpdump or Suricata: ``512M``, ``1.5G``, ``65536``.
"""

from __future__ import annotations

import re

#: the default budget of all open connections of one capture (the sum over the workers)
DEFAULT_MEMCAP = 512 << 20

_UNITS = {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes of a size such as ``256M``, ``1G``, ``1.5GiB``, ``800k`` or ``1048576``
    (units are powers of 1024); ValueError for anything else."""
    m = _SIZE.fullmatch(text)
    if m is None:
        raise ValueError(f"not a size: {text!r} (use e.g. 256M, 1G or a number of bytes)")
    return int(float(m.group(1)) * (1 << _UNITS[m.group(2).upper()]))


def format_size(n: int) -> str:
    """A byte count as :func:`parse_size` reads it back (512M, 1.5G, 4096)."""
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.4g}{unit}"
    return str(n)


def share(memcap: int | None, workers: int) -> int | None:
    """The budget of each of ``workers`` processes that together keep to ``memcap``."""
    if memcap is None:
        return None
    return memcap // max(workers, 1)
