"""sendmail -X traces, Python smtplib debug output and PHPMailer SMTPDebug output: real
runs (samples/sendmail-x.log from sendmail 8.17 as daemon and as client,
samples/smtplib-debug.log and a live run here against aiosmtpd), PHPMailer output
written after its source (samples/phpmailer-debug.log), and random input; plus the
check that none of these five log formats claims another format's corpus file."""

from __future__ import annotations

import contextlib
import io
import itertools
import smtplib
import socket
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session
from hypothesis import given, settings
from hypothesis import strategies as st

from smtplens.analysis import analyze_stream
from smtplens.model import Session as SmtpSession
from smtplens.sources import SNIFF_LINES, detect_text_format, text_formats
from smtplens.sources.logs.phpmailer import PHPMailerDebug
from smtplens.sources.logs.sendmail import SendmailTrace
from smtplens.sources.logs.smtplib import SmtplibDebug, decode_literal
from smtplens.sources.textfile import TextFormat, read_lines
from smtplens.stream import Closed, Data, Direction, Endpoint, Notice, Opened, Skipped, StreamItem
from tests.helpers import opened, verbs

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
CORPUS = ROOT.parent / "shared" / "corpus" / "logs"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(),
                                  reason="shared corpus (../shared/corpus) not present")
SENDMAIL, SMTPLIB, PHPMAILER = SendmailTrace(), SmtplibDebug(), PHPMailerDebug()
MINE = {"postfix-debug", "exchange", "sendmail", "smtplib", "phpmailer"}


def parse_file(fmt: TextFormat, path: Path) -> list[StreamItem]:
    return list(fmt.parse(read_lines(str(path)), str(path)))


def parse_text(fmt: TextFormat, text: str) -> list[StreamItem]:
    return list(fmt.parse(enumerate(text.strip("\n").splitlines(), 1), "inline"))


def sessions(items: list[StreamItem]) -> list[SmtpSession]:
    return list(analyze_stream(items))




def client_bytes(items: list[StreamItem], conn: str) -> bytes:
    return b"".join(i.data for i in items if isinstance(i, Data) and i.conn_id == conn
                    and i.direction is Direction.CLIENT)


# -- detection ----------------------------------------------------------------------------


@pytest.mark.parametrize("sample, name", [
    ("postfix-debug.log", "postfix-debug"), ("sendmail-x.log", "sendmail"),
    ("smtplib-debug.log", "smtplib"), ("phpmailer-debug.log", "phpmailer")])
def test_samples_are_detected(sample: str, name: str) -> None:
    assert detect_text_format(str(SAMPLES / sample)).name == name


@needs_corpus
def test_other_formats_corpus_files_are_not_claimed() -> None:
    formats = {f.name: f for f in text_formats()}
    checked = 0
    for folder in ("swaks", "exim-client", "exim-debug", "curl"):
        for path in sorted((CORPUS / folder).iterdir()):
            head = [t for _, t in itertools.islice(read_lines(str(path)), SNIFF_LINES)]
            assert {n: formats[n].sniff(head) for n in MINE} == dict.fromkeys(MINE, 0), path
            assert detect_text_format(str(path)).name not in MINE
            checked += 1
    assert checked > 400


# -- sendmail -X --------------------------------------------------------------------------


def test_sendmail_sample_roles_and_dialogues() -> None:
    items = parse_file(SENDMAIL, SAMPLES / "sendmail-x.log")
    conns = opened(items)
    assert [(o.conn_id, o.client, o.server) for o in conns] == [
        ("sendmail[14631]#1", None, None),  # -bs on stdin: sendmail is the server
        ("sendmail[21050]#2", None, None),  # daemon children
        ("sendmail[21126]#3", None, None),
        ("sendmail[21128]#4", None, Endpoint("127.0.0.2"))]  # delivery: "=== CONNECT"
    assert all(o.ts is None and not o.exact_bytes and o.decrypted for o in conns)
    assert not [i for i in items if isinstance(i, (Notice, Skipped))]
    found = {s.id: s for s in sessions(items)}
    refused = found["sendmail[14631]#1"]
    assert refused.greeting_code == 554  # "not accepting messages"
    assert verbs(refused)[:5] == [("EHLO", 554), ("MAIL", 550), ("RCPT", 550),
                                  ("RCPT", 550), ("DATA", 550)]
    assert verbs(found["sendmail[21050]#2"]) == [
        ("EHLO", 250), ("MAIL", 250), ("RCPT", 553), ("RCPT", 553), ("DATA", 503),
        ("QUIT", 221)]
    server = found["sendmail[21126]#3"]
    assert verbs(server) == [("EHLO", 250), ("MAIL", 250), ("RCPT", 250), ("RCPT", 250),
                             ("DATA", 354), (".", 250), ("RSET", 250), ("QUIT", 221)]
    assert server.capabilities["AUTH"] == ("DIGEST-MD5", "CRAM-MD5")
    msg = server.transactions[0].message
    assert msg is not None and (msg.end, msg.complete) == ("dot", True)
    # the trace shows the content, dot-stuffed as it travelled
    assert b"\r\n..leading dot\r\nlast line\r\n.\r\n" in client_bytes(items,
                                                                       "sendmail[21126]#3")
    client = found["sendmail[21128]#4"]
    assert client.helo == "mx.sendmail.test"
    assert [r.address for r in client.transactions[0].recipients] == ["carol@remote.test",
                                                                      "bob@remote.test"]
    assert (client.transactions[0].message or msg).reply_code == 250


def test_sendmail_local_mailers_and_body_lines() -> None:
    items = parse_text(SENDMAIL, """
00101 === EXEC /usr/lib/sm.bin/mail.local -l
00101 <<< 220 host LMTP ready
00101 >>> LHLO mx.example
00101 <<< 250-host
00101 <<< 250 PIPELINING
00101 >>> MAIL From:<a@b>
00101 <<< 250 2.1.0 Sender ok
00101 >>> RCPT To:<alice>
00101 <<< 250 2.1.5 Recipient ok
00101 >>> DATA
00101 <<< 354 go ahead
00101 >>> Subject: x
00101 >>>\x20
00101 >>> QUIT
00101 >>> .
00101 <<< 250 2.1.5 alice... Delivered
00101 >>> QUIT
00101 <<< 221 2.0.0 bye
00102 === EXEC /usr/bin/procmail -Y -a  -d bob
00102 >>> From a@b  Sat Nov 28 12:00:00 2026
00102 >>> body
00200 >>> 220 mx ESMTP
00200 <<< EHLO c
garbage
00200 >>> 250 mx
""")
    conns = opened(items)
    assert [(o.conn_id, o.server, o.lmtp) for o in conns] == [
        ("sendmail[00101]#1", Endpoint("/usr/lib/sm.bin/mail.local"), True),
        ("sendmail[00200]#2", None, False)]  # procmail's input is not SMTP
    notices = [i for i in items if isinstance(i, Notice)]
    assert [n.location for n in notices] == ["line 24"]
    lmtp, server = sessions(items)
    # "QUIT" inside the message is content, not the end of the session
    assert verbs(lmtp) == [("LHLO", 250), ("MAIL", 250), ("RCPT", 250), ("DATA", 354),
                           (".", 250), ("QUIT", 221)]
    assert lmtp.close_reason == "log"
    assert verbs(server) == [("EHLO", 250)] and server.close_reason == "eof"


# -- smtplib ------------------------------------------------------------------------------


def test_decode_literal() -> None:
    assert decode_literal("'EHLO x\\r\\n'") == b"EHLO x\r\n"
    assert decode_literal("b'caf\\xc3\\xa9\\r\\n'") == "café\r\n".encode()
    assert decode_literal("'caf\u00e9'") == "café".encode()
    assert decode_literal("__import__('os')") is None
    assert decode_literal("'open") is None
    assert decode_literal("(1, b'x')") is None


def test_smtplib_sample() -> None:
    items = parse_file(SMTPLIB, SAMPLES / "smtplib-debug.log")
    conns = opened(items)
    # debugging was switched on after the first connect: no greeting, no endpoint
    assert [(o.conn_id, o.server, o.exact_bytes) for o in conns] == [
        ("smtplib#1", None, True), ("smtplib#2", Endpoint("127.0.0.1", 8025), True)]
    today = date.today()
    assert conns[0].ts == datetime(today.year, today.month, today.day, 12, 6, 13,
                                   590614).timestamp()
    first, second = sessions(items)
    assert [(a.mechanism, a.outcome) for a in first.auth] == [
        ("PLAIN", "failure"), ("LOGIN", "failure"), ("LOGIN", "success")]
    assert [(r.address, r.reply_code) for r in first.transactions[0].recipients] == [
        ("bob@remote.test", 250), ("ghost@nowhere.invalid", 550)]
    sent = client_bytes(items, "smtplib#1")
    # exact bytes: the 8-bit body and the dot-stuffing are there as sent
    assert b"\r\n..line starting with a dot\r\n\r\ncaf\xc3\xa9 \xe2\x98\x95\r\n.\r\n" in sent
    assert verbs(second) == [("EHLO", 250), ("AUTH", 235), ("MAIL", 250), ("RCPT", 250),
                             ("DATA", 354), (".", 250), ("NOOP", 250), ("RSET", 250),
                             ("QUIT", 221)]
    assert second.greeting_code == 220 and second.user == "alice"
    assert not [i for i in items if isinstance(i, (Notice, Skipped))]


def test_smtplib_level_one_and_damaged_lines() -> None:
    text = (SAMPLES / "smtplib-debug.log").read_text()
    level1 = "\n".join(line.split(" ", 1)[1] if line[:2].isdigit() else line
                       for line in text.splitlines())
    with_time, without = parse_text(SMTPLIB, text), parse_text(SMTPLIB, level1)
    strip = [(i.conn_id, i.direction, i.data) for i in with_time if isinstance(i, Data)]
    assert strip == [(i.conn_id, i.direction, i.data) for i in without if isinstance(i, Data)]
    assert all(i.ts is None for i in without if isinstance(i, Data))
    items = parse_text(SMTPLIB, """
reply: b'220 mx LMTP\\r\\n'
send: 'LHLO x\\r\\n'
reply: b'250 mx\\r\\n
send: 'QUIT\\r\\n'
reply: b'221 bye\\r\\n'
""")
    (conn,) = opened(items)
    assert not conn.exact_bytes and conn.lmtp
    (notice,) = [i for i in items if isinstance(i, Notice)]
    assert notice.location == "line 3" and notice.conn_id == "smtplib#1"
    assert b"250 mx\r\n" in [i.data for i in items if isinstance(i, Data)]


def test_smtplib_live_run_matches_what_the_server_received() -> None:
    received: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server: SMTPServer, session: Session,
                              envelope: Envelope) -> str:
            received.append(envelope.original_content or b"")
            return "250 2.0.0 Ok"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    err = io.StringIO()
    message = b"Subject: live\r\n\r\n.starts with a dot\r\n..two dots\r\nend\r\n"
    try:
        with contextlib.redirect_stderr(err), smtplib.SMTP(local_hostname="live.test") as s:
            s.set_debuglevel(2)
            s.connect("127.0.0.1", port)
            s.sendmail("a@live.test", ["b@live.test", "c@live.test"], message)
    finally:
        controller.stop()
    items = parse_text(SMTPLIB, err.getvalue())
    (conn,) = opened(items)
    assert conn.exact_bytes and conn.server == Endpoint("127.0.0.1", port)
    (session,) = sessions(items)
    assert verbs(session) == [("EHLO", 250), ("MAIL", 250), ("RCPT", 250), ("RCPT", 250),
                              ("DATA", 354), (".", 250), ("QUIT", 221)]
    wire = b"Subject: live\r\n\r\n..starts with a dot\r\n...two dots\r\nend\r\n.\r\n"
    assert client_bytes(items, conn.conn_id).endswith(b"data\r\n" + wire + b"QUIT\r\n")
    assert received == [message]


# -- PHPMailer ----------------------------------------------------------------------------


def test_phpmailer_sample() -> None:
    items = parse_file(PHPMAILER, SAMPLES / "phpmailer-debug.log")
    conns = opened(items)
    assert [(o.conn_id, o.server) for o in conns] == [
        ("phpmailer#1", Endpoint("smtp.example.com", 587)), ("phpmailer#2", None)]
    assert conns[0].ts == datetime(2024, 5, 2, 9, 15, 1, tzinfo=UTC).timestamp()
    first, second = sessions(items)
    assert verbs(first) == [("EHLO", 250), ("STARTTLS", 220), ("EHLO", 250), ("AUTH", 334),
                            ("AUTH-ANSWER", 334), ("AUTH-ANSWER", 235), ("MAIL", 250),
                            ("RCPT", 250), ("DATA", 354), (".", 250), ("QUIT", 221)]
    assert first.tls and first.capabilities["AUTH"] == ("PLAIN", "LOGIN")
    assert [a.mechanism for a in first.auth] == ["LOGIN"]
    sent = client_bytes(items, "phpmailer#1")
    # echo mode trims: the empty line is "CLIENT -> SERVER:" and comes back as CRLF
    assert b"charset=iso-8859-1\r\n\r\nThank you" in sent
    assert sent.endswith(b"..this line started with a dot\r\n\r\n.\r\nQUIT\r\n")
    assert b"[credentials hidden]\r\n" in sent  # passed on as logged
    assert verbs(second) == [("EHLO", 250), ("AUTH", 334), ("AUTH-ANSWER", 334),
                             ("AUTH-ANSWER", 535), ("QUIT", 221)]
    assert second.auth[0].outcome == "failure"
    assert [c.reason for c in items if isinstance(c, Closed)] == ["log", "log"]


def test_phpmailer_html_and_error_log_modes() -> None:
    html_mode = parse_text(PHPMAILER, """
2024-05-02 09:15:01 SERVER -&gt; CLIENT: 220 smtp.example.com ESMTP<br>
2024-05-02 09:15:01 CLIENT -&gt; SERVER: EHLO web01<br>
2024-05-02 09:15:01 SERVER -&gt; CLIENT: 250-smtp.example.com250-SIZE 10240000250 8BITMIME<br>
2024-05-02 09:15:01 CLIENT -&gt; SERVER: MAIL FROM:&lt;a@example.org&gt;<br>
2024-05-02 09:15:01 SERVER -&gt; CLIENT: 250 2.1.0 Ok<br>
2024-05-02 09:15:02 CLIENT -&gt; SERVER: QUIT<br>
2024-05-02 09:15:02 SERVER -&gt; CLIENT: 221 2.0.0 Bye<br>
""")
    error_log = parse_text(PHPMAILER, """
[02-May-2024 09:15:01 UTC] SERVER -> CLIENT: 220 smtp.example.com ESMTP
[02-May-2024 09:15:01 UTC] CLIENT -> SERVER: EHLO web01

[02-May-2024 09:15:01 UTC] SMTP INBOUND: "250-smtp.example.com"
[02-May-2024 09:15:01 UTC] SERVER -> CLIENT: 250-smtp.example.com
250-SIZE 10240000
250 8BITMIME

[02-May-2024 09:15:01 UTC] CLIENT -> SERVER: MAIL FROM:<a@example.org>

[02-May-2024 09:15:01 UTC] SERVER -> CLIENT: 250 2.1.0 Ok

[02-May-2024 09:15:02 UTC] CLIENT -> SERVER: QUIT

[02-May-2024 09:15:02 UTC] SERVER -> CLIENT: 221 2.0.0 Bye
""")
    for items in (html_mode, error_log):
        data = [(i.direction, i.data) for i in items if isinstance(i, Data)]
        assert data == [
            (Direction.SERVER, b"220 smtp.example.com ESMTP\r\n"),
            (Direction.CLIENT, b"EHLO web01\r\n"),
            (Direction.SERVER, b"250-smtp.example.com\r\n"),
            (Direction.SERVER, b"250-SIZE 10240000\r\n"),
            (Direction.SERVER, b"250 8BITMIME\r\n"),
            (Direction.CLIENT, b"MAIL FROM:<a@example.org>\r\n"),
            (Direction.SERVER, b"250 2.1.0 Ok\r\n"),
            (Direction.CLIENT, b"QUIT\r\n"),
            (Direction.SERVER, b"221 2.0.0 Bye\r\n")]
        (conn,) = opened(items)
        assert conn.ts == datetime(2024, 5, 2, 9, 15, 1, tzinfo=UTC).timestamp()
        (session,) = sessions(items)
        assert session.capabilities["SIZE"] == ("10240000",)


# -- random input -------------------------------------------------------------------------

_PREFIXES = ["00042 >>> ", "00042 <<< ", "7 === CONNECT ", "7 === EXEC ", "8 >>>",
             "send: ", "reply: ", "12:00:00.5 send: ", "connect: to ", "data: ",
             "2024-01-01 00:00:00\tSERVER -> CLIENT: ", "CLIENT -> SERVER: ", "  \t  ",
             "SERVER -&gt; CLIENT: ", "Connection: opening to ", "Connection: closed", ""]
_TEXTS = ["220 x", "'QUIT\\r\\n'", "b'354 go\\r\\n'", "('h', 25) None", "'.\\r\\n'",
          "b'221 bye'", "250-a", "DATA", "QUIT", ".", "[::1]:99999", "'\\x", "b'\\r\\n"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_PREFIXES), st.sampled_from(_TEXTS),
                          st.text(max_size=12)), max_size=40))
def test_random_lines_never_raise(parts: list[tuple[str, str, str]]) -> None:
    text = [a + b + c for a, b, c in parts]
    for fmt in (SENDMAIL, SMTPLIB, PHPMAILER):
        items = list(fmt.parse(enumerate(text, 1), "random"))
        fmt.sniff(text)
        list(analyze_stream(items))
        conns = [i.conn_id for i in items if isinstance(i, Opened)]
        closed = [i.conn_id for i in items if isinstance(i, Closed)]
        assert sorted(closed) == sorted(conns) and len(set(conns)) == len(conns)
