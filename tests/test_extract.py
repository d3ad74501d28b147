"""``--extract DIR`` on hostile input (issue 8): names that collide, a second run into
the same folder, links planted in it, logs without message content, write errors."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from smtplens.analysis import analyze_stream
from smtplens.cli import app
from smtplens.extract import EmlWriter, safe_name
from smtplens.model import Session
from smtplens.stream import StreamItem
from tests.helpers import SAMPLES, transcript_items

runner = CliRunner()
AUTH = str(SAMPLES / "auth-login.txt")
AUTH_EML = "auth-login.txt-T1-1.eml"
EXCHANGE = str(SAMPLES / "exchange-receive.log")


def dialog(subject: str, body: str = "hello") -> str:
    lines = ["S: 220 mx.example.test ESMTP", "C: EHLO client.example.org", "S: 250 ok",
             "C: MAIL FROM:<a@example.org>", "S: 250 ok", "C: RCPT TO:<b@example.com>",
             "S: 250 ok", "C: DATA", "S: 354 go ahead",
             *([f"C: Subject: {subject}", "C: "] if subject else []),
             *[f"C: {line}" for line in body.splitlines()], "C: .", "S: 250 queued",
             "C: QUIT", "S: 221 bye"]
    return "\n".join(lines)


def as_session(conn_id: str, text: str) -> list[StreamItem]:
    """The transcript's items as the connection ``conn_id`` (the id a log would give)."""
    return [dataclasses.replace(i, conn_id=conn_id)  # type: ignore[type-var]
            if hasattr(i, "conn_id") else i for i in transcript_items(text)]


def extract(directory: Path, *sessions: tuple[str, str]) -> list[Session]:
    items = [item for conn_id, text in sessions for item in as_session(conn_id, text)]
    with EmlWriter(directory) as writer:
        return list(analyze_stream(items, sink_factory=writer))


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exception
    return result.exit_code, result.stdout, result.stderr


# -- names ------------------------------------------------------------------------------

def test_ids_that_sanitise_alike_get_a_file_each(tmp_path: Path) -> None:
    # Exchange-like ids: "A/B", "A_B" and "A:B" are all "A_B" in a file name
    ids = ["A/B", "A_B", "A:B"]
    sessions = extract(tmp_path, *((i, dialog(f"from {i}")) for i in ids))
    paths = [s.messages[0].extracted_to for s in sessions]
    assert paths == [str(tmp_path / n) for n in ("test-A_B-1.eml", "test-A_B-1-2.eml",
                                                 "test-A_B-1-3.eml")]
    for session, path in zip(sessions, paths, strict=True):
        assert path is not None
        assert f"Subject: from {session.id}".encode() in Path(path).read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(Path(p).name for p in paths
                                                                if p)


@pytest.mark.parametrize("conn_id", ["../../etc/passwd", "..", ".bashrc", "a\x1b[31m\r\nb",
                                     "C:\\Windows\\x", "x" * 500, "\u202eevil", ""])
def test_hostile_ids_stay_inside_the_folder(tmp_path: Path, conn_id: str) -> None:
    out = tmp_path / "out"
    (session,) = extract(out, (conn_id, dialog("s")))
    path = Path(session.messages[0].extracted_to or "")
    assert path.parent == out and path.is_file()
    assert not path.name.startswith(".") and len(path.name) < 150
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in path.name)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [path]


def test_safe_name() -> None:
    assert safe_name("../x") == "x" and safe_name("...") == "x"
    assert safe_name("a b/c:d") == "a_b_c_d" and len(safe_name("y" * 999)) == 60


# -- never replace, never follow --------------------------------------------------------

def test_a_second_run_keeps_the_first_runs_files(tmp_path: Path) -> None:
    code, _, err = run("analyze", "--fail-on", "never", "--extract", str(tmp_path), AUTH)
    assert code == 0 and "extracted 1 message(s)" in err
    first = (tmp_path / AUTH_EML).read_bytes()
    (tmp_path / AUTH_EML).write_bytes(b"edited by hand")  # the first run's, changed since
    code, out, err = run("analyze", "--fail-on", "never", "-f", "json", "--extract",
                         str(tmp_path), AUTH)
    assert code == 0
    assert (tmp_path / AUTH_EML).read_bytes() == b"edited by hand"
    second = tmp_path / "auth-login.txt-T1-1-2.eml"
    assert second.read_bytes() == first
    message = json.loads(out)["sessions"][0]["transactions"][0]["message"]
    assert message["extracted_to"] == str(second) and message["extract_note"] == ""
    assert f"extracted 1 message(s) to {tmp_path}" in err


@pytest.mark.parametrize("dangling", [False, True])
def test_a_planted_link_is_not_followed(tmp_path: Path, dangling: bool) -> None:
    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "precious"
    if not dangling:
        target.write_bytes(b"keep me")
    (out / AUTH_EML).symlink_to(target)
    code, _, err = run("analyze", "--fail-on", "never", "--extract", str(out), AUTH)
    assert code == 0, err
    assert (out / AUTH_EML).is_symlink()
    if dangling:
        assert not target.exists()  # not created through the link either
    else:
        assert target.read_bytes() == b"keep me"
    written = out / "auth-login.txt-T1-1-2.eml"
    assert not written.is_symlink() and written.read_bytes().startswith(b"From: alice@")


def test_the_folder_itself_may_be_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    code, _, _ = run("analyze", "--fail-on", "never", "--extract", str(tmp_path / "link"),
                     AUTH)
    assert code == 0 and [p.name for p in real.iterdir()] == [AUTH_EML]


def test_files_are_private(tmp_path: Path) -> None:
    (session,) = extract(tmp_path, ("T1", dialog("s")))
    path = session.messages[0].extracted_to
    assert path is not None and os.stat(path).st_mode & 0o077 == 0


def test_a_folder_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    code, _, err = run("analyze", "--extract", str(tmp_path / "f"), AUTH)
    assert code == 2 and f"{tmp_path / 'f'}: cannot write messages here" in err


# -- what the input holds, and only that ------------------------------------------------

def test_no_empty_file_for_content_the_log_did_not_record(tmp_path: Path) -> None:
    code, out, err = run("analyze", "--fail-on", "never", "-f", "json", "--extract",
                         str(tmp_path), EXCHANGE)
    assert code == 0
    assert list(tmp_path.iterdir()) == []
    messages = [t["message"] for s in json.loads(out)["sessions"] for t in s["transactions"]
                if t["message"]]
    assert messages and all(m["extracted_to"] is None for m in messages)
    assert {m["extract_note"] for m in messages} == {"content not in the log"}
    assert f"extracted 0 message(s) to {tmp_path}" in err
    assert f"{len(messages)} message(s) not written: content not in the log" in err


def test_an_empty_message_gets_an_empty_file(tmp_path: Path) -> None:
    (session,) = extract(tmp_path, ("T1", dialog("", body="")))
    path = session.messages[0].extracted_to
    assert path is not None and Path(path).read_bytes() == b""


def test_the_summary_counts_both_kinds(tmp_path: Path) -> None:
    code, _, err = run("analyze", "--fail-on", "never", "--extract", str(tmp_path), AUTH,
                       EXCHANGE)
    assert code == 0
    assert f"extracted 1 message(s) to {tmp_path}" in err
    assert "1 message(s) not written: content not in the log" in err


# -- write errors -----------------------------------------------------------------------

class _FullDisk:
    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def close(self) -> None:
        pass


def test_a_write_error_names_the_file_and_the_run_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = EmlWriter.create
    calls: list[str] = []

    def create(self: EmlWriter, stem: str) -> tuple[str, object]:
        calls.append(stem)
        if len(calls) == 1:
            return str(tmp_path / f"{stem}.eml"), _FullDisk()
        return real(self, stem)

    monkeypatch.setattr(EmlWriter, "create", create)
    code, out, err = run("analyze", "--fail-on", "never", "-f", "json", "--extract",
                         str(tmp_path), AUTH, str(SAMPLES / "smuggling.txt"))
    assert code == 2  # files that were asked for are missing
    bad = tmp_path / AUTH_EML
    note = f"could not write {bad}: No space left on device"
    assert f"1 message(s) not written: {note}" in err
    assert f"extracted 1 message(s) to {tmp_path}" in err
    first, second = json.loads(out)["sessions"]
    assert first["transactions"][0]["message"]["extract_note"] == note
    assert Path(second["transactions"][0]["message"]["extracted_to"]).is_file()


def test_a_folder_one_cannot_create_in(tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: EmlWriter, stem: str) -> tuple[str, object]:
        raise PermissionError(errno.EACCES, "Permission denied",
                              str(self.directory / f"{stem}.eml"))

    monkeypatch.setattr(EmlWriter, "create", refuse)
    code, _, err = run("analyze", "--fail-on", "never", "--extract", str(tmp_path), AUTH)
    assert code == 2
    assert f"could not write {tmp_path / AUTH_EML}: Permission denied" in err
