"""swaks transcripts: the 218 reference outputs of swaks' own test suite, a real run
against aiosmtpd (samples/swaks-auth-login.log), and random input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtplens.sources import detect_text_format
from smtplens.sources.logs.swaks import SwaksTranscript
from smtplens.sources.textfile import read_lines
from smtplens.stream import Closed, Data, Direction, Endpoint, Notice, Opened, Skipped, StreamItem
from tests.helpers import (
    assert_well_nested,
    command_lines,
    command_verbs,
    opened,
    reply_codes,
    side_lines,
)

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "logs"
SWAKS = CORPUS / "swaks"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(),
                                  reason="shared corpus (../shared/corpus) not present")
FMT = SwaksTranscript()


def parse(path: Path) -> list[StreamItem]:
    return list(FMT.parse(read_lines(str(path)), str(path)))


def parse_text(text: str) -> list[StreamItem]:
    return list(FMT.parse(enumerate(text.splitlines(), 1), "inline"))



def body(items: list[StreamItem]) -> list[bytes]:
    client = side_lines(items, Direction.CLIENT)
    start = client.index(b"DATA") + 1
    return client[start:client.index(b".", start)]



# -- the corpus -------------------------------------------------------------------------


@needs_corpus
def test_every_corpus_file_is_one_well_formed_session() -> None:
    files = sorted(SWAKS.iterdir())
    assert len(files) == 218
    for path in files:
        items = parse(path)
        assert len(opened(items)) == 1, path
        assert isinstance(items[0], Opened) and isinstance(items[-1], Closed), path
        assert items[0].origin == "swaks" and not items[0].exact_bytes
        assert not [i for i in items if isinstance(i, Notice)
                    and i.code == "input.unparsed-line"], path


@needs_corpus
def test_plain_session() -> None:
    items = parse(SWAKS / "00000.stdout")
    assert command_verbs(items) == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]
    assert reply_codes(items) == [220, 250, 250, 250, 354, 250, 221]
    assert len(body(items)) == 10  # headers, blank line, text, two blank lines
    assert body(items)[6:8] == [b"", b"This is a test mailing"]
    first = opened(items)[0]
    assert first.server is None and not first.decrypted  # a pipe to a child, no TCP
    assert items[-1] == Closed("swaks-1", None, reason="log")


@needs_corpus
def test_starttls_session_is_decrypted() -> None:
    items = parse(SWAKS / "00200.stdout")
    assert command_verbs(items) == ["EHLO", "STARTTLS", "EHLO", "MAIL", "RCPT", "DATA", "QUIT"]
    assert reply_codes(items) == [220, 250, 220, 250, 250, 250, 354, 250, 221]
    assert opened(items)[0].decrypted and not opened(items)[0].implicit_tls


@needs_corpus
def test_auth_login_accepted_and_refused() -> None:
    good = parse(SWAKS / "00601.stdout")
    assert command_lines(good)[1:4] == [b"AUTH LOGIN", b"dmFsaWR1c2Vy", b"dmFsaWRwYXNzd29yZA=="]
    assert reply_codes(good)[2:5] == [334, 334, 235]
    bad = parse(SWAKS / "00611.stdout")  # "<** 535": a reply swaks did not expect
    assert reply_codes(bad)[2:] == [334, 334, 535, 221]
    assert command_verbs(bad)[-1] == "QUIT"


@needs_corpus
def test_auth_plain_and_cram_md5() -> None:
    plain = parse(SWAKS / "00600.stdout")
    assert command_lines(plain)[1] == b"AUTH PLAIN AHZhbGlkdXNlcgB2YWxpZHBhc3N3b3Jk"
    assert reply_codes(plain)[2] == 235
    cram = parse(SWAKS / "00602.stdout")
    assert command_lines(cram)[1:3] == [b"AUTH CRAM-MD5",
                                   b"dmFsaWR1c2VyIDFiNDQ4MzliOGIxNDA4ZDI5MDY4OGRkMTNhMDYxMGU3"]
    assert reply_codes(cram)[2:4] == [334, 235]


@needs_corpus
def test_pipelined_commands_keep_log_order() -> None:
    items = parse(SWAKS / "00050.stdout")
    data = [i for i in items if isinstance(i, Data)]
    start = next(n for n, i in enumerate(data) if i.data.startswith(b"MAIL"))
    # swaks prints MAIL, RCPT and DATA before reading the three replies
    order = [(i.direction, i.data[:4]) for i in data[start:start + 6]]
    assert order == [(Direction.CLIENT, b"MAIL"), (Direction.CLIENT, b"RCPT"),
                     (Direction.CLIENT, b"DATA"), (Direction.SERVER, b"250 "),
                     (Direction.SERVER, b"250 "), (Direction.SERVER, b"354 ")]


@needs_corpus
def test_suppressed_data_becomes_skipped() -> None:
    items = parse(SWAKS / "05300.stdout")  # --suppress-data: " -> 11 lines sent"
    skipped = [i for i in items if isinstance(i, Skipped)]
    assert len(skipped) == 1 and skipped[0].direction is Direction.CLIENT
    assert b"11 lines sent" not in b"".join(side_lines(items, Direction.CLIENT))
    assert command_verbs(items) == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]
    assert reply_codes(items)[-2:] == [250, 221]


@needs_corpus
def test_hint_options() -> None:
    quiet_server = parse(SWAKS / "05305.stdout")  # --no-receive-hints: bare replies
    assert reply_codes(quiet_server) == [220, 250, 250, 250, 354, 250, 221]
    assert command_verbs(quiet_server) == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]
    no_info = parse(SWAKS / "05303.stdout")  # --no-info-hints: "Trying ..." unprefixed
    assert reply_codes(no_info) == [220, 250, 250, 250, 354, 250, 221]
    hidden = parse(SWAKS / "05308.stdout")  # --hide-receive: the client side only
    assert side_lines(hidden, Direction.SERVER) == []
    assert side_lines(hidden, Direction.CLIENT)[0] == b"EHLO hserver"
    raw = parse(SWAKS / "05307.stdout")  # --show-raw-text: hex dumps are not repeated
    assert reply_codes(raw) == [220, 250, 250, 250, 354, 250, 221]
    assert body(raw) == [b"Subject: foo", b"", b"body", b"", b""]


@needs_corpus
def test_endpoints_from_trying_line() -> None:
    assert opened(parse(SWAKS / "06000.stdout"))[0].server == Endpoint("127.0.0.1", 8125)
    assert opened(parse(SWAKS / "06001.stdout"))[0].server == Endpoint("::1", 8125)


@needs_corpus
def test_several_runs_in_one_file(tmp_path: Path) -> None:
    joined = tmp_path / "runs.log"
    joined.write_bytes(b"".join((SWAKS / n).read_bytes()
                                for n in ("00000.stdout", "00601.stdout", "06000.stdout")))
    items = parse(joined)
    assert [o.conn_id for o in opened(items)] == ["swaks-1", "swaks-2", "swaks-3"]
    assert [o.server for o in opened(items)] == [None, None, Endpoint("127.0.0.1", 8125)]
    closes = [i for i in items if isinstance(i, Closed)]
    assert [c.conn_id for c in closes] == ["swaks-1", "swaks-2", "swaks-3"]



# -- a real run and hand-made edge cases -------------------------------------------------


def test_real_auth_login_sample() -> None:
    path = ROOT / "samples" / "swaks-auth-login.log"
    assert detect_text_format(str(path)).name == "swaks"
    items = parse(path)
    assert opened(items)[0].server == Endpoint("127.0.0.1", 8587)
    assert command_verbs(items)[:2] == ["EHLO", "AUTH"]
    assert command_lines(items)[1:4] == [b"AUTH LOGIN", b"YWxpY2U=", b"czNjcmV0LXBhc3M="]
    assert reply_codes(items) == [220, 250, 334, 334, 235, 250, 250, 354, 250, 221]


def test_timeout_is_not_a_reply() -> None:
    # real swaks output against a server that never answered the password
    items = parse_text(
        "=== Trying 127.0.0.1:8587...\n"
        "<-  220 mx.test.example ESMTP aiosmtpd\n"
        " -> AUTH LOGIN\n"
        "<-  334 VXNlciBOYW1lAA==\n"
        " -> YWxpY2U=\n"
        "<-  334 UGFzc3dvcmQA\n"
        " -> d3JvbmctcGFzcw==\n"
        "<** Timeout (30 secs) waiting for server response\n"
        "*** No authentication type succeeded\n"
        " -> QUIT\n"
        "<-  221 Bye\n"
        "=== Connection closed with remote host.\n")
    assert reply_codes(items) == [220, 334, 334, 221]
    assert [n.code for n in items if isinstance(n, Notice)] == ["protocol.no-reply"]


def test_tls_on_connect_and_lost_connection() -> None:
    items = parse_text(
        "=== Trying 192.0.2.7:465...\n"
        "=== Connected to 192.0.2.7.\n"
        "=== TLS started with cipher TLSv1.3:TLS_AES_256_GCM_SHA384:256\n"
        "<~  220 smtp.example.net ESMTP\n"
        " ~> EHLO me\n"
        "*** Remote host closed connection unexpectedly.\n")
    first = opened(items)[0]
    assert first.implicit_tls and first.decrypted
    assert first.server == Endpoint("192.0.2.7", 465)
    assert [n.code for n in items if isinstance(n, Notice)] == ["log.lost-connection"]


def test_huge_session_is_streamed_not_held() -> None:
    consumed = 0

    def numbered() -> Iterator[tuple[int, str]]:
        nonlocal consumed
        head = ["=== Trying 192.0.2.7:25...", "<-  220 hi", " -> DATA", "<-  354 go"]
        for number, text in enumerate([*head, *[" -> line"] * 20000, " -> ."], 1):
            consumed = number  # how far the parser has read when it yields
            yield number, text

    stream = FMT.parse(numbered(), "big")
    first = next(stream)
    assert isinstance(first, Opened) and first.server == Endpoint("192.0.2.7", 25)
    assert consumed < 6000  # released at HOLD_LIMIT items, long before the end
    rest = list(stream)
    assert sum(isinstance(i, Data) for i in rest) == 20004
    assert isinstance(rest[-1], Closed)


_PREFIXES = ["<-  ", " -> ", "<~  ", " ~> ", "<** ", "**> ", "=== ", "*** ", "", " ", "<   "]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_PREFIXES), st.text(max_size=40)), max_size=40))
def test_random_lines_never_raise(parts: list[tuple[str, str]]) -> None:
    text_lines = [prefix + text.replace("\n", " ").replace("\r", " ") for prefix, text in parts]
    assert_well_nested(FMT.parse(enumerate(text_lines, 1), "random"))
    FMT.sniff(text_lines)


# -- issue 13: TLS markers, excerpts, a client line that lost its hint -------------------
SAMPLES = ROOT / "samples"


def test_real_tls_samples_announce_tls() -> None:
    (starttls,) = opened(parse(SAMPLES / "swaks-starttls.log"))
    assert starttls.decrypted and not starttls.implicit_tls
    (tlsc,) = opened(parse(SAMPLES / "swaks-tls-on-connect.log"))
    assert tlsc.decrypted and tlsc.implicit_tls


def test_first_line_inside_tls_is_implicit_tls() -> None:
    text = "\n".join(ln for ln in (SAMPLES / "swaks-tls-on-connect.log").read_text()
                     .splitlines() if not ln.startswith("==="))
    (o,) = opened(parse_text(text))
    assert o.decrypted and o.implicit_tls


def test_excerpt_without_trying_is_mid_session() -> None:
    items = parse_text(" -> MAIL FROM:<a@example.test>\n<-  250 OK\n -> QUIT\n<-  221 Bye")
    notices = [i for i in items if isinstance(i, Notice)]
    assert [n.code for n in notices] == ["capture.midstream"]
    whole = parse(SAMPLES / "swaks-auth-login.log")
    assert not [i for i in whole if isinstance(i, Notice)]


def test_ehlo_without_its_hint_is_a_client_line() -> None:
    items = parse_text("=== Trying 127.0.0.1:25...\n<-  220 mx\nEHLO client.example\n"
                       "<-  250 mx\n -> QUIT\n<-  221 Bye")
    assert command_verbs(items)[:2] == ["EHLO", "QUIT"]
    assert not [i for i in items if isinstance(i, Notice)]
