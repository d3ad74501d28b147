"""The one way text reaches a terminal: :class:`SafeConsole`.

Everything smtplens prints comes from the wire or from file names, which attackers
write: an EHLO name holding ``ESC [2J`` clears the analyst's screen, an OSC 52 sequence
writes their clipboard, a C1 ``U+009B`` is a CSI on some terminals. Every string and
:class:`~rich.text.Text` handed to :meth:`SafeConsole.print` has such characters made
visible (:func:`~smtplens.textutil.visible`) before rich renders it, so no view can
forget to escape a field. rich's own styling is added after, and stays.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
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


def say(console: Console, *objects: Any, **kwargs: Any) -> None:
    """Print on any console with control characters escaped (the text views print
    through this, so a caller's plain :class:`~rich.console.Console` is safe too).

    One :class:`~rich.text.Text` on a console that has no colours and does not wrap (a
    file or a pipe) is written as its plain text: what rich would write, without its
    cost per line (a quarter of a session's time in ``analyze``)."""
    if (len(objects) == 1 and not kwargs and isinstance(objects[0], Text)
            and console.color_system is None and console.soft_wrap
            and not console.record and not console.is_terminal):
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
