"""Tests for smtplens.mime: header fields, encoded words, MIME structure, chunking, memory."""

from __future__ import annotations

import base64
import hashlib
import re
import tracemalloc
from email import policy
from email.message import EmailMessage, Message, MIMEPart
from email.parser import BytesParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtplens.mime import Attachment, MessageInfo, MessageSummary


def summarize(raw: bytes, chunk: int = 0, **options: int) -> MessageInfo:
    summary = MessageSummary(**options)  # type: ignore[arg-type]
    if chunk <= 0:
        summary.feed(raw)
    else:
        for i in range(0, len(raw), chunk):
            summary.feed(raw[i : i + chunk])
    return summary.finish()


def summarize_all_ways(raw: bytes) -> MessageInfo:
    """The summary, after checking that several chunkings agree on it."""
    whole = summarize(raw)
    for chunk in (1, 2, 3, 7, 64, 4096):
        assert summarize(raw, chunk) == whole, chunk
    return whole


def oracle(raw: bytes) -> list[tuple[str, str | None, int]]:
    """Leaf parts as the email package sees them, for comparison: (type, filename, size)."""
    found: list[tuple[str, str | None, int]] = []

    def walk(part: Message) -> None:
        if part.get_content_maintype() == "multipart" and part.is_multipart():
            for sub in part.get_payload():
                assert isinstance(sub, Message)
                walk(sub)
            return
        payload = vars(part)["_payload"]  # get_payload() would decode 8bit text
        size = len(payload.encode("ascii", "surrogateescape")) if isinstance(payload, str) else -1
        found.append((part.get_content_type(), part.get_filename(), size))

    walk(BytesParser(policy=policy.compat32).parsebytes(raw))
    return found


SWAKS_LIKE = (
    b"Received: from mx.example.net (mx.example.net [192.0.2.1])\r\n"
    b"\tby mail.example.org with ESMTP id 42; Wed, 03 Nov 1999 11:24:29 -0500\r\n"
    b"Received: from client (client [198.51.100.7]) by mx.example.net\r\n"
    b"Date: Wed, 03 Nov 1999 11:24:29 -0500\r\n"
    b"To: user@host1.nodns.test.swaks.net\r\n"
    b"Cc: =?utf-8?Q?J=C3=B6rg?= <joerg@example.org>\r\n"
    b"From: recip@host1.nodns.test.swaks.net\r\n"
    b"Reply-To: <back@example.org>\r\n"
    b"Subject: test Wed, 03 Nov 1999\r\n  11:24:29 -0500\r\n"
    b"Message-Id: <19991103112429.047942@localhost>\r\n"
    b"In-Reply-To: <parent@localhost>\r\n"
    b"X-Mailer: swaks v99999999.9 jetmore.org/john/code/swaks/\r\n"
    b"\r\n"
    b"This is a test mailing\r\n"
    b"\r\n"
)


# --- top header fields -------------------------------------------------------------------


def test_top_header_fields() -> None:
    info = summarize_all_ways(SWAKS_LIKE)
    assert info.size == len(SWAKS_LIKE)
    assert info.sha256 == hashlib.sha256(SWAKS_LIKE).hexdigest()
    assert info.header_size == SWAKS_LIKE.index(b"\r\n\r\n") + 4
    assert info.headers_complete and not info.truncated and not info.eight_bit
    assert info.to == "user@host1.nodns.test.swaks.net"
    assert info.cc == "=?utf-8?Q?J=C3=B6rg?= <joerg@example.org>"  # raw, not decoded
    assert info.from_ == "recip@host1.nodns.test.swaks.net"
    assert info.reply_to == "<back@example.org>"
    assert info.subject == info.subject_raw == "test Wed, 03 Nov 1999  11:24:29 -0500"
    assert info.date == "Wed, 03 Nov 1999 11:24:29 -0500"
    assert info.message_id == "<19991103112429.047942@localhost>"
    assert info.in_reply_to == "<parent@localhost>"
    assert info.user_agent == "swaks v99999999.9 jetmore.org/john/code/swaks/"
    assert info.received == (
        "from mx.example.net (mx.example.net [192.0.2.1])"
        "\tby mail.example.org with ESMTP id 42; Wed, 03 Nov 1999 11:24:29 -0500",
        "from client (client [198.51.100.7]) by mx.example.net",
    )
    assert [name for name, _ in info.header_fields][:3] == ["Received", "Received", "Date"]
    assert info.attachments == ()


def test_user_agent_preferred_over_x_mailer() -> None:
    raw = b"X-Mailer: old\r\nUser-Agent: Thunderbird 115\r\n\r\nx\r\n"
    assert summarize(raw).user_agent == "Thunderbird 115"


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("=?utf-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=", "Grüße aus Köln"),
        ("=?UTF-8?B?0J/RgNC40LLQtdGCLCDQvNC40YAh?=", "Привет, мир!"),
        ("=?iso-8859-1?q?caf=E9?= ouvert", "café ouvert"),
        ("=?gb2312?B?xOO6ww==?=", "你好"),
        ("=?windows-1252?Q?=93quoted=94_=80?=", "“quoted” €"),
        ("=?utf-8?Q?caf=C3=A9?==?utf-8?B?IOKCrA==?=", "café €"),  # no space between words
        ("=?utf-8?Q?a?= \r\n =?utf-8?Q?b?= c", "ab c"),  # folded, RFC 2047 §6.2
        ("Re: [list] =?utf-8?q?=E2=9C=93?= done", "Re: [list] ✓ done"),
        ("plain subject", "plain subject"),
        # malformed words stay as on the wire, the rest is still decoded
        ("=?x-unknown?Q?abc?= =?utf-8?Q?caf=C3=A9?=", "=?x-unknown?Q?abc?=café"),
        ("=?utf-8*en?Q?hello?=", "hello"),  # RFC 2231 §5 language suffix
        ("=?utf-8?Q?unterminated", "=?utf-8?Q?unterminated"),
        ("=?utf-8?Q?bad=ZZ?=", "bad=ZZ"),
    ],
)
def test_encoded_subjects(raw: str, decoded: str) -> None:
    message = b"From: a@example.org\r\nSubject: " + raw.encode() + b"\r\n\r\nbody\r\n"
    info = summarize_all_ways(message)
    assert info.subject == decoded
    assert info.subject_raw == raw.replace("\r\n", "")


def test_raw_eight_bit_headers() -> None:
    utf8 = summarize("Subject: Grüße\r\n\r\nx\r\n".encode())
    assert utf8.subject == "Grüße" and utf8.eight_bit
    latin1 = summarize("Subject: café =?utf-8?Q?ok?=\r\n\r\n".encode("latin-1"))
    assert latin1.subject_raw == "caf\\xe9 =?utf-8?Q?ok?="  # not UTF-8: kept visible
    assert latin1.subject is not None and latin1.subject.endswith("ok")
    assert summarize(b"Subject: x\r\n\r\nbody \xff\r\n").eight_bit


# --- the header block -----------------------------------------------------------------------


def test_bare_lf_message() -> None:
    raw = SWAKS_LIKE.replace(b"\r\n", b"\n")
    info = summarize_all_ways(raw)
    assert info.headers_complete and info.header_size == raw.index(b"\n\n") + 2
    assert info.subject == "test Wed, 03 Nov 1999  11:24:29 -0500"


@pytest.mark.parametrize(
    ("raw", "header_size", "complete", "fields"),
    [
        (b"", 0, False, 0),
        (b"mail body\r\n", 11, False, 0),  # no header at all and no empty line
        (b"\r\nbody only\r\n", 2, True, 0),
        (b"\nbody only\n", 1, True, 0),
        (b"From: a\r\nTo: b\r\n", 16, False, 2),  # headers only
        (b"From: a\r\nTo: b\r\n\r\n", 18, True, 2),
        (b"\x00\xff\x80binary\r\n\r\n\x00", 13, True, 0),
    ],
)
def test_header_block_edges(raw: bytes, header_size: int, complete: bool, fields: int) -> None:
    info = summarize_all_ways(raw)
    assert (info.header_size, info.headers_complete, len(info.header_fields)) == (
        header_size,
        complete,
        fields,
    )
    assert info.size == len(raw)


def test_header_block_over_the_cap() -> None:
    filler = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"f" * 60) for i in range(400))
    raw = b"Subject: big\r\nContent-Type: multipart/mixed; boundary=zz\r\n" + filler + b"\r\n"
    raw += b"--zz\r\nContent-Type: image/gif\r\n\r\nGIF89a\r\n--zz--\r\n"
    info = summarize(raw, 1000, max_header_bytes=4096)
    assert summarize(raw, 1, max_header_bytes=4096) == info
    assert not info.headers_complete
    assert info.header_size == raw.index(b"\r\n\r\n") + 4  # the true end, found past the cap
    assert info.subject == "big"
    assert len(info.header_fields) < 200  # only what fit in 4096 octets
    assert info.attachments == (Attachment(None, "image/gif", None, 6),)
    assert len(summarize(raw).header_fields) == 200  # all 402 fit; the report is capped


# --- MIME structure from real composed messages --------------------------------------------


def composed_message() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Zoë <zoe@example.org>"
    message["To"] = "team@example.org"
    message["Subject"] = "Quartalsbericht – Übersicht"
    message.set_content("Hallo,\nanbei der Bericht.\n")
    message.add_alternative('<p>Hallo</p><img src="cid:logo">', subtype="html")
    html = next(part for part in message.walk() if part.get_content_type() == "text/html")
    assert isinstance(html, EmailMessage)
    html.add_related(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "image", "png", cid="<logo>")
    message.add_attachment(
        b"%PDF-1.4\n" + bytes(range(256)) * 300,
        maintype="application",
        subtype="pdf",
        filename="Übersicht 2024 – Qualität.pdf",
    )
    message.add_attachment(b"a,b\n1,2\n", maintype="text", subtype="csv", filename="отчёт.csv")
    enclosed = EmailMessage()
    enclosed["Subject"] = "forwarded"
    enclosed.set_content("inner text")
    enclosed.add_attachment(b"inner file", maintype="application", subtype="zip", filename="i.zip")
    message.add_attachment(enclosed)
    return message


def test_composed_multipart_message() -> None:
    raw = composed_message().as_bytes(policy=policy.SMTP)
    info = summarize_all_ways(raw)
    assert info.subject == "Quartalsbericht – Übersicht"
    kinds = [(a.content_type, a.filename, a.disposition) for a in info.attachments]
    assert kinds == [
        ("image/png", None, "inline"),
        ("application/pdf", "Übersicht 2024 – Qualität.pdf", "attachment"),
        ("text/csv", "отчёт.csv", "attachment"),
        ("message/rfc822", None, "attachment"),  # not entered: i.zip is not listed
    ]
    # the sizes agree with the email package's own parse of the same octets
    expected = {(t, n): s for t, n, s in oracle(raw)}
    for attachment in info.attachments[:3]:
        assert attachment.size == expected[(attachment.content_type, attachment.filename)]
    assert info.attachments[3].size > len(b"inner file")


def test_bare_lf_composed_message_and_oracle_sizes() -> None:
    raw = composed_message().as_bytes(policy=policy.default)  # LF line ends
    assert b"\r\n" not in raw
    info = summarize_all_ways(raw)
    expected = {(t, n): s for t, n, s in oracle(raw)}
    assert [a.size for a in info.attachments[:3]] == [
        expected[(a.content_type, a.filename)] for a in info.attachments[:3]
    ]


def mime(body: bytes, boundary: bytes = b"b", subtype: bytes = b"mixed") -> bytes:
    head = b"Content-Type: multipart/" + subtype + b'; boundary="' + boundary + b'"\r\n\r\n'
    return b"Subject: s\r\n" + head + body


def test_preamble_epilogue_and_padding() -> None:
    raw = mime(
        b"This is a preamble --b not a delimiter\r\n"
        b"--b  \t\r\n"  # RFC 2046 transport padding
        b"Content-Type: text/plain\r\n\r\nhello\r\n"
        b"--bx\r\n"  # a longer word is not the boundary
        b"--b\r\n"
        b"Content-Type: application/octet-stream\r\n\r\n"
        b"12345\r\n"
        b"--b-- \r\n"
        b"epilogue\r\n--b\r\nContent-Type: image/png\r\n\r\nafter the close\r\n"
    )
    info = summarize_all_ways(raw)
    assert info.attachments == (Attachment(None, "application/octet-stream", None, 5),)


def test_missing_final_boundary_counts_to_the_end() -> None:
    raw = mime(b"--b\r\nContent-Type: image/jpeg\r\n\r\nJPEGDATA\r\n")
    assert summarize_all_ways(raw).attachments[0].size == len(b"JPEGDATA\r\n")


def test_outer_boundary_closes_inner_multipart() -> None:
    raw = mime(
        b"--b\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n"
        b"--c\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
        b'--c\r\nContent-Type: image/png; name="a.png"\r\n\r\nPNG\r\n'
        b'--b\r\nContent-Disposition: attachment; filename="b.txt"\r\n\r\nBBB\r\n'
        b"--c\r\nthis line is body now\r\n"
        b"--b--\r\n"
    )
    info = summarize_all_ways(raw)
    assert [(a.filename, a.size) for a in info.attachments] == [
        ("a.png", 3),
        ("b.txt", len(b"BBB\r\n--c\r\nthis line is body now")),
    ]


def test_same_boundary_nested_as_in_curl_test646() -> None:
    raw = mime(
        b"--b\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/html\r\n\r\n<b>x</b>\r\n"
        b"--b\r\n\r\nplain\r\n--b--\r\n\r\n"
        b'--b\r\nContent-Disposition: attachment; filename="f.txt"\r\n\r\nfile\r\n--b--\r\n'
    )
    info = summarize_all_ways(raw)
    assert [(a.filename, a.size) for a in info.attachments] == [("f.txt", 4)]


def test_digest_parts_default_to_rfc822_and_are_not_entered() -> None:
    raw = mime(
        b"--d\r\n\r\nSubject: one\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n"
        b"--x\r\nContent-Type: image/png\r\n\r\nP\r\n--x--\r\n"
        b"--d\r\nContent-Type: text/plain\r\n\r\nnote\r\n--d--\r\n",
        boundary=b"d",
        subtype=b"digest",
    )
    info = summarize_all_ways(raw)
    assert [a.content_type for a in info.attachments] == ["message/rfc822"]


@pytest.mark.parametrize(
    "content_type",
    [
        b"multipart/mixed",  # no boundary
        b'multipart/mixed; boundary=""',
        b"multipart/mixed; boundary=" + b"x" * 300,
        b'multipart/mixed; boundary="a\r\n b"',
        b"multipart/; boundary=b",
        b"multipart/mixed; boundary*=utf-8''%E2%9C%93",
    ],
)
def test_unusable_boundaries_do_not_raise(content_type: bytes) -> None:
    raw = b"Content-Type: " + content_type + b"\r\n\r\n--b\r\nContent-Type: image/png\r\n\r\nx\r\n"
    info = summarize_all_ways(raw)
    assert info.size == len(raw)


def test_part_edge_cases() -> None:
    raw = mime(
        b"--b\r\n--b\r\nContent-Type: image/png\r\n\r\n--b\r\n"  # empty parts
        b'Content-Type: application/zip; name="=?utf-8?B?w6kuemlw?="\r\n'  # RFC 2047 name
        b'Content-Disposition: "inline"\r\n\r\nZIP\n'
        b"--b\nContent-Type: text/calendar\n\nBEGIN:VCALENDAR\n"  # bare LF delimiter
        b"--b\r\nContent-Type: image/gif\r\n"  # header block never ends
        b"--b--"  # close-delimiter with no line break at the very end
    )
    info = summarize_all_ways(raw)
    assert [(a.content_type, a.filename, a.disposition, a.size) for a in info.attachments] == [
        ("image/png", None, None, 0),
        ("application/zip", "é.zip", "inline", 3),
        ("image/gif", None, None, 0),
    ]


def test_raw_eight_bit_part_headers() -> None:
    raw = (
        'Content-Type: multipart/mixed; boundary="grüße"\r\n\r\n'
        '--grüße\r\nContent-Type: application/pdf; name="Übersicht.pdf"\r\n'
        'Content-Disposition: attachment; filename="Übersicht.pdf"\r\n\r\nPDF\r\n'
        '--grüße\r\nContent-Type: text/plain; name="caf\xe9.txt"\r\n\r\nx\r\n--grüße--\r\n'
    ).encode()
    raw = raw.replace("caf\xe9".encode(), b"caf\xe9")  # a Latin-1 name: not UTF-8
    info = summarize_all_ways(raw)
    assert info.attachments == (
        Attachment("Übersicht.pdf", "application/pdf", "attachment", 3),
        Attachment("caf\\xe9.txt", "text/plain", None, 1),
    )


def test_part_header_over_its_cap() -> None:
    part = b"Content-Type: image/png\r\nX-Long: " + b"y" * 5000 + b"\r\n\r\nPNGDATA\r\n"
    raw = mime(b"--b\r\n" + part + b"--b--\r\n")
    info = summarize(raw, 100, max_part_header_bytes=1024)
    assert summarize(raw, 1, max_part_header_bytes=1024) == info
    assert info.attachments == (Attachment(None, "image/png", None, 7),)


def test_caps_on_attachments_and_depth() -> None:
    many = mime(b"--b\r\nContent-Type: image/png\r\n\r\nx\r\n" * 1200 + b"--b--\r\n")
    assert len(summarize(many, 4096).attachments) == 1000
    nested = b"".join(
        b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1)
        for i in range(100)
    )
    deep = b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n" + nested
    # b0..b31 are followed; the outer b20 closes the frames inside it
    deep += b"--b40\r\nContent-Type: image/gif\r\n\r\nno\r\n"
    deep += b"--b20\r\nContent-Type: image/png\r\n\r\nyes\r\n--b0--\r\n"
    info = summarize_all_ways(deep)
    assert info.attachments == (Attachment(None, "image/png", None, 3),)


def test_single_part_file_message() -> None:
    raw = (
        b"Subject: scan\r\nContent-Type: application/pdf; name=scan.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n"
    )
    info = summarize_all_ways(raw)
    assert info.attachments == (Attachment("scan.pdf", "application/pdf", None, 10),)


# --- the streaming contract -------------------------------------------------------------------


def test_sink_receives_every_octet_and_finish_is_final() -> None:
    raw = composed_message().as_bytes(policy=policy.SMTP)
    received: list[bytes] = []
    summary = MessageSummary(sink=received.append)
    for i in range(0, len(raw), 100):
        summary.feed(raw[i : i + 100])
    info = summary.finish(complete=False)
    assert b"".join(received) == raw
    assert info.truncated and info.size == len(raw)
    summary.feed(b"more")
    assert summary.finish() is info


PIECES = [
    b"Content-Type: multipart/mixed; boundary=b\r\n",
    b'Content-Type: multipart/alternative; boundary="c"\n',
    b"Content-Type: message/rfc822\r\n",
    b"Content-Type: image/png; name=x.png\r\n",
    b"Content-Disposition: attachment; filename*=utf-8''%C3%A9.txt\r\n",
    b"Subject: =?utf-8?Q?caf=C3=A9?= =?bogus?B?x?=\r\n",
    b"\r\n",
    b"\n",
    b"\r",
    b"--b\r\n",
    b"--b--\r\n",
    b"--c\n",
    b"--c--",
    b"--b \t\r\n",
    b'Content-Type: multipart/related; boundary="=_part_1"\r\n',
    b'Content-Type: multipart/mixed; boundary="=_part_2"\r\n',
    b"--=_part_1\r\n",
    b"--=_part_2--\r\n",
    b"--=_part_",
    b"--=_",
    b"-",
    b"--",
    b"line of text\r\n",
    b" folded\r\n",
    b"\xff\xfe\x00",
]
messages = st.lists(st.one_of(st.sampled_from(PIECES), st.binary(max_size=12)), max_size=40)


@settings(max_examples=400, deadline=None)
@given(
    raw=messages.map(b"".join),
    sizes=st.lists(st.integers(min_value=1, max_value=17), min_size=1, max_size=50),
    header_cap=st.sampled_from([0, 6, 40, 256 * 1024]),
    part_cap=st.sampled_from([0, 9, 16 * 1024]),
)
def test_any_chunking_gives_the_same_summary(
    raw: bytes, sizes: list[int], header_cap: int, part_cap: int
) -> None:
    options = {"max_header_bytes": header_cap, "max_part_header_bytes": part_cap}
    whole = summarize(raw, **options)
    summary = MessageSummary(**options)  # type: ignore[arg-type]
    pos = 0
    while pos < len(raw):
        for size in sizes:
            summary.feed(raw[pos : pos + size])
            pos += size
    assert summary.finish() == whole
    assert summarize(raw, 1, **options) == whole
    assert whole.size == len(raw) and whole.header_size <= len(raw)


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=600), cut=st.integers(min_value=1, max_value=600))
def test_random_bytes_never_raise(raw: bytes, cut: int) -> None:
    assert summarize(raw, cut) == summarize(raw)


def part_tree() -> st.SearchStrategy[MIMEPart]:
    text = st.text(alphabet="ab -=é\n", max_size=120)
    text_leaf = st.builds(_text_part, text, st.sampled_from(["plain", "html", "csv"]))
    data_leaf = st.builds(
        _data_part,
        st.binary(max_size=300),
        st.sampled_from(["image/png", "application/pdf", "application/octet-stream"]),
        st.sampled_from([None, "a.bin", "été 2024.pdf", "отчёт.zip"]),
        st.sampled_from(["attachment", "inline"]),
    )
    return st.recursive(
        st.one_of(text_leaf, data_leaf),
        lambda inner: st.builds(
            _multipart,
            st.lists(inner, min_size=1, max_size=4),
            st.sampled_from(["mixed", "alternative"]),
        ),
        max_leaves=12,
    )


def _text_part(text: str, subtype: str) -> MIMEPart:
    part = MIMEPart()
    part.set_content(text, subtype=subtype)
    return part


def _data_part(data: bytes, content_type: str, filename: str | None, disposition: str) -> MIMEPart:
    part = MIMEPart()
    maintype, subtype = content_type.split("/")
    part.set_content(data, maintype, subtype, disposition=disposition, filename=filename)
    return part


def _multipart(parts: list[MIMEPart], subtype: str) -> MIMEPart:
    multipart = MIMEPart()
    multipart["Content-Type"] = f"multipart/{subtype}"
    multipart.set_payload(parts)  # type: ignore[arg-type]
    return multipart


@settings(max_examples=150, deadline=None)
@given(tree=part_tree(), crlf=st.booleans(), chunk=st.integers(min_value=1, max_value=64))
def test_attachments_agree_with_the_email_package(tree: MIMEPart, crlf: bool, chunk: int) -> None:
    raw = b"Subject: tree\n" + tree.as_bytes(policy=policy.default)
    if crlf:
        raw = raw.replace(b"\n", b"\r\n")
    info = summarize(raw, chunk)
    assert info == summarize(raw)
    leaves = BytesParser(policy=policy.compat32).parsebytes(raw)
    expected = [
        (part.get_content_type(), part.get_filename(), size)
        for part, (_, _, size) in zip(_leaves(leaves), oracle(raw), strict=True)
        if part.get_filename() is not None
        or part.get_content_disposition() == "attachment"
        or part.get_content_maintype() not in ("text", "multipart")
    ]
    assert [(a.content_type, a.filename, a.size) for a in info.attachments] == expected


def _leaves(message: Message) -> list[Message]:
    return [part for part in message.walk() if not part.is_multipart()]


def test_memory_stays_bounded_on_a_large_attachment() -> None:
    line_block = base64.encodebytes(bytes(range(256)) * 192).replace(b"\n", b"\r\n")
    chunk = (line_block * (65536 // len(line_block) + 1))[:65536]
    total = 50 * 1024 * 1024
    head = mime(b"--b\r\nContent-Type: application/zip; name=big.zip\r\n\r\n")
    tracemalloc.start()
    try:
        summary = MessageSummary()
        summary.feed(head)
        for _ in range(total // len(chunk)):
            summary.feed(chunk)
        summary.feed(b"\r\n--b--\r\n")
        info = summary.finish()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024 * 1024, peak
    assert info.attachments == (Attachment("big.zip", "application/zip", None, total),)


# --- real messages from the corpus -------------------------------------------------------------

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "logs"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not found at {CORPUS}")

_CURL_REPEAT = re.compile(rb"%repeat\[(\d+) x (.*?)\]%", re.S)


def unstuff(lines: list[bytes]) -> bytes:
    """Message content from DATA lines (with their line ends): RFC 5321 §4.5.2 unstuffing."""
    return b"".join(line[1:] if line.startswith(b".") else line for line in lines)


def curl_upload(path: Path) -> bytes | None:
    """The message a curl test case uploads with DATA, unstuffed, or None if it has none."""
    text = path.read_bytes()
    found = re.search(rb"<upload([^>]*)>\n(.*?)</upload>", text, re.S)
    if found is None or not found.group(2).strip():
        return None
    data = _CURL_REPEAT.sub(
        lambda m: int(m.group(1)) * re.sub(rb"%([0-9a-fA-F]{2})", _hex, m.group(2)),
        found.group(2),
    )
    number = path.name.removeprefix("test").encode()
    for macro, value in ((b"%TESTNUMBER", number), (b"%LT", b"<"), (b"%GT", b">")):
        data = data.replace(macro, value)
    data = data.replace(b"%CR", b"\r").replace(b"%SP", b" ")
    if b'crlf="yes"' in found.group(1):
        data = re.sub(rb"(?<!\r)\n", b"\r\n", data)
    lines = data.splitlines(keepends=True)
    if lines and lines[-1].rstrip(b"\r\n") == b".":
        lines.pop()  # the end-of-data line is not message content
    return unstuff(lines)


def _hex(match: re.Match[bytes]) -> bytes:
    return bytes([int(match.group(1), 16)])


def swaks_messages(path: Path) -> list[bytes]:
    """Messages a swaks transcript sent: client lines after DATA and 354, up to the dot."""
    found: list[bytes] = []
    lines: list[bytes] | None = None
    waiting = False
    for line in path.read_bytes().split(b"\n"):
        client = line[:4] in (b" -> ", b" ~> ")
        if lines is not None:
            if client and line[4:].rstrip(b"\r") == b".":
                found.append(unstuff(lines))
                lines = None
            elif client:
                lines.append(line[4:] + b"\n")
        elif waiting and line[:8] in (b"<-  354 ", b"<~  354 "):
            lines, waiting = [], False
        elif client:
            waiting = line[4:].rstrip(b"\r").upper() == b"DATA"
    return found


@needs_corpus
def test_curl_corpus_messages() -> None:
    infos = {}
    for path in sorted((CORPUS / "curl").glob("test*")):
        raw = curl_upload(path)
        if raw is not None:
            infos[path.name] = summarize_all_ways(raw)
    assert len(infos) >= 40
    assert infos["test1320"].from_ == "different" and infos["test1320"].to == "another"
    assert infos["test1187"].attachments == (
        Attachment('strange\\file"name', "text/plain", "attachment", len(b"File content")),
    )
    assert [(a.filename, a.disposition) for a in infos["test648"].attachments] == [
        ("test648.txt", "attachment")  # the quoted "inline" text part is no attachment
    ]
    assert [(a.content_type, a.filename) for a in infos["test652"].attachments] == [
        ("image/jpeg", "myfile.jpg")
    ]
    assert [a.filename for a in infos["test646"].attachments] == ["test646.txt"]
    assert infos["test646"].reply_to == "<followup@example.com>"
    assert infos["test1711"].size > 5000 * len(b"test in body... ")
    for name in ("test648", "test652"):
        raw = curl_upload(CORPUS / "curl" / name)
        assert raw is not None
        expected = {n: s for _, n, s in oracle(raw)}
        assert [a.size for a in infos[name].attachments] == [
            expected[a.filename] for a in infos[name].attachments
        ]


@needs_corpus
def test_swaks_corpus_messages() -> None:
    infos = [
        summarize_all_ways(raw)
        for path in sorted((CORPUS / "swaks").glob("*.stdout"))
        for raw in swaks_messages(path)
    ]
    assert len(infos) >= 100
    for info in infos:
        assert info.headers_complete and info.size > info.header_size
        assert info.subject is not None and info.attachments == () and not info.eight_bit
    # all but one (sent with --data) are swaks' own template
    generated = [i for i in infos if i.user_agent and i.user_agent.startswith("swaks v")]
    assert len(generated) == len(infos) - 1
    assert all(i.message_id and i.date and i.from_ and i.to for i in generated)
