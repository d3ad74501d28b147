"""Capture-level findings: missing bytes, one side only, encryption."""

from __future__ import annotations

from smtplens.builder import SessionBuilder
from smtplens.checks.base import Check
from smtplens.engine import events as ev
from smtplens.stream import Direction


class Capture(Check):
    """What the source could not show."""

    emits = ("capture.gap", "capture.one-sided", "capture.encrypted")
    reads = (ev.GapSeen,)

    def __init__(self) -> None:
        self.gaps: list[ev.GapSeen] = []
        self.tls_from: float | None = None

    def on_event(self, event: ev.Event, ctx: SessionBuilder) -> None:
        if isinstance(event, ev.GapSeen):
            self.gaps.append(event)

    def finish(self, ctx: SessionBuilder) -> None:
        s = ctx.session
        if self.gaps:
            first = self.gaps[0]
            total = sum(g.size for g in self.gaps)
            ctx.finding("capture.gap", direction=first.direction, ts=first.ts,
                        offset=first.offset,
                        detail=f"{len(self.gaps)} gap(s), {total} octets missing; first in "
                               f"state {first.state}")
        if not ctx.has_finding("capture.one-sided") and (s.client_bytes == 0) != (
                s.server_bytes == 0):
            side = "server's" if s.client_bytes == 0 else "client's"
            ctx.finding("capture.one-sided",
                        direction=Direction.SERVER if s.client_bytes == 0 else Direction.CLIENT,
                        ts=s.ts_start, detail=f"only the {side} bytes are in the source")
        if s.encrypted_bytes:
            how = "implicit TLS" if s.implicit_tls else "after STARTTLS"
            ctx.finding("capture.encrypted", ts=s.tls_ts or s.ts_start,
                        detail=f"{s.encrypted_bytes} octets encrypted ({how})")
