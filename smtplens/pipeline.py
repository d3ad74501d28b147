"""The pipeline of one stream: stream items → engine → builder + checks → sessions.

:func:`analyze_stream` keeps one conversation per open connection and yields each
:class:`~smtplens.model.Session` as soon as its connection closes, so memory holds
only the connections that are open. Problems with the input itself (damaged records,
unknown lines) are handed to ``on_problem`` and never stop the stream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from smtplens.builder import SessionBuilder, SinkFactory
from smtplens.checks import Check, default_checks
from smtplens.engine import Conversation
from smtplens.engine import events as ev
from smtplens.findings.catalog import CATALOG
from smtplens.model import Session
from smtplens.stream import Closed, Data, Gap, Notice, Opened, Skipped, StreamItem, Summary

#: a check's ``on_event``
Handler = Callable[[ev.Event, SessionBuilder], None]
#: notices from sources that become findings of their session (the rest are input problems)
_SESSION_NOTICES = frozenset(CATALOG)


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with an input file (not with the SMTP it holds)."""

    source: str
    location: str
    message: str
    code: str = "input.error"
    fatal: bool = False  #: the file could not be read any further

    def __str__(self) -> str:
        where = ", ".join(p for p in (self.source, self.location) if p)
        return f"{where}: {self.message}" if where else self.message


@dataclass(slots=True)
class _Live:
    conversation: Conversation
    builder: SessionBuilder
    checks: list[Check]
    notices: list[Notice] = field(default_factory=list)

    routes: dict[type[ev.Event], list[Handler]] = field(default_factory=dict)

    def apply(self, events: list[ev.Event]) -> None:
        builder, routes = self.builder, self.routes
        for event in events:
            builder.on_event(event)
            handlers = routes.get(type(event))
            if handlers is None:
                handlers = self._route(type(event))
            for handler in handlers:
                handler(event, builder)

    def _route(self, kind: type[ev.Event]) -> list[Handler]:
        """The checks that read events of ``kind`` (see :attr:`Check.reads`)."""
        handlers: list[Handler] = [c.on_event for c in self.checks
                                   if c.reads is None or kind in c.reads]
        self.routes[kind] = handlers
        return handlers


def _finish(live: _Live, events: list[ev.Event]) -> Session:
    live.apply(events)
    for check in live.checks:
        check.finish(live.builder)
    session = live.builder.finish()
    if not session.exact_bytes:
        undetermined = tuple(f for f, spec in CATALOG.items() if spec.exact_bytes)
        session.undetermined = undetermined
        session.findings = [f for f in session.findings if f.id not in undetermined]
    session.findings.sort(key=lambda f: (f.evidence.ts is None, f.evidence.ts or 0.0))
    return session


def analyze_stream(items: Iterable[StreamItem], *,
                   on_problem: Callable[[Problem], None] | None = None,
                   sink_factory: SinkFactory | None = None,
                   checks: Callable[[], list[Check]] = default_checks) -> Iterator[Session]:
    """Sessions from a stream of source items, each yielded when its connection ends."""
    live: dict[str, _Live] = {}
    early: dict[str, list[Notice]] = {}

    def open_(item: Opened) -> _Live:
        conv = Conversation(decrypted=item.decrypted, lmtp=item.lmtp,
                            implicit_tls=item.implicit_tls)
        state = _Live(conv, SessionBuilder(item, sink_factory), checks())
        live[item.conn_id] = state
        for notice in early.pop(item.conn_id, []):
            _notice(state, notice)
        return state

    def get(conn_id: str, source: str = "") -> _Live:
        state = live.get(conn_id)
        if state is None:  # a source that did not announce the connection
            state = open_(Opened(conn_id, None, source=source))
        return state

    for item in items:
        if isinstance(item, Data):
            state = get(item.conn_id)
            state.apply(state.conversation.receive(item.direction, item.data, item.ts,
                                                   item.location))
        elif isinstance(item, Opened):
            if item.conn_id in live:  # the same id again: finish the old one first
                old = live.pop(item.conn_id)
                yield _finish(old, old.conversation.close(None, "reopened"))
            open_(item)
        elif isinstance(item, Gap):
            state = get(item.conn_id)
            state.apply(state.conversation.gap(item.direction, item.size, item.ts))
        elif isinstance(item, Skipped):
            state = get(item.conn_id)
            state.apply(state.conversation.skipped(item.direction, item.what, item.ts,
                                                   item.location))
        elif isinstance(item, Closed):
            if item.conn_id in live:
                state = live.pop(item.conn_id)
                yield _finish(state, state.conversation.close(item.ts, item.reason))
        elif isinstance(item, Summary):
            yield item.session
        elif isinstance(item, Notice):
            if item.conn_id is not None and item.code in _SESSION_NOTICES:
                if item.conn_id in live:
                    _notice(live[item.conn_id], item)
                else:
                    early.setdefault(item.conn_id, []).append(item)
            elif on_problem is not None:
                on_problem(Problem(item.source, item.location, item.message, item.code))
    for conn_id in list(live):
        state = live.pop(conn_id)
        yield _finish(state, state.conversation.close(None, "eof"))


def _notice(state: _Live, notice: Notice) -> None:
    if notice.code == "capture.midstream":
        state.conversation.midstream()
    state.builder.finding(notice.code, direction=notice.direction, ts=notice.ts,
                          location=notice.location, detail=notice.message)
