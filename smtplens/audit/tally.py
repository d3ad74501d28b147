"""The report's totals: counters that one file fills and that add up across files.

A :class:`Tally` is filled from :class:`~smtplens.audit.observe.Seen` records as they
come, in the process that read the file, and keeps only counters and a few examples:
its size grows with the number of distinct clients, servers and finding ids, never
with the number of sessions. Tallies of different files (processes, Dask workers) are
added with :meth:`Tally.merge`, in any order, to the same result.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from smtplens.audit.observe import Seen
from smtplens.findings.finding import Severity

#: examples kept per finding id (the first ones, in file order)
EXAMPLES = 3
#: the timeline's buckets, in seconds
BUCKET = 3600


@dataclass(slots=True)
class Party:
    """What was seen of one client address or one server."""

    sessions: int = 0
    auth_success: int = 0
    auth_failure: int = 0
    messages: int = 0
    findings: Counter[str] = field(default_factory=Counter)  #: severity name -> count
    users: set[str] = field(default_factory=set)  #: distinct AUTH users (capped)

    def merge(self, other: Party) -> None:
        self.sessions += other.sessions
        self.auth_success += other.auth_success
        self.auth_failure += other.auth_failure
        self.messages += other.messages
        self.findings.update(other.findings)
        _add_capped(self.users, other.users)

    def score(self) -> tuple[int, int, int, int]:
        """How bad it looks: errors, failed AUTH, warnings, sessions."""
        return (self.findings["error"], self.auth_failure, self.findings["warning"],
                self.sessions)


#: distinct users remembered per party (enough to show, bounded for bots)
USERS_KEPT = 50


def _add_capped(into: set[str], values: set[str] | list[str]) -> None:
    """Keep the :data:`USERS_KEPT` smallest names: the same set whatever the order in
    which files and sessions are added (a report must not depend on which worker
    finished first)."""
    for v in values:
        if v in into:
            continue
        if len(into) < USERS_KEPT:
            into.add(v)
        else:
            largest = max(into)
            if v < largest:
                into.discard(largest)
                into.add(v)


@dataclass(frozen=True, slots=True)
class Example:
    """Where a finding was seen."""

    file: str
    session: str
    location: str
    ts: float | None
    detail: str


@dataclass(slots=True)
class FileStatus:
    """One input file: how it was read."""

    path: str
    origin: str = ""  #: the reader that read it ("pcap", "postfix-log", ...)
    sessions: int = 0
    size: int = 0  #: octets on disk
    read_from: int = 0  #: the offset reading started at (``--state``: the earlier end)
    problems: list[dict[str, Any]] = field(default_factory=list)  #: Problem fields
    unreadable: bool = False  #: a fatal problem: the file could not be read (further)
    skipped: str = ""  #: why the file was not read at all (``--state``: nothing new)
    note: str = ""  #: how it was read (``--state``: "resumed at line ...")

    @property
    def bad(self) -> bool:
        """The file is one of the report's bad files."""
        # a resumed log (``--state``) may have had nothing new in SMTP terms: not bad
        return self.unreadable or (self.sessions == 0 and not self.skipped
                                   and self.read_from == 0)


@dataclass(slots=True)
class Tally:
    """Totals of the sessions of one or more files."""

    sessions: int = 0
    partial_sessions: int = 0
    tls_sessions: int = 0
    messages: int = 0
    message_bytes: int = 0
    recipients: int = 0
    rejected_recipients: int = 0
    auth: Counter[str] = field(default_factory=Counter)  #: outcome -> attempts
    mechanisms: Counter[str] = field(default_factory=Counter)
    origins: Counter[str] = field(default_factory=Counter)  #: sessions per source kind
    findings: Counter[str] = field(default_factory=Counter)  #: id -> occurrences
    finding_sessions: Counter[str] = field(default_factory=Counter)  #: id -> sessions
    severities: dict[str, str] = field(default_factory=dict)  #: id -> worst severity seen
    examples: dict[str, list[Example]] = field(default_factory=dict)
    clients: dict[str, Party] = field(default_factory=dict)
    servers: dict[str, Party] = field(default_factory=dict)
    #: hour (Unix seconds // BUCKET) -> [sessions, failed AUTH, sessions with errors]
    timeline: dict[int, list[int]] = field(default_factory=dict)
    first_ts: float | None = None
    last_ts: float | None = None
    files: list[FileStatus] = field(default_factory=list)

    def add(self, seen: Seen) -> None:
        """Count one session."""
        self.sessions += 1
        self.partial_sessions += seen.partial
        self.tls_sessions += seen.tls
        self.messages += seen.messages
        self.message_bytes += seen.message_bytes
        self.recipients += seen.recipients
        self.rejected_recipients += seen.rejected_recipients
        self.origins[seen.origin] += 1
        ok = sum(1 for a in seen.auth if a.outcome == "success")
        failed = sum(1 for a in seen.auth if a.outcome == "failure")
        for a in seen.auth:
            self.auth[a.outcome] += 1
            self.mechanisms[a.mechanism] += 1
        severities: Counter[str] = Counter()
        for hit in seen.hits:
            self._hit(seen, hit.id, hit.severity, hit.location, hit.ts, hit.detail)
            severities[str(hit.severity)] += 1
        for fid in {h.id for h in seen.hits}:
            self.finding_sessions[fid] += 1
        users = [a.user for a in seen.auth if a.user]
        for key, parties in ((seen.client, self.clients), (seen.server, self.servers)):
            if key is None:
                continue
            party = parties.get(key)
            if party is None:
                party = parties[key] = Party()
            party.sessions += 1
            party.auth_success += ok
            party.auth_failure += failed
            party.messages += seen.messages
            party.findings.update(severities)
            _add_capped(party.users, users)
        ts = seen.ts_start
        if ts is not None:
            bucket = self.timeline.setdefault(int(ts // BUCKET), [0, 0, 0])
            bucket[0] += 1
            bucket[1] += failed
            bucket[2] += severities["error"] > 0
            self._span(ts, seen.ts_end if seen.ts_end is not None else ts)

    def add_cross(self, finding_id: str, severity: Severity, example: Example) -> None:
        """Count one cross-session finding (see :mod:`smtplens.audit.correlate`)."""
        self._count(finding_id, severity, example)
        self.finding_sessions[finding_id] += 1

    def _hit(self, seen: Seen, fid: str, severity: Severity, location: str,
             ts: float | None, detail: str) -> None:
        self._count(fid, severity, Example(seen.file, seen.session, location, ts, detail))

    def _count(self, fid: str, severity: Severity, example: Example) -> None:
        self.findings[fid] += 1
        worst = self.severities.get(fid)
        if worst is None or Severity.parse(worst) < severity:
            self.severities[fid] = str(severity)
        kept = self.examples.setdefault(fid, [])
        if len(kept) < EXAMPLES:
            kept.append(example)

    def _span(self, start: float, end: float) -> None:
        if self.first_ts is None or start < self.first_ts:
            self.first_ts = start
        if self.last_ts is None or end > self.last_ts:
            self.last_ts = end

    def merge(self, other: Tally) -> None:
        """Add ``other``'s counts to these (files in any order give the same totals;
        examples keep the first ones in merge order, at most :data:`EXAMPLES`)."""
        for name in ("sessions", "partial_sessions", "tls_sessions", "messages",
                     "message_bytes", "recipients", "rejected_recipients"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("auth", "mechanisms", "origins", "findings", "finding_sessions"):
            getattr(self, name).update(getattr(other, name))
        for fid, sev in other.severities.items():
            worst = self.severities.get(fid)
            if worst is None or Severity.parse(worst) < Severity.parse(sev):
                self.severities[fid] = sev
        for fid, examples in other.examples.items():
            kept = self.examples.setdefault(fid, [])
            kept.extend(examples[:max(0, EXAMPLES - len(kept))])
        for mine, theirs in ((self.clients, other.clients), (self.servers, other.servers)):
            for key, party in theirs.items():
                if key in mine:
                    mine[key].merge(party)
                else:
                    mine[key] = party
        for hour, counts in other.timeline.items():
            bucket = self.timeline.setdefault(hour, [0, 0, 0])
            for i, n in enumerate(counts):
                bucket[i] += n
        if other.first_ts is not None:
            self._span(other.first_ts, other.last_ts if other.last_ts is not None
                       else other.first_ts)
        self.files.extend(other.files)

    @property
    def worst(self) -> Severity | None:
        """The worst severity of any finding, or None."""
        if not self.severities:
            return None
        return max(Severity.parse(s) for s in self.severities.values())
