"""Sessions rebuilt from the corpus logs, checked through the whole analysis against what
the files themselves say: the AUTH mechanism, the decoded user, the outcome, messages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smtplens.analysis import analyze_file
from tests.helpers import CORPUS

SWAKS = CORPUS / "logs" / "swaks"
AUTH_FILES = sorted(p.name for p in SWAKS.glob("*") if p.is_file()
                    and re.search(r"^ -> AUTH ", p.read_text(errors="replace"), re.M)
                    ) if SWAKS.is_dir() else []


@pytest.mark.parametrize("name", AUTH_FILES)
def test_swaks_auth_exchanges(name: str, corpus: Path) -> None:
    text = (corpus / "logs" / "swaks" / name).read_text(errors="replace")
    sessions = list(analyze_file(str(corpus / "logs" / "swaks" / name)))
    exchanges = [a for s in sessions for a in s.auth]
    mechanisms = re.findall(r"^ [-~]> AUTH (\S+)", text, re.M)
    assert [a.mechanism for a in exchanges] == [m.upper() for m in mechanisms]
    for auth in exchanges:
        if "235 " in auth.reply_text or auth.reply_code == 235:
            assert auth.outcome == "success"
        elif auth.reply_code == 535:
            assert auth.outcome == "failure"
        # swaks --auth-plaintext prints the exchange already decoded ("334 Username:"):
        # nothing is Base64 there, so no user can be decoded
        plaintext = re.search(r"^<.  334 \w+:", text, re.M)
        if auth.mechanism in ("PLAIN", "LOGIN", "CRAM-MD5", "CRAM-SHA1") and \
                auth.outcome == "success" and not plaintext:
            assert auth.user, f"{name}: {auth.mechanism} user not decoded"


def test_swaks_message_count(corpus: Path) -> None:
    checked = 0
    for path in sorted(SWAKS.glob("*")):
        text = path.read_text(errors="replace")
        accepted = len(re.findall(r"^ [-~]> \.$", text, re.M))
        if not accepted or "BDAT" in text or "-> .\r" in text:
            continue
        sessions = list(analyze_file(str(path)))
        ended = sum(1 for s in sessions for t in s.transactions
                    if t.message is not None and t.message.end == "dot")
        assert ended == accepted, path.name
        checked += 1
    assert checked > 50


def test_exim_debug_users_are_masked_not_invalid(corpus: Path) -> None:
    for path in sorted((corpus / "logs" / "exim-debug").glob("*")):
        for s in analyze_file(str(path)):
            bad = [f for f in s.findings if f.id == "auth.invalid-base64"
                   and "****" in f.evidence.excerpt]
            assert not bad, path.name
