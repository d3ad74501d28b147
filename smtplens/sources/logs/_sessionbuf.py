"""One log session's items, held back until the log has told what :class:`Opened` needs.

Client transcripts print the endpoints, and whether the rest runs inside TLS, only
after the session has started (``=== TLS started``, ``Succeeded in starting TLS``).
A :class:`SessionBuffer` keeps the session's items until it closes, so that its
``Opened`` can carry ``decrypted``, ``implicit_tls`` and the endpoints. A session
that grows past :data:`HOLD_LIMIT` items is released early (with what is known by
then) and streamed from there on, so memory stays bounded on huge logs.
"""

from __future__ import annotations

from collections.abc import Iterator

from smtplens.sources.textfile import to_wire
from smtplens.stream import (
    Closed,
    Data,
    Direction,
    Endpoint,
    Notice,
    Opened,
    Skipped,
    StreamItem,
)

#: items held per session before it is released without waiting for its end
HOLD_LIMIT = 5000


class SessionBuffer:
    """Items of one session of one log, in log order."""

    def __init__(self, conn_id: str, source: str, origin: str, number: int) -> None:
        self.conn_id = conn_id
        self.source = source
        self.origin = origin
        self.location = f"line {number}"
        self.client: Endpoint | None = None
        self.server: Endpoint | None = None
        self.ts: float | None = None  #: time of the first line, when the log has one
        self.last_ts: float | None = None
        self.decrypted = False
        self.implicit_tls = False
        self.has_data = False
        self.last_sent = b""  #: the client's last bytes, for parsers that need its verb
        self._held: list[StreamItem] = []
        self._released = False

    # ------------------------------------------------------------------ building
    def data(self, direction: Direction, payload: bytes, number: int,
             ts: float | None = None) -> None:
        self._stamp(ts)
        self.has_data = True
        if direction is Direction.CLIENT:
            self.last_sent = payload
        self._held.append(Data(self.conn_id, direction, payload, self.last_ts,
                               f"line {number}"))

    def line(self, direction: Direction, text: str, number: int,
             ts: float | None = None) -> None:
        """One logged line back to wire bytes: the text plus the CRLF the log dropped."""
        self.data(direction, to_wire(text) + b"\r\n", number, ts)

    def skipped(self, direction: Direction, number: int, what: str = "message") -> None:
        self._held.append(Skipped(self.conn_id, direction, what, self.last_ts,
                                  f"line {number}"))

    def notice(self, code: str, message: str, number: int,
               direction: Direction | None = None) -> None:
        self._held.append(Notice(code, message, source=self.source,
                                 location=f"line {number}", conn_id=self.conn_id,
                                 ts=self.last_ts, direction=direction))

    def tls_started(self) -> None:
        """The log says TLS is up: what it shows from here was inside TLS."""
        self.decrypted = True
        if not self.has_data:
            # TLS before the greeting: TLS-on-connect (port 465 style)
            self.implicit_tls = True

    def _stamp(self, ts: float | None) -> None:
        if ts is not None:
            self.last_ts = ts
            if self.ts is None:
                self.ts = ts

    # ------------------------------------------------------------------ releasing
    def _opened(self) -> Opened:
        return Opened(self.conn_id, self.ts, client=self.client, server=self.server,
                      source=self.source, origin=self.origin, exact_bytes=False,
                      implicit_tls=self.implicit_tls, location=self.location,
                      decrypted=self.decrypted)

    def drain(self) -> Iterator[StreamItem]:
        """Items that may go out now: none while held, all once released."""
        if not self._released and len(self._held) < HOLD_LIMIT:
            return
        yield from self._release()

    def close(self, reason: str = "eof") -> Iterator[StreamItem]:
        """Everything left, ending with :class:`Closed`; nothing for a session that
        never showed a line (a connection attempt that failed)."""
        if not self._released and not self._held:
            return
        yield from self._release()
        yield Closed(self.conn_id, self.last_ts, reason=reason)

    def _release(self) -> Iterator[StreamItem]:
        if not self._released:
            self._released = True
            yield self._opened()
        yield from self._held
        self._held.clear()
