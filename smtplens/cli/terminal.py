"""The one way text reaches a terminal: :class:`SafeConsole`.

Everything smtplens prints comes from the wire or from file names, which attackers
write: an EHLO name holding ``ESC [2J`` clears the analyst's screen, an OSC 52 sequence
writes their clipboard, a C1 ``U+009B`` is a CSI on some terminals. Every string and
:class:`~rich.text.Text` handed to :meth:`SafeConsole.print` has such characters made
visible (:func:`~smtplens.textutil.visible`) before rich renders it, so no view can
forget to escape a field. rich's own styling is added after, and stays.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.control import strip_control_codes
from rich.text import Span, Text

from smtplens.textutil import unsafe_at, visible


def safe_text(text: Text) -> Text:
    """``text`` with control characters escaped and its styles kept in place."""
    plain = text.plain
    bad = unsafe_at(plain)
    if not bad:
        return text
    # map each old index to its new one: every escaped character grows the text
    shift, moved, pieces, last = 0, [0] * (len(plain) + 1), [], 0
    bad_set = set(bad)
    for i, ch in enumerate(plain):
        moved[i] = i + shift
        if i in bad_set:
            shown = visible(ch)
            pieces.append(plain[last:i])
            pieces.append(shown)
            last = i + 1
            shift += len(shown) - 1
    moved[len(plain)] = len(plain) + shift
    pieces.append(plain[last:])
    out = text.copy()
    out.plain = "".join(pieces)
    out.spans = [Span(moved[s.start], moved[s.end], s.style) for s in text.spans]
    return out


class Plain:
    """What the text views build for a console that writes plain text (see
    :func:`writes_plain`): the part of rich's :class:`~rich.text.Text` they use
    (``append``, ``+``, slices, ``join``, ``plain``) without styles, spans or a pass
    over each piece (rich strips control codes from every piece it is given; this does
    it once, when the text is written, with the same table)."""

    __slots__ = ("_parts",)

    def __init__(self, text: str = "", style: str | None = None) -> None:
        self._parts = [text]

    def append(self, text: str, style: str | None = None) -> Plain:
        self._parts.append(text)
        return self

    @property
    def plain(self) -> str:
        return "".join(self._parts)

    def __add__(self, other: Plain) -> Plain:
        return Plain(self.plain + other.plain)

    def __getitem__(self, cut: slice) -> Plain:
        return Plain(self.plain[cut])

    def join(self, lines: Iterable[Plain]) -> Plain:
        return Plain(self.plain.join(line.plain for line in lines))


def writes_plain(console: Console) -> bool:
    """Whether ``console`` writes text as it is: no colours, no wrapping, not a terminal,
    not recording (a file or a pipe). The text views build :class:`Plain` for it."""
    return (console.color_system is None and console.soft_wrap and not console.record
            and not console.is_terminal)


def say(console: Console, *objects: Any, **kwargs: Any) -> None:
    """Print on any console with control characters escaped (the text views print
    through this, so a caller's plain :class:`~rich.console.Console` is safe too).

    One :class:`~rich.text.Text` or :class:`Plain` on a console that :func:`writes_plain`
    is written as its plain text: what rich would write, without its cost per line."""
    if len(objects) == 1 and not kwargs and writes_plain(console):
        if isinstance(objects[0], Plain):
            plain = objects[0].plain
            if unsafe_at(plain):  # rare: rich's strip, then the escapes
                plain = visible(strip_control_codes(plain))
            console.file.write(plain + "\n")
            return
        if isinstance(objects[0], Text):
            text = safe_text(objects[0])
            console.file.write(text.plain + text.end)
            return
    Console.print(console, *_cleaned(objects), **kwargs)


def _cleaned(objects: tuple[Any, ...]) -> list[Any]:
    return [safe_text(o) if isinstance(o, Text) else visible(o) if isinstance(o, str) else o
            for o in objects]


class SafeConsole(Console):
    """A rich console that escapes terminal control characters in what it prints."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*_cleaned(objects), **kwargs)
