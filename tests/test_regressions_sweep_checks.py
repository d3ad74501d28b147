"""Sweep of real pasted transcripts: checks, masks, redaction, views (D3, D6, D9, D11, D12).

Every input here is hand-written in the shape of a pasted log the sweep met (the pasted
logs themselves are third-party text and stay out of the repository).
"""

from __future__ import annotations

import base64
import io
import json
import random
from pathlib import Path

import pytest
from rich.console import Console

from smtplens.analysis import analyze_file, analyze_stream
from smtplens.builder import excerpt
from smtplens.cli.text import print_conversation
from smtplens.errors import SmtplensError
from smtplens.model import Session
from smtplens.report import session_dict
from smtplens.sasl.base import MASKED_LABEL, is_masked, wire_text
from smtplens.sources.logs.swaks import SwaksTranscript
from tests.helpers import CORPUS, ids, render_views, session_of

ONE_SIDED_GONE = {"protocol.pipelining-violation", "protocol.pipelining-not-advertised",
                  "auth.before-ehlo", "protocol.no-reply", "protocol.unmatched-reply"}


def file_sessions(tmp_path: Path, text: str, name: str = "t.log") -> list[Session]:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    return list(analyze_file(str(path)))


def shown(s: Session) -> str:
    out = io.StringIO()
    print_conversation(Console(file=out, width=300, color_system=None), s, reveal=False)
    return out.getvalue()


def swaks(text: str) -> list[Session]:
    lines = text.strip("\n").splitlines()
    return list(analyze_stream(SwaksTranscript().parse(enumerate(lines, 1), "t.log")))


# -- D3: one side only: no finding whose rule needs the replies -------------------------

PHPMAILER_CLIENT_ONLY = "".join(
    f"2015-10-14 11:51:26 CLIENT -> SERVER: {line}\n" for line in (
        "EHLO a.example", "AUTH LOGIN", "YWxpY2VAZXhhbXBsZS50ZXN0", "czNjcmV0IQ==",
        "MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>", "DATA", "Subject: hi", "",
        "body", ".", "QUIT"))


def test_client_only_phpmailer_log(tmp_path: Path) -> None:
    (s,) = file_sessions(tmp_path, PHPMAILER_CLIENT_ONLY)
    assert s.origin == "phpmailer" and s.server_bytes == 0
    found = ids(s)
    assert "capture.one-sided" in found
    assert not ONE_SIDED_GONE & found, found
    # the rules that need the client's lines only are kept
    assert {"auth.cleartext", "log.secret-in-log"} <= found
    assert s.auth[0].user == "alice@example.test"
    assert s.transactions and s.transactions[0].mail_from == "a@b.example"


def test_client_only_without_auth(tmp_path: Path) -> None:
    # the minimal shape: a client that never waits (it cannot: nothing answers in the log)
    text = "".join(f"2015-10-14 11:51:26 CLIENT -> SERVER: {line}\n" for line in (
        "EHLO a.example", "MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>", "DATA",
        "Subject: hi", "", "body", ".", "QUIT"))
    (s,) = file_sessions(tmp_path, text)
    assert ids(s) == {"capture.one-sided"}


def test_client_side_of_a_transcript() -> None:
    s = session_of("C: EHLO a.example\nC: AUTH PLAIN AGFsaWNlAHMzY3JldCE=\n"
                   "C: MAIL FROM:<a@b.example>\nC: RCPT TO:<c@d.example>\nC: DATA\n"
                   "C: Subject: x\nC:\nC: hi\nC: .\nC: QUIT")
    found = ids(s)
    assert "capture.one-sided" in found and not ONE_SIDED_GONE & found, found
    assert "auth.cleartext" in found


def test_server_side_only_has_no_unmatched_replies() -> None:
    s = session_of("S: 220 mx.example ESMTP\nS: 250-mx.example\nS: 250 AUTH LOGIN\n"
                   "S: 250 ok\nS: 221 bye")
    found = ids(s)
    assert "capture.one-sided" in found and not ONE_SIDED_GONE & found, found


def test_both_sides_still_judged() -> None:
    # the same order with the replies in: AUTH before EHLO and a pipelined DATA stay
    s = session_of("S: 220 mx.example ESMTP\nC: AUTH PLAIN AGFsaWNlAHMzY3JldCE=\n"
                   "S: 503 5.5.1 EHLO first\nC: EHLO a.example\nS: 250-mx.example\n"
                   "S: 250 PIPELINING\nC: MAIL FROM:<a@b.example>\nC: RCPT TO:<c@d.example>\n"
                   "C: DATA\nC: QUIT\nS: 250 ok\nS: 250 ok\nS: 354 go\nS: 221 bye")
    assert {"auth.before-ehlo", "protocol.pipelining-violation"} <= ids(s)
    assert "capture.one-sided" not in ids(s)


# -- D6: values masked by hand ------------------------------------------------------------

HAND_MASKS = ["[base64 user+pass]", "[base64 username]", "<user:pass base64>",
              "c3Bmbxxxxxx=", "eGJ4RxxxxxxxxxU=", "dXNlcm5hbWU****", "bXlwYXNz####",
              "XXXXXXXXXXXX", "AGFsaWNlAHxxxxxxxx=="]


@pytest.mark.parametrize("mask", HAND_MASKS)
def test_hand_masks_are_masks(mask: str) -> None:
    assert is_masked(mask)


def test_placeholder_initial_response() -> None:
    s = session_of("S: 220 mx.example ESMTP\nC: EHLO a.example\nS: 250-mx.example\n"
                   "S: 250 AUTH PLAIN\nC: AUTH PLAIN [base64 user+pass]\nS: 235 ok\n"
                   "C: QUIT\nS: 221 bye")
    (a,) = s.auth
    assert a.mechanism == "PLAIN" and a.outcome == "success"
    assert a.steps[0].label == MASKED_LABEL and not a.secrets_exposed
    assert "auth.invalid-base64" not in ids(s)


def test_half_masked_login_answers_in_a_log() -> None:
    (s,) = swaks("=== Trying 192.0.2.1:25...\n<-  220 mx.example\n -> EHLO a.example\n"
                 "<-  250-mx.example\n<-  250 AUTH LOGIN\n -> AUTH LOGIN\n"
                 "<-  334 VXNlcm5hbWU6\n -> c3Bmbxxxxxx=\n<-  334 UGFzc3dvcmQ6\n"
                 " -> eGJ4RxxxxxxxxxU=\n<-  235 ok\n -> QUIT\n<-  221 bye\n"
                 "=== Connection closed with remote host.")
    (a,) = s.auth
    assert a.outcome == "success"
    assert [st.label for st in a.steps if st.direction.value == "C"] == [MASKED_LABEL] * 2
    assert not {"log.secret-in-log", "auth.invalid-base64"} & ids(s)
    assert "auth.cleartext" in ids(s)  # the log hid them; the wire still carried them


def _texts() -> list[bytes]:
    words = ["alice", "xxxx", "XXXX", "xxxxxxxx@example.test", "Xxxxxxx", "s3cret!",
             "\u00fcber-xxxx", "pa$$w0rd", "12345678@aol.com", "user", "Username:"]
    rng = random.Random(13)
    texts = [w.encode() for w in words]
    texts += [b"\0" + a.encode() + b"\0" + p.encode() for a in words for p in words]
    alphabet = "xX0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ@._-!*#"
    for _ in range(3000):
        n = rng.randint(1, 40)
        texts.append("".join(rng.choice(alphabet) for _ in range(n)).encode())
    return texts


def test_real_base64_text_is_never_a_mask() -> None:
    for data in _texts():
        wire = base64.b64encode(data).decode()
        assert not is_masked(wire), (data, wire)


def test_real_base64_binary_is_never_a_mask() -> None:
    rng = random.Random(4954)
    blobs = [bytes(rng.randrange(256) for _ in range(rng.randint(1, 300)))
             for _ in range(3000)]
    # NTLM type 1 and 3 messages, CRAM-MD5 and SCRAM answers seen in real captures
    blobs += [base64.b64decode(w) for w in (
        "TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==",
        "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw",
        "biwsbj11c2VyLHI9ZnlrbytkMmxiYkZnT05Sdjlxa3hkYXdM")]
    for data in blobs:
        wire = base64.b64encode(data).decode()
        if "xxxx" in wire or "XXXX" in wire:
            continue  # a short binary blob with a run of x is taken for a mask (by design)
        assert not is_masked(wire), wire


def test_every_auth_answer_in_the_corpus_is_not_masked() -> None:
    if not CORPUS.is_dir():
        pytest.skip("the third-party corpus is not here")
    answers = []
    for path in sorted(CORPUS.rglob("*")):
        if not path.is_file() or "expected" in path.parts or path.suffix == ".md":
            continue
        try:
            sessions = list(analyze_file(str(path)))
        except SmtplensError:  # not an SMTP file (the corpus' notes, fixtures)
            continue
        for s in sessions:
            for a in s.auth:
                for step in a.steps:
                    wire = step.wire if isinstance(step.wire, str) else step.wire.reveal()
                    answers.append((path.name, wire))
    assert len(answers) > 100
    # Exim's debug output writes "********************" for what it hides: the one mask
    masked = [(name, w) for name, w in answers if is_masked(w)]
    assert all(set(w) == {"*"} for _, w in masked), masked


# -- D9: the hyphen of multi-line greetings ----------------------------------------------

MULTI_GREETING = ("S: 220-a.example ESMTP\nS: 220-second line\nS: 220 third line\n"
                  "C: EHLO c.example\nS: 250-a.example\nS: 250 HELP\nC: QUIT\nS: 221 bye")


def test_multi_line_greeting_keeps_its_hyphens() -> None:
    out = shown(session_of(MULTI_GREETING))
    assert "S ← 220-a.example ESMTP\n" in out
    assert "S ← 220-second line\n" in out and "S ← 220 third line\n" in out
    assert "S ← 250-a.example\n" in out and "S ← 250 HELP\n" in out


def test_multi_line_reply_in_the_ladder(tmp_path: Path) -> None:
    # the notebook ladder (its frames carry the greeting's code, not its text)
    from tests.test_views_ladder import session_inputs

    path = tmp_path / "g.txt"
    path.write_text("S: 220 a.example ESMTP\nC: EHLO c.example\nS: 250-a.example\n"
                    "S: 250-SIZE 1000\nS: 250-PIPELINING\nS: 250 HELP\nC: QUIT\nS: 221 bye\n")
    html = session_inputs(str(path)).render()
    assert "</span>-<code>a.example</code>" in html
    assert "<code>250-SIZE 1000</code>" in html and "<code>250-PIPELINING</code>" in html
    assert "<code>250 HELP</code>" in html


# -- D11: whole tokens only ---------------------------------------------------------------

def _login(user_b64: str, pass_b64: str, tail: str = "") -> Session:
    return session_of("S: 220 mx.example ESMTP\nC: EHLO a.example\nS: 250 AUTH LOGIN\n"
                      "C: AUTH LOGIN\nS: 334 VXNlcm5hbWU6\n"
                      f"C: {user_b64}\nS: 334 UGFzc3dvcmQ6\nC: {pass_b64}\nS: 235 ok\n{tail}"
                      "C: QUIT\nS: 221 bye")


@pytest.mark.parametrize(("user", "password"), [
    ("dXNlcm5hbWVAZXhhbXBsZS5jb20=", "dXNlcm5hbWVAZXhhbXBsZS5jb2"),  # minus "0="
    ("dXNlcm5hbWVAZXhhbXBsZS5jb20=", "dXNlcm5hbWVAZXhhbXBsZS5jb20"),  # minus "="
    ("bmltbmV3c0BleGFtcGxlLnRlc3Q=", "bmltbmV3c0BleGFtcGxlLnRlc3Q"),  # minus "="
    ("dXNlcm5hbWU=", "dXNlcm5h"),  # a Base64 prefix
    ("YWxpY2VAZXhhbXBsZS50ZXN0", "YWxpY2VAZXhh"),
])
def test_password_inside_the_user_line_is_not_redacted_there(user: str, password: str) -> None:
    s = _login(user, password)
    answers = [e.text for e in s.exchanges if e.kind == "auth"]
    assert answers[0] == user
    assert password not in answers[1]
    views = render_views([s])
    assert user in views and "[redacted]=" not in views
    for line in views.splitlines():  # every other occurrence of the password is gone
        for token in line.replace('"', " ").split():
            assert token.strip(",;()") != password, line


def test_password_as_a_whole_token_elsewhere_is_redacted() -> None:
    s = _login("dXNlcm5hbWVAZXhhbXBsZS5jb20=", "dXNlcm5hbWVAZXhhbXBsZS5jb2",
               "C: MAIL FROM:<dXNlcm5hbWVAZXhhbXBsZS5jb2@x.example>\nS: 250 ok\n")
    assert s.transactions[0].mail_from == "[redacted]@x.example"
    assert "dXNlcm5hbWVAZXhhbXBsZS5jb2@" not in render_views([s])


@pytest.mark.parametrize(("text", "hidden"), [
    ("user dXNlcm5hbWU= ok", False),  # a longer Base64 token
    ("dXNlcm5hbWU", False),
    # '/' or '+' after it may be a longer Base64 token, or a password in a path: hidden,
    # since a missed secret costs more than a redacted look-alike
    ("dXNlcm5h/b+c", True),
    ("dXNlcm5h==", False),  # padded: the Base64 of something else
    ("dXNlcm5h= x", False),
    ("dXNlcm5h", True),
    ("535 bad dXNlcm5h.", True),
    ("p=dXNlcm5h&x=1", True),  # '=' before: a Base64 token never starts after one
    ("/login/dXNlcm5h", True),
    ("<dXNlcm5h@x.example>", True),
])
def test_base64_token_boundaries(text: str, hidden: bool) -> None:
    from smtplens.redact import Redactor

    r = Redactor()
    r.add("dXNlcm5h")
    assert (r.text(text) != text) is hidden, r.text(text)


def test_secret_echoed_by_the_server_is_redacted() -> None:
    # a server that echoes the answer back: there it is a whole token, and hidden
    s = session_of("S: 220 mx.example ESMTP\nC: EHLO a.example\nS: 250 AUTH LOGIN\n"
                   "C: AUTH LOGIN\nS: 334 VXNlcm5hbWU6\nC: YWxpY2U=\nS: 334 UGFzc3dvcmQ6\n"
                   "C: czNjcmV0IQ==\nS: 535 5.7.8 bad answer czNjcmV0IQ==\nC: QUIT\n"
                   "S: 221 bye")
    views = render_views([s])
    assert "czNjcmV0IQ==" not in views and "s3cret!" not in views
    assert "YWxpY2U=" in views


# -- D12: one escaping for details and excerpts -------------------------------------------

WIRE = b"!\x11\x00\xac\x12\x0c\x08zz"


def test_wire_text_escapes_like_the_excerpt() -> None:
    text = WIRE.decode("utf-8", "surrogateescape")
    assert wire_text(text) == excerpt(WIRE) == "!\\x11\\x00\\xac\\x12\\x0c\\x08zz"
    assert wire_text("caf\u00e9 \u202e\t\r\n") == "caf\u00e9 \\u202e\\t\\r\\n"


def test_unknown_command_detail_shows_the_bytes(tmp_path: Path) -> None:
    raw = (b"S: 220 mx.example ESMTP\nC: EHLO a\nS: 250 ok\nC: " + WIRE +
           b"\nS: 500 what\nC: QUIT\nS: 221 bye\n")
    (path := tmp_path / "b.txt").write_bytes(raw)
    (s,) = analyze_file(str(path))
    (f,) = [f for f in s.findings if f.id == "protocol.unknown-command"]
    assert f.evidence.excerpt == "!\\x11\\x00\\xac\\x12\\x0c\\x08zz"
    assert f.detail.endswith("!\\x11\\x00\\xac\\x12\\x0c\\x08ZZ")
    # no surrogate, no raw control anywhere in what the views show
    out = shown(s)
    assert "\\udc" not in out and "\\x0c\\x08" in out
    dumped = json.dumps(session_dict(s)["findings"], ensure_ascii=False)
    dumped.encode("utf-8")  # a lone surrogate would fail here
    assert "\\\\x0c\\\\x08ZZ" in dumped
    from tests.test_views_ladder import session_inputs

    html = session_inputs(str(path)).render()
    assert "\\x0c\\x08ZZ" in html and "\\udcac" not in html
