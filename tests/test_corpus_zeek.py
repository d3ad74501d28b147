"""Agreement with Zeek's smtp.log on Zeek's own captures (../shared/corpus).

Every row Zeek wrote is matched to smtplens' transaction on the same connection
(4-tuple, transaction number) and the content fields are compared. Where smtplens
disagrees with Zeek on purpose, ``DELIBERATE`` says why; any other difference fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from smtplens.analysis import analyze_file
from smtplens.model import Session, Transaction

# capture -> the expected/zeek folder holding its smtp.log (corpus README's table)
PAIRS = {
    "smtp.pcap": "scripts.base.protocols.smtp.basic",
    "smtp-attachment-msg.pcap": "scripts.base.protocols.smtp.attachment-msg",
    "smtp_rfc3030-bdat-example1.pcap": "scripts.base.protocols.smtp.bdat",
    "smtp_rfc3030-bdat-0-last.pcap": "scripts.base.protocols.smtp.bdat-0-last",
    "smtp_rfc3030-bdat-multipart.pcap": "scripts.base.protocols.smtp.bdat-multipart",
    "smtp_rfc3030-bdat-multipart-chunked.pcap":
        "scripts.base.protocols.smtp.bdat-multipart-chunked",
    "smtp-bdat-cmd-chunk-size-overflow.pcap":
        "scripts.base.protocols.smtp.bdat-chunk-size-overflow",
    "smtp-bdat-cmd-chunk-size-overflow2.pcap":
        "scripts.base.protocols.smtp.bdat-chunk-size-overflow2",
    "smtp-bdat-cmd-invalid.pcapng": "scripts.base.protocols.smtp.bdat-cmd-invalid",
    "smtp-bdat-cmd-negative-chunk-size.pcap":
        "scripts.base.protocols.smtp.bdat-negative-chunk-size",
    "smtp-bdat-gap.pcap": "scripts.base.protocols.smtp.bdat-gap",
    "smtp-bdat-pipeline-8bitmime.pcap": "scripts.base.protocols.smtp.bdat-pipeline-8bitmime",
    "smtp-mail-transactions-invalid.pcap":
        "scripts.base.protocols.smtp.mail-transactions-invalid",
    "smtp-one-side-only.pcap": "scripts.base.protocols.smtp.one-side",
    "tls_smtp-starttls.pcap": "scripts.base.protocols.smtp.starttls",
    "http_connect-with-smtp.pcap": "scripts.base.protocols.http.http-connect",
}
FIELDS = ("helo", "mailfrom", "rcptto", "date", "from", "to", "cc", "reply_to", "msg_id",
          "in_reply_to", "subject", "last_reply", "user_agent", "tls")
SET_FIELDS = {"rcptto", "to", "cc"}

# (capture, row number, field) -> why smtplens differs from Zeek on purpose
_GAP = ("Zeek stops reading MIME after the gap inside BDAT; the client then sent the "
        "message again with DATA, and smtplens reads that message's headers")
DELIBERATE: dict[tuple[str, int, str], str] = {
    ("smtp-bdat-gap.pcap", 1, "from"): _GAP,
    ("smtp-bdat-gap.pcap", 1, "to"): _GAP,
    ("smtp-bdat-gap.pcap", 1, "subject"): _GAP,
}


@dataclass
class Row:
    key: tuple[str, int, str, int]
    depth: int
    fields: dict[str, object]


def zeek_rows(log: Path) -> list[Row]:
    names: list[str] = []
    rows = []
    for line in log.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
        if line.startswith("#fields"):
            names = line.split("\t")[1:]
            continue
        if not line or line.startswith("#"):
            continue
        values = dict(zip(names, line.split("\t"), strict=False))
        fields: dict[str, object] = {}
        for name in FIELDS:
            raw = values.get(name, "-")
            if raw == "-":
                fields[name] = None
            elif name in SET_FIELDS:
                fields[name] = frozenset(p.strip() for p in raw.split(",") if p.strip())
            elif name == "tls":
                fields[name] = raw == "T"
            else:
                fields[name] = _unescape(raw)
        key = (values["id.orig_h"], int(values["id.orig_p"]), values["id.resp_h"],
               int(values["id.resp_p"]))
        rows.append(Row(key, int(values["trans_depth"]), fields))
    return rows


def _unescape(text: str) -> str:
    return re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), text)


def _split_addresses(value: str | None) -> frozenset[str] | None:
    """A header's address list split at top-level commas, as Zeek's sets hold it."""
    if value is None:
        return None
    parts, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(value):
        if ch == '"':
            quoted = not quoted
        elif ch == "<" and not quoted:
            depth += 1
        elif ch == ">" and not quoted:
            depth = max(0, depth - 1)
        elif ch == "," and not quoted and depth == 0:
            parts.append(value[start:i])
            start = i + 1
    parts.append(value[start:])
    return frozenset(p.strip() for p in parts if p.strip())


def our_fields(s: Session, t: Transaction) -> dict[str, object]:
    info = t.message.info if t.message is not None else None
    return {
        "helo": s.helo, "mailfrom": t.mail_from or None,
        "rcptto": frozenset(r.address for r in t.recipients) or None,
        "date": info.date if info else None,
        "from": info.from_ if info else None,
        "to": _split_addresses(info.to) if info else None,
        "cc": _split_addresses(info.cc) if info else None,
        "reply_to": info.reply_to if info else None,
        "msg_id": info.message_id if info else None,
        "in_reply_to": info.in_reply_to if info else None,
        "subject": info.subject_raw if info else None,
        "last_reply": t.last_reply or None, "user_agent": info.user_agent if info else None,
        "tls": s.tls,
    }


def session_fields(s: Session) -> dict[str, object]:
    replies = [e for e in s.exchanges if e.reply_code is not None]
    last = replies[-1] if replies else None
    fields: dict[str, object] = dict.fromkeys(FIELDS)
    fields.update(helo=s.helo, tls=s.tls, last_reply=(
        f"{last.reply_code} {last.reply_text.splitlines()[-1]}" if last else None))
    return fields


@pytest.mark.parametrize("capture", sorted(PAIRS))
def test_zeek_smtp_log_agreement(capture: str, corpus: Path) -> None:
    pcap = corpus / "pcap" / "zeek" / capture
    log = corpus / "expected" / "zeek" / PAIRS[capture] / "smtp.log"
    sessions = list(analyze_file(str(pcap), ports=frozenset({25, 587, 2525, 465, 24, 1224})))
    by_key: dict[tuple[str, int, str, int], Session] = {}
    for s in sessions:
        if s.client and s.server and s.client.port is not None and s.server.port is not None:
            by_key[(s.client.host, s.client.port, s.server.host, s.server.port)] = s
    disagreements, compared = [], 0
    position: dict[tuple[str, int, str, int], int] = {}
    for n, row in enumerate(zeek_rows(log), 1):
        session = by_key.get(row.key)
        assert session is not None, f"{capture}: no session for {row.key}"
        # Zeek writes one row per envelope in order (its trans_depth counts messages, and
        # repeats for envelopes that carried none): match rows to transactions in order
        index = position.get(row.key, 0)
        position[row.key] = index + 1
        txs = session.transactions
        if not txs and index == 0:
            ours = session_fields(session)  # a session without MAIL (e.g. STARTTLS only)
        else:
            assert index < len(txs), f"{capture}: Zeek row {n}, we have {len(txs)} envelopes"
            ours = our_fields(session, txs[index])
        for name, theirs in row.fields.items():
            compared += 1
            mine = ours[name]
            if _norm(mine) != _norm(theirs) and (capture, n, name) not in DELIBERATE:
                disagreements.append(f"{capture} row {n} {name}: zeek={theirs!r} "
                                     f"smtplens={mine!r}")
    assert not disagreements, "\n".join(disagreements)
    assert compared


def _norm(value: object) -> object:
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, frozenset):
        return frozenset(" ".join(v.split()) for v in value)
    return value
