"""audit/tally.py and audit/report.py: counts that add up in any order, exit codes, the
tables written as CSV and Parquet."""

from __future__ import annotations

import csv
import pickle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtplens.audit.observe import AuthTry, Hit, Seen
from smtplens.audit.report import (
    EXIT_BAD_FILES,
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_UNUSABLE,
    RunInfo,
    build,
    exit_code,
    write_csv,
)
from smtplens.audit.tally import USERS_KEPT, FileStatus, Tally
from smtplens.findings.finding import Severity


def _seen(i: int, client: str = "192.0.2.1", user: str | None = "u",
          outcome: str = "failure", hits: tuple[Hit, ...] = ()) -> Seen:
    return Seen(file="f.log", session=f"s{i}", origin="postfix-log", location=f"line {i}",
                ts_start=1_700_000_000.0 + 60 * i, ts_end=1_700_000_001.0 + 60 * i,
                client=client, server="mx:25", helo="h", user_agent=None, tls=False,
                partial=True, auth=(AuthTry(1_700_000_000.0 + 60 * i, "LOGIN", user, outcome,
                                            f"line {i}", False),),
                hits=hits, messages=1, message_bytes=100, recipients=2,
                rejected_recipients=1, starttls_offered=None, auth_before_tls=False)


HIT = Hit("auth.failed", Severity.WARNING, None, "line 1", "AUTH LOGIN failed")


@settings(max_examples=60, deadline=None)
@given(st.permutations(list(range(12))), st.integers(1, 5))
def test_tallies_add_up_the_same_in_any_order(order: list[int], parts: int) -> None:
    seen = [_seen(i, client=f"192.0.2.{i % 3}", user=f"user{i:03d}",
                  hits=(HIT,) if i % 2 else ()) for i in range(12)]
    whole = Tally()
    for s in seen:
        whole.add(s)
    pieces = [Tally() for _ in range(parts)]
    for n, i in enumerate(order):
        pieces[n % parts].add(seen[i])
    merged = Tally()
    for piece in pieces:
        merged.merge(piece)
    for name in ("sessions", "messages", "auth", "findings", "finding_sessions",
                 "timeline", "first_ts", "last_ts"):
        assert getattr(merged, name) == getattr(whole, name), name
    assert {k: (p.sessions, p.auth_failure, p.users) for k, p in merged.clients.items()} == \
        {k: (p.sessions, p.auth_failure, p.users) for k, p in whole.clients.items()}


def test_kept_user_names_do_not_depend_on_the_order() -> None:
    names = [f"user{i:04d}" for i in range(USERS_KEPT * 3)]
    forward, backward = Tally(), Tally()
    for i, name in enumerate(names):
        forward.add(_seen(i, user=name))
    for i, name in enumerate(reversed(names)):
        backward.add(_seen(i, user=name))
    kept = forward.clients["192.0.2.1"].users
    assert kept == backward.clients["192.0.2.1"].users == set(sorted(names)[:USERS_KEPT])


def test_a_tally_pickles() -> None:
    t = Tally()
    t.add(_seen(1, hits=(HIT,)))
    again = pickle.loads(pickle.dumps(t))
    assert again.findings == t.findings and again.clients.keys() == t.clients.keys()


def _files(*states: tuple[int, bool, str]) -> Tally:
    t = Tally()
    for n, (sessions, unreadable, skipped) in enumerate(states):
        t.files.append(FileStatus(f"f{n}", sessions=sessions, unreadable=unreadable,
                                  skipped=skipped))
    t.sessions = sum(s for s, _, _ in states)
    return t


@pytest.mark.parametrize(("states", "fail_on", "code"), [
    (((3, False, ""),), "error", EXIT_OK),
    (((3, False, ""), (0, True, "")), "error", EXIT_BAD_FILES),
    (((0, True, ""), (0, False, "")), "error", EXIT_UNUSABLE),
    (((0, False, "nothing appended"),), "error", EXIT_OK),  # --state: nothing new
])
def test_exit_codes(states: tuple[tuple[int, bool, str], ...], fail_on: str,
                    code: int) -> None:
    assert exit_code(_files(*states), [], fail_on) == code


def test_findings_decide_the_exit_code_with_fail_on() -> None:
    t = _files((1, False, ""))
    t.add(_seen(1, hits=(HIT,)))
    assert exit_code(t, [], "warning") == EXIT_FINDINGS
    assert exit_code(t, [], "error") == EXIT_OK
    assert exit_code(t, [], "never") == EXIT_OK


def test_csv_cells_never_run_as_formulas_nor_carry_controls(tmp_path: Path) -> None:
    t = Tally()
    t.add(_seen(1, client="=HYPERLINK(\"http://x\")", user="@SUM(A1)\x1b[2J"))
    t.files.append(FileStatus("-cmd|' /C calc'!A0", sessions=1))
    report = build(t, [], RunInfo(("in",)))
    write_csv(report, str(tmp_path))
    text = "".join(p.read_text() for p in tmp_path.glob("*.csv"))
    assert "\x1b" not in text
    for name in ("clients.csv", "files.csv"):
        with open(tmp_path / name, newline="") as f:
            for row in csv.DictReader(f):
                for value in row.values():
                    assert not value.startswith(("=", "+", "-", "@")), (name, value)


def test_the_readme_documents_every_key_of_the_report() -> None:
    import re

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    table = readme.split("<!-- audit-schema:start -->")[1].split("<!-- audit-schema:end -->")[0]
    documented = set(re.findall(r"`([a-z_]+)`", table))
    t = Tally()
    t.add(_seen(1, hits=(HIT,)))
    t.files.append(FileStatus("f.log", sessions=1, problems=[
        {"location": "line 1", "message": "m", "code": "c", "fatal": False}]))
    from smtplens.audit.correlate import CrossFinding, Place

    cross = CrossFinding("audit.password-guessing", Severity.ERROR, "client 192.0.2.1", "d",
                         5, 1.0, 2.0, (Place("f.log", "s1", "line 1", 1.0),))
    report = build(t, [cross], RunInfo(("in",)))

    def keys(value: object) -> set[str]:
        if isinstance(value, dict):
            found = set()
            for k, v in value.items():
                # maps keyed by data (outcomes, mechanisms, origins) document the map only
                found |= {k} | (set() if k in ("auth", "mechanisms", "origins") else keys(v))
            return found
        if isinstance(value, list):
            return set().union(*map(keys, value)) if value else set()
        return set()

    assert keys(report) <= documented, keys(report) - documented
