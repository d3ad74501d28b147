"""Issue 13: defects seen on real inputs (samples from samples/make_issue13_samples.py)."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from smtplens.analysis import analyze_stream
from smtplens.cli.text import clip, print_session
from smtplens.model import Session
from smtplens.report import session_dict
from smtplens.sasl.base import MASKED_LABEL, is_masked
from smtplens.sasl.scram import Scram
from smtplens.sources.logs.swaks import SwaksTranscript
from tests.helpers import SAMPLES, ids, session_of, sessions_of

HELLO = "S: 220 mx ESMTP\nC: EHLO a\nS: 250-mx\nS: 250 AUTH PLAIN LOGIN\n"


def swaks(text: str) -> list[Session]:
    lines = text.strip("\n").splitlines()
    return list(analyze_stream(SwaksTranscript().parse(enumerate(lines, 1), "t.log")))


def swaks_file(name: str) -> list[Session]:
    return swaks((SAMPLES / name).read_text())


def text_of(s: Session) -> str:
    out = io.StringIO()
    print_session(Console(file=out, width=300, color_system=None), s, reveal=False)
    return out.getvalue()


# -- 1. swaks TLS markers, excerpts ----------------------------------------------------

def test_swaks_starttls_real_sample() -> None:
    (s,) = swaks_file("swaks-starttls.log")
    assert s.tls and not s.implicit_tls
    assert s.auth[0].mechanism == "PLAIN" and s.auth[0].user == "alice"
    assert s.auth[0].encrypted and s.auth[0].outcome == "success"
    assert "auth.cleartext" not in ids(s)
    assert "s3cret!" not in json.dumps(session_dict(s), default=str)


def test_swaks_tls_on_connect_real_sample() -> None:
    (s,) = swaks_file("swaks-tls-on-connect.log")
    assert s.tls and s.implicit_tls and s.greeting_code == 220
    assert s.auth[0].encrypted and "auth.cleartext" not in ids(s)


def test_swaks_every_line_tls_marked_without_info_lines() -> None:
    # a paste that kept only the <~ / ~> lines: TLS from the first byte
    text = "\n".join(ln for ln in (SAMPLES / "swaks-tls-on-connect.log").read_text()
                     .splitlines() if not ln.startswith("==="))
    (s,) = swaks(text)
    assert s.tls and s.implicit_tls
    assert "auth.cleartext" not in ids(s) and s.auth[0].encrypted


def test_swaks_excerpt_mid_session_is_not_a_refused_greeting() -> None:
    lines = (SAMPLES / "swaks-starttls.log").read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if "MAIL FROM" in ln) + 1  # "<~  250 OK"
    (s,) = swaks("\n".join(lines[start:]))
    assert s.greeting_code is None
    assert "protocol.greeting-refused" not in ids(s)
    assert "capture.midstream" in ids(s)
    (s,) = swaks("\n".join(lines[start - 1:]))  # " ~> MAIL FROM" first
    assert s.transactions[0].mail_from == "alice@example.test"
    assert "protocol.greeting-refused" not in ids(s)


def test_swaks_ehlo_that_lost_its_marker_is_the_clients() -> None:
    lines = (SAMPLES / "swaks-auth-login.log").read_text().splitlines()
    lines[3] = lines[3].removeprefix(" -> ")
    assert lines[3].startswith("EHLO ")
    (s,) = swaks("\n".join(lines))
    assert s.helo == "client.test.example" and s.capabilities
    assert "input.unparsed-line" not in ids(s)


# -- 2. bare '.' leak after the 250 -----------------------------------------------------

def test_premature_end_linewise_real_sample() -> None:
    (s,) = sessions_of((SAMPLES / "premature-end-linewise.txt").read_text())
    assert "data.premature-end" in ids(s)


def test_premature_end_one_text_line_after_the_250() -> None:
    s = session_of(HELLO + "C: MAIL FROM:<a@b>\nS: 250 ok\nC: RCPT TO:<c@d>\nS: 250 ok\n"
                   "C: DATA\nS: 354 go\nC: Subject: x\nC:\nC: first\nC: .\nS: 250 queued\n"
                   "C: second part\nS: 500 no\nC: QUIT\nS: 221 bye")
    assert "data.premature-end" in ids(s)


def test_unknown_extension_command_after_a_message_is_not_premature() -> None:
    s = session_of(HELLO + "C: MAIL FROM:<a@b>\nS: 250 ok\nC: RCPT TO:<c@d>\nS: 250 ok\n"
                   "C: DATA\nS: 354 go\nC: Subject: x\nC:\nC: hi\nC: .\nS: 250 queued\n"
                   "C: XSTATS\nS: 500 no\nC: QUIT\nS: 221 bye")
    assert "data.premature-end" not in ids(s)


# -- 3. views -----------------------------------------------------------------------------

def test_long_greeting_is_cut_with_an_ellipsis() -> None:
    assert clip("x" * 20) == "x" * 20
    assert clip("y" * 150).endswith("…") and len(clip("y" * 150)) == 100
    s = session_of("S: 220 " + "m" * 60 + " ESMTP ready\nC: QUIT\nS: 221 bye")
    assert "m" * 60 + " ESMTP ready" in text_of(s)


def test_refused_mail_from_is_in_the_text_summary() -> None:
    s = session_of("S: 220 mx\nC: EHLO a\nS: 250 mx\nC: MAIL FROM:<bad@example.invalid>\n"
                   "S: 553 5.1.8 Sender address rejected\nC: RCPT TO:<b@example.test>\n"
                   "S: 503 5.5.1 need MAIL\nC: QUIT\nS: 221 bye")
    out = text_of(s)
    assert "MAIL FROM refused: 553 5.1.8 Sender address rejected" in out


def test_second_scram_challenge_is_server_final() -> None:
    scram = Scram("SCRAM-SHA-256")
    scram.client(b"n,,n=alice,r=abc")
    scram.server_steps = 0
    assert scram.server(b"r=abcdef,s=QSXCR+Q6sek8bf92,i=4096").label == "server-first"
    scram.server_steps = 1
    final = scram.server(b"x=unexpected")
    assert final.label == "server-final" and "no v=" in final.error


def test_one_redaction_wording_for_the_auth_line() -> None:
    s = session_of(HELLO + "C: AUTH PLAIN AGFsaWNlAHMzY3JldCE=\nS: 235 ok")
    ex = next(e for e in s.exchanges if e.verb == "AUTH")
    step = s.auth[0].steps[0]
    assert not isinstance(step.wire, str)
    assert step.wire.redacted() in ex.text  # show and analyze say the same words
    assert "[redacted password, 20 chars]" in ex.text


# -- 4. masked credentials ---------------------------------------------------------------

MASKS = ["****", "XXXX", "********", "<base64 scrambled>", "[credentials hidden]",
         "/* hidden */", "<hidden>", "***"]


@pytest.mark.parametrize("mask", MASKS)
def test_masked_plain_initial_response(mask: str) -> None:
    assert is_masked(mask)
    s = session_of(HELLO + f"C: AUTH PLAIN {mask}\nS: 235 2.7.0 ok")
    a = s.auth[0]
    assert a.mechanism == "PLAIN" and a.outcome == "success"
    assert a.steps[0].label == MASKED_LABEL and not a.secrets_exposed
    assert not {"auth.invalid-base64", "auth.plain-empty-authcid"} & ids(s)


@pytest.mark.parametrize("mask", MASKS)
def test_masked_login_answers_in_a_swaks_log(mask: str) -> None:
    (s,) = swaks("=== Trying 127.0.0.1:25...\n<-  220 mx\n -> EHLO a\n<-  250-mx\n"
                 "<-  250 AUTH LOGIN\n -> AUTH LOGIN\n<-  334 VXNlcm5hbWU6\n"
                 f" -> {mask}\n<-  334 UGFzc3dvcmQ6\n -> {mask}\n<-  235 ok\n -> QUIT\n"
                 "<-  221 bye\n=== Connection closed with remote host.")
    a = s.auth[0]
    assert a.outcome == "success"
    assert [st.label for st in a.steps if st.direction.value == "C"] == [MASKED_LABEL] * 2
    assert not {"auth.invalid-base64", "log.secret-in-log"} & ids(s)
    # the log hid the password, but LOGIN still sent it without TLS
    (clear,) = [f for f in s.findings if f.id == "auth.cleartext"]
    assert clear.detail.endswith("(the log masked the password)")


def test_real_base64_is_not_a_mask() -> None:
    assert not any(is_masked(t) for t in ("YWxpY2U=", "AGFsaWNlAHMzY3JldCE=", "=", "*"))


# -- 5. new syntax checks ----------------------------------------------------------------

def test_syntax_deviations_real_sample() -> None:
    (s,) = sessions_of((SAMPLES / "syntax-deviations.txt").read_text())
    found = {f.id: f for f in s.findings}
    assert "protocol.helo-without-domain" in found
    assert "auth.plain-empty-authcid" in found
    assert found["protocol.path-without-brackets"].detail.startswith("2 paths")
    assert found["protocol.space-after-colon"].severity < \
        found["protocol.path-without-brackets"].severity
    assert s.auth[0].outcome == "failure"


def test_well_formed_commands_raise_none_of_the_syntax_findings() -> None:
    s = session_of(HELLO + "C: AUTH PLAIN AGFsaWNlAHMzY3JldCE=\nS: 235 ok\n"
                   "C: MAIL FROM:<>\nS: 250 ok\nC: RCPT TO:<Postmaster>\nS: 250 ok\n"
                   "C: QUIT\nS: 221 bye")
    assert not {"protocol.path-without-brackets", "protocol.space-after-colon",
                "protocol.helo-without-domain", "auth.plain-empty-authcid"} & ids(s)
