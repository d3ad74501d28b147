"""Exchange SmtpReceive/SmtpSend protocol logs: the rows of Elastic's test file checked
against the fields Elastic's parser expects, logs written after Exchange's documented
layout, and random input."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtplens.analysis import analyze_stream
from smtplens.sources import detect_text_format
from smtplens.sources.logs.exchange import ExchangeProtocolLog, parse_row
from smtplens.sources.textfile import read_lines
from smtplens.stream import Closed, Data, Direction, Endpoint, Notice, Opened, Skipped, StreamItem
from tests.helpers import by_id, verbs

ROOT = Path(__file__).resolve().parents[1]
EXCHANGE = ROOT.parent / "shared" / "corpus" / "logs" / "exchange"
needs_corpus = pytest.mark.skipif(not EXCHANGE.is_dir(),
                                  reason="shared corpus (../shared/corpus) not present")
FMT = ExchangeProtocolLog()


def parse_text(text: str) -> list[StreamItem]:
    return list(FMT.parse(enumerate(text.strip("\n").splitlines(), 1), "inline"))




# -- the corpus -------------------------------------------------------------------------


@needs_corpus
def test_every_row_agrees_with_elastic() -> None:
    lines = (EXCHANGE / "test-smtp.lines.log").read_text().splitlines()
    expected = json.loads((EXCHANGE / "test-smtp.json-expected.reduced.json").read_text())
    rows = expected["expected_microsoft_exchange"]
    assert len(lines) == len(rows) == 7
    for line, want in zip(lines, rows, strict=True):
        row = parse_row(line)
        assert row is not None, line
        assert row.date_time == want["datetime"]
        assert row.connector_id == want["connectorid"]
        assert row.session_id == want["sessionid"]
        assert row.sequence_number == want["sequencenumber"]
        assert row.local_endpoint == want.get("localendpoint", "")
        assert row.remote_endpoint == want["remoteendpoint"]
        assert row.event == want["event"]
        assert row.data == want.get("data", "")
        assert row.context == want.get("context", "")
    # the input events of Elastic's test are the same lines
    events = json.loads((EXCHANGE / "test-smtp.json").read_text())["events"]
    assert [e["message"] for e in events] == lines


@needs_corpus
def test_corpus_sessions() -> None:
    path = EXCHANGE / "test-smtp.lines.log"
    items = list(FMT.parse(read_lines(str(path)), str(path)))
    assert not [i for i in items if isinstance(i, Notice)]
    opened = {i.conn_id: i for i in items if isinstance(i, Opened)}
    # the send connector's two sessions never connected ("attempting to connect",
    # "Failed to connect"): no SMTP session to rebuild
    assert list(opened) == ["08DC1DB8591B229A", "08DC1DB8591B229B"]
    a, b = opened["08DC1DB8591B229A"], opened["08DC1DB8591B229B"]
    # a receive log: the remote endpoint is the client, Exchange's own the server
    assert (a.client, a.server) == (Endpoint("10.11.12.14", 53228), Endpoint("10.11.12.13", 25))
    assert (b.client, b.server) == (Endpoint("10.11.12.14", 53230), Endpoint("10.11.12.13", 25))
    assert a.ts == datetime.fromisoformat("2024-01-25T15:14:39.026+00:00").timestamp()
    assert (a.origin, a.exact_bytes, a.decrypted) == ("exchange", False, True)
    greeting = (b"220 my-mail.my.domain.tld Microsoft ESMTP MAIL Service ready at "
                b"Thu, 25 Jan 2024 16:14:38 +0100\r\n")
    data = [(i.conn_id, i.direction, i.data) for i in items if isinstance(i, Data)]
    assert data == [
        ("08DC1DB8591B229A", Direction.SERVER, greeting),
        ("08DC1DB8591B229A", Direction.CLIENT, b"EHLO mgt.my.domain.tld\r\n"),
        ("08DC1DB8591B229B", Direction.SERVER, greeting)]
    found = by_id(items)
    assert found["08DC1DB8591B229A"].helo == "mgt.my.domain.tld"
    assert found["08DC1DB8591B229B"].greeting_code == 220
    assert {c.conn_id: c.reason for c in items if isinstance(c, Closed)} == {
        "08DC1DB8591B229A": "eof", "08DC1DB8591B229B": "eof"}


@needs_corpus
def test_corpus_is_detected() -> None:
    assert detect_text_format(str(EXCHANGE / "test-smtp.lines.log")).name == "exchange"


# -- logs in Exchange's documented layout --------------------------------------------------

HEADER = """#Software: Microsoft Exchange Server
#Version: 15.01.2507.027
#Log-type: SMTP {kind} Protocol Log
#Date: 2024-02-01T09:00:00.000Z
#Fields: {fields}
"""
FIELDS = ("date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,"
          "event,data,context")
R = "2024-02-01T09:00:00.{ms:03d}Z,EX01\\Client Frontend EX01,{sid},{seq},10.0.0.5:587,{peer},"


def receive_log() -> str:
    a, b = "08DC22F0A1B2C3D4", "08DC22F0A1B2C3D5"
    pa, pb = "192.0.2.10:50123", "[2001:db8::77]:50124"
    rows = [
        (a, "+,,"),
        (a, "*,SMTPSubmit SMTPAcceptAnySender AcceptRoutingHeaders,Set Session Permissions"),
        (a, '>,"220 EX01.contoso.com Microsoft ESMTP MAIL Service ready at Thu, 1 Feb 2024",'),
        (b, "+,,"),
        (a, "<,EHLO laptop,"),
        (a, ">,250-EX01.contoso.com Hello [192.0.2.10],"),
        (a, ">,250-SIZE 37748736,"),
        (a, ">,250-STARTTLS,"),
        (a, ">,250-AUTH GSSAPI NTLM,"),
        (a, ">,250 CHUNKING,"),
        (b, '>,"220 EX01.contoso.com Microsoft ESMTP MAIL Service ready at Thu, 1 Feb 2024",'),
        (a, "<,STARTTLS,"),
        (a, ">,220 2.0.0 SMTP server ready,"),
        (a, "*,,Sending certificate"),
        (a, '*,,"TLS protocol SP_PROT_TLS1_2_SERVER negotiation succeeded using bulk '
            'encryption algorithm CALG_AES_256 with strength 256 bits"'),
        (b, '<,"MAIL FROM:<""odd, name""@example.com>",'),
        (a, "<,EHLO laptop,"),
        (a, ">,250-EX01.contoso.com Hello [192.0.2.10],"),
        (a, ">,250-AUTH GSSAPI NTLM LOGIN,"),
        (a, ">,250 CHUNKING,"),
        (b, ">,501 5.1.7 Invalid address,"),
        (a, "<,AUTH LOGIN,"),
        (a, "><,,"),  # damaged row
        (a, ">,334 <authentication response>,"),
        (a, "<,<authentication response>,"),
        (a, ">,334 <authentication response>,"),
        (a, "<,<authentication response>,"),
        (a, "*,CONTOSO\\alice,authenticated"),
        (a, ">,235 2.7.0 Authentication successful,"),
        (b, "-,,Remote(SocketError)"),
        (a, "<,MAIL FROM:<alice@contoso.com>,"),
        (a, ">,250 2.1.0 Sender OK,"),
        (a, "<,RCPT TO:<bob@fabrikam.com>,"),
        (a, ">,250 2.1.5 Recipient OK,"),
        (a, "<,DATA,"),
        (a, ">,354 Start mail input; end with <CRLF>.<CRLF>,"),
        (a, '>,"250 2.6.0 <AM0PR01@EX01.contoso.com> [InternalId=123, Hostname=EX01] '
            'Queued mail for delivery",'),
        (a, "<,QUIT,"),
        (a, ">,221 2.0.0 Service closing transmission channel,"),
        (a, "-,,Local"),
    ]
    out = HEADER.format(kind="Receive", fields=FIELDS)
    for n, (sid, rest) in enumerate(rows):
        out += R.format(ms=n, sid=sid, seq=n, peer=pa if sid == a else pb) + rest + "\n"
    return out


def test_receive_log_with_starttls_auth_and_data() -> None:
    items = parse_text(receive_log())
    opened = {i.conn_id: i for i in items if isinstance(i, Opened)}
    assert opened["08DC22F0A1B2C3D4"].client == Endpoint("192.0.2.10", 50123)
    assert opened["08DC22F0A1B2C3D4"].server == Endpoint("10.0.0.5", 587)
    assert opened["08DC22F0A1B2C3D5"].client == Endpoint("2001:db8::77", 50124)
    notices = [i for i in items if isinstance(i, Notice)]
    assert [(n.code, n.location) for n in notices] == [("input.unparsed-line", "line 28")]
    # Exchange does not log the content: the engine is told after the 354
    at = next(n for n, i in enumerate(items) if isinstance(i, Data) and i.data[:3] == b"354")
    data = items[at]
    assert isinstance(data, Data)
    assert items[at + 1] == Skipped("08DC22F0A1B2C3D4", Direction.CLIENT, "message",
                                    data.ts, "line 41")
    # doubled quotes inside a quoted field
    assert Data("08DC22F0A1B2C3D5", Direction.CLIENT,
                b'MAIL FROM:<"odd, name"@example.com>\r\n',
                datetime.fromisoformat("2024-02-01T09:00:00.015+00:00").timestamp(),
                "line 21") in items
    found = by_id(items)
    a = found["08DC22F0A1B2C3D4"]
    assert verbs(a) == [("EHLO", 250), ("STARTTLS", 220), ("EHLO", 250), ("AUTH", 334),
                        ("AUTH-ANSWER", 334), ("AUTH-ANSWER", 235), ("MAIL", 250),
                        ("RCPT", 250), ("DATA", 354), (".", 250), ("QUIT", 221)]
    assert a.tls and [x.mechanism for x in a.auth] == ["LOGIN"]
    assert a.auth[0].outcome == "success"
    assert a.transactions[0].message is not None
    assert a.transactions[0].message.end == "skipped"
    assert a.close_reason == "log"
    b = found["08DC22F0A1B2C3D5"]
    assert verbs(b) == [("MAIL", 501)] and b.greeting_code == 220


SEND_ROWS = [
    "*,,attempting to connect",
    "+,,",
    "<,220 mx.fabrikam.com ESMTP,",
    ">,EHLO EX01.contoso.com,",
    "<,250-mx.fabrikam.com,",
    "<,250-CHUNKING,",
    "<,250 8BITMIME,",
    "*,,sending message with RecordId 51539607553",
    ">,MAIL FROM:<alice@contoso.com> SIZE=4321,",
    ">,RCPT TO:<bob@fabrikam.com>,",
    "<,250 2.1.0 Ok,",
    "<,250 2.1.5 Ok,",
    ">,BDAT 4321 LAST,",
    "<,250 2.0.0 Ok: queued as 4TQ,",
    ">,QUIT,",
    "<,221 2.0.0 Bye,",
    "-,,Local",
]
SEND_LOG = "\n".join(
    f"2024-02-01T09:05:00.{n:03d}Z,Internet Send Connector,08DC22F0A1B2C3E5,{n},"
    f"{'10.0.0.5:41000' if n else ''},203.0.113.25:25,{row}" for n, row in enumerate(SEND_ROWS))


@pytest.mark.parametrize("header", [False, True])
def test_send_log_roles_and_bdat(header: bool) -> None:
    # without a header the first SMTP row decides: Exchange reading a 220 is the client
    text = (HEADER.format(kind="Send", fields=FIELDS) if header else "") + SEND_LOG
    items = parse_text(text)
    (opened,) = [i for i in items if isinstance(i, Opened)]
    assert opened.client == Endpoint("10.0.0.5", 41000)
    assert opened.server == Endpoint("203.0.113.25", 25)
    assert opened.location == f"line {1 + 5 * header}"
    first = next(i for i in items if isinstance(i, Data))
    assert (first.direction, first.data) == (Direction.SERVER, b"220 mx.fabrikam.com ESMTP\r\n")
    bdat = next(n for n, i in enumerate(items)
                if isinstance(i, Data) and i.data.startswith(b"BDAT"))
    assert isinstance(items[bdat + 1], Skipped)
    (s,) = by_id(items).values()
    assert verbs(s) == [("EHLO", 250), ("MAIL", 250), ("RCPT", 250), ("BDAT", 250),
                        ("QUIT", 221)]
    assert s.transactions[0].message is not None
    assert s.transactions[0].message.method == "BDAT"


def test_fields_header_order_and_reused_session_id() -> None:
    text = """
#Fields: session-id,event,data,date-time,connector-id,sequence-number,local-endpoint,\
remote-endpoint,context
S1,+,,2024-02-01T10:00:00Z,C,0,10.0.0.5:25,192.0.2.1:1000,
S1,>,220 hi,2024-02-01T10:00:01Z,C,1,10.0.0.5:25,192.0.2.1:1000,
S1,<,QUIT,2024-02-01T10:00:02Z,C,2,10.0.0.5:25,192.0.2.1:1000,
S1,-,,2024-02-01T10:00:03Z,C,3,10.0.0.5:25,192.0.2.1:1000,Local
S1,+,,2024-02-01T10:01:00Z,C,0,10.0.0.5:25,192.0.2.1:1001,
S1,-,,2024-02-01T10:01:03Z,C,1,10.0.0.5:25,192.0.2.1:1001,Remote(SocketError)
"""
    items = parse_text(text)
    opened = [i for i in items if isinstance(i, Opened)]
    assert [(o.conn_id, o.client) for o in opened] == [
        ("S1", Endpoint("192.0.2.1", 1000)), ("S1#2", Endpoint("192.0.2.1", 1001))]
    assert [i.data for i in items if isinstance(i, Data)] == [b"220 hi\r\n", b"QUIT\r\n"]
    assert [(c.conn_id, c.reason) for c in items if isinstance(c, Closed)] == [
        ("S1", "log"), ("S1#2", "log")]


def test_sniffing() -> None:
    assert FMT.sniff(receive_log().splitlines()) == 100
    assert FMT.sniff(SEND_LOG.splitlines()) == 95
    assert FMT.sniff(["C: EHLO x", "S: 250 ok"]) == 0
    assert FMT.sniff(["a,b,c,d,e,f,g,h,i"]) == 0


_EVENTS = ["+", "-", "<", ">", "*", "", "<>"]
_DATA = ["220 x", "EHLO y", "354 go", "DATA", "BDAT 3 LAST", '"q""x"', '"open', "QUIT",
         "<authentication response>", "250-a"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["S1", "S2", ""]), st.sampled_from(_EVENTS),
                          st.sampled_from(_DATA), st.text(max_size=15),
                          st.booleans()), max_size=40))
def test_random_rows_never_raise(rows: list[tuple[str, str, str, str, bool]]) -> None:
    text = ["#Log-type: SMTP Send Protocol Log"] if rows and rows[0][4] else []
    text += [f"2024-01-01T00:00:00Z,C,{sid},1,1.2.3.4:25,[::1]:{junk},{ev},{data},{junk}"
             if not raw else junk for sid, ev, data, junk, raw in rows]
    items = list(FMT.parse(enumerate(text, 1), "random"))
    FMT.sniff(text)
    list(analyze_stream(items))
    opened = [i.conn_id for i in items if isinstance(i, Opened)]
    closed = [i.conn_id for i in items if isinstance(i, Closed)]
    assert sorted(closed) == sorted(opened) and len(set(opened)) == len(opened)


def test_sessions_the_log_stops_mentioning_are_closed_as_idle() -> None:
    # 2 rows a second for 40 minutes, then a row an hour later: the early sessions,
    # which never logged "-", are closed as idle instead of being held to the end
    rows = []
    for n in range(2400):
        when = f"2024-01-01T10:{n // 120:02d}:{n // 2 % 60:02d}Z"
        rows.append(f"{when},C,S{n},0,10.0.0.5:25,192.0.2.1:{1024 + n},>,220 hi,")
    rows += [f"2024-01-01T11:45:00Z,C,T{n},0,10.0.0.5:25,192.0.2.2:{n},+,," for n in range(1700)]
    items = list(FMT.parse(enumerate(rows, 1), "long"))
    closed = [i for i in items if isinstance(i, Closed)]
    idle = [c for c in closed if c.reason == "idle"]
    assert idle and all(c.conn_id.startswith("S") for c in idle)
    assert len(closed) == len({c.conn_id for c in closed}) == 2400 + 1700
