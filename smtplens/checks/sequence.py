"""Transaction order and envelope syntax (RFC 5321 §3.3, §4.1.4, §4.5.3.1; RFC 6531)."""

from __future__ import annotations

from smtplens.builder import SessionBuilder, Where
from smtplens.checks.base import Check
from smtplens.engine import events as ev
from smtplens.engine.syntax import parse_path
from smtplens.stream import Direction

C, S = Direction.CLIENT, Direction.SERVER
MAX_PATH, MAX_LOCAL, MAX_DOMAIN = 256, 64, 255  # RFC 5321 §4.5.3.1.1-3


def _octets(text: str) -> int:
    """Octets on the wire (text holds non-UTF-8 bytes as surrogate escapes)."""
    return len(text.encode("utf-8", "surrogateescape"))


class Sequence(Check):
    """MAIL before HELO, RCPT before MAIL, DATA without recipients, nested MAIL."""

    emits = ("protocol.out-of-sequence",)
    reads = (ev.Reply, ev.TlsStarted, ev.MessageEnd, ev.Command)

    def __init__(self) -> None:
        self.greeted = False
        self.helo = False
        self.open_tx = False  # a MAIL FROM was accepted
        self.mail_pending = 0  # MAIL commands still waiting for their reply (pipelining)

    def on_event(self, event: ev.Event, ctx: SessionBuilder) -> None:
        if isinstance(event, ev.Reply):
            self.greeted = self.greeted or event.to == "greeting"
            if event.verb in ("EHLO", "HELO", "LHLO") and event.code == 250:
                self.helo = True
            if event.verb == "MAIL":
                self.mail_pending = max(0, self.mail_pending - 1)
                # a refused MAIL leaves an earlier open transaction open ("sender already
                # given"); an accepted one opens it
                self.open_tx = self.open_tx or (event.code is not None and event.code < 400)
            return
        if isinstance(event, ev.TlsStarted):
            self.helo, self.open_tx = False, False  # RFC 3207 §4.2: start again
            return
        if isinstance(event, ev.MessageEnd):
            self.open_tx = False
            return
        if not isinstance(event, ev.Command):
            return
        verb = event.verb
        where = Where(C, event.ts, event.offset, event.location, event.raw)
        why = ""
        if verb == "MAIL":
            if not self.helo and self.greeted:
                why = "MAIL before EHLO/HELO"
            elif self.open_tx:
                why = "MAIL inside an open transaction (nested MAIL)"
            self.mail_pending += 1
        elif verb == "RCPT" and not self.open_tx and not self.mail_pending:
            why = "RCPT without an accepted MAIL FROM"
        elif verb == "DATA" and not event.waiting:
            tx = ctx.session.transactions[-1] if ctx.session.transactions else None
            if tx is None or not (self.open_tx or self.mail_pending):
                why = "DATA without an accepted MAIL FROM"
            elif not any(r.accepted for r in tx.recipients) and all(
                    r.reply_code is not None for r in tx.recipients):
                why = "DATA although no recipient was accepted"
        elif verb in ("RSET", "EHLO", "HELO", "LHLO"):
            self.open_tx, self.mail_pending = False, 0
        if why:
            ctx.report("protocol.out-of-sequence", where, why)


class Envelope(Check):
    """Address lengths and internationalised addresses, SMTPUTF8/8BITMIME coherence."""

    emits = ("protocol.address-too-long", "protocol.utf8-address-without-smtputf8",
             "protocol.smtputf8-without-8bitmime")
    reads = (ev.Reply, ev.Command)

    def __init__(self) -> None:
        self.reported_caps = False
        self.utf8_tx = False

    def on_event(self, event: ev.Event, ctx: SessionBuilder) -> None:
        if isinstance(event, ev.Reply) and event.verb in ("EHLO", "LHLO") and event.code == 250:
            caps = ctx.session.capabilities
            if "SMTPUTF8" in caps and "8BITMIME" not in caps and not self.reported_caps:
                self.reported_caps = True
                ctx.finding("protocol.smtputf8-without-8bitmime", direction=S, ts=event.ts,
                            offset=event.offset, location=event.location,
                            detail="EHLO lists SMTPUTF8 but not 8BITMIME")
            return
        if not isinstance(event, ev.Command) or event.verb not in ("MAIL", "RCPT"):
            return
        path = parse_path(event.args)
        if path is None:
            return
        if event.verb == "MAIL":
            self.utf8_tx = "SMTPUTF8" in path.params
        where = Where(C, event.ts, event.offset, event.location, event.raw)
        local, _, domain = path.address.rpartition("@")
        sizes = [("path", _octets(path.address) + 2, MAX_PATH),
                 ("local-part", _octets(local), MAX_LOCAL),
                 ("domain", _octets(domain), MAX_DOMAIN)]
        over = [f"{name} {n} > {limit}" for name, n, limit in sizes if n > limit]
        if over:
            ctx.report("protocol.address-too-long", where, f"{event.verb}: {', '.join(over)}")
        if not path.address.isascii() and not self.utf8_tx:
            ctx.report("protocol.utf8-address-without-smtputf8", where,
                       f"{event.verb} address {path.address!r} is not ASCII")
