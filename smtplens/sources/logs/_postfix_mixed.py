"""A Postfix maillog where ``debug_peer_list`` covers only some peers: one stream.

The transcript lines (``< peer: EHLO``) of the debugged peers go through the engine
(:mod:`smtplens.sources.logs.postfix`); every line also feeds the summary reader of
:mod:`smtplens.sources.logs.postfix_summary`, which keeps one partial session per smtpd
connection (host, program and pid, from ``connect from`` to ``disconnect from``). When
that connection also has transcript lines it is *merged*:

* its summary session is not emitted; the findings only the summary shows (``log.*``:
  ``lost connection after DATA (39 bytes)``, ``too many errors``, rejects, rate limits,
  a SASL back-end fault) reach the transcript session as notices, before it closes;
* a transcript cut inside DATA: smtpd logs no content and no ``.``, so the "content
  not logged" marker after 354 is held until the next line of that session; when the
  summary says the connection was lost (or timed out) after DATA the marker is dropped
  and the engine sees a message cut by the close, not one waiting for its reply.

Connections without transcript lines come out as the summary's partial sessions. Only
open connections are held (both readers drop a connection when it ends), so memory
stays flat.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator

from smtplens.sources.logs._interleaved import LogSessions
from smtplens.sources.logs.postfix_summary import Reader
from smtplens.stream import Closed, Data, Notice, Skipped, StreamItem, Summary

#: the summary lines that say a connection ended inside DATA (no end of data was seen)
_LOST_IN_DATA = re.compile(r"^(?:\w+: )?(?:lost connection|timeout) after (?:DATA|BDAT)\b")


class Merger:
    """The summary side of a mixed log, and the bookkeeping that joins it to the
    transcript sessions of the same connections."""

    def __init__(self, source: str, sessions: LogSessions) -> None:
        self.summary = Reader(source)
        self.sessions = sessions
        self.source = source
        #: summary session id -> (transcript key, conn id) of the same connection
        self.merged: dict[str, tuple[Hashable, str]] = {}
        #: conn id -> its Skipped, held until the next line shows the message's fate
        self.held: dict[str, Skipped] = {}

    def line(self, number: int, raw: str) -> Iterator[StreamItem]:
        """Feed one line to the summary reader; what it finished, resolved."""
        self.summary.line(number, raw)
        out = self.summary.out
        if not out:
            return
        done = list(out)
        out.clear()
        for item in done:
            if not isinstance(item, Summary):
                yield item
                continue
            link = self.merged.pop(item.session.id, None)
            if link is None:
                yield item  # a connection without transcript lines: its summary
            else:
                yield from self._forward(item, *link)

    def transcript(self, key: Hashable, smtpd: bool) -> None:
        """A transcript line of ``key`` was read: its smtpd connection is merged."""
        if not smtpd or self.summary.last_key is None:
            return
        ps = self.summary.table.get(self.summary.last_key)
        open_ = self.sessions.get(key)
        if ps is not None and open_ is not None:
            self.merged.setdefault(ps.session.id, (key, open_.conn_id))

    def summary_line(self, key: Hashable, msg: str) -> None:
        """A non-transcript line of the process of ``key``: a connection lost inside
        DATA drops the held end-of-message."""
        s = self.sessions.get(key)
        if s is not None and s.conn_id in self.held and _LOST_IN_DATA.match(msg):
            del self.held[s.conn_id]

    def _forward(self, summary: Summary, key: Hashable, conn_id: str) -> Iterator[Notice]:
        s = self.sessions.get(key)
        if s is None or s.conn_id != conn_id:
            return  # the transcript session already ended: nothing to add it to
        for f in summary.session.findings:
            if f.id.startswith("log."):
                ev = f.evidence
                yield Notice(f.id, f.detail, source=self.source, location=ev.location,
                             conn_id=conn_id, ts=ev.ts, direction=ev.direction)

    def hold(self, items: Iterator[StreamItem]) -> Iterator[StreamItem]:
        """``items`` with each Skipped held back until the next Data or Closed of its
        connection (unless :meth:`summary_line` dropped it meanwhile)."""
        held = self.held
        for item in items:
            if isinstance(item, Skipped):
                held[item.conn_id] = item
                continue
            if isinstance(item, (Data, Closed)) and item.conn_id in held:
                yield held.pop(item.conn_id)
            yield item
        yield from held.values()
        held.clear()

    def drain(self) -> Iterator[StreamItem]:
        """The summary sessions still open at the end of the log."""
        for summary in self.summary.table.drain():
            link = self.merged.pop(summary.session.id, None)
            if link is None:
                yield summary
            else:
                yield from self._forward(summary, *link)
