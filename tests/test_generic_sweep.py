"""Regressions from the sweep of SMTP transcripts pasted in GitHub issues: the generic
reader's defects (D1 bare continuation lines, D8 empty marker lines, D2 excerpts that
start mid-session, D5 layouts it refused) and the wrappers pastes put around every line.

Every input here is hand-written in the shape of a pasted log (no third-party text)."""

from __future__ import annotations

from pathlib import Path

import pytest

from smtplens.analysis import analyze_stream
from smtplens.model import Session
from smtplens.sources import UNWRAPPED_CODE, detect_text_format, read_source
from smtplens.sources.generic import GenericTranscript
from smtplens.sources.wrappers import find_wrapper
from smtplens.stream import Notice, StreamItem
from tests.helpers import SAMPLES, ids, render_views, verbs

#: the AUTH LOGIN answers below: user "user", password "pass"
USER, PASSWORD = "dXNlcg==", "cGFzcw=="


def generic(lines: list[str]) -> list[Session]:
    return list(analyze_stream(GenericTranscript().parse(enumerate(lines, 1), "test")))


def from_file(tmp_path: Path, lines: list[str], name: str = "pasted.log") -> tuple[
        str, list[StreamItem], list[Session]]:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    items = list(read_source(str(path)))
    return detect_text_format(str(path)).name, items, list(analyze_stream(iter(items)))


def reply_lines(s: Session) -> list[str]:
    return [e.reply_text for e in s.exchanges]


# -- D1: a line without the prefix goes on with the open reply or the message ----------

BARE_CONT = [
    "S: 220 mx.example ESMTP", "C: EHLO a.example", "S: 250-mx.example",
    "250-AUTH LOGIN", "250 OK", "C: AUTH LOGIN", "S: 334 VXNlcm5hbWU6", f"C: {USER}",
    "S: 334 UGFzc3dvcmQ6", f"C: {PASSWORD}", "S: 235 ok", "C: MAIL FROM:<a@b.example>",
    "S: 250 ok", "C: QUIT", "S: 221 bye"]


def test_bare_reply_lines_continue_the_open_reply() -> None:
    [s] = generic(BARE_CONT)
    assert verbs(s) == [("EHLO", 250), ("AUTH", 334), ("AUTH-ANSWER", 334),
                        ("AUTH-ANSWER", 235), ("MAIL", 250), ("QUIT", 221)]
    assert reply_lines(s)[0] == "mx.example\nAUTH LOGIN\nOK"
    assert [a.user for a in s.auth] == ["user"]
    assert not ids(s) & {"auth.before-ehlo", "protocol.pipelining-violation",
                         "auth.out-of-step", "protocol.unmatched-reply"}
    shown = render_views([s])
    assert "250 VXNlcm5hbWU6" not in shown  # no reply shifted onto another code
    assert "pass" not in shown.replace("password", "").replace("Password", "")


def test_bare_lines_after_a_prefixed_reply_line() -> None:
    # FakeSMTP: "09:41:12 AM - Server: 250-x" and the rest of the reply unprefixed; the
    # message itself is not in the log (a 250 follows the 354 directly)
    lines = ["09:41:12 AM - Server: 220 mx.example ESMTP",
             "09:41:12 AM - Client: EHLO [127.0.0.1]",
             "09:41:12 AM - Server: 250-mx.example", "250-8BITMIME", "250-AUTH LOGIN",
             "250 Ok", "09:41:12 AM - Client: MAIL FROM:<a@b.example>",
             "09:41:12 AM - Server: 250 Ok", "09:41:12 AM - Client: RCPT TO:<c@d.example>",
             "09:41:12 AM - Server: 250 Ok", "09:41:12 AM - Client: DATA",
             "09:41:12 AM - Server: 354 End data with <CR><LF>.<CR><LF>",
             "09:41:12 AM - Server: 250 Ok", "09:41:12 AM - Client: QUIT",
             "09:41:12 AM - Server: 221 Bye"]
    [s] = generic(lines)
    assert reply_lines(s)[0] == "mx.example\n8BITMIME\nAUTH LOGIN\nOk"
    assert [v for v, _ in verbs(s)] == ["EHLO", "MAIL", "RCPT", "DATA", ".", "QUIT"]
    assert verbs(s)[-1] == ("QUIT", 221)
    assert "data.terminator-missing" not in ids(s)


def test_a_reply_with_another_code_is_not_a_continuation() -> None:
    lines = ["S: 220 mx.example", "C: EHLO a.example", "S: 250-mx.example",
             "550 not ours", "S: 250 OK", "C: QUIT", "S: 221 bye"]
    [s] = generic(lines)
    assert reply_lines(s)[0] == "mx.example\nOK"


def test_bare_message_lines_after_a_prefixed_write() -> None:
    # go-smtp's Server.Debug behind a log prefix: a multi-line write gets the prefix on
    # its first line only (maddy)
    p = "07.07.19 17:23:12 smtp: "
    lines = [p + "220 mx.example ESMTP Service Ready", p + "EHLO [192.0.2.1]",
             p + "250-Hello [192.0.2.1]", p + "250 SIZE 33554432",
             p + "MAIL FROM:<a@b.example>", p + "250 2.0.0 Roger",
             p + "RCPT TO:<c@d.example>", p + "250 2.0.0 OK", p + "DATA",
             p + "354 2.0.0 Go ahead", p + "To: c@d.example", "From: a@b.example",
             "Subject: Stickers", "", "Hello there.", ".", p + "250 2.0.0 Queued",
             p + "QUIT", p + "221 2.0.0 Bye"]
    [s] = generic(lines)
    assert [v for v, _ in verbs(s)] == ["EHLO", "MAIL", "RCPT", "DATA", ".", "QUIT"]
    [t] = s.transactions
    assert t.message is not None and t.message.info is not None
    assert t.message.info.subject == "Stickers"
    assert "data.terminator-missing" not in ids(s)


# -- D8: a marker with nothing after it ------------------------------------------------

def test_empty_marker_lines_are_ignored() -> None:
    lines = ["flutter: S: 220 mx.example ESMTP", "flutter: S:", "flutter: C: EHLO a.example",
             "flutter: S: 250-mx.example", "flutter: S: 250 AUTH LOGIN", "flutter: S:",
             "flutter: C: QUIT", "flutter: S: 221 bye", "flutter: S:"]
    sessions = generic(lines)
    assert len(sessions) == 1
    assert verbs(sessions[0]) == [("EHLO", 250), ("QUIT", 221)]
    assert not ids(sessions[0]) & {"protocol.malformed-reply", "protocol.unmatched-reply",
                                   "protocol.greeting-refused"}


# -- D2: an excerpt that starts mid-session --------------------------------------------

def test_an_excerpt_from_the_middle_of_a_session() -> None:
    lines = ["flutter: S: 250-mx.example Hello", "flutter: S: 250 AUTH LOGIN",
             "flutter: C: AUTH LOGIN", "flutter: S: 334 VXNlcm5hbWU6", f"flutter: C: {USER}",
             "flutter: S: 334 UGFzc3dvcmQ6", f"flutter: C: {PASSWORD}", "flutter: S: 235 ok",
             "flutter: C: QUIT", "flutter: S: 221 bye"]
    items = list(GenericTranscript().parse(enumerate(lines, 1), "test"))
    assert isinstance(items[1], Notice) and items[1].code == "capture.midstream"
    assert items[1].conn_id is not None
    [s] = analyze_stream(iter(items))
    assert "capture.midstream" in ids(s)
    assert not ids(s) & {"protocol.greeting-refused", "auth.before-ehlo"}
    assert [a.user for a in s.auth] == ["user"]


@pytest.mark.parametrize("first", ["S: 220 mx.example ESMTP", "C: EHLO a.example",
                                   "S: 554 no service here"])
def test_a_whole_session_is_not_midstream(first: str) -> None:
    lines = [first, "C: QUIT", "S: 221 bye"] if first.startswith("S") else \
        [first, "S: 250 mx.example", "C: QUIT", "S: 221 bye"]
    [s] = generic(lines)
    assert "capture.midstream" not in ids(s)


# -- D5: layouts the generic reader refused ---------------------------------------------

RUBY = ['opening connection to mx.example:25...', '-> "220 mx.example ESMTP\\r\\n"',
        '<- "EHLO a.example\\r\\n"', '-> "250-mx.example\\r\\n"', '-> "250 AUTH LOGIN\\r\\n"',
        '<- "AUTH LOGIN\\r\\n"', '-> "334 VXNlcm5hbWU6\\r\\n"', f'<- "{USER}\\r\\n"',
        '-> "334 UGFzc3dvcmQ6\\r\\n"', f'<- "{PASSWORD}\\r\\n"', '-> "235 ok\\r\\n"',
        '<- "QUIT\\r\\n"', '-> "221 bye\\r\\n"']
HAXE = ["SmtpMailer.hx:222:    <<<220 mx.example ESMTP", "SmtpMailer.hx:200: >>>EHLO a.example",
        "SmtpMailer.hx:222:    <<<250-mx.example", "SmtpMailer.hx:222:    <<<250 HELP",
        "SmtpMailer.hx:200: >>>QUIT", "SmtpMailer.hx:222:    <<<221 bye"]
_ST = ('2026-05-01T10:00:0{n}.000001Z TRACE session{{instance="submission" protocol=Smtp '
       'remote.ip="192.0.2.1" remote.port=4000{n}}}: smtp::inbound::session: ')
STALWART = [
    _ST.format(n=0) + 'event="read" data="" size=0',
    _ST.format(n=1) + 'event="write" data="220 mx.example ESMTP\\r\\n" size=22',
    _ST.format(n=2) + 'event="read" data="EHLO a.example\\r\\n" size=16',
    _ST.format(n=3) + 'smtp::inbound::ehlo: context="ehlo" event="ehlo" domain="a.example"',
    _ST.format(n=4) + 'event="write" data="250-mx.example\\r\\n250 HELP\\r\\n" size=26',
    _ST.format(n=5) + 'event="read" data="QUIT\\r\\n" size=6',
    _ST.format(n=6) + 'event="write" data="221 bye\\r\\n" size=9']


@pytest.mark.parametrize("lines", [RUBY, HAXE, STALWART], ids=["ruby", "haxe", "stalwart"])
def test_layouts_read_by_the_generic_reader(tmp_path: Path, lines: list[str]) -> None:
    fmt, _, sessions = from_file(tmp_path, lines)
    assert fmt == "generic"
    [s] = sessions
    assert verbs(s)[0] == ("EHLO", 250) and verbs(s)[-1] == ("QUIT", 221)
    assert s.greeting_code == 220
    assert reply_lines(s)[0] == "mx.example\n" + ("AUTH LOGIN" if lines is RUBY else "HELP")
    assert "capture.midstream" not in ids(s)


def test_ruby_escapes_are_decoded_and_the_secret_redacted(tmp_path: Path) -> None:
    _, _, [s] = from_file(tmp_path, RUBY)
    assert [a.user for a in s.auth] == ["user"]
    assert all('"' not in e.text and "\\r" not in e.text for e in s.exchanges)
    assert PASSWORD not in render_views([s])


# -- the pre-pass: wrappers around every line --------------------------------------------

TELNET = ["220 mx.example ESMTP", "EHLO a.example", "250-mx.example", "250 HELP", "QUIT",
          "221 bye"]


def _unwrapped_notice(items: list[StreamItem]) -> Notice:
    [n] = [i for i in items if isinstance(i, Notice) and i.code == UNWRAPPED_CODE]
    return n


@pytest.mark.parametrize("wrap", [
    lambda ln: f"`{ln}`", lambda ln: f"> {ln}", lambda ln: f"    {ln}",
], ids=["backticks", "quote", "indent"])
def test_wrapped_transcripts_are_read_unwrapped(tmp_path: Path, wrap: object) -> None:
    lines = ["```text", *(wrap(ln) for ln in TELNET), "```"]  # type: ignore[operator]
    fmt, items, [s] = from_file(tmp_path, lines)
    assert fmt == "generic"
    assert verbs(s) == [("EHLO", 250), ("QUIT", 221)]
    assert _unwrapped_notice(items).location == "line 1"


def test_docker_compose_prefix_and_a_syslog_line_without_its_date(tmp_path: Path) -> None:
    lines = ["mailserver  | mail postfix/smtpd[3101]: connect from unknown[192.0.2.1]",
             "mailserver  | mail postfix/smtpd[3101]: warning: unknown[192.0.2.1]: SASL "
             "LOGIN authentication failed: UGFzc3dvcmQ6",
             "mailserver  | mail postfix/smtpd[3101]: disconnect from unknown[192.0.2.1] "
             "ehlo=1 auth=0/1 commands=1/2"]
    fmt, items, [s] = from_file(tmp_path, lines)
    assert fmt == "postfix-log"
    assert "docker compose" in _unwrapped_notice(items).message
    assert "auth.failed" in ids(s)
    assert s.ts_start is None  # the lines have no date


def test_a_mailkit_log_indented_by_the_paste(tmp_path: Path) -> None:
    own = [ln for ln in (SAMPLES / "mailkit-protocol.log").read_text().splitlines()
           if not ln.startswith("#")]
    # every line indented; only the first line indented (one connection, as pasted)
    second = next(i for i, ln in enumerate(own) if i and ln.startswith("Connected to"))
    for lines in ([f"  {ln}" if ln else ln for ln in own], [" " + own[0], *own[1:second]]):
        fmt, items, sessions = from_file(tmp_path, lines)
        assert fmt == "mailkit"
        assert sessions and _unwrapped_notice(items)


def test_no_wrapper_on_an_ordinary_file() -> None:
    assert find_wrapper(TELNET) is None
    assert find_wrapper(["C: EHLO a", "S: 250 ok"]) is None


def test_a_format_with_its_own_leading_blank_keeps_it(tmp_path: Path) -> None:
    # stripping is chosen only when it reads better: the C:/S: file stays as it is
    lines = [" C: EHLO a.example", " S: 250 mx.example", " C: QUIT", " S: 221 bye"]
    fmt, _, sessions = from_file(tmp_path, lines)
    assert sessions and verbs(sessions[0])[-1] == ("QUIT", 221)
    assert fmt in ("cs", "generic")
