"""What a check is: a small object with one job that watches one session's events."""

from __future__ import annotations

from smtplens.builder import SessionBuilder, Where
from smtplens.engine import events as ev
from smtplens.findings.finding import Severity

__all__ = ["Check", "Counter", "SessionBuilder", "Where", "one_sided"]


def one_sided(ctx: SessionBuilder) -> bool:
    """Whether only one side of the conversation is in the source: a client-only log
    (PHPMailer at ``SMTPDebug = 1``), a capture of one direction, or a source that said
    so (``capture.one-sided``). Rules that compare commands with the replies they got
    (RFC 2920 §3.1 pipelining, RFC 4954 §4 AUTH after an accepted EHLO, a command left
    without a reply) cannot be judged then: a missing reply is the source's gap, not
    the peer's fault."""
    s = ctx.session
    return (s.client_bytes == 0) != (s.server_bytes == 0) or ctx.has_finding(
        "capture.one-sided")


class Check:
    """Base class of checks.

    A new instance follows each session: ``on_event`` sees every engine event after
    the builder has applied it (so ``ctx`` shows the state including that event), and
    ``finish`` runs once the session is complete. Checks record findings with
    ``ctx.finding(...)``; they never raise on protocol violations.
    """

    #: finding ids this check can emit (documentation and tests)
    emits: tuple[str, ...] = ()
    #: the event types ``on_event`` looks at: only those reach it (None: every event).
    #: Most events are message content that one check reads; the other checks never
    #: see them (a dispatch table, as h11 has for its transitions)
    reads: tuple[type[ev.Event], ...] | None = None

    def on_event(self, event: ev.Event, ctx: SessionBuilder) -> None:
        """Look at one event."""

    def finish(self, ctx: SessionBuilder) -> None:
        """The session is complete."""


class Counter:
    """First occurrence plus a count, so a finding repeated 10,000 times is one line."""

    __slots__ = ("count", "first")

    def __init__(self) -> None:
        self.count = 0
        self.first: Where | None = None

    def hit(self, where: Where, n: int = 1) -> None:
        self.count += n
        if self.first is None:
            self.first = where

    def times(self, noun: str) -> str:
        return f"{self.count} {noun}{'' if self.count == 1 else 's'}"

    def report(self, ctx: SessionBuilder, finding_id: str, detail: str,
               severity: Severity | None = None) -> None:
        """Record the finding once, at the first occurrence, if there was any."""
        if self.first is not None:
            ctx.report(finding_id, self.first, detail, severity)
