"""Postfix verbose peer logging (``debug_peer_list``): a real Postfix 3.7 run
(samples/postfix-debug.log: smtpd with Dovecot SASL and STARTTLS over IPv4 and IPv6,
the smtp client relaying to aiosmtpd with AUTH), hand-made variants, and random input."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from smtplens.analysis import analyze_stream
from smtplens.sources import detect_text_format
from smtplens.sources.logs.postfix import PostfixDebugLog
from smtplens.sources.textfile import read_lines
from smtplens.stream import Closed, Data, Direction, Endpoint, Notice, Opened, Skipped, StreamItem
from tests.helpers import by_id, verbs

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "postfix-debug.log"
FMT = PostfixDebugLog()


def parse_text(text: str) -> list[StreamItem]:
    return list(FMT.parse(enumerate(text.strip("\n").splitlines(), 1), "inline"))




def sample_items() -> list[StreamItem]:
    return list(FMT.parse(read_lines(str(SAMPLE)), str(SAMPLE)))


# -- the real sample ----------------------------------------------------------------------


def test_sample_sessions_and_endpoints() -> None:
    items = sample_items()
    opened = {i.conn_id: i for i in items if isinstance(i, Opened)}
    assert list(opened) == ["smtpd[9826]#1", "smtpd[9826]#2", "smtp[9835]#3", "smtp[9835]#4",
                            "smtpd[9826]#5", "smtpd[10287]#6", "smtp[9835]#7"]
    assert opened["smtpd[9826]#1"].client == Endpoint("127.0.0.1")
    assert opened["smtpd[9826]#2"].client == Endpoint("::1")
    assert opened["smtp[9835]#3"].server == Endpoint("127.0.0.1", 2525)
    assert opened["smtp[9835]#3"].client is None
    for o in opened.values():
        assert (o.origin, o.exact_bytes, o.decrypted, o.lmtp) == ("postfix-debug", False,
                                                                  True, False)
    # syslog has no year: the current one is assumed
    year = time.localtime().tm_year
    assert opened["smtpd[9826]#1"].ts == datetime(year, 11, 28, 11, 51, 52).timestamp()
    assert opened["smtpd[9826]#1"].location == "line 1"  # the "connect from" line
    assert sum(isinstance(i, Closed) for i in items) == 7
    # the summary lines of a debugged connection join it (see _postfix_mixed)
    notices = [i for i in items if isinstance(i, Notice)]
    assert [(n.code, n.conn_id) for n in notices] == [("log.lost-connection", "smtpd[9826]#5")]


def test_sample_dialogues() -> None:
    found = by_id(sample_items())
    first = found["smtpd[9826]#1"]
    assert verbs(first) == [("EHLO", 250), ("AUTH", 235), ("MAIL", 250), ("RCPT", 250),
                            ("DATA", 354), (".", 250), ("QUIT", 221)]
    assert first.helo == "client.test" and first.greeting_code == 220
    assert [(a.mechanism, a.outcome, a.user) for a in first.auth] == [("PLAIN", "success",
                                                                       "alice")]
    assert first.transactions[0].message is not None
    assert first.transactions[0].message.end == "skipped"  # smtpd does not log the body
    ipv6 = found["smtpd[9826]#2"]
    assert ipv6.tls  # STARTTLS, and the dialogue goes on in clear in the log
    assert [(a.mechanism, a.outcome) for a in ipv6.auth] == [
        ("PLAIN", "failure"), ("LOGIN", "failure"), ("LOGIN", "success")]
    assert [r.address for r in ipv6.transactions[0].recipients] == ["carol@remote.test",
                                                                     "dave@remote.test"]
    relay = found["smtp[9835]#4"]
    assert verbs(relay) == [("EHLO", 250), ("AUTH", 235), ("MAIL", 250), ("RCPT", 250),
                            ("RCPT", 250), ("DATA", 354), (".", 250), ("QUIT", None)]
    assert relay.auth[0].user == "bob"
    dropped = found["smtpd[9826]#5"]  # interleaved with smtpd[10287]; no QUIT
    assert verbs(dropped) == [("EHLO", 250), ("MAIL", 501), ("NOOP", 250)]
    assert not dropped.quit
    assert verbs(found["smtpd[10287]#6"])[0] == ("HELO", 250)


def test_message_content_is_skipped_and_the_client_dot_dropped() -> None:
    items = sample_items()
    for conn in ("smtpd[9826]#1", "smtp[9835]#3"):
        mine = [i for i in items if getattr(i, "conn_id", None) == conn]
        at = next(n for n, i in enumerate(mine)
                  if isinstance(i, Data) and i.data.startswith(b"354 "))
        skipped = mine[at + 1]
        assert isinstance(skipped, Skipped) and skipped.direction is Direction.CLIENT
        # the smtp client logs "> ...: ." after the unlogged content: not a command
        assert all(i.data != b".\r\n" for i in mine if isinstance(i, Data))


def test_sample_is_detected() -> None:
    assert detect_text_format(str(SAMPLE)).name == "postfix-debug"


# -- variants ---------------------------------------------------------------------------

SUB, SMTPD = "postfix/submission/smtpd[100]", "postfix/smtpd[200]"
A, B = "a.example[192.0.2.1]", "b.example[2001:db8::2]"
INTERLEAVED = [
    (SUB, f"connect from {A}"),
    (SUB, f"> {A}: 220 mx ESMTP"),
    (SMTPD, f"connect from {B}"),
    (SMTPD, f"> {B}: 220 mx ESMTP"),
    (SUB, f"< {A}: EHLO a"),
    (SMTPD, f"< {B}: HELO b"),
    (SUB, f"> {A}: 250-mx"),
    (SUB, f"> {A}: 250 CHUNKING"),
    (SMTPD, f"> {B}: 250 mx"),
    (SUB, f"< {A}: MAIL FROM:<a@a>"),
    (SUB, f"> {A}: 250 2.1.0 Ok"),
    (SUB, f"< {A}: RCPT TO:<b@b>"),
    (SUB, f"> {A}: 250 2.1.5 Ok"),
    (SUB, f"< {A}: BDAT 12 LAST"),
    (SUB, f"> {A}: 250 2.0.0 Ok: 12 bytes"),
    (SMTPD, f"< {B}: QUIT"),
    (SMTPD, f"> {B}: 221 2.0.0 Bye"),
    (SMTPD, f"disconnect from {B} helo=1 quit=1 commands=2"),
    (SUB, "smtp_get: EOF"),
    (SUB, f"lost connection after BDAT from {A}"),
    (SUB, f"disconnect from {A} ehlo=1 mail=1 rcpt=1 bdat=1 commands=4"),
]


def rsyslog(rows: list[tuple[str, str]]) -> str:
    """rsyslog's high-precision RFC 3339 timestamps, a tenth of a second apart."""
    return "\n".join(f"2024-03-01T10:00:{n / 10:09.6f}+00:00 mx {proc}: {msg}"
                     for n, (proc, msg) in enumerate(rows, 1))


def test_interleaved_sessions_with_iso_timestamps_and_bdat() -> None:
    items = parse_text(rsyslog(INTERLEAVED))
    opened = [i for i in items if isinstance(i, Opened)]
    assert [(o.conn_id, o.client) for o in opened] == [
        ("smtpd[100]#1", Endpoint("192.0.2.1")), ("smtpd[200]#2", Endpoint("2001:db8::2"))]
    assert opened[0].ts == datetime.fromisoformat("2024-03-01T10:00:00.1+00:00").timestamp()
    closed = [i for i in items if isinstance(i, Closed)]
    assert [(c.conn_id, c.reason) for c in closed] == [("smtpd[200]#2", "log"),
                                                       ("smtpd[100]#1", "log")]
    bdat = next(n for n, i in enumerate(items)
                if isinstance(i, Data) and i.data == b"BDAT 12 LAST\r\n")
    assert isinstance(items[bdat + 1], Skipped)  # RFC 3030 chunk: content not logged
    found = by_id(items)
    a = found["smtpd[100]#1"]
    assert verbs(a) == [("EHLO", 250), ("MAIL", 250), ("RCPT", 250), ("BDAT", 250)]
    assert a.transactions[0].message is not None and a.transactions[0].method == "BDAT"
    assert verbs(found["smtpd[200]#2"]) == [("HELO", 250), ("QUIT", 221)]


MXN, LMTP = "mx.example.net[2001:db8::25]:25", "private/dovecot-lmtp[ipv6:2001:db8::9]:24"
CLIENT_SIDE = [
    ("Dec 31 23:59:58", "smtp[300]", f"< {MXN}: 220 mx.example.net ESMTP"),
    ("Dec 31 23:59:58", "smtp[300]", f"> {MXN}: EHLO mx"),
    ("Dec 31 23:59:59", "smtp[300]", f"< {MXN}: 250-mx.example.net"),
    ("Dec 31 23:59:59", "smtp[300]", f"< {MXN}: 250 PIPELINING"),
    ("Jan  1 00:00:00", "smtp[300]", f"> {MXN}: MAIL FROM:<a@mx>"),
    ("Jan  1 00:00:00", "smtp[300]", f"> {MXN}: RCPT TO:<b@example.net>"),
    ("Jan  1 00:00:00", "smtp[300]", f"> {MXN}: DATA"),
    ("Jan  1 00:00:00", "smtp[300]", f"< {MXN}: 250 2.1.0 Ok"),
    ("Jan  1 00:00:00", "smtp[300]", f"< {MXN}: 554 5.7.1 <b@example.net>: Relay access denied"),
    ("Jan  1 00:00:00", "smtp[300]", f"< {MXN}: 554 5.5.1 Error: no valid recipients"),
    ("Jan  1 00:00:00", "smtp[300]", f"> {MXN}: RSET"),
    ("Jan  1 00:00:01", "smtp[300]", f"< {MXN}: 250 2.0.0 Ok"),
    ("Jan  1 00:00:01", "smtp[300]", f"> {MXN}: QUIT"),
    ("Jan  1 00:00:02", "lmtp[400]", f"< {LMTP}: 220 lmtp ready"),
    ("Jan  1 00:00:02", "lmtp[400]", f"> {LMTP}: LHLO mx"),
    ("Jan  1 00:00:03", "smtp[300]", "< other.example[198.51.100.7]:25: 220 other ESMTP"),
]


def test_client_side_directions_pipelining_and_year_rollover() -> None:
    items = parse_text("\n".join(f"{when} mx postfix/{proc}: {msg}"
                                  for when, proc, msg in CLIENT_SIDE))
    opened = [i for i in items if isinstance(i, Opened)]
    assert [(o.conn_id, o.server, o.lmtp) for o in opened] == [
        ("smtp[300]#1", Endpoint("2001:db8::25", 25), False),
        ("lmtp[400]#2", Endpoint("2001:db8::9", 24), True),
        ("smtp[300]#3", Endpoint("198.51.100.7", 25), False)]
    first = [i for i in items if isinstance(i, Data) and i.conn_id == "smtp[300]#1"]
    assert first[1] == Data("smtp[300]#1", Direction.CLIENT, b"EHLO mx\r\n", first[1].ts,
                            "line 2")
    # December then January: the year steps forward
    assert first[4].ts is not None and first[0].ts is not None
    assert first[4].ts - first[0].ts == 2.0
    # pid 300 moved on to another peer: its first session ended there
    assert Closed("smtp[300]#1", first[-1].ts, "log") in items
    s = by_id(items)["smtp[300]#1"]
    assert verbs(s) == [("EHLO", 250), ("MAIL", 250), ("RCPT", 554), ("DATA", 554),
                        ("RSET", 250), ("QUIT", None)]
    assert not any(isinstance(i, Skipped) for i in items)  # DATA was refused


def test_noise_and_broken_lines() -> None:
    items = parse_text("""
Mar  1 10:00:00 mx postfix/smtpd[1]: connect from x[192.0.2.9]
Mar  1 10:00:00 mx postfix/smtpd[1]: match_hostaddr: debug_peer_list: 192.0.2.9 ~? 192.0.2.9
Mar  1 10:00:00 mx postfix/smtpd[1]: > x[192.0.2.9]: 220 mx ESMTP
Mar  1 10:00:00 mx postfix/smtpd[1]: vstream_buf_get_ready: fd 21 got 6
Mar  1 10:00:00 mx postfix/smtpd[1]: watchdog_pat: 0x55d0c4a3c1a0
Mar  1 10:00:00 mx dovecot: auth: Debug: client in: AUTH
Mar  1 10:00:00 mx postfix/smtpd[1]: < x[192.0.2.9 broken
Mar  1 10:00:01 mx postfix/smtpd[1]: < x[192.0.2.9]:
this is not a syslog line
Mar  1 10:00:02 mx postfix/smtpd[1]: disconnect from x[192.0.2.9] commands=0/1
""")
    notices = [i for i in items if isinstance(i, Notice)]
    assert [(n.code, n.location) for n in notices] == [("input.unparsed-line", "line 7"),
                                                       ("input.unparsed-line", "line 9")]
    data = [i.data for i in items if isinstance(i, Data)]
    assert data == [b"220 mx ESMTP\r\n", b"\r\n"]  # an empty client line is a line too


def test_sniffing() -> None:
    assert FMT.sniff(SAMPLE.read_text().splitlines()[:400]) == 95
    summary = ["Mar  1 10:00:00 mx postfix/smtpd[1]: connect from x[192.0.2.9]",
               "Mar  1 10:00:01 mx postfix/smtpd[1]: 4Tq: client=x[192.0.2.9]"]
    assert FMT.sniff(summary) == 0  # an ordinary mail log has no dialogue to rebuild
    assert FMT.sniff(["S: 220 x", "C: EHLO y"]) == 0


_PIECES = ["Mar  1 10:00:00 mx postfix/smtpd[1]: ", "Mar  1 10:00:00 mx postfix/smtp[2]: ",
           "2024-01-01T00:00:00Z mx postfix/lmtp[3]: ", "", "Feb 30 99:99:99 h postfix/smtpd[4]: "]
_MSGS = ["< x[192.0.2.1]: ", "> x[192.0.2.1]: ", "< h[2001:db8::1]:25: ", "> h[::1]:x: ",
         "connect from x[192.0.2.1]", "disconnect from x[192.0.2.1]", "connect to h[::1]:25",
         "", "< x[", "354 ", "QUIT", "220 ", "DATA", "BDAT 5 LAST", "."]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_PIECES), st.sampled_from(_MSGS),
                          st.text(max_size=20)), max_size=40))
def test_random_lines_never_raise(parts: list[tuple[str, str, str]]) -> None:
    text = [a + b + c for a, b, c in parts]
    items = list(FMT.parse(enumerate(text, 1), "random"))
    FMT.sniff(text)
    list(analyze_stream(items))
    opened = {i.conn_id for i in items if isinstance(i, Opened)}
    closed = [i.conn_id for i in items if isinstance(i, Closed)]
    assert sorted(closed) == sorted(opened)  # every session ends, once
