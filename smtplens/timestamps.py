"""The range of times smtplens shows (Unix seconds, UTC).

A damaged capture record or a hostile log line can carry any number as its time
(``999999999999`` is the year 33658). Every view must be able to show every time it
is given, so one window holds for all of them: from 1970-01-01 (the Unix epoch;
captures and logs hold no earlier time) up to 2262-04-11 23:47:16, the last second a
nanosecond ``datetime64`` (pandas) holds; :mod:`datetime` (to year 9999) and JSON
floats hold all of it. The sources check every item against it
(:func:`smtplens.sources.checked_times`); the views show a time outside it as
``time out of range`` rather than fail.
"""

from __future__ import annotations

import math

TS_MIN = 0.0  #: 1970-01-01 00:00:00 UTC
TS_MAX = 9_223_372_036.0  #: 2262-04-11 23:47:16 UTC: int64 nanoseconds end just after
_YEAR = 31_556_952  # seconds in a mean Gregorian year


def in_range(ts: float) -> bool:
    """Whether ``ts`` is a time every view can show (finite, inside the window)."""
    return math.isfinite(ts) and TS_MIN <= ts <= TS_MAX


def describe(ts: float) -> str:
    """An out-of-range time as the input had it, with its (approximate) year:
    ``999999999999 (year 33658)``."""
    if not math.isfinite(ts):
        return repr(ts)
    raw = f"{ts:.0f}" if abs(ts) < 1e18 else f"{ts:.4g}"
    return f"{raw} (year {1970 + math.floor(ts / _YEAR)})"


def out_of_range(ts: float) -> str:
    """How a view shows a time outside the window."""
    return f"time out of range: {describe(ts)}"
