"""Log timestamps: syslog times without a year, and ISO 8601 / RFC 3339 times."""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta

#: a syslog time (no year) this far ahead of now belongs to the previous year
FUTURE_SLACK = timedelta(days=1)
MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug",
                                       "Sep", "Oct", "Nov", "Dec"), 1)}


def syslog_time(month: str, day: str, hms: str, now: datetime | None = None) -> float | None:
    """``Nov 28`` + ``11:51:52`` as local time, in the current year unless that is in the
    future (then the previous one: a December line read in January)."""
    return _syslog_time(month, day, hms, now or datetime.now())


@functools.lru_cache(maxsize=4096)  # a busy log repeats each second many times
def _syslog_time(month: str, day: str, hms: str, now: datetime) -> float | None:
    try:
        h, m, s = hms.split(":")
        second = float(s)
        for year in (now.year, now.year - 1):
            try:
                when = datetime(year, MONTHS[month], int(day), int(h), int(m), int(second),
                                round((second % 1) * 1e6) % 1000000)
            except ValueError:  # Feb 29 outside a leap year: try the year before
                continue
            if when <= now + FUTURE_SLACK:
                return when.timestamp()
    except (KeyError, ValueError, OverflowError, OSError):
        return None
    return None


def iso_time(text: str) -> float | None:
    """ISO 8601 / RFC 3339 text (``Z`` or an offset, or none for local time) to seconds."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


_SYSLOG_TIME = re.compile(r"^(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) "
                          r"(?P<hms>\d\d:\d\d:\d\d(?:\.\d+)?)\b")


class SyslogClock:
    """Reads the ``Nov 28 11:51:52`` at the start of syslog lines (see :func:`syslog_time`
    for the year), with one notion of "now" for the whole file."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now()

    def read(self, text: str) -> float | None:
        m = _SYSLOG_TIME.match(text)
        if m is None:
            return None
        return syslog_time(m.group("mon"), m.group("day"), m.group("hms"), self.now)
