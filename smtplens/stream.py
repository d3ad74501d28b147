"""What sources hand to the analysis: ordered items for many connections.

A source (a pcap reader, a transcript or log parser) turns its input into a stream
of small frozen records, interleaved in the order things happened:

* :class:`Opened` announces a connection and what the source knows about it;
* :class:`Data` carries bytes one side sent, in order, for that connection;
* :class:`Gap` says that ``size`` bytes of one side are missing (capture loss);
* :class:`Skipped` says a log left the message content out (not a loss);
* :class:`Closed` ends a connection (FIN/RST, end of log, idle timeout);
* :class:`Summary` carries a whole partial session read from a summary mail log;
* :class:`Notice` reports a problem with the input itself (a damaged record, an
  unknown link type, an unparsable log line) without stopping the stream, or a
  capture-level observation about one connection (``conn_id`` set).

The analysis keeps one :class:`~smtplens.engine.Conversation` per open ``conn_id``
and releases it at :class:`Closed`, so memory stays flat however long the input.
Nothing here does I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class Direction(enum.Enum):
    """Who sent the bytes."""

    CLIENT = "C"  #: client to server
    SERVER = "S"  #: server to client

    @property
    def other(self) -> Direction:
        return Direction.SERVER if self is Direction.CLIENT else Direction.CLIENT


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One end of a connection."""

    host: str  #: IP address or host name as the source knows it
    port: int | None = None  #: TCP port, when known

    def __str__(self) -> str:
        if self.port is None:
            return self.host
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Opened:
    """A new connection appears in the source."""

    conn_id: str  #: unique within one source; also the session id
    ts: float | None  #: time of the first packet / log line (Unix seconds)
    client: Endpoint | None = None  #: the SMTP client's end, when known
    server: Endpoint | None = None  #: the SMTP server's end, when known
    source: str = ""  #: file name the connection came from
    origin: str = "transcript"  #: source kind: "pcap", "transcript", "swaks", "postfix", ...
    exact_bytes: bool = True  #: False when the source lost CR/LF or segmenting (most logs)
    implicit_tls: bool = False  #: port 465 and friends: the whole stream is TLS
    lmtp: bool = False  #: LMTP (RFC 2033, port 24): one reply per recipient after DATA
    location: str = ""  #: where in the source the connection starts ("line 12", "record 4")
    decrypted: bool = False  #: the source shows what was inside TLS (logs, decrypted captures)


@dataclass(frozen=True, slots=True)
class Data:
    """Bytes sent by one side, in stream order."""

    conn_id: str
    direction: Direction
    data: bytes
    ts: float | None = None
    location: str = ""  #: e.g. "line 40" or "record 17"; empty for pcap (offsets suffice)


@dataclass(frozen=True, slots=True)
class Gap:
    """``size`` bytes of one side are missing from the source (capture loss)."""

    conn_id: str
    direction: Direction
    size: int
    ts: float | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    """The source left something out on purpose (logs that do not record bodies).

    ``what`` is ``"message"`` when the message content and its end-of-data were not
    logged: the engine ends the message there, as one whose content is unknown.
    """

    conn_id: str
    direction: Direction
    what: str = "message"
    ts: float | None = None
    location: str = ""


@dataclass(frozen=True, slots=True)
class Closed:
    """The connection ended (or the source has nothing more for it)."""

    conn_id: str
    ts: float | None = None
    reason: str = "eof"  #: "fin", "rst", "eof" (end of source), "idle", "log"


@dataclass(frozen=True, slots=True)
class Notice:
    """A problem with the input, or a source-level observation about one connection.

    ``code`` is a finding id from :mod:`smtplens.findings.catalog` when it concerns a
    connection (``conn_id`` set), or an input-error code (``"input.*"``) otherwise.
    """

    code: str
    message: str
    source: str = ""
    location: str = ""  #: "record 12 (offset 4096)", "line 7"
    conn_id: str | None = None
    ts: float | None = None
    direction: Direction | None = None


@dataclass(frozen=True, slots=True)
class Summary:
    """A session a summary log describes (no transcript): built by the source itself.

    ``session`` is a :class:`smtplens.model.Session` with ``partial=True`` and the
    findings the log shows; the analysis passes it through unchanged.
    """

    session: Any


StreamItem = Opened | Data | Gap | Skipped | Closed | Notice | Summary
