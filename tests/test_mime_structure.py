"""Delimiter lines found without a pattern per message are the pattern's.

:class:`~smtplens.mime.structure.Structure` checks each line that starts like a
delimiter against the open boundaries itself, and makes the regular expression of its
boundaries only for a body with many look-alike lines. Both ways must find the same
delimiters: generated bodies (nested multiparts, boundaries that are prefixes of each
other, ``--`` after a boundary, padding, bare LFs, cut lines) are summarised both ways,
in random chunks.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtplens.mime import structure
from smtplens.mime.info import Attachment
from smtplens.mime.structure import Structure

BOUNDARIES = [b"b", b"bb", b"b-", b"b--", b"c", b"a b"]
LINE = st.one_of(
    st.sampled_from(BOUNDARIES).flatmap(lambda b: st.sampled_from([
        b"--" + b, b"--" + b + b"--", b"--" + b + b" ", b"--" + b + b"--\t ",
        b"--" + b + b" " * 65, b"--" + b + b"x", b"-" + b, b"--" + b + b"--" + b])),
    st.sampled_from([
        b"Content-Type: multipart/mixed; boundary=c",
        b"Content-Type: multipart/digest; boundary=bb",
        b'Content-Type: multipart/alternative; boundary="a b"',
        b'Content-Type: multipart/mixed; boundary="b--"',
        b"Content-Type: multipart/mixed; boundary=b", b"Content-Type: application/pdf",
        b"Content-Disposition: attachment; filename=r.pdf", b"", b"x", b"--", b"---", b" "]),
)
ENDING = st.sampled_from([b"\r\n", b"\r\n", b"\n", b"\r", b""])
BODY = st.lists(st.tuples(LINE, ENDING).map(b"".join), max_size=24).map(b"".join)


def summarise(body: bytes, cuts: list[int], top: bytes, subtype: str) -> list[Attachment]:
    found = Structure(top, subtype, 16 * 1024)
    start = 0
    for cut in [*sorted(c % (len(body) + 1) for c in cuts), len(body)]:
        found.feed(body[start:cut])
        start = max(start, cut)
    found.finish()
    return found.attachments


def with_patterns(body: bytes, cuts: list[int], top: bytes,
                  subtype: str) -> list[Attachment]:
    """The same, with the boundaries' regular expression from the first line."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(structure, "_LOOK_ALIKES", -1)
        return summarise(body, cuts, top, subtype)


@settings(max_examples=500, deadline=None, derandomize=True)
@given(body=BODY, cuts=st.lists(st.integers(0, 10_000), max_size=4),
       top=st.sampled_from(BOUNDARIES), subtype=st.sampled_from(["mixed", "digest"]))
def test_delimiters_are_the_patterns(body: bytes, cuts: list[int], top: bytes,
                                     subtype: str) -> None:
    assert summarise(body, cuts, top, subtype) == with_patterns(body, cuts, top, subtype)


@pytest.mark.parametrize("top, body", [
    # an inner boundary that is the outer one and "--": the inner one is tried first
    (b"b", b"--b\r\nContent-Type: multipart/mixed; boundary=\"b--\"\r\n\r\n--b--\r\n"
           b"Content-Type: image/png\r\n\r\nx\r\n--b--\r\n"),
    (b"b--", b"--b--\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b--\r\n"
             b"Content-Type: image/png\r\n\r\nx\r\n--b----\r\n"),
    # a boundary that is a prefix of the other, padding up to the limit and past it
    (b"bb", b"--bb\nContent-Type: multipart/mixed; boundary=b\n\n--b" + b" " * 64
            + b"\nContent-Type: image/png\n\nx\n--b" + b" " * 65 + b"\n--bb--"),
])
def test_nested_delimiter_examples(top: bytes, body: bytes) -> None:
    for cuts in ([], [len(body) // 2], [5, 40, 41]):
        assert summarise(body, cuts, top, "mixed") == with_patterns(body, cuts, top, "mixed")


def test_a_flood_of_look_alike_lines_switches_to_the_pattern() -> None:
    body = (b"--b1\r\nContent-Type: application/pdf\r\n\r\n" + b"--b1x\r\n" * 100
            + b"--b1--\r\n")
    found = Structure(b"b1", "mixed", 1024)
    made: list[object] = []
    real = Structure._make_patterns
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Structure, "_make_patterns", lambda self: made.append(real(self)))
        found.feed(body)
        found.finish()
    assert len(made) == 1  # once the look-alikes went past the limit
    assert found.attachments == with_patterns(body, [], b"b1", "mixed")
    assert found.attachments[0].size == len(b"--b1x\r\n" * 100) - 2


def test_an_ordinary_body_makes_no_pattern() -> None:
    found = Structure(b"=_b1", "mixed", 1024)
    found.feed(b"preamble\r\n--=_b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--=_b1\r\n"
               b"Content-Type: image/png\r\n\r\niVBO\r\n--=_b1--\r\n")
    found.finish()
    assert not found._patterns
    assert [a.content_type for a in found.attachments] == ["image/png"]
