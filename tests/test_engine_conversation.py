"""The conversation engine: replies, pipelining, DATA, BDAT, STARTTLS, AUTH, gaps."""

from __future__ import annotations

from smtplens.engine import ClientState, Conversation
from smtplens.engine import events as ev
from smtplens.stream import Direction

C, S = Direction.CLIENT, Direction.SERVER


def feed(conv: Conversation, *steps: tuple[Direction, bytes]) -> list[ev.Event]:
    out: list[ev.Event] = []
    for direction, data in steps:
        out += conv.receive(direction, data, 1.0)
    return out


def of(events: list[ev.Event], kind: type) -> list:  # type: ignore[type-arg]
    return [e for e in events if isinstance(e, kind)]


def test_greeting_multiline_and_enhanced_codes() -> None:
    conv = Conversation()
    events = feed(conv, (S, b"220-mx.example ESMTP\r\n220 second line\r\n"),
                  (C, b"EHLO me\r\n"), (S, b"250-mx\r\n250-SIZE 100\r\n250 PIPELINING\r\n"),
                  (C, b"MAIL FROM:<>\r\n"), (S, b"250 2.1.0 Ok\r\n"))
    replies = of(events, ev.Reply)
    assert replies[0].to == "greeting" and replies[0].lines == ("mx.example ESMTP",
                                                                "second line")
    assert replies[1].lines == ("mx", "SIZE 100", "PIPELINING") and replies[1].verb == "EHLO"
    assert replies[2].enhanced == "2.1.0" and replies[2].verb == "MAIL"


def test_pipelined_replies_match_in_order_whatever_the_segmenting() -> None:
    conv = Conversation()
    events = feed(conv, (S, b"220 x\r\n"), (C, b"EHLO a\r\n"), (S, b"250 x\r\n"),
                  (C, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRC"), (C, b"PT TO:<e@f>\r\nDATA\r\n"),
                  (S, b"250 ok\r\n550 no such user\r\n25"), (S, b"0 ok\r\n354 go\r\n"))
    replies = [(r.verb, r.code) for r in of(events, ev.Reply)][2:]
    assert replies == [("MAIL", 250), ("RCPT", 550), ("RCPT", 250), ("DATA", 354)]
    commands = of(events, ev.Command)
    assert commands[2].waiting == ("MAIL",) and commands[3].waiting == ("MAIL", "RCPT")


def test_data_is_unstuffed_and_ends_only_at_crlf_dot_crlf() -> None:
    conv = Conversation()
    feed(conv, (S, b"220 x\r\n"), (C, b"DATA\r\n"), (S, b"354 go\r\n"))
    events = feed(conv, (C, b"a\r\n..b\r\n\n.\n"), (C, b"c\r"), (C, b"\n.\r"), (C, b"\nQUIT\r\n"))
    content = b"".join(e.content for e in of(events, ev.MessageData))
    raw = b"".join(e.raw for e in of(events, ev.MessageData))
    assert raw == b"a\r\n..b\r\n\n.\nc\r\n"
    assert content == b"a\r\n.b\r\n\n.\nc\r\n"  # <LF>.<LF> is content, not an end
    end = of(events, ev.MessageEnd)[0]
    assert end.how == "dot" and end.complete
    assert of(events, ev.Command)[0].verb == "QUIT"


def test_empty_message_and_leading_dot_line() -> None:
    conv = Conversation()
    feed(conv, (S, b"220 x\r\n"), (C, b"DATA\r\n"), (S, b"354 go\r\n"))
    events = feed(conv, (C, b".\r\n"))
    assert of(events, ev.MessageData) == [] and of(events, ev.MessageEnd)[0].how == "dot"
    feed(conv, (S, b"250 ok\r\n"), (C, b"DATA\r\n"), (S, b"354 go\r\n"))
    events = feed(conv, (C, b"..x\r\n.\r\n"))
    assert of(events, ev.MessageData)[0].content == b".x\r\n"


def test_refused_data_returns_to_command_mode() -> None:
    conv = Conversation()
    events = feed(conv, (S, b"220 x\r\n"), (C, b"DATA\r\nRSET\r\n"), (S, b"503 need RCPT\r\n"),
                  (S, b"250 ok\r\n"))
    assert [c.verb for c in of(events, ev.Command)] == ["DATA", "RSET"]
    assert of(events, ev.MessageStart) == []
    assert conv.state is ClientState.COMMAND


def test_body_before_354_is_held_then_read_as_content() -> None:
    conv = Conversation()
    events = feed(conv, (S, b"220 x\r\n"), (C, b"DATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n"),
                  (S, b"354 go\r\n250 ok\r\n"))
    start = of(events, ev.MessageStart)[0]
    assert start.early
    assert of(events, ev.MessageEnd)[0].how == "dot"
    assert of(events, ev.Reply)[-1].verb == "."


def test_bdat_counts_octets_exactly_rfc3030_example() -> None:
    conv = Conversation()
    feed(conv, (S, b"220 x\r\n"), (C, b"EHLO a\r\n"), (S, b"250-x\r\n250 CHUNKING\r\n"),
         (C, b"MAIL FROM:<a@b>\r\n"), (S, b"250 ok\r\n"), (C, b"RCPT TO:<c@d>\r\n"),
         (S, b"250 ok\r\n"))
    events = feed(conv, (C, b"BDAT 86\r\n" + b"To: c@d\r\n" + b"x" * 75 + b"\r\n"),
                  (C, b"BDAT 6 LAST\r\n.\r\n.\r\n"), (S, b"250 got 86\r\n250 got 6\r\n"),
                  (C, b"QUIT\r\n"))
    chunks = of(events, ev.BdatChunk)
    assert [(c.declared, c.received, c.last) for c in chunks] == [(86, 86, False), (6, 6, True)]
    assert of(events, ev.MessageEnd)[0].how == "last"
    assert of(events, ev.Command)[-1].verb == "QUIT"
    assert b"".join(e.raw for e in of(events, ev.MessageData)).endswith(b".\r\n.\r\n")


def test_bdat_refused_before_its_octets_leaves_bdat_mode() -> None:
    conv = Conversation()
    feed(conv, (S, b"220 x\r\n"))
    events = feed(conv, (C, b"BDAT 100\r\n"), (S, b"503 5.5.1 no MAIL\r\n"), (C, b"RSET\r\n"))
    assert [c.verb for c in of(events, ev.Command)] == ["BDAT", "RSET"]
    assert of(events, ev.MessageEnd)[0].how == "aborted"


def test_starttls_switches_both_sides_to_encrypted_and_flags_injection() -> None:
    conv = Conversation()
    events = feed(conv, (S, b"220 x\r\n"), (C, b"STARTTLS\r\nRSET\r\n"), (S, b"220 go\r\n"),
                  (C, b"\x16\x03\x01binary"), (S, b"\x16\x03\x03more"))
    tls = of(events, ev.TlsStarted)[0]
    assert tls.injected == b"RSET\r\n"
    assert sum(e.size for e in of(events, ev.Encrypted)) == 9 + 7
    assert conv.state is ClientState.TLS


def test_decrypted_logs_keep_parsing_after_starttls() -> None:
    conv = Conversation(decrypted=True)
    events = feed(conv, (S, b"220 x\r\n"), (C, b"STARTTLS\r\n"), (S, b"220 go\r\n"),
                  (C, b"EHLO a\r\n"), (S, b"250 x\r\n"))
    assert of(events, ev.TlsStarted) and not of(events, ev.Encrypted)
    assert [c.verb for c in of(events, ev.Command)] == ["STARTTLS", "EHLO"]


def test_auth_answers_follow_334_and_cancel() -> None:
    conv = Conversation()
    events = feed(conv, (S, b"220 x\r\n"), (C, b"AUTH LOGIN\r\n"), (S, b"334 VXNlcm5hbWU6\r\n"),
                  (C, b"*\r\n"), (S, b"501 cancelled\r\n"), (C, b"NOOP\r\n"), (S, b"250 ok\r\n"))
    answers = of(events, ev.AuthAnswer)
    assert [a.text for a in answers] == ["*"]
    assert of(events, ev.Command)[-1].verb == "NOOP"
    assert [r.to for r in of(events, ev.Reply)] == ["greeting", "command", "auth", "command"]


def test_client_gap_in_command_mode_resyncs_at_next_line() -> None:
    conv = Conversation()
    feed(conv, (S, b"220 x\r\n"), (C, b"MAIL FR"))
    events = conv.gap(C, 30, 1.0) + feed(conv, (C, b"garbage tail\r\nRSET\r\n"))
    assert of(events, ev.GapSeen)[0].size == 30
    assert [c.verb for c in of(events, ev.Command)] == ["RSET"]


def test_gap_inside_data_marks_message_incomplete() -> None:
    conv = Conversation()
    feed(conv, (S, b"220 x\r\n"), (C, b"DATA\r\n"), (S, b"354 go\r\n"), (C, b"part one\r\n"))
    events = conv.gap(C, 500, 1.0) + feed(conv, (C, b"tail\r\n.\r\n"))
    end = of(events, ev.MessageEnd)[0]
    assert end.how == "dot" and not end.complete


def test_close_inside_data_flushes_and_reports_open_items() -> None:
    conv = Conversation()
    feed(conv, (S, b"220 x\r\n"), (C, b"DATA\r\n"), (S, b"354 go\r\n"))
    events = feed(conv, (C, b"no end\r")) + conv.close(2.0)
    assert b"".join(e.raw for e in of(events, ev.MessageData)) == b"no end\r"
    end = of(events, ev.MessageEnd)[0]
    assert end.how == "closed" and not end.complete
    assert of(events, ev.ConnectionEnd)[0].state == "COMMAND"


def test_one_sided_client_capture_guesses_data_mode() -> None:
    conv = Conversation()
    conv.midstream()
    events = feed(conv, (C, b"DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n")) + conv.close()
    guessed = of(events, ev.Guessed)
    assert guessed and guessed[0].assumed == "354"
    assert of(events, ev.MessageEnd)[0].how == "dot"
    assert of(events, ev.Command)[-1].verb == "QUIT"


def test_early_talker_and_unmatched_reply() -> None:
    conv = Conversation()
    events = feed(conv, (C, b"EHLO fast\r\n"), (S, b"220 x\r\n250 hi\r\n250 extra\r\n"))
    assert of(events, ev.Command)[0].before_greeting
    assert [r.to for r in of(events, ev.Reply)] == ["greeting", "command", "unmatched"]


def test_malformed_and_mixed_replies_are_kept() -> None:
    conv = Conversation()
    events = feed(conv, (S, b"220 x\r\n"), (C, b"EHLO a\r\n"), (S, b"250-a\r\n251 b\r\n"),
                  (C, b"NOOP\r\n"), (S, b"hello there\r\n"))
    replies = of(events, ev.Reply)
    assert replies[1].mixed_codes
    assert replies[2].code is None and replies[2].malformed == (0,)


def test_overlong_line_is_cut_and_the_engine_resyncs() -> None:
    conv = Conversation()
    feed(conv, (S, b"220 x\r\n"))
    events = feed(conv, (C, b"X" * 70000), (C, b"Y" * 10 + b"\r\nNOOP\r\n"))
    commands = of(events, ev.Command)
    assert commands[0].ending == "" and len(commands[0].raw) == 64 * 1024
    assert commands[1].verb == "NOOP"


def test_lmtp_expects_one_reply_per_accepted_recipient() -> None:
    conv = Conversation(lmtp=True)
    events = feed(conv, (S, b"220 x\r\n"), (C, b"LHLO a\r\n"), (S, b"250 x\r\n"),
                  (C, b"MAIL FROM:<a@b>\r\n"), (S, b"250 ok\r\n"),
                  (C, b"RCPT TO:<c@d>\r\n"), (S, b"250 ok\r\n"),
                  (C, b"RCPT TO:<e@f>\r\n"), (S, b"250 ok\r\n"),
                  (C, b"DATA\r\n"), (S, b"354 go\r\n"), (C, b"x\r\n.\r\nQUIT\r\n"),
                  (S, b"250 c ok\r\n452 e full\r\n221 bye\r\n"))
    assert [(r.verb, r.code) for r in of(events, ev.Reply)][-3:] == [
        (".", 250), (".", 452), ("QUIT", 221)]


def test_implicit_tls_counts_everything() -> None:
    conv = Conversation(implicit_tls=True)
    events = feed(conv, (C, b"\x16\x03\x01abc"), (S, b"\x16\x03\x03defg")) + conv.close()
    assert [e.size for e in of(events, ev.Encrypted)] == [6, 7]
    assert of(events, ev.ConnectionEnd)[0].state == "TLS"


def test_proxy_protocol_headers_get_no_reply() -> None:
    v1 = Conversation()
    events = feed(v1, (C, b"PROXY TCP4 192.0.2.1 192.0.2.2 5000 25\r\n"), (S, b"220 x\r\n"),
                  (C, b"EHLO a\r\n"), (S, b"250 x\r\n"))
    assert [(r.to, r.verb) for r in of(events, ev.Reply)] == [("greeting", ""),
                                                              ("command", "EHLO")]
    v2 = Conversation()
    header = b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c" + bytes(12)
    events = feed(v2, (C, header[:7]), (C, header[7:] + b"EHLO a\r\n"),
                  (S, b"220 x\r\n250 x\r\n"))
    commands = of(events, ev.Command)
    assert [c.verb for c in commands] == ["PROXY", "EHLO"] and commands[0].length == 28
    assert of(events, ev.Reply)[1].verb == "EHLO"
