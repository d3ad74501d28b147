"""AUTH checks (RFC 4954): Base64, clear text, advertising, outcome, order."""

from __future__ import annotations

from smtplens.builder import SessionBuilder
from smtplens.checks.base import Check, Counter, Where, one_sided
from smtplens.engine import events as ev
from smtplens.engine.syntax import auth_args
from smtplens.model import AuthExchange
from smtplens.stream import Direction

C, S = Direction.CLIENT, Direction.SERVER
#: RFC 4954 §4: more failures than this in one session look like guessing
REPEATED_FAILURES = 3


class AuthOrder(Check):
    """Where AUTH is sent: before EHLO, inside a transaction, after success."""

    emits = ("auth.before-ehlo", "auth.in-transaction", "auth.after-success",
             "auth.out-of-step")
    reads = (ev.Reply, ev.AuthAnswer, ev.Command)

    def __init__(self) -> None:
        self.seen_reply = False
        self.stray = Counter()
        #: AUTH commands sent before an accepted EHLO, reported at the end: in a source
        #: holding the client's side only, no EHLO could be seen accepted
        self.early: list[tuple[Where, str]] = []

    def finish(self, ctx: SessionBuilder) -> None:
        if not one_sided(ctx):
            for where, mech in self.early:
                ctx.report("auth.before-ehlo", where, f"AUTH {mech} before any accepted EHLO")
        self.stray.report(ctx, "auth.out-of-step",
                          f"{self.stray.times('line')} sent after the AUTH exchange ended, "
                          "taken for credentials")

    def on_event(self, event: ev.Event, ctx: SessionBuilder) -> None:
        if isinstance(event, ev.Reply):
            self.seen_reply = True
        elif isinstance(event, ev.AuthAnswer) and event.stray:
            # never the line itself in the excerpt: it is most likely a password
            self.stray.hit(Where(C, event.ts, event.offset, event.location, ""))
        if not isinstance(event, ev.Command) or event.verb != "AUTH":
            return
        mech = auth_args(event.args)[0]
        # never the initial response in an excerpt: it is a secret
        where = Where(C, event.ts, event.offset, event.location, f"AUTH {mech}")
        s = ctx.session
        if not ctx.ehlo_done and (s.greeting_code is not None or not self.seen_reply):
            self.early.append((where, mech))
        tx = s.transactions[-1] if s.transactions else None
        if tx is not None and not tx.ended and tx.mail_reply_code in (None, 250):
            ctx.report("auth.in-transaction", where,
                       f"AUTH {mech} after MAIL FROM:<{tx.mail_from}>")
        earlier = [a for a in s.auth[:-1] if a.outcome == "success"]
        if earlier:
            ctx.report("auth.after-success", where,
                       f"already authenticated with {earlier[-1].mechanism}")


class AuthExchanges(Check):
    """Each exchange at its end: Base64, exposure, advertising, outcome."""

    emits = ("auth.invalid-base64", "auth.cleartext", "auth.not-advertised", "auth.failed",
             "auth.cancelled", "auth.repeated-failures")
    reads = (ev.Command, ev.Reply)

    def __init__(self) -> None:
        self.failures = Counter()
        self.done: set[int] = set()
        self.commands: dict[int, ev.Command] = {}

    def on_event(self, event: ev.Event, ctx: SessionBuilder) -> None:
        if isinstance(event, ev.Command) and event.verb == "AUTH":
            self.commands[event.item] = event
        if isinstance(event, ev.Reply) and event.code != 334 and event.to in ("command", "auth"):
            self._review(ctx, event)

    def finish(self, ctx: SessionBuilder) -> None:
        self._review(ctx, None)
        if self.failures.count >= REPEATED_FAILURES:
            users = sorted({a.user for a in ctx.session.auth
                            if a.outcome == "failure" and a.user})
            who = f" (users: {', '.join(users[:5])})" if users else ""
            self.failures.report(ctx, "auth.repeated-failures",
                                 f"{self.failures.times('failed AUTH attempt')}{who}")

    def _review(self, ctx: SessionBuilder, reply: ev.Reply | None) -> None:
        for auth in ctx.session.auth:
            if auth.item in self.done or (reply is not None and auth.outcome == "unknown"):
                continue
            self.done.add(auth.item)
            cmd = self.commands.get(auth.item)
            where = Where(C, auth.ts, cmd.offset if cmd else None,
                          cmd.location if cmd else "", f"AUTH {auth.mechanism}")
            self._one(ctx, auth, where)

    def _one(self, ctx: SessionBuilder, auth: AuthExchange, where: Where) -> None:
        mech = auth.mechanism
        bad = [s for s in auth.steps if not s.valid_base64]
        if bad:
            side = "server challenge" if bad[0].direction is S else "client answer"
            shown = bad[0].describe()
            ctx.finding("auth.invalid-base64", direction=bad[0].direction, ts=where.ts,
                        offset=where.offset, location=where.location, data=shown,
                        detail=f"{mech}: {side} is not Base64 ({bad[0].error or 'invalid'})")
        # None: unknown, never fired; a password the log masked was still sent in clear
        if (auth.secrets_exposed or auth.secrets_masked) and auth.encrypted is False:
            user = f" for user {auth.user!r}" if auth.user else ""
            masked = "" if auth.secrets_exposed else " (the log masked the password)"
            ctx.report("auth.cleartext", where,
                       f"AUTH {mech}{user} on a connection without TLS{masked}")
        if auth.advertised is False:
            offered = " ".join(ctx.session.capabilities.get("AUTH", ())) or "no AUTH at all"
            ctx.report("auth.not-advertised", where, f"{mech} used; server offered {offered}")
        if auth.outcome == "failure":
            self.failures.hit(where)
            user = f" for user {auth.user!r}" if auth.user else ""
            text = auth.reply_text.splitlines()[0] if auth.reply_text else ""
            ctx.report("auth.failed", where,
                       f"AUTH {mech}{user} failed: {auth.reply_code} {text}".rstrip())
        elif auth.outcome == "cancelled":
            ctx.report("auth.cancelled", where, f"AUTH {mech} cancelled with '*'"
                     + (f"; server answered {auth.reply_code}" if auth.reply_code else ""))
