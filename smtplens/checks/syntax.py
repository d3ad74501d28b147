"""Command syntax that many servers accept but the grammar does not: paths without
angle brackets, a space after ``FROM:``/``TO:``, EHLO/HELO without a domain, and
AUTH PLAIN with an empty authentication identity.

RFC 5321 §4.1.2 gives ``Reverse-path = Path / "<>"``, ``Forward-path = Path`` and
``Path = "<" [ A-d-l ":" ] Mailbox ">"``; §4.1.1.2/§4.1.1.3 write the commands as
``"MAIL FROM:" Reverse-path`` and ``"RCPT TO:" ( "<Postmaster@" Domain ">" /
"<Postmaster>" / Forward-path )`` with no space after the colon. §4.1.1.1 requires a
domain or address literal after EHLO/HELO. RFC 4616 §2 requires a non-empty authcid.
"""

from __future__ import annotations

from smtplens.builder import SessionBuilder
from smtplens.checks.base import Check, Counter, Where
from smtplens.engine import events as ev
from smtplens.findings.finding import Severity
from smtplens.sasl.base import SaslStep
from smtplens.stream import Direction

C = Direction.CLIENT
_KEYWORD = {"MAIL": "FROM:", "RCPT": "TO:"}


class CommandSyntax(Check):
    """Each MAIL/RCPT/EHLO/HELO once; each AUTH PLAIN credentials step once."""

    emits = ("protocol.path-without-brackets", "protocol.space-after-colon",
             "protocol.helo-without-domain", "auth.plain-empty-authcid")
    reads = (ev.Command, ev.AuthAnswer, ev.Reply)

    def __init__(self) -> None:
        self.bare = Counter()  # paths without brackets
        self.bare_verbs: list[str] = []
        self.spaced = Counter()  # "FROM: <...>"
        self.spaced_verbs: list[str] = []
        self.seen_steps: set[int] = set()

    def on_event(self, event: ev.Event, ctx: SessionBuilder) -> None:
        if isinstance(event, ev.Command):
            self._command(event, ctx)
        self._plain(ctx)

    def finish(self, ctx: SessionBuilder) -> None:
        self._plain(ctx)
        if self.bare.count:
            self.bare.report(ctx, "protocol.path-without-brackets",
                             f"{self.bare.times('path')} without '<' '>' "
                             f"({', '.join(dict.fromkeys(self.bare_verbs))})")
        if self.spaced.count:
            self.spaced.report(ctx, "protocol.space-after-colon",
                               f"{self.spaced.times('command')} with a space after the colon "
                               f"({', '.join(dict.fromkeys(self.spaced_verbs))})")

    def _command(self, event: ev.Command, ctx: SessionBuilder) -> None:
        verb = event.verb
        where = Where(C, event.ts, event.offset, event.location, event.raw[:80])
        if verb in ("EHLO", "HELO"):
            if not event.args.strip():
                ctx.report("protocol.helo-without-domain", where,
                           f"{verb} with no domain or address literal")
            return
        keyword = _KEYWORD.get(verb)
        if keyword is None or event.args[:len(keyword)].upper() != keyword:
            return  # no "FROM:" at all is another (unknown) syntax, not these
        rest = event.args[len(keyword):]
        if rest[:1] in (" ", "\t"):
            self.spaced.hit(where)
            self.spaced_verbs.append(f"{verb} {keyword}")
        path = rest.lstrip(" \t")
        if path and not path.startswith("<"):
            self.bare.hit(where)
            self.bare_verbs.append(f"{verb} {keyword}")

    def _plain(self, ctx: SessionBuilder) -> None:
        """RFC 4616 §2: authcid is ``1*SAFE``; the PLAIN decoder says "empty user name"."""
        for auth in ctx.session.auth:
            if auth.mechanism != "PLAIN" or auth.item in self.seen_steps:
                continue
            step = _credentials(auth.steps)
            if step is None:
                continue
            self.seen_steps.add(auth.item)
            if "empty user name" not in step.error:
                continue
            where = next(((e.ts, e.offset, e.location) for e in ctx.session.exchanges
                          if e.item == auth.item), (auth.ts, None, ""))
            authz = next((f" (authzid {v!r})" for name, v in step.fields
                          if name == "authzid"), "")
            ctx.finding("auth.plain-empty-authcid", direction=C, ts=where[0],
                        offset=where[1], location=where[2], data="AUTH PLAIN",
                        detail=f"AUTH PLAIN message with an empty authentication "
                               f"identity{authz}",
                        severity=Severity.WARNING)


def _credentials(steps: list[SaslStep]) -> SaslStep | None:
    return next((s for s in steps if s.direction is C and s.label == "credentials"), None)
