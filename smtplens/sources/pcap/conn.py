"""Per-connection state of the TCP reassembly, and how it turns into stream items.

:class:`Half` is one direction of a connection, :class:`Conn` the connection,
:class:`Embryo` a connection that has carried no payload yet (its SYN, a handshake);
:class:`Outputs` owns the list of :mod:`smtplens.stream` items waiting to be yielded and
the helpers every layer of the reassembly uses to add to it.
"""

from __future__ import annotations

from smtplens.stream import Data, Direction, Gap, Notice, StreamItem

MASK = 0xFFFFFFFF  # sequence numbers are 32-bit (RFC 9293 §3.4)
HALF = 0x80000000  # a distance of HALF or more (mod 2**32) means "before"
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
#: delivered bytes kept per direction to compare retransmissions against
TAIL = 4096
#: overlap-conflict notices per direction; more are counted, not reported
MAX_CONFLICT_NOTICES = 5


class Half:
    """One direction of a connection: the bytes one side sends."""

    __slots__ = (
        "base",
        "checked",
        "conflicts",
        "conn",
        "direction",
        "fin",
        "isn",
        "key",
        "nxt",
        "ooo",
        "ooo_bytes",
        "peer",
        "seen",
        "skip",
        "slow",
        "tail",
        "total",
    )

    def __init__(self, conn: Conn, direction: Direction, key: bytes) -> None:
        self.conn = conn
        self.peer: Half = self  # set right after both halves exist
        self.direction = direction
        self.key = key  #: direction key: src addr, dst addr, src port, dst port
        self.nxt: int | None = None  #: next expected sequence number (None: not started)
        self.base = 0  #: sequence number of the first byte of this direction
        self.skip = 0  #: bytes at the start of the direction that are not SMTP (a tunnel)
        self.isn: int | None = None  #: initial sequence number, when the SYN was seen
        self.fin: int | None = None  #: sequence number of the FIN, once seen
        self.ooo: dict[int, bytes] = {}  #: segments waiting for a hole to fill
        self.ooo_bytes = 0
        self.slow = False  #: ooo non-empty or FIN seen: packets need Stream.after()
        self.checked: int | None = None  #: nxt when ooo was last searched for overlaps
        self.total = 0  #: payload bytes emitted
        self.seen = False  #: any packet from this side (besides payload)
        self.tail = b""  #: the last delivered bytes up to the pending chunk
        self.conflicts = 0

    def set_slow(self, value: bool) -> None:
        """Whether this direction needs the slow path; the connection's flag follows."""
        self.slow = value
        self.conn.slow = value or self.peer.slow

    @property
    def done(self) -> bool:
        """A FIN was seen and every byte before it was delivered (or declared missing)."""
        if self.fin is None or self.nxt is None or self.ooo:
            return False
        ahead = (self.fin - self.nxt) & MASK
        return ahead == 0 or ahead >= HALF

    @property
    def silent(self) -> bool:
        """Nothing at all was captured from this side."""
        return self.nxt is None and not self.seen


class Conn:
    """One TCP connection being reassembled."""

    __slots__ = (
        "chunks",
        "cid",
        "client",
        "last",
        "open",
        "pend",
        "pend_ts",
        "server",
        "size",
        "slow",
    )

    def __init__(self, cid: str, ts: float) -> None:
        self.cid = cid
        self.last = ts  #: capture time of its latest packet
        self.pend: Half | None = None  #: the direction whose bytes are pending, if any
        self.chunks: list[bytes] = []  #: pending in-order payload of ``pend``
        self.size = 0  #: bytes in ``chunks``
        self.pend_ts = ts  #: time of the first pending segment
        self.open = True
        self.slow = False  #: a half is slow: every packet goes through Stream.after()
        # set by the opener: the two halves
        self.client: Half
        self.server: Half

    @property
    def buffered(self) -> int:
        """Payload bytes this connection holds: pending, out of order, kept tails."""
        client, server = self.client, self.server
        return (self.size + client.ooo_bytes + server.ooo_bytes + len(client.tail)
                + len(server.tail))


class Embryo:
    """A connection before its first payload, FIN or RST: what the handshake told.

    A SYN scan opens many of these and most never grow, so an embryo is a few numbers
    (well under a kilobyte with its table entries) instead of a :class:`Conn` with two
    halves and an analysis; :meth:`.flows.Flows.grow` turns it into a :class:`Conn` in
    the state the same packets would have left it in.
    """

    __slots__ = ("cid", "client_is_src", "isn", "key", "last", "recno", "risn", "rseen",
                 "ts")

    def __init__(self, cid: str, ts: float, recno: int, key: bytes, client_is_src: bool,
                 isn: int) -> None:
        self.cid = cid
        self.ts = ts  #: capture time of the first packet
        self.recno = recno  #: number of the first packet
        self.key = key  #: direction key of the first packet (a SYN or SYN/ACK)
        self.client_is_src = client_is_src  #: the first packet came from the client
        self.isn = isn  #: initial sequence number of that direction
        self.risn: int | None = None  #: the other direction's, once its SYN was seen
        self.rseen = False  #: any packet from the other direction
        self.last = ts  #: capture time of the latest packet


class Outputs:
    """The items waiting to be yielded, and the helpers that add to them."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.out: list[StreamItem] = []
        self.halves: dict[bytes, Half] = {}  #: direction key -> half, for open connections

    def flush(self, conn: Conn) -> None:
        """Emit the pending chunk of ``conn`` as one Data item."""
        half = conn.pend
        if half is None:
            return
        chunks = conn.chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.out.append(Data(conn.cid, half.direction, data, conn.pend_ts))
        half.total += len(data)
        half.tail = data[-TAIL:] if len(data) > TAIL else data
        conn.pend = None
        conn.chunks = []
        conn.size = 0

    def emit_gap(self, conn: Conn, half: Half, size: int, ts: float) -> None:
        self.out.append(Gap(conn.cid, half.direction, size, ts))

    def notice(self, conn: Conn, code: str, message: str, ts: float,
               direction: Direction | None = None, location: str = "") -> None:
        """A capture-level observation about ``conn`` (after its pending bytes)."""
        self.flush(conn)
        self.out.append(Notice(code, message, source=self.source, location=location,
                               conn_id=conn.cid, ts=ts, direction=direction))

    def compare(self, half: Half, seq: int, data: bytes, ts: float) -> None:
        """A retransmission of bytes before ``nxt``: report them if they differ."""
        if not data or half.nxt is None:
            return
        conn = half.conn
        pieces = [half.tail, *conn.chunks] if conn.pend is half else [half.tail]
        # walk back from nxt until the pieces cover seq (the usual case: the last one)
        end = half.nxt
        start = end
        used = 0
        for used, piece in enumerate(reversed(pieces), 1):  # noqa: B007
            start = (end - len(piece)) & MASK
            if (seq - start) & MASK < HALF:
                break
            end = start
        known = b"".join(pieces[len(pieces) - used:])
        rel = (seq - start) & MASK
        if rel >= HALF:  # older than anything kept: cannot check
            skip = (start - seq) & MASK
            if skip >= len(data):
                return
            data, rel = data[skip:], 0
        old = known[rel:rel + len(data)]
        if old != data[:len(old)]:
            self.conflict(half, seq, len(old), ts)

    def conflict(self, half: Half, seq: int, size: int, ts: float) -> None:
        half.conflicts += 1
        if half.conflicts > MAX_CONFLICT_NOTICES:
            return
        who = "client" if half.direction is Direction.CLIENT else "server"
        more = (" (further conflicts in this direction are not reported)"
                if half.conflicts == MAX_CONFLICT_NOTICES else "")
        self.notice(half.conn, "capture.overlap-conflict",
                    f"{size} bytes the {who} sent again at stream offset "
                    f"{(seq - half.base) & MASK} differ from the first copy, which was "
                    f"kept{more}", ts, half.direction)
