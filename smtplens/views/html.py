"""HTML for every page smtplens writes: the one escaping helper, and the shared bits.

Every string that came off the wire or out of an input file (EHLO names, user names,
file names, addresses, details) reaches a page through :func:`esc`, and through it
only. It is :func:`html.escape` with ``quote=True`` (so the same text is safe between
tags and inside a double-quoted attribute), after making visible what a reader should
see rather than have acted on: C0 and C1 control characters (``\\x1b``, ``\\x9b``),
lone surrogates (``\\udcff``, what ``surrogateescape`` makes of undecodable bytes), the
bidirectional overrides that make text read differently from what it is
(CVE-2021-42574, ``\\u202e``) and the Unicode noncharacters.

Markup is built with :func:`el`, which escapes every child and every attribute value
that is not already :class:`Safe`; a :class:`Safe` string is one this module made.
Pages carry a Content-Security-Policy that allows no script and no fetch at all, so a
page works from a file with the network cut, and a slip in escaping still runs nothing.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from smtplens.textutil import visible_in_page as visible


class Safe(str):
    """Text that is already HTML: escaped text and the markup this module built."""

    __slots__ = ()


def as_text(value: object) -> str:
    """``value`` as text: ``str`` of it (a huge int, which ``str`` refuses, says so)."""
    if isinstance(value, str):
        return value
    try:
        return str(value)
    except ValueError:  # an int past sys.get_int_max_str_digits()
        return "number out of range"


def esc(value: object) -> Safe:
    """``value`` as HTML text, safe between tags and in a double-quoted attribute.

    ``None`` is the empty text; other non-strings are written with ``str`` first.
    A :class:`Safe` value is returned as it is.
    """
    if isinstance(value, Safe):
        return value
    if value is None:
        return Safe("")
    return Safe(html.escape(visible(as_text(value)), quote=True))


#: elements that have no end tag
_VOID = frozenset({"meta", "br", "hr", "col", "wbr"})
_NAME = re.compile(r"[a-z][a-zA-Z0-9-]*\Z")


def el(name: str, /, *children: object, **attrs: object) -> Safe:
    """The element ``name`` with ``children`` (escaped unless :class:`Safe`; lists and
    tuples are flattened; None is left out) and ``attrs``.

    Attribute names come from the code, never from data: ``class_`` is ``class`` and
    ``_`` becomes ``-`` (``aria_label``). A value of None or False leaves the attribute
    out, True writes it bare (``open``); every other value is escaped.
    """
    if not _NAME.match(name):
        raise ValueError(f"not an element name: {name!r}")
    parts = [f"<{name}"]
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        attr = key.rstrip("_").replace("_", "-")
        if not _NAME.match(attr):
            raise ValueError(f"not an attribute name: {key!r}")
        parts.append(f" {attr}" if value is True else f' {attr}="{esc(value)}"')
    parts.append(">")
    if name in _VOID:
        return Safe("".join(parts))
    parts.append(join(children))
    parts.append(f"</{name}>")
    return Safe("".join(parts))


def join(children: Iterable[object], sep: str = "") -> Safe:
    """``children`` escaped (unless :class:`Safe`) and joined; ``sep`` is markup."""
    out: list[str] = []
    for child in children:
        if child is None:
            continue
        if isinstance(child, list | tuple):
            out.append(join(child))
        else:
            out.append(esc(child))
    return Safe(sep.join(out))


# ------------------------------------------------------- numbers and times from data

#: the largest count shown as it is (a value past it is clamped, never an error)
_INT_MAX = 2**63 - 1


def as_int(value: object) -> int:
    """``value`` as an int: ints and finite floats (and numeric strings) as
    themselves, anything else 0; clamped to 64 bits."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return max(-_INT_MAX, min(_INT_MAX, value))
    number = as_float(value)
    if number is None:
        return 0
    return max(-_INT_MAX, min(_INT_MAX, int(number)))


def as_float(value: object) -> float | None:
    """``value`` as a finite float, or None when it is not a number."""
    if isinstance(value, int | float | str):
        try:
            number = float(value)
        except (ValueError, OverflowError):
            return None
        return number if math.isfinite(number) else None
    return None


def count(value: object) -> str:
    """A count with thousands separators (``12,345``)."""
    return f"{as_int(value):,}"


def size(value: object) -> str:
    """Octets as a short size (``1.4 MB``)."""
    n = float(as_int(value))
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def percent(part: object, whole: object) -> str:
    """``part`` of ``whole`` as a percentage, or an em dash when ``whole`` is 0."""
    total = as_int(whole)
    if total <= 0:
        return "\u2014"
    return f"{100 * as_int(part) / total:.1f}%"


OUT_OF_RANGE = "time out of range"


def utc(ts: object) -> datetime | None:
    """Unix seconds as an aware UTC datetime, or None when out of range."""
    number = as_float(ts)
    if number is None:
        return None
    try:
        return datetime.fromtimestamp(number, tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def timestamp(ts: object, *, missing: str = "\u2014") -> str:
    """Unix seconds as ``2026-11-28 11:51:52Z``; ``missing`` for None, and
    :data:`OUT_OF_RANGE` for NaN, infinities, non-numbers and times past year 9999."""
    if ts is None:
        return missing
    when = utc(ts)
    return OUT_OF_RANGE if when is None else when.strftime("%Y-%m-%d %H:%M:%SZ")


def duration(seconds: float) -> str:
    """A length of time, roughly (``3 d 4 h``, ``12 min``)."""
    s = int(max(0.0, seconds))
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days:,} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {s} s"
    return f"{s} s"


# ----------------------------------------------------------------- shared markup

#: the severities a page colours; any other value is shown as "unknown"
SEVERITIES = ("error", "warning", "info")


def tone(severity: object) -> str:
    """The CSS class for a severity taken from data: one of :data:`SEVERITIES` or
    ``unknown``. This is the only way a data value picks a class."""
    text = severity.strip().lower() if isinstance(severity, str) else ""
    return text if text in SEVERITIES else "unknown"


def badge(severity: object) -> Safe:
    """A severity as a coloured label; the label is the (escaped) value itself, cut
    to 24 characters when it is not a severity this module knows."""
    label = severity if isinstance(severity, str) and severity else "unknown"
    if len(label) > 24:
        label = label[:23] + "\u2026"
    return el("span", label, class_=f"badge {tone(severity)}")


def empty(text: str) -> Safe:
    """The text a section shows when it has nothing to show."""
    return el("p", text, class_="empty")


def table(head: Iterable[str], rows: Iterable[Iterable[object]], *,
          numeric: Iterable[int] = (), empty_text: str = "Nothing to show.",
          key: int | None = 0, class_: str = "") -> Safe:
    """A table in a scrolling box; cells are escaped unless :class:`Safe`. Columns
    in ``numeric`` are right-aligned; the ``key`` column (a path, an address, an id)
    keeps a width where a long name is not broken."""
    right = set(numeric)

    def kind(i: int) -> str | None:
        return "num" if i in right else "key" if i == key else None

    heads = [el("th", h, class_=kind(i)) for i, h in enumerate(head)]
    body = [el("tr", [el("td", cell, class_=kind(i)) for i, cell in enumerate(row)])
            for row in rows]
    if not body:
        return empty(empty_text)
    return el("div", el("table", el("thead", el("tr", heads)), el("tbody", body),
                        class_=class_ or None), class_="scroll")


#: no script, no fetch, no frames, no form posts: inline styles and inline SVG only
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
       "base-uri 'none'; form-action 'none'")

BASE_CSS = """
:root { color-scheme: light dark;
  --bg: #ffffff; --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --panel: #f6f8fa;
  --error: #c62828; --warning: #b45f06; --info: #1565c0; --unknown: #6e7781;
  --ok: #2e7d32; --neutral: #8c959f; --auth: #6a1b9a; }
@media (prefers-color-scheme: dark) { :root {
  --bg: #0d1117; --fg: #e6edf3; --muted: #9da7b3; --line: #30363d; --panel: #161b22;
  --error: #f26b6b; --warning: #f0a44b; --info: #6cb6ff; --unknown: #9da7b3;
  --ok: #5fd068; --neutral: #6e7681; --auth: #c58af9; } }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 1.5rem 1.25rem 3rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.25rem; margin: 2.25rem 0 .75rem; padding-bottom: .3rem;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 0 0 .4rem; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: .9em; }
code { overflow-wrap: anywhere; }
.muted, .empty { color: var(--muted); }
.empty { font-style: italic; }
nav ul { list-style: none; padding: 0; margin: .5rem 0 0; display: flex; flex-wrap: wrap;
  gap: .35rem 1rem; }
nav a { color: var(--info); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem;
  margin: 1rem 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
th, td { text-align: left; vertical-align: top; padding: .35rem .55rem;
  border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
th { background: var(--panel); font-weight: 600; white-space: nowrap; }
td.key { min-width: 14rem; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums;
  white-space: nowrap; overflow-wrap: normal; }
tbody tr:nth-child(even) td { background: color-mix(in srgb, var(--panel) 60%, transparent); }
.badge { display: inline-block; padding: 0 .45rem; border-radius: .6rem; color: #fff;
  font-size: .8rem; font-weight: 600; white-space: nowrap; background: var(--unknown); }
.badge.error { background: var(--error); } .badge.warning { background: var(--warning); }
.badge.info { background: var(--info); } .badge.ok { background: var(--ok); }
@media (prefers-color-scheme: dark) { .badge { color: #0d1117; } }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr));
  gap: .75rem; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: .5rem;
  padding: .65rem .8rem; }
.card .value { font-size: 1.45rem; font-weight: 650; font-variant-numeric: tabular-nums; }
.card .label { color: var(--muted); font-size: .85rem; }
.card .note { font-size: .82rem; }
.finding { border: 1px solid var(--line); border-left: .3rem solid var(--unknown);
  border-radius: .4rem; padding: .7rem .9rem; margin: 0 0 .9rem; }
.finding.error { border-left-color: var(--error); }
.finding.warning { border-left-color: var(--warning); }
.finding.info { border-left-color: var(--info); }
details summary { cursor: pointer; color: var(--info); }
details[open] summary { margin-bottom: .3rem; }
ul.plain { margin: 0; padding-left: 1.1rem; }
svg.chart { display: block; width: 100%; height: auto; max-width: 100%; margin: .5rem 0; }
svg.chart text { fill: var(--fg); font: 11px system-ui, sans-serif; }
svg.chart text.muted { fill: var(--muted); }
svg.chart .axis { stroke: var(--muted); stroke-width: 1; }
svg.chart .grid { stroke: var(--line); stroke-width: 1; }
.fill-error { fill: var(--error); } .fill-warning { fill: var(--warning); }
.fill-info { fill: var(--info); } .fill-unknown { fill: var(--unknown); }
.fill-neutral { fill: var(--neutral); } .fill-auth { fill: var(--auth); }
.fill-ok { fill: var(--ok); }
.legend { display: flex; flex-wrap: wrap; gap: .25rem 1.1rem; font-size: .85rem;
  color: var(--muted); margin: 0; padding: 0; list-style: none; }
.swatch { display: inline-block; width: .8rem; height: .8rem; border-radius: .15rem;
  vertical-align: -.1rem; margin-right: .3rem; background: var(--unknown); }
.swatch.error { background: var(--error); } .swatch.neutral { background: var(--neutral); }
.swatch.auth { background: var(--auth); } .swatch.warning { background: var(--warning); }
.swatch.info { background: var(--info); }
.notice { border: 1px solid var(--warning); border-radius: .4rem; padding: .5rem .8rem; }
footer { margin-top: 3rem; color: var(--muted); font-size: .85rem; }
@media print {
  :root { color-scheme: light; --bg: #fff; --fg: #000; --muted: #444; --line: #bbb;
    --panel: #f2f2f2; }
  body { font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  nav { display: none; }
  .scroll { overflow: visible; }
  h2 { break-after: avoid; }
  tr, .card, .finding, svg.chart { break-inside: avoid; }
  /* closed <details> print open where the browser has ::details-content */
  details::details-content { content-visibility: visible; display: block; }
  .badge, .swatch, svg.chart rect { print-color-adjust: exact;
    -webkit-print-color-adjust: exact; }
}
"""


def page(title: str, body: Safe, *, css: str = BASE_CSS) -> Safe:
    """A whole HTML5 document: ``title`` is escaped, ``body`` is markup, ``css`` is
    the page's own constant style sheet (never data)."""
    head = join([
        Safe('<meta charset="utf-8">'),
        el("meta", name="viewport", content="width=device-width, initial-scale=1"),
        el("meta", http_equiv="Content-Security-Policy", content=CSP),
        el("meta", name="referrer", content="no-referrer"),
        el("meta", name="color-scheme", content="light dark"),
        el("title", title),
        Safe(f"<style>{css}</style>"),
    ])
    return Safe(f'<!DOCTYPE html>\n<html lang="en">\n<head>{head}</head>\n'
                f"<body>{body}</body>\n</html>\n")
