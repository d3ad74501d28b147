"""audit/observe.py: what an audit keeps of a session."""

from __future__ import annotations

import pickle
from pathlib import Path

from smtplens.analysis import analyze_file
from smtplens.audit.observe import observe

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def test_what_the_server_offered_before_tls_is_kept_for_tls_sessions() -> None:
    # samples/postfix-debug.log, session 2: EHLO, STARTTLS, EHLO again inside TLS
    sessions = list(analyze_file(str(SAMPLES / "postfix-debug.log"), jobs=1))
    tls = next(s for s in sessions if s.tls)
    assert "STARTTLS" not in tls.capabilities  # the reply inside TLS
    seen = observe(tls)
    assert seen.starttls_offered is True and seen.auth_before_tls is True


def test_a_session_reduced() -> None:
    [s] = list(analyze_file(str(SAMPLES / "swaks-auth-login.log"), jobs=1))
    seen = observe(s)
    assert (seen.file, seen.session, seen.origin) == (s.source, s.id, "swaks")
    assert [(a.mechanism, a.user, a.outcome) for a in seen.auth] == \
        [(a.mechanism, a.user, a.outcome) for a in s.auth]
    assert {h.id for h in seen.hits} == {f.id for f in s.findings}
    assert seen.messages == len(s.messages)
    assert pickle.loads(pickle.dumps(seen)) == seen
    # no secret in what is kept: the record's text is the user name, never a password
    assert "[redacted" not in repr(seen.auth)


def test_the_clients_address_has_no_port() -> None:
    sessions = list(analyze_file(str(SAMPLES / "auth-login.pcap"), jobs=1))
    seen = observe(sessions[0])
    assert seen.client == "127.0.0.1" and seen.server is not None and ":" in seen.server
