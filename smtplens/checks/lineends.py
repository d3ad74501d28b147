"""Line-end accounting of message bytes: bare CR, bare LF, and over-long lines.

RFC 5321 §2.3.8 allows CR and LF in SMTP only as the pair CRLF; §4.5.3.1.6 limits a
text line to 998 octets plus CRLF. One call reads a piece of a message and returns
the bare CR and LF counts and where each line over the limit starts; ``run`` carries
the length of the unterminated line at the end of the previous piece.

Two implementations give the same answer. Small pieces use ``bytes`` methods (two
counting passes and a few jumps per kilobyte). Large pieces use numpy, which finds
every LF in one vectorised pass and gets the bare counts and line lengths from those
positions: about three times faster on 64 KiB, and the bulk of a capture's message
bytes comes in pieces that size. numpy is imported on the first large piece only,
so a short transcript does not pay its import time.
"""

from __future__ import annotations

from typing import NamedTuple

LINE_LIMIT = 998 + 2  # RFC 5321 §4.5.3.1.6: 998 octets, then CRLF
#: pieces at least this long go through numpy
VECTOR_MIN = 16384

_NOT_CRLF = bytes(b for b in range(256) if b not in b"\r\n")


class LineEnds(NamedTuple):
    bare_lf: int
    bare_cr: int
    long_starts: list[int]  #: offsets in the piece where an over-long line starts
    run: int  #: length of the unterminated line at the end of the piece
    run_reported: bool  #: that line is already in ``long_starts`` (now or before)


def line_ends(piece: bytes, run: int = 0, run_reported: bool = False,
              vector_min: int = VECTOR_MIN) -> LineEnds:
    """Account for the line ends of ``piece``; ``run`` and ``run_reported`` come from
    the previous piece's result. A CR at the very end counts as bare: hold it back
    and send it with the next piece when more may follow."""
    if len(piece) >= vector_min:
        return _vector(piece, run, run_reported)
    return _scalar(piece, run, run_reported)


def _scalar(piece: bytes, run: int, run_reported: bool) -> LineEnds:
    crlf = piece.count(b"\r\n")
    ends = piece.translate(None, _NOT_CRLF)  # only the CR and LF octets
    bare_cr = bare_lf = 0
    if len(ends) != 2 * crlf:
        bare_cr = ends.count(b"\r") - crlf
        bare_lf = len(ends) - crlf - bare_cr - crlf
    # jump from a line start to the last LF within the next LINE_LIMIT octets: a few
    # steps per kilobyte; no LF there means the line is too long
    starts: list[int] = []
    first = piece.find(b"\n")
    if first < 0:
        run += len(piece)
        if run >= LINE_LIMIT and not run_reported:
            starts.append(0)
            run_reported = True
        return LineEnds(bare_lf, bare_cr, starts, run, run_reported)
    if run + first >= LINE_LIMIT and not run_reported:
        starts.append(0)
    pos, end = first + 1, len(piece)
    while end - pos >= LINE_LIMIT:
        last = piece.rfind(b"\n", pos, pos + LINE_LIMIT)
        if last >= 0:
            pos = last + 1
            continue
        starts.append(pos)
        nxt = piece.find(b"\n", pos + LINE_LIMIT)
        if nxt < 0:
            return LineEnds(bare_lf, bare_cr, starts, end - pos, True)
        pos = nxt + 1
    # the line going on into the next piece starts after the last LF (not at ``pos``,
    # which may be an earlier line start)
    return LineEnds(bare_lf, bare_cr, starts, end - piece.rfind(b"\n") - 1, False)


def _vector(piece: bytes, run: int, run_reported: bool) -> LineEnds:
    import numpy as np  # here, not at the top: see the module's docstring

    a = np.frombuffer(piece, np.uint8)
    lf = np.flatnonzero(a == 10)
    n_cr = int(np.count_nonzero(a == 13))
    n_lf = len(lf)
    if not n_lf:
        run += len(piece)
        starts = []
        if run >= LINE_LIMIT and not run_reported:
            starts.append(0)
            run_reported = True
        return LineEnds(0, n_cr, starts, run, run_reported)
    # an LF preceded by a CR is a pair; lf[0] == 0 reads a[-1], which is no CR before it
    paired = int(np.count_nonzero(a[lf - 1] == 13))
    if lf[0] == 0 and a[-1] == 13:
        paired -= 1
    first, last = int(lf[0]), int(lf[-1])
    starts = [0] if run + first >= LINE_LIMIT and not run_reported else []
    if n_lf > 1:
        # a line from lf[i] + 1 to lf[i + 1] is too long when its LF is LINE_LIMIT or
        # more octets after its start
        gaps = lf[1:] - lf[:-1]
        if gaps.max() > LINE_LIMIT:
            starts.extend((lf[np.flatnonzero(gaps > LINE_LIMIT)] + 1).tolist())
    rest = len(piece) - last - 1
    if rest >= LINE_LIMIT:
        starts.append(last + 1)
    return LineEnds(n_lf - paired, n_cr - paired, starts, rest, rest >= LINE_LIMIT)
