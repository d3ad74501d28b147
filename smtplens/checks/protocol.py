"""Protocol checks: greeting, pipelining, STARTTLS, reply syntax, lengths, matching."""

from __future__ import annotations

from smtplens.builder import SessionBuilder, Where
from smtplens.checks.base import Check, Counter, one_sided
from smtplens.engine import events as ev
from smtplens.engine.syntax import GROUP_ENDERS, KNOWN_VERBS, auth_args
from smtplens.findings.finding import Severity
from smtplens.stream import Direction

C, S = Direction.CLIENT, Direction.SERVER
MAX_COMMAND = 512  # RFC 5321 §4.5.3.1.4, including CRLF
MAX_REPLY_LINE = 512  # RFC 5321 §4.5.3.1.5, including CRLF


def _command_where(e: ev.Command) -> Where:
    shown = e.raw if e.verb != "AUTH" else ("AUTH " + auth_args(e.args)[0])
    return Where(C, e.ts, e.offset, e.location, shown)


class Greeting(Check):
    """Who spoke first, and what the greeting said (RFC 5321 §3.1)."""

    emits = ("protocol.early-talker", "protocol.greeting-refused")
    reads = (ev.Command, ev.Reply)

    def __init__(self) -> None:
        self.early = Counter()
        self.greeting_code: int | None = None

    def on_event(self, event: ev.Event, ctx: SessionBuilder) -> None:
        if isinstance(event, ev.Command) and event.before_greeting:
            self.early.hit(_command_where(event))
        elif isinstance(event, ev.Reply) and event.to == "greeting":
            self.greeting_code = event.code
            if event.code != 220:
                first = event.lines[0] if event.lines else ""
                ctx.finding("protocol.greeting-refused", direction=S, ts=event.ts,
                            offset=event.offset, location=event.location,
                            data=event.raw_lines[0] if event.raw_lines else b"",
                            detail=f"greeting {event.code}: {first}")


    def finish(self, ctx: SessionBuilder) -> None:
        if self.greeting_code is None:  # no greeting seen (one-sided or mid-stream capture)
            return
        detail = f"{self.early.times('command')} before the {self.greeting_code} greeting"
        if "PIPE_CONNECT" in ctx.session.capabilities:
            # Exim's early pipelining (draft-harris-early-pipe) allows exactly this
            self.early.report(ctx, "protocol.early-talker",
                              detail + "; the server offers PIPE_CONNECT, which allows it",
                              Severity.INFO)
        else:
            self.early.report(ctx, "protocol.early-talker", detail)


class Pipelining(Check):
    """RFC 2920: pipelining only when advertised, and never past a group-ending command."""

    emits = ("protocol.pipelining-not-advertised", "protocol.pipelining-violation")
    reads = (ev.MessageStart, ev.Command)

    def __init__(self) -> None:
        self.unadvertised = Counter()
        self.violations = Counter()
        self.after: set[str] = set()

    def on_event(self, event: ev.Event, ctx: SessionBuilder) -> None:
        if isinstance(event, ev.MessageStart) and event.early:
            # RFC 2920 §3.1: DATA ends a group; the message waits for the 354
            self.violations.hit(Where(C, event.ts, event.offset, "", "message content"))
            self.after.add("DATA")
            return
        if not isinstance(event, ev.Command) or not event.waiting or event.before_greeting:
            return
        if event.verb not in KNOWN_VERBS:  # message text read as commands: not pipelining
            return
        where = _command_where(event)
        if "PIPELINING" not in ctx.session.capabilities:
            self.unadvertised.hit(where)
        enders = [v for v in event.waiting if v in GROUP_ENDERS]
        if enders:
            self.violations.hit(where)
            self.after.update(enders)

    def finish(self, ctx: SessionBuilder) -> None:
        if one_sided(ctx):  # "sent before the reply": there were no replies to wait for
            return
        self.unadvertised.report(ctx, "protocol.pipelining-not-advertised",
                                 f"{self.unadvertised.times('command')} sent before the "
                                 "previous reply, but PIPELINING was not advertised")
        self.violations.report(ctx, "protocol.pipelining-violation",
                               f"{self.violations.times('command')} (or message) sent before "
                               "the reply to "
                               f"{', '.join(sorted(self.after))}")


class StartTls(Check):
    """RFC 3207: refusals, injected plaintext, STARTTLS offered again inside TLS."""

    emits = ("protocol.starttls-injection", "protocol.starttls-readvertised",
             "protocol.starttls-refused")
    reads = (ev.TlsStarted, ev.Reply)

    def on_event(self, event: ev.Event, ctx: SessionBuilder) -> None:
        if isinstance(event, ev.TlsStarted) and event.injected:
            ctx.finding("protocol.starttls-injection", direction=C, ts=event.ts,
                        offset=event.client_offset, data=event.injected,
                        detail=f"{len(event.injected)} octets after STARTTLS, before TLS")
        elif isinstance(event, ev.Reply) and event.verb == "STARTTLS" and event.code != 220:
            ctx.finding("protocol.starttls-refused", direction=S, ts=event.ts,
                        offset=event.offset, location=event.location,
                        data=event.raw_lines[0] if event.raw_lines else b"",
                        detail=f"STARTTLS answered {event.code}")
        elif (isinstance(event, ev.Reply) and event.verb in ("EHLO", "LHLO")
              and ctx.session.tls and "STARTTLS" in ctx.session.capabilities
              and not ctx.session.implicit_tls):
            ctx.finding("protocol.starttls-readvertised", direction=S, ts=event.ts,
                        offset=event.offset, location=event.location,
                        detail="the EHLO reply inside TLS lists STARTTLS")


class ReplySyntax(Check):
    """RFC 5321 §4.2: reply-line grammar, one code per reply, line lengths."""

    emits = ("protocol.malformed-reply", "protocol.mixed-reply-codes", "protocol.reply-too-long")
    reads = (ev.Reply,)

    def __init__(self) -> None:
        self.malformed = Counter()
        self.mixed = Counter()
        self.long = Counter()

    def on_event(self, event: ev.Event, ctx: SessionBuilder) -> None:
        if not isinstance(event, ev.Reply):
            return
        where = Where(S, event.ts, event.offset, event.location,
                      event.raw_lines[0] if event.raw_lines else b"")
        if event.malformed:
            line = event.raw_lines[event.malformed[0]]
            self.malformed.hit(Where(S, event.ts, event.offset, event.location, line))
        if event.mixed_codes:
            self.mixed.hit(where)
        if any(len(line) + 2 > MAX_REPLY_LINE for line in event.raw_lines):
            self.long.hit(where)

    def finish(self, ctx: SessionBuilder) -> None:
        if not ctx.session.gaps:  # after lost bytes, broken lines are expected
            self.malformed.report(ctx, "protocol.malformed-reply",
                                  f"{self.malformed.times('reply')} with malformed lines")
        self.mixed.report(ctx, "protocol.mixed-reply-codes",
                          f"{self.mixed.times('multi-line reply')} with different codes")
        self.long.report(ctx, "protocol.reply-too-long",
                         f"{self.long.times('reply')} with lines over 512 octets")


class Commands(Check):
    """Command lines: length, unknown verbs, replies that match nothing and vice versa."""

    emits = ("protocol.command-too-long", "protocol.unknown-command", "protocol.unmatched-reply",
             "protocol.no-reply", "protocol.no-quit")
    reads = (ev.Command, ev.Reply, ev.ConnectionEnd)

    def __init__(self) -> None:
        self.long = Counter()
        self.unknown = Counter()
        self.unmatched = Counter()
        self.verbs: list[str] = []

    def on_event(self, event: ev.Event, ctx: SessionBuilder) -> None:
        if isinstance(event, ev.Command):
            if event.length > MAX_COMMAND:
                self.long.hit(_command_where(event))
            if event.verb not in KNOWN_VERBS and len(self.verbs) < 5:
                self.verbs.append(event.verb or "(empty line)")
            if event.verb not in KNOWN_VERBS:
                self.unknown.hit(_command_where(event))
        elif isinstance(event, ev.Reply) and event.to == "unmatched" and event.code != 421:
            # RFC 5321 §3.8: a server may send 421 at any time before it closes
            self.unmatched.hit(Where(S, event.ts, event.offset, event.location,
                                     event.raw_lines[0] if event.raw_lines else b""))
        elif isinstance(event, ev.ConnectionEnd):
            self._end(event, ctx)

    def finish(self, ctx: SessionBuilder) -> None:
        self.long.report(ctx, "protocol.command-too-long",
                         f"{self.long.times('command line')} over 512 octets")
        self.unknown.report(ctx, "protocol.unknown-command",
                            f"{self.unknown.times('unknown command')}: {', '.join(self.verbs)}")
        if not ctx.session.gaps and not one_sided(ctx):  # no commands: every reply unmatched
            smuggled = " (the server saw more commands than were sent in the clear: " \
                       "see the smuggling finding)" if ctx.has_finding(
                           "data.smuggling-sequence") else ""
            self.unmatched.report(ctx, "protocol.unmatched-reply",
                                  f"{self.unmatched.times('reply')} without a command{smuggled}")

    def _end(self, event: ev.ConnectionEnd, ctx: SessionBuilder) -> None:
        s = ctx.session
        waiting = [verb for _, verb in event.waiting if verb != "QUIT"]
        if waiting and not s.gaps and not one_sided(ctx) and event.state != "TLS":
            ctx.finding("protocol.no-reply", direction=C, ts=event.ts,
                        detail=f"still waiting for replies to {', '.join(waiting[:6])}")
        if not s.quit and event.state != "TLS" and not s.implicit_tls and s.client_bytes:
            ctx.finding("protocol.no-quit", direction=C, ts=event.ts,
                        detail=f"closed ({event.reason}) in state {event.state}")
