"""The command line: output formats, exit codes, redaction, errors without tracebacks."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from smtplens.cli import app, catalog_markdown
from tests.helpers import ROOT, SAMPLES

runner = CliRunner()
AUTH = str(SAMPLES / "auth-login.txt")
SMUGGLING = str(SAMPLES / "smuggling.txt")
PASSWORD_B64 = "czNjcmV0IQ=="  # base64 of the sample's password


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_analyze_text_summary_decodes_auth_and_redacts() -> None:
    code, out = run("analyze", AUTH)
    assert code == 1  # auth.cleartext is an error; the default --fail-on is error
    assert "Username:" in out or "User Name" in out
    assert "user 'alice'" in out and "auth.cleartext" in out
    assert "s3cret!" not in out and PASSWORD_B64 not in out
    assert "Summary: 1 session(s)" in out


def test_show_secrets_reveals_only_when_asked() -> None:
    _, out = run("show", AUTH, "--show-secrets")
    assert PASSWORD_B64 in out and "s3cret!" in out
    _, out = run("show", AUTH)
    assert PASSWORD_B64 not in out and "s3cret!" not in out


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_machine_formats_never_leak_secrets(fmt: str) -> None:
    code, out = run("analyze", "--format", fmt, "--fail-on", "never", AUTH)
    assert code == 0
    assert "s3cret!" not in out and PASSWORD_B64 not in out


def test_json_document_shape() -> None:
    _, out = run("analyze", "-f", "json", "--fail-on", "never", AUTH, SMUGGLING)
    doc = json.loads(out)
    assert doc["summary"]["sessions"] == 2
    auth = doc["sessions"][0]["auth"][0]
    assert auth["mechanism"] == "LOGIN" and auth["user"] == "alice"
    assert auth["steps"][0]["decoded"] in ("Username:", "User Name\\0")
    ids = {f["id"] for s in doc["sessions"] for f in s["findings"]}
    assert {"auth.cleartext", "data.smuggling-sequence"} <= ids


def test_jsonl_is_one_session_per_line() -> None:
    _, out = run("analyze", "-f", "jsonl", "--fail-on", "never", AUTH, SMUGGLING)
    lines = out.strip().splitlines()
    assert [json.loads(line)["source"] for line in lines] == [AUTH, SMUGGLING]


def test_csv_lists_findings() -> None:
    _, out = run("analyze", "-f", "csv", "--fail-on", "never", SMUGGLING)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["id"] for r in rows} == {"data.smuggling-sequence", "data.bare-lf"}
    assert all(r["source"] == SMUGGLING for r in rows)


@pytest.mark.parametrize(("level", "expected"), [
    ("error", 1), ("warning", 1), ("info", 1), ("never", 0)])
def test_fail_on_levels(level: str, expected: int) -> None:
    assert run("analyze", "--fail-on", level, SMUGGLING)[0] == expected


def test_fail_on_warning_vs_error(tmp_path: Path) -> None:
    only_warning = tmp_path / "w.txt"
    only_warning.write_text((SAMPLES / "unstuffed-dot.txt").read_text())
    assert run("analyze", "--fail-on", "error", str(only_warning))[0] == 0
    assert run("analyze", "--fail-on", "warning", str(only_warning))[0] == 1


def test_missing_file_is_exit_2_with_the_name(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pcap"
    code, out = run("analyze", str(missing))
    assert code == 2 and "nope.pcap" in out and "Traceback" not in out


def test_binary_junk_gets_a_clear_message(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 40)
    code, out = run("analyze", str(junk))
    assert code == 2 and "junk.bin" in out and "no SMTP transcript found" in out
    assert "Traceback" not in out


def test_one_bad_file_does_not_stop_the_others(tmp_path: Path) -> None:
    junk = tmp_path / "junk.txt"
    junk.write_text("hello world\n")
    code, out = run("analyze", "--fail-on", "never", str(junk), SMUGGLING)
    assert code == 2  # unusable input wins, but the good file is still analyzed
    assert "data.smuggling-sequence" in out and "junk.txt" in out


def test_unknown_input_format_is_a_usage_error() -> None:
    code, out = run("analyze", "--input-format", "nonsense", AUTH)
    assert code == 2 and "nonsense" in out


def test_show_one_session_and_a_missing_one() -> None:
    code, out = run("show", SMUGGLING, "--session", "T1")
    assert code == 0 and "C → DATA" in out and "data.smuggling-sequence" in out
    code, out = run("show", SMUGGLING, "--session", "T9")
    assert code == 2 and "no session 'T9'" in out


def test_show_places_findings_inside_the_conversation() -> None:
    _, out = run("show", str(SAMPLES / "unstuffed-dot.txt"))
    lines = out.splitlines()
    data = next(i for i, line in enumerate(lines) if "C → DATA" in line)
    finding = next(i for i, line in enumerate(lines) if "data.unstuffed-dot" in line)
    end = next(i for i, line in enumerate(lines) if "<end of data" in line)
    assert data < finding < end


def test_extract_writes_eml_files(tmp_path: Path) -> None:
    code, _ = run("analyze", "--fail-on", "never", "--extract", str(tmp_path), AUTH)
    files = sorted(tmp_path.glob("*.eml"))
    assert code == 0 and len(files) == 1
    body = files[0].read_bytes()
    assert body.startswith(b"From: alice@example.org") and b"\r\n.signature" in body


def test_catalog_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    assert catalog_markdown() in readme


def test_python_dash_m_and_stdin() -> None:
    proc = subprocess.run([sys.executable, "-m", "smtplens", "analyze", "--fail-on", "never",
                           "-"], input=(SAMPLES / "smuggling.txt").read_bytes(),
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert b"data.smuggling-sequence" in proc.stdout


def test_a_gigantic_line_is_cut_and_reported(tmp_path: Path) -> None:
    log = tmp_path / "huge.txt"
    log.write_bytes(b"S: 220 mx\nC: EHLO a\nS: 250 mx\nC: NOOP " + b"x" * 3_000_000
                    + b"\nS: 500 too long\nC: QUIT\nS: 221 bye\n")
    code, out = run("analyze", "--fail-on", "never", str(log))
    assert code == 0
    assert "line 4" in out and "3000009 octets was cut" in out
    assert "protocol.command-too-long" in out


@pytest.mark.parametrize("fmt", ["text", "json", "jsonl", "csv"])
def test_bytes_that_are_not_utf8_are_printed_escaped(tmp_path: Path, fmt: str) -> None:
    log = tmp_path / "latin1.txt"
    log.write_bytes(b"S: 220 mx\nC: EHLO a\nS: 250 mx\nC: VRFY caf\xe9\xff\n"
                    b"S: 550 Bad-char error for <caf\xe9\xff>\nC: QUIT\nS: 221 bye\n")
    for command in (["analyze", "-f", fmt, "--fail-on", "never"], ["show"]):
        result = runner.invoke(app, [*command, str(log)])
        assert result.exit_code == 0, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "caf" in run("show", str(log))[1]


def test_a_capture_with_nothing_usable_exits_2(tmp_path: Path) -> None:
    # issue 8: the first record header is impossible and nothing plausible follows; it
    # printed the problem and "no SMTP session found", then exited 0
    header = bytes.fromhex("d4c3b2a1 0200 0400 00000000 00000000 ffff0000 01000000")
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(header + b"\xff" * 16 + b"\x00" * 100)
    for command in ("analyze", "show"):
        code, out = run(command, str(bad))
        assert code == 2 and "bad.pcap" in out, out


def test_a_capture_without_smtp_exits_2(tmp_path: Path) -> None:
    header = bytes.fromhex("d4c3b2a1 0200 0400 00000000 00000000 ffff0000 01000000")
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(header)
    code, out = run("analyze", str(empty))
    assert code == 2 and "no SMTP session found" in out
