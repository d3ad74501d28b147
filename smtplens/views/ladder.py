"""Notebook views: one SMTP conversation as a ladder, and the summary of a result.

:func:`render_ladder` draws one session as two lanes, client on the left and server on
the right: every client line beside the reply it got (code, first line, latency; the
rest of a long reply folds away), each AUTH line beside what it decodes to, a message
as one row that unfolds to its headers, and every finding at the row where it was
seen. :func:`render_summary` is the front page of a whole result: totals, the first
sessions and the input problems.

Both return an HTML fragment for a notebook's output area (``_repr_html_``): one root
``<div class="smtplens-ladder">`` (or ``smtplens-summary``) with a ``<style>`` scoped
to that class, no script, ``<details>`` for what unfolds. The colours follow the
notebook: JupyterLab's ``data-jp-theme-light`` and VS Code's ``vscode-dark`` /
``vscode-light`` body classes first, else ``prefers-color-scheme``; the root paints its
own background, so the text stays readable under a theme it does not recognise.

The inputs are dicts, one per DataFrame row (the columns of
:data:`smtplens.frames.tables.COLUMNS`). Every string in them came from the wire or an
input file, so each reaches the fragment through :func:`smtplens.views.html.esc` (by
way of :func:`~smtplens.views.html.el`); data never picks a class name but through
:func:`~smtplens.views.html.tone`, and never reaches the style sheet. Numbers are
coerced before use; an absent key and a value pandas left missing (None, NaN,
``pandas.NA``, ``pandas.NaT``) read alike, as missing.
"""

from __future__ import annotations

import bisect
import math
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from smtplens.sasl.base import wire_text
from smtplens.views.html import (
    OUT_OF_RANGE,
    SEVERITIES,
    Safe,
    as_float,
    as_int,
    as_text,
    badge,
    count,
    duration,
    el,
    empty,
    join,
    size,
    table,
    tone,
    utc,
)

__all__ = ["render_ladder", "render_summary"]

#: ladder rows drawn before the rest is summed up in one line (a notebook output of
#: megabytes is slow to show); the findings of rows left out are listed at the end
MAX_ROWS = 2000
#: reply lines listed when a multi-line reply unfolds
REPLY_LINES = 200
#: characters of one text shown; the rest is counted, not shown
TEXT_LIMIT = 2000
_DASH = "\u2014"
_RANK = {"error": 0, "warning": 1, "info": 2, "unknown": 3}

Explain = Callable[[str], tuple[str, str, str]]


# ------------------------------------------------------------------ reading values

def _missing(value: object) -> bool:
    """None, a float NaN, ``pandas.NA`` or ``pandas.NaT`` (pandas is not imported:
    when it is not loaded, none of its values can be here)."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    pandas = sys.modules.get("pandas")
    if pandas is not None and (value is getattr(pandas, "NA", None)
                               or value is getattr(pandas, "NaT", None)):
        return True
    return type(value).__name__ in ("NAType", "NaTType")


def _get(row: dict[str, Any], key: str) -> Any:
    value = row.get(key)
    return None if _missing(value) else value


def _text(value: object, limit: int = TEXT_LIMIT) -> str:
    """A value as text ("" when missing), cut to ``limit`` characters."""
    if _missing(value):
        return ""
    text = as_text(value)
    if len(text) > limit:
        text = f"{text[:limit]}\u2026 ({len(text) - limit:,} more characters)"
    return text


def _number(value: object) -> float | None:
    """A finite number, or None: ints, floats, numeric text and numpy scalars."""
    if _missing(value):
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float | str):
        return as_float(value)
    if hasattr(type(value), "__float__"):  # numpy scalars, Decimal
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            return None
        return number if math.isfinite(number) else None
    return None


def _int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return as_int(value)
    number = _number(value)
    return None if number is None else as_int(number)


def _bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if type(value).__name__ == "bool_":  # numpy
        return bool(value)
    return None


def _seconds(value: object) -> float | None:
    """Unix seconds of a timestamp (pandas/datetime) or a number, for comparing."""
    if _missing(value):
        return None
    stamp = getattr(value, "timestamp", None)
    if callable(stamp):
        try:
            number = float(stamp())
        except (TypeError, ValueError, OverflowError, OSError):
            return None
        return number if math.isfinite(number) else None
    return _number(value)


_STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\Z")


def _when(value: object) -> str | None:
    """A time as ``2026-11-28 12:17:30.652`` (UTC, milliseconds); None when missing,
    :data:`~smtplens.views.html.OUT_OF_RANGE` when it cannot be a date."""
    if _missing(value):
        return None
    formatter = getattr(value, "strftime", None)
    if callable(formatter):
        try:
            if getattr(value, "tzinfo", None) is not None:
                formatter = value.astimezone(UTC).strftime  # type: ignore[attr-defined]
            text = formatter("%Y-%m-%d %H:%M:%S.%f")
        except (TypeError, ValueError, OverflowError, OSError):
            return OUT_OF_RANGE
    else:
        moment = utc(_number(value))
        if moment is None:
            return OUT_OF_RANGE
        text = moment.strftime("%Y-%m-%d %H:%M:%S.%f")
    return text[:23] if isinstance(text, str) and _STAMP.match(text) else OUT_OF_RANGE


def _dicts(rows: object) -> list[dict[str, Any]]:
    if not isinstance(rows, Iterable) or isinstance(rows, str | bytes | dict):
        return []
    return [r for r in rows if isinstance(r, dict)]


def _ms(value: float) -> str:
    if abs(value) < 10:
        return f"{value:.2f} ms"
    if abs(value) < 1000:
        return f"{value:.1f} ms"
    return f"{value:,.0f} ms"


def _code_class(code: int | None) -> str:
    if code is None:
        return "code none"
    return "code " + {2: "ok", 3: "go", 4: "temp", 5: "fail"}.get(code // 100, "odd")


# ------------------------------------------------------------------ the ladder's rows

@dataclass(slots=True)
class _Row:
    """One client line (or the greeting) and its reply, as the ladder shows it."""

    order: int  #: position in the ladder
    kind: str  #: "greeting", "command", "auth", "data-end"
    verb: str
    text: str
    meaning: str
    ts: object
    seconds: float | None
    code: int | None
    reply: str
    note: str  #: what the reply decodes to (334 challenges)
    latency: float | None
    pipelined: bool
    offset: int | None
    location: str
    client_error: str = ""  #: why the client's AUTH line did not decode
    server_error: str = ""  #: why the server's 334 line did not decode
    message: dict[str, Any] | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)


def _row(order: int, c: dict[str, Any]) -> _Row:
    ts = _get(c, "ts")
    latency = _number(c.get("latency_ms"))
    return _Row(order=order, kind=_text(c.get("kind"), 20), verb=_text(c.get("verb"), 40),
                text=_text(c.get("text")), meaning=_text(c.get("meaning")), ts=ts,
                seconds=_seconds(ts), code=_int(c.get("reply_code")),
                reply=_text(c.get("reply"), 50 * TEXT_LIMIT),
                note=_text(c.get("reply_note")), latency=latency,
                pipelined=_bool(c.get("pipelined")) is True, offset=_int(c.get("offset")),
                location=_text(c.get("location"), 200))


def _rows(session: dict[str, Any], commands: list[dict[str, Any]]) -> list[_Row]:
    sid = _get(session, "session")
    mine = [c for c in commands
            if sid is None or _get(c, "session") is None or _text(c["session"]) == _text(sid)]
    # ordered by item; a row without one keeps its place among those without
    keyed = sorted(enumerate(mine), key=lambda p: (_int(p[1].get("item")) is None,
                                                   _int(p[1].get("item")) or 0, p[0]))
    rows = [_row(i + 1, c) for i, (_, c) in enumerate(keyed)]
    code, text = _int(session.get("greeting_code")), _text(session.get("greeting"))
    if code is not None or text:
        start = _get(session, "start")
        rows.insert(0, _Row(0, "greeting", "", "", "", start, _seconds(start), code, text,
                            "", None, False, None, ""))
    return rows


def _auth_notes(rows: list[_Row], auth_steps: list[dict[str, Any]]) -> None:
    """Pair the decoded AUTH steps with the rows that carried them: the n-th ``334``
    of an exchange with its n-th server step, the answers with its client steps."""
    steps: dict[int, list[dict[str, Any]]] = {}
    for s in auth_steps:
        number = _int(s.get("exchange"))
        if number is not None:
            steps.setdefault(number, []).append(s)
    exchanges: list[list[_Row]] = []
    for row in rows:
        if row.kind == "command" and row.verb.upper() == "AUTH":
            exchanges.append([row])
        elif row.kind == "auth" and exchanges:
            exchanges[-1].append(row)
    for number, members in enumerate(exchanges, 1):
        mine = sorted(steps.get(number, []), key=lambda s: _int(s.get("step")) or 0)
        server = [s for s in mine if _text(s.get("direction")).upper() == "S"]
        for row, step in zip([r for r in members if r.code == 334], server, strict=False):
            row.note = _text(step.get("decoded")) or row.note
            row.server_error = _step_error(step)
        client = [s for s in mine if _text(s.get("direction")).upper() == "C"]
        # the AUTH line carries a step only when it had an initial response
        lines = members if len(client) > len(members) - 1 else members[1:]
        for row, step in zip(lines, client, strict=False):
            row.meaning = row.meaning or _text(step.get("decoded"))
            row.client_error = _step_error(step)


def _step_error(step: dict[str, Any]) -> str:
    error = _text(step.get("error"))
    if error:
        return error
    return "not valid Base64" if _bool(step.get("valid_base64")) is False else ""


def _attach_messages(rows: list[_Row], messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give each message to the row that ended it (the end of DATA, the last BDAT);
    return the messages no row took. Transactions are counted as the session builder
    counts them: MAIL opens one, so does a RCPT outside any; EHLO, HELO, LHLO, RSET and
    the end of a message close it."""
    by_index: dict[int, dict[str, Any]] = {}
    for m in messages:
        index = _int(m.get("index"))
        # a transaction whose DATA was refused has a method but no message: no size,
        # no verdict, not even "incomplete"
        sent = any(_get(m, k) is not None for k in ("size", "complete", "reply_code"))
        if index is not None and _get(m, "method") is not None and sent:
            by_index.setdefault(index, m)
    last: dict[int, _Row] = {}
    opened, current = 0, None
    for row in rows:
        verb = row.verb.upper()
        if row.kind == "data-end":
            if current is not None:
                last[current] = row
            current = None
        elif row.kind != "command":
            continue
        elif verb == "MAIL" or (verb == "RCPT" and current is None):
            opened += 1
            current = opened
        elif verb in ("EHLO", "HELO", "LHLO", "RSET", "QUIT"):
            current = None
        elif verb in ("DATA", "BDAT") and current is not None:
            last[current] = row
            if verb == "BDAT" and re.search(r"\bLAST\s*$", row.text, re.I):
                current = None
    for index, row in last.items():
        if index in by_index:
            row.message = by_index.pop(index)
    left = {id(m) for m in by_index.values()}
    return [m for m in messages if id(m) in left]


def _place(rows: list[_Row], findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Put each finding on its row; return those no row fits.

    In this order: the row of the same ``location`` (both non-empty); for a client
    finding, the row whose client offset range ``[offset, next row's offset)`` holds
    the finding's offset; the row nearest before it in time (of rows at the same
    time, the last); else none.
    """
    at: dict[str, _Row] = {}
    for r in rows:
        if r.location:
            at.setdefault(r.location, r)
    # offsets grow with the items; sorted, the row before the next greater offset is the
    # row whose range holds it even where they do not
    placed = sorted((r for r in rows if r.offset is not None),
                    key=lambda r: (r.offset, r.order))
    offsets = [r.offset for r in placed if r.offset is not None]
    timed = sorted((r for r in rows if r.seconds is not None),
                   key=lambda r: (r.seconds, r.order))
    times = [r.seconds for r in timed if r.seconds is not None]
    left: list[dict[str, Any]] = []
    for f in findings:
        row: _Row | None = None
        if _text(f.get("location")):
            row = at.get(_text(f.get("location"), 200))
        offset = _int(f.get("offset"))
        if row is None and offset is not None and _text(f.get("direction")).upper() == "C":
            i = bisect.bisect_right(offsets, offset) - 1
            if i >= 0:
                row = placed[i]
        seconds = _seconds(_get(f, "ts"))
        if row is None and seconds is not None:
            i = bisect.bisect_right(times, seconds) - 1
            if i >= 0:
                row = timed[i]
        if row is None:
            left.append(f)
        else:
            row.findings.append(f)
    return left


def _blocks(rows: list[_Row]) -> list[list[_Row]]:
    """The ladder's entries: a DATA command and the end of its message are one."""
    out: list[list[_Row]] = []
    for row in rows:
        if (row.kind == "data-end" and out and out[-1][-1].kind == "command"
                and out[-1][-1].verb.upper() == "DATA" and len(out[-1]) == 1):
            out[-1].append(row)
        else:
            out.append([row])
    return out


# ------------------------------------------------------------------ drawing the ladder

def render_ladder(session: dict[str, Any], commands: list[dict[str, Any]],
                  auth_steps: list[dict[str, Any]], messages: list[dict[str, Any]],
                  findings: list[dict[str, Any]], *,
                  explain: Explain | None = None, max_rows: int = MAX_ROWS) -> str:
    """One SMTP conversation as an HTML ladder (a notebook fragment).

    ``session`` is its row of the ``sessions`` frame; ``commands``, ``auth_steps``,
    ``messages`` and ``findings`` its rows of those frames (dicts, as
    ``df.to_dict("records")`` gives them; rows of another session are left out).
    ``explain(id)`` gives a finding's (description, when you see it, fix), shown
    folded under it. Past ``max_rows`` rows the rest is counted, not drawn; the
    findings of the rows left out are listed at the end.
    """
    s = session if isinstance(session, dict) else {}
    rows = _rows(s, _dicts(commands))
    _auth_notes(rows, _dicts(auth_steps))
    loose_messages = _attach_messages(rows, _dicts(messages))
    sid = _get(s, "session")
    mine = [f for f in _dicts(findings)
            if sid is None or _get(f, "session") is None or _text(f["session"]) == _text(sid)]
    loose = _place(rows, mine)
    limit = max(0, as_int(max_rows))
    day = (_when(_get(s, "start")) or "")[:10]
    notes = _Notes(explain)

    items: list[Safe] = []
    shown = 0
    hidden: list[_Row] = []
    for block in _blocks(rows):
        if shown >= limit:
            hidden.extend(block)
            continue
        shown += len(block)
        items.append(_block(block, day, notes))
    tail: list[object] = []
    if hidden:
        tail.append(el("p", f"\u2026 and {len(hidden):,} more rows, not drawn "
                            f"(the ladder stops at {limit:,}).", class_="m more-rows"))
        loose = [f for r in hidden for f in r.findings] + loose
    if loose_messages:
        tail.append(el("div", el("div", "Messages", class_="h"),
                       [el("div", _message(m), class_="msg") for m in loose_messages],
                       class_="tail"))
    if loose:
        tail.append(el("div", el("div", "Findings of the session", class_="h"),
                       _findings(loose, notes), class_="tail"))
    if not rows:
        body: object = empty("No commands were recorded for this session "
                             "(a summary log keeps none).")
    else:
        body = (_lanes(s), el("ol", items, class_="rows"))
    return str(el("div", Safe(f"<style>{LADDER_CSS}</style>"), _header(s, rows, mine),
                  body, tail, class_="smtplens-ladder"))


class _Notes:
    """``explain`` asked once per finding id."""

    def __init__(self, explain: Explain | None) -> None:
        self.explain = explain
        self.seen: dict[str, tuple[str, str, str] | None] = {}

    def __call__(self, finding_id: str) -> tuple[str, str, str] | None:
        if self.explain is None or not finding_id:
            return None
        if finding_id not in self.seen:
            try:
                found: object = self.explain(finding_id)
            except LookupError:  # an id the catalog does not know
                found = None
            parts = (tuple(_text(p) for p in found)
                     if isinstance(found, tuple | list) and len(found) == 3 else ())
            self.seen[finding_id] = ((parts[0], parts[1], parts[2])
                                     if len(parts) == 3 and any(parts) else None)
        return self.seen[finding_id]


def _header(s: dict[str, Any], rows: list[_Row], findings: list[dict[str, Any]]) -> Safe:
    client, server = _text(s.get("client"), 200), _text(s.get("server"), 200)
    start, end = _get(s, "start"), _get(s, "end")
    begun = _when(start)
    a, b = _seconds(start), _seconds(end)
    lasted = ""
    if a is not None and b is not None and b >= a:
        lasted = f" for {duration(b - a) if b - a >= 1 else _ms((b - a) * 1000)}"
    tls = _bool(_get(s, "tls"))
    facts: list[object] = [
        el("span", _text(s.get("origin"), 100) or "unknown source"),
        el("code", _text(s.get("source"), 500)) if _text(s.get("source")) else None,
        el("span", "started ", begun, " UTC", lasted) if begun else None,
        el("span", "TLS", class_="badge ok") if tls else
        el("span", "no TLS", class_="badge warning") if tls is False else None,
        el("span", "user ", el("code", _text(s.get("user"), 500))) if _text(s.get("user"))
        else None,
        el("span", "HELO ", el("code", _text(s.get("helo"), 500))) if _text(s.get("helo"))
        else None,
    ]
    commands = sum(r.kind != "greeting" for r in rows)
    n_messages = _int(s.get("messages"))
    counted = [f"{commands:,} {'line' if commands == 1 else 'lines'}"]
    if n_messages is not None:
        counted.append(f"{n_messages:,} {'message' if n_messages == 1 else 'messages'}")
    by_tone: dict[str, int] = {}
    for f in findings:
        by_tone[tone(f.get("severity"))] = by_tone.get(tone(f.get("severity")), 0) + 1
    noun = "finding" if len(findings) == 1 else "findings"
    worst = (" (" + ", ".join(f"{n:,} {t}" for t, n in
                              sorted(by_tone.items(), key=lambda kv: _RANK[kv[0]])) + ")"
             if findings else "")
    counted.append(f"{len(findings):,} {noun}{worst}")
    cb, sb = _int(s.get("client_bytes")), _int(s.get("server_bytes"))
    if cb is not None or sb is not None:
        counted.append(f"{size(cb or 0)} \u27f6 / {size(sb or 0)} \u27f5")
    return el("div",
              el("div", el("strong", "Session ", _text(s.get("session"), 200) or "?"), " ",
                 el("code", client or "client"), " \u2192 ", el("code", server or "server"),
                 class_="ttl"),
              el("div", join([f for f in facts if f is not None], sep=" \u00b7 "),
                 class_="m"),
              el("div", " \u00b7 ".join(counted), class_="m"), class_="hd")


def _lanes(s: dict[str, Any]) -> Safe:
    client, server = _text(s.get("client"), 200), _text(s.get("server"), 200)
    return el("div", el("span", "time (UTC)", class_="t"),
              el("div", "client ", el("code", client) if client else None, class_="c"),
              el("div", class_="a"),
              el("div", "server ", el("code", server) if server else None, class_="s"),
              el("span", "latency", class_="lat"), class_="l lanes")


def _block(block: list[_Row], day: str, notes: _Notes) -> Safe:
    lines = [_line(r, day) for r in block]
    tail = block[-1]
    if tail.message is not None and tail.kind != "data-end":
        # a message with no end of its own (cut short, or the last BDAT): its own line
        # after DATA the verdict is the reply to the end of data, which never came;
        # after BDAT it is the reply to the last chunk, on the line above
        note = ("no reply to the message" if tail.verb.upper() == "DATA"
                else "the verdict is the reply to the last chunk")
        lines.append(_bare_line(_message(tail.message), note))
    found = [f for r in block for f in r.findings]
    worst = min((_RANK[tone(f.get("severity"))] for f in found), default=None)
    classes = ["r"]
    if any(r.kind == "data-end" or r.message is not None or r.verb.upper() in ("DATA", "BDAT")
           for r in block):
        classes.append("data")
    if worst is not None:
        classes.append("x-" + next(t for t, n in _RANK.items() if n == worst))
    return el("li", lines, el("div", _findings(found, notes), class_="fs") if found else None,
              class_=" ".join(classes))


def _line(r: _Row, day: str) -> Safe:
    if r.kind == "greeting":
        client: Safe | None = None
    elif r.kind == "data-end":
        client = _message(r.message, r.meaning) if r.message is not None else el(
            "span", el("code", r.text), " ", el("span", r.meaning, class_="m")
            if r.meaning else None)
    else:
        # wire text escaped as the findings' excerpts are (a non-UTF-8 byte as \xac)
        client = el("span", el("code", wire_text(r.text) or r.verb or _DASH),
                    el("span", r.meaning, class_="dec") if r.meaning else None,
                    el("span", r.client_error, class_="bad") if r.client_error else None,
                    el("span", "pipelined", class_="pl") if r.pipelined else None)
    server = _reply(r) if r.code is not None or r.reply else None
    when = _when(r.ts)
    title = " \u00b7 ".join(t for t in (f"{when}Z" if when and when != OUT_OF_RANGE else when,
                                        r.location) if t)
    short = (when[11:] if when and when != OUT_OF_RANGE and when[:10] == day else when) or ""
    return el("div", el("span", short, class_="t", title=title or None),
              el("div", client, class_="c"),
              el("div", el("span", "\u27f6", class_="to") if client is not None else None,
                 el("span", "\u27f5", class_="fro") if server is not None else None,
                 class_="a"),
              el("div", server if server is not None else
                 el("span", "no reply", class_="m") if r.kind != "greeting" else None,
                 class_="s"),
              el("span", _ms(r.latency) if r.latency is not None else None, class_="lat"),
              class_="l")


def _bare_line(client: Safe, note: str) -> Safe:
    return el("div", el("span", class_="t"), el("div", client, class_="c"),
              el("div", el("span", "\u27f6", class_="to"), class_="a"),
              el("div", el("span", note, class_="m"), class_="s"), el("span", class_="lat"),
              class_="l")


def _reply(r: _Row) -> Safe:
    lines = [wire_text(_text(line)) for line in r.reply.split("\n")]
    first, rest = lines[0], lines[1:]
    code = _text(r.code) if r.code is not None else ""
    # RFC 5321 §4.2.1: every line but the last is "code-text"
    head = el("span", el("span", code or "???", class_=_code_class(r.code)),
              "-" if rest and first else " ",
              el("code", first) if first else
              el("span", "greeting", class_="m") if r.kind == "greeting" else None,
              el("span", r.note, class_="dec") if r.note else None,
              el("span", r.server_error, class_="bad") if r.server_error else None)
    if not rest:
        return head
    shown = rest[:REPLY_LINES]
    more = (el("div", f"\u2026 and {len(rest) - len(shown):,} more lines", class_="m")
            if len(rest) > len(shown) else None)
    noun = "line" if len(rest) == 1 else "lines"
    return el("span", head, el("details", el("summary", f"{len(rest):,} more {noun}"),
                               el("div", [el("div", el("code", f"{code}{sep}{line}"))
                                          for line, sep in zip(shown, _seps(len(rest)),
                                                               strict=False)],
                                  more, class_="rest")))


def _seps(n: int) -> list[str]:
    """The separators after the code of a reply's ``n`` continuation lines."""
    return ["-"] * (n - 1) + [" "]


def _message(m: dict[str, Any], end: str = "") -> Safe:
    octets = _int(m.get("size"))
    subject, attachments = _text(m.get("subject"), 500), _text(m.get("attachments"), 1000)
    complete = _bool(_get(m, "complete"))
    summary = el("summary", el("strong", _text(m.get("method"), 10) or "message"), " ",
                 f"{count(octets)} octets" if octets is not None else "size unknown",
                 (" \u00b7 Subject ", el("q", subject)) if subject else None,
                 (" \u00b7 attachments ", el("code", attachments)) if attachments else None,
                 # a log that leaves the content out ("skipped") did not cut it short
                 (" ", el("span", "content not in the log", class_="m")) if end == "skipped"
                 else (" ", el("span", "incomplete", class_="badge warning"))
                 if complete is False else None)
    mail_from = _get(m, "mail_from")
    facts: list[tuple[str, object]] = [
        ("From", _text(m.get("from"), 500)), ("To", _text(m.get("to"), 1000)),
        ("Date", _text(m.get("date"), 200)), ("Message-ID", _text(m.get("message_id"), 500)),
        ("MAIL FROM", None if mail_from is None else _text(mail_from, 500) or "<>"),
        ("RCPT TO", _text(m.get("recipients"))),
        ("SHA-256", _text(m.get("sha256"), 80)),
        ("Complete", None if complete is None else _yes_no(complete)),
        ("Ended by", end),
        ("Verdict", _text(_int(m.get("reply_code")))),
    ]
    shown = [(k, v) for k, v in facts if v]
    return el("details", summary,
              el("dl", [(el("dt", k), el("dd", el("code", v))) for k, v in shown])
              if shown else el("p", "No headers were recorded.", class_="m"), class_="msgd")


def _findings(found: list[dict[str, Any]], notes: _Notes) -> list[Safe]:
    ordered = sorted(found, key=lambda f: _RANK[tone(f.get("severity"))])
    return [_finding(f, notes) for f in ordered]


def _finding(f: dict[str, Any], notes: _Notes) -> Safe:
    finding_id = _text(f.get("id"), 200)
    detail, excerpt = _text(f.get("detail")), _text(f.get("excerpt"), 500)
    where = [p for p in (_text(f.get("location"), 200),
                         f"offset {count(_int(f.get('offset')))}"
                         if _int(f.get("offset")) is not None else "",
                         f"{_when(_get(f, 'ts'))} UTC" if _when(_get(f, "ts")) else "") if p]
    side = {"C": "client", "S": "server"}.get(_text(f.get("direction"), 2).upper())
    if side:
        where.insert(0, f"{side} side")
    note = notes(finding_id)
    return el("div",
              el("div", badge(_text(f.get("severity"), 40)), " ",
                 el("strong", _text(f.get("title"), 300) or finding_id or "finding"), " ",
                 el("code", finding_id, class_="m") if finding_id else None, class_="fh"),
              el("div", detail) if detail else None,
              el("div", el("span", "excerpt ", class_="m"), el("code", excerpt))
              if excerpt else None,
              el("div", " \u00b7 ".join(where), class_="m") if where else None,
              el("details", el("summary", "What this means and how to fix it"),
                 el("dl", el("dt", "What"), el("dd", note[0] or _DASH),
                    el("dt", "When"), el("dd", note[1] or _DASH),
                    el("dt", "Fix"), el("dd", note[2] or _DASH)))
              if note else None,
              class_=f"f {tone(f.get('severity'))}")


# ------------------------------------------------------------------ the summary

def render_summary(totals: dict[str, Any], sessions: list[dict[str, Any]],
                   findings_by_severity: dict[str, int], problems: list[dict[str, Any]], *,
                   max_rows: int = 20) -> str:
    """A whole result as an HTML fragment: the totals (sessions, AUTH ok and failed,
    messages, findings by severity, input problems), the first ``max_rows`` sessions
    and the first ``max_rows`` input problems, each with the count of the rest.

    ``totals`` has the keys of :meth:`smtplens.frames.Frames.totals` (``sessions``,
    ``auth``, ``auth_success``, ``auth_failure``, ``messages``, ``findings``,
    ``problems``); ``sessions`` and ``problems`` are rows of those frames.
    """
    t = totals if isinstance(totals, dict) else {}
    rows, bad = _dicts(sessions), _dicts(problems)
    limit = max(0, as_int(max_rows))
    severities = findings_by_severity if isinstance(findings_by_severity, dict) else {}
    by_tone: dict[str, int] = {}
    for key, n in severities.items():
        by_tone[tone(key)] = by_tone.get(tone(key), 0) + max(0, as_int(_int(n) or 0))
    n_sessions = max(_int(t.get("sessions")) or 0, len(rows))
    n_findings = _int(t.get("findings"))
    if n_findings is None:
        n_findings = sum(by_tone.values())
    n_problems = max(_int(t.get("problems")) or 0, len(bad))
    auth_total = _int(t.get("auth"))
    cards = [
        _card("sessions", count(n_sessions)),
        _card("AUTH ok", count(_int(t.get("auth_success")) or 0),
              f"of {count(auth_total)} AUTH" if auth_total is not None else None),
        _card("AUTH failed", count(_int(t.get("auth_failure")) or 0)),
        _card("messages", count(_int(t.get("messages")) or 0)),
        _card("findings", count(n_findings), join(
            [el("span", badge(k), " ", count(by_tone[k]))
             for k in (*SEVERITIES, "unknown") if by_tone.get(k)], sep=" ")),
        _card("input problems", count(n_problems)),
    ]
    several = len({_text(r.get("source")) for r in rows}) > 1
    shown = rows[:limit]
    table_rows = [(
        el("span", el("code", _text(r.get("session"), 200)),
           (el("br"), el("small", _text(r.get("source"), 500), class_="m"))
           if several and _text(r.get("source")) else None),
        _text(r.get("client"), 200) or _DASH, _text(r.get("server"), 200) or _DASH,
        _when(_get(r, "start")) or _DASH, el("code", _text(r.get("helo"), 300))
        if _text(r.get("helo")) else _DASH,
        el("code", _text(r.get("user"), 300)) if _text(r.get("user")) else _DASH,
        _yes_no(_bool(_get(r, "tls"))),
        count(_int(r.get("findings")) or 0)) for r in shown]
    more = n_sessions - len(shown)
    parts: list[object] = [
        el("div", el("strong", "smtplens result"), class_="ttl"),
        el("div", cards, class_="cards"),
        el("div", "Sessions", class_="h"),
        table(("Session", "Client", "Server", "Start (UTC)", "HELO", "User", "TLS",
               "Findings"), table_rows, numeric=(7,), empty_text="No sessions."),
        el("p", f"\u2026 and {more:,} more", class_="m") if more > 0 and shown else None,
    ]
    if bad or n_problems:
        listed = bad[:limit]
        parts += [
            el("div", "Input problems", class_="h"),
            table(("Source", "Location", "Problem"),
                  [(el("code", _text(p.get("source"), 500)), _text(p.get("location"), 200),
                    el("span", _text(p.get("message")), " ",
                       el("code", _text(p.get("code"), 100), class_="m")
                       if _text(p.get("code")) else None)) for p in listed],
                  empty_text="No input problems are listed."),
            el("p", f"\u2026 and {n_problems - len(listed):,} more", class_="m")
            if n_problems > len(listed) and listed else None,
        ]
    return str(el("div", Safe(f"<style>{SUMMARY_CSS}</style>"), parts,
                  class_="smtplens-summary"))


def _yes_no(value: bool | None) -> str:
    return _DASH if value is None else "yes" if value else "no"


def _card(label: str, value: str, note: object = None) -> Safe:
    return el("div", el("div", value, class_="v"), el("div", label, class_="k"),
              el("div", note, class_="m") if note else None, class_="card")


# ------------------------------------------------------------------ style sheets
# Constants: no data ever reaches them. "%R" is the fragment's root class.

_LIGHT = ("--bg:#ffffff;--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--panel:#f6f8fa;"
          "--error:#c62828;--warning:#b45f06;--info:#1565c0;--unknown:#6e7781;"
          "--ok:#2e7d32;--auth:#6a1b9a;color-scheme:light;")
_DARK = ("--bg:#0d1117;--fg:#e6edf3;--muted:#9da7b3;--line:#30363d;--panel:#161b22;"
         "--error:#f26b6b;--warning:#f0a44b;--info:#6cb6ff;--unknown:#9da7b3;"
         "--ok:#5fd068;--auth:#c58af9;color-scheme:dark;")

_BASE = """
%R{LIGHT background:var(--bg);color:var(--fg);box-sizing:border-box;max-width:100%;
 font:13px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;text-align:left;
 border:1px solid var(--line);border-radius:6px;padding:.6rem .8rem;margin:.25rem 0;
 overflow-x:auto;}
@media (prefers-color-scheme:dark){%R{DARK}}
[data-jp-theme-light="false"] %R,body.vscode-dark %R,
body.vscode-high-contrast:not(.vscode-high-contrast-light) %R{DARK}
[data-jp-theme-light="true"] %R,body.vscode-light %R,body.vscode-high-contrast-light %R{LIGHT}
%R *,%R *::before,%R *::after{box-sizing:inherit;}
%R code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.92em;
 background:none;color:inherit;padding:0;border:0;white-space:pre-wrap;
 overflow-wrap:anywhere;}
%R .m,%R .empty{color:var(--muted);}
%R .empty{font-style:italic;margin:.3rem 0;}
%R .ttl{font-size:1.05em;margin-bottom:.15rem;}
%R .h{font-weight:650;margin:.8rem 0 .3rem;}
%R .badge{display:inline-block;padding:0 .45rem;border-radius:.6rem;color:#fff;
 font-size:.8em;font-weight:600;white-space:nowrap;background:var(--unknown);}
%R .badge.error{background:var(--error);}%R .badge.warning{background:var(--warning);}
%R .badge.info{background:var(--info);}%R .badge.ok{background:var(--ok);}
@media (prefers-color-scheme:dark){%R .badge{color:#0d1117;}}
[data-jp-theme-light="true"] %R .badge,body.vscode-light %R .badge{color:#fff;}
[data-jp-theme-light="false"] %R .badge,body.vscode-dark %R .badge{color:#0d1117;}
%R details>summary{cursor:pointer;color:var(--info);}
%R dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.1rem .8rem;
 margin:.3rem 0;}
%R dt{color:var(--muted);font-weight:normal;}
%R dd{margin:0;overflow-wrap:anywhere;}
%R p{margin:.3rem 0;}
""".replace("LIGHT", _LIGHT).replace("DARK", _DARK)

LADDER_CSS = (_BASE + """
%R .hd{margin-bottom:.5rem;}
%R ol.rows{list-style:none;margin:0;padding:0;}
%R li.r{border-top:1px solid var(--line);padding:0;margin:0;}
%R li.r.data{background:var(--panel);}
%R li.r.x-error{box-shadow:inset 3px 0 0 var(--error);}
%R li.r.x-warning{box-shadow:inset 3px 0 0 var(--warning);}
%R li.r.x-info,%R li.r.x-unknown{box-shadow:inset 3px 0 0 var(--info);}
%R .l{display:grid;grid-template-columns:6.6rem minmax(0,1fr) 2rem minmax(0,1fr) 4.6rem;
 column-gap:.5rem;align-items:start;padding:.12rem 0;}
%R .l.lanes{font-weight:600;color:var(--muted);border-bottom:2px solid var(--line);}
%R .t,%R .lat{color:var(--muted);font-variant-numeric:tabular-nums;white-space:nowrap;
 font-size:.88em;padding-left:.3rem;}
%R .lat{text-align:right;padding-right:.2rem;}
%R .a{display:flex;flex-direction:column;align-items:center;align-self:stretch;
 border-left:2px solid var(--line);border-right:2px solid var(--line);line-height:1.15;
 min-height:1.3em;}
%R .to{color:var(--info);}%R .fro{color:var(--muted);}
%R .c,%R .s{min-width:0;}
%R .dec{color:var(--auth);font-style:italic;margin-left:.5rem;}
%R .dec::before{content:"\\2192\\00a0";font-style:normal;}
%R .bad{color:var(--error);margin-left:.5rem;}
%R .pl{margin-left:.5rem;font-size:.8em;color:var(--muted);border:1px solid var(--line);
 border-radius:.5rem;padding:0 .35rem;}
%R .code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-weight:650;}
%R .code.ok{color:var(--ok);}%R .code.go{color:var(--info);}
%R .code.temp{color:var(--warning);}%R .code.fail{color:var(--error);}
%R .code.odd,%R .code.none{color:var(--muted);}
%R .rest{margin:.1rem 0 .2rem;}
%R details.msgd>summary{color:inherit;}
%R q{quotes:"\\201c" "\\201d";}
%R .fs{margin:.15rem .3rem .3rem 7.1rem;}
%R .f{border-left:.25rem solid var(--unknown);background:var(--bg);
 border-radius:0 4px 4px 0;padding:.2rem .55rem;margin:.2rem 0;}
%R .f.error{border-left-color:var(--error);}%R .f.warning{border-left-color:var(--warning);}
%R .f.info{border-left-color:var(--info);}
%R .tail{margin-top:.6rem;}
%R .msg{margin:.2rem 0;}
%R .more-rows{margin:.4rem 0 0;}
@media (max-width:640px){%R .l{grid-template-columns:4.8rem minmax(0,1fr) 1.4rem
 minmax(0,1fr) 3.6rem;column-gap:.3rem;}%R .fs{margin-left:.3rem;}}
""").replace("%R", ".smtplens-ladder")

SUMMARY_CSS = (_BASE + """
%R .cards{display:flex;flex-wrap:wrap;gap:.5rem;margin:.3rem 0 .5rem;}
%R .card{background:var(--panel);border:1px solid var(--line);border-radius:6px;
 padding:.35rem .65rem;min-width:8rem;}
%R .card .v{font-size:1.3em;font-weight:650;font-variant-numeric:tabular-nums;}
%R .card .k{color:var(--muted);font-size:.88em;}
%R .scroll{overflow-x:auto;}
%R table{border-collapse:collapse;width:100%;font-size:.95em;margin:0;table-layout:auto;}
%R table th,%R table td{text-align:left;vertical-align:top;padding:.25rem .5rem;border:0;
 border-bottom:1px solid var(--line);background:transparent;color:inherit;
 overflow-wrap:anywhere;}
%R table th{background:var(--panel);font-weight:600;white-space:nowrap;}
%R table tbody tr:nth-child(n){background:transparent;}
%R table th.num,%R table td.num{text-align:right;font-variant-numeric:tabular-nums;
 white-space:nowrap;overflow-wrap:normal;}
%R table td.key{min-width:8rem;}
""").replace("%R", ".smtplens-summary")
