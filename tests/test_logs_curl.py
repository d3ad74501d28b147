"""curl: its SMTP test cases (../shared/corpus/logs/curl) and ``curl -v`` output
(samples/curl-verbose.log), and random input."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtplens.sources import detect_text_format
from smtplens.sources.logs.curl import CurlLog
from smtplens.sources.textfile import read_lines
from smtplens.stream import Closed, Data, Direction, Endpoint, Notice, Skipped, StreamItem
from tests.helpers import assert_well_nested, opened

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "logs"
CURL = CORPUS / "curl"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(),
                                  reason="shared corpus (../shared/corpus) not present")
FMT = CurlLog()


def parse(path: Path) -> list[StreamItem]:
    return list(FMT.parse(read_lines(str(path)), str(path)))



def server_lines(items: list[StreamItem]) -> list[bytes]:
    data = b"".join(i.data for i in items if isinstance(i, Data)
                    and i.direction is Direction.SERVER)
    return data.split(b"\r\n")[:-1]


def codes(items: list[StreamItem]) -> list[int]:
    return [int(x[:3]) for x in server_lines(items) if x[3:4] != b"-"]


def client_lines(items: list[StreamItem]) -> list[bytes]:
    return [i.data for i in items if isinstance(i, Data) and i.direction is Direction.CLIENT]


# -- an independent reading of curl's test format, to check the parser against ----------

_VARS = {"LT": "<", "GT": ">", "CR": "\r", "SP": " ", "TAB": "\t", "HOSTIP": "127.0.0.1"}


def _section(text: str, tag: str) -> tuple[dict[str, str], list[str], range] | None:
    """Attributes, lines and 1-based line numbers of the first <tag> block."""
    all_lines = text.split("\n")
    for n, line in enumerate(all_lines):
        m = re.fullmatch(rf"\s*<{tag}(\s[^>]*)?>\s*", line)
        if m:
            end = next(k for k in range(n + 1, len(all_lines))
                       if all_lines[k].strip() == f"</{tag}>")
            attrs = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
            return attrs, all_lines[n + 1:end], range(n + 2, end + 1)
    return None


def _decode(lines: list[str], attrs: dict[str, str], testnumber: str) -> bytes:
    def pct(data: bytes) -> bytes:
        return re.sub(rb"%([0-9a-fA-F]{2})", lambda m: bytes([int(m[1], 16)]), data)

    out = b""
    for line in lines:
        for name, value in {**_VARS, "TESTNUMBER": testnumber}.items():
            line = line.replace("%" + name, value)
        data = line.encode("utf-8", "surrogateescape")
        data = re.sub(rb"%b64\[(.*?)\]b64%", lambda m: base64.b64encode(pct(m[1])), data)
        data = re.sub(rb"%hex\[(.*?)\]hex%", lambda m: pct(m[1]), data)
        data = re.sub(rb"%repeat\[(\d+) x (.*?)\]%", lambda m: pct(m[2]) * int(m[1]), data)
        out += data + (b"\r\n" if attrs.get("crlf") == "yes" else b"\n")
    if attrs.get("nonewline") == "yes":
        out = out[:-2] if out.endswith(b"\r\n") else out[:-1]
    return out


def expected_streams(path: Path) -> tuple[bytes, bytes, range, range] | None:
    """(<protocol> bytes, <upload> bytes, their line ranges) as curl's harness has them."""
    text = path.read_text("utf-8", "surrogateescape")
    testnumber = path.name.removeprefix("test")
    protocol = _section(text, "protocol")
    if protocol is None:
        return None
    upload = _section(text, "upload")
    message = _decode(upload[1], upload[0], testnumber) if upload else b""
    return (_decode(protocol[1], protocol[0], testnumber), message, protocol[2],
            upload[2] if upload else range(0))


def _line(item: Data) -> int:
    return int(item.location.removeprefix("line "))


# -- the corpus -------------------------------------------------------------------------


@needs_corpus
def test_every_test_case_reads() -> None:
    files = sorted(CURL.iterdir())
    assert len(files) == 90
    for path in files:
        items = parse(path)
        has_protocol = "<protocol" in path.read_text("utf-8", "surrogateescape")
        assert bool(opened(items)) == has_protocol, path
        for session in opened(items):
            assert session.origin == "curl" and session.server == Endpoint("127.0.0.1")
        assert not [i for i in items if isinstance(i, Notice)], path


@needs_corpus
def test_client_stream_equals_protocol_section() -> None:
    """The client side rebuilt from each test equals what curl's harness checks: the
    <protocol> section, and the <upload> section where the message was sent."""
    cases = protocol_agree = upload_agree = 0
    for path in sorted(CURL.iterdir()):
        expected = expected_streams(path)
        if expected is None:
            continue
        protocol, upload, protocol_lines, upload_lines = expected
        cases += 1
        sent = [i for i in parse(path) if isinstance(i, Data) and i.direction is Direction.CLIENT]
        commands = b"".join(i.data for i in sent if _line(i) in protocol_lines)
        message = [i.data for i in sent if _line(i) in upload_lines]
        assert len(commands) + sum(map(len, message)) == sum(len(i.data) for i in sent)
        protocol_agree += commands == protocol
        # the message goes out once per DATA that got its 354 (twice in test938)
        sent_message = b"".join(message)
        times = len(sent_message) // len(upload) if upload else 0
        upload_agree += sent_message == upload * times and (times > 0) == bool(upload)
    assert cases == 88
    assert protocol_agree == 88, "every <protocol> is rebuilt byte for byte"
    assert upload_agree == 88, "every <upload> is sent after its DATA"


@needs_corpus
def test_auth_plain_with_inferred_replies() -> None:
    items = parse(CURL / "test903")
    assert client_lines(items)[:3] == [b"EHLO 903\r\n", b"AUTH PLAIN\r\n",
                                       base64.b64encode(b"\0user\0secret") + b"\r\n"]
    # welcome banner, EHLO with the <servercmd> AUTH list, REPLY overrides, defaults
    assert server_lines(items)[5:7] == [b"250-ESMTP pingpong test server Hello 903",
                                        b"250 AUTH PLAIN"]
    assert codes(items) == [220, 250, 334, 235, 250, 250, 354, 250, 221]
    assert client_lines(items)[-3:] == [b"mail body\r\n", b".\r\n", b"QUIT\r\n"]


@needs_corpus
def test_address_checks_and_fallback() -> None:
    allowfails = parse(CURL / "test3002")  # --mail-rcpt-allowfails with <invalid.one>
    assert codes(allowfails) == [220, 250, 250, 501, 250, 250, 250, 250, 354, 250, 221]
    helo = parse(CURL / "test902")  # REPLY EHLO 500: curl falls back to HELO
    assert codes(helo) == [220, 500, 250, 250, 250, 354, 250, 221]
    utf8 = parse(CURL / "test965")  # CAPA SMTPUTF8 and MAIL ... SMTPUTF8
    assert codes(utf8)[2] == 250
    assert client_lines(utf8)[1] == "MAIL FROM:<Avsändaren@xn--4cab6c.se> SMTPUTF8\r\n".encode()


@needs_corpus
def test_two_connections_in_one_test() -> None:
    items = parse(CURL / "test938")
    assert [o.conn_id for o in opened(items)] == ["curl-1", "curl-2"]
    ehlo = [d.data for d in items if isinstance(d, Data) and d.data.startswith(b"EHLO")]
    assert ehlo == [b"EHLO 938001\r\n", b"EHLO 938002\r\n"]
    assert [c.conn_id for c in items if isinstance(c, Closed)] == ["curl-1", "curl-2"]


@needs_corpus
def test_unknown_replies_are_left_out() -> None:
    items = parse(CURL / "test923")  # VRFY, and the test gives no <data> to answer it
    assert client_lines(items) == [b"EHLO 923\r\n", b"VRFY recipient\r\n", b"QUIT\r\n"]
    assert codes(items) == [220, 250]  # nothing is made up after the VRFY
    pipelined = parse(CURL / "test980")  # REPLY STARTTLS with six replies at once
    assert codes(pipelined)[2:] == [454, 235, 250, 250, 354, 250]


@needs_corpus
def test_big_repeat_upload() -> None:
    items = parse(CURL / "test900")
    message = b"".join(client_lines(items)[4:-1])
    assert len(message) == 65530 + len(b"From: different\r\nTo: another\r\n\r\nbody\r\n"
                                       b"\n\r\n.\r\n")
    assert message.endswith(b"0123456789\n\r\n.\r\n")



# -- curl -v ---------------------------------------------------------------------------


def test_verbose_sample() -> None:
    path = ROOT / "samples" / "curl-verbose.log"
    assert detect_text_format(str(path)).name == "curl"
    items = parse(path)
    (session,) = opened(items)
    assert session.server == Endpoint("192.0.2.25", 587)
    assert session.decrypted and not session.implicit_tls
    sent = [c.rstrip(b"\r\n") for c in client_lines(items)]
    assert [s.split(b" ")[0] for s in sent] == [b"EHLO", b"STARTTLS", b"EHLO", b"AUTH",
                                                sent[4], b"MAIL", b"RCPT", b"DATA", b"QUIT"]
    assert base64.b64decode(sent[4]) == b"\0alice@example.com\0correct horse battery"
    assert codes(items) == [220, 250, 220, 250, 334, 235, 250, 250, 354, 250, 221]
    skipped = [i for i in items if isinstance(i, Skipped)]
    assert len(skipped) == 1 and skipped[0].location == "line 83"  # after the 354
    assert isinstance(items[-1], Closed) and items[-1].reason == "log"


def test_verbose_trace_time_and_two_connections() -> None:
    text = [
        "12:00:00.000001 *   Trying 192.0.2.1:25...",
        "12:00:00.000002 * Connected to a.example (192.0.2.1) port 25",
        "12:00:00.000003 < 220 a.example ESMTP",
        "12:00:00.000004 > QUIT",
        "12:00:00.000005 < 221 bye",
        "12:00:00.000006 * Closing connection",
        "* Connected to b.example ([2001:db8::1]) port 465",
        "* SSL connection using TLSv1.3 / TLS_AES_128_GCM_SHA256",
        "< 220 b.example ESMTP",
        "garbage that curl did not write",
    ]
    items = list(FMT.parse(enumerate(text, 1), "inline"))
    first, second = opened(items)
    assert first.server == Endpoint("192.0.2.1", 25) and not first.decrypted
    assert second.server == Endpoint("2001:db8::1", 465)
    assert second.implicit_tls and second.decrypted  # TLS before the greeting: smtps://
    notices = [i for i in items if isinstance(i, Notice)]
    assert [(n.code, n.conn_id) for n in notices] == [("input.unparsed-line", "curl-2")]


# -- random input ------------------------------------------------------------------------

_PIECES = ["<testcase>", "<protocol crlf=\"yes\">", "</protocol>", "<upload>", "</upload>",
           "<servercmd>", "</servercmd>", "REPLY AUTH 334 x", "REPLY \"AUTH PLAIN\" 235 ok",
           "COUNT AUTH 1", "CAPA SIZE 5", "AUTH PLAIN", "EHLO %TESTNUMBER", "DATA", "QUIT",
           "MAIL FROM:%LTa@b.cd%GT SIZE=9", "%b64[%00a]b64%", "%repeat[3 x ab]%", "%hex[%ff]hex%",
           "> ", "< 250 ", "< 354 x", "* Connected to x (1.2.3.4) port 25", "* Closing connection",
           "} [5 bytes data]", ""]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_PIECES), st.text(max_size=25)), max_size=40),
       st.booleans())
def test_random_lines_never_raise(parts: list[tuple[str, str]], as_testcase: bool) -> None:
    text_lines = [prefix + text.replace("\n", " ").replace("\r", " ") for prefix, text in parts]
    if as_testcase:
        text_lines.insert(0, "<testcase>")
    FMT.sniff(text_lines)
    assert_well_nested(FMT.parse(enumerate(text_lines, 1), "random/test123"))
