"""The audit report as one self-contained HTML page.

:func:`render_audit_page` reads the dict that ``smtplens audit --json`` writes (schema
``smtplens-audit``, version 1) and returns an HTML5 document that needs nothing else:
the style sheet is inline, the charts are inline SVG, there is no script, and the page
forbids every fetch (see :data:`smtplens.views.html.CSP`). It prints, and follows the
reader's light or dark setting.

Every string in the report came from the inputs (file names, addresses, EHLO and user
names, details), so each one goes through :func:`smtplens.views.html.esc`; every
number is coerced (:func:`~smtplens.views.html.as_int`) before it is shown or drawn,
and a time that cannot be a date shows as "time out of range". A malformed field
shows as empty or 0; it never stops the page.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from smtplens.views import svg
from smtplens.views.html import (
    OUT_OF_RANGE,
    Safe,
    as_float,
    as_int,
    badge,
    count,
    duration,
    el,
    empty,
    join,
    page,
    percent,
    size,
    table,
    timestamp,
    tone,
    utc,
)

SCHEMA = "smtplens-audit"
VERSION = 1
#: the timeline draws at most this many columns (hours merge into days, weeks, ...)
MAX_COLUMNS = 500
#: finding ids in the bar chart (the table has them all)
BARS = 30
#: user names listed per client or server
USERS_SHOWN = 12
#: places listed per cross-session finding
PLACES_SHOWN = 20
#: rows of the all-files table
FILES_SHOWN = 1000
#: what the exit codes of ``smtplens audit`` mean
VERDICTS = {
    0: ("ok", "clean: nothing at or above --fail-on"),
    1: ("error", "findings at the failing severity or worse"),
    2: ("error", "nothing usable was read (or a usage error)"),
    3: ("warning", "some files were bad; the report covers the rest"),
}
_RANK = {"error": 3, "warning": 2, "info": 1, "unknown": 0}
_HOUR, _DAY = 3600, 86400
_YEAR = 365 * _DAY
#: the widths a timeline column may have, narrowest first
_STEPS = (_HOUR, 2 * _HOUR, 3 * _HOUR, 6 * _HOUR, 12 * _HOUR, _DAY, 2 * _DAY, 7 * _DAY,
          14 * _DAY, 30 * _DAY, 91 * _DAY, _YEAR)
_DASH = "\u2014"


def render_audit_page(report: dict[str, Any], *, title: str = "smtplens audit") -> str:
    """The audit report ``report`` (schema v1) as a complete HTML document."""
    r = _dict(report)
    totals = _dict(r.get("totals"))
    body = el(
        "main",
        _header(r, totals, title),
        _nav(),
        _totals(totals),
        _cross(_dicts(r.get("cross_findings"))),
        _findings(_dicts(r.get("findings"))),
        _parties("clients", "Top offending clients", "Client address",
                 _dicts(r.get("top_clients")), "No client addresses were seen."),
        _parties("servers", "Top offending servers", "Server",
                 _dicts(r.get("top_servers")), "No servers were seen."),
        _timeline(_dicts(r.get("timeline"))),
        _files(_dicts(r.get("files"))),
        el("footer", el("p", "Written by smtplens ", r.get("smtplens") or "", " from an ",
                        SCHEMA, " report. Text from the inputs is shown escaped: control "
                        "characters as \\xNN, undecodable bytes as \\udcNN.")),
    )
    return str(page(title, body))


# ------------------------------------------------------------------ reading the dict

def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _str(value: object) -> str:
    return value if isinstance(value, str) else "" if value is None else repr(value)


def _section(anchor: str, heading: str, *content: object) -> Safe:
    return el("section", el("h2", heading), content, id=anchor)


def _facts(pairs: Iterable[tuple[str, object]]) -> Safe:
    return el("dl", [(el("dt", k), el("dd", v)) for k, v in pairs], class_="facts")


def _code(value: object) -> Safe:
    return el("code", value) if value not in (None, "") else Safe(_DASH)


def _span(first: object, last: object) -> Safe:
    """``first`` to ``last`` (Unix seconds) and how long that is."""
    if first is None and last is None:
        return Safe(_DASH)
    text = f"{timestamp(first)} \u2013 {timestamp(last)}"
    a, b = as_float(first), as_float(last)
    if a is not None and b is not None and utc(a) and utc(b) and b >= a:
        text += f" ({duration(b - a)})"
    return el("span", text)


# ------------------------------------------------------------------------- sections

def _header(r: dict[str, Any], totals: dict[str, Any], title: str) -> Safe:
    notice = None
    if r.get("schema") != SCHEMA or r.get("version") != VERSION:
        notice = el("p", f"This page reads {SCHEMA} version {VERSION}; the report says ",
                    _str(r.get("schema")), " version ", _str(r.get("version")),
                    ", so parts of it may be missing.", class_="notice")
    window = _dict(r.get("window"))
    since, until = window.get("since"), window.get("until")
    worst = totals.get("worst")
    return el("header", el("h1", title),
              el("p", "smtplens ", r.get("smtplens") or "", " audit report", class_="muted"),
              notice,
              _facts([
                  ("Inputs", _inputs(r.get("inputs"))),
                  ("Generated", r.get("generated") or _DASH),
                  ("Window", el("span", since or "the beginning", " \u2013 ",
                                until or "the end")
                   if since or until else "everything in the inputs"),
                  ("Time covered", _span(totals.get("first_ts"), totals.get("last_ts"))),
                  ("Worst severity", badge(worst) if worst else "no findings"),
                  ("Verdict", _verdict(r)),
                  *_run(r),
              ]))


def _run(r: dict[str, Any]) -> list[tuple[str, object]]:
    """How the audit ran, when the report says (engine, jobs, ``--state``)."""
    parts: list[object] = []
    if r.get("engine"):
        parts.append(el("span", "engine ", _code(r.get("engine"))))
    if r.get("jobs") is not None:
        parts.append(f", {as_int(r.get('jobs'))} jobs")
    if r.get("state"):
        parts.append(el("span", ", state file ", _code(r.get("state"))))
    return [("Run", el("span", parts))] if parts else []


def _inputs(value: object) -> Safe:
    inputs = value if isinstance(value, list) else []
    if not inputs:
        return Safe(_DASH)
    items = [el("li", _code(p)) for p in inputs]
    if len(items) <= 12:
        return el("ul", items, class_="plain")
    return el("details", el("summary", f"{len(items):,} inputs"),
              el("ul", items, class_="plain"))


def _verdict(r: dict[str, Any]) -> Safe:
    code = r.get("exit_code")
    if code is None:
        return Safe(_DASH)
    kind, meaning = VERDICTS.get(as_int(code), ("unknown", "unknown exit code"))
    fail_on = r.get("fail_on")
    return el("span", el("span", f"exit {as_int(code)}", class_=f"badge {kind}"), " ",
              meaning, f" (--fail-on {fail_on})" if isinstance(fail_on, str) and fail_on
              else None)


def _nav() -> Safe:
    links = [("totals", "Totals"), ("cross", "Across sessions"), ("findings", "Findings"),
             ("clients", "Clients"), ("servers", "Servers"), ("timeline", "Timeline"),
             ("files", "Files")]
    return el("nav", el("ul", [el("li", el("a", text, href=f"#{anchor}"))
                               for anchor, text in links]))


def _card(label: str, value: str, note: object = None) -> Safe:
    return el("div", el("div", value, class_="value"), el("div", label, class_="label"),
              el("div", note, class_="note muted") if note else None, class_="card")


def _totals(t: dict[str, Any]) -> Safe:
    auth = _dict(t.get("auth"))
    sessions = t.get("sessions")
    cards = [
        _card("files", count(t.get("files")), f"{count(t.get('bad_files'))} bad"),
        _card("sessions", count(sessions), f"{count(t.get('partial_sessions'))} partial "
              "(from summary logs)"),
        _card("TLS share", percent(t.get("tls_sessions"), sessions),
              f"{count(t.get('tls_sessions'))} sessions with TLS"),
        _card("messages", count(t.get("messages")), size(t.get("message_bytes"))),
        _card("message bytes", size(t.get("message_bytes")),
              f"{count(t.get('message_bytes'))} octets"),
        _card("recipients", count(t.get("recipients")),
              f"{count(t.get('rejected_recipients'))} rejected"),
        _card("AUTH success", count(auth.get("success"))),
        _card("AUTH failure", count(auth.get("failure")),
              f"{count(auth.get('cancelled'))} cancelled, {count(auth.get('unknown'))} "
              "unknown"),
        _card("findings", count(t.get("findings")),
              el("span", "worst: ", badge(t.get("worst"))) if t.get("worst") else None),
    ]
    return _section("totals", "Totals", el("div", cards, class_="cards"),
                    _counter("AUTH mechanisms", t.get("mechanisms"), "no AUTH"),
                    _counter("Sessions by source", t.get("origins"), "no sessions"))


def _counter(label: str, value: object, none: str) -> Safe:
    pairs = sorted(_dict(value).items(), key=lambda kv: (-as_int(kv[1]), _str(kv[0])))
    if not pairs:
        return el("p", el("span", f"{label}: ", class_="muted"), none)
    shown = [(el("code", k), " ", count(v)) for k, v in pairs[:30]]
    more = f" and {len(pairs) - 30:,} more" if len(pairs) > 30 else None
    return el("p", el("span", f"{label}: ", class_="muted"),
              join([join(s) for s in shown], sep=" \u00b7 "), more)


def _cross(items: list[dict[str, Any]]) -> Safe:
    heading = "Patterns across sessions"
    if not items:
        return _section("cross", heading, empty(
            "No pattern across sessions was found (password guessing, spraying, "
            "stripped STARTTLS and the like)."))
    items = sorted(items, key=lambda f: (-_RANK[tone(f.get("severity"))],
                                         -as_int(f.get("count"))))
    return _section("cross", heading, [_cross_one(f) for f in items])


def _cross_one(f: dict[str, Any]) -> Safe:
    places = _dicts(f.get("places"))
    rows = [(_code(p.get("file")), p.get("session"), p.get("location"),
             timestamp(p.get("ts"))) for p in places[:PLACES_SHOWN]]
    more = (el("p", f"and {len(places) - PLACES_SHOWN:,} more places", class_="muted")
            if len(places) > PLACES_SHOWN else None)
    return el("div",
              el("h3", badge(f.get("severity")), " ", f.get("title"), " ",
                 el("code", f.get("id"), class_="muted")),
              el("p", el("span", "Subject: ", class_="muted"), _code(f.get("subject"))),
              el("p", f.get("detail")) if f.get("detail") else None,
              _facts([("Count", count(f.get("count"))),
                      ("Time span", _span(f.get("first_ts"), f.get("last_ts"))),
                      ("Rule", f.get("rfc") or _DASH), ("Fix", f.get("fix") or _DASH)]),
              table(("File", "Session", "Location", "Time"), rows,
                    empty_text="No places were recorded."),
              more, class_=f"finding {tone(f.get('severity'))}")


def _findings(items: list[dict[str, Any]]) -> Safe:
    heading = "Findings by id and severity"
    if not items:
        return _section("findings", heading, empty("No findings: nothing looked wrong."))
    items = sorted(items, key=lambda f: (-_RANK[tone(f.get("severity"))],
                                         -as_int(f.get("count")), _str(f.get("id"))))
    top = sorted(items, key=lambda f: -as_int(f.get("count")))[:BARS]
    chart = svg.hbars([svg.Bar(_str(f.get("id")), as_int(f.get("count")),
                               tone(f.get("severity")), _str(f.get("title"))) for f in top],
                      title="Occurrences per finding id")
    note = (el("p", f"The chart shows the {BARS} most frequent of {len(items):,} ids; "
                    "the table lists them all.", class_="muted")
            if len(items) > BARS else None)
    rows = [(el("span", _code(f.get("id")),
                el("br"), el("small", "across sessions", class_="muted")
                if f.get("cross") is True else None),
             badge(f.get("severity")), f.get("title"), count(f.get("count")),
             count(f.get("sessions")), f.get("rfc"), f.get("fix"),
             _examples(_dicts(f.get("examples")))) for f in items]
    return _section("findings", heading, chart, note, table(
        ("Id", "Severity", "Title", "Count", "Sessions", "Rule", "Fix", "Examples"), rows,
        numeric=(3, 4)))


def _examples(examples: list[dict[str, Any]]) -> Safe:
    if not examples:
        return Safe(_DASH)
    items = [el("li", _code(e.get("file")), " ", e.get("session"), " ", e.get("location"),
                " ", el("span", timestamp(e.get("ts"), missing=""), class_="muted"),
                (el("br"), e.get("detail")) if e.get("detail") else None)
             for e in examples]
    noun = "example" if len(items) == 1 else "examples"
    return el("details", el("summary", f"{len(items)} {noun}"),
              el("ul", items, class_="plain"))


def _users(value: object) -> Safe:
    users = value if isinstance(value, list) else []
    if not users:
        return Safe(_DASH)
    shown = join([el("code", u) for u in users[:USERS_SHOWN]], sep=", ")
    more = f" and {len(users) - USERS_SHOWN:,} more" if len(users) > USERS_SHOWN else ""
    return Safe(shown + more)


def _parties(anchor: str, heading: str, first: str, items: list[dict[str, Any]],
             none: str) -> Safe:
    rows = [(_code(p.get("address")), count(p.get("sessions")), count(p.get("auth_success")),
             count(p.get("auth_failure")), count(p.get("messages")), count(p.get("errors")),
             count(p.get("warnings")), _users(p.get("users"))) for p in items]
    return _section(anchor, heading, table(
        (first, "Sessions", "AUTH ok", "AUTH failed", "Messages", "Errors", "Warnings",
         "Users"), rows, numeric=range(1, 7), empty_text=none))


def _step(first: int, last: int) -> int:
    """The narrowest column width that keeps the timeline within MAX_COLUMNS."""
    for step in _STEPS:
        if last // step - first // step + 1 <= MAX_COLUMNS:
            return step
    years = last // _YEAR - first // _YEAR + 1
    return _YEAR * -(-years // MAX_COLUMNS)


def _unit(step: int) -> str:
    names = {_HOUR: "hour", _DAY: "day", 7 * _DAY: "week", _YEAR: "year"}
    if step in names:
        return names[step]
    return f"{step // _HOUR} hours" if step < _DAY else f"{step // _DAY} days"


def _slot_label(start: int, step: int) -> str:
    when = utc(start)
    if when is None:
        return OUT_OF_RANGE
    return when.strftime("%Y-%m-%d %H:%MZ" if step < _DAY else "%Y-%m-%d")


def _timeline(buckets: list[dict[str, Any]]) -> Safe:
    heading = "Timeline"
    hours: list[tuple[int, dict[str, Any]]] = []
    for b in buckets:
        start = as_float(b.get("start"))
        if start is not None and utc(start) is not None:
            hours.append((int(start // 1), b))
    left_out = len(buckets) - len(hours)
    dropped = (el("p", f"{left_out:,} hours with a {OUT_OF_RANGE} were left out.",
                  class_="muted") if left_out else None)
    if not hours:
        return _section("timeline", heading,
                        empty("No session had a time, so there is no timeline."), dropped)
    first = min(s for s, _ in hours)
    last = max(s for s, _ in hours)
    step = _step(first, last)
    base = first // step
    slots = last // step - base + 1
    sums: dict[int, list[int]] = {}
    for start, b in hours:
        acc = sums.setdefault(start // step - base, [0, 0, 0])
        acc[0] += max(0, as_int(b.get("sessions")))
        acc[1] += max(0, as_int(b.get("auth_failures")))
        acc[2] += max(0, as_int(b.get("error_sessions")))
    unit = _unit(step)
    cols = [svg.Column(slot, (min(errors, sessions), sessions - min(errors, sessions)),
                       fails, f"{_slot_label((base + slot) * step, step)} ({unit}): "
                              f"{sessions:,} sessions, {errors:,} with an error finding, "
                              f"{fails:,} failed AUTH")
            for slot, (sessions, fails, errors) in sorted(sums.items())]
    ticks = sorted({round(i * (slots - 1) / 5) for i in range(6)}) if slots > 1 else [0]
    chart = svg.columns(
        cols, slots=slots, title=f"Sessions per {unit}, failed AUTH below the axis",
        up_tones=("error", "neutral"), down_tone="auth", up_label="sessions",
        down_label="failed AUTH",
        ticks=[(t, _slot_label((base + t) * step, step)) for t in ticks])
    legend = el("ul", [el("li", el("span", class_=f"swatch {k}"), text) for k, text in (
        ("error", "sessions with an error finding"), ("neutral", "other sessions"),
        ("auth", "failed AUTH attempts (below the axis)"))], class_="legend")
    caption = el("p", f"{len(hours):,} hours with sessions, from {_slot_label(first, _HOUR)} "
                      f"to {_slot_label(last, _HOUR)}; one column per {unit}"
                      + (" (hours merged to keep the page small)." if step > _HOUR else "."),
                 class_="muted")
    return _section("timeline", heading, caption, chart, legend, dropped)


def _reason(f: dict[str, Any]) -> tuple[Safe, object]:
    """Why a file is bad, and where."""
    problems = _dicts(f.get("problems"))
    main = next((p for p in problems if p.get("fatal") is True),
                problems[0] if problems else None)
    if main is not None:
        code = main.get("code")
        return (el("span", main.get("message"), " ", el("code", code, class_="muted")
                   if code else None), main.get("location") or _DASH)
    if f.get("skipped"):
        return el("span", "skipped: ", f.get("skipped")), _DASH
    if f.get("unreadable") is True:
        return Safe("could not be read"), _DASH
    return Safe("no SMTP session found in it"), _DASH


def _problems(f: dict[str, Any]) -> Safe:
    problems = _dicts(f.get("problems"))
    if not problems:
        return Safe("0")
    items = [el("li", el("span", p.get("location"), class_="muted"), " ", p.get("message"),
                " ", el("code", p.get("code")) if p.get("code") else None,
                el("strong", " (fatal)") if p.get("fatal") is True else None)
             for p in problems]
    return el("details", el("summary", f"{len(items):,}"), el("ul", items, class_="plain"))


def _status(f: dict[str, Any]) -> object:
    skipped = el("span", "skipped: ", f.get("skipped")) if f.get("skipped") else None
    if f.get("bad") is True:
        return el("span", "bad", (", ", skipped) if skipped else None)
    return skipped or "ok"


def _files(files: list[dict[str, Any]]) -> Safe:
    bad = [f for f in files if f.get("bad") is True]
    rows = []
    for f in bad:
        reason, where = _reason(f)
        rows.append((_code(f.get("path")), f.get("origin") or _DASH, reason, where,
                     _problems(f)))
    bad_table = table(("Path", "Read as", "Reason", "Position", "Problems"), rows,
                      numeric=(), empty_text="No bad files: every input gave sessions.")
    everything = None
    if files:
        shown = files[:FILES_SHOWN]
        all_rows = [(_code(f.get("path")), f.get("origin") or _DASH,
                     count(f.get("sessions")), size(f.get("size")), count(f.get("read_from")),
                     el("span", _status(f), (" \u2014 ", f.get("note"))
                        if f.get("note") else None), _problems(f))
                    for f in shown]
        more = (el("p", f"and {len(files) - FILES_SHOWN:,} more files", class_="muted")
                if len(files) > FILES_SHOWN else None)
        everything = el("details", el("summary", f"All {len(files):,} files"),
                        table(("Path", "Read as", "Sessions", "Size", "Read from", "Status",
                               "Problems"), all_rows, numeric=(2, 3, 4)), more)
    return _section("files", "Bad files", bad_table, everything)
