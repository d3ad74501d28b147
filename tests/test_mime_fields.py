"""Header blocks read without the email package give what the email package gives.

:func:`~smtplens.mime.fields.read_block` reads the common top header block with one
regular expression, and :func:`~smtplens.mime.fields._describe` reads the usual
Content-Type and Content-Disposition values itself; both fall back to the email package
for anything else. The references here are the email package's readings (what smtplens
did before the fast paths), compared on generated blocks and values built to hit the
edges: lone CRs, ``From`` lines, bad names, folds, quotes, RFC 2231 names, 8-bit octets.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtplens.mime import fields as f
from smtplens.mime.fields import PartHeaders

EXAMPLES = 400


def reference_describe(found: dict[bytes, bytes], default_type: str) -> PartHeaders:
    """The email package's reading of an entity's MIME fields."""
    if not found:
        return PartHeaders(default_type, None, None, None)
    text = f._entity(found, f._utf8, default_type)
    content_type = text.get_content_type()
    boundary = None
    if content_type.startswith("multipart/"):
        boundary = f._boundary(f._entity(found, f._latin1, default_type))
    value = text.get("content-disposition")
    disposition = None
    if isinstance(value, str):
        disposition = value.split(";", 1)[0].strip(" \t\r\n\"'").lower() or None
    named = any(b"name" in v.lower() for v in found.values())
    return PartHeaders(content_type, disposition, f._filename(text) if named else None,
                       boundary)


def reference_block(block: bytes) -> tuple[list[tuple[str, str]], PartHeaders]:
    message = f.parse_block(block)
    found: dict[bytes, bytes] = {}
    for name, value in message.raw_items():
        key = name.lower().encode("ascii", "replace")
        if key in (b"content-type", b"content-disposition") and key not in found:
            found[key] = f._wire_octets(value)
    return f.fields(message), reference_describe(found, "text/plain")


# -- header blocks ----------------------------------------------------------------------

TEXT = st.lists(st.sampled_from([
    b"x", b"Hello", b" ", b"\t", b"\r", b"\n", b"\r\n", b"\xc3\xa9", b"\xff", b"\x00",
    b"\x0b", b"\x1c", b"\x85", b":", b";", b'"', b"\\", b"=", b"=?utf-8?q?caf=C3=A9?=",
    b"text/plain", b"multipart/mixed; boundary=b1", b' name="a.pdf"', b"From ",
]), max_size=6).map(b"".join)
NAME = st.sampled_from([b"Subject", b"From", b"To", b"Content-Type", b"content-disposition",
                        b"CONTENT-TYPE", b"Received", b"X-A", b"", b"From ", b"Bad Name",
                        b"N\xc3\xa4me", b"A", b">From"])
COLON = st.sampled_from([b":", b": ", b":\t", b" :", b""])
END = st.sampled_from([b"\r\n", b"\n", b"\r", b""])
FIELD_LINE = st.tuples(NAME, COLON, TEXT, END).map(b"".join)
CONTINUATION = st.tuples(st.sampled_from([b" ", b"\t", b"  "]), TEXT, END).map(b"".join)
BLOCK = st.tuples(
    st.lists(st.one_of(FIELD_LINE, FIELD_LINE, CONTINUATION), max_size=8).map(b"".join),
    st.sampled_from([b"\r\n", b"\n", b"", b"\r\n\r\n", b"body\r\n"]),
).map(b"".join)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(BLOCK)
def test_read_block_reads_as_the_email_package(block: bytes) -> None:
    assert f.read_block(block) == reference_block(block)


@pytest.mark.parametrize("block", [
    b"",
    b"\r\n",
    b"Subject: hi\r\nFrom: a@b\r\n\r\n",
    b"Subject: hi\nFrom: a@b\n\n",
    b"Subject:\r\n  folded\r\n\tagain\r\nTo: x\r\n\r\n",
    b"Subject:   \r\n  only the fold\r\n\r\n",
    b"Subject: caf\xc3\xa9 \xff\r\n\r\n",
    b"Subject: no end of block",
    b"Subject: lone\rCR\r\n\r\n",
    b"From someone@example Tue Sep 1\r\nSubject: envelope line\r\n\r\n",
    b"Subject: x\r\nFrom nowhere\r\n\r\n",
    b" continuation first\r\nSubject: x\r\n\r\n",
    b": no name\r\n folded\r\nSubject: x\r\n\r\n",
    b"Subject : space before the colon\r\nTo: x\r\n\r\n",
    b"Subject: x\r\nnot a field\r\nTo: y\r\n\r\n",
    b"Content-Type: multipart/mixed;\r\n\tboundary=\"b1\"\r\nContent-Type: text/plain\r\n\r\n",
    b"content-disposition: attachment; filename=\"r.pdf\"\r\n\r\n",
])
def test_read_block_examples(block: bytes) -> None:
    assert f.read_block(block) == reference_block(block)


def test_the_common_block_is_read_without_the_email_package(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(block: bytes) -> None:
        raise AssertionError("parsed by the email package")

    monkeypatch.setattr(f, "parse_block", refuse)
    pairs, top = f.read_block(b"From: <a@example.org>\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n"
                              b"Content-Type: multipart/mixed;\r\n boundary=\"=_b1\"\r\n\r\n")
    assert pairs == [("From", "<a@example.org>"), ("Subject", "=?utf-8?q?caf=C3=A9?="),
                     ("Content-Type", 'multipart/mixed; boundary="=_b1"')]
    assert top == PartHeaders("multipart/mixed", None, None, b"=_b1")


# -- Content-Type / Content-Disposition values --------------------------------------------

HEAD = st.sampled_from([b"multipart/mixed", b"MULTIPART/Alternative", b"text/plain",
                        b"application/pdf", b"attachment", b"inline", b"name", b"filename",
                        b"boundary", b"a=b", b"", b" multipart/mixed ", b"text/plain\r\n ",
                        b"multipart/mixed\xc3\xa9", b"multipart", b"a/b/c", b'"x"'])
PARAM_NAME = st.sampled_from([b"boundary", b"name", b"filename", b"Name", b"BOUNDARY",
                              b"name*", b"filename*0*", b"filename*1", b"charset", b"x", b""])
PARAM_VALUE = st.sampled_from([
    b'"b1"', b"b1", b'"a b "', b'" r.pdf"', b'"<x>"', b"<x>", b'"a\\"b"', b'"a;b"', b'""',
    b"", b"utf-8''caf%C3%A9.pdf", b'"=?utf-8?q?caf=C3=A9?=.pdf"', b"\xc3\xa9", b"\xff",
    b"'x'", b'"', b"----=_Part_1", b'"----=_Part_1"', b"a(b)", b'"\x1c"', b"x" * 201,
])
PARAM = st.tuples(st.sampled_from([b";", b"; ", b";\r\n\t", b" ;", b";;", b",", b"; \x0b"]),
                  PARAM_NAME, st.sampled_from([b"=", b" = ", b"= ", b""]), PARAM_VALUE,
                  st.sampled_from([b"", b" ", b"\r\n ", b"\t", b"\x0c"])).map(b"".join)
VALUE = st.tuples(HEAD, st.lists(PARAM, max_size=3).map(b"".join)).map(b"".join)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(content_type=st.none() | VALUE, disposition=st.none() | VALUE,
       default_type=st.sampled_from(["text/plain", "message/rfc822"]))
def test_mime_values_read_as_the_email_package(content_type: bytes | None,
                                               disposition: bytes | None,
                                               default_type: str) -> None:
    found = {key: value for key, value in ((b"content-type", content_type),
                                           (b"content-disposition", disposition))
             if value is not None}
    assert f._describe(found, default_type) == reference_describe(found, default_type)


@pytest.mark.parametrize("content_type, disposition", [
    (b'multipart/mixed; boundary="----MIME delimiter for sendEmail-1.5"', None),
    (b"multipart/alternative;\r\n\tboundary=\"_000_x_\"", None),
    (b"multipart/mixed; boundary=----------------------------", None),
    (b'multipart/mixed; boundary="<b1>"', None),
    (b'multipart/mixed; boundary="b1 "', None),
    (b'multipart/mixed; boundary=" b1"', None),
    (b"multipart/mixed; boundary*=utf-8''b%C3%A9", None),
    (b'multipart/mixed; charset=x; boundary="b2"; boundary="b3"', None),
    (b'application/pdf; name="r.pdf"', None),
    (b'application/pdf; name="r.pdf"', b'attachment; filename=" s.pdf "'),
    (b"application/pdf; name=r.pdf", b"inline"),
    (b"image/png", b"attachment; filename*=utf-8''caf%C3%A9.png"),
    (b"image/png", b'attachment; filename="=?utf-8?q?caf=C3=A9?=.png"'),
    (None, b"filename"),
    (b"text/plain; name", None),
    (b"text/plain", b'"attachment"; filename=x'),
])
def test_mime_value_examples(content_type: bytes | None, disposition: bytes | None) -> None:
    found = {key: value for key, value in ((b"content-type", content_type),
                                           (b"content-disposition", disposition))
             if value is not None}
    assert f._describe(found, "text/plain") == reference_describe(found, "text/plain")


# -- the end of a header block ------------------------------------------------------------

def reference_blank_line_end(last: bytes, buf: bytes, start: int, end: int) -> int:
    """Where the first empty line ends: both kinds looked for through the whole buffer."""
    head = last + buf[start : min(end, start + 2)]
    found = [i + len(p) for p in (b"\n\r\n", b"\n\n") if (i := head.find(p)) >= 0]
    found = [i for i in found if i > len(last)]
    if found:
        return start + min(found) - len(last)
    first = buf.find(b"\n", start, end)
    if first < 0:
        return -1
    found = [i + len(p) for p in (b"\n\r\n", b"\n\n") if (i := buf.find(p, first, end)) >= 0]
    return min(found) if found else -1


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from([b"\r", b"\n", b"x", b"\r\n"]), max_size=16).map(b"".join),
       st.sampled_from([b"\n", b"\r\n", b"x\r", b"\r\r", b"xx"]), st.data())
def test_blank_line_end_is_the_first_empty_line(buf: bytes, last: bytes,
                                                data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(buf)))
    end = data.draw(st.integers(start, len(buf)))
    assert (f._blank_line_end(last, buf, start, end)
            == reference_blank_line_end(last, buf, start, end))
