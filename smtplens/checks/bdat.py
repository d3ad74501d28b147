"""BDAT checks (RFC 3030 §2, §3)."""

from __future__ import annotations

from smtplens.builder import SessionBuilder, Where
from smtplens.checks.base import Check
from smtplens.engine import events as ev
from smtplens.engine.conversation import MAX_BDAT
from smtplens.engine.syntax import KNOWN_VERBS
from smtplens.stream import Direction
from smtplens.textutil import digits

C = Direction.CLIENT


def valid_bdat(args: str) -> bool:
    """``chunk-size [SP "LAST"]`` with a decimal size (RFC 3030 §2)."""
    parts = args.split()
    if not parts or not digits(parts[0]) or int(parts[0]) > MAX_BDAT or len(parts) > 2:
        return False
    return len(parts) == 1 or parts[1].upper() == "LAST"


class Bdat(Check):
    """Invalid BDAT, CHUNKING not offered, BDAT after LAST, mixed with DATA, bad counts."""

    emits = ("bdat.invalid", "bdat.not-advertised", "bdat.after-last", "bdat.mixed-with-data",
             "bdat.size-mismatch")
    reads = (ev.BdatChunk, ev.Command)

    def __init__(self) -> None:
        self.methods: set[str] = set()
        self.last_done = False
        self.advertised_reported = False
        self.after_chunk = False  # the previous client item was a complete BDAT chunk

    def on_event(self, event: ev.Event, ctx: SessionBuilder) -> None:
        if isinstance(event, ev.BdatChunk):
            self.after_chunk = event.received == event.declared
            if event.last:
                self.last_done = True
            return
        if not isinstance(event, ev.Command):
            return
        after_chunk, self.after_chunk = self.after_chunk, False
        verb = event.verb
        where = Where(C, event.ts, event.offset, event.location, event.raw)
        if after_chunk and verb not in KNOWN_VERBS:
            ctx.report("bdat.size-mismatch", where,
                       "what followed the counted octets is not a command")
        if verb in ("MAIL", "RSET", "EHLO", "HELO", "LHLO"):
            self.methods, self.last_done = set(), False
            return
        if verb not in ("BDAT", "DATA"):
            return
        if verb == "BDAT" and not valid_bdat(event.args):
            ctx.report("bdat.invalid", where, f"BDAT {event.args!r} has no valid chunk size")
            return
        self.methods.add(verb)
        if self.methods == {"BDAT", "DATA"}:
            ctx.report("bdat.mixed-with-data", where, f"{verb} in a transaction that used "
                       f"{'BDAT' if verb == 'DATA' else 'DATA'}")
        if verb == "BDAT":
            if self.last_done:
                ctx.report("bdat.after-last", where, "BDAT after the LAST chunk")
            caps = ctx.session.capabilities
            if ctx.ehlo_done and "CHUNKING" not in caps and not self.advertised_reported:
                self.advertised_reported = True
                ctx.report("bdat.not-advertised", where, "EHLO did not list CHUNKING")
