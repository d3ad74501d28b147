"""Capture files, link layers and IP: what reaches the TCP reassembly (tests for
:mod:`smtplens.sources.pcap.files`, ``.link`` and ``.ip``)."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from scapy.layers.inet import IP, fragment
from scapy.layers.inet6 import (
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    fragment6,
)

from smtplens.errors import InputError
from smtplens.sources.pcap import read_capture
from smtplens.stream import Closed, Endpoint, Notice, Opened, StreamItem
from tests.test_pcap_build import (
    CLIENT_DIALOG,
    MAC_A,
    MAC_B,
    SERVER_DIALOG,
    Conv,
    Frame,
    framed,
    pcap_bytes,
    pcapng_bytes,
    read,
    streams,
    write,
)

LINKS = ["ether", "vlan", "qinq", "sll", "sll2", "raw", "raw12", "ipv4", "null", "loop",
         "ppp"]


@pytest.mark.parametrize("link", LINKS)
def test_every_link_type_gives_the_session(tmp_path: Path, link: str) -> None:
    linktype, frames = framed(Conv().dialog(), link)
    items = read(write(tmp_path / "x.pcap", pcap_bytes(frames, linktype)))
    opened = items[0]
    assert isinstance(opened, Opened)
    assert opened.client == Endpoint("10.0.0.1", 40001)
    assert opened.server == Endpoint("10.0.0.2", 25)
    assert (opened.conn_id, opened.origin, opened.exact_bytes) == ("C1", "pcap", True)
    assert opened.location == "record 1"
    assert streams(items) == {"C1": (CLIENT_DIALOG, SERVER_DIALOG)}
    closed = items[-1]
    assert isinstance(closed, Closed) and closed.reason == "fin"
    assert closed.ts == pytest.approx(frames[-2][0], abs=1e-6)  # both FINs seen


@pytest.mark.parametrize("link", ["ether", "vlan", "sll", "sll2", "ipv6", "null", "loop",
                                  "ppp"])
def test_ipv6_on_every_link_type(tmp_path: Path, link: str) -> None:
    conv = Conv(client=("2001:db8::1", 40001), server=("2001:db8::25", 25))
    linktype, frames = framed(conv.dialog(), link)
    items = read(write(tmp_path / "x.pcap", pcap_bytes(frames, linktype)))
    opened = items[0]
    assert isinstance(opened, Opened)
    assert opened.client == Endpoint("2001:db8::1", 40001)
    assert str(opened.server) == "[2001:db8::25]:25"
    assert streams(items) == {"C1": (CLIENT_DIALOG, SERVER_DIALOG)}


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_pcap_byte_orders_and_resolutions(tmp_path: Path, endian: str, nano: bool) -> None:
    conv = Conv(t=1_700_000_000.123456)
    linktype, frames = framed(conv.dialog(), "ether")
    items = read(write(tmp_path / "x.pcap", pcap_bytes(frames, linktype, endian=endian,
                                                       nano=nano)))
    assert streams(items) == {"C1": (CLIENT_DIALOG, SERVER_DIALOG)}
    assert items[0].ts == pytest.approx(frames[0][0], abs=1e-9 if nano else 1e-6)


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("kind", ["epb", "opb"])
def test_pcapng_two_interfaces_of_different_link_types(tmp_path: Path, endian: str,
                                                       kind: str) -> None:
    a = Conv()
    b = Conv(client=("10.9.0.1", 50000), server=("10.9.0.2", 587), t=1_700_000_100.0)
    link_a, frames_a = framed(a.dialog(), "ether")
    link_b, frames_b = framed(b.dialog(), "raw")
    packets = sorted([(0, ts, f) for ts, f in frames_a] + [(1, ts, f) for ts, f in frames_b],
                     key=lambda p: p[1])
    # interface 0 in microseconds (default), interface 1 in nanoseconds (if_tsresol 9)
    data = pcapng_bytes([(link_a, None), (link_b, 9)], packets, endian=endian, kind=kind)
    items = read(write(tmp_path / "x.pcapng", data))
    assert streams(items) == {"C1": (CLIENT_DIALOG, SERVER_DIALOG),
                              "C2": (CLIENT_DIALOG, SERVER_DIALOG)}
    opened = [i for i in items if isinstance(i, Opened)]
    assert [str(o.server) for o in opened] == ["10.0.0.2:25", "10.9.0.2:587"]
    assert opened[1].ts == pytest.approx(frames_b[0][0], abs=1e-6)


def test_pcapng_simple_packet_blocks_and_binary_tsresol(tmp_path: Path) -> None:
    linktype, frames = framed(Conv().dialog(), "ether")
    items = read(write(tmp_path / "a.pcapng", pcapng_bytes(
        [(linktype, None)], [(0, ts, f) for ts, f in frames], kind="spb")))
    assert streams(items) == {"C1": (CLIENT_DIALOG, SERVER_DIALOG)}
    # if_tsresol with the top bit set: 2**-20 second ticks
    items = read(write(tmp_path / "b.pcapng", pcapng_bytes(
        [(linktype, 0x80 | 20)], [(0, ts, f) for ts, f in frames])))
    assert items[0].ts == pytest.approx(frames[0][0], abs=2e-6)


def test_pcapng_timestamp_offset(tmp_path: Path) -> None:
    linktype, frames = framed(Conv().dialog(), "ether")
    items = read(write(tmp_path / "off.pcapng", pcapng_bytes(
        [(linktype, 9)], [(0, ts, f) for ts, f in frames], tsoffset=1_600_000_000)))
    assert streams(items) == {"C1": (CLIENT_DIALOG, SERVER_DIALOG)}
    assert items[0].ts == pytest.approx(frames[0][0], abs=1e-6)


def test_pcapng_several_sections_with_different_byte_orders(tmp_path: Path) -> None:
    a, b = Conv(), Conv(client=("10.0.0.3", 40003), t=1_700_000_050.0)
    la, fa = framed(a.dialog(), "ether")
    lb, fb = framed(b.dialog(), "sll")
    data = (pcapng_bytes([(la, None)], [(0, ts, f) for ts, f in fa], endian="<")
            + pcapng_bytes([(lb, 9)], [(0, ts, f) for ts, f in fb], endian=">"))
    items = read(write(tmp_path / "x.pcapng", data))
    assert streams(items) == {"C1": (CLIENT_DIALOG, SERVER_DIALOG),
                              "C2": (CLIENT_DIALOG, SERVER_DIALOG)}


@pytest.mark.parametrize("opener", [gzip.open, bz2.open, lzma.open])
def test_compressed_captures(tmp_path: Path, opener: object) -> None:
    linktype, frames = framed(Conv().dialog(), "ether")
    path = tmp_path / "x.pcap.z"
    with opener(path, "wb") as fh:  # type: ignore[operator]
        fh.write(pcap_bytes(frames, linktype))
    assert streams(read(path)) == {"C1": (CLIENT_DIALOG, SERVER_DIALOG)}


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    linktype, frames = framed(Conv().dialog(), "ether")
    data = gzip.compress(pcap_bytes(frames, linktype))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(data))))
    assert streams(list(read_capture("-"))) == {"C1": (CLIENT_DIALOG, SERVER_DIALOG)}


def test_link_type_through_scapy(tmp_path: Path) -> None:
    from scapy.layers.dot11 import Dot11, RadioTap
    from scapy.layers.l2 import LLC, SNAP

    frames = [(ts, bytes(RadioTap() / Dot11(type=2, subtype=0) / LLC() / SNAP() / pkt))
              for ts, pkt in Conv().dialog()]
    items = read(write(tmp_path / "wifi.pcap", pcap_bytes(frames, 127)))
    assert streams(items) == {"C1": (CLIENT_DIALOG, SERVER_DIALOG)}


def test_unknown_link_type_is_a_notice(tmp_path: Path) -> None:
    frames = [(ts, b"\x00" * 8 + bytes(pkt)) for ts, pkt in Conv().dialog()]
    path = write(tmp_path / "user0.pcap", pcap_bytes(frames, 147))
    items = read(path)
    assert len(items) == 1
    notice = items[0]
    assert isinstance(notice, Notice)
    assert notice.code == "input.link-type"
    assert "147" in notice.message and notice.source == path
    assert notice.location == "record 1"


def _segments_with(conv: Conv, body: bytes, wrap: object) -> list[Frame]:
    """A dialog whose client sends ``body`` in one segment, re-wrapped by ``wrap``."""
    frames = [*conv.handshake(), conv.s(b"220 ready\r\n")]
    big = conv.c(body)
    frames += list(wrap(big))  # type: ignore[operator]
    frames += [conv.s(b"250 ok\r\n"), *conv.close()]
    return frames


def test_ipv4_fragments_reassembled_in_any_order(tmp_path: Path) -> None:
    body = b"EHLO x\r\n" + b"A" * 3000 + b"\r\n"

    def split(frame: Frame) -> list[Frame]:
        ts, pkt = frame
        frags = fragment(pkt, fragsize=800)
        assert len(frags) == 4
        order = [2, 0, 3, 1]
        return [(ts + i * 1e-6, frags[k]) for i, k in enumerate(order)]

    linktype, frames = framed(_segments_with(Conv(), body, split), "ether")
    items = read(write(tmp_path / "frag.pcap", pcap_bytes(frames, linktype)))
    assert streams(items)["C1"][0] == body


def test_ipv4_options_are_skipped(tmp_path: Path) -> None:
    from scapy.layers.inet import IPOption_RR

    def with_options(frame: Frame) -> list[Frame]:
        ts, pkt = frame
        pkt = pkt.copy()
        pkt[IP].options = [IPOption_RR(routers=["1.2.3.4", "5.6.7.8"])]
        del pkt[IP].ihl, pkt[IP].len, pkt[IP].chksum
        return [(ts, IP(bytes(pkt)))]

    body = b"EHLO options.example\r\n"
    linktype, frames = framed(_segments_with(Conv(), body, with_options), "ether")
    items = read(write(tmp_path / "opt.pcap", pcap_bytes(frames, linktype)))
    assert streams(items)["C1"][0] == body


def test_ipv6_extension_headers_and_fragments(tmp_path: Path) -> None:
    conv = Conv(client=("2001:db8::1", 40001), server=("2001:db8::25", 25))
    body = b"EHLO v6\r\n" + b"B" * 2500 + b"\r\n"

    def fragmented(frame: Frame) -> list[Frame]:
        ts, pkt = frame
        ip6 = pkt[IPv6]
        inner = ip6.payload.copy()
        base = IPv6(src=ip6.src, dst=ip6.dst) / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting()
        frags = fragment6(base / IPv6ExtHdrFragment() / IPv6ExtHdrDestOpt() / inner, 1000)
        assert len(frags) >= 3
        return [(ts + i * 1e-6, f) for i, f in enumerate(reversed(frags))]

    linktype, frames = framed(_segments_with(conv, body, fragmented), "ether")
    items = read(write(tmp_path / "frag6.pcap", pcap_bytes(frames, linktype)))
    assert streams(items)["C1"][0] == body


def test_ipv6_atomic_fragment_and_destination_options(tmp_path: Path) -> None:
    conv = Conv(client=("2001:db8::1", 40001), server=("2001:db8::25", 25))

    def atomic(frame: Frame) -> list[Frame]:
        ts, pkt = frame
        ip6 = pkt[IPv6]
        return [(ts, IPv6(src=ip6.src, dst=ip6.dst) / IPv6ExtHdrDestOpt()
                 / IPv6ExtHdrFragment(offset=0, m=0, id=7) / ip6.payload.copy())]

    body = b"EHLO atomic\r\n"
    linktype, frames = framed(_segments_with(conv, body, atomic), "ether")
    items = read(write(tmp_path / "atomic.pcap", pcap_bytes(frames, linktype)))
    assert streams(items)["C1"][0] == body


def test_ethernet_padding_is_not_payload(tmp_path: Path) -> None:
    conv = Conv()
    linktype, frames = framed(conv.dialog(), "ether")
    padded = [(ts, f + b"\0" * max(0, 60 - len(f))) for ts, f in frames]
    assert any(len(f) == 60 for _, f in padded)
    items = read(write(tmp_path / "pad.pcap", pcap_bytes(padded, linktype)))
    assert streams(items) == {"C1": (CLIENT_DIALOG, SERVER_DIALOG)}


def test_snaplen_cut_segments_become_gaps(tmp_path: Path) -> None:
    conv = Conv()
    body = b"X" * 1000
    frames = [*conv.handshake(), conv.s(b"220 hi\r\n"), conv.c(b"EHLO a\r\n"), conv.c(body),
              conv.c(b"QUIT\r\n"), *conv.close()]
    linktype, raw = framed(frames, "ether")
    items = read(write(tmp_path / "cut.pcap", pcap_bytes(raw, linktype, snaplen=200)))
    client = streams(items)["C1"][0]
    gaps = [i for i in items if type(i).__name__ == "Gap"]
    assert client == b"EHLO a\r\n" + b"X" * (200 - 54) + b"QUIT\r\n"
    assert [g.size for g in gaps] == [1000 - (200 - 54)]


def test_non_tcp_traffic_is_skipped(tmp_path: Path) -> None:
    from scapy.layers.inet import ICMP, UDP
    from scapy.layers.l2 import ARP, Ether

    conv = Conv()
    dialog = framed(conv.dialog(), "ether")[1]
    eth = Ether(src=MAC_A, dst=MAC_B)
    noise = [(1.0, bytes(eth / ARP())), (1.0, bytes(eth / IP() / UDP() / (b"x" * 40))),
             (1.0, bytes(eth / IP(dst="10.0.0.2") / ICMP())),
             (1.0, bytes(Ether(src=MAC_A, dst=MAC_B, type=0x88CC) / (b"\x02" * 30)))]
    frames = [f for pair in zip(dialog, noise * 3, strict=False) for f in pair] + dialog[4:]
    items = read(write(tmp_path / "mix.pcap", pcap_bytes(frames, 1)))
    assert streams(items) == {"C1": (CLIENT_DIALOG, SERVER_DIALOG)}


# -- files that are not captures, damaged captures ----------------------------------

def sourceless(items: list[StreamItem]) -> list[StreamItem]:
    return [replace(i, source="") if isinstance(i, Opened | Notice) else i for i in items]


def _dialog_file(tmp_path: Path, n: int = 3) -> tuple[bytes, list[int]]:
    """A capture of ``n`` sessions and the file offset of every record."""
    frames = []
    for k in range(n):
        frames += framed(Conv(client=("10.0.0.1", 40000 + k), t=1_700_000_000.0 + k)
                         .dialog(), "ether")[1]
    data = pcap_bytes(frames, 1)
    offsets, pos = [], 24
    while pos < len(data):
        offsets.append(pos)
        pos += 16 + int.from_bytes(data[pos + 8:pos + 12], "little")
    return data, offsets


@pytest.mark.parametrize("content", [b"", b"hello world, this is a text file\n",
                                     b"\x89PNG\r\n\x1a\n" + bytes(100), b"\xd4\xc3\xb2"])
def test_not_a_capture_raises_before_yielding(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path / "notpcap.bin", content)
    with pytest.raises(InputError) as err:
        read_capture(path)
    assert err.value.source == path
    assert "not a pcap or pcapng capture" in err.value.message
    assert ("empty" if not content else "starts with") in err.value.message
    if content.startswith(b"hello"):  # a text file shows its first characters
        assert "'hello world, thi'" in err.value.message


def test_compressed_garbage_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a pcap or pcapng capture"):
        read_capture(write(tmp_path / "x.gz", gzip.compress(b"just text, gzipped")))
    with pytest.raises(InputError, match="not a pcap or pcapng capture"):
        read_capture(write(tmp_path / "y.gz", b"\x1f\x8b\x08\x00garbage"))
    with pytest.raises(InputError) as err:
        read_capture(str(tmp_path / "absent.pcap"))
    assert err.value.source.endswith("absent.pcap")


def test_truncated_capture_keeps_everything_before(tmp_path: Path) -> None:
    data, offsets = _dialog_file(tmp_path)
    for k in (3, 11, 17, len(offsets) - 1):
        for cut in (offsets[k] + 5, offsets[k] + 20, offsets[k + 1] - 1
                    if k + 1 < len(offsets) else len(data) - 1):
            items = read(write(tmp_path / "t.pcap", data[:cut]))
            whole = read(write(tmp_path / "w.pcap", data[:offsets[k]]))
            notices = [i for i in items if isinstance(i, Notice)]
            assert len(notices) == 1, (k, cut)
            notice = notices[0]
            # the notice comes before the connections still open are closed
            closes = [n for n, i in enumerate(items)
                      if isinstance(i, Closed) and i.reason == "eof"]
            assert all(items.index(notice) < n for n in closes)
            assert notice.code == "input.truncated"
            assert notice.location == f"record {k + 1} (offset {offsets[k]})"
            assert notice.source.endswith("t.pcap")
            assert sourceless([i for i in items if i is not notice]) == sourceless(whole)


def test_truncated_file_header_and_gzip(tmp_path: Path) -> None:
    data, _offsets = _dialog_file(tmp_path, 1)
    with pytest.raises(InputError):
        read_capture(write(tmp_path / "h.pcap", data[:20]))
    # a cut gzip stream: what decompressed before the cut is read, then the notice
    packed = gzip.compress(data)
    items = read(write(tmp_path / "z.pcap.gz", packed[:len(packed) * 3 // 4]))
    notices = [i for i in items if isinstance(i, Notice)]
    assert [n.code for n in notices] == ["input.truncated"]
    assert isinstance(items[0], Opened)
    assert isinstance(items[-1], Closed) and items[-1].reason == "eof"


def test_impossible_record_length(tmp_path: Path) -> None:
    data, offsets = _dialog_file(tmp_path)
    k = 9
    bad = bytearray(data)
    bad[offsets[k] + 8:offsets[k] + 12] = (0x7FFFFFF0).to_bytes(4, "little")
    items = read(write(tmp_path / "bad.pcap", bytes(bad)))
    whole = read(write(tmp_path / "w.pcap", data[:offsets[k]]))
    notices = [i for i in items if isinstance(i, Notice)]
    assert len(notices) == 1 and notices[0].code == "input.corrupt-record"
    assert notices[0].location == f"record {k + 1} (offset {offsets[k]})"
    assert "impossible length" in notices[0].message
    # the read goes on at the next plausible record (issue 8): nothing after it is lost
    assert "skipped" in notices[0].message and f"offset {offsets[k + 1]}" in notices[0].message
    assert len(sourceless([i for i in items if not isinstance(i, Notice)])) > len(
        sourceless(whole))


def test_pcapng_corrupt_block(tmp_path: Path) -> None:
    linktype, frames = framed(Conv().dialog(), "ether")
    data = bytearray(pcapng_bytes([(linktype, None)], [(0, ts, f) for ts, f in frames],
                                  noise=False))
    # damage the length of the 4th packet block (after the SHB, the IDB and 3 EPBs)
    pos = 0
    for _ in range(2 + 3):
        pos += int.from_bytes(data[pos + 4:pos + 8], "little")
    data[pos + 4:pos + 8] = (13).to_bytes(4, "little")
    items = read(write(tmp_path / "bad.pcapng", bytes(data)))
    notice = next(i for i in items if isinstance(i, Notice))
    assert notice.code == "input.corrupt-record"
    assert notice.location == f"record 4 (offset {pos})"
    assert isinstance(items[-1], Closed)


def test_garbage_after_a_valid_header_never_raises(tmp_path: Path) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    data, offsets = _dialog_file(tmp_path, 1)
    head = data[:offsets[6]]

    @settings(max_examples=150, deadline=None)
    @given(st.binary(min_size=0, max_size=600), st.integers(0, 5))
    def run(garbage: bytes, where: int) -> None:
        for blob in (head + garbage, data[:offsets[where]] + garbage + data[offsets[where]:]):
            path = tmp_path / "g.pcap"
            path.write_bytes(blob)
            items = read(path)
            closed = {i.conn_id for i in items if isinstance(i, Closed)}
            opened = {i.conn_id for i in items if isinstance(i, Opened)}
            assert closed == opened

    run()


def test_pcapng_garbage_never_raises(tmp_path: Path) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    linktype, frames = framed(Conv().dialog(), "ether")
    data = pcapng_bytes([(linktype, None)], [(0, ts, f) for ts, f in frames])

    @settings(max_examples=150, deadline=None)
    @given(st.integers(28, len(data) - 1), st.binary(min_size=1, max_size=64))
    def run(pos: int, garbage: bytes) -> None:
        path = tmp_path / "g.pcapng"
        path.write_bytes(data[:pos] + garbage + data[pos + len(garbage):])
        read(path)

    run()
