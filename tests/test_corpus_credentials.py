"""Credentials in the corpus captures: decoded, redacted by default, and the same bytes
Zeek saw (Zeek passes AUTH lines through raw; its dump-events output shows them)."""

from __future__ import annotations

import re
from pathlib import Path

from smtplens.analysis import analyze_file
from smtplens.report import session_dict


def test_zeek_smtp_pcap_auth_login(corpus: Path) -> None:
    (session,) = [s for s in analyze_file(str(corpus / "pcap" / "zeek" / "smtp.pcap"))
                  if s.auth]
    (auth,) = session.auth
    assert (auth.mechanism, auth.outcome, auth.user) == ("LOGIN", "success",
                                                       "gurpartap@patriots.in")
    prompts = [s.describe() for s in auth.steps if s.direction.value == "S"]
    assert prompts == ["Username:", "Password:"]
    password = auth.steps[-1].fields[-1][1]
    assert not isinstance(password, str) and password.reveal() == "punjab@123"
    assert "punjab@123" not in str(session_dict(session))
    assert "punjab@123" in str(session_dict(session, reveal=True))
    # the client's Base64 lines are the ones Zeek's events carry
    events = (corpus / "expected" / "zeek" / "scripts.policy.misc.dump-events" /
              "all-events.log").read_text(errors="replace")
    wires = re.findall(r"arg: string\s+= (\S+)", events)
    answers = [e.shown(reveal=True) for e in session.exchanges if e.kind == "auth"]
    assert answers and all(a in wires for a in answers)


def test_arkime_auth_plain_on_587(corpus: Path) -> None:
    (session,) = analyze_file(str(corpus / "pcap" / "arkime" / "smtp-data-250.pcap"))
    (auth,) = session.auth
    assert (auth.mechanism, auth.outcome, auth.user) == ("PLAIN", "success",
                                                       "12345678@aol.com")
    assert session.server is not None and session.server.port == 587
    assert "auth.cleartext" in {f.id for f in session.findings}


def test_no_output_leaks_the_password(corpus: Path) -> None:
    from typer.testing import CliRunner

    import smtplens
    from smtplens.cli import app

    pcap = str(corpus / "pcap" / "zeek" / "smtp.pcap")
    secrets = ("punjab@123", "cHVuamFiQDEyMw==")
    runner = CliRunner()
    outputs = [runner.invoke(app, ["show", pcap]).output]
    for fmt in ("text", "json", "jsonl", "csv"):
        outputs.append(runner.invoke(app, ["analyze", "-f", fmt, pcap]).output)
    frames = smtplens.load(pcap)
    outputs += [frames.commands.to_csv(), frames.auth.to_csv(), frames.findings.to_csv()]
    for out in outputs:
        assert not any(s in out for s in secrets)
    revealed = runner.invoke(app, ["show", "--show-secrets", pcap]).output
    assert all(s in revealed for s in secrets)
