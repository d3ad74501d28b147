"""The generic reader on real output (samples/make_generic_samples.py), on junk, and
through the command line (exit codes, forced formats, hints)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from smtplens.analysis import Problem, analyze_file
from smtplens.cli import app
from smtplens.errors import InputError, UnknownFormatError
from smtplens.sources import detect_text_format, read_source
from smtplens.sources.generic import GenericTranscript
from smtplens.stream import Opened
from tests.helpers import SAMPLES

runner = CliRunner()
USER, PASSWORD_B64 = "alice@example.test", "czNjcmV0IQ=="
#: sample -> (prefix shown, markers shown, AUTH answers the client sent)
GENERIC = {
    "generic-smtplib-logging.log": ("prefix `NNNN-NN-NN NN:NN:NN,NNN DEBUG [mailer.smtp] `",
                                    "markers `send:` client / `reply:` server", 2),
    "generic-go-smtp.log": ("no prefix", "no markers", 0),
    "generic-telnet.log": ("no prefix", "no markers", 2),
    "generic-sent-got.log": ("no prefix", "markers `Sent:` client / `Got:` server", 2),
    "generic-logcat.log": ("prefix `NN-NN NN:NN:NN.NNN  NNNN  NNNN D k9mail  : SMTP `",
                           "markers `>>>` client / `<<<` server (told from content)", 2),
}
VERBS = ["EHLO", "AUTH", "MAIL", "RCPT", "DATA", ".", "QUIT"]


@pytest.mark.parametrize("name", sorted(GENERIC))
def test_generic_sample_reads_the_whole_session(name: str) -> None:
    prefix, markers, answers = GENERIC[name]
    path = str(SAMPLES / name)
    assert detect_text_format(path).name == "generic"
    problems: list[Problem] = []
    [session] = analyze_file(path, on_problem=problems.append)
    assert not problems
    verbs = [e.verb for e in session.exchanges if e.verb != "AUTH-ANSWER"]
    assert verbs == VERBS
    assert sum(e.verb == "AUTH-ANSWER" for e in session.exchanges) == answers
    codes = [e.reply_code for e in session.exchanges]
    assert codes[0] == 250 and codes[-1] == 221 and 235 in codes and 354 in codes
    assert [a.user for a in session.auth] == [USER] and session.auth[0].outcome == "success"
    [t] = session.transactions
    assert t.mail_from == USER and [r.address for r in t.recipients] == ["bob@example.test"]
    assert t.message is not None and t.message.info is not None
    assert t.message.info.subject == "Quarterly report" and t.message.info.size == 140
    ids = {f.id for f in session.findings}
    assert {"log.read-by-guess", "auth.cleartext"} <= ids
    [guess] = [f for f in session.findings if f.id == "log.read-by-guess"]
    assert guess.detail.startswith(f"{prefix}; {markers}")
    assert "high confidence" in guess.detail and "line ends not known" in guess.detail


@pytest.mark.parametrize("name", sorted(GENERIC))
def test_generic_sample_never_claims_exact_bytes(name: str) -> None:
    opened = [i for i in read_source(str(SAMPLES / name)) if isinstance(i, Opened)]
    assert opened and all(not o.exact_bytes and o.decrypted and o.origin == "generic"
                          for o in opened)


@pytest.mark.parametrize("name", sorted(GENERIC))
def test_generic_sample_output_redacts_the_password(name: str) -> None:
    result = runner.invoke(app, ["show", str(SAMPLES / name)])
    assert result.exit_code in (0, 1), result.output
    assert USER in result.output
    assert "s3cret!" not in result.output and PASSWORD_B64 not in result.output
    assert "AGFsaWNlQGV4YW1wbGUudGVzdABzM2NyZXQh" not in result.output


def _junk(tmp_path: Path) -> dict[str, Path]:
    rnd = random.Random(13)
    files = {
        "binary.log": bytes(rnd.randrange(256) for _ in range(4000)),
        "table.csv": ("id,name,score,code\n" + "".join(
            f"{i},user{i},{rnd.randrange(1000)},{rnd.choice([250, 354, 550])}\n"
            for i in range(60))).encode(),
        "traceback.txt": b"""Traceback (most recent call last):
  File "/app/mailer.py", line 250, in send
    smtp.sendmail(sender, rcpts, body)
  File "/usr/lib/python3.11/smtplib.py", line 902, in sendmail
    raise SMTPRecipientsRefused(senderrs)
smtplib.SMTPRecipientsRefused: {'bob@example.test': (550, b'5.1.1 User unknown')}
""",
        "prose.txt": b"The quarterly report is attached.\nPlease send it to 250 people\n"
                     b"by mail from the office; data follows in the next mail.\n" * 5,
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return {name: tmp_path / name for name in files}


HINTS = {"binary.log": "binary data", "table.csv": "comma-separated values",
         "traceback.txt": "a Python traceback", "prose.txt": "it looks like text with"}


@pytest.mark.parametrize("name", sorted(HINTS))
def test_junk_is_not_taken_for_smtp(tmp_path: Path, name: str) -> None:
    path = str(_junk(tmp_path)[name])
    assert GenericTranscript().sniff(Path(path).read_text(errors="replace").splitlines()) \
        < 30
    with pytest.raises(UnknownFormatError) as err:
        detect_text_format(path)
    assert HINTS[name] in str(err.value) and "looked for formats" in str(err.value)
    result = runner.invoke(app, ["analyze", path])
    assert result.exit_code == 2


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=80),
                min_size=1, max_size=30))
def test_random_text_is_not_smtp(lines: list[str]) -> None:
    head = [ln.replace("\n", " ").replace("\r", " ") for ln in lines]
    assert GenericTranscript().sniff(head) < 30


def test_replies_behind_a_prefix_get_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("flutter: 220 mx.example.test ESMTP\nflutter: 250-mx.example.test\n"
                    "flutter: 250 HELP\nflutter: connection closed\n")
    with pytest.raises(UnknownFormatError) as err:
        detect_text_format(str(path))
    assert "SMTP replies behind a prefix `flutter: `" in str(err.value)
    assert "try --input-format generic" in str(err.value)
    # forced, the few lines are read
    sessions = list(analyze_file(str(path), fmt="generic"))
    assert [e.reply_code for s in sessions for e in s.exchanges] == [] or sessions


def test_a_forced_format_that_does_not_fit_exits_2(tmp_path: Path) -> None:
    telnet = str(SAMPLES / "generic-telnet.log")
    with pytest.raises(InputError) as err:
        list(read_source(telnet, "smtplib"))
    assert "does not look like smtplib" in str(err.value)
    assert "looks most like generic" in str(err.value)
    result = runner.invoke(app, ["analyze", "--input-format", "smtplib", telnet])
    assert result.exit_code == 2
    assert "does not look like smtplib" in result.output
    junk = str(_junk(tmp_path)["table.csv"])
    result = runner.invoke(app, ["analyze", "--input-format", "generic", junk])
    assert result.exit_code == 2
    assert "does not look like generic" in result.output
    assert "comma-separated values" in result.output


def test_a_forced_format_that_fits_is_read() -> None:
    result = runner.invoke(app, ["analyze", "--input-format", "generic",
                                 str(SAMPLES / "generic-go-smtp.log")])
    assert result.exit_code == 1  # auth.cleartext
    assert "log.read-by-guess" in result.output
    # the plain transcript read by the generic reader when asked
    result = runner.invoke(app, ["analyze", "-i", "generic", str(SAMPLES / "auth-login.txt")])
    assert result.exit_code == 1 and "log.read-by-guess" in result.output
