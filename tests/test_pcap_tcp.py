"""TCP reassembly and connection handling (tests for :mod:`smtplens.sources.pcap.tcp`,
``.flows``, ``.conn`` and ``.detect``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import TCP

from smtplens.sources.pcap import _read, read_capture, tcp
from smtplens.sources.pcap.detect import SMTP_PORTS
from smtplens.sources.pcap.files import CaptureFile
from smtplens.sources.pcap.flows import Flows
from smtplens.stream import Closed, Data, Direction, Gap, Notice, Opened, StreamItem
from tests.test_pcap_build import (
    CLIENT_DIALOG,
    SERVER_DIALOG,
    Conv,
    Frame,
    framed,
    pcap_bytes,
    streams,
)


def run(tmp_path: Path, frames: list[Frame], name: str = "x.pcap", **kw: object,
        ) -> list[StreamItem]:
    linktype, raw = framed(frames, "ether")
    path = tmp_path / name
    path.write_bytes(pcap_bytes(raw, linktype))
    items = list(read_capture(str(path), **kw))  # type: ignore[arg-type]
    # the per-packet fast path and the layered path must agree with the fused loop
    ports: frozenset[int] = kw.get("ports") or SMTP_PORTS  # type: ignore[assignment]
    idle: float = kw.get("idle_timeout", 300.0)  # type: ignore[assignment]
    for mode in ("fast", "general"):
        assert list(_read(CaptureFile(str(path)), ports, idle, mode)) == items, mode
    return items


def of(items: list[StreamItem], kind: type) -> list:  # type: ignore[type-arg]
    return [i for i in items if isinstance(i, kind)]


def codes(items: list[StreamItem]) -> list[str]:
    return [i.code for i in of(items, Notice)]


# -- ordering and coalescing ---------------------------------------------------------

def test_coalescing_follows_the_capture_order(tmp_path: Path) -> None:
    conv = Conv()
    frames = [*conv.handshake(), conv.s(b"220 hi\r\n"), conv.c(b"EHLO a\r\n"),
              conv.c(b"MAIL FROM:<a@b>\r\n"), conv.c(b"RCPT TO:<c@d>\r\n"),
              conv.s(b"250 ok\r\n"), conv.s(b"250 ok\r\n"), conv.ack(True),
              conv.s(b"250 ok\r\n"), *conv.close()]
    items = run(tmp_path, frames)
    data = of(items, Data)
    assert [(d.direction, d.data) for d in data] == [
        (Direction.SERVER, b"220 hi\r\n"),
        (Direction.CLIENT, b"EHLO a\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"),
        (Direction.SERVER, b"250 ok\r\n250 ok\r\n250 ok\r\n")]
    assert data[1].ts == pytest.approx(frames[4][0])  # time of the chunk's first segment
    assert [type(i).__name__ for i in items] == ["Opened", "Data", "Data", "Data", "Closed"]


def test_big_bodies_come_in_bounded_chunks(tmp_path: Path) -> None:
    conv = Conv()
    body = bytes(range(256)) * 800  # 200 KB
    frames = [*conv.handshake(), conv.s(b"354 go\r\n")]
    frames += [conv.c(body[i:i + 1448]) for i in range(0, len(body), 1448)]
    frames += [conv.s(b"250 ok\r\n"), *conv.close()]
    items = run(tmp_path, frames)
    chunks = [d for d in of(items, Data) if d.direction is Direction.CLIENT]
    assert b"".join(d.data for d in chunks) == body
    assert len(chunks) == 4
    assert all(len(d.data) <= tcp.COALESCE + 1448 for d in chunks)


def test_interleaved_connections_keep_capture_order(tmp_path: Path) -> None:
    a, b = Conv(), Conv(client=("10.0.0.7", 41000))
    frames = sorted(a.dialog() + b.dialog(), key=lambda f: f[0])
    items = run(tmp_path, frames)
    assert streams(items) == {"C1": (CLIENT_DIALOG, SERVER_DIALOG),
                              "C2": (CLIENT_DIALOG, SERVER_DIALOG)}
    assert [i.conn_id for i in of(items, Opened)] == ["C1", "C2"]


def test_sequence_numbers_wrap_around(tmp_path: Path) -> None:
    conv = Conv(cseq=0xFFFFFFF0, sseq=0xFFFFFFFE)
    frames = conv.dialog()
    assert conv.cseq > 0xFFFFFFFF
    assert streams(run(tmp_path, frames)) == {"C1": (CLIENT_DIALOG, SERVER_DIALOG)}


# -- reordering, retransmission, overlap ----------------------------------------------

def _client_segments(conv: Conv, parts: list[bytes]) -> list[Frame]:
    return [conv.c(p) for p in parts]


def test_out_of_order_and_retransmitted_segments(tmp_path: Path) -> None:
    conv = Conv()
    head = [*conv.handshake(), conv.s(b"220 hi\r\n")]
    a, b, c = _client_segments(conv, [b"EHLO a\r\n", b"MAIL FROM:<x@y>\r\n", b"QUIT\r\n"])
    frames = [*head, c, a, a, b, c, b, conv.s(b"221 bye\r\n"), *conv.close()]
    items = run(tmp_path, frames)
    assert streams(items)["C1"][0] == b"EHLO a\r\nMAIL FROM:<x@y>\r\nQUIT\r\n"
    assert codes(items) == [] and of(items, Gap) == []


def test_overlap_with_the_same_bytes_is_silent(tmp_path: Path) -> None:
    conv = Conv()
    head = [*conv.handshake(), conv.s(b"220 hi\r\n")]
    start = conv.cseq
    a = conv.c(b"EHLO a\r\n")
    b = conv.c(b"MAIL FROM:<x@y>\r\n")
    # a retransmission that repacketizes: the end of a and the start of b in one segment
    both = conv.packet(True, "PA", b"a\r\nMAIL", seq=start + 5)
    items = run(tmp_path, [*head, a, both, b, *conv.close()])
    assert streams(items)["C1"][0] == b"EHLO a\r\nMAIL FROM:<x@y>\r\n"
    assert codes(items) == []


def test_conflicting_retransmission_keeps_the_first_copy(tmp_path: Path) -> None:
    conv = Conv()
    head = [*conv.handshake(), conv.s(b"220 hi\r\n")]
    start = conv.cseq
    a = conv.c(b"MAIL FROM:<alice@example.org>\r\n")
    evil = conv.packet(True, "PA", b"MAIL FROM:<mallory@evil.test>\r\n", seq=start)
    items = run(tmp_path, [*head, a, evil, conv.s(b"250 ok\r\n"), *conv.close()])
    assert streams(items)["C1"][0] == b"MAIL FROM:<alice@example.org>\r\n"
    notice = of(items, Notice)[0]
    assert notice.code == "capture.overlap-conflict"
    assert (notice.conn_id, notice.direction) == ("C1", Direction.CLIENT)
    assert notice.ts == pytest.approx(evil[0])
    assert "first copy" in notice.message


def test_conflicting_out_of_order_copies(tmp_path: Path) -> None:
    conv = Conv()
    head = [*conv.handshake(), conv.s(b"220 hi\r\n")]
    a, b = _client_segments(conv, [b"EHLO a\r\n", b"QUIT\r\n"])
    b2 = conv.packet(True, "PA", b"RSET\r\n", seq=b[1].seq)
    items = run(tmp_path, [*head, b, b2, a, *conv.close()])
    assert streams(items)["C1"][0] == b"EHLO a\r\nQUIT\r\n"
    assert codes(items) == ["capture.overlap-conflict"]


def test_conflict_notices_are_capped(tmp_path: Path) -> None:
    conv = Conv()
    head = [*conv.handshake(), conv.s(b"220 hi\r\n")]
    start = conv.cseq
    a = conv.c(b"AAAAAAAA")
    evil = [conv.packet(True, "PA", bytes([66 + k]) * 8, seq=start) for k in range(9)]
    items = run(tmp_path, [*head, a, *evil, *conv.close()])
    assert codes(items).count("capture.overlap-conflict") == 5


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_reordering_or_duplication_gives_the_same_stream(data: st.DataObject) -> None:
    import tempfile

    conv = Conv()
    head = [*conv.handshake(), conv.s(b"220 hi\r\n")]
    sizes = data.draw(st.lists(st.integers(1, 300), min_size=1, max_size=25))
    body = bytes((i * 7 + 3) % 251 for i in range(sum(sizes)))
    segs, pos = [], 0
    for n in sizes:
        segs.append(conv.c(body[pos:pos + n]))
        pos += n
    segs.append(conv.fin(True))  # the FIN may overtake data, too
    extra = data.draw(st.lists(st.sampled_from(segs), max_size=10))
    order = data.draw(st.permutations(segs + extra))
    # timestamps follow the (re)ordered capture, as a sniffer would stamp them
    shuffled = [(conv.t + k * 1e-4, pkt) for k, (_, pkt) in enumerate(order)]
    conv.t += 1
    tail = [conv.fin(False), conv.ack(True)]
    with tempfile.TemporaryDirectory() as tmp:
        items = run(Path(tmp), [*head, *shuffled, *tail])
    assert streams(items)["C1"][0] == body
    assert of(items, Gap) == [] and codes(items) == []
    assert of(items, Closed)[0].reason == "fin"


# -- gaps ------------------------------------------------------------------------------

def test_acknowledged_hole_is_a_gap_in_place(tmp_path: Path) -> None:
    conv = Conv()
    head = [*conv.handshake(), conv.s(b"220 hi\r\n")]
    a, _lost, b = _client_segments(conv, [b"BDAT 20\r\n", b"x" * 20, b"QUIT\r\n"])
    frames = [*head, a, b, conv.ack(False), conv.s(b"221 bye\r\n"), *conv.close()]
    items = run(tmp_path, frames)
    kinds = [(type(i).__name__, getattr(i, "direction", None)) for i in items]
    assert kinds[1:6] == [("Data", Direction.SERVER), ("Data", Direction.CLIENT),
                          ("Gap", Direction.CLIENT), ("Data", Direction.CLIENT),
                          ("Data", Direction.SERVER)]
    assert of(items, Gap)[0].size == 20
    assert streams(items)["C1"][0] == b"BDAT 20\r\nQUIT\r\n"


def test_hole_before_fin_is_a_gap_at_close(tmp_path: Path) -> None:
    conv = Conv()
    head = [*conv.handshake(), conv.s(b"220 hi\r\n")]
    a, _lost = _client_segments(conv, [b"EHLO a\r\n", b"QUIT\r\n"])
    frames = [*head, a, conv.fin(True), conv.fin(False)]
    items = run(tmp_path, frames)
    assert [g.size for g in of(items, Gap)] == [6]
    assert of(items, Closed)[0].reason == "fin"


def test_full_reorder_buffer_becomes_a_gap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           ) -> None:
    monkeypatch.setattr(tcp, "OOO_MAX_SEGMENTS", 4)
    conv = Conv()
    head = [*conv.handshake(), conv.s(b"220 hi\r\n")]
    segs = _client_segments(conv, [b"%02d\r\n" % k for k in range(10)])
    items = run(tmp_path, [*head, *segs[1:], *conv.close()])
    assert [g.size for g in of(items, Gap)] == [4]
    assert streams(items)["C1"][0] == b"".join(b"%02d\r\n" % k for k in range(1, 10))


# -- opening, closing, roles -----------------------------------------------------------

def test_rst_closes_and_late_packets_are_dropped(tmp_path: Path) -> None:
    conv = Conv()
    frames = [*conv.handshake(), conv.s(b"220 hi\r\n"), conv.c(b"EHLO a\r\n"),
              conv.rst(True), conv.s(b"250 late\r\n"), conv.ack(False)]
    items = run(tmp_path, frames)
    assert [type(i).__name__ for i in items] == ["Opened", "Data", "Data", "Closed"]
    assert of(items, Closed)[0] == Closed("C1", pytest.approx(frames[5][0]), "rst")


def test_late_retransmissions_after_fin_do_not_resurrect(tmp_path: Path) -> None:
    conv = Conv()
    frames = conv.dialog()
    quit_ = next(f for f in frames if bytes(f[1][TCP].payload) == b"QUIT\r\n")
    late = [(conv.t + 1, quit_[1]), (conv.t + 2, frames[-3][1]), (conv.t + 3, frames[-1][1])]
    items = run(tmp_path, frames + late)
    assert len(of(items, Opened)) == 1
    assert streams(items) == {"C1": (CLIENT_DIALOG, SERVER_DIALOG)}


def test_port_reuse_is_a_new_connection(tmp_path: Path) -> None:
    first = Conv()
    second = Conv(cseq=900_000, sseq=7_000_000, t=first.t + 5)
    items = run(tmp_path, first.dialog() + second.dialog())
    assert [i.conn_id for i in of(items, Opened)] == ["C1", "C2"]
    assert streams(items) == {"C1": (CLIENT_DIALOG, SERVER_DIALOG),
                              "C2": (CLIENT_DIALOG, SERVER_DIALOG)}


def test_new_syn_on_an_open_connection(tmp_path: Path) -> None:
    first = Conv()
    frames = [*first.handshake(), first.s(b"220 hi\r\n")]  # never closed
    second = Conv(cseq=900_000, sseq=7_000_000, t=first.t + 5)
    items = run(tmp_path, frames + second.dialog())
    assert [i.conn_id for i in of(items, Opened)] == ["C1", "C2"]
    assert of(items, Closed)[0].conn_id == "C1"


def test_syn_retransmission_is_ignored(tmp_path: Path) -> None:
    conv = Conv()
    syn = conv.syn()
    frames = [syn, (syn[0] + 1, syn[1]), conv.synack(), conv.packet(True, "A")]
    rest = Conv(cseq=conv.cseq, sseq=conv.sseq, t=conv.t).dialog()[3:]
    items = run(tmp_path, frames + rest)
    assert len(of(items, Opened)) == 1
    assert streams(items) == {"C1": (CLIENT_DIALOG, SERVER_DIALOG)}


def test_midstream_capture(tmp_path: Path) -> None:
    conv = Conv()
    frames = conv.dialog()[4:]  # from the EHLO on
    items = run(tmp_path, frames)
    opened = items[0]
    assert isinstance(opened, Opened) and str(opened.client) == "10.0.0.1:40001"
    assert items[1] == Notice("capture.midstream", items[1].message, source=opened.source,
                              location="record 1", conn_id="C1",
                              ts=pytest.approx(frames[0][0]))
    assert streams(items)["C1"][0] == CLIENT_DIALOG


def test_midstream_roles_between_two_smtp_ports(tmp_path: Path) -> None:
    # an MTA-to-MTA connection 25 <-> 587 seen mid-stream: the side sending replies is
    # the server even though the first packet goes to it
    conv = Conv(client=("10.0.0.1", 587), server=("10.0.0.2", 25))
    frames = [conv.s(b"250 ok\r\n"), conv.c(b"QUIT\r\n"), conv.s(b"221 bye\r\n")]
    opened = run(tmp_path, frames)[0]
    assert isinstance(opened, Opened) and opened.server.port == 25
    conv = Conv(client=("10.0.0.1", 2525), server=("10.0.0.2", 25))
    frames = [conv.c(b"NOOP\r\n"), conv.s(b"250 ok\r\n")]
    opened = run(tmp_path, frames)[0]
    assert isinstance(opened, Opened) and opened.client.port == 2525  # higher port


def test_one_sided_capture(tmp_path: Path) -> None:
    conv = Conv()
    frames = [f for f in conv.dialog() if f[1].sport == 40001]  # client packets only
    items = run(tmp_path, frames)
    notice = of(items, Notice)[0]
    assert notice.code == "capture.one-sided" and notice.conn_id == "C1"
    assert notice.message == "only the client's bytes were captured"
    assert items[-2] is notice and isinstance(items[-1], Closed)


def test_silent_client_is_not_one_sided(tmp_path: Path) -> None:
    conv = Conv()  # a port check: the server greets, the client hangs up
    frames = [*conv.handshake(), conv.s(b"220 hi\r\n"), conv.ack(True), *conv.close()]
    assert codes(run(tmp_path, frames)) == []


def test_idle_connections_are_closed(tmp_path: Path) -> None:
    a = Conv()
    b = Conv(client=("10.0.0.9", 42000), t=a.t + 1000)
    frames = [*a.handshake(), a.s(b"220 hi\r\n"), *b.dialog()]
    items = run(tmp_path, frames, idle_timeout=60.0)
    closed = of(items, Closed)
    assert closed[0] == Closed("C1", pytest.approx(frames[3][0]), "idle")
    assert items.index(closed[0]) < items.index(of(items, Opened)[1])


def test_eof_closes_the_rest(tmp_path: Path) -> None:
    conv = Conv()
    frames = conv.dialog()[:-3]
    items = run(tmp_path, frames)
    assert items[-1] == Closed("C1", pytest.approx(frames[-1][0]), "eof")


@pytest.mark.parametrize(("port", "tls", "lmtp"), [(465, True, False), (24, False, True),
                                                   (587, False, False)])
def test_port_flags(tmp_path: Path, port: int, tls: bool, lmtp: bool) -> None:
    opened = run(tmp_path, Conv(server=("10.0.0.2", port)).dialog())[0]
    assert isinstance(opened, Opened)
    assert (opened.implicit_tls, opened.lmtp) == (tls, lmtp)


# -- finding SMTP ----------------------------------------------------------------------

def test_smtp_on_another_port_is_found_by_content(tmp_path: Path) -> None:
    conv = Conv(server=("10.0.0.2", 8025))
    items = run(tmp_path, conv.dialog())
    opened = items[0]
    assert isinstance(opened, Opened) and opened.server.port == 8025
    assert opened.location == "record 1"
    assert streams(items) == {"C1": (CLIENT_DIALOG, SERVER_DIALOG)}


def test_lmtp_and_lowercase_helo_by_content(tmp_path: Path) -> None:
    conv = Conv(server=("10.0.0.2", 2003))
    frames = [*conv.handshake(), conv.s(b"220-lmtp\r\n"), conv.s(b"220 ready\r\n"),
              conv.c(b"lhlo x\r\n"), conv.s(b"250 ok\r\n"), *conv.close()]
    assert len(of(run(tmp_path, frames), Opened)) == 1


@pytest.mark.parametrize("dialog", [
    [(False, b"220 ftp.example ready\r\n"), (True, b"USER anonymous\r\n")],  # FTP
    [(True, b"GET / HTTP/1.1\r\n\r\n"), (False, b"HTTP/1.1 200 OK\r\n\r\n")],  # HTTP
    [(False, b"SSH-2.0-OpenSSH\r\n"), (True, b"SSH-2.0-client\r\n")],
    [(False, b"22"), (False, b"1 no\r\n")],
])
def test_other_protocols_are_ignored(tmp_path: Path, dialog: list[tuple[bool, bytes]],
                                     ) -> None:
    conv = Conv(server=("10.0.0.2", 8080))
    frames = [*conv.handshake(), *(conv.send(c, d) for c, d in dialog)]
    frames += [conv.send(True, b"x" * 100) for _ in range(3)] + conv.close()
    assert run(tmp_path, frames) == []


def test_greeting_in_several_segments(tmp_path: Path) -> None:
    conv = Conv(server=("10.0.0.2", 10025))
    frames = [*conv.handshake(), conv.s(b"2"), conv.s(b"20 hi\r\n"), conv.c(b"EH"),
              conv.c(b"LO x\r\n"), conv.s(b"250 ok\r\n"), *conv.close()]
    items = run(tmp_path, frames)
    assert streams(items)["C1"] == (b"EHLO x\r\n", b"220 hi\r\n250 ok\r\n")


def test_explicit_ports(tmp_path: Path) -> None:
    a = Conv(server=("10.0.0.2", 2526))
    b = Conv(client=("10.0.0.5", 40005), server=("10.0.0.2", 25), t=a.t + 1)
    frames = a.dialog()[5:] + b.dialog()[5:]  # both mid-stream: no greeting to detect
    items = run(tmp_path, frames, ports=frozenset({2526}))
    assert [i.server.port for i in of(items, Opened)] == [2526]


# -- memory ----------------------------------------------------------------------------

def _many_sessions(tmp_path: Path, n: int, closing: bool) -> Path:
    """``n`` sessions one after another (patched copies of one scapy dialog)."""
    conv = Conv(step=0.01)
    frames = conv.dialog() if closing else conv.dialog()[:-3]
    linktype, raw = framed(frames, "ether")
    out = []
    for k in range(n):
        port = (20000 + k).to_bytes(2, "big")
        shift = k * 2.0
        for ts, f in raw:
            # client port: TCP source port (client->server) or destination port
            at = 34 if f[34:36] == (40001).to_bytes(2, "big") else 36
            out.append((ts + shift, f[:at] + port + f[at + 2:]))
    path = tmp_path / f"many-{n}-{closing}.pcap"
    path.write_bytes(pcap_bytes(out, linktype))
    return path


@pytest.mark.parametrize("closing", [True, False])
def test_memory_stays_flat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           closing: bool) -> None:
    import smtplens.sources.pcap as pcap

    peaks: dict[str, int] = {}

    class Recording(Flows):
        """Flows that notes how big its tables get (sampled at every sweep)."""

        def tick(self, now: float, settled: bool = False) -> None:
            super().tick(now, settled)
            # a connection before its first payload is an embryo (both direction keys)
            embryos = len(self.embryos)
            for name, size in (("halves", len(self.halves) + embryos),
                               ("conns", len(self.conns) + embryos // 2),
                               ("closed", len(self.closed)),
                               ("probes", len(self.detector.probes)),
                               ("ignored", len(self.detector.ignored))):
                peaks[name] = max(peaks.get(name, 0), size)

    monkeypatch.setattr(pcap, "Flows", Recording)
    seen = []
    for n in (1300, 3900):  # sessions 2 s apart; both files above one read buffer
        peaks.clear()
        path = _many_sessions(tmp_path, n, closing)
        closed = sum(isinstance(i, Closed) for i in read_capture(str(path), idle_timeout=10.0))
        assert closed == n
        seen.append(dict(peaks))
    assert seen[0] == seen[1]  # three times the sessions, the same table sizes
    assert seen[1]["conns"] <= 10  # idle ones (10 s) are swept, closed ones released
    assert seen[1]["closed"] <= 2 * 64  # closed 4-tuples are remembered for 120 s


def test_idle_closed_connection_that_wakes_up_opens_again(tmp_path: Path) -> None:
    conv = Conv()
    frames = [*conv.handshake(), conv.s(b"220 hi\r\n"), conv.c(b"EHLO a\r\n"),
              conv.s(b"250 ok\r\n")]
    conv._us += 1000 * 10**6
    # idle connections are swept when a read buffer ends or a connection opens: here a
    # second connection opens 1000 s later, then the first one talks again
    other = Conv(client=("10.0.0.9", 42000), t=conv._us / 1e6)
    frames += [other.syn(), conv.c(b"NOOP\r\n"), conv.s(b"250 ok\r\n"), *conv.close()]
    items = run(tmp_path, frames, idle_timeout=60.0)
    closed = [(c.conn_id, c.reason) for c in of(items, Closed)]
    assert closed == [("C1", "idle"), ("C3", "fin"), ("C2", "eof")]
    assert codes(items) == ["capture.midstream"]
    assert streams(items)["C3"] == (b"NOOP\r\n", b"250 ok\r\n")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.sampled_from(["S", "SA", "A", "PA", "FA", "R",
                                                          "RA", "F", "SF", "P"]),
                          st.integers(-3000, 3000), st.integers(-3000, 3000),
                          st.binary(max_size=40)), max_size=40),
       st.sampled_from([25, 8025]))
def test_any_segment_soup_is_survived(segments: list[tuple[bool, str, int, int, bytes]],
                                      port: int) -> None:
    import tempfile

    conv = Conv(server=("10.0.0.2", port), cseq=0xFFFFF000, sseq=100)
    frames = [*conv.handshake(), conv.s(b"220 hi\r\n"), conv.c(b"EHLO x\r\n")]
    for from_client, flags, dseq, dack, payload in segments:
        seq = (conv.cseq if from_client else conv.sseq) + dseq
        ack = (conv.sseq if from_client else conv.cseq) + dack
        frames.append(conv.packet(from_client, flags, payload, seq=seq, ack=ack))
    with tempfile.TemporaryDirectory() as tmp:
        items = run(Path(tmp), frames)
    opened = [i.conn_id for i in of(items, Opened)]
    assert sorted(opened) == sorted(i.conn_id for i in of(items, Closed))
    live: set[str] = set()
    for item in items:  # every item belongs to an open connection
        if isinstance(item, Opened):
            live.add(item.conn_id)
        elif isinstance(item, Closed):
            live.remove(item.conn_id)
        elif isinstance(item, Data | Gap):
            assert item.conn_id in live


# -- proxy tunnels (smtplens.sources.pcap.tunnel) -------------------------------------

SOCKS5_AUTH = ([b"\x05\x02\x00\x02", b"\x01\x04user\x06secret",
                b"\x05\x01\x00\x03\x0bmx.example.\x00\x19"],
               [b"\x05\x02", b"\x01\x00", b"\x05\x00\x00\x01\x0a\x00\x00\x01\xd1\xcd"])
SOCKS4A = ([b"\x04\x01\x00\x19\x00\x00\x00\x01bot\x00mx.example\x00"],
           [b"\x00\x5a\x00\x00\x00\x00\x00\x00"])
HTTP_CONNECT = ([b"CONNECT mx.example:25 HTTP/1.1\r\nHost: mx.example:25\r\n\r\n"],
                [b"HTTP/1.1 200 Connection established\r\n\r\n"])


@pytest.mark.parametrize("tunnel", [SOCKS5_AUTH, SOCKS4A, HTTP_CONNECT],
                         ids=["socks5-auth", "socks4a", "http-connect"])
def test_smtp_through_a_proxy_tunnel(tmp_path: Path, tunnel: tuple[list[bytes], list[bytes]],
                                     ) -> None:
    conv = Conv(server=("10.0.0.2", 3128))
    frames = conv.handshake()
    for c, s in zip(*tunnel, strict=True):
        frames += [conv.c(c), conv.ack(False), conv.s(s)]
    frames += [conv.s(b"220 mx.example ESMTP\r\n"), conv.c(b"EHLO bot\r\n"),
               conv.s(b"250 ok\r\n"), *conv.close()]
    items = run(tmp_path, frames)
    opened = items[0]
    assert isinstance(opened, Opened) and opened.server.port == 3128
    assert streams(items) == {"C1": (b"EHLO bot\r\n", b"220 mx.example ESMTP\r\n250 ok\r\n")}
    assert codes(items) == []


def test_tunnel_set_up_retransmitted_and_mid_stream(tmp_path: Path) -> None:
    conv = Conv(server=("10.0.0.2", 1080))
    (c1, c2, c3), (s1, s2, s3) = SOCKS5_AUTH
    hello = conv.c(c1)
    frames = [hello, (hello[0] + 0.0001, hello[1]), conv.s(s1), conv.c(c2), conv.s(s2),
              conv.c(c3), conv.s(s3), conv.s(b"220 hi\r\n"), conv.c(b"HELO x\r\n"),
              conv.s(b"250 ok\r\n")]
    items = run(tmp_path, frames)
    assert codes(items) == ["capture.midstream"]
    assert streams(items)["C1"] == (b"HELO x\r\n", b"220 hi\r\n250 ok\r\n")


@pytest.mark.parametrize("tunnel", [
    ([b"CONNECT mx:25 HTTP/1.1\r\n\r\n"], [b"HTTP/1.1 403 Forbidden\r\n\r\n"]),
    ([b"\x05\x01\x00"], [b"\x05\xff"]),  # no acceptable authentication method
    ([b"\x05\x01\x00", b"\x05\x01\x00\x01\x0a\x00\x00\x01\x00\x19"],
     [b"\x05\x00", b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00"]),  # connection refused
    ([b"CONNECT mx:443 HTTP/1.1\r\n\r\n"], [b"HTTP/1.1 200 OK\r\n\r\n\x16\x03\x01"]),  # TLS
])
def test_refused_or_non_smtp_tunnels_are_ignored(tmp_path: Path,
                                                 tunnel: tuple[list[bytes], list[bytes]],
                                                 ) -> None:
    conv = Conv(server=("10.0.0.2", 8080))
    frames = conv.handshake()
    for c, s in zip(*tunnel, strict=True):
        frames += [conv.c(c), conv.s(s)]
    frames += [conv.c(b"EHLO x\r\n"), conv.s(b"220 too late\r\n"), *conv.close()]
    assert run(tmp_path, frames) == []
