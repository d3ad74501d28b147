"""Rotated log sets are read oldest first."""

from __future__ import annotations

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
