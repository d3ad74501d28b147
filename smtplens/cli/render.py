"""One session made into its output, wherever it was built (see
:func:`smtplens.analysis.analyze_rendered`): with workers, each renders the sessions it
analysed and only the text crosses to the parent, which writes it in order.

A :class:`Renderer` is small and picklable (spawned workers get a copy); each process
makes its own console from the parent's :class:`ConsoleSpec`, writing into a buffer,
so what a worker renders is byte for byte what the parent's console would have
written (the same width, colours and terminal-ness).
"""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import dataclass
from typing import Literal, NamedTuple, cast, get_args

from rich.console import Console

from smtplens.cli.terminal import SafeConsole
from smtplens.cli.text import print_conversation, print_session
from smtplens.extract import notes_of
from smtplens.model import Session
from smtplens.report import Tally, csv_rows, json_entry, session_dict

#: what a renderer makes: the session's text for each ``--format``, or the conversation
VIEWS = ("text", "json", "jsonl", "csv", "conversation")


ColorSystemName = Literal["standard", "256", "truecolor", "windows"]
_SYSTEMS: tuple[str, ...] = get_args(ColorSystemName)


class ConsoleSpec(NamedTuple):
    """What a console renders with: enough to make the same one in another process."""

    terminal: bool
    color_system: ColorSystemName | None
    width: int

    @classmethod
    def of(cls, console: Console) -> ConsoleSpec:
        name = console.color_system
        return cls(console.is_terminal,
                   cast(ColorSystemName, name) if name in _SYSTEMS else None, console.width)


class Output(NamedTuple):
    """One session's share of the output."""

    id: str
    text: str  #: written to stdout as it is
    tally: Tally
    notes: Counter[str]  #: why its messages were not extracted (``--extract``)


_consoles: dict[ConsoleSpec, tuple[Console, io.StringIO]] = {}


def _console(spec: ConsoleSpec) -> tuple[Console, io.StringIO]:
    made = _consoles.get(spec)
    if made is None:
        buffer = io.StringIO()
        console = SafeConsole(file=buffer, highlight=False, soft_wrap=True,
                              force_terminal=spec.terminal, color_system=spec.color_system,
                              width=spec.width)
        made = _consoles[spec] = (console, buffer)
    return made


@dataclass(frozen=True, slots=True)
class Renderer:
    """``renderer(session)`` is its :class:`Output` in ``view`` (one of :data:`VIEWS`)."""

    view: str
    reveal: bool = False
    console: ConsoleSpec | None = None  #: for the text views
    only: str | None = None  #: the conversation view: this session id only
    meanings: str | None = None  #: the conversation view: each reply's meaning, this language
    lang: str = "en"  #: the language of the findings' titles and fixes in the text views

    def __post_init__(self) -> None:
        if self.view not in VIEWS:
            raise ValueError(f"unknown view {self.view!r}; one of {', '.join(VIEWS)}")

    def __call__(self, s: Session) -> Output:
        return Output(s.id, self._text(s), Tally.of(s), notes_of(s))

    def _text(self, s: Session) -> str:
        if self.view == "jsonl":
            return json.dumps(session_dict(s, self.reveal)) + "\n"
        if self.view == "json":
            return json_entry(session_dict(s, self.reveal))
        if self.view == "csv":
            return csv_rows(s)
        if self.view == "conversation" and self.only is not None and s.id != self.only:
            return ""
        assert self.console is not None, "a text view needs a console"
        console, buffer = _console(self.console)
        if self.view == "text":
            print_session(console, s, self.reveal, self.lang)
        else:
            print_conversation(console, s, self.reveal, self.meanings, self.lang)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text
