"""Agreement with Arkime's expected session fields on Arkime's captures (../shared/corpus).

For every SMTP session Arkime reports (``email.smtpHello``, ``email.src`` = MAIL FROM,
``email.dst`` = RCPT TO, ``email.subject`` decoded, ``user`` from AUTH), smtplens must
report the same values for the connection with the same client address and port.
"""

from __future__ import annotations

import json
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import pytest

from smtplens.analysis import analyze_file
from smtplens.model import Session
from tests.helpers import CORPUS

ARKIME = CORPUS / "pcap" / "arkime"
TESTS = sorted(p.name for p in ARKIME.glob("*.test")) if ARKIME.is_dir() else []

# (test file, client port, field) -> why smtplens differs on purpose
DELIBERATE: dict[tuple[str, int, str], str] = {
    ("ntlm_synthetic.test", 50011, "user"):
        "smtplens names the NTLM user with its domain (SMTPDOM\\jack); Arkime drops it",
    ("smtp-subject-multi-nospace.test", 58802, "subject"):
        "RFC 2047 §6.2: white space between adjacent encoded-words is not displayed; "
        "Arkime keeps it, smtplens (the standard email package) drops it",
}


def expected_sessions(test: Path) -> list[tuple[str, int, int, dict[str, Any]]]:
    doc = json.loads(test.read_text())
    out = []
    for s in doc.get("sessions3", []):
        body = s["body"]
        email = body.get("email")
        if not email or body.get("destination", {}).get("port") in (110, 143, 993):
            continue  # Arkime's email fields also cover IMAP/POP3 sessions
        fields: dict[str, Any] = {k: email[k] for k in ("smtpHello", "src", "dst", "subject")
                                  if k in email}
        if body.get("user"):
            fields["user"] = body["user"]
        out.append((body["source"]["ip"], body["source"]["port"],
                    body["destination"]["port"], fields))
    return out


def _addresses(*headers: str | None) -> list[str]:
    return [addr for _, addr in getaddresses([h for h in headers if h]) if addr]


def observed(s: Session) -> dict[str, Any]:
    """Our values in Arkime's terms: its src/dst join the envelope and the From/To/Cc
    header addresses."""
    hellos = [e.text.split(" ", 1)[1] if " " in e.text else "" for e in s.exchanges
              if e.verb in ("EHLO", "HELO", "LHLO")]
    subjects = [t.message.info.subject for t in s.transactions
                if t.message and t.message.info and t.message.info.subject is not None]
    infos = [t.message.info for t in s.transactions if t.message and t.message.info]
    return {
        "smtpHello": hellos,
        "src": [t.mail_from for t in s.transactions if t.mail_from is not None]
        + [a for i in infos for a in _addresses(i.from_)],
        "dst": [r.address for t in s.transactions for r in t.recipients]
        + [a for i in infos for a in _addresses(i.to, i.cc)],
        "subject": subjects,
        "user": [a.user for a in s.auth if a.user],
    }


def _norm(values: list[str]) -> set[str]:
    return {" ".join(v.lower().split()) for v in values}


@pytest.mark.parametrize("test_file", TESTS)
def test_arkime_fields_agree(test_file: str, corpus: Path) -> None:
    expected = expected_sessions(ARKIME / test_file)
    if not expected:
        pytest.skip(f"{test_file}: Arkime reports no SMTP fields")
    pcap = ARKIME / test_file.replace(".test", ".pcap")
    sessions = list(analyze_file(str(pcap)))
    by_client = {(s.client.host, s.client.port): s for s in sessions if s.client}
    problems = []
    for host, port, server_port, fields in expected:
        session = by_client.get((host, port))
        if session is None:
            problems.append(f"{test_file}: no session for {host}:{port} -> :{server_port}")
            continue
        ours = observed(session)
        for name, theirs in fields.items():
            if _norm(ours[name]) != _norm(theirs) and (test_file, port, name) not in DELIBERATE:
                problems.append(f"{test_file} {host}:{port} {name}: arkime={theirs!r} "
                                f"smtplens={ours[name]!r}")
    assert not problems, "\n".join(problems)
