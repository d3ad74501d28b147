"""Nodemailer transport logs: samples/nodemailer-debug.log (its console logger) and
samples/nodemailer-pino.log (a pino logger, JSON lines), both written by real Nodemailer
10.6 against aiosmtpd (see samples/make_client_samples.py), and hostile input."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from smtplens.analysis import analyze_file, analyze_stream
from smtplens.sources import SNIFF_LINES, detect_text_format
from smtplens.sources.logs.nodemailer import NodemailerLog
from smtplens.sources.textfile import read_lines
from smtplens.stream import Data, Direction, Endpoint, Notice, Skipped, StreamItem
from tests.helpers import (
    SAMPLES,
    assert_well_nested,
    need_corpus,
    opened,
    parse_file,
    parse_inline,
    render_views,
    verbs,
)

TEXT, PINO = SAMPLES / "nodemailer-debug.log", SAMPLES / "nodemailer-pino.log"
FMT = NodemailerLog()
MESSAGE = [("MAIL", 250), ("RCPT", 250), ("DATA", 354), (".", 250)]


def parse_text(text: str) -> list[StreamItem]:
    return parse_inline(FMT, text)


def items(path: object = TEXT) -> list[StreamItem]:
    return parse_file(FMT, path)


def test_sessions_endpoints_and_tls_modes() -> None:
    found = items()
    assert_well_nested(found)
    conns = opened(found)
    assert [(o.server, o.implicit_tls) for o in conns] == [
        (Endpoint("127.0.0.1", 2550), False)] * 5 + [(Endpoint("127.0.0.1", 2553), True)]
    assert all(o.decrypted and not o.exact_bytes and o.origin == "nodemailer" and o.ts
               for o in conns)
    assert not [i for i in found if isinstance(i, (Notice, Skipped))]


def test_plain_login_failure_starttls_and_attachment() -> None:
    plain, failed, starttls, one, two, smtps = analyze_stream(items())
    assert verbs(plain) == [("EHLO", 250), ("AUTH", 235), *MESSAGE]
    assert plain.user == "alice" and plain.auth[0].outcome == "success"
    assert "auth.cleartext" in {f.id for f in plain.findings}
    # AUTH LOGIN: the user name is logged (Base64), the password as "/* secret */"
    assert verbs(failed) == [("EHLO", 250), ("AUTH", 334), ("AUTH-ANSWER", 334),
                             ("AUTH-ANSWER", 535)]
    auth = failed.auth[0]
    assert (auth.user, auth.outcome, auth.secrets_exposed) == ("alice", "failure", False)
    assert [s.label for s in auth.steps if s.direction is Direction.CLIENT][-1] == \
        "masked by the log"
    ids = {f.id for f in failed.findings}
    assert "auth.failed" in ids and not {"auth.invalid-base64", "log.secret-in-log"} & ids
    assert [v for v, _ in verbs(starttls)][:3] == ["EHLO", "STARTTLS", "EHLO"]
    assert starttls.tls and starttls.auth[0].outcome == "success"
    assert not {"auth.cleartext", "log.secret-in-log"} & {f.id for f in starttls.findings}
    (tx,) = starttls.transactions
    assert tx.message is not None and tx.message.complete and tx.message.reply_code == 250
    # the two transports that ran at once are told apart by their [sid]
    assert verbs(one) == verbs(two) == [("EHLO", 250), ("AUTH", 235), *MESSAGE]
    assert one.id != two.id and smtps.tls


def test_message_text_is_logged_dot_stuffed() -> None:
    found = items()
    third = opened(found)[2].conn_id
    sent = b"".join(i.data for i in found if isinstance(i, Data) and i.conn_id == third
                    and i.direction is Direction.CLIENT)
    assert b"\r\n..a line that starts with a dot\r\n" in sent
    assert b"filename=report.csv\r\n\r\naWQsYW1vdW50CjEsNDIK\r\n" in sent
    assert sent.endswith(b"Part_1--\r\n.\r\n")


def test_pino_json_form() -> None:
    found = items(PINO)
    assert_well_nested(found)
    conns = opened(found)
    assert [(o.server, o.client is not None) for o in conns] == [
        (Endpoint("127.0.0.1", 2550), True)] * 2
    plain, failed = analyze_stream(found)
    assert verbs(plain) == [("EHLO", 250), ("AUTH", 235), *MESSAGE]
    (tx,) = plain.transactions
    assert tx.message is not None and tx.message.complete
    assert failed.auth[0].outcome == "failure"
    assert failed.auth[0].user == "alice"
    assert not [i for i in found if isinstance(i, Notice)]


def test_plain_placeholder_is_not_a_secret_in_the_log() -> None:
    # Nodemailer logs AUTH PLAIN as Base64 of "\0alice\0/* secret */": the user is
    # real, the password is the log's mask
    plain = next(iter(analyze_stream(items())))
    assert "log.secret-in-log" not in {f.id for f in plain.findings}
    (auth,) = plain.auth
    assert auth.user == "alice"
    assert [s.label for s in auth.steps if s.direction.value == "C"] == ["credentials"]
    assert ("password", "masked by the log") in auth.steps[0].fields


def test_nothing_secret_leaks() -> None:
    for path in (TEXT, PINO):
        text = render_views(list(analyze_file(str(path))))
        assert "s3cret!" not in text and "/* secret */" not in text


def test_transaction_log_without_debug_and_hostile_lines() -> None:
    found = parse_text("""
[2024-05-01 10:00:00] INFO  [a1] Secure connection established to [2001:db8::1]:465
[2024-05-01 10:00:00] DEBUG [a1] S: 220 mx
[2024-05-01 10:00:00] DEBUG [a1] C: EHLO me
[2024-05-01 10:00:01] DEBUG [b2] S: 220 other
[2024-05-01 10:00:01] DEBUG [a1] S: 250 mx
[2024-05-01 10:00:01] DEBUG [a1] C: AUTH XFOO /* secret */
[2024-05-01 10:00:01] DEBUG [a1] S: 235 ok
[2024-05-01 10:00:01] DEBUG [a1] C: MAIL FROM:<a@b>
[2024-05-01 10:00:01] DEBUG [a1] S: 250 ok
[2024-05-01 10:00:01] DEBUG [a1] C: RCPT TO:<c@d>
[2024-05-01 10:00:01] DEBUG [a1] S: 250 ok
[2024-05-01 10:00:01] DEBUG [a1] C: DATA
[2024-05-01 10:00:01] DEBUG [a1] S: 354 go
[2024-05-01 10:00:01] INFO  [a1] <120 bytes encoded mime message (source size 118 bytes)>
[2024-05-01 10:00:01] DEBUG [a1] S: 250 queued
{"level":20,"sid":"a1","tnx":"client","msg":
{"level":20,"sid":"a1","tnx":"client","msg":"QUIT","time":"2024-05-01T10:00:02Z"}
not a nodemailer line at all \x00
[2024-05-01 10:00:02] DEBUG [a1] S: 221 bye
[2024-05-01 10:00:02] DEBUG [a1] Connection closed
""")
    assert_well_nested(found)
    conns = opened(found)
    assert [(o.server, o.implicit_tls) for o in conns] == [
        (Endpoint("2001:db8::1", 465), True), (None, False)]
    assert [i.location for i in found if isinstance(i, Notice)] == ["line 16"]
    assert [i.location for i in found if isinstance(i, Skipped)] == ["line 14"]
    first, _ = analyze_stream(found)
    assert verbs(first) == [("EHLO", 250), ("AUTH", 235), *MESSAGE, ("QUIT", 221)]
    assert "auth.invalid-base64" not in {f.id for f in first.findings}


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([
    "[2024-05-01 10:00:00] DEBUG [x] S: 220 mx", "[2024-05-01 10:00:00] DEBUG [x] C: EHLO a",
    "[2024-05-01 10:00:00] DEBUG [x] S: 354 go", "[2024-05-01 10:00:00] DEBUG [x] C: DATA",
    "[2024-05-01 10:00:00] DEBUG [x] .", "[2024-05-01 10:00:00] DEBUG [x] body",
    "[2024-05-01 10:00:00] INFO  [x] <1 bytes encoded mime message (source size 1 bytes)>",
    "[2024-05-01 10:00:00] INFO  [x] Connection established to h:99999",
    "[2024-05-01 10:00:00] DEBUG [x] Closing connection to the server using \"end\"",
    '{"sid":"x","tnx":"message","msg":"a\\r\\n.","time":1e300}', '{"sid":[1],"msg":1}',
    '{"sid":"x","tnx":"server","msg":"250 ok","remotePort":true}', "{", "\x00\xff"]),
    max_size=40))
def test_random_lines_never_raise(lines: list[str]) -> None:
    found = list(FMT.parse(enumerate(lines, 1), "random"))
    assert_well_nested(found)
    list(analyze_stream(found))


def test_detection() -> None:
    assert detect_text_format(str(TEXT)).name == "nodemailer"
    assert detect_text_format(str(PINO)).name == "nodemailer"
    for path in sorted(SAMPLES.iterdir()):
        if path.suffix not in (".log", ".txt") or path in (TEXT, PINO):
            continue
        head = [t for _, t in itertools.islice(read_lines(str(path)), SNIFF_LINES)]
        assert FMT.sniff(head) == 0, path


def test_corpus_files_are_not_claimed() -> None:
    corpus = need_corpus() / "logs"
    for path in sorted(p for p in corpus.rglob("*") if p.is_file()):
        head = [t for _, t in itertools.islice(read_lines(str(path)), SNIFF_LINES)]
        assert FMT.sniff(head) == 0, path


def test_pooled_connections_are_keyed_by_cid_and_sid() -> None:
    found = parse_text("""
[2024-05-01 10:00:00] INFO  [#1] [p1] Connection established to 10.0.0.5:587
[2024-05-01 10:00:00] INFO  [#2] [p2] Connection established to 10.0.0.5:587
[2024-05-01 10:00:00] DEBUG [#1] [p1] S: 220 mx
[2024-05-01 10:00:00] DEBUG [#2] [p2] S: 220 mx
[2024-05-01 10:00:00] DEBUG [#2] [p2] C: EHLO b
[2024-05-01 10:00:00] DEBUG [#1] [p1] C: EHLO a
[2024-05-01 10:00:00] DEBUG [#1] [p1] S: 250 mx
[2024-05-01 10:00:00] DEBUG [#2] [p2] S: 250 mx
""")
    assert [o.server for o in opened(found)] == [Endpoint("10.0.0.5", 587)] * 2
    first, second = analyze_stream(found)
    assert (first.helo, second.helo) == ("a", "b")
