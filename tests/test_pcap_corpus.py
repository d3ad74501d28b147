"""Real captures from other projects' test suites (``../shared/corpus/pcap``)."""

from __future__ import annotations

import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from smtplens.errors import InputError
from smtplens.sources.pcap import _read, read_capture
from smtplens.sources.pcap.detect import SMTP_PORTS
from smtplens.sources.pcap.files import CaptureFile
from smtplens.stream import Closed, Data, Direction, Gap, Notice, Opened, StreamItem
from tests.test_pcap_build import streams

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
PCAP = CORPUS / "pcap"
FILES = sorted(p for p in PCAP.rglob("*") if p.suffix in (".pcap", ".pcapng", ".dat")) \
    if PCAP.is_dir() else []

pytestmark = pytest.mark.skipif(not PCAP.is_dir(),
                                reason="../shared/corpus is absent (a clone outside the "
                                       "smtplens workplace)")


def read(name: str) -> list[StreamItem]:
    return list(read_capture(str(PCAP / name)))


def opened(items: list[StreamItem]) -> dict[str, Opened]:
    return {i.conn_id: i for i in items if isinstance(i, Opened)}


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(PCAP)) for p in FILES])
def test_every_corpus_file_reads_cleanly(path: Path) -> None:
    if path.suffix == ".dat":
        # PcapPlusPlus's .dat is a hex dump of one frame, not a capture: a clear error
        with pytest.raises(InputError, match="not a pcap or pcapng capture") as err:
            read_capture(str(path))
        assert err.value.source == str(path)
        return
    items = list(read_capture(str(path)))
    # every connection is opened once and closed once; no input damage in these files
    opens = [i.conn_id for i in items if isinstance(i, Opened)]
    closes = [i.conn_id for i in items if isinstance(i, Closed)]
    assert sorted(opens) == sorted(closes) and len(set(opens)) == len(opens)
    assert not [i for i in items if isinstance(i, Notice) and i.code.startswith("input.")]
    # the fused loop, the per-packet fast path and the layered path agree
    for mode in ("fast", "general"):
        assert list(_read(CaptureFile(str(path)), SMTP_PORTS, 300.0, mode)) == items, mode


def test_zeek_smtp_pcap() -> None:
    items = read("zeek/smtp.pcap")
    conns = opened(items)
    # the same two SMTP connections Zeek's smtp.log lists
    assert {(str(o.client), str(o.server)) for o in conns.values()} == {
        ("10.10.1.4:1470", "74.53.140.153:25"),
        ("192.168.133.100:49648", "192.168.133.102:25")}
    first = next(o for o in conns.values() if o.client.port == 1470)
    client, server = streams(items)[first.conn_id]
    assert b"AUTH LOGIN\r\n" in client
    assert client.startswith(b"EHLO GP\r\n")
    assert server.startswith(b"220-xc90.websitewelcome.com ESMTP")
    assert not [i for i in items if isinstance(i, Gap | Notice)]


def test_one_sided_capture() -> None:
    items = read("zeek/smtp-one-side-only.pcap")
    notices = [i for i in items if isinstance(i, Notice)]
    assert [(n.code, n.message) for n in notices] == [
        ("capture.one-sided", "only the client's bytes were captured")]
    assert streams(items)["C1"][1] == b""


def test_implicit_tls() -> None:
    conns = opened(read("ndpi/smtps.pcapng"))
    assert [(o.server.port, o.implicit_tls) for o in conns.values()] == [(465, True)]


@pytest.mark.parametrize(("name", "client"), [
    ("ndpi/smtp-starttls.pcap", "[2003:de:2016:125:fc36:8317:4e86:cb72]:7562"),
    ("zeek/smtp-attachment-msg.pcap", "[::1]:56660"),
    ("pcapplusplus/smtpIpv6.pcap", "[2001:470:e5bf:dead:4957:2174:e82c:4887]:63943"),
])
def test_ipv6_endpoints(name: str, client: str) -> None:
    conns = opened(read(name))
    assert client in {str(o.client) for o in conns.values()}


def test_capture_loss_is_a_gap_in_order() -> None:
    items = read("zeek/smtp-bdat-gap.pcap")
    gaps = [i for i in items if isinstance(i, Gap)]
    assert [(g.direction, g.size) for g in gaps] == [(Direction.CLIENT, 1000)]
    # the gap sits between the client's BDAT chunk and what it sent after it
    after = items[items.index(gaps[0]) + 1]
    assert isinstance(after, Data) and after.direction is Direction.CLIENT


def test_bdat_on_an_unusual_port_by_content() -> None:
    conns = opened(read("arkime/wireshark-bdat.pcap"))
    assert [o.server.port for o in conns.values()] == [1224]


@pytest.mark.parametrize(("name", "client", "hello"), [
    ("arkime/socks5-smtp-503.pcap", "10.0.0.2:53709", b"EHLO User\r\n"),
    ("zeek/http_connect-with-smtp.pcap", "79.26.245.236:3378", b"HELO 208.191.73.21\r\n"),
])
def test_smtp_through_proxy_tunnels(name: str, client: str, hello: bytes) -> None:
    items = read(name)
    conns = opened(items)
    assert [str(o.client) for o in conns.values()] == [client]
    c, s = streams(items)["C1"]
    assert c.startswith(hello) and s.startswith(b"220 ")  # the tunnel set-up is skipped


def test_idle_connection_closes_at_its_last_packet() -> None:
    items = read("ndpi/emotet.pcap")  # the capture goes on for days after the session
    closed = [i for i in items if isinstance(i, Closed)]
    assert [c.reason for c in closed] == ["idle"]


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
@pytest.mark.parametrize("name", ["zeek/smtp.pcap", "ndpi/smtp.pcap", "ndpi/emotet.pcap",
                                  "zeek/smtp_rfc3030-bdat-multipart-chunked.pcap",
                                  "arkime/smtp-decrypted.pcap",
                                  "zeek/smtp-bdat-cmd-invalid.pcapng"])
def test_streams_match_tshark(name: str) -> None:
    path = str(PCAP / name)
    items = list(read_capture(path))
    for conn in opened(items).values():
        flt = (f"tcp.port=={conn.client.port} and tcp.port=={conn.server.port}")
        out = subprocess.run(["tshark", "-r", path, "-Y", flt, "-T", "fields", "-e",
                              "tcp.stream"], capture_output=True, text=True,
                             check=True).stdout.split()
        follow = subprocess.run(["tshark", "-r", path, "-q", "-z",
                                 f"follow,tcp,raw,{out[0]}"], capture_output=True,
                                text=True, check=True).stdout
        lines = follow.split("=" * 67)[1].strip().splitlines()
        node0 = lines[2].split(": ", 1)[1]
        sides: dict[bool, bytearray] = defaultdict(bytearray)
        for line in lines[4:]:
            if line.strip():
                sides[line.startswith("\t")] += bytes.fromhex(line.strip())
        from_client_first = node0.endswith(f":{conn.client.port}")
        expected = (bytes(sides[not from_client_first]), bytes(sides[from_client_first]))
        assert streams(items)[conn.conn_id] == expected
