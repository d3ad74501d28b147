"""The two line-end implementations agree, on any bytes and any split into pieces."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtplens.checks.lineends import LINE_LIMIT, LineEnds, line_ends

_ALPHABET = st.sampled_from([b"\r", b"\n", b"\r\n", b"a", b"bc", b".", b"x" * 400])


def _both(piece: bytes, run: int = 0, reported: bool = False) -> tuple[LineEnds, LineEnds]:
    return (line_ends(piece, run, reported, vector_min=1 << 62),
            line_ends(piece, run, reported, vector_min=0))


@settings(max_examples=300, deadline=None)
@given(st.lists(_ALPHABET, max_size=60), st.integers(0, 2 * LINE_LIMIT), st.booleans())
def test_scalar_and_vector_agree(parts: list[bytes], run: int, reported: bool) -> None:
    scalar, vector = _both(b"".join(parts), run, reported)
    assert scalar == vector


def test_counts_and_long_lines() -> None:
    long_line = b"x" * 1000
    piece = b"ok\r\nbare lf\nbare cr\r" + long_line + b"\r\nshort\r\n" + b"y" * 1200
    for result in _both(piece):
        assert (result.bare_lf, result.bare_cr) == (1, 1)
        # the line with the bare CR in it (a bare CR ends no line), and the trailing
        # 1200 octets without a line end
        start = piece.index(b"bare cr")
        assert result.long_starts == [start, len(piece) - 1200]
        assert (result.run, result.run_reported) == (1200, True)


@pytest.mark.parametrize("vector_min", [0, 1 << 62])
def test_a_line_over_many_pieces_is_reported_once(vector_min: int) -> None:
    rng = random.Random(5)
    text = b"a" * 5000 + b"\r\n" + b"b" * 998 + b"\r\n" + b"c" * 999 + b"\r\n"
    cuts = sorted(rng.sample(range(1, len(text)), 12))
    run, reported, found = 0, False, []
    base = 0
    for lo, hi in zip([0, *cuts], [*cuts, len(text)], strict=True):
        r = line_ends(text[lo:hi], run, reported, vector_min=vector_min)
        run, reported = r.run, r.run_reported
        found += [base + s for s in r.long_starts]
        base = hi
    # the 5000-octet line once, the 999-octet one (999 + CR + LF); 998 is allowed. A
    # line over several pieces is reported where it is found to be too long.
    assert len(found) == 2
    assert found[0] < 5000 and 5000 + 2 + 998 + 2 <= found[1] <= len(text)


@pytest.mark.parametrize("vector_min", [0, 1 << 62])
def test_short_lines_across_pieces_are_not_long(vector_min: int) -> None:
    # the line going on into the next piece starts after the last LF: counting it from
    # an earlier line start reported a short line as too long (seen on a 200 MB capture)
    first = line_ends(b"a\r\n" * 300 + b"tail", vector_min=vector_min)
    assert (first.run, first.long_starts) == (4, [])
    second = line_ends(b"x" * 990 + b"\r\n", first.run, first.run_reported,
                       vector_min=vector_min)
    assert second.long_starts == []
