"""Exim: the test suite's client transcripts (exim-client) and ``exim -d`` debug output
(exim-debug), from ../shared/corpus, a real Exim 4.96 run (samples/exim-debug-relay.log)
and random input."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtplens.sources import detect_text_format
from smtplens.sources.logs.exim_client import EximClientTranscript, sent_bytes
from smtplens.sources.logs.exim_debug import EximDebug
from smtplens.sources.textfile import TextFormat, read_lines
from smtplens.stream import Closed, Data, Direction, Endpoint, Notice, Opened, Skipped, StreamItem
from tests.helpers import assert_well_nested, command_verbs, reply_codes, side_lines

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "logs"
CLIENT, DEBUG = CORPUS / "exim-client", CORPUS / "exim-debug"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(),
                                  reason="shared corpus (../shared/corpus) not present")
XC, XD = EximClientTranscript(), EximDebug()


def parse(fmt: TextFormat, path: Path) -> list[StreamItem]:
    return list(fmt.parse(read_lines(str(path)), str(path)))


def sessions(items: list[StreamItem]) -> dict[str, list[StreamItem]]:
    """Items per connection, Opened first, in stream order."""
    out: dict[str, list[StreamItem]] = {}
    for item in items:
        conn = getattr(item, "conn_id", None)
        if conn is not None:
            out.setdefault(conn, []).append(item)
    return out



def first_opened(items: list[StreamItem]) -> Opened:
    opened = items[0]
    assert isinstance(opened, Opened)
    return opened


# -- exim-client -------------------------------------------------------------------------


def test_sent_bytes_follow_the_client_program() -> None:
    assert sent_bytes("ehlo x") == b"ehlo x\r\n"  # a plain script line: CRLF added
    assert sent_bytes(r"rset\r\nquit") == b"rset\r\nquit\r\n"
    assert sent_bytes(r"BDAT 6 LAST\r\nZZ\r\n") == b"BDAT 6 LAST\r\nZZ\r\n"  # raw
    assert sent_bytes(r"To: a@b\n") == b"To: a@b\n"  # a bare-LF test, sent raw
    assert sent_bytes(r"\x41\\") == b"A\\\r\n"


@needs_corpus
def test_client_corpus_reads_whole() -> None:
    total = 0
    for path in sorted(CLIENT.iterdir()):
        # connections that show an SMTP line or a failure (some end before a word is said)
        connections, said = 0, False
        for ln in [*path.read_text("utf-8", "surrogateescape").splitlines(), "End of script"]:
            if ln.startswith("Connecting to") or ln == "End of script":
                connections += said
                said = False
            elif ln.startswith(("<<<", ">>>", "Failed to start TLS", "Unexpected EOF")):
                said = True
        items = parse(XC, path)
        per = sessions(items)
        client_sessions = [s for s in per.values() if first_opened(s).server is not None]
        assert len(client_sessions) == connections, path
        for conn in per.values():
            assert isinstance(conn[0], Opened) and isinstance(conn[-1], Closed), path
        total += len(per)
    assert total > 300


@needs_corpus
def test_client_plain_and_dot() -> None:
    per = list(sessions(parse(XC, CLIENT / "0035")).values())
    assert len(per) == 3
    first = per[0]
    assert first_opened(first).server == Endpoint("127.0.0.1")  # PORT_D is a placeholder
    assert command_verbs(first) == ["EHLO"] + ["MAIL", "RCPT", "DATA"] * 5 + ["QUIT"]
    assert reply_codes(first)[:6] == [220, 250, 250, 250, 354, 250]
    # ">>> ." is the end of an empty message; "Sender:" a one-line message
    client = side_lines(first, Direction.CLIENT)
    assert client[3:5] == [b"data", b"."]
    assert client.count(b"Sender: sender@some.where") == 2


@needs_corpus
def test_client_bdat_and_raw_lines() -> None:
    per = list(sessions(parse(XC, CLIENT / "0900")).values())
    assert len(per) == 13
    first = side_lines(per[0], Direction.CLIENT)
    assert first[3:8] == [b"bdat 88 last", b"To: Susan@random.com", b"From: Sam@random.com",
                          b"Subject: This is a bodyless test message", b""]
    # 22 + 22 + 42 + 2 bytes after the BDAT line: the chunk size the server confirmed
    chunk = b"".join(i.data for i in per[0] if isinstance(i, Data)
                     and i.direction is Direction.CLIENT)
    start = chunk.index(b"bdat 88 last\r\n") + len(b"bdat 88 last\r\n")
    assert chunk[start:].startswith(b"To:") and chunk[start:].index(b"quit") == 88
    assert reply_codes(per[0])[-3:] == [250, 250, 221]
    raw = [i.data for i in parse(XC, CLIENT / "0900") if isinstance(i, Data)
           and i.data.startswith(b"To: Susan@random.com\n")]
    assert raw == [b"To: Susan@random.com\n"]  # the bare-LF header, no CRLF added


@needs_corpus
def test_client_pipelined_escapes() -> None:
    items = parse(XC, CLIENT / "0300")
    sent = [i.data for i in items if isinstance(i, Data) and i.direction is Direction.CLIENT]
    assert b"junk1\r\njunk2\r\n" in sent


@needs_corpus
def test_client_starttls_and_auth() -> None:
    per = list(sessions(parse(XC, CLIENT / "3450")).values())
    plain, tls = per[0], per[1]
    assert first_opened(plain).server == Endpoint("ip4.ip4.ip4.ip4")
    assert command_verbs(plain) == ["EHLO", "AUTH", "QUIT"]
    assert side_lines(plain, Direction.CLIENT)[1] == b"auth plain AHVzZXJ4AHNlY3JldA=="
    assert reply_codes(plain) == [220, 250, 235, 221]
    assert not first_opened(plain).decrypted
    assert command_verbs(tls)[:4] == ["EHLO", "AUTH", "STARTTLS", "EHLO"]
    assert reply_codes(tls)[:4] == [220, 250, 503, 220]
    assert first_opened(tls).decrypted and not first_opened(tls).implicit_tls


@needs_corpus
def test_client_tls_on_connect() -> None:
    for conn in sessions(parse(XC, CLIENT / "1110")).values():
        opened = first_opened(conn)
        assert opened.implicit_tls and opened.decrypted
        assert reply_codes(conn)[0] == 220


@needs_corpus
def test_client_ipv6_and_server_only_runs() -> None:
    assert first_opened(parse(XC, CLIENT / "1001")).server == Endpoint(
        "ip6:ip6:ip6:ip6:ip6:ip6:ip6:ip6")
    per = list(sessions(parse(XC, CLIENT / "0022")).values())
    server_only = [s for s in per if first_opened(s).server is None]
    # nine "**** SMTP testing session" banners and one bare exim -bs run
    assert len(server_only) == 10 and len(per) == 12
    assert first_opened(server_only[0]).client == Endpoint("V4NET.9.8.7")
    assert reply_codes(server_only[0]) == [220, 250, 250, 250, 354, 250, 221]
    assert all(side_lines(s, Direction.CLIENT) == [] for s in server_only)


@needs_corpus
def test_client_tls_failure_notice() -> None:
    notices = [i for i in parse(XC, CLIENT / "5711") if isinstance(i, Notice)]
    assert [n.code for n in notices] == ["log.tls-failed"] * 3


# -- exim-debug --------------------------------------------------------------------------


@needs_corpus
def test_debug_corpus_reads_whole() -> None:
    total = 0
    for path in sorted(DEBUG.iterdir()):
        items = parse(XD, path)
        for conn in sessions(items).values():
            assert isinstance(conn[0], Opened) and isinstance(conn[-1], Closed), path
            total += 1
        assert not [i for i in items if isinstance(i, Notice)
                    and i.code == "input.unparsed-line"], path
    assert total > 150


@needs_corpus
def test_debug_server_side() -> None:
    per = list(sessions(parse(XD, DEBUG / "0022")).values())
    assert len(per) == 3  # one exim -bh process per session
    first = per[0]
    assert first_opened(first).client == Endpoint("V4NET.9.8.7")
    assert command_verbs(first) == ["HELO", "MAIL", "RCPT", "DATA", "QUIT"]
    assert reply_codes(first) == [220, 250, 250, 250, 354, 250, 221]
    skipped = [i for i in first if isinstance(i, Skipped)]
    assert len(skipped) == 1 and skipped[0].location == "line 63"  # right after the 354


@needs_corpus
def test_debug_transport_side() -> None:
    per = list(sessions(parse(XD, DEBUG / "0143")).values())
    assert len(per) == 1
    conn = per[0]
    assert first_opened(conn).server == Endpoint("127.0.0.1")
    assert command_verbs(conn) == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]
    # the EHLO reply's continuation lines are aligned under "SMTP<<"
    assert side_lines(conn, Direction.SERVER)[1:4] == [b"250-OK", b"250-HELP", b"250 AUTH LOGIN"]
    assert reply_codes(conn) == [220, 250, 250, 250, 354, 250, 250]
    # "(writing message)" is the unlogged body; its "." is not sent again as a command
    assert [i.location for i in conn if isinstance(i, Skipped)] == ["line 54"]
    assert b"." not in side_lines(conn, Direction.CLIENT)


@needs_corpus
def test_debug_bdat_pipelining() -> None:
    conn = next(iter(sessions(parse(XD, DEBUG / "0909")).values()))
    assert command_verbs(conn) == ["EHLO", "MAIL", "RCPT", "BDAT", "QUIT"]
    assert side_lines(conn, Direction.CLIENT)[3] == b"BDAT 329 LAST"
    assert [i.location for i in conn if isinstance(i, Skipped)] == ["line 60"]
    assert reply_codes(conn) == [220, 250, 250, 250, 250, 221]


@needs_corpus
def test_debug_callout_inside_server_session() -> None:
    per = list(sessions(parse(XD, DEBUG / "0432")).values())
    servers = [s for s in per if first_opened(s).server is None]
    callouts = [s for s in per if first_opened(s).server is not None]
    # the callout is its own (client) session and does not cut the server session
    assert [command_verbs(s) for s in servers] == [["HELO", "MAIL", "QUIT"]] * 2
    assert [command_verbs(s) for s in callouts][:2] == [["EHLO", "MAIL", "RCPT", "QUIT"],
                                               ["EHLO", "MAIL", "RCPT", "QUIT"]]


@needs_corpus
def test_debug_pid_prefixed_sessions() -> None:
    per = sessions(parse(XD, DEBUG / "2136"))
    decrypted = [c for c in per.values() if first_opened(c).decrypted]
    assert decrypted  # STARTTLS answered 220: the rest was inside TLS
    for conn in decrypted:
        assert command_verbs(conn)[:3] == ["EHLO", "STARTTLS", "EHLO"]
    timed = list(sessions(parse(XD, DEBUG / "0628")).values())
    assert [reply_codes(c) for c in timed] == [[250, 221], [250, 221]]  # time + pid prefix


@needs_corpus
def test_debug_lost_client() -> None:
    items = parse(XD, DEBUG / "0044")
    notices = [i for i in items if isinstance(i, Notice)]
    assert [n.code for n in notices] == ["log.lost-connection"]
    conn = sessions(items)[notices[0].conn_id or ""]
    assert reply_codes(conn)[-1] == 421  # the server still wrote its 421


def test_real_exim_relay_sample() -> None:
    path = ROOT / "samples" / "exim-debug-relay.log"
    assert detect_text_format(str(path)).name == "exim-debug"
    per = list(sessions(parse(XD, path)).values())
    transport = [s for s in per if first_opened(s).server is not None]
    server = [s for s in per if first_opened(s).server is None]
    assert len(transport) == 1 and len(server) == 1
    assert first_opened(transport[0]).server == Endpoint("127.0.0.1", 8587)
    assert command_verbs(transport[0]) == ["EHLO", "AUTH", "********", "****************", "MAIL",
                                   "RCPT", "DATA", "QUIT"]  # Exim masks AUTH answers
    assert reply_codes(transport[0]) == [220, 250, 334, 334, 235, 250, 250, 354, 250, 221]
    # the delivery process's output sits inside the -bs session and does not cut it
    assert command_verbs(server[0]) == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]
    assert reply_codes(server[0]) == [220, 250, 250, 250, 354, 250, 221]


def test_hand_written_client_sample() -> None:
    path = ROOT / "samples" / "exim-client.log"
    assert detect_text_format(str(path)).name == "exim-client"
    per = list(sessions(parse(XC, path)).values())
    assert [first_opened(s).decrypted for s in per] == [False, True]
    assert command_verbs(per[0]) == ["EHLO", "AUTH", "MAIL", "RCPT", "DATA", "QUIT"]
    pipelined = [i for i in per[0] if isinstance(i, Data) and i.data.startswith(b"MAIL")]
    assert pipelined[0].data.count(b"\r\n") == 3  # one line of the script, three commands
    assert reply_codes(per[1])[-2:] == [550, 221]



# -- random input ------------------------------------------------------------------------

_CLIENT_PREFIXES = ["<<< ", ">>> ", "??? ", "+++ ", "Connecting to 1.2.3.4 port 25 ... connected",
                    "End of script", "Succeeded in starting TLS", "**** SMTP testing session "
                    "as if from host 1.2.3.4", "220 ", "221 ", ""]
_DEBUG_PREFIXES = ["SMTP<< ", "SMTP>> ", "  SMTP<< ", "  SMTP>> ", "  SMTP|> ", "SMTP>| ",
                   "         ", "01:01:01 p12 ", "p12   SMTP", "SMTP(close)>>", "  SMTP(closed)<<",
                   "Connecting to a [1.2.3.4]:25 ...", "SMTP>>(close on process exit)",
                   ">>>>>>>>>>>>>>>> Exim pid=p12 (x) terminating", ""]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_CLIENT_PREFIXES + _DEBUG_PREFIXES),
                          st.text(max_size=30)), max_size=40))
def test_random_lines_never_raise(parts: list[tuple[str, str]]) -> None:
    text_lines = [prefix + text.replace("\n", " ").replace("\r", " ") for prefix, text in parts]
    for fmt in (XC, XD):
        fmt.sniff(text_lines)
        assert_well_nested(fmt.parse(enumerate(text_lines, 1), "random"))
