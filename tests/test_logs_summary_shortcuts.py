"""The summary-log readers' shortcuts give what their patterns give.

``postfix-log`` and ``exim-mainlog`` read most lines without the whole-line patterns:
a line that starts with the last time seen reuses its value, a Postfix process prefix
seen before is not matched again, and a message is tried only against the patterns
whose literal text it holds. The patterns stay the definition; each test here runs
the pattern-only way (the way the readers worked before the shortcuts) next to the
reader's, on real lines and on lines built from the pieces the patterns look for.
"""

from __future__ import annotations

import re
from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from smtplens.sources.logs import _summary, exim_summary, postfix_summary
from smtplens.sources.logs._postfix_lines import (
    PostfixLine,
    PrefixReader,
    parse_reject,
    prefix,
)
from smtplens.sources.logs._times import iso_time
from smtplens.sources.logs.exim_summary import event_match
from smtplens.sources.logs.postfix_summary import _REJECT_ACTIONS, _smtpd_match

NOW = datetime(2026, 6, 1, 12, 0, 0)

# -------------------------------------------------------------------- line pieces
STAMPS = ["Sep 21 14:13:20", "Sep 21 14:13:20.5", "May  4 21:17:42", "May 4 21:17:42",
          "2024-05-01T10:00:00.123456+00:00", "2024-05-01T10:00:00Z", "Xyz 21 14:13:20",
          "Sep 21 14:13", "Sep 21 14:13:2\u0663", ""]
HOSTS = ["mx1", "mail", "", "m\tx", "m\x1cx", "h\xa0st", "a:b", "[h]", "mx1]:", "x]:]"]
PROGRAMS = ["postfix/smtpd", "postfix/submission/smtpd", "postfix-out/smtpd",
            "postfix/postscreen", "postfix/qmgr", "postfix", "postfix/sm]tpd", "post:fix",
            "sendmail", "postfix/smtp d"]
PIDS = ["1077", "1", "12345678901", "", "1\u0663", "x"]
MESSAGES = [
    "connect from unknown[203.0.113.1]", "connect from h[1.2.3.4]:25x",
    "disconnect from h[10.0.0.9] ehlo=1 auth=0/1 quit=1 commands=2",
    "disconnect from h[10.0.0.9]  ehlo=1", "disconnect from h[10.0.0.9] ehlo=1\t",
    "lost connection after DATA (0 bytes) from h[1.2.3.4]",
    "3CD6EF0786: lost connection after RCPT from h[1.2.3.4]: x",
    "warning: timeout after END-OF-MESSAGE from h[1.2.3.4]",
    "bare <LF> received after DATA from h[1.2.3.4]",
    "improper command pipelining after CONNECT from h[1.2.3.4]: EHLO x",
    "3CD6EF0786: client=h[10.0.0.55], sasl_method=PLAIN, sasl_username=u",
    "warning: client=h[1.2.3.4]",
    "warning: unknown[1.2.3.4]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
    "warning: unknown[1.2.3.4]: SASL PLAIN authentication failed: x, sasl_username=u",
    "warning: non-SMTP command from h[1.2.3.4]: GET / HTTP/1.1",
    "warning: TLS library problem: error", "warning: reject: RCPT from h[1.2.3.4]: 554 x",
    "Anonymous TLS connection established from h[1.2.3.4]: TLSv1.3",
    "Verified TLS connection established from h[1.2.3.4]",
    "SSL_accept error from h[1.2.3.4]: lost connection",
    "NOQUEUE: reject: RCPT from h[1.2.3.4]: 554 5.7.1 <a@b>: Relay access denied; "
    "from=<x@y> to=<a@b> proto=ESMTP helo=<h>",
    "ABC: milter-reject: END-OF-MESSAGE from h[1.2.3.4]: 5.7.1 no; from=<> to=<a>",
    "NOQUEUE: defer: RCPT from h[1.2.3.4]: 450 4.1.1 later",
    "3CDD76E8D6: from=<u@h>, size=19576, nrcpt=2 (queue active)",
    "3CDD76E8D6: to=<a@b>, relay=mx[1.2.3.4]:25, status=sent", "3CDD76E8D6: removed",
    "CONNECT from [1.2.3.4]:5 to [5.6.7.8]:25", "PASS NEW [1.2.3.4]:5",
    "PREGREET 11 after 0.1 from [1.2.3.4]:5: EHLO x", "statistics: max connection rate",
    "", "connect", "x]: y", "a\nb", "a\n"]
#: pieces a message is built from (the literal texts the patterns look for, and junk)
PIECES = [*MESSAGES, " ", "  ", "\t", ": ", "]: ", "[", "]", "from ", " from ", "after ",
          "QID: ", "warning: ", "client=", "reject: ", "SASL ", "<= ", "SMTP ", "\n", "x",
          "1.2.3.4", "h[1.2.3.4]", "[1.2.3.4]:25 ", "\u0663", "\xa0"]

messages = st.lists(st.sampled_from(PIECES), min_size=1, max_size=5).map("".join)
postfix_lines = st.builds(
    lambda stamp, host, program, pid, msg, sep: f"{stamp}{sep}{host} {program}[{pid}]: {msg}",
    st.sampled_from(STAMPS), st.sampled_from(HOSTS), st.sampled_from(PROGRAMS),
    st.sampled_from(PIDS), messages, st.sampled_from([" ", " ", "  ", "\t"]))


# ------------------------------------------------------------------------ Postfix
@settings(max_examples=300, deadline=None)
@given(st.lists(postfix_lines, max_size=30))
def test_prefix_reader_reads_lines_as_the_pattern_does(lines: list[str]) -> None:
    reader = PrefixReader(NOW)
    for text in lines:
        parts = reader.read(text)
        assert (PostfixLine(*parts) if parts else None) == prefix(text, NOW), text


def test_prefix_reader_on_a_real_log_with_shared_times_and_processes() -> None:
    base = ["Sep 21 14:13:20 mx1 postfix/smtpd[1077]: connect from unknown[203.0.113.1]",
            "Sep 21 14:13:20 mx1 postfix/smtpd[1077]: disconnect from unknown[203.0.113.1]",
            "Sep 21 14:13:20 mx1 postfix/smtpd[1077]x: junk",
            "Sep 21 14:13:20 mx1 postfix/smtpd[1077]: two\nlines",
            "Sep 21 14:13:20.25 mx1 postfix/smtpd[1077]: connect from h[1.2.3.4]",
            "Sep 21 14:13:20 mx1 postfix/smtpd[1077]: back to the second",
            "Sep 21 14:13:21 mx1 postfix/smtpd[1077]: the next second",
            "Sep 21 14:13:21 mx1\tpostfix/smtpd[1077]: a tab",
            "Sep 21 14:13:21 mx2 postfix/smtpd[1077]: another host",
            # found by comparing with the pattern on mangled lines: a host ending in "]:"
            "Sep 21 14:13:21 mx1]: postfix/smtpd[1736]: Anonymous TLS connection",
            "Sep 21 14:13:21 mx1]: postfix/smtpd[1736]: again, now known"]
    reader = PrefixReader(NOW)
    for text in base * 3:
        parts = reader.read(text)
        assert (PostfixLine(*parts) if parts else None) == prefix(text, NOW), text


#: the order the smtpd patterns were tried in, one after the other, before _smtpd_match
SMTPD_ORDER = [getattr(postfix_summary, name) for name in (
    "_DISCONNECT", "_LOST", "_PIPELINING", "_CLIENT_LINE", "_SASL_FAILED", "_TLS_UP",
    "_SSL_ERROR", "_NON_SMTP")]


def _first(patterns: list[re.Pattern[str]], msg: str) -> re.Match[str] | None:
    return next((m for p in patterns if (m := p.match(msg))), None)


def _same(a: re.Match[str] | None, b: re.Match[str] | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.re, a.span(), a.groups()) == (b.re, b.span(), b.groups())


@settings(max_examples=500, deadline=None)
@given(messages)
def test_smtpd_patterns_are_tried_only_where_they_can_match(msg: str) -> None:
    space = msg.find(" ")
    word = msg[:space] if space >= 0 else msg
    assert _same(_smtpd_match(msg, word), _first(SMTPD_ORDER, msg)), msg
    if parse_reject(msg) is not None:  # the reader calls it only after this check
        assert word.endswith(":") and msg.startswith(_REJECT_ACTIONS, len(word) + 1)


def test_smtpd_patterns_on_every_message_shape() -> None:
    for msg in MESSAGES:
        space = msg.find(" ")
        word = msg[:space] if space >= 0 else msg
        assert _same(_smtpd_match(msg, word), _first(SMTPD_ORDER, msg)), msg


def test_queue_lines_of_no_open_message_are_skipped_whole() -> None:
    # a session's queue id stays known until its session ends; later qmgr lines are
    # about a message already delivered into it, and change nothing
    log = "\n".join([
        "Sep 21 14:13:20 mx1 postfix/smtpd[7]: connect from h[10.0.0.1]",
        "Sep 21 14:13:20 mx1 postfix/smtpd[7]: 3CD6EF0786: client=h[10.0.0.1]",
        "Sep 21 14:13:20 mx1 postfix/qmgr[4]: 3CD6EF0786: from=<a@b>, size=9, nrcpt=1 "
        "(queue active)",
        "Sep 21 14:13:20 mx1 postfix/smtp[5]: 3CD6EF0786: to=<c@d>, relay=x[1.2.3.4]:25",
        "Sep 21 14:13:21 mx1 postfix/smtpd[7]: disconnect from h[10.0.0.1] quit=1",
        "Sep 21 14:13:22 mx1 postfix/smtp[5]: 3CD6EF0786: to=<e@f>, relay=x[1.2.3.4]:25"])
    (summary,) = postfix_summary.PostfixSummaryLog().parse(
        enumerate(log.splitlines(), 1), "maillog")
    (t,) = summary.session.transactions  # type: ignore[union-attr]
    assert [r.address for r in t.recipients] == ["c@d"]
    assert t.message is not None and t.message.wire_size == 9


# -------------------------------------------------------------------------- Exim
EXIM_STAMPS = ["2013-05-11 18:52:27", "2013-05-11 18:52:27.123", "2013-05-11 18:52:27 +0200",
               "2013-05-11 18:52:2", "2013-05-11 18:52:28", "2O13-05-11 18:52:27"]
EXIM_MESSAGES = [
    "<= a@b H=(h) [10.0.0.1]:2 I=[192.0.2.26]:25 P=esmtpsa A=dovecot_login:u S=9 "
    "id=x@h T=\"report 1 for x\" from <a@b> for c@d e@f",
    "<= <> H=h [1.2.3.4] P=esmtp S=1 T=\"a\\\"b\" for x", "<= a@b [1.2.3.4]",
    "SMTP connection from [10.0.0.144]:20144 I=[192.0.2.26]:25 (TCP/IP connection count = 1)",
    "SMTP connection from (h) [10.0.0.1]:2 I=[192.0.2.26]:25 closed by QUIT",
    "SMTP connection from h [1.2.3.4] lost D=1s C=EHLO", "SMTP connection lost after final "
    "dot H=h [1.2.3.4]", "SMTP command timeout on TLS connection from [1.2.3.4]",
    "SMTP data timeout (message abandoned) on connection from [1.2.3.4] F=<a>",
    "unexpected disconnection while reading SMTP command from (x) [1.2.3.4] D=1s",
    "dovecot_login authenticator failed for H=(h) [1.2.3.4]:2 I=[1.2.3.5]:25: 535 Incorrect "
    "authentication data (set_id=u)", "PLAIN authenticator failed for (t) [1.2.3.4]: 435 x: y",
    "SMTP protocol synchronization error (input sent without waiting for greeting): rejected "
    "connection from H=[1.2.3.4] input=\"GET\"",
    "TLS error on connection from [192.0.2.7] (SSL_accept): timed out",
    "rejected EHLO from [1.2.3.4]: syntactically invalid argument(s): x",
    "SMTP call from [1.2.3.4] dropped: too many syntax or protocol errors",
    "H=(h) [10.0.0.1]:2 I=[192.0.2.26]:25 F=<a@b> rejected RCPT <c@d>: relay not permitted",
    "H=(foobar) [127.0.0.1] rejected AUTH plain: STARTTLS required",
    "H=[1.2.3.4] F=<a> temporarily rejected RCPT <b>: greylisted",
    "no MAIL in SMTP connection from (h) [10.0.0.1]:2 I=[192.0.2.26]:25 D=2s C=EHLO,QUIT",
    "=> c@d R=dnslookup T=remote_smtp H=mx [198.51.100.7] C=\"250 OK\"", "Completed",
    "== c@d R=dnslookup defer (110): Connection timed out", "cwd=/var/spool/exim4 3 args"]
EXIM_PIECES = [*EXIM_MESSAGES, " ", "  ", "<= ", "SMTP ", "rejected ", "[1.2.3.4]", "H=",
               " authenticator failed for ", "TLS ", "unexpected ", "(h) ", ": ", "\n",
               "+0100 ", "-", "[7034] ", "1UbC5z-0001pS-6Z ", "for ", "T=\"", "x=y ", "\t"]
exim_messages = st.lists(st.sampled_from(EXIM_PIECES), min_size=1, max_size=5).map("".join)
exim_lines = st.builds(lambda stamp, msg: f"{stamp} {msg}", st.sampled_from(EXIM_STAMPS),
                       exim_messages)


def _exim_split(text: str) -> tuple[float | None, str | None, str | None, str] | None:
    m = exim_summary._PREFIX.match(text)
    if m is None:
        return None
    ts = iso_time(f"{m.group('date')}T{m.group('time')}{(m.group('tz') or '').strip()}")
    return ts, m.group("pid"), m.group("id"), m.group("msg")


@settings(max_examples=300, deadline=None)
@given(st.lists(exim_lines, max_size=30))
def test_exim_prefix_reads_lines_as_the_pattern_does(lines: list[str]) -> None:
    reader = exim_summary._Reader("mainlog")
    for text in lines:
        assert reader.split(text) == _exim_split(text), text


EVENT_ORDER = [getattr(exim_summary, name) for name in (
    "_ARRIVAL", "_CONNECTION", "_LOST", "_AUTH_FAILED", "_SYNC", "_TLS_ERROR",
    "_HELO_REJECTED", "_DROPPED")]


def _first_event(msg: str) -> re.Match[str] | None:
    if m := _first(EVENT_ORDER, msg):
        return m
    h = exim_summary._H_LINE.match(msg)
    if h and exim_summary._REJECTED.match(h.group("rest").strip()):
        return h
    return None


@settings(max_examples=500, deadline=None)
@given(exim_messages)
def test_exim_patterns_are_tried_only_where_they_can_match(msg: str) -> None:
    assert _same(event_match(msg), _first_event(msg)), msg


def test_exim_patterns_on_every_message_shape() -> None:
    for msg in EXIM_MESSAGES:
        assert _same(event_match(msg), _first_event(msg)), msg
        assert event_match(msg) is not None or msg.startswith(("=>", "==", "Co", "cwd", "no"))


def _fields_word_by_word(rest: str) -> tuple[dict[str, str], list[str]]:
    """The loop _fields was before _FIELD_STEP."""
    fields: dict[str, str] = {}
    pos, end = 0, len(rest)
    while pos < end:
        if rest[pos] == " ":
            pos += 1
        elif rest.startswith("for ", pos):
            return fields, rest[pos + 4:].split()
        elif m := exim_summary._FIELD.match(rest, pos):
            fields.setdefault(m.group("key"), m.group("val").strip('"'))
            pos = m.end()
        else:
            nxt = rest.find(" ", pos)
            pos = end if nxt < 0 else nxt
    return fields, []


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["P=esmtpsa", "A=x:y", "S=12", 'T="a b"', 'T="a\\"b c"',
                                 'T="open', "for", "for ", "for a b", "x", "=", "A=", "\t",
                                 "  ", " ", "T=x\ty", 'S="1"2', "é=1", "ABCDEFGHIJKLM=1"]),
                max_size=10).map("".join))
def test_exim_fields_are_read_word_by_word(rest: str) -> None:
    assert exim_summary._fields(rest) == _fields_word_by_word(rest)


# ------------------------------------------------------------------------ shared
@given(st.sampled_from(["LOGIN", "PLAIN", "CRAM-MD5", "XOAUTH2", "NTLM", "WEIRD"]),
       st.one_of(st.sampled_from(["UGFzc3dvcmQ6", "VXNlcm5hbWU6", "authentication failure",
                                  "UGFzc3dvcmQ", "UGFz c3dv", "=", "", "é", "A" * 80]),
                 st.text(alphabet="AZaz09+/= .é", max_size=20)))
def test_challenge_shortcuts_decode_as_the_decoder_does(mechanism: str, text: str) -> None:
    full = _summary._decoded_challenge(mechanism, text) if text else (None, "")
    assert _summary.challenge_step(mechanism, text) == full
    assert _summary.challenge_step(mechanism, text) == full  # the cached answer


def test_endpoints_are_shared_and_equal() -> None:
    assert _summary.endpoint("1.2.3.4", "25") is _summary.endpoint("1.2.3.4", "25")
    assert _summary.endpoint("1.2.3.4", "25") == _summary._endpoint("1.2.3.4", "25")
    long = "h" * 100  # not cached, same value
    assert _summary.endpoint(long, None) == _summary._endpoint(long, None)
