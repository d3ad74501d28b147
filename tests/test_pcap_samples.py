"""The sample captures written by ``samples/make_pcap_samples.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from smtplens.sources.pcap import read_capture
from smtplens.stream import Closed, Notice, Opened
from tests.test_pcap_build import streams

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def _read(name: str) -> list[object]:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"{name} not generated (run samples/make_pcap_samples.py)")
    return list(read_capture(str(path)))


def test_auth_login_sample() -> None:
    items = _read("auth-login.pcap")
    assert (SAMPLES / "auth-login.pcap").stat().st_size < 20_000
    opened = [i for i in items if isinstance(i, Opened)]
    assert len(opened) == 1 and opened[0].client.host == "127.0.0.1"
    client, server = streams(items)["C1"]  # type: ignore[arg-type]
    assert server.startswith(b"220 mx.example.test")
    assert b"250-AUTH LOGIN PLAIN\r\n" in server
    assert b"AUTH LOGIN\r\n" in client and b"235 2.7.0" in server
    # smtplib dot-stuffed the body line that starts with a dot (RFC 5321 §4.5.2)
    assert b"\r\n..this line starts with a dot" in client
    assert b'filename="numbers.csv"' in client
    assert client.endswith(b"\r\n.\r\nquit\r\n")  # smtplib sends its verbs in lowercase
    assert not [i for i in items if isinstance(i, Notice)]
    assert [i.reason for i in items if isinstance(i, Closed)] == ["fin"]


def test_smuggling_sample() -> None:
    items = _read("smuggling.pcap")
    opened = [i for i in items if isinstance(i, Opened)]
    assert [str(o.server) for o in opened] == ["198.51.100.25:25"]
    client, server = streams(items)["C1"]  # type: ignore[arg-type]
    assert b"first message\r\n\n.\r\nMAIL FROM:<admin@example.net>\r\n" in client
    assert client.endswith(b"smuggled message\r\n.\r\nQUIT\r\n")
    assert server.startswith(b"220 mx.example.net ESMTP Postfix")
    assert server.count(b"queued as") == 1
