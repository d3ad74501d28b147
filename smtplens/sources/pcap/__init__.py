"""Packet captures (pcap, pcapng) as stream items: SMTP connections, reassembled.

The layers, each in its module, hand on offsets into one read buffer rather than
objects: :mod:`.files` (records) -> :mod:`.link` (where IP starts) -> :mod:`.ip`
(IPv4/IPv6, fragments) -> :mod:`.tcp` (sequence order, gaps, coalescing) with
:mod:`.flows` (opening, closing, roles) and :mod:`.detect` / :mod:`.tunnel` (which
connections are SMTP, also through HTTP CONNECT and SOCKS proxies); :mod:`.hotpath`
short-cuts the common packet through all of them at once.
Memory stays flat: connections are released at FIN/RST, after ``idle_timeout``
seconds of capture time without packets, and at the end of the file.
"""

from __future__ import annotations

from collections.abc import Iterator

from smtplens.sources.pcap.detect import SMTP_PORTS
from smtplens.sources.pcap.files import CaptureDamage, CaptureFile, Handler, Header, Loop
from smtplens.sources.pcap.flows import Flows
from smtplens.sources.pcap.hotpath import make_handler, make_pcap_loop
from smtplens.sources.pcap.ip import IpLayer
from smtplens.sources.pcap.link import ScapyLink
from smtplens.stream import Notice, StreamItem

__all__ = ["SMTP_PORTS", "read_capture"]


def read_capture(path: str, *, ports: frozenset[int] | None = None,
                 idle_timeout: float = 300.0) -> Iterator[StreamItem]:
    """Stream the SMTP connections of a capture file (``-``: stdin) in capture order.

    Yields :class:`~smtplens.stream.Opened`, then :class:`~smtplens.stream.Data` /
    :class:`~smtplens.stream.Gap` / :class:`~smtplens.stream.Notice` items, then
    :class:`~smtplens.stream.Closed` for each connection. SMTP connections are those
    with a port in ``ports`` (default :data:`SMTP_PORTS`), plus, on any port, those that
    start with a ``220`` greeting answered by EHLO/HELO/LHLO, directly or right after
    an HTTP CONNECT / SOCKS 4 / SOCKS 5 tunnel set-up (which the streams then skip).
    Connection ids are ``C1``, ``C2``... in order of appearance.

    Raises :class:`~smtplens.errors.InputError` at once if the file is not a capture;
    damage further on becomes an ``input.*`` notice, after which every open
    connection is closed and the stream ends.
    """
    capture = CaptureFile(path)
    return _read(capture, SMTP_PORTS if ports is None else ports, idle_timeout)


def _read(capture: CaptureFile, ports: frozenset[int], idle_timeout: float,
          mode: str = "fused") -> Iterator[StreamItem]:
    """The reader; ``mode`` is for the tests: "fused" (the fast path in the libpcap record
    loop), "fast" (a fast-path handler per packet) or "general" (the layers only)."""
    source = capture.path
    flows = Flows(source, ports, idle_timeout)
    ip = IpLayer(flows.segment)
    out = flows.out
    scapy_links: list[ScapyLink] = []

    def handler_for(link: int) -> Handler:
        return make_handler(link, ip, flows, scapy_links, fast=mode != "general")

    def loop_for(link: int, handler: Handler, header: Header, scale: float,
                 limit: int) -> Loop | None:
        return make_pcap_loop(link, handler, header, scale, limit, flows)

    try:
        for _ in capture.feed(handler_for, loop_for if mode == "fused" else None):
            flows.tick(capture.last_ts)
            if out:
                yield from out
                out.clear()
    except CaptureDamage as damage:
        yield from out
        out.clear()
        yield Notice(damage.code, damage.message, source=source, location=damage.location)
    finally:
        capture.close()
    flows.finish()
    yield from out
    out.clear()
    for scapy in scapy_links:
        if scapy.known and not scapy.found_ip:
            name = getattr(scapy.layer, "__name__", "?")
            yield Notice("input.link-type",
                         f"no IP found in the packets of link type {scapy.linktype} "
                         f"({name}); they were skipped", source=source)
