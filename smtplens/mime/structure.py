"""MIME structure of a message body, found without keeping the body (RFC 2046 §5.1).

Theory of operation. The body after the top header block is a stream of *segments*
separated by delimiter lines. Every multipart still open is a frame on a stack; a
delimiter line is a line that starts with ``--`` and one of their boundaries (RFC 2046
§5.1.1)::

    delimiter       := CRLF "--" boundary transport-padding CRLF
    close-delimiter := CRLF "--" boundary "--" transport-padding

so the line break before a delimiter belongs to the delimiter, not to the part. The
innermost boundary is tried first; a delimiter of an outer frame closes every frame
inside it (a missing close-delimiter). A close-delimiter pops its frame: what follows is
the epilogue, part of the enclosing part's body. A segment between two delimiters is a
body part: its header block is collected (capped), then its body octets are only counted.
When a part's header says ``multipart/*`` with a usable boundary, a new frame is pushed
and the search resumes right after that header block with the new boundary included.
``message/rfc822`` parts are not entered: they are reported as one attachment.

The search is a ``bytes.find`` for ``-`` (a ``memchr``: base64 has no dash), then for
``\\n--`` plus the boundaries' common prefix, and each line found that way is checked
against the boundaries. A body with many look-alike lines gets a regular expression of
its boundaries after a few of them, so that a flood of them is skipped in C too (a
pattern per message would cost more than the whole message: boundaries are unique, so
Python's pattern cache never has them). A delimiter line is decided only once
its line break is in: an unterminated last line that may still become one is the only
thing kept between chunks (at most one delimiter line long), which makes the result the
same for any chunking and the memory flat for any body size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from smtplens.mime.fields import HeaderBlock, PartHeaders, describe_block
from smtplens.mime.info import Attachment

MAX_DEPTH = 32  #: nested multiparts followed; deeper ones are counted as one part
MAX_ATTACHMENTS = 1000  #: attachments reported per message
MAX_PARTS = 10_000  #: body parts followed per message (each costs a header parse)
_PADDING = 64  # transport-padding accepted after a boundary; a longer run is not a delimiter
_LOOK_ALIKES = 16  # lines that start like a delimiter but are none, before the pattern is made
_SPACE = frozenset(b" \t")

#: a delimiter line found: where its boundary starts, the boundary, whether it closes
#: (``--`` after the boundary), and where the line (with its line break) ends
_Delimiter = tuple[int, bytes, bool, int]


@dataclass(slots=True)
class _Frame:
    boundary: bytes
    digest: bool  # RFC 2046 §5.1.5: parts of a multipart/digest default to message/rfc822


class _Part:
    """One body part being read: its header block, then its body octets."""

    __slots__ = ("body", "default_type", "header", "headers", "last")

    def __init__(self, header_cap: int, default_type: str) -> None:
        self.header = HeaderBlock(header_cap)
        self.default_type = default_type
        self.headers: PartHeaders | None = None
        self.body = 0
        self.last = b""  # the last two body octets: the line break owned by the next delimiter

    def take(self, buf: bytes, start: int, end: int) -> int:
        """Take ``buf[start:end]``; return the index where the header block ended in it, or -1."""
        stop = -1
        if not self.header.ended:
            stop = self.header.push(buf, start, end)
            if stop < 0:
                return -1
            self.describe()
            start = stop
        if end > start:
            self.body += end - start
            self.last = (self.last + buf[max(start, end - 2) : end])[-2:]
        return stop

    def describe(self) -> PartHeaders:
        if self.headers is None:
            self.headers = describe_block(bytes(self.header.data), self.default_type)
            self.header.data = bytearray()
        return self.headers

    def body_size(self, at_delimiter: bool) -> int:
        if not at_delimiter:
            return self.body
        line_break = 2 if self.last == b"\r\n" else 1 if self.last.endswith(b"\n") else 0
        return max(self.body - line_break, 0)


class Structure:
    """Follows the parts of a multipart body fed in chunks; collects its attachments."""

    def __init__(self, boundary: bytes, subtype: str, part_header_cap: int) -> None:
        self.attachments: list[Attachment] = []
        self._frames = [_Frame(boundary, subtype == "digest")]
        self._part: _Part | None = None  # None in a preamble or an epilogue
        self._part_header_cap = part_header_cap
        self._parts = 0
        self._tail = b""  # an unterminated last line that may still become a delimiter
        self._line_start = True  # the octet before the next chunk ends a line
        self._patterns: dict[tuple[bool, bool], re.Pattern[bytes]] = {}
        self._boundaries: tuple[bytes, ...] = ()  # innermost first, each once
        self._needle = b"\n--"
        self._need = 0
        self._look_alikes = 0
        self._compile()

    def feed(self, data: bytes) -> None:
        """Take the next body octets."""
        self._scan(self._tail + data if self._tail else data, final=False)

    def finish(self) -> None:
        """The body ended: decide the kept tail, close the part still open (no final boundary)."""
        self._scan(self._tail, final=True)
        self._close_part(at_delimiter=False)
        self._frames.clear()

    def _compile(self) -> None:
        """Take the open frames' boundaries (the pattern is made only when needed)."""
        self._patterns = {}
        if not self._frames:
            return
        boundaries = [frame.boundary for frame in reversed(self._frames)]  # innermost first
        self._boundaries = tuple(dict.fromkeys(boundaries))
        prefix = _common_prefix(boundaries)
        self._needle = b"\n--" + prefix
        # the longest delimiter line: a line this long without its line break is none
        self._need = 2 + max(len(b) for b in boundaries) + 2 + _PADDING + 2
        if self._look_alikes > _LOOK_ALIKES:
            self._make_patterns()

    def _make_patterns(self) -> None:
        boundaries = [frame.boundary for frame in reversed(self._frames)]  # innermost first
        prefix = _common_prefix(boundaries)
        rests = b"|".join(re.escape(b[len(prefix) :]) for b in dict.fromkeys(boundaries))
        # the shared prefix is spelled out so that the regex engine searches for it as a literal
        line = b"--(" + re.escape(prefix) + b"(?:" + rests + b"))(--)?[ \t]{0,%d}" % _PADDING
        for final in (False, True):
            ending = rb"(?:\r?\n|\Z)" if final else rb"\r?\n"
            self._patterns[(final, False)] = re.compile(b"\n" + line + ending)  # search
            self._patterns[(final, True)] = re.compile(line + ending)  # match at a line start

    def _scan(self, buf: bytes, *, final: bool) -> None:
        self._tail = b""
        pos = 0  # octets before pos went to the current segment
        end = len(buf)
        while self._frames:
            found = self._find(buf, pos, final)
            if found is None:
                keep = end if final else max(self._undecided(buf), pos)
                resume = self._deliver(buf, pos, keep)
                if resume >= 0:
                    pos = resume
                    continue
                self._tail = buf[keep:]
                self._line_start = buf[keep - 1] == 0x0A if keep > 0 else self._line_start
                return
            at, boundary, closing, end_of_line = found
            resume = self._deliver(buf, pos, at - 2)
            if resume >= 0:  # a nested multipart began before this line: search again
                pos = resume
                continue
            self._on_delimiter(boundary, closing=closing)
            pos = end_of_line
        # every multipart is closed: the rest is epilogue, nothing to look for
        self._line_start = True

    def _find(self, buf: bytes, start: int, final: bool) -> _Delimiter | None:
        """The first delimiter line that starts at or after ``start``."""
        if buf.find(b"-", start) < 0:  # a memchr: fast on base64, which has no dash
            return None
        if self._patterns:
            return self._find_pattern(buf, start, final)
        if start == 0 and self._line_start:
            found = self._delimiter(buf, 0, final)
            if found is not None:
                return found
        candidate = buf.find(self._needle, max(start - 1, 0))
        while candidate >= 0:
            found = self._delimiter(buf, candidate + 1, final)
            if found is not None:
                return found
            self._look_alikes += 1
            if self._look_alikes > _LOOK_ALIKES:  # a flood: the pattern skips it in C
                self._make_patterns()
                return _delimiter_of(self._patterns[(final, False)].search(buf, candidate + 1))
            candidate = buf.find(self._needle, candidate + 1)
        return None

    def _delimiter(self, buf: bytes, at: int, final: bool) -> _Delimiter | None:
        """The delimiter line starting at ``at``, if it is one: the boundaries tried
        innermost first, each closing (``--``) before not."""
        if not buf.startswith(b"--", at):
            return None
        at += 2
        for boundary in self._boundaries:
            if buf.startswith(boundary, at):
                after = at + len(boundary)
                if buf.startswith(b"--", after):
                    end = _line_end(buf, after + 2, final)
                    if end >= 0:
                        return at, boundary, True, end
                end = _line_end(buf, after, final)
                if end >= 0:
                    return at, boundary, False, end
        return None

    def _find_pattern(self, buf: bytes, start: int, final: bool) -> _Delimiter | None:
        """:meth:`_find` with the boundaries' pattern (after :meth:`_make_patterns`)."""
        if start == 0 and self._line_start:
            found = self._patterns[(final, True)].match(buf)
            if found is not None:
                return _delimiter_of(found)
        candidate = buf.find(self._needle, max(start - 1, 0))
        if candidate < 0:
            return None
        return _delimiter_of(self._patterns[(final, False)].search(buf, candidate))

    def _undecided(self, buf: bytes) -> int:
        """Where the last line starts if it is unterminated and may begin a delimiter."""
        end = len(buf)
        newline = buf.rfind(b"\n", max(end - self._need, 0), end)
        if newline >= 0:
            start = newline + 1
        elif end < self._need and self._line_start:
            start = 0
        else:
            return end
        line, prefix = buf[start:end], self._needle[1:]
        if line and (prefix.startswith(line) or line.startswith(prefix)):
            return start
        return end

    def _deliver(self, buf: bytes, start: int, end: int) -> int:
        """Give ``buf[start:end]`` to the open part; the index to resume from if a frame began."""
        part = self._part
        if part is None or start >= end:
            return -1
        stop = part.take(buf, start, end)
        if stop < 0:
            return -1
        boundary = part.describe().boundary
        if boundary is None or len(self._frames) >= MAX_DEPTH:
            return -1
        # RFC 2046 §5.1.1: a body part may itself be a multipart; its preamble starts here.
        subtype = part.describe().content_type.partition("/")[2]
        self._frames.append(_Frame(boundary, subtype == "digest"))
        self._part = None
        self._compile()
        return stop

    def _on_delimiter(self, boundary: bytes, *, closing: bool) -> None:
        depth = len(self._frames) - 1
        while depth > 0 and self._frames[depth].boundary != boundary:
            depth -= 1
        self._close_part(at_delimiter=True)
        popped = len(self._frames) - depth - 1
        del self._frames[depth + 1 :]
        if closing:
            del self._frames[depth]
            popped += 1
        else:
            frame = self._frames[depth]
            default_type = "message/rfc822" if frame.digest else "text/plain"
            self._part = _Part(self._part_header_cap, default_type)
            self._parts += 1
        if popped:
            self._compile()
        if self._parts > MAX_PARTS or len(self.attachments) >= MAX_ATTACHMENTS:
            # nothing more would be reported: stop following (and parsing) the structure
            self._frames.clear()
            self._part = None

    def _close_part(self, *, at_delimiter: bool) -> None:
        part, self._part = self._part, None
        if part is None:
            return
        headers = part.describe()
        if headers.is_attachment and len(self.attachments) < MAX_ATTACHMENTS:
            self.attachments.append(
                Attachment(
                    filename=headers.filename,
                    content_type=headers.content_type,
                    disposition=headers.disposition,
                    size=part.body_size(at_delimiter),
                )
            )


def _delimiter_of(found: re.Match[bytes] | None) -> _Delimiter | None:
    if found is None:
        return None
    return found.start(1), found.group(1), found.group(2) is not None, found.end()


def _line_end(buf: bytes, at: int, final: bool) -> int:
    """Where a delimiter line whose boundary (and ``--``) ends at ``at`` ends: after at most
    ``_PADDING`` spaces and tabs, its line break (or the end of a final buffer); -1: none."""
    end = len(buf)
    pad = at
    while pad < end and buf[pad] in _SPACE:
        pad += 1
        if pad - at > _PADDING:
            return -1
    if buf.startswith(b"\r\n", pad):
        return pad + 2
    if buf.startswith(b"\n", pad):
        return pad + 1
    return pad if final and pad == end else -1


def _common_prefix(values: list[bytes]) -> bytes:
    low, high = min(values), max(values)
    size = 0
    while size < len(low) and low[size] == high[size]:
        size += 1
    return low[:size]
