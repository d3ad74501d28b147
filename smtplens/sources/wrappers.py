"""What pastes and log collectors put around every line, found and taken off.

A log rarely reaches us as the program wrote it. ``docker compose logs`` puts the
service's name, padded, and `` | `` before each line; a GitHub issue wraps each line
in Markdown backticks, or the paste in a ````` fence; an e-mail quotes it with
``> ``; and pastes are often indented as a whole. :func:`find_wrapper` looks at a
file's first lines: when (nearly) every non-blank line carries the same kind of
wrapper, :meth:`Wrapper.strip` takes it off each line before detection and parsing
(line numbers stay those of the file). Whether the stripped text is read instead of
the raw one is left to detection (:func:`smtplens.sources.detect_text_format`): the
better score wins, so a format whose own lines start with a blank keeps them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

#: the share of non-blank head lines that must carry the wrapper
SHARE = 0.9
#: docker compose v1 (``name_1  | ``) and v2 (``name-1  | ``): a service name, padding,
#: a bar; the bar may end the line (an empty log line)
_COMPOSE = re.compile(r"[A-Za-z0-9][\w.-]{0,63} *\|(?: |$)")
#: a Markdown code fence (```, ```text, ~~~)
_FENCE = re.compile(r"\s*(?:`{3,}|~{3,})[\w+-]*\s*$")
#: one line in inline code: `text`, with nothing outside but blanks
_INLINE = re.compile(r"\s*`([^`]*)`\s*$")
#: an e-mail or Markdown quote: one or more ">" and a blank
_QUOTE = re.compile(r"(?:> ?)+")
_INDENT = re.compile(r"[ \t]+")


@dataclass(frozen=True, slots=True)
class Wrapper:
    """A wrapper every line of a file carries."""

    kind: str  #: "compose", "backticks", "quote", "indent", "lead" or "fence"
    what: str  #: how it reads in a notice
    indent: int = 0  #: the indentation taken off (kind "indent")
    #: kind "lead": the number of the one line whose indentation is taken off (a paste
    #: whose first line got the blank that followed the code-block marker)
    line: int = 0

    def strip(self, line: str) -> str:
        """``line`` without the wrapper (unchanged when it does not carry it); a fence
        line becomes blank."""
        if _FENCE.fullmatch(line):
            return ""
        if self.kind == "compose":
            m = _COMPOSE.match(line)
            return line[m.end():] if m is not None else line
        if self.kind == "backticks":
            m = _INLINE.fullmatch(line)
            return m.group(1) if m is not None else line
        if self.kind == "quote":
            m = _QUOTE.match(line)
            return line[m.end():] if m is not None else line
        if self.kind == "indent":
            m = _INDENT.match(line)
            return line[min(self.indent, m.end()):] if m is not None else line
        return line

    def lines(self, numbered: Iterable[tuple[int, str]]) -> Iterator[tuple[int, str]]:
        """Numbered lines without the wrapper."""
        if self.kind == "lead":
            for number, text in numbered:
                yield number, text.lstrip(" \t") if number == self.line else text
            return
        for number, text in numbered:
            yield number, self.strip(text)

    def head(self, head: list[str]) -> list[str]:
        """A file's first lines without the wrapper."""
        return [text for _, text in self.lines(enumerate(head, 1))]


def _share(lines: list[str], pattern: re.Pattern[str], full: bool = False) -> float:
    hits = sum(1 for ln in lines
               if (pattern.fullmatch(ln) if full else pattern.match(ln)) is not None)
    return hits / len(lines)


def find_wrapper(head: list[str]) -> Wrapper | None:
    """The wrapper (nearly) every non-blank line of ``head`` carries, or None."""
    fences = sum(1 for ln in head if _FENCE.fullmatch(ln))
    lines = [ln for ln in head if ln.strip() and not _FENCE.fullmatch(ln)]
    if len(lines) < 2:
        return None
    if _share(lines, _COMPOSE) >= SHARE:
        return Wrapper("compose", "the `name | ` prefix docker compose logs puts before every line")
    if _share(lines, _INLINE, full=True) >= SHARE:
        return Wrapper("backticks", "the Markdown backticks around every line")
    if _share(lines, _QUOTE) >= SHARE:
        return Wrapper("quote", "the `> ` quote before every line")
    indents = [m.end() for ln in lines if (m := _INDENT.match(ln)) is not None]
    if len(indents) >= SHARE * len(lines):
        least = min(indents)
        return Wrapper("indent", f"the indentation of {least} before every line", least)
    if fences:
        return Wrapper("fence", "the Markdown code fence lines")
    if indents and _INDENT.match(lines[0]) and not _INDENT.match(lines[1]):
        first = next(i for i, ln in enumerate(head, 1) if ln == lines[0])
        return Wrapper("lead", "the blanks before the first line", line=first)
    return None
