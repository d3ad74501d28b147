"""log.secret-in-log: a log file that holds credentials (checks/logsecrets.py and the
Postfix reader's decoded-response line)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from smtplens.analysis import analyze_file
from smtplens.model import Session

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
PASSWORDS = ("wonderland", "wrong")  # what samples/smtplib-debug.log sends in Base64


def _sessions(path: Path | str) -> list[Session]:
    return list(analyze_file(str(path), jobs=1))


def _hits(sessions: list[Session]) -> list[tuple[str, str]]:
    return [(s.id, f.evidence.location) for s in sessions for f in s.findings
            if f.id == "log.secret-in-log"]


@pytest.mark.parametrize("name", ["smtplib-debug.log", "swaks-auth-login.log",
                                  "postfix-debug.log", "curl-verbose.log"])
def test_client_and_server_debug_logs_that_hold_credentials(name: str) -> None:
    sessions = _sessions(SAMPLES / name)
    exposed = [s for s in sessions if any(a.secrets_exposed for a in s.auth)]
    assert exposed, "the sample authenticates with a recoverable secret"
    hits = _hits(sessions)
    # one finding per session that exposed a secret, at the line of its first AUTH
    assert sorted(i for i, _ in hits) == sorted(s.id for s in exposed)
    assert all(loc.startswith("line ") for _, loc in hits)


def test_the_line_is_the_first_auth_that_exposed_a_secret() -> None:
    s = _sessions(SAMPLES / "smtplib-debug.log")[0]
    finding = next(f for f in s.findings if f.id == "log.secret-in-log")
    first = next(a for a in s.auth if a.secrets_exposed)
    command = next(e for e in s.exchanges if e.item == first.item)
    assert finding.evidence.location == command.location
    assert f"AUTH {first.mechanism}" in finding.detail
    assert "more AUTH exchanges" in finding.detail  # three AUTH in this session


@pytest.mark.parametrize("name", ["auth-login.pcap", "auth-login.txt"])
def test_captures_and_hand_written_transcripts_are_not_logs(name: str) -> None:
    sessions = _sessions(SAMPLES / name)
    assert any(a.secrets_exposed for s in sessions for a in s.auth)
    assert _hits(sessions) == []  # auth.cleartext says it; the file is not a log


def test_phpmailer_masks_credentials_itself() -> None:
    sessions = _sessions(SAMPLES / "phpmailer-debug.log")  # "[credentials hidden]"
    assert any(s.auth for s in sessions)
    assert _hits(sessions) == []


def test_a_log_that_masked_the_credentials_holds_none(tmp_path: Path) -> None:
    text = (SAMPLES / "smtplib-debug.log").read_text()
    masked = tmp_path / "masked.log"
    for secret in ("AGFsaWNlAHdyb25n", "d3Jvbmc=", "d29uZGVybGFuZA==",
                   "AGFsaWNlAHdvbmRlcmxhbmQ="):
        text = text.replace(secret, "****")
    masked.write_text(text)
    sessions = _sessions(masked)
    assert not any(a.secrets_exposed for s in sessions for a in s.auth)
    assert _hits(sessions) == []


def _cyrus_log(tmp_path: Path) -> Path:
    """samples/postfix-debug.log as Postfix with Cyrus SASL at debug_peer_level 2
    writes it: the decoded response after the client's AUTH PLAIN line."""
    out = []
    for line in (SAMPLES / "postfix-debug.log").read_text().splitlines():
        out.append(line)
        if "< unknown[127.0.0.1]: AUTH PLAIN " in line:
            head, _, _ = line.partition("< unknown")
            out.append(f"{head}xsasl_cyrus_server_next: decoded response: "
                       "\x00alice\x00Cyrus-Secret-77")
    path = tmp_path / "maillog-cyrus.log"
    path.write_text("\n".join(out) + "\n")
    return path


def test_postfix_decoded_response_line_is_named_never_shown(tmp_path: Path) -> None:
    path = _cyrus_log(tmp_path)
    sessions = _sessions(path)
    numbered = path.read_text().splitlines()
    line = next(i for i, t in enumerate(numbered, 1) if "decoded response" in t)
    found = [f for s in sessions for f in s.findings if f.id == "log.secret-in-log"]
    assert any(f.evidence.location == f"line {line}" and "decoded SASL response" in f.detail
               for f in found)
    outputs = {}
    for fmt in ("json", "text", "csv"):
        out = subprocess.run([sys.executable, "-m", "smtplens", "analyze", "--format", fmt,
                              "--fail-on", "never", "-j1", str(path)],
                             capture_output=True, text=True, check=True)
        assert "Cyrus-Secret-77" not in out.stdout + out.stderr
        outputs[fmt] = out.stdout
    doc = json.loads(outputs["json"])
    ids = [f["id"] for s in doc["sessions"] for f in s["findings"]]
    assert ids.count("log.secret-in-log") == len({s["id"] for s in doc["sessions"]
                                                  if any(a["secrets_exposed"]
                                                         for a in s["auth"])})
