"""The tables of :class:`~smtplens.frames.Frames`: their columns, dtypes and meaning in
one place (:data:`COLUMNS`; the README's table is made from it and a test keeps both in
step with the real frames), and the rows one session gives.

Rows are built as each session arrives and the session is dropped (:class:`Rows`), so a
large input never holds its sessions, only their rows; message bodies are never rows.
"""

from __future__ import annotations

from typing import Any, Final

import pandas as pd

from smtplens.model import Session
from smtplens.pipeline import Problem
from smtplens.report import finding_dict
from smtplens.sasl import SaslStep
from smtplens.secret import Secret
from smtplens.stream import Direction
from smtplens.timestamps import TS_MAX, TS_MIN

TIME: Final = "datetime64[ns, UTC]"

#: table -> column -> (dtype, what it holds)
COLUMNS: dict[str, dict[str, tuple[str, str]]] = {
    "sessions": {
        "session": ("string", "session id (unique within its file)"),
        "source": ("string", "the input file"),
        "origin": ("category", "the reader: pcap, postfix-log, swaks, ..."),
        "client": ("string", "client address[:port]"),
        "server": ("string", "server address[:port]"),
        "start": (TIME, "first packet or log line"),
        "end": (TIME, "last packet or log line"),
        "greeting_code": ("Int16", "the 220 (or refusal) the server greeted with"),
        "helo": ("string", "the EHLO/HELO argument (the last one sent)"),
        "tls": ("boolean", "STARTTLS succeeded or implicit TLS"),
        "user": ("string", "the user of the last successful AUTH (or the last tried)"),
        "messages": ("Int64", "messages sent"),
        "findings": ("Int64", "findings of the session"),
        "client_bytes": ("Int64", "octets the client sent"),
        "server_bytes": ("Int64", "octets the server sent"),
    },
    "commands": {
        "session": ("string", "session id"),
        "source": ("string", "the input file (ids are unique within a file)"),
        "item": ("Int64", "order of the client line in the session (1, 2, ...)"),
        "kind": ("category", "command, auth (an AUTH answer line) or data-end"),
        "verb": ("category", "EHLO, MAIL, ...; AUTH-ANSWER; '.' for the end of a message"),
        "text": ("string", "the line as shown, secrets redacted unless reveal=True"),
        "meaning": ("string", "what an AUTH line decodes to"),
        "ts": (TIME, "when the client sent it"),
        "reply_code": ("Int16", "the reply's code"),
        "enhanced": ("string", "the reply's RFC 3463 status (5.7.8)"),
        "reply": ("string", "all reply lines, joined by newlines"),
        "reply_note": ("string", "what a 334 challenge decodes to"),
        "latency_ms": ("Float64", "milliseconds from the line to the first reply line"),
        "pipelined": ("boolean", "sent while earlier lines still waited for replies"),
        "offset": ("Int64", "client stream offset of the line"),
        "location": ("string", "where in the source file (line 12, record 40)"),
    },
    "auth": {
        "session": ("string", "session id"),
        "source": ("string", "the input file (ids are unique within a file)"),
        "exchange": ("Int64", "the AUTH's number in the session (1, 2, ...)"),
        "mechanism": ("category", "PLAIN, LOGIN, CRAM-MD5, XOAUTH2, ..."),
        "user": ("string", "the authentication identity, when the mechanism shows it"),
        "outcome": ("category", "success, failure, cancelled or unknown"),
        "reply_code": ("Int16", "the final reply (235, 535, ...)"),
        "encrypted": ("boolean", "the exchange ran inside TLS"),
        "advertised": ("boolean", "the mechanism was in EHLO's AUTH list"),
        "steps": ("Int64", "lines of the exchange (see auth_steps)"),
        "ts": (TIME, "when AUTH was sent"),
    },
    "auth_steps": {
        "session": ("string", "session id"),
        "source": ("string", "the input file (ids are unique within a file)"),
        "exchange": ("Int64", "the AUTH's number in the session (auth.exchange)"),
        "mechanism": ("category", "the SASL mechanism"),
        "step": ("Int64", "the line's number in the exchange (1, 2, ...)"),
        "direction": ("category", "C (client answer) or S (server 334 challenge)"),
        "wire": ("string", "the Base64 as sent; redacted when it holds a secret"),
        "decoded": ("string", "its decoded text: Username:, user \"alice\", a CRAM-MD5 "
                              "challenge, an NTLM summary, an XOAUTH2 error; secrets "
                              "redacted unless reveal=True"),
        "meaning": ("category", "prompt, challenge, error, user, password, token, "
                                "response, cancel or other"),
        "valid_base64": ("boolean", "the line is valid Base64 (RFC 4648)"),
        "error": ("string", "why it could not be decoded, if so"),
        "ts": (TIME, "when the AUTH command was sent"),
    },
    "messages": {
        "session": ("string", "session id"),
        "source": ("string", "the input file (ids are unique within a file)"),
        "index": ("Int64", "the transaction's number in the session"),
        "mail_from": ("string", "the reverse-path ('' for <>)"),
        "recipients": ("string", "RCPT TO addresses, comma-joined"),
        "method": ("category", "DATA or BDAT (none: no content sent)"),
        "size": ("Int64", "message octets (unstuffed)"),
        "sha256": ("string", "SHA-256 of the message"),
        "subject": ("string", "decoded Subject"),
        "from": ("string", "From header"),
        "to": ("string", "To header"),
        "date": ("string", "Date header"),
        "message_id": ("string", "Message-ID header"),
        "attachments": ("string", "attachment names (or types), comma-joined"),
        "reply_code": ("Int16", "the server's verdict on the message"),
        "complete": ("boolean", "ended properly with no bytes missing"),
        "ts": (TIME, "MAIL FROM time"),
    },
    "findings": {
        "session": ("string", "session id"),
        "source": ("string", "the input file (ids are unique within a file)"),
        "id": ("category", "catalog id (smtplens catalog)"),
        "severity": ("category", "error, warning or info"),
        "title": ("string", "the catalog title"),
        "detail": ("string", "what exactly was seen"),
        "direction": ("category", "C or S: whose bytes show it"),
        "ts": (TIME, "time of the bytes"),
        "offset": ("Int64", "stream offset of the bytes"),
        "location": ("string", "where in the source file"),
        "excerpt": ("string", "a short, escaped, redacted excerpt"),
    },
    "problems": {
        "source": ("string", "the input file"),
        "location": ("string", "where in it (line, record, offset)"),
        "message": ("string", "what is wrong with the input"),
        "code": ("category", "input.unreadable, input.no-smtp, ..."),
        "fatal": ("boolean", "the file could not be read any further"),
    },
}

#: text columns keep Python strings: wire bytes that were not UTF-8 travel as surrogate
#: escapes, which pandas' pyarrow-backed strings (its default once pyarrow is installed)
#: cannot hold
TEXT = pd.StringDtype("python")


def columns_markdown() -> str:
    """The README's table of every frame's columns."""
    rows = ["| frame | column | dtype | what |", "|---|---|---|---|"]
    for table, columns in COLUMNS.items():
        for name, (dtype, what) in columns.items():
            rows.append(f"| `{table}` | `{name}` | `{dtype}` | {what} |")
    return "\n".join(rows) + "\n"


def frame(table: str, data: dict[str, list[Any]] | list[dict[str, Any]]) -> pd.DataFrame:
    """The DataFrame of ``data`` (columns of values, or rows) with the table's columns
    and dtypes."""
    columns = COLUMNS[table]
    df = pd.DataFrame(data, columns=list(columns), dtype=object)  # no inference: see TEXT
    for name, (dtype, _) in columns.items():
        if dtype == "string":
            df[name] = df[name].astype(TEXT)
        elif dtype == "category":  # its categories are text too (sorted, as astype does)
            values = df[name]
            found = sorted({v for v in values if isinstance(v, str)})
            df[name] = pd.Categorical(values, categories=pd.Index(found, dtype=TEXT))
        elif dtype == TIME:
            # a time outside the window every view shares (smtplens.timestamps) is
            # NaT, not OutOfBoundsDatetime: the input problem was reported already
            seconds = pd.to_numeric(df[name], errors="coerce")
            seconds = seconds.where((seconds >= TS_MIN) & (seconds <= TS_MAX))
            df[name] = pd.to_datetime(seconds, unit="s", utc=True).astype(TIME)
        else:
            df[name] = df[name].astype(dtype)  # type: ignore[call-overload]
    return df


def step_meaning(step: SaslStep) -> str:
    """What one AUTH line is, in one word (the ``auth_steps.meaning`` column)."""
    names = {name for name, _ in step.fields}
    label = step.label.split(" ", 1)[0]
    if step.direction is Direction.SERVER:
        if label == "prompt":
            return "prompt"
        return "error" if label == "error" else "challenge"
    if label == "cancel":
        return "cancel"
    if "password" in names:
        return "password"
    if "token" in names:
        return "token"
    if names & {"response", "NTLMv1 response", "NTLMv2 response"} or label in (
            "digest-response", "response", "NTLM"):
        return "response"
    if names & {"user", "username", "authzid"}:
        return "user"
    return "other"


class _Table:
    """One table's values, column by column (a list per column, not a dict per row:
    a large input has millions of rows)."""

    __slots__ = ("columns",)

    def __init__(self, names: list[str]) -> None:
        self.columns: dict[str, list[Any]] = {name: [] for name in names}

    def append(self, row: dict[str, Any]) -> None:
        for name, values in self.columns.items():
            values.append(row[name])


class Rows:
    """Rows of every table, added a session at a time (the session is not kept)."""

    def __init__(self, reveal: bool = False) -> None:
        self.reveal = reveal
        self.tables = {t: _Table(list(columns)) for t, columns in COLUMNS.items()}

    def add_problem(self, p: Problem) -> None:
        self.tables["problems"].append({"source": p.source, "location": p.location,
                                        "message": p.message, "code": p.code,
                                        "fatal": p.fatal})

    def add(self, s: Session) -> None:
        reveal, t = self.reveal, self.tables
        t["sessions"].append({
            "session": s.id, "source": s.source, "origin": s.origin,
            "client": str(s.client) if s.client else None,
            "server": str(s.server) if s.server else None, "start": s.ts_start,
            "end": s.ts_end, "greeting_code": s.greeting_code, "helo": s.helo,
            "tls": s.tls, "user": s.user, "messages": len(s.messages),
            "findings": len(s.findings), "client_bytes": s.client_bytes,
            "server_bytes": s.server_bytes})
        for e in s.exchanges:
            t["commands"].append({
                "session": s.id, "source": s.source, "item": e.item, "kind": e.kind, "verb": e.verb,
                "text": e.shown(reveal), "meaning": e.meaning(reveal), "ts": e.ts,
                "reply_code": e.reply_code, "enhanced": e.enhanced, "reply": e.reply_text,
                "reply_note": e.reply_note,
                "latency_ms": None if e.latency is None else e.latency * 1000,
                "pipelined": e.pipelined, "offset": e.offset, "location": e.location})
        for number, a in enumerate(s.auth, 1):
            t["auth"].append({
                "session": s.id, "source": s.source, "exchange": number, "mechanism": a.mechanism,
                "user": a.user, "outcome": a.outcome, "reply_code": a.reply_code,
                "encrypted": a.encrypted, "advertised": a.advertised,
                "steps": len(a.steps), "ts": a.ts})
            for step_no, st in enumerate(a.steps, 1):
                wire = st.wire.show(reveal) if isinstance(st.wire, Secret) else st.wire
                t["auth_steps"].append({
                    "session": s.id, "source": s.source, "exchange": number,
                    "mechanism": a.mechanism,
                    "step": step_no, "direction": st.direction.value, "wire": wire,
                    "decoded": st.describe(reveal), "meaning": step_meaning(st),
                    "valid_base64": st.valid_base64, "error": st.error, "ts": a.ts})
        for tx in s.transactions:
            m = tx.message
            info = m.info if m is not None else None
            t["messages"].append({
                "session": s.id, "source": s.source, "index": tx.index, "mail_from": tx.mail_from,
                "recipients": ",".join(r.address for r in tx.recipients),
                "method": tx.method, "size": info.size if info else None,
                "sha256": info.sha256 if info else None,
                "subject": info.subject if info else None,
                "from": info.from_ if info else None, "to": info.to if info else None,
                "date": info.date if info else None,
                "message_id": info.message_id if info else None,
                "attachments": ",".join(a.filename or a.content_type
                                        for a in info.attachments) if info else None,
                "reply_code": m.reply_code if m else None,
                "complete": m.complete if m else None, "ts": tx.ts})
        for f in s.findings:
            d = finding_dict(f)
            d["source"] = s.source
            t["findings"].append({k: d[k] for k in COLUMNS["findings"]})

    def frames(self) -> dict[str, pd.DataFrame]:
        return {name: frame(name, table.columns) for name, table in self.tables.items()}
