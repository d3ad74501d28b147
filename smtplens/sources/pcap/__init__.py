"""Packet captures (pcap, pcapng) as stream items: SMTP connections, reassembled.

The layers, each in its module, hand on offsets into one read buffer rather than
objects: :mod:`.files` (records) -> :mod:`.link` (where IP starts) -> :mod:`.ip`
(IPv4/IPv6, fragments) -> :mod:`.tcp` (sequence order, gaps, coalescing) with
:mod:`.flows` (opening, closing, roles) and :mod:`.detect` / :mod:`.tunnel` (which
connections are SMTP, also through HTTP CONNECT and SOCKS proxies); :mod:`.hotpath`
short-cuts the common packet through all of them at once.
Memory stays flat: connections are released at FIN/RST, after ``idle_timeout``
seconds of capture time without packets, and at the end of the file; and it has a
ceiling: all open connections share one budget, ``memcap`` bytes (see :mod:`.flows`).
"""

from __future__ import annotations

from collections.abc import Iterator

from smtplens.memcap import DEFAULT_MEMCAP
from smtplens.sources.pcap.detect import SMTP_PORTS
from smtplens.sources.pcap.files import CaptureDamage, CaptureFile, Handler, Header, Loop
from smtplens.sources.pcap.flows import Flows
from smtplens.sources.pcap.hotpath import make_handler, make_pcap_loop
from smtplens.sources.pcap.ip import IpLayer
from smtplens.sources.pcap.link import ScapyLink
from smtplens.stream import Notice, StreamItem

__all__ = ["DEFAULT_MEMCAP", "SMTP_PORTS", "read_capture"]


def read_capture(path: str, *, ports: frozenset[int] | None = None,
                 idle_timeout: float = 300.0,
                 memcap: int | None = DEFAULT_MEMCAP) -> Iterator[StreamItem]:
    """Stream the SMTP connections of a capture file (``-``: stdin) in capture order.

    Yields :class:`~smtplens.stream.Opened`, then :class:`~smtplens.stream.Data` /
    :class:`~smtplens.stream.Gap` / :class:`~smtplens.stream.Notice` items, then
    :class:`~smtplens.stream.Closed` for each connection. SMTP connections are those
    with a port in ``ports`` (default :data:`SMTP_PORTS`), plus, on any port, those that
    start with a ``220`` greeting answered by EHLO/HELO/LHLO, directly or right after
    an HTTP CONNECT / SOCKS 4 / SOCKS 5 tunnel set-up (which the streams then skip).
    Connection ids are ``C1``, ``C2``... in order of appearance. Over ``memcap`` bytes
    of estimated state (None: no limit), the least recently active connections are
    closed, each with a ``capture.memcap-closed`` notice.

    Raises :class:`~smtplens.errors.InputError` at once if the file is not a capture.
    Damage further on becomes an ``input.*`` notice: a span skipped to the next
    plausible record, after which the read goes on, or (nothing plausible follows, a
    cut file) the end of the read, after which every open connection is closed.
    """
    capture = CaptureFile(path)
    return _read(capture, SMTP_PORTS if ports is None else ports, idle_timeout,
                 memcap=memcap)


#: one read buffer's worth of a shard: its stream items, and for each connection it
#: opened the number of the packet that opened it (the order of ids without shards)
Batch = tuple[list[StreamItem], list[tuple[int, str]]]


def read_shard(path: str, shard: tuple[int, int], *, ports: frozenset[int] | None = None,
               idle_timeout: float = 300.0,
               memcap: int | None = DEFAULT_MEMCAP) -> Iterator[Batch]:
    """The connections of shard ``shard = (index, count)`` of a capture, in batches.

    A 4-tuple belongs to one shard (a hash of its addresses and ports), so ``count``
    workers can each read the whole file and reassemble and analyse a part of its
    connections. Every shard yields one batch per read buffer, the same buffers in
    every shard, so the batches of all shards line up; the last batch has what the
    end of the file (or damage) closed. Connection ids are local to the shard.
    ``memcap`` is this shard's budget.
    """
    capture = CaptureFile(path)
    return _batches(capture, SMTP_PORTS if ports is None else ports, idle_timeout, "fused",
                    shard, memcap)


def _read(capture: CaptureFile, ports: frozenset[int], idle_timeout: float,
          mode: str = "fused", memcap: int | None = DEFAULT_MEMCAP) -> Iterator[StreamItem]:
    """The reader; ``mode`` is for the tests: "fused" (the fast path in the libpcap record
    loop), "fast" (a fast-path handler per packet) or "general" (the layers only)."""
    for items, _ in _batches(capture, ports, idle_timeout, mode, None, memcap):
        yield from items


def _batches(capture: CaptureFile, ports: frozenset[int], idle_timeout: float, mode: str,
             shard: tuple[int, int] | None = None,
             memcap: int | None = DEFAULT_MEMCAP) -> Iterator[Batch]:
    source = capture.path
    flows = Flows(source, ports, idle_timeout, shard, memcap)
    ip = IpLayer(flows.segment)
    out, opened = flows.out, flows.opened
    scapy_links: list[ScapyLink] = []

    def handler_for(link: int) -> Handler:
        return make_handler(link, ip, flows, scapy_links, fast=mode != "general")

    def loop_for(link: int, handler: Handler, header: Header, scale: float,
                 limit: int) -> Loop | None:
        return make_pcap_loop(link, handler, header, scale, limit, flows)

    def notice(damage: CaptureDamage) -> None:
        out.append(Notice(damage.code, damage.message, source=source,
                          location=damage.location))

    capture.on_damage = notice  # a span skipped, the read goes on: in packet order
    try:
        for _ in capture.feed(handler_for, loop_for if mode == "fused" else None):
            flows.buffer_done(capture.last_ts)
            yield out, opened
            out.clear()
            opened.clear()
    except CaptureDamage as damage:  # the end of the read
        notice(damage)
    finally:
        capture.close()
    flows.finish()
    for scapy in scapy_links:
        if scapy.known and not scapy.found_ip:
            name = getattr(scapy.layer, "__name__", "?")
            out.append(Notice("input.link-type",
                              f"no IP found in the packets of link type {scapy.linktype} "
                              f"({name}); they were skipped", source=source))
    yield out, opened
