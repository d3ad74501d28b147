"""The session builder: folds engine events into a :class:`~smtplens.model.Session`.

It is also the context checks read while they run (the current transaction, whether
TLS is up, what EHLO advertised) and the one place findings are recorded, so every
finding gets the session id, the catalog severity and a safe excerpt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from smtplens.engine import events as ev
from smtplens.engine.syntax import auth_args, parse_capabilities, parse_path
from smtplens.findings.catalog import CATALOG
from smtplens.findings.finding import Evidence, Finding, Severity
from smtplens.mime import MessageSummary
from smtplens.model import AuthExchange, Exchange, Message, Recipient, Session, Transaction
from smtplens.redact import Redactor, auth_lines
from smtplens.sasl import SaslExchange, SaslStep
from smtplens.sasl.base import MASKED_LABEL, is_masked, wire_text
from smtplens.sasl.exchange import SENDS_PASSWORD
from smtplens.secret import Secret
from smtplens.stream import Direction, Opened


class MessageSink(Protocol):
    """Where an extracted message goes (see :class:`smtplens.extract.EmlWriter`).

    It is written every octet of the content, in order (an empty write for an empty
    message, no write at all when the input did not record the content), then closed;
    after that ``name`` is the file written (None: none) and ``note`` says why it is
    missing or incomplete (a write error)."""

    @property
    def name(self) -> Any: ...

    @property
    def note(self) -> str: ...

    def write(self, data: bytes, /) -> int: ...

    def close(self) -> None: ...


#: called with (session, message number) at each message start; returns a sink or None
SinkFactory = Callable[[Session, int], MessageSink | None]
EXCERPT = 72
# answers a log hid (Exim "********", PHPMailer "[credentials hidden]", Exchange
# "<authentication response>"): smtplens.sasl.base.is_masked, one place for every view


#: a finding's detail is one sentence; wire text in it (an unknown verb can be a 64 KiB
#: line) is cut so every report row stays small
MAX_DETAIL = 300


def _bounded(detail: str) -> str:
    """A detail escaped like the excerpt (:func:`~smtplens.sasl.base.wire_text`: the wire
    text in it can hold controls and non-UTF-8 bytes), then cut."""
    detail = wire_text(detail)
    return detail if len(detail) <= MAX_DETAIL else detail[:MAX_DETAIL - 1] + "…"


def excerpt(data: bytes | str, limit: int = EXCERPT, redactor: Redactor | None = None) -> str:
    """A short printable excerpt: CR, LF, NUL, other controls and non-UTF-8 bytes
    escaped (:func:`~smtplens.sasl.base.wire_text`); the initial
    response of any AUTH line in it, the lines that follow an AUTH line, and every
    secret ``redactor`` knows are redacted."""
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    raw = auth_lines(raw[: limit * 8])
    if redactor is not None:
        raw = redactor.data(raw)
    # the same escapes as a finding's detail: one function for every view
    out = wire_text(raw[: limit * 2].decode("utf-8", "surrogateescape"))
    return out if len(out) <= limit else out[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class Where:
    """Where something was seen (a finding's evidence, without the session)."""

    direction: Direction | None = None
    ts: float | None = None
    offset: int | None = None
    location: str = ""
    data: bytes | str = b""


class SessionBuilder:
    """Builds one session from its events; see the module docstring."""

    def __init__(self, opened: Opened, sink_factory: SinkFactory | None = None) -> None:
        self.session = Session(
            id=opened.conn_id, source=opened.source, origin=opened.origin,
            client=opened.client, server=opened.server, ts_start=opened.ts, ts_end=opened.ts,
            exact_bytes=opened.exact_bytes, tls=opened.implicit_tls,
            implicit_tls=opened.implicit_tls, location=opened.location)
        self.sink_factory = sink_factory
        self.tx: Transaction | None = None  #: the open transaction
        self.message: Message | None = None  #: the message being received
        self.ehlo_done = False  #: an EHLO/HELO/LHLO was accepted (since the last TLS start)
        self.authenticated = False
        self._items: dict[int, Exchange] = {}
        self._by_item: dict[int, Message | Recipient | Transaction | AuthExchange] = {}
        self._tx_of: dict[int, Transaction] = {}  # item -> transaction open when it was sent
        self._auth: AuthExchange | None = None
        self._sasl: SaslExchange | None = None
        self._summary: MessageSummary | None = None
        self._sink: MessageSink | None = None
        self._sink_message: Message | None = None  # the message ``_sink`` receives
        self._mail_count = 0
        #: every secret this session has shown, hidden from all its text at the end
        self.redactor = Redactor()

    # ------------------------------------------------------------------ findings
    def finding(self, finding_id: str, *, direction: Direction | None = None,
                ts: float | None = None, offset: int | None = None, location: str = "",
                data: bytes | str = b"", detail: str = "",
                severity: Severity | None = None) -> Finding:
        """Record a finding of this session; ``data`` becomes the (escaped) excerpt."""
        spec = CATALOG[finding_id]
        found = Finding(finding_id, severity or spec.severity,
                        Evidence(self.session.id, direction, ts, offset, location,
                                 excerpt(data, redactor=self.redactor)),
                        _bounded(self.redactor.text(detail)))
        self.session.findings.append(found)
        return found

    def report(self, finding_id: str, where: Where, detail: str = "",
               severity: Severity | None = None) -> Finding:
        """Record a finding at ``where``."""
        return self.finding(finding_id, direction=where.direction, ts=where.ts,
                            offset=where.offset, location=where.location, data=where.data,
                            detail=detail, severity=severity)

    def has_finding(self, finding_id: str) -> bool:
        return any(f.id == finding_id for f in self.session.findings)

    def finish(self) -> Session:
        """The finished session, with every secret it showed removed from all its text
        (server echoes, excerpts, details: see :mod:`smtplens.redact`)."""
        session: Session = self.redactor.session(self.session)
        return session

    def _remember(self, step: SaslStep) -> None:
        if isinstance(step.wire, Secret):
            self.redactor.add_secret(step.wire)
        for _, value in step.fields:
            if isinstance(value, Secret):
                self.redactor.add_secret(value)

    # ------------------------------------------------------------------ events
    def on_event(self, event: ev.Event) -> None:
        ts = event.ts
        if ts is not None:
            s = self.session
            if s.ts_start is None or ts < s.ts_start:
                s.ts_start = ts
            if s.ts_end is None or ts > s.ts_end:
                s.ts_end = ts
        handler = _HANDLERS.get(type(event))
        (handler or _handler(type(event)))(self, event)

    def _encrypted(self, e: ev.Encrypted) -> None:
        self.session.encrypted_bytes += e.size

    def _gap(self, e: ev.GapSeen) -> None:
        self.session.gaps += 1

    def _command(self, e: ev.Command) -> None:
        text, secret = e.raw.decode("utf-8", "surrogateescape"), None
        verb = e.verb
        if verb == "AUTH":
            mech, initial = auth_args(e.args)
            self._start_auth(e, mech, initial)
            if initial:
                # the line is shown redacted; the session's text loses only what the
                # decoder found secret in it (_start_auth): a LOGIN user name stays
                secret = Secret(text, "response")
                text = f"AUTH {mech} {self._initial_shown(initial)}"
        ex = Exchange(e.item, "command", verb, text, e.ts, e.offset, e.location,
                      bool(e.waiting), secret=secret)
        if verb == "AUTH" and self._auth and self._auth.steps:
            ex.step = self._auth.steps[-1]
            ex.note = ex.step.describe()
        self._items[e.item] = ex
        self.session.exchanges.append(ex)
        if (self.tx is not None and verb not in ("EHLO", "HELO", "LHLO", "MAIL", "RSET", "QUIT")
                and (self.tx.message is None or self.message is not None)):
            self._tx_of[e.item] = self.tx  # commands after its message belong to no transaction
        if verb in ("EHLO", "HELO", "LHLO"):
            self.session.helo_verb, self.session.helo = verb, e.args.strip()
            self._end_tx("helo")
        elif verb == "MAIL":
            path = parse_path(e.args)
            self._end_tx("mail")
            self._mail_count += 1
            self.tx = Transaction(self._mail_count, e.ts, path.address if path else e.args,
                                  path.params if path else {})
            self.session.transactions.append(self.tx)
            self._by_item[e.item] = self.tx
            self._tx_of[e.item] = self.tx
        elif verb == "RCPT":
            if self.tx is None:  # RCPT before MAIL: keep it, as an envelope without sender
                self._mail_count += 1
                self.tx = Transaction(self._mail_count, e.ts, None, {})
                self.session.transactions.append(self.tx)
                self._tx_of[e.item] = self.tx
            path = parse_path(e.args)
            rcpt = Recipient(path.address if path else e.args, path.params if path else {})
            self.tx.recipients.append(rcpt)
            self._by_item[e.item] = rcpt
        elif verb in ("DATA", "BDAT") and self.tx is not None:
            self.tx.method = self.tx.method or verb
            self._by_item[e.item] = self.tx
        elif verb == "RSET":
            self._end_tx("rset")
        elif verb == "QUIT":
            self.session.quit = True

    def _initial_shown(self, initial: str) -> str:
        """The initial response as every view shows it: the decoded step's own
        redaction (one wording: ``[redacted password, 20 chars]``), or the log's mask."""
        step = self._auth.steps[-1] if self._auth is not None and self._auth.steps else None
        if step is not None and isinstance(step.wire, Secret):
            return step.wire.redacted()
        if step is not None and step.label == MASKED_LABEL:
            return initial
        return Secret(initial, "response").redacted()

    def _start_auth(self, e: ev.Command, mech: str, initial: str) -> None:
        advertised = None
        if "AUTH" in self.session.capabilities or self.ehlo_done:
            advertised = mech in self.session.capabilities.get("AUTH", ())
        self._auth = AuthExchange(mech, e.item, e.ts, encrypted=self.session.tls,
                                  advertised=advertised)
        self._sasl = SaslExchange(mech)
        self.session.auth.append(self._auth)
        self._by_item[e.item] = self._auth
        if initial:
            step = self._sasl.initial_response(initial)
            self._remember(step)
            self._auth.steps.append(step)
            self._sync_auth()

    def _auth_answer(self, e: ev.AuthAnswer) -> None:
        step = None
        if e.stray:
            # out of step with the server: most likely the client's next credential
            guess = Secret(e.text, "probable credential")
            self.redactor.add_secret(guess)
            ex = Exchange(e.item, "auth", "AUTH-ANSWER", guess.redacted(), e.ts, e.offset,
                          e.location, secret=guess,
                          note="probable credential, sent after the AUTH exchange ended")
            self._items[e.item] = ex
            self.session.exchanges.append(ex)
            return
        if is_masked(e.text) and self._auth is not None:
            # the log masked the answer (Exim writes "********"): nothing to decode
            step = SaslStep(Direction.CLIENT, e.text, True, MASKED_LABEL)
            self._auth.steps.append(step)
            self._auth.secrets_masked |= self._auth.mechanism in SENDS_PASSWORD
            self._by_item[e.item] = self._auth
        elif self._sasl is not None and self._auth is not None:
            step = self._sasl.client(e.text)
            self._remember(step)
            self._auth.steps.append(step)
            self._sync_auth()
            self._by_item[e.item] = self._auth
        wire = step.wire if step is not None else Secret(e.text, "response")
        if isinstance(wire, Secret):
            self.redactor.add_secret(wire)
        text = wire.redacted() if isinstance(wire, Secret) else wire
        ex = Exchange(e.item, "auth", "AUTH-ANSWER", text, e.ts, e.offset, e.location,
                      secret=wire if isinstance(wire, Secret) else None,
                      note=step.describe() if step is not None else "", step=step)
        self._items[e.item] = ex
        self.session.exchanges.append(ex)

    def _sync_auth(self) -> None:
        assert self._auth is not None and self._sasl is not None
        self._auth.user = self._sasl.user
        self._auth.secrets_exposed = self._sasl.secrets_exposed
        self._auth.secrets_masked = self._auth.secrets_masked or self._sasl.secrets_masked
        if self._sasl.cancelled:
            self._auth.outcome = "cancelled"

    def _reply(self, e: ev.Reply) -> None:
        s = self.session
        text, code, verb, answers = e.text, e.code, e.verb, e.answers
        if e.to == "greeting":
            s.greeting_code, s.greeting_text = code, text
            return
        if answers is None:
            ex = target = tx = None
        else:
            ex = self._items.get(answers)
            target = self._by_item.get(answers)
            tx = self._tx_of.get(answers)
        if ex is not None:
            ex.reply_code, ex.reply_text, ex.enhanced, ex.reply_ts = (
                code, text, e.enhanced, e.ts)
        if tx is not None and code is not None:
            tx.last_reply_code, tx.last_reply_line = code, e.lines[-1] if e.lines else ""
        if verb in ("EHLO", "LHLO") and code == 250:
            s.capabilities = _capabilities(e.lines)
            if not s.tls:  # RFC 3207 §4.2: after STARTTLS the client asks again, inside
                s.clear_capabilities = s.capabilities
            self.ehlo_done = True
        elif verb == "HELO" and code == 250:
            self.ehlo_done = True
        elif isinstance(target, Transaction) and verb == "MAIL":
            target.mail_reply_code, target.mail_reply_text = code, text
        elif isinstance(target, Recipient):
            target.reply_code, target.reply_text = code, text
        elif isinstance(target, Transaction) and verb == "DATA":
            target.data_reply_code = code
        elif isinstance(target, AuthExchange):
            self._auth_reply(target, e, ex)
        if isinstance(target, Message):
            target.reply_code, target.reply_text = code, text
            if self.tx is not None and self.tx.message is target:
                self._end_tx("message")

    def _auth_reply(self, auth: AuthExchange, e: ev.Reply, ex: Exchange | None) -> None:
        if e.code == 334 and self._sasl is not None and auth is self._auth:
            text = e.lines[0] if e.lines else ""
            step = (SaslStep(Direction.SERVER, text, True, MASKED_LABEL)
                    if is_masked(text) else self._sasl.server(text))
            auth.steps.append(step)
            self._sync_auth()
            if ex is not None:
                ex.reply_note = step.describe()
            return
        auth.reply_code, auth.reply_text, auth.enhanced = e.code, e.text, e.enhanced
        if e.code == 235:
            auth.outcome = "success"
            self.authenticated = True
        elif auth.outcome != "cancelled":
            auth.outcome = "failure"
        if auth is self._auth:
            self._auth, self._sasl = None, None

    def _message_start(self, e: ev.MessageStart) -> None:
        if self.tx is None:  # content without MAIL FROM: keep it visible anyway
            self._mail_count += 1
            self.tx = Transaction(self._mail_count, e.ts, None, {}, method=e.method)
            self.session.transactions.append(self.tx)
        msg = Message(e.method, e.ts)
        self.tx.message = self.message = msg
        number = len(self.session.messages)
        self._close_sink()
        self._sink = self.sink_factory(self.session, number) if self.sink_factory else None
        self._sink_message = msg if self._sink is not None else None
        self._summary = MessageSummary(sink=_writer(self._sink) if self._sink else None)

    def _message_data(self, e: ev.MessageData) -> None:
        if self.message is not None and self._summary is not None:
            self.message.wire_size += len(e.raw)
            self._summary.feed(e.content)

    def _message_end(self, e: ev.MessageEnd) -> None:
        msg = self.message
        if msg is None:
            return
        msg.end, msg.complete, msg.ts_end = e.how, e.complete, e.ts
        if self._summary is not None and e.how != "skipped":
            msg.info = self._summary.finish(complete=e.complete)
        self._summary = None
        self.message = None
        self._close_sink()
        if e.item is not None:
            self._by_item[e.item] = msg
            msg.end_item = e.item
            if self.tx is not None:
                self._tx_of[e.item] = self.tx
            if e.item not in self._items:  # the end of DATA is an item of its own
                size = msg.info.size if msg.info else msg.wire_size
                ex = Exchange(e.item, "data-end", ".", f"<end of data: {size} octets>", e.ts,
                              e.offset, note=e.how)
                self._items[e.item] = ex
                self.session.exchanges.append(ex)

    def _close_sink(self) -> None:
        sink, msg = self._sink, self._sink_message
        self._sink = self._sink_message = None
        if sink is None or msg is None:
            return
        if msg.end != "skipped":  # an empty message still is one: its (empty) file
            sink.write(b"")
        sink.close()
        msg.extracted_to = None if sink.name is None else str(sink.name)
        msg.extract_note = sink.note
        if msg.extracted_to is None and not msg.extract_note and msg.end == "skipped":
            msg.extract_note = "content not in the log"

    def _bdat_chunk(self, e: ev.BdatChunk) -> None:
        if self.message is not None:
            self.message.chunks += 1

    def _tls(self, e: ev.TlsStarted) -> None:
        # RFC 3207 §4.2: both sides forget what they learnt before TLS
        s = self.session
        s.tls, s.tls_ts = True, e.ts
        s.capabilities = {}
        self.ehlo_done = False

    def _end(self, e: ev.ConnectionEnd) -> None:
        s = self.session
        s.client_bytes, s.server_bytes, s.close_reason = e.client_bytes, e.server_bytes, e.reason
        self._end_tx("closed")

    def _end_tx(self, why: str) -> None:
        if self.tx is not None:
            if not self.tx.ended:
                self.tx.ended = why
            self.tx = None


#: EHLO keyword lists already parsed: a server answers every client alike but for the
#: first line (the greeting: it may name the client), which names no keyword
_KNOWN_CAPABILITIES: dict[tuple[str, ...], dict[str, tuple[str, ...]]] = {}
_KNOWN_MAX = 64  # lists kept (then forgotten all at once)
_KNOWN_SIZE = 4096  # a longer list is parsed every time


def _capabilities(lines: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """:func:`parse_capabilities` of ``lines``, a session's own copy."""
    keywords = lines[1:]
    found = _KNOWN_CAPABILITIES.get(keywords)
    if found is None:
        found = parse_capabilities(lines)
        if sum(map(len, keywords)) <= _KNOWN_SIZE:
            if len(_KNOWN_CAPABILITIES) >= _KNOWN_MAX:
                _KNOWN_CAPABILITIES.clear()
            _KNOWN_CAPABILITIES[keywords] = found
    return dict(found)


def _ignore(builder: SessionBuilder, event: Any) -> None:
    pass


#: what each event does to the session (Guessed changes nothing)
_HANDLERS: dict[type, Callable[[SessionBuilder, Any], None]] = {
    ev.MessageData: SessionBuilder._message_data,
    ev.Command: SessionBuilder._command,
    ev.Reply: SessionBuilder._reply,
    ev.AuthAnswer: SessionBuilder._auth_answer,
    ev.MessageStart: SessionBuilder._message_start,
    ev.MessageEnd: SessionBuilder._message_end,
    ev.BdatChunk: SessionBuilder._bdat_chunk,
    ev.TlsStarted: SessionBuilder._tls,
    ev.Encrypted: SessionBuilder._encrypted,
    ev.GapSeen: SessionBuilder._gap,
    ev.ConnectionEnd: SessionBuilder._end,
    ev.Guessed: _ignore,
}


def _handler(kind: type) -> Callable[[SessionBuilder, Any], None]:
    """The handler of an event type derived from one in :data:`_HANDLERS` (remembered)."""
    found = next((_HANDLERS[base] for base in kind.__mro__ if base in _HANDLERS), _ignore)
    _HANDLERS[kind] = found
    return found


def _writer(sink: MessageSink) -> Callable[[bytes], None]:
    def write(data: bytes) -> None:
        sink.write(data)

    return write
