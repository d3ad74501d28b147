"""The redaction pass: skipping the walk never changes what it would have redacted.

:meth:`Redactor.session` first joins every string the walk would visit and looks for
the session's secrets in that text once; only when one may be there does the full walk
run. These tests hold it to the walk: on random sessions with secrets in random places,
on every sample, and on records whose values are not what their annotations say.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtplens.analysis import analyze_file
from smtplens.findings.finding import Evidence
from smtplens.redact import Redactor, _strings, _Walk
from smtplens.sasl import SaslStep
from smtplens.secret import REDACTED
from smtplens.stream import Direction
from tests.helpers import SAMPLES, render_views, session_of, sessions_of
from tests.test_secrets import GREETING, PLACES, SECRET, _session_text


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@contextmanager
def against_the_walk() -> Iterator[list[tuple[Any, Any]]]:
    """Every session finished inside: (what :meth:`Redactor.session` gave, what the full
    walk gives on a copy of the same session)."""
    pairs: list[tuple[Any, Any]] = []
    real = Redactor.session

    def session(self: Redactor, obj: Any) -> Any:
        walked = _Walk(self).walk(copy.deepcopy(obj)) if self else copy.deepcopy(obj)
        pairs.append((real(self, obj), walked))
        return pairs[-1][0]

    with mock.patch.object(Redactor, "session", session):
        yield pairs


#: more places for a secret: wire text the AUTH exchange never saw
MORE_PLACES = {
    "subject": "C: Subject: {secret}\nC: X-Note: {b64}\n",
    "mail-from": "",
    "helo": "",
    "reply": "",
}


def _with_message(place: str, user: str, secret: str) -> str:
    mail = f"<{secret}@example.org>" if place == "mail-from" else "<a@example.org>"
    helo = f"C: HELO {secret}\nS: 250 ok\n" if place == "helo" else ""
    reply = f" {b64(secret)}" if place == "reply" else ""
    header = MORE_PLACES[place].format(secret=secret, b64=b64(secret))
    return (GREETING + f"C: AUTH LOGIN\nS: 334 VXNlcm5hbWU6\nC: {b64(user)}\n"
            f"S: 334 UGFzc3dvcmQ6\nC: {b64(secret)}\nS: 235 ok{reply}\n" + helo
            + f"C: MAIL FROM:{mail}\nS: 250 ok\nC: RCPT TO:<b@example.com>\nS: 250 ok\n"
            f"C: DATA\nS: 354 go\n{header}C: From: a@example.org\nC:\nC: body\nC: .\n"
            "S: 250 queued\nC: QUIT\nS: 221 bye\n")


@settings(max_examples=150, deadline=None, derandomize=True)
@given(place=st.sampled_from(PLACES + tuple(MORE_PLACES)), secret=SECRET, tls=st.booleans(),
       user=st.from_regex(r"[a-z]{3,8}", fullmatch=True))
def test_the_pass_redacts_what_the_walk_redacts(place: str, secret: str, tls: bool,
                                                user: str) -> None:
    text = (_with_message(place, user, secret) if place in MORE_PLACES
            else _session_text(place, user, secret, tls))
    with against_the_walk() as pairs:
        sessions_of(text)
    assert pairs
    for got, walked in pairs:
        assert got == walked


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.iterdir()
                                        if p.suffix in (".txt", ".log", ".pcap")))
def test_every_string_the_walk_visits_is_searched(name: str) -> None:
    visited: list[str] = []
    real_value = _Walk.value

    def value(self: _Walk, obj: Any) -> Any:
        if type(obj) is str:
            visited.append(obj)
        return real_value(self, obj)

    secret = Redactor()
    secret.add("not-in-any-sample")
    for session in analyze_file(str(SAMPLES / name)):
        joined = "\0".join(filter(None, _strings(session)))
        visited.clear()
        with mock.patch.object(_Walk, "value", value):
            _Walk(secret).walk(session)
        assert visited
        missing = [s for s in visited if s not in joined]
        assert not missing, missing[:5]


def test_a_session_without_its_secret_elsewhere_is_not_walked() -> None:
    text = _session_text("login", "alice", "Tr0ub4dor&3", tls=False)
    with mock.patch.object(_Walk, "walk", side_effect=AssertionError("walked")):
        sessions = sessions_of(text)
    assert sessions[0].auth[0].outcome == "failure"


# -- records whose values are not what their annotations say ------------------------------

@dataclass
class Loose:
    """Annotated as text, holding anything."""

    text: str
    texts: tuple[str, ...] = ()
    params: dict[str, str | None] = field(default_factory=dict)
    other: object = None


@dataclass(frozen=True)
class Inner:
    note: str


@pytest.mark.parametrize("record", [
    Loose(["x hunter2-secret y"]),  # type: ignore[arg-type]
    Loose("a", (Inner("hunter2-secret"),)),  # type: ignore[arg-type]
    Loose("a", params={"K": Inner("hunter2-secret")}),  # type: ignore[dict-item]
    Loose("a", params={"hunter2-secret": None}),
    Loose("a", b"hunter2-secret"),  # type: ignore[arg-type]
    Loose("a", other=b"x hunter2-secret"),
    Loose("a", other=SaslStep(Direction.CLIENT, "x", True, "label",
                              fields=(("k", Inner("hunter2-secret")),))),  # type: ignore[arg-type]
    Loose("a", other=[Evidence("s", excerpt="535 failed for hunter2-sec…")]),
])
def test_a_value_unlike_its_annotation_is_still_redacted(record: Loose) -> None:
    r = Redactor()
    r.add("hunter2-secret")
    expected = _Walk(r).walk(copy.deepcopy(record))
    got = r.session(record)
    assert got == expected
    assert "hunter2-secret" not in repr(got) and REDACTED in repr(got)


def test_a_login_user_name_on_the_auth_line_is_not_a_secret() -> None:
    # "AUTH LOGIN <user>" (curl test 920, bots): the user name was hidden in all the
    # session's text, MAIL FROM and the From: header included, and auth.user read
    # "[redacted]"; only the password is a secret, as when the user comes after a 334
    user, password = "alice@example.org", "Tr0ub4dor&3"
    s = session_of(GREETING + f"""
C: AUTH LOGIN {b64(user)}
S: 334 UGFzc3dvcmQ6
C: {b64(password)}
S: 235 ok
C: MAIL FROM:<{user}>
S: 250 ok
""")
    assert s.auth[0].user == user and s.user == user
    assert s.transactions[0].mail_from == user
    shown = render_views([s])
    assert password not in shown and b64(password) not in shown
    assert s.exchanges[1].text == "AUTH LOGIN [redacted response, 24 chars]"
