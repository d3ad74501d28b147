"""Sessions as plain data (dicts of JSON types) for JSON, JSONL, CSV and frames.

Secrets appear only as their redaction marker unless ``reveal`` is true.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TextIO

from smtplens.findings.catalog import CATALOG
from smtplens.findings.finding import Finding, Severity
from smtplens.model import AuthExchange, Exchange, Message, Session, Transaction
from smtplens.stream import Endpoint
from smtplens.textutil import visible

JSON = dict[str, Any]


def _ep(e: Endpoint | None) -> str | None:
    return str(e) if e is not None else None


def finding_dict(f: Finding) -> JSON:
    spec = CATALOG[f.id]
    ev = f.evidence
    return {
        "id": f.id, "severity": str(f.severity), "title": spec.title, "detail": f.detail,
        "session": ev.session, "direction": ev.direction.value if ev.direction else None,
        "ts": ev.ts, "offset": ev.offset, "location": ev.location, "excerpt": ev.excerpt,
        "rfc": spec.rfc, "fix": spec.fix,
    }


def exchange_dict(e: Exchange, reveal: bool) -> JSON:
    return {
        "item": e.item, "kind": e.kind, "verb": e.verb, "text": e.shown(reveal),
        "note": e.meaning(reveal), "ts": e.ts, "offset": e.offset, "location": e.location,
        "pipelined": e.pipelined, "reply_code": e.reply_code, "reply_text": e.reply_text,
        "enhanced": e.enhanced, "reply_note": e.reply_note, "latency": e.latency,
    }


def auth_dict(a: AuthExchange, reveal: bool) -> JSON:
    return {
        "mechanism": a.mechanism, "outcome": a.outcome, "user": a.user, "ts": a.ts,
        "reply_code": a.reply_code, "reply_text": a.reply_text, "enhanced": a.enhanced,
        "encrypted": a.encrypted, "advertised": a.advertised,
        "secrets_exposed": a.secrets_exposed,
        "steps": [{"direction": s.direction.value, "valid_base64": s.valid_base64,
                   "label": s.label, "wire": s.wire if isinstance(s.wire, str)
                   else s.wire.show(reveal), "decoded": s.describe(reveal),
                   "error": s.error} for s in a.steps],
    }


def message_dict(m: Message) -> JSON:
    out: JSON = {"method": m.method, "end": m.end, "complete": m.complete,
                 "wire_size": m.wire_size, "chunks": m.chunks, "reply_code": m.reply_code,
                 "reply_text": m.reply_text, "ts_start": m.ts_start, "ts_end": m.ts_end,
                 "extracted_to": m.extracted_to, "extract_note": m.extract_note}
    i = m.info
    if i is not None:
        out.update({
            "size": i.size, "sha256": i.sha256, "from": i.from_, "to": i.to, "cc": i.cc,
            "reply_to": i.reply_to, "subject": i.subject, "date": i.date,
            "message_id": i.message_id, "in_reply_to": i.in_reply_to,
            "user_agent": i.user_agent, "eight_bit": i.eight_bit,
            "attachments": [{"filename": a.filename, "content_type": a.content_type,
                             "disposition": a.disposition, "size": a.size}
                            for a in i.attachments],
        })
    return out


def transaction_dict(t: Transaction) -> JSON:
    return {
        "index": t.index, "ts": t.ts, "mail_from": t.mail_from, "mail_params": t.mail_params,
        "mail_reply_code": t.mail_reply_code,
        "recipients": [{"address": r.address, "params": r.params, "reply_code": r.reply_code,
                        "reply_text": r.reply_text} for r in t.recipients],
        "method": t.method, "data_reply_code": t.data_reply_code, "ended": t.ended,
        "last_reply": t.last_reply,
        "message": message_dict(t.message) if t.message is not None else None,
    }


def session_dict(s: Session, reveal: bool = False) -> JSON:
    """Everything about a session as JSON-ready data."""
    return {
        "id": s.id, "source": s.source, "origin": s.origin, "client": _ep(s.client),
        "server": _ep(s.server), "ts_start": s.ts_start, "ts_end": s.ts_end,
        "exact_bytes": s.exact_bytes, "partial": s.partial, "greeting_code": s.greeting_code,
        "greeting": s.greeting_text, "helo_verb": s.helo_verb, "helo": s.helo,
        "capabilities": {k: list(v) for k, v in s.capabilities.items()}, "tls": s.tls,
        "implicit_tls": s.implicit_tls, "user": s.user, "quit": s.quit,
        "client_bytes": s.client_bytes, "server_bytes": s.server_bytes,
        "encrypted_bytes": s.encrypted_bytes, "gaps": s.gaps, "close_reason": s.close_reason,
        "auth": [auth_dict(a, reveal) for a in s.auth],
        "transactions": [transaction_dict(t) for t in s.transactions],
        "commands": [exchange_dict(e, reveal) for e in s.exchanges],
        "findings": [finding_dict(f) for f in s.findings],
        "undetermined": list(s.undetermined),
    }


CSV_FIELDS = ("source", "session", "client", "server", "severity", "id", "title", "detail",
              "direction", "ts", "offset", "location", "excerpt", "rfc")


#: the header row of :class:`FindingsCsv` (CRLF, as the csv module ends rows)
CSV_HEADER = ",".join(CSV_FIELDS) + "\r\n"


class FindingsCsv:
    """CSV of findings written as sessions arrive: one row per finding, with the
    session's source and endpoints (memory stays flat however many sessions)."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        out.write(CSV_HEADER)

    def add(self, s: Session) -> None:
        self._out.write(csv_rows(s))


_CSV_BUFFER = io.StringIO()
_CSV_WRITER = csv.DictWriter(_CSV_BUFFER, fieldnames=CSV_FIELDS, extrasaction="ignore")


def csv_rows(s: Session) -> str:
    """The CSV rows of a session's findings (:data:`CSV_FIELDS`, CRLF as csv writes)."""
    for f in s.findings:
        row = finding_dict(f)
        row.update(source=s.source, client=_ep(s.client), server=_ep(s.server))
        # CSV goes to terminals too: no control character from the wire goes raw
        _CSV_WRITER.writerow({k: visible(v) if isinstance(v, str) else v
                              for k, v in row.items()})
    rows = _CSV_BUFFER.getvalue()
    _CSV_BUFFER.seek(0)
    _CSV_BUFFER.truncate()
    return rows


def findings_csv(sessions: Iterable[Session]) -> str:
    """One CSV row per finding (with the session's source and endpoints)."""
    out = io.StringIO()
    writer = FindingsCsv(out)
    for s in sessions:
        writer.add(s)
    return out.getvalue()


class JsonDocument:
    """The ``--format json`` document, written as sessions arrive: ``version`` and
    ``files`` first, then each session, then ``problems`` and ``summary`` (known only at
    the end), so memory stays flat however many sessions there are."""

    def __init__(self, out: TextIO, head: JSON) -> None:
        self._out = out
        self._count = 0
        out.write("{\n")
        for key, value in head.items():
            out.write(f"  {json.dumps(key)}: {_indented(value)},\n")
        out.write('  "sessions": [')

    def add(self, session: JSON) -> None:
        self.add_entry(json_entry(session))

    def add_entry(self, entry: str) -> None:
        """A session already made into text by :func:`json_entry`."""
        self._out.write(("," if self._count else "") + "\n    " + entry)
        self._count += 1

    def close(self, tail: JSON) -> None:
        self._out.write("\n  ]" if self._count else "]")
        for key, value in tail.items():
            self._out.write(f",\n  {json.dumps(key)}: {_indented(value)}")
        self._out.write("\n}\n")


def json_entry(session: JSON) -> str:
    """A session as it stands in the ``sessions`` list of :class:`JsonDocument`."""
    return _indented(session, 4)


def _indented(value: Any, by: int = 2) -> str:
    return json.dumps(value, indent=2).replace("\n", "\n" + " " * by)


class Tally(NamedTuple):
    """What :class:`Totals` counts of one session (small: it crosses process pipes)."""

    auth: int
    auth_ok: int
    auth_failed: int
    messages: int
    findings: tuple[tuple[Severity, str], ...]  #: (severity, id) of each finding

    @classmethod
    def of(cls, s: Session) -> Tally:
        return cls(len(s.auth), sum(a.outcome == "success" for a in s.auth),
                   sum(a.outcome == "failure" for a in s.auth), len(s.messages),
                   tuple((f.severity, f.id) for f in s.findings))


@dataclass(slots=True)
class Totals:
    """Counts over many sessions, for summaries and exit codes."""

    sessions: int = 0
    auth: int = 0
    auth_ok: int = 0
    auth_failed: int = 0
    messages: int = 0
    findings: Counter[str] = field(default_factory=Counter)  #: by severity name
    by_id: Counter[str] = field(default_factory=Counter)
    worst: Severity | None = None

    def add(self, s: Session) -> None:
        self.add_tally(Tally.of(s))

    def add_tally(self, t: Tally) -> None:
        self.sessions += 1
        self.auth += t.auth
        self.auth_ok += t.auth_ok
        self.auth_failed += t.auth_failed
        self.messages += t.messages
        for severity, fid in t.findings:
            self.findings[str(severity)] += 1
            self.by_id[fid] += 1
            if self.worst is None or severity > self.worst:
                self.worst = severity

    def as_dict(self) -> JSON:
        return {"sessions": self.sessions, "auth_exchanges": self.auth,
                "auth_success": self.auth_ok, "auth_failure": self.auth_failed,
                "messages": self.messages, "findings": dict(self.findings),
                "findings_by_id": dict(self.by_id)}
