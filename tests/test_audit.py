"""``smtplens audit`` end to end: a folder that mixes real captures and real logs with a
corrupt capture, binary junk and an unreadable file; totals, bad files, cross-session
findings, secrets, exit codes, outputs, ``--state``, ``--since``, jobs and Dask."""

from __future__ import annotations

import csv
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from smtplens.analysis import analyze_file
from smtplens.audit.observe import observe
from smtplens.audit.report import EXIT_BAD_FILES, EXIT_FINDINGS, EXIT_OK, EXIT_UNUSABLE
from smtplens.cli.audit import AuditArgs, parse_span, parse_when, run_audit
from smtplens.errors import SmtplensError

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
CORPUS = ROOT.parent / "shared" / "corpus"
#: real-software inputs (see samples/make_samples.py and make_pcap_samples.py)
GOOD = ["postfix-maillog.log", "exim-mainlog.log", "auth-login.pcap", "smuggling.pcap",
        "audit-guessing.pcap",
        "swaks-auth-login.log", "postfix-debug.log", "smtplib-debug.log", "curl-verbose.log"]
#: passwords those samples carry (Base64 or plain): no output may show one
PASSWORDS = ["wonderland", "sample-password-1", "s3cret!", "Cyrus-Secret-77",
             "correct-horse-9", "bobs-password-3", "guess-0", "Summer2024!", "bob3"]


def _folder(tmp_path: Path) -> Path:
    top = tmp_path / "mail"
    (top / "logs" / "old").mkdir(parents=True)
    (top / "captures").mkdir()
    for name in GOOD:
        where = "captures" if name.endswith(".pcap") else "logs"
        shutil.copy(SAMPLES / name, top / where / name)
    # Postfix with Cyrus SASL at debug_peer_level 2: the decoded response, in clear
    lines = []
    for line in (SAMPLES / "postfix-debug.log").read_text().splitlines():
        lines.append(line)
        if "< unknown[127.0.0.1]: AUTH PLAIN " in line:
            head = line.partition("< unknown")[0]
            lines.append(f"{head}xsasl_cyrus_server_next: decoded response: "
                         "\x00alice\x00Cyrus-Secret-77")
    (top / "logs" / "old" / "cyrus-debug.log").write_text("\n".join(lines) + "\n")
    pcap = (SAMPLES / "auth-login.pcap").read_bytes()
    # a capture whose first record claims an impossible length
    (top / "captures" / "corrupt.pcap").write_bytes(
        pcap[:24] + struct.pack("<IIII", 0, 0, 0x7FFFFFFF, 0x7FFFFFFF) + b"x" * 100)
    (top / "junk.bin").write_bytes(bytes(range(256)) * 20)
    os.symlink(top / "nowhere.log", top / "logs" / "gone.log")  # unreadable: dangling
    return top


BAD = {"captures/corrupt.pcap", "junk.bin", "logs/gone.log"}


def _audit(paths: list[Path | str], tmp: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    out = tmp / f"report-{len(list(tmp.glob('report-*')))}.json"
    done = subprocess.run([sys.executable, "-m", "smtplens", "audit", "--quiet",
                           "--json", str(out), *extra, *map(str, paths)],
                          capture_output=True, text=True)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(out.read_text())


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _folder(tmp_path_factory.mktemp("audit"))


@pytest.fixture(scope="module")
def report(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("out")
    code, doc = _audit([folder], tmp, "--fail-on", "never", "--jobs", "2",
                       "--csv", str(tmp / "csv"), "--report", str(tmp / "audit.html"))
    doc["_code"], doc["_tmp"] = code, str(tmp)
    return doc


def _relative(doc: dict[str, Any], folder: Path) -> dict[str, dict[str, Any]]:
    return {os.path.relpath(f["path"], folder): f for f in doc["files"]}


def test_every_file_is_listed_and_the_bad_ones_say_why(report: dict[str, Any],
                                                       folder: Path) -> None:
    files = _relative(report, folder)
    assert len(files) == len(GOOD) + 1 + len(BAD)
    assert {p for p, f in files.items() if f["bad"]} == BAD
    assert report["totals"]["bad_files"] == len(BAD)
    corrupt = files["captures/corrupt.pcap"]["problems"]
    assert any("impossible length" in p["message"] and "offset 24" in p["location"]
               for p in corrupt)
    assert any("no SMTP transcript" in p["message"] for p in files["junk.bin"]["problems"])
    assert files["logs/gone.log"]["problems"][0]["fatal"]
    assert report["_code"] == EXIT_BAD_FILES  # the report covers the rest


def test_totals_are_those_of_each_file_read_alone(report: dict[str, Any],
                                                  folder: Path) -> None:
    sessions = messages = failures = 0
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink() and os.path.relpath(path, folder) not in BAD:
            for s in analyze_file(str(path), jobs=1, on_problem=lambda p: None):
                seen = observe(s)
                sessions += 1
                messages += seen.messages
                failures += sum(a.outcome == "failure" for a in seen.auth)
    t = report["totals"]
    assert (t["sessions"], t["messages"], t["auth"].get("failure", 0)) == \
        (sessions, messages, failures)
    assert sum(f["sessions"] for f in report["files"]) == sessions
    assert set(t["origins"]) >= {"pcap", "postfix-log", "exim-mainlog", "swaks",
                                 "postfix-debug", "smtplib", "curl"}


def _cross(report: dict[str, Any], fid: str) -> list[dict[str, Any]]:
    return [c for c in report["cross_findings"] if c["id"] == fid]


def test_cross_session_findings_of_real_guessing_traffic(report: dict[str, Any]) -> None:
    # samples/audit-guessing.pcap (make_audit_samples.py): smtplib clients against aiosmtpd
    guessing = {c["subject"]: c for c in _cross(report, "audit.password-guessing")}
    assert {s for s in guessing if "127.0.0.66" in s or "127.0.0.77" in s} == \
        {"client 127.0.0.66", "client 127.0.0.77"}
    assert guessing["client 127.0.0.66"]["count"] == 6
    [guessed] = _cross(report, "audit.guessed-password")
    assert "127.0.0.66" in guessed["subject"] and "alice" in guessed["detail"]
    [spraying] = _cross(report, "audit.password-spraying")
    assert "127.0.0.77" in spraying["subject"]
    [distributed] = _cross(report, "audit.distributed-guessing")
    assert distributed["subject"] == "user bob" and distributed["count"] == 5
    [broken] = _cross(report, "audit.broken-client")
    assert "127.0.0.88" in broken["subject"] and "data.unstuffed-dot" in broken["detail"]
    assert any(c["subject"].startswith("server 127.0.0.1:")
               for c in _cross(report, "audit.auth-before-tls"))
    # samples/postfix-maillog.log (a real server's log): 181.214.206.133 fails 8 times,
    # but never 5 within 10 minutes: no guessing finding for it
    assert not any("181.214.206.133" in s for s in guessing)
    row = next(r for r in report["findings"] if r["id"] == "audit.password-guessing")
    assert row["cross"] and row["severity"] == "error" and row["count"] == 2
    worst = report["top_clients"][0]
    assert worst["address"] in ("127.0.0.66", "127.0.0.77", "181.214.206.133")


def test_smuggling_and_secrets_in_logs(report: dict[str, Any]) -> None:
    ids = {r["id"] for r in report["findings"]}
    assert "data.smuggling-sequence" in ids
    secrets = next(r for r in report["findings"] if r["id"] == "log.secret-in-log")
    # swaks, smtplib, curl, 2 sessions of postfix-debug and their copy with Cyrus lines
    assert secrets["sessions"] >= 5
    files = {os.path.basename(e["file"]) for e in secrets["examples"]}
    assert files and files <= {"curl-verbose.log", "postfix-debug.log", "smtplib-debug.log",
                               "swaks-auth-login.log", "cyrus-debug.log"}
    assert all(e["location"].startswith("line ") for e in secrets["examples"])


def test_no_secret_in_any_output(report: dict[str, Any], folder: Path) -> None:
    tmp = Path(report["_tmp"])
    texts = [json.dumps(report, ensure_ascii=False), (tmp / "audit.html").read_text()]
    texts += [p.read_text() for p in (tmp / "csv").glob("*.csv")]
    terminal = subprocess.run([sys.executable, "-m", "smtplens", "audit", "--fail-on",
                               "never", str(folder)], capture_output=True, text=True)
    texts += [terminal.stdout, terminal.stderr]
    for secret in PASSWORDS:
        for text in texts:
            assert secret not in text
    assert "log.secret-in-log" in terminal.stdout
    assert "Bad files:" in terminal.stdout


def test_exit_codes(folder: Path, tmp_path: Path) -> None:
    good = [folder / "captures" / "audit-guessing.pcap"]
    assert _audit(good, tmp_path, "--fail-on", "never")[0] == EXIT_OK
    assert _audit(good, tmp_path)[0] == EXIT_FINDINGS  # password guessing is an error
    logs = [folder / "logs" / "exim-mainlog.log"]
    assert _audit(logs, tmp_path, "--fail-on", "warning")[0] == EXIT_FINDINGS
    assert _audit(logs, tmp_path, "--fail-on", "never")[0] == EXIT_OK
    assert _audit([folder / "junk.bin"], tmp_path)[0] == EXIT_UNUSABLE
    done = subprocess.run([sys.executable, "-m", "smtplens", "audit", "--since", "someday",
                           str(folder)], capture_output=True, text=True)
    assert done.returncode == 2 and "--since" in done.stderr


def test_csv_tables(report: dict[str, Any]) -> None:
    folder = Path(report["_tmp"]) / "csv"
    with open(folder / "findings.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["id"] for r in rows} == {r["id"] for r in report["findings"]}
    with open(folder / "files.csv", newline="") as f:
        assert sum(r["bad"] == "True" for r in csv.DictReader(f)) == len(BAD)


def test_parquet_round_trip(report: dict[str, Any], tmp_path: Path, folder: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    _, doc = _audit([folder / "logs"], tmp_path, "--fail-on", "never",
                       "--parquet", str(tmp_path / "pq"))
    table = pq.read_table(tmp_path / "pq" / "timeline.parquet")
    assert str(table.schema.field("start").type) == "timestamp[us, tz=UTC]"
    assert table.num_rows == len(doc["timeline"])
    clients = pq.read_table(tmp_path / "pq" / "clients.parquet").to_pylist()
    assert [c["address"] for c in clients] == [c["address"] for c in doc["top_clients"]]


def test_jobs_do_not_change_the_report(folder: Path, tmp_path: Path) -> None:
    one = _audit([folder], tmp_path, "--fail-on", "never", "--jobs", "1")[1]
    two = _audit([folder], tmp_path, "--fail-on", "never", "--jobs", "2")[1]
    assert _comparable(one) == _comparable(two)


def _comparable(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in ("generated", "jobs", "engine")}


def test_since_and_until(tmp_path: Path) -> None:
    log = SAMPLES / "postfix-maillog.log"
    everything = _audit([log], tmp_path, "--fail-on", "never")[1]["totals"]
    first, last = everything["first_ts"], everything["last_ts"]
    middle = first + (last - first) / 2
    stamp = parse_iso(middle)
    before = _audit([log], tmp_path, "--fail-on", "never", "--until", stamp)[1]["totals"]
    after = _audit([log], tmp_path, "--fail-on", "never", "--since", stamp)[1]["totals"]
    assert before["sessions"] + after["sessions"] == everything["sessions"]
    assert 0 < before["sessions"] < everything["sessions"]


def parse_iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%S")


def test_when_and_span_parsing() -> None:
    assert parse_when("2026-11-25", "--since") == 1795564800.0
    assert parse_when("2026-11-25T01:00+01:00", "--since") == 1795564800.0
    assert parse_when("7d", "--since", now=1_000_000.0) == 1_000_000.0 - 7 * 86400
    assert parse_span("10m", "--window") == 600.0 and parse_span("90", "--window") == 90
    with pytest.raises(SmtplensError):
        parse_span("0m", "--window")


def test_state_reads_only_what_was_appended(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    lines = (SAMPLES / "postfix-maillog.log").read_text().splitlines(keepends=True)
    half = len(lines) // 2
    log.write_text("".join(lines[:half]))
    tail = tmp_path / "tail" / "mail.log"  # the appended lines as a file of their own
    tail.parent.mkdir()
    tail.write_text("".join(lines[half:]))
    state = tmp_path / "audit.state"
    _, first = _audit([log], tmp_path, "--fail-on", "never", "--state", str(state))
    with open(log, "a") as f:
        f.write("".join(lines[half:]))
        f.write("May  5 00:30:00 mail postfix/smtpd[1]: connect from unkn")  # mid-line
    _, second = _audit([log], tmp_path, "--fail-on", "never", "--state", str(state))
    _, alone = _audit([tail], tmp_path, "--fail-on", "never")
    _, head = _audit([SAMPLES / "postfix-maillog.log"], tmp_path, "--fail-on", "never",
                     "--until", "2000-01-01")  # nothing: only to see the file is read
    assert head["files"][0]["sessions"] > 0
    assert second["files"][0]["read_from"] == len("".join(lines[:half]).encode())
    assert second["totals"]["sessions"] == alone["totals"]["sessions"] > 0
    assert second["totals"]["auth"] == alone["totals"]["auth"]
    assert first["totals"]["sessions"] < head["files"][0]["sessions"]
    code, third = _audit([log], tmp_path, "--state", str(state))
    assert third["files"][0]["skipped"] and third["totals"]["sessions"] == 0
    assert code == EXIT_OK  # nothing new (the last line is not complete): not an error


def test_a_damaged_state_file_is_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "audit.state"
    state.write_text("{not json")
    done = subprocess.run([sys.executable, "-m", "smtplens", "audit", "--state", str(state),
                           str(SAMPLES / "postfix-maillog.log")], capture_output=True,
                          text=True)
    assert done.returncode == 2 and str(state) in done.stderr
    assert "Traceback" not in done.stderr


def test_in_process_run_matches_the_command(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    args = AuditArgs([str(folder / "logs")], jobs=1, fail_on="never", quiet=True,
                     json_path=str(out))
    messages: list[str] = []
    assert run_audit(args, messages.append) == EXIT_BAD_FILES  # logs/gone.log
    doc = json.loads(out.read_text())
    _, command = _audit([folder / "logs"], tmp_path, "--fail-on", "never", "--jobs", "1")
    assert _comparable(doc)["totals"] == _comparable(command)["totals"]


def test_dask_gives_the_local_report(folder: Path, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    local = _audit([folder], tmp_path, "--fail-on", "never", "--jobs", "2")[1]
    dask = _audit([folder], tmp_path, "--fail-on", "never", "--jobs", "2",
                  "--engine", "dask")[1]
    assert _comparable(dask) == _comparable(local)
    assert dask["engine"] == "dask"


def test_html_report_in_chromium(report: dict[str, Any]) -> None:
    from tests.chromium import find_chromium, load_page

    if find_chromium() is None:
        pytest.skip("headless Chromium is not installed (Debian package chromium)")
    page = load_page(Path(report["_tmp"]) / "audit.html")
    assert page.console_errors == []
    assert "127.0.0.66" in page.dom
    assert str(report["totals"]["sessions"]) in page.dom


def test_hostile_file_names_are_escaped(tmp_path: Path) -> None:
    evil = tmp_path / "<script>alert(1)<\x1b[2J>.log"
    shutil.copy(SAMPLES / "postfix-maillog.log", evil)
    html = tmp_path / "page.html"
    done = subprocess.run([sys.executable, "-m", "smtplens", "audit", "--fail-on", "never",
                           "--report", str(html), str(tmp_path)], capture_output=True,
                          text=True)
    assert "\x1b" not in done.stdout + done.stderr
    page = html.read_text()
    assert "<script>alert(1)" not in page and "\x1b" not in page
