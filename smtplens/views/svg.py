"""Tiny inline SVG charts: horizontal bars and a timeline of stacked columns.

The charts are markup built with :func:`smtplens.views.html.el`, so labels and
tooltips (``<text>``, ``<title>``) are escaped like any other text. Every number that
reaches the geometry goes through :func:`_value` first: a value that is not a finite,
non-negative number draws as 0, so no data can put text into an attribute or break
the drawing. Colours are CSS classes (``fill-error``) picked from :data:`TONES`, so a
page's light, dark and print styles apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from smtplens.views.html import Safe, as_float, el, join

#: the fills a chart may use (``fill-<tone>`` classes in the page's CSS)
TONES = frozenset({"error", "warning", "info", "unknown", "neutral", "auth", "ok"})
#: the largest value drawn (past it a bar is as long as it gets)
_LIMIT = 1e15
#: labels longer than this are cut (the whole text is in the tooltip)
LABEL_CHARS = 40


def _value(value: object) -> float:
    number = as_float(value)
    if number is None or number <= 0:
        return 0.0
    return min(number, _LIMIT)


def _fill(tone: str) -> str:
    return f"fill-{tone if tone in TONES else 'unknown'}"


def _n(x: float) -> str:
    """A coordinate: two decimals at most, no trailing zeros."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _cut(text: str, limit: int = LABEL_CHARS) -> str:
    # cut before escaping, so an entity is never split
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of :func:`hbars`."""

    label: str  #: shown left of the bar (cut to :data:`LABEL_CHARS`), escaped
    value: object  #: its length; anything but a positive number draws as 0
    tone: str = "neutral"  #: one of :data:`TONES`
    note: str = ""  #: more text for the tooltip, escaped


def hbars(bars: Sequence[Bar], *, title: str, width: int = 960, row: int = 22,
          label_width: int = 300) -> Safe:
    """Horizontal bars, one row each, scaled to the largest value."""
    top = max((_value(b.value) for b in bars), default=0.0) or 1.0
    value_width = 80
    plot = max(10, width - label_width - value_width)
    height = row * len(bars) + 6
    rows: list[Safe] = []
    for i, bar in enumerate(bars):
        y = 3 + i * row
        value = _value(bar.value)
        length = value / top * plot
        tip = f"{bar.label}: {_number(value)}" + (f" \u2014 {bar.note}" if bar.note else "")
        rows.append(el(
            "g",
            el("title", tip),
            el("text", _cut(bar.label), x=_n(label_width - 8), y=_n(y + row * 0.68),
               text_anchor="end"),
            el("rect", x=_n(label_width), y=_n(y + 3), width=_n(max(length, 1.0)),
               height=_n(row - 6), rx="2", class_=_fill(bar.tone)),
            el("text", _number(value), x=_n(label_width + length + 6),
               y=_n(y + row * 0.68)),
        ))
    return el("svg", el("title", title), rows, class_="chart", role="img",
              viewBox=f"0 0 {width} {height}", width=str(width), height=str(height),
              aria_label=title)


@dataclass(frozen=True, slots=True)
class Column:
    """One column of :func:`columns`."""

    slot: int  #: its position, 0 to ``slots - 1``
    up: Sequence[object]  #: values stacked above the axis, bottom first
    down: object = 0  #: one value drawn below the axis
    title: str = ""  #: the tooltip, escaped


def columns(cols: Sequence[Column], *, slots: int, title: str, up_tones: Sequence[str],
            down_tone: str = "auth", ticks: Sequence[tuple[int, str]] = (),
            up_label: str = "", down_label: str = "", width: int = 960,
            up_height: int = 170, down_height: int = 70) -> Safe:
    """Columns on a time axis: stacks above it, one value below it (each half scaled
    to its own largest value). Slots without a column stay empty, so gaps show."""
    slots = max(1, slots)
    left, right, top_pad = 84, 10, 14
    plot = width - left - right
    step = plot / slots
    bar = max(step * 0.86, 0.6)
    axis = top_pad + up_height
    has_down = any(_value(c.down) for c in cols)
    bottom = axis + (down_height if has_down else 0)
    height = bottom + 34
    up_top = max((sum(_value(v) for v in c.up) for c in cols), default=0.0) or 1.0
    down_top = max((_value(c.down) for c in cols), default=0.0) or 1.0
    parts: list[Safe] = [el("title", title)]
    parts.append(el("line", x1=_n(left), x2=_n(width - right), y1=_n(top_pad),
                    y2=_n(top_pad), class_="grid"))
    parts.append(el("text", _number(up_top), x=_n(left - 6), y=_n(top_pad + 4),
                    text_anchor="end", class_="muted"))
    if up_label:
        parts.append(el("text", up_label, x=_n(left - 6), y=_n(axis - 4),
                        text_anchor="end", class_="muted"))
    if has_down:
        parts.append(el("text", _number(down_top), x=_n(left - 6), y=_n(bottom),
                        text_anchor="end", class_="muted"))
        if down_label:
            parts.append(el("text", down_label, x=_n(left - 6), y=_n(axis + 14),
                            text_anchor="end", class_="muted"))
    for col in cols:
        slot = col.slot if isinstance(col.slot, int) else 0
        if not 0 <= slot < slots:
            continue
        x = left + slot * step + (step - bar) / 2
        y = float(axis)
        shapes: list[Safe] = [el("title", col.title)] if col.title else []
        for i, raw in enumerate(col.up):
            h = _value(raw) / up_top * up_height
            if h <= 0:
                continue
            y -= h
            tone = up_tones[i] if i < len(up_tones) else "neutral"
            shapes.append(el("rect", x=_n(x), y=_n(y), width=_n(bar), height=_n(h),
                             class_=_fill(tone)))
        down = _value(col.down) / down_top * down_height
        if down > 0:
            shapes.append(el("rect", x=_n(x), y=_n(axis), width=_n(bar), height=_n(down),
                             class_=_fill(down_tone)))
        if len(shapes) > (1 if col.title else 0):
            parts.append(el("g", shapes))
    parts.append(el("line", x1=_n(left), x2=_n(width - right), y1=_n(axis), y2=_n(axis),
                    class_="axis"))
    for slot, text in ticks:
        if not 0 <= slot < slots:
            continue
        x = left + (slot + 0.5) * step
        anchor = "start" if slot == 0 else "end" if slot >= slots - 1 else "middle"
        parts.append(el("line", x1=_n(x), x2=_n(x), y1=_n(bottom), y2=_n(bottom + 5),
                        class_="axis"))
        tx = x - step / 2 if anchor == "start" else x + step / 2 if anchor == "end" else x
        parts.append(el("text", _cut(text), x=_n(tx), y=_n(bottom + 18), text_anchor=anchor,
                        class_="muted"))
    return el("svg", join(parts), class_="chart", role="img",
              viewBox=f"0 0 {width} {height}", width=str(width), height=str(height),
              aria_label=title)
