"""Rotated log sets are read oldest first."""

from __future__ import annotations

from pathlib import Path

from smtplens.sources.rotation import in_time_order


def test_glob_order_becomes_time_order() -> None:
    glob = ["/var/log/mail.log", "/var/log/mail.log.1", "/var/log/mail.log.2.gz",
            "/var/log/mail.log.10.gz", "capture.pcap", "/var/log/exim4/mainlog.1",
            "/var/log/exim4/mainlog"]
    assert in_time_order(glob) == [
        "/var/log/mail.log.10.gz", "/var/log/mail.log.2.gz", "/var/log/mail.log.1",
        "/var/log/mail.log", "capture.pcap", "/var/log/exim4/mainlog.1",
        "/var/log/exim4/mainlog"]


def test_unrelated_files_keep_their_order() -> None:
    files = ["b.txt", "a.txt", "trace.pcap.gz", "x.log"]
    assert in_time_order(files) == files


def test_directories_are_expanded(tmp_path: Path) -> None:
    from smtplens.sources.rotation import expand

    (tmp_path / "logs").mkdir()
    for name in ("mail.log", "mail.log.1", ".hidden", "b.txt"):
        (tmp_path / "logs" / name).write_text("x\n")
    base = str(tmp_path / "logs")
    assert expand([base, "-"]) == [f"{base}/b.txt", f"{base}/mail.log.1", f"{base}/mail.log",
                                   "-"]


def test_analyze_takes_a_directory(tmp_path: Path) -> None:
    import shutil

    from typer.testing import CliRunner

    from smtplens.cli import app
    from tests.helpers import SAMPLES

    for name in ("smuggling.txt", "auth-login.pcap"):
        shutil.copy(SAMPLES / name, tmp_path / name)
    result = CliRunner().invoke(app, ["analyze", "--fail-on", "never", str(tmp_path)])
    assert result.exit_code == 0 and "Summary: 2 session(s)" in result.output
