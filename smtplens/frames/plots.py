"""matplotlib figures of :class:`~smtplens.frames.Frames`, for notebooks.

Each function takes the frames of ``smtplens.load(paths)`` and returns a
``matplotlib.figure.Figure`` built directly (no pyplot, no global state), so it draws in
any backend and in worker threads; nothing is shown. matplotlib is imported when a plot
is made, not with ``smtplens.frames``.

Labels carry wire strings (verbs, client addresses, session ids), so every one passes
through :func:`_label`: control characters become visible escapes and ``$`` is escaped,
because matplotlib reads text between two dollars as mathtext.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from smtplens.textutil import digits, visible

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.figure import Figure

    from smtplens.frames import Frames

__all__ = ["auth_by_client", "findings_by_id", "message_sizes", "reply_latency",
           "sessions_timeline"]

#: session outcomes, most telling first: a session takes the first that applies
OUTCOMES = ("auth failed", "error finding", "warning", "clean")
_OUTCOME_COLOURS = {"auth failed": "#d62728", "error finding": "#ff7f0e",
                    "warning": "#ffbf00", "clean": "#2ca02c"}
_SEVERITY_COLOURS = {"error": "#d62728", "warning": "#ffbf00", "info": "#1f77b4"}
_SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}
_AUTH_COLOURS = {"success": "#2ca02c", "failure": "#d62728", "other": "#7f7f7f"}
_GREY = "#7f7f7f"

_LABEL_MAX = 60  #: characters of a wire string shown in a label (EHLO names run to 500+)
_MAX_BOXES = 40  #: verbs in reply_latency (a fuzzer sends hundreds of junk verbs)
_MAX_IDS = 30  #: finding ids in findings_by_id
_LOG_SPAN = 100.0  #: max/min above which an axis goes logarithmic (two decades)


# -- helpers -------------------------------------------------------------------------

def _figure(width: float = 10.0, height: float = 5.0) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("smtplens plots need matplotlib: "
                          "pip install 'smtplens[notebook]'") from e
    return Figure(figsize=(width, height), layout="constrained")


def _missing(value: object) -> bool:
    return (value is None or value is pd.NA or value is pd.NaT
            or (isinstance(value, float) and math.isnan(value)))


def _label(value: object, missing: str = "(none)") -> str:
    """A wire string made safe to show in a matplotlib label."""
    if _missing(value):
        return missing
    text = str(value)
    try:  # bytes that were not UTF-8 travel as surrogate escapes: show them as \xff
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that is not such an escape
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    text = visible(text).replace("\n", "\\n").replace("\t", "\\t")
    if len(text) > _LABEL_MAX:
        text = text[:_LABEL_MAX - 1] + "…"
    # an escaped dollar is a literal one to mathtext, and is_math_text ignores it
    return text.replace("$", r"\$")


def _texts(values: pd.Series[Any]) -> list[str | None]:
    """Python strings (None where missing), whatever the dtype: pyarrow-backed strings
    cannot hold the surrogate escapes that wire text may carry."""
    return [None if _missing(v) else str(v) for v in values.astype(object)]


def _floats(values: pd.Series[Any]) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.asarray(pd.to_numeric(values, errors="coerce").astype("float64"),
                      dtype=np.float64)


def _no_data(fig: Figure, title: str) -> Figure:
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes,
            color=_GREY, fontsize="x-large")
    ax.set_axis_off()
    return _finish(fig)


def _finish(fig: Figure) -> Figure:
    # rcParams["text.usetex"] would hand wire strings to LaTeX, where _ # % & { } are
    # syntax; every label here is plain text
    from matplotlib.text import Text

    for text in fig.findobj(Text):
        text.set_usetex(False)
    return fig


def _session_keys(frame: pd.DataFrame, by_source: bool) -> list[Hashable]:
    ids = _texts(frame["session"])
    if not by_source:
        return list(ids)
    return list(zip(_texts(frame["source"]), ids, strict=True))


def _owner(sessions: pd.DataFrame, child: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.intp]]:
    """The row position in ``sessions`` of each row of ``child`` (-1: no such session).

    A session id is unique within one input only (two captures both have a "C1"). When
    the child frame has no ``source`` column, a repeated id is resolved by order: to_frames
    writes every frame in the order of ``sessions``, so a row goes to the first session
    with its id at or after the session of the row before it."""
    out = np.full(len(child), -1, dtype=np.intp)
    by_source = "source" in child.columns and "source" in sessions.columns
    where: dict[Hashable, list[int]] = {}
    for i, key in enumerate(_session_keys(sessions, by_source)):
        where.setdefault(key, []).append(i)
    at = 0
    for row, key in enumerate(_session_keys(child, by_source)):
        found = where.get(key)
        if not found:
            continue
        n = bisect_left(found, at)
        at = found[n] if n < len(found) else found[0]
        out[row] = at
    return out


def _flags(sessions: pd.DataFrame, child: pd.DataFrame, column: str,
           value: str) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Per session: does any of its rows in ``child`` have ``column == value``?"""
    flags = np.zeros(len(sessions), dtype=bool)
    owner = _owner(sessions, child)
    hit = np.array([v == value for v in _texts(child[column])], dtype=bool)
    flags[owner[hit & (owner >= 0)]] = True
    return flags


def _outcomes(frames: Frames) -> list[str]:
    """The outcome of each session (see OUTCOMES), in the order of frames.sessions."""
    s = frames.sessions
    failed = _flags(s, frames.auth, "outcome", "failure")
    error = _flags(s, frames.findings, "severity", "error")
    warning = _flags(s, frames.findings, "severity", "warning")
    return [OUTCOMES[0] if f else OUTCOMES[1] if e else OUTCOMES[2] if w else OUTCOMES[3]
            for f, e, w in zip(failed, error, warning, strict=True)]


def _date_axis(ax: Axes) -> None:
    import matplotlib.dates as mdates

    # matplotlib.dates has no annotations
    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(
        mdates.ConciseDateFormatter(locator, tz="UTC"))  # type: ignore[no-untyped-call]


def _days(times: pd.Series[Any]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """UTC times as matplotlib date numbers (NaT: NaN)."""
    import matplotlib.dates as mdates

    naive = pd.to_datetime(times, utc=True).dt.tz_localize(None).to_numpy()
    days = mdates.date2num(naive)  # type: ignore[no-untyped-call]
    return np.asarray(days, dtype=np.float64)


def _counts_on(axis: Axis) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _legend(ax: Axes, entries: Sequence[tuple[str, str]], title: str | None = None) -> None:
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=colour, label=label) for label, colour in entries]
    ax.legend(handles=handles, title=title, loc="best", fontsize="small")


# -- the plots -----------------------------------------------------------------------

def sessions_timeline(frames: Frames, *, by: str = "outcome", max_bars: int = 300) -> Figure:
    """Sessions over time (UTC): a bar from start to end per session, or, with more than
    ``max_bars`` sessions, a stacked histogram of session starts. ``by="outcome"``
    colours a session "auth failed" (any failed AUTH), "error finding", "warning" or
    "clean"; ``by="origin"`` colours it by the kind of input (pcap, postfix-log, ...)."""
    if by not in ("outcome", "origin"):
        raise ValueError(f"by must be 'outcome' or 'origin', not {by!r}")
    title = "Sessions over time"
    s = frames.sessions
    start = pd.to_datetime(s["start"], utc=True)
    end = pd.to_datetime(s["end"], utc=True).fillna(start)
    placed = np.asarray(start.notna(), dtype=bool)
    if not placed.any():
        return _no_data(_figure(), title)

    if by == "outcome":
        groups = _outcomes(frames)
        order = list(OUTCOMES)
        colours = dict(_OUTCOME_COLOURS)
    else:
        groups = [_label(v) for v in _texts(s["origin"])]
        order = sorted(set(groups))
        cycle = [f"C{i}" for i in range(10)]
        colours = {g: cycle[i % 10] for i, g in enumerate(order)}
    t0, t1 = _days(start), _days(end)
    rows = [i for i in np.argsort(t0, kind="stable") if placed[i]]
    present = [g for g in order if any(groups[i] == g for i in rows)]
    counts = {g: sum(groups[i] == g for i in rows) for g in present}
    entries = [(f"{g} ({counts[g]})", colours[g]) for g in present]

    if len(rows) > max_bars:
        fig = _figure(10.0, 4.5)
        ax = fig.add_subplot()
        data = [t0[[i for i in rows if groups[i] == g]] for g in present]
        edges = np.histogram_bin_edges(t0[rows], bins=min(60, max(10, len(rows) // 20)))
        ax.hist(data, bins=edges.tolist(), stacked=True, color=[colours[g] for g in present])
        _counts_on(ax.yaxis)
        ax.set_ylabel("sessions started")
    else:
        n = len(rows)
        fig = _figure(10.0, min(12.0, max(3.0, 1.5 + 0.22 * n)))
        ax = fig.add_subplot()
        lo, hi = float(t0[rows].min()), float(max(t1[rows].max(), t0[rows].max()))
        span = hi - lo if hi > lo else 1 / 86400  # one second, in days
        least = span / 400  # a zero-length session (most mail logs) is still a visible bar
        widths = [max(float(t1[i] - t0[i]), least) for i in rows]
        ax.barh(range(n), widths, left=t0[rows], height=0.8,
                color=[colours[groups[i]] for i in rows])
        ax.set_ylim(n - 0.5, -0.5)  # the earliest session on top
        ax.set_xlim(lo - span * 0.02, hi + span * 0.04)
        if n <= 50:
            clients = _texts(s["client"])
            ids = _texts(s["session"])
            ax.set_yticks(range(n), [f"{_label(ids[i])} {_label(clients[i], '')}".rstrip()
                                     for i in rows], fontsize="small")
        else:
            ax.set_yticks([])
        ax.set_ylabel("session")
    _date_axis(ax)
    ax.set_xlabel("time (UTC)")
    ax.set_title(title)
    _legend(ax, entries, title=by)
    return _finish(fig)


def reply_latency(frames: Frames, *, kind: str = "box") -> Figure:
    """Reply latency (ms) per command verb as box plots, or violins with
    ``kind="violin"``; verbs ordered by median latency (at most 40, the most frequent),
    on a log scale when the latencies span more than two decades."""
    if kind not in ("box", "violin"):
        raise ValueError(f"kind must be 'box' or 'violin', not {kind!r}")
    title = "Reply latency per command verb"
    c = frames.commands
    latency = _floats(c["latency_ms"])
    verbs = _texts(c["verb"])
    groups: dict[str | None, list[float]] = {}
    for verb, ms in zip(verbs, latency, strict=True):
        if not math.isnan(ms):
            groups.setdefault(verb, []).append(float(ms))
    if not groups:
        return _no_data(_figure(), title)
    chosen = sorted(groups, key=lambda v: -len(groups[v]))[:_MAX_BOXES]
    if len(groups) > _MAX_BOXES:
        title += f" ({_MAX_BOXES} most frequent of {len(groups)} verbs)"
    chosen.sort(key=lambda v: (float(np.median(groups[v])), _label(v)))
    data = [np.asarray(groups[v], dtype=float) for v in chosen]

    values = np.concatenate(data)
    positive = values[values > 0]
    log = positive.size > 0 and positive.max() / positive.min() > _LOG_SPAN
    if log:  # a 0 ms reply (timestamps of coarse resolution) sits at the smallest one
        floor = float(positive.min())
        data = [np.maximum(d, floor) for d in data]
    fig = _figure(max(6.0, min(16.0, 2.0 + 0.6 * len(chosen))), 5.0)
    ax = fig.add_subplot()
    positions = list(range(1, len(chosen) + 1))
    if kind == "box":
        ax.boxplot(data, positions=positions, patch_artist=True, widths=0.6,
                   medianprops={"color": "black"},
                   boxprops={"facecolor": "#aec7e8", "edgecolor": "black"})
        if log:
            ax.set_yscale("log")
        ax.set_ylabel("reply latency (ms)")
    else:
        if log:  # a density drawn over log10 values, so each violin keeps its shape
            data = [np.log10(d) for d in data]
        ax.violinplot(data, positions=positions, showmedians=True, widths=0.8)
        if log:
            low = math.floor(min(float(d.min()) for d in data))
            high = math.ceil(max(float(d.max()) for d in data))
            ax.set_yticks(range(low, high + 1), [f"{10.0 ** k:g}" for k in range(low, high + 1)])
            ax.set_ylim(low - 0.1, high + 0.1)
        ax.set_ylabel("reply latency (ms, log scale)" if log else "reply latency (ms)")
    if not log:
        ax.ticklabel_format(axis="y", useOffset=False)  # ms as they are, not 1e2 + 0.0001
    labels = [". (end of data)" if v == "." else _label(v) for v in chosen]
    crowded = len(chosen) > 6 or sum(map(len, labels)) > 8 * len(chosen)
    ax.set_xticks(positions, labels, rotation=30 if crowded else 0,
                  ha="right" if crowded else "center")
    ax.set_xlabel("command verb")
    ax.set_title(title)
    return _finish(fig)


def findings_by_id(frames: Frames) -> Figure:
    """Findings counted per id, most frequent on top (at most 30), coloured by severity:
    error red, warning amber, info blue."""
    title = "Findings by id"
    ids = _texts(frames.findings["id"])
    severities = _texts(frames.findings["severity"])
    counts: dict[str, int] = {}
    worst: dict[str, str | None] = {}
    for fid, severity in zip(ids, severities, strict=True):
        if fid is None:
            continue
        counts[fid] = counts.get(fid, 0) + 1
        # one id has one severity; were it to vary, show the gravest
        rank = _SEVERITY_RANK.get(severity or "", 9)
        if fid not in worst or rank < _SEVERITY_RANK.get(worst[fid] or "", 9):
            worst[fid] = severity
    if not counts:
        return _no_data(_figure(), title)
    chosen = sorted(counts, key=lambda f: (-counts[f], f))[:_MAX_IDS]
    if len(counts) > _MAX_IDS:
        title += f" ({_MAX_IDS} most frequent of {len(counts)})"
    n = len(chosen)
    fig = _figure(9.0, min(12.0, max(3.0, 1.2 + 0.3 * n)))
    ax = fig.add_subplot()
    colours = [_SEVERITY_COLOURS.get(worst[f] or "", _GREY) for f in chosen]
    bars = ax.barh(range(n), [counts[f] for f in chosen], color=colours, height=0.7)
    ax.bar_label(bars, padding=3, fontsize="small")
    ax.set_yticks(range(n), [_label(f) for f in chosen])
    ax.set_ylim(n - 0.5, -0.5)
    ax.margins(x=0.08)
    _counts_on(ax.xaxis)
    ax.set_xlabel("findings")
    ax.set_title(title)
    shown = {worst[f] for f in chosen}
    entries = [(sev, colour) for sev, colour in _SEVERITY_COLOURS.items() if sev in shown]
    if shown - set(_SEVERITY_COLOURS):
        entries.append(("other", _GREY))
    _legend(ax, entries, title="severity")
    return _finish(fig)


def client_host(client: str | None) -> str | None:
    """The address of ``client`` without its port: "192.0.2.1:25" and
    "[2001:db8::1]:25" lose it; a bare IPv6 address stays whole."""
    if client is None:
        return None
    if client.startswith("["):
        close = client.find("]")
        if close > 0 and (close == len(client) - 1
                          or (client[close + 1] == ":" and digits(client[close + 2:]))):
            return client[1:close]
        return client
    host, sep, port = client.rpartition(":")
    if sep and ":" not in host and digits(port):
        return host
    return client


def auth_by_client(frames: Frames, *, top: int = 20) -> Figure:
    """AUTH outcomes per client address (port dropped) as stacked horizontal bars of
    success, failure and other (cancelled, unknown); the ``top`` clients with most
    failures first, so a password guesser heads the list."""
    if top < 1:
        raise ValueError(f"top must be at least 1, not {top}")
    title = "AUTH outcomes per client"
    auth = frames.auth
    owner = _owner(frames.sessions, auth)
    hosts = [client_host(c) for c in _texts(frames.sessions["client"])]
    tally: dict[str | None, dict[str, int]] = {}
    for at, outcome in zip(owner, _texts(auth["outcome"]), strict=True):
        host = hosts[at] if at >= 0 else None
        kind = outcome if outcome in ("success", "failure") else "other"
        counts = tally.setdefault(host, {"success": 0, "failure": 0, "other": 0})
        counts[kind] += 1
    if not tally:
        return _no_data(_figure(), title)
    chosen = sorted(tally, key=lambda h: (-tally[h]["failure"], -sum(tally[h].values()),
                                          _label(h, "")))[:top]
    if len(tally) > top:
        title += f" (top {top} of {len(tally)} by failures)"
    n = len(chosen)
    fig = _figure(9.0, min(12.0, max(3.0, 1.2 + 0.3 * n)))
    ax = fig.add_subplot()
    left = np.zeros(n)
    for kind, colour in _AUTH_COLOURS.items():
        widths = np.array([tally[h][kind] for h in chosen], dtype=float)
        ax.barh(range(n), widths, left=left, color=colour, label=kind, height=0.7)
        left += widths
    ax.set_yticks(range(n), [_label(h, "(unknown client)") for h in chosen])
    ax.set_ylim(n - 0.5, -0.5)
    ax.margins(x=0.05)
    _counts_on(ax.xaxis)
    ax.set_xlabel("AUTH attempts")
    ax.set_ylabel("client address")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize="small", title="outcome")
    return _finish(fig)


def message_sizes(frames: Frames, *, bins: int = 30) -> Figure:
    """Histogram of message sizes in bytes, with logarithmic bins and x axis when the
    sizes span more than two decades."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, not {bins}")
    title = "Message sizes"
    sizes = _floats(frames.messages["size"])
    sizes = sizes[~np.isnan(sizes)]
    if sizes.size == 0:
        return _no_data(_figure(), title)
    fig = _figure(9.0, 4.5)
    ax = fig.add_subplot()
    positive = sizes[sizes > 0]
    if positive.size and positive.max() / positive.min() > _LOG_SPAN:
        sizes = np.maximum(sizes, positive.min())  # an empty message counts in bin one
        edges = np.logspace(math.log10(positive.min()), math.log10(positive.max()),
                            bins + 1)
        ax.hist(sizes, bins=edges.tolist(), color="#1f77b4", edgecolor="white")
        ax.set_xscale("log")
    else:
        ax.hist(sizes, bins=bins, color="#1f77b4", edgecolor="white")
    ax.set_xlabel("message size (bytes)")
    _counts_on(ax.yaxis)
    ax.set_ylabel("messages")
    ax.set_title(f"{title} ({sizes.size} messages)")
    return _finish(fig)
