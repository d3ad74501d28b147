"""Cross-session findings: what many sessions show together and no single one does.

Theory of operation
-------------------
A :class:`Correlator` is fed :class:`~smtplens.audit.observe.Seen` records in any
order (files are read in parallel) and keeps only what its rules need:

* every failed or successful AUTH (RFC 4954 §4) with a time and a client address, as
  a tuple ``(ts, client, user, outcome, file, location, session)``; the window rules
  are decided only in :meth:`Correlator.findings`, after sorting by time;
* per-key counters for the rules that need no window (broken client software, servers
  that took a smuggled end of data, offered AUTH before TLS or stripped STARTTLS):
  they grow with the number of keys only.

Correlators of different files are added with :meth:`Correlator.merge`; any order
gives the same findings (what is kept of many is the smallest few by a total order).

A window rule finds *bursts*: the window of ``window`` seconds ending at a failure
qualifies when it holds enough failures (or distinct users, or clients); overlapping
qualifying windows merge into one burst, one finding. The defaults (5 in 600 s) are
fail2ban's postfix-sasl jail (maxretry 5, findtime 10m): a practice, not an RFC rule.

Incremental runs (cron)
-----------------------
:meth:`Correlator.carry` keeps, as JSON, the failures of the last ``window`` seconds
before the newest time seen, the bursts that may still grow ("open": they end inside
that window) with their totals, and the per-key counters, each with whether it was
reported. :meth:`Correlator.resume` starts the next run from it. The semantics:

* A finding an earlier run reported is reported again only when this run adds
  evidence to it (failures, successes or sessions read in this run), then with its
  totals over both runs (the earlier ``first_ts``, the whole ``count``) and a detail
  saying how much is new. Without new evidence it stays silent.
* A burst that straddles the runs and qualified in neither alone is reported once, in
  the later run, over all its failures.
* A late file whose times are older than the earlier run's newest time minus
  ``window`` cannot join a burst of the earlier run; keep ``window`` between runs.
* One resumed correlator per run: merging two raises ``ValueError`` (the carried
  state would count twice).
"""

from __future__ import annotations

import bisect
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from smtplens.audit.observe import Seen
from smtplens.errors import InputError
from smtplens.findings.catalog import CATALOG
from smtplens.findings.finding import Severity
from smtplens.secret import REDACTED

GUESSING = "audit.password-guessing"
SPRAYING = "audit.password-spraying"
DISTRIBUTED = "audit.distributed-guessing"
GUESSED = "audit.guessed-password"
BROKEN = "audit.broken-client"
SMUGGLED = "audit.smuggling-accepted"
AUTH_BEFORE_TLS = "audit.auth-before-tls"
STRIPPED = "audit.starttls-stripped"

#: every id this module can produce
EMITS: tuple[str, ...] = (GUESSING, SPRAYING, DISTRIBUTED, GUESSED, BROKEN, SMUGGLED,
                          AUTH_BEFORE_TLS, STRIPPED)

#: faults that point at the client software when they repeat (RFC 5321 §4.5.2 dot-
#: stuffing, §2.3.8 CRLF only, §4.1.1.4 the end of data)
BROKEN_FAULTS = frozenset({"data.terminator-missing", "data.unstuffed-dot", "data.bare-lf",
                           "data.premature-end", "data.bare-cr"})
PLACES = 5  #: examples kept per finding
NAMES_KEPT = 50  #: names (users, clients) kept per finding, clients per server and side
NAMES_SHOWN = 5  #: names shown in a detail
VERSION = 1  #: of the carry format

@dataclass(frozen=True, slots=True)
class Thresholds:
    """When the window rules fire (defaults: fail2ban's postfix-sasl jail)."""

    failures: int = 5  #: failed AUTH from one client within the window
    window: float = 600.0  #: seconds
    spray_users: int = 5  #: distinct users failing from one client within the window
    distributed_clients: int = 5  #: distinct clients failing for one user within the window
    broken_sessions: int = 3  #: sessions of one client key with the same fault


@dataclass(frozen=True, slots=True)
class Place:
    """Where a cross finding was seen (an example)."""

    file: str
    session: str
    location: str
    ts: float | None


@dataclass(frozen=True, slots=True)
class CrossFinding:
    """One finding across sessions; its texts live in the catalog under ``id``."""

    id: str  #: an ``audit.*`` catalog id
    severity: Severity  #: from the catalog
    subject: str  #: what it is about ("client 203.0.113.9", "server 192.0.2.1:25")
    detail: str  #: one sentence with the numbers
    count: int  #: the failures or sessions it rests on
    first_ts: float | None
    last_ts: float | None
    places: tuple[Place, ...]  #: up to :data:`PLACES` examples, earliest first


# One AUTH attempt: (ts, client, user, outcome, file, location, session); user "" when
# not known. _Row adds whether it was carried from an earlier run.
_Try = tuple[float, str, str, str, str, str, str]
_Row = tuple[float, str, str, str, str, str, str, bool]


def _place_key(p: Place) -> tuple[bool, float, str, str, str]:
    return (p.ts is None, p.ts or 0.0, p.file, p.session, p.location)


def _earliest(places: Iterable[Place]) -> list[Place]:
    """The :data:`PLACES` earliest places, one per location (its earliest time): the
    same for any order of input."""
    first: dict[tuple[str, str, str], Place] = {}
    for p in places:
        key = (p.file, p.session, p.location)
        if key not in first or _place_key(p) < _place_key(first[key]):
            first[key] = p
    return sorted(first.values(), key=_place_key)[:PLACES]


def _row_place(r: _Row) -> Place:
    return Place(r[4], r[6], r[5], r[0])


def _first_places(run: list[_Row]) -> list[Place]:
    """``_earliest`` of the rows' places, looking only at the first rows (sorted by time)."""
    places: dict[tuple[str, str, str], Place] = {}
    for i, r in enumerate(run):
        if len(places) >= PLACES and r[0] > run[i - 1][0]:
            break  # every later place is later than the ones kept
        places.setdefault((r[4], r[6], r[5]), _row_place(r))
    return _earliest(places.values())


@dataclass(slots=True)
class _Count:
    """Sessions behind one non-windowed finding."""

    sessions: int = 0
    new: int = 0  #: sessions of this run (not carried from an earlier one)
    reported: bool = False  #: an earlier run reported it
    places: list[Place] = field(default_factory=list)
    first_ts: float | None = None
    last_ts: float | None = None

    def add(self, place: Place) -> None:
        self.sessions += 1
        self.new += 1
        self.places = _earliest([*self.places, place])
        self._span(place.ts, place.ts)

    def merge(self, other: _Count) -> None:
        self.sessions += other.sessions
        self.new += other.new
        self.reported |= other.reported
        self.places = _earliest([*self.places, *other.places])
        self._span(other.first_ts, other.last_ts)

    def _span(self, first: float | None, last: float | None) -> None:
        self.first_ts = min((t for t in (self.first_ts, first) if t is not None), default=None)
        self.last_ts = max((t for t in (self.last_ts, last) if t is not None), default=None)

    def dump(self, reported: bool) -> dict[str, Any]:
        return {"sessions": self.sessions, "reported": reported, "first_ts": self.first_ts,
                "last_ts": self.last_ts, "places": [_dump_place(p) for p in self.places]}

    @classmethod
    def load(cls, d: dict[str, Any]) -> _Count:
        return cls(int(d["sessions"]), 0, bool(d["reported"]),
                   [_load_place(p) for p in d["places"]], _ts(d["first_ts"]), _ts(d["last_ts"]))


@dataclass(slots=True)
class _Side:
    """The sessions of one server that did (or did not) see STARTTLS offered."""

    count: _Count = field(default_factory=_Count)
    #: client address -> its earliest time; the :data:`NAMES_KEPT` earliest only
    clients: dict[str, float | None] = field(default_factory=dict)
    more: bool = False  #: more clients than kept

    def add(self, client: str | None, place: Place) -> None:
        self.count.add(place)
        self._add({} if client is None else {client: place.ts}, False)

    def merge(self, other: _Side) -> None:
        self.count.merge(other.count)
        self._add(other.clients, other.more)

    def _add(self, clients: dict[str, float | None], more: bool) -> None:
        for client, ts in clients.items():
            old = self.clients.get(client, ts)  # keep the earliest (None: unknown, last)
            self.clients[client] = ts if old is None or (ts is not None and ts < old) else old
        self.more |= more
        # keeping the smallest by (time, address) of a union is the same in any order
        if len(self.clients) > NAMES_KEPT:
            kept = self.first_clients()[:NAMES_KEPT]
            self.clients = {c: self.clients[c] for c in kept}
            self.more = True

    def first_clients(self) -> list[str]:
        return sorted(self.clients, key=lambda c: (self.clients[c] is None,
                                                   self.clients[c] or 0.0, c))

    def clients_text(self) -> str:
        return f"{len(self.clients)} or more clients" if self.more \
            else _n(len(self.clients), "client")


@dataclass(slots=True)
class _Burst:
    """One windowed finding while it is being made (and, open, in the carry)."""

    id: str
    key: tuple[str, ...]  #: (client,), (user,) or (client, user)
    first_ts: float
    last_ts: float
    count: int
    names: list[str]  #: distinct users or clients, sorted, at most NAMES_KEPT
    more: bool
    places: list[Place]
    new: int = 0  #: tries of this run in it
    earlier: int = 0  #: the count of the earlier run's finding it continues
    extra: str = ""  #: more text for the detail

    def dump(self) -> dict[str, Any]:
        return {"id": self.id, "key": list(self.key), "first_ts": self.first_ts,
                "last_ts": self.last_ts, "count": self.count, "names": self.names,
                "more": self.more, "places": [_dump_place(p) for p in self.places]}

    @classmethod
    def load(cls, d: dict[str, Any]) -> _Burst:
        return cls(str(d["id"]), tuple(d["key"]), float(d["first_ts"]), float(d["last_ts"]),
                   int(d["count"]), [str(n) for n in d["names"]], bool(d["more"]),
                   [_load_place(p) for p in d["places"]])


_Opens = dict[tuple[str, tuple[str, ...]], list[_Burst]]


def _dump_place(p: Place) -> list[Any]:
    return [p.file, p.session, p.location, p.ts]


def _load_place(d: list[Any]) -> Place:
    return Place(str(d[0]), str(d[1]), str(d[2]), _ts(d[3]))


def _ts(value: Any) -> float | None:
    return None if value is None else float(value)


_client: Callable[[_Row], str] = itemgetter(1)
_user: Callable[[_Row], str] = itemgetter(2)


def _runs(rows: list[_Row], window: float, need: int,
          distinct: Callable[[_Row], str] | None) -> list[tuple[int, int]]:
    """Index ranges of the bursts in ``rows`` (sorted by time): the union of the
    overlapping windows of at most ``window`` seconds holding ``need`` rows (or
    ``need`` distinct values of ``distinct``)."""
    runs: list[list[int]] = []
    values: Counter[str] = Counter()
    lo = 0
    for i, row in enumerate(rows):
        if distinct is not None:
            values[distinct(row)] += 1
        while row[0] - rows[lo][0] > window:
            if distinct is not None:
                gone = distinct(rows[lo])
                values[gone] -= 1
                if not values[gone]:
                    del values[gone]
            lo += 1
        n = len(values) if distinct is not None else i - lo + 1
        if n >= need:
            if runs and runs[-1][1] >= lo:  # shares a failure with the burst before
                runs[-1][1] = i
            else:
                runs.append([lo, i])
    return [(a, b) for a, b in runs]


class Correlator:
    """Collects what the cross-session rules need and makes their findings."""

    def __init__(self, thresholds: Thresholds = Thresholds()) -> None:
        self.thresholds = thresholds
        self.tries: list[_Try] = []  #: failed and successful AUTH of this run
        self.newest: float | None = None  #: the newest time seen (this run and carried)
        self.broken: dict[tuple[str, str, str, str], _Count] = {}  #: client key + fault
        self.smuggled: dict[str, _Count] = {}  #: server -> sessions
        self.auth_clear: dict[str, _Count] = {}  #: server -> sessions
        #: server -> the sessions that saw STARTTLS offered, and those that did not
        self.starttls: dict[str, tuple[_Side, _Side]] = {}
        self.resumed = False  #: holds the carry of an earlier run
        self.carried: list[_Try] = []  #: failures of the earlier run's last window
        self.open: list[_Burst] = []  #: the earlier run's bursts that may go on

    # ------------------------------------------------------------------ collecting
    def add(self, seen: Seen) -> None:
        """Remember what the rules need of one session."""
        for t in (seen.ts_start, seen.ts_end, *(h.ts for h in seen.hits)):
            self._saw(t)
        client = sys.intern(seen.client) if seen.client is not None else None
        file = sys.intern(seen.file)
        for a in seen.auth:
            self._saw(a.ts)
            # a try without a time cannot be put in a window, one without an address
            # cannot be put with others of its client: no rule here could use them
            if a.ts is None or client is None or a.outcome not in ("success", "failure"):
                continue
            user = a.user if a.user and not a.user.startswith(REDACTED[:-1]) else ""
            self.tries.append((a.ts, client, sys.intern(user), sys.intern(a.outcome), file,
                               a.location, seen.session))
        self._add_counters(seen, client)

    def _add_counters(self, seen: Seen, client: str | None) -> None:
        start = Place(seen.file, seen.session, seen.location, seen.ts_start)
        first: dict[str, Place] = {}
        for h in seen.hits:
            if h.id not in first:
                first[h.id] = Place(seen.file, seen.session, h.location or seen.location,
                                    h.ts if h.ts is not None else seen.ts_start)
        address, helo, agent = seen.client_key
        if seen.client is not None or helo or agent:  # else nothing names the software
            for fault in sorted(BROKEN_FAULTS & first.keys()):
                key = (address, helo, agent, fault)
                self.broken.setdefault(key, _Count()).add(first[fault])
        server = seen.server if seen.server is not None else f"?{seen.file}"
        # RFC 5321 §4.1.1.4: a server that answers the commands hidden after a
        # non-standard end of data took that sequence as the end of the message
        if "data.smuggling-sequence" in first and "protocol.unmatched-reply" in first:
            self.smuggled.setdefault(server, _Count()).add(first["data.smuggling-sequence"])
        # RFC 3207 §4.2, RFC 4954 §4: AUTH belongs after STARTTLS
        if seen.auth_before_tls:
            self.auth_clear.setdefault(server, _Count()).add(start)
        # RFC 3207 §6: STARTTLS may be removed on the path. Unnamed servers are left out:
        # the sessions of one client log may have gone to different servers.
        if seen.server is not None and seen.starttls_offered is not None:
            if seen.server not in self.starttls:
                self.starttls[seen.server] = (_Side(), _Side())
            self.starttls[seen.server][0 if seen.starttls_offered else 1].add(client, start)

    def _saw(self, ts: float | None) -> None:
        if ts is not None and (self.newest is None or ts > self.newest):
            self.newest = ts

    def merge(self, other: Correlator) -> None:
        """Add another correlator's records (any order gives the same findings)."""
        if self.resumed and other.resumed:
            raise ValueError("cannot merge two resumed correlators: their carried state "
                             "would count twice")
        self.tries.extend(other.tries)
        self._saw(other.newest)
        _merge_counts(self.broken, other.broken)
        _merge_counts(self.smuggled, other.smuggled)
        _merge_counts(self.auth_clear, other.auth_clear)
        for server, (yes, no) in other.starttls.items():
            mine = self.starttls.setdefault(server, (_Side(), _Side()))
            mine[0].merge(yes)
            mine[1].merge(no)
        if other.resumed:
            self.resumed = True
            self.carried = list(other.carried)
            self.open = list(other.open)

    # ------------------------------------------------------------------ findings
    def findings(self) -> list[CrossFinding]:
        """All cross findings, worst first, then by time, id and subject."""
        bursts, _ = self._windowed()
        out = [self._burst_finding(b) for b in bursts if b.new]
        out += self._counted()
        return sorted(out, key=lambda f: (-f.severity, f.first_ts is None, f.first_ts or 0.0,
                                          f.id, f.subject, f.detail))

    def _windowed(self) -> tuple[list[_Burst], list[_Burst]]:
        """The bursts of every window rule, and the open bursts of the earlier run
        that no burst of this run touched."""
        th = self.thresholds
        rows: list[_Row] = sorted([(*t, True) for t in self.carried] +
                                  [(*t, False) for t in self.tries])
        failed: dict[str, list[_Row]] = defaultdict(list)
        by_user: dict[str, list[_Row]] = defaultdict(list)
        tried: dict[str, list[_Row]] = defaultdict(list)
        for r in rows:
            if r[3] == "failure":
                failed[r[1]].append(r)
                if r[2]:
                    by_user[r[2]].append(r)
            tried[r[1]].append(r)
        open_by: _Opens = defaultdict(list)
        for o in self.open:
            open_by[o.id, o.key].append(o)
        used: set[int] = set()
        bursts: list[_Burst] = []

        def burst(rule: str, key: tuple[str, ...], run: list[_Row],
                  name: Callable[[_Row], str]) -> None:
            b = _burst_of(rule, key, run, name)
            _continue(b, run, open_by.get((rule, key), []), used)
            bursts.append(b)

        for client, fails in sorted(failed.items()):
            for lo, hi in _runs(fails, th.window, th.failures, None):
                burst(GUESSING, (client,), fails[lo:hi + 1], _user)
            named = [r for r in fails if r[2]]
            for lo, hi in _runs(named, th.window, th.spray_users, _user):
                burst(SPRAYING, (client,), named[lo:hi + 1], _user)
        for user, fails in sorted(by_user.items()):
            for lo, hi in _runs(fails, th.window, th.distributed_clients, _client):
                burst(DISTRIBUTED, (user,), fails[lo:hi + 1], _client)
        for client in sorted(failed):
            bursts += self._guessed(client, tried[client], open_by, used)
        left = [o for o in self.open if id(o) not in used]
        return bursts, left

    def _guessed(self, client: str, rows: list[_Row], opens: _Opens,
                 used: set[int]) -> list[_Burst]:
        """RFC 4954 §4, §9: successes right after many failures of one client (those
        of one user less than ``window`` apart are one finding)."""
        window = self.thresholds.window
        fails = [r for r in rows if r[3] == "failure"]
        times = [r[0] for r in fails]
        groups: list[list[tuple[_Row, list[_Row]]]] = []
        last: dict[str, list[tuple[_Row, list[_Row]]]] = {}
        for r in rows:
            if r[3] != "success":  # (successes are never carried)
                continue
            lo = bisect.bisect_left(times, r[0] - window)
            hi = bisect.bisect_right(times, r[0])
            if hi - lo < self.thresholds.failures:
                continue
            group = last.get(r[2])
            if group is None or r[0] - group[-1][0][0] > window:
                group = last[r[2]] = []
                groups.append(group)
            group.append((r, fails[lo:hi] if not group else []))
        return [self._guessed_burst(client, g, opens, used) for g in groups]

    def _guessed_burst(self, client: str, group: list[tuple[_Row, list[_Row]]],
                       opens: _Opens, used: set[int]) -> _Burst:
        (success, before), last = group[0], group[-1][0]
        user = success[2]
        key = (client, user)
        places = [_row_place(r) for r in before[-(PLACES - 1):]] + [_row_place(success)]
        b = _Burst(GUESSED, key, before[0][0], last[0], len(before), [user] if user else [],
                   False, _earliest(places), new=len(group))
        for o in opens.get((GUESSED, key), []):
            if success[0] - o.last_ts <= self.thresholds.window and id(o) not in used:
                used.add(id(o))
                b.first_ts, b.count, b.earlier = o.first_ts, o.count, o.count
        who = f"as {user}" if user else "(user not logged)"
        b.extra = (f"AUTH {who} succeeded {_duration(success[0] - before[0][0])} after the "
                   f"first of {_n(len(before), 'failed AUTH', '')}")
        if len(group) > 1:
            b.extra += (f"; {_n(len(group) - 1, 'more success', 'es')} followed within "
                        f"{_duration(last[0] - success[0])}")
        b.extra += "; it goes on from a finding of the previous run" if b.earlier else ""
        return b

    def _burst_finding(self, b: _Burst) -> CrossFinding:
        span = _duration(b.last_ts - b.first_ts)
        names = _names(b.names, b.more)
        n = f"{len(b.names)} or more" if b.more else str(len(b.names))
        subject = f"user {b.key[0]}" if b.id == DISTRIBUTED else f"client {b.key[0]}"
        if b.id == GUESSED:
            detail = b.extra
        elif b.id == DISTRIBUTED:
            detail = f"{b.count} failed AUTH from {n} client addresses in {span} ({names})"
        elif b.id == SPRAYING:
            detail = f"{b.count} failed AUTH for {n} user names in {span} ({names})"
        else:
            users = f"{n} user{'s' if n != '1' else ''}: {names}" if b.names \
                else "user names not logged"
            detail = f"{b.count} failed AUTH in {span} ({users})"
        if b.earlier and b.id != GUESSED:
            detail += f"; {b.count - b.earlier} of them since the previous run"
        return CrossFinding(b.id, CATALOG[b.id].severity, subject, detail, b.count,
                            b.first_ts, b.last_ts, tuple(b.places))

    def _counted(self) -> list[CrossFinding]:
        out: list[CrossFinding] = []

        def add(fid: str, subject: str, detail: str, c: _Count) -> None:
            if c.reported:
                detail += f"; {c.new} new since the previous run"
            out.append(CrossFinding(fid, CATALOG[fid].severity, subject, detail, c.sessions,
                                    c.first_ts, c.last_ts, tuple(c.places)))

        for (address, helo, agent, fault), c in self.broken.items():
            if c.sessions >= self.thresholds.broken_sessions and (c.new or not c.reported):
                add(BROKEN, _client_subject(address, helo, agent),
                    f"{fault} ({CATALOG[fault].title}) in {c.sessions} sessions", c)
        for fid, per_server, what in (
                (SMUGGLED, self.smuggled, "the server answered commands sent after a "
                 "non-standard end of data (data.smuggling-sequence with protocol.unmatched-"
                 "reply): it took that sequence as the end of the message"),
                (AUTH_BEFORE_TLS, self.auth_clear, "the clear-text EHLO reply offered AUTH "
                 "next to STARTTLS")):
            for server, c in per_server.items():
                if c.new or not c.reported:
                    add(fid, _server_subject(server), f"in {_n(c.sessions, 'session')} {what}",
                        c)
        for server, (yes, no) in self.starttls.items():
            if yes.count.sessions and no.count.sessions and (no.count.new
                                                             or not no.count.reported):
                named = ", ".join(no.first_clients()[:3])
                add(STRIPPED, _server_subject(server),
                    f"STARTTLS offered in {_n(yes.count.sessions, 'session')} "
                    f"({yes.clients_text()}) and not in {_n(no.count.sessions, 'session')} "
                    f"({no.clients_text()}{': ' + named if named else ''})", no.count)
        return out

    # ------------------------------------------------------------------ carry
    def carry(self) -> dict[str, Any]:
        """JSON-able state for the next incremental run (see the module docstring)."""
        th = self.thresholds
        cutoff = None if self.newest is None else self.newest - th.window
        bursts, left = self._windowed()
        kept = sorted(t for t in [*self.carried, *self.tries]
                      if t[3] == "failure" and cutoff is not None and t[0] >= cutoff)
        still = sorted((b for b in [*bursts, *left] if cutoff is not None
                        and b.last_ts >= cutoff), key=lambda b: (b.id, b.key, b.first_ts))

        def counts(d: dict[Any, _Count], qualifies: Callable[[_Count], bool]) -> list[Any]:
            return [[list(k) if isinstance(k, tuple) else k, c.dump(qualifies(c))]
                    for k, c in sorted(d.items())]

        def side(s: _Side, reported: bool) -> dict[str, Any]:
            return {"count": s.count.dump(reported), "more": s.more,
                    "clients": [[c, s.clients[c]] for c in s.first_clients()]}

        return {
            "version": VERSION, "window": th.window, "newest": self.newest,
            "tries": [list(t) for t in kept],
            "open": [b.dump() for b in still],
            "broken": counts(self.broken, lambda c: c.sessions >= th.broken_sessions),
            "smuggled": counts(self.smuggled, lambda c: True),
            "auth_clear": counts(self.auth_clear, lambda c: True),
            "starttls": [[server, side(yes, False), side(no, bool(yes.count.sessions))]
                         for server, (yes, no) in sorted(self.starttls.items())],
        }

    @classmethod
    def resume(cls, data: dict[str, Any], thresholds: Thresholds = Thresholds()
               ) -> Correlator:
        """A correlator that goes on from :meth:`carry` of an earlier run."""
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise InputError(f"not an audit correlation state of version {VERSION}")
        c = cls(thresholds)
        try:
            c.resumed = True
            c.newest = _ts(data["newest"])
            c.carried = [(float(t[0]), sys.intern(str(t[1])), sys.intern(str(t[2])),
                          sys.intern(str(t[3])), sys.intern(str(t[4])), str(t[5]), str(t[6]))
                         for t in data["tries"]]
            c.open = [_Burst.load(b) for b in data["open"]]
            c.broken = {(str(k[0]), str(k[1]), str(k[2]), str(k[3])): _Count.load(v)
                        for k, v in data["broken"]}
            c.smuggled = {str(k): _Count.load(v) for k, v in data["smuggled"]}
            c.auth_clear = {str(k): _Count.load(v) for k, v in data["auth_clear"]}
            for server, yes, no in data["starttls"]:
                both = c.starttls[str(server)] = (_Side(), _Side())
                for s, d in zip(both, (yes, no), strict=True):
                    s.count = _Count.load(d["count"])
                    s.clients = {str(k): _ts(t) for k, t in d["clients"]}
                    s.more = bool(d["more"])
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise InputError(f"damaged audit correlation state: {e!r}") from e
        return c


def _merge_counts(mine: dict[Any, _Count], theirs: dict[Any, _Count]) -> None:
    for key, count in theirs.items():
        mine.setdefault(key, _Count()).merge(count)


def _burst_of(rule: str, key: tuple[str, ...], run: list[_Row],
              name: Callable[[_Row], str]) -> _Burst:
    names = sorted({name(r) for r in run} - {""})
    return _Burst(rule, key, run[0][0], run[-1][0], len(run), names[:NAMES_KEPT],
                  len(names) > NAMES_KEPT, _first_places(run),
                  new=sum(1 for r in run if not r[7]))


def _continue(b: _Burst, run: list[_Row], opens: list[_Burst], used: set[int]) -> None:
    """Make ``b`` the continuation of the earlier run's open bursts it shares failures
    with: their totals plus what is new (carried failures inside an open burst's time
    span belong to it, since a burst is every failure of its key in its span)."""
    def inside(r: _Row, o: _Burst) -> bool:
        return r[7] and o.first_ts <= r[0] <= o.last_ts

    matched = [o for o in opens if any(inside(r, o) for r in run)]
    if not matched:
        return
    for o in matched:
        used.add(id(o))
    extra = sum(1 for r in run if not any(inside(r, o) for o in matched))
    b.earlier = sum(o.count for o in matched)
    b.count = b.earlier + extra
    b.first_ts = min(b.first_ts, *(o.first_ts for o in matched))
    names = set(b.names).union(*(o.names for o in matched))
    b.more = b.more or any(o.more for o in matched) or len(names) > NAMES_KEPT
    b.names = sorted(names)[:NAMES_KEPT]
    b.places = _earliest([*b.places, *(p for o in matched for p in o.places)])


def _names(names: list[str], more: bool) -> str:
    shown = ", ".join(names[:NAMES_SHOWN])
    return shown + (", ..." if more or len(names) > NAMES_SHOWN else "")


def _n(n: int, word: str, plural: str = "s") -> str:
    return f"{n} {word}{plural if n != 1 else ''}"


def _duration(seconds: float) -> str:
    if 0 < seconds < 0.05:  # captures: a bot needs no time at all
        return "under 0.1 s"
    t = round(seconds)
    if seconds < 10 and abs(seconds - t) >= 0.05:
        return f"{seconds:.1f} s"
    h, m, s = t // 3600, t // 60 % 60, t % 60
    if h:
        return f"{h} h {m} min" if m else f"{h} h"
    return (f"{m} min {s} s" if s else f"{m} min") if m else f"{s} s"


def _client_subject(address: str, helo: str, agent: str) -> str:
    who = "client (address not logged)" if address == "?" else f"client {address}"
    parts = [f"EHLO {helo}"] if helo else []
    if agent:
        parts.append(agent if len(agent) <= 40 else agent[:37] + "...")
    return f"{who} ({', '.join(parts)})" if parts else who


def _server_subject(server: str) -> str:
    # "?FILE": a server whose address its log does not show (the log's own server)
    return f"server (address not logged) of {server[1:]}" if server.startswith("?") \
        else f"server {server}"
