"""The generic reader reads a known transcript the same way, whatever prefix and markers
wrap it: property tests over timestamps, logger names and direction markers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from smtplens.analysis import analyze_stream
from smtplens.findings.catalog import CATALOG
from smtplens.model import Session
from smtplens.sources.generic import GenericTranscript
from smtplens.sources.transcript import CSTranscript
from tests.helpers import SAMPLES

_CS = re.compile(r"^\S+ ([CS]): ?(.*)$")
#: transcripts recorded from aiosmtpd by samples/make_samples.py (AUTH LOGIN and a
#: dot-stuffed line; a message cut short, its rest read as unknown commands; a message
#: that never ends; a line with a lone dot that was not stuffed)
KNOWN = ["auth-login.txt", "premature-end-linewise.txt", "missing-terminator.txt",
         "unstuffed-dot.txt"]
#: differ by nature between an exact C:/S: transcript and a guessed log
NOT_COMPARED = {f for f, spec in CATALOG.items() if spec.exact_bytes} | {
    "log.read-by-guess", "log.secret-in-log"}


def dialogue(name: str) -> list[tuple[str, str]]:
    lines = (SAMPLES / name).read_text().splitlines()
    return [(m.group(1), m.group(2)) for ln in lines if (m := _CS.match(ln))]


def _py_repr(side: str, text: str) -> str:
    raw = (text + "\r\n").encode()
    return repr(raw.decode()) if side == "C" else repr(raw)


#: (client marker, server marker); a callable renders the whole payload
MARKERS: list[tuple[str, str] | None] = [
    ("C: ", "S: "), ("> ", "< "), ("--> ", "<-- "), ("<-- ", "--> "), ("Sent: ", "Got: "),
    ("Client: ", "Server: "), (">>> ", "<<< "), ("<<< ", ">>> "), ("CLIENT 1: ", "SERVER 1: "),
    ("-> ", "<- "), ("<- ", "-> "), ("C->S: ", "S->C: "), ("send: ", "reply: "), None,
]
TIMES = [
    lambda t: t.strftime("%Y-%m-%d %H:%M:%S,") + f"{t.microsecond // 1000:03d} ",
    lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z ",
    lambda t: t.strftime("%b ") + f"{t.day:2d}" + t.strftime(" %H:%M:%S mail app[4711]: "),
    lambda t: t.strftime("[%Y-%m-%d %H:%M:%S,") + f"{t.microsecond // 1000:03d}] ",
    lambda t: t.strftime("%H:%M:%S.") + f"{t.microsecond // 1000:03d} ",
    lambda t: t.strftime("%m-%d %H:%M:%S.") + f"{t.microsecond // 1000:03d}  1234  1260 ",
    lambda t: "",
]
LOGGERS = ["INFO:mailer:", "DEBUG SMTP: ", "flutter: ", "[3f2a9c] ", "[pid 123] ",
           "I/K9MAIL ( 1234): ", "D/ThunderbirdMail: ", "DEBUG [smtp] ", "D k9mail  : ", ""]


def render(pairs: list[tuple[str, str]], time_style: int, logger: str,
           markers: tuple[str, str] | None, gaps: list[int]) -> list[str]:
    when = datetime(2026, 5, 1, 10, 0, 0, tzinfo=UTC)
    out = []
    for i, (side, text) in enumerate(pairs):
        when += timedelta(microseconds=gaps[i % len(gaps)])
        if markers is None:
            body = text
        elif markers[0] == "send: ":
            body = ("send: " if side == "C" else "reply: ") + _py_repr(side, text)
        else:
            body = markers[0 if side == "C" else 1] + text
        out.append(TIMES[time_style](when) + logger + body)
    return out


def read(items_of: object, lines: list[str]) -> list[Session]:
    fmt = GenericTranscript() if items_of == "generic" else CSTranscript()
    return list(analyze_stream(fmt.parse(enumerate(lines, 1), "test")))


def summary(sessions: list[Session]) -> dict[str, object]:
    return {
        "exchanges": [[(e.verb, e.reply_code) for e in s.exchanges] for s in sessions],
        "users": [[a.user for a in s.auth] for s in sessions],
        "messages": [[(t.message.info.size, t.message.info.subject)
                      if t.message and t.message.info else None for t in s.transactions]
                     for s in sessions],
        "findings": [sorted({f.id for f in s.findings} - NOT_COMPARED) for s in sessions],
    }


def plain(name: str) -> dict[str, object]:
    return summary(read("cs", [f"{side}: {text}" for side, text in dialogue(name)]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(KNOWN), time_style=st.integers(0, len(TIMES) - 1),
       logger=st.sampled_from(LOGGERS), markers=st.sampled_from(MARKERS),
       gaps=st.lists(st.integers(0, 2_000_000), min_size=1, max_size=5))
@example(name="auth-login.txt", time_style=6, logger="", markers=None, gaps=[1])
@example(name="auth-login.txt", time_style=6, logger="", markers=("Sent: ", "Got: "), gaps=[1])
@example(name="auth-login.txt", time_style=1, logger="flutter: ", markers=None, gaps=[1])
@example(name="premature-end-linewise.txt", time_style=0, logger="INFO:mailer:", markers=None,
         gaps=[0])
def test_any_prefix_and_markers_read_like_the_plain_transcript(
        name: str, time_style: int, logger: str, markers: tuple[str, str] | None,
        gaps: list[int]) -> None:
    lines = render(dialogue(name), time_style, logger, markers, gaps)
    assert GenericTranscript().sniff(lines) > 30
    sessions = read("generic", lines)
    assert summary(sessions) == plain(name)
    for s in sessions:
        guess = [f for f in s.findings if f.id == "log.read-by-guess"]
        assert len(guess) == 1 and "high confidence" in guess[0].detail
        assert not s.exact_bytes if hasattr(s, "exact_bytes") else True


@pytest.mark.parametrize("name", KNOWN)
def test_noise_between_the_lines_is_left_out(name: str) -> None:
    lines = render(dialogue(name), 0, "DEBUG [smtp] ", ("--> ", "<-- "), [1000])
    noisy = []
    for i, line in enumerate(lines):
        noisy.append(line)
        if i % 7 == 3:
            noisy.append("2026-05-01 10:00:00,000 INFO [app] still working on it")
        if i % 11 == 5:
            noisy.append("    at com.example.Mailer.send(Mailer.java:42)")
    assert summary(read("generic", noisy)) == plain(name)


def test_an_event_dump_that_quotes_reply_codes_is_not_claimed() -> None:
    # Zeek's dump-events output holds `code: count = 220` and a few command arguments
    # among hundreds of record fields: not a transcript, so detection refuses it (exit 2
    # with what it looks like); forced, the generic reader may still try
    from smtplens.errors import UnknownFormatError
    from smtplens.sources import detect_text_format
    from tests.helpers import need_corpus

    path = need_corpus() / "expected/zeek/scripts.policy.misc.dump-events/smtp-events.log"
    with pytest.raises(UnknownFormatError, match="no layout most lines share"):
        detect_text_format(str(path))
