"""DATA content checks: dot-stuffing, smuggling sequences, line endings, sizes.

The wire bytes of every message are scanned with a handful of compiled regexes over
whole pieces (no Python loop per line). A piece's last bytes that might start a
pattern (CR, LF, '.', NUL) are held back and scanned with the next piece, so any
chunking finds the same things at the same offsets.
"""

from __future__ import annotations

import re

from smtplens.builder import SessionBuilder, Where
from smtplens.checks.base import Check, Counter
from smtplens.checks.lineends import line_ends
from smtplens.engine import events as ev
from smtplens.engine.syntax import KNOWN_VERBS, size_limit
from smtplens.findings.finding import Severity
from smtplens.stream import Direction
from smtplens.textutil import digits

C = Direction.CLIENT
# RFC 5321 §4.1.1.4 / SMTP smuggling: a line break, an optional NUL, '.', an optional
# NUL and a line break, other than the one valid <CRLF>.<CRLF> (never inside content).
_SMUGGLE = re.compile(rb"(?:\r\n|\n|\r)\x00?\.\x00?(?:\r\n|\n|\r)")
_VERBS_AFTER = re.compile(rb"(?i)\b(mail from|rcpt to|data\r?\n|bdat |rset\r?\n)")
_UNSTUFFED = re.compile(rb"\r\n\.(?=[^.\r\n])")  # RFC 5321 §4.5.2
_BARE_LF = re.compile(rb"(?<!\r)\n")
_BARE_CR = re.compile(rb"\r(?!\n)")
_EIGHT_BIT = re.compile(rb"[\x80-\xff]")
_HOLD = frozenset(b"\r\n.\x00")
# an unknown extension command looks like one: an uppercase verb, then SP or nothing
_COMMAND_SHAPE = re.compile(rb"^[A-Z][A-Z0-9-]{2,19}(?: |$)")


def _is_text(line: bytes) -> bool:
    """A line that reads as message text rather than as an (unknown) command."""
    return not _COMMAND_SHAPE.match(line)


class _Snippet:
    """The bytes around a first hit, collected across pieces so any chunking agrees."""

    __slots__ = ("data", "end", "start")

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end, self.data = start, end, b""

    def take(self, scan: bytes, base: int) -> None:
        """Collect from ``scan``, whose first octet is at stream offset ``base``."""
        have = self.start + len(self.data)
        if have >= self.end:
            return
        lo, hi = max(have, base), min(self.end, base + len(scan))
        if lo == have and hi > lo:
            self.data += scan[lo - base:hi - base]


class _MessageScan:
    """Scans one message's wire bytes."""

    NAMES = ("smuggle", "unstuffed", "bare-lf", "bare-cr", "nul", "long", "8bit")

    def __init__(self, dot_stuffed: bool) -> None:
        self.dot_stuffed = dot_stuffed
        self.held = b"\r\n"  # the message starts at a line start (virtual CRLF)
        self.virtual = 2
        self.run = 0  # length of the unterminated line at the end of scanned text
        self.run_reported = False  # that line was already reported as too long
        self.hits = {name: Counter() for name in self.NAMES}
        self.snippets: dict[str, _Snippet] = {}
        self.smuggle_end = 0

    def feed(self, raw: bytes, offset: int, ts: float | None, final: bool = False) -> None:
        text = self.held + raw
        cut = len(text)
        if not final:
            while cut > 0 and cut > len(text) - 4 and text[cut - 1] in _HOLD:
                cut -= 1
        scan, self.held = text[:cut], text[cut:]
        virtual = self.virtual
        base = offset - len(text) + len(raw) + virtual  # stream offset of scan[virtual]
        self.virtual = max(0, virtual - cut)
        if len(scan) <= virtual:
            return
        origin = base - virtual  # stream offset of scan[0] (may be virtual)

        def hit(name: str, pos: int, before: int = 0, after: int = 40, n: int = 1) -> None:
            start = max(pos - before, virtual)
            self.hits[name].hit(Where(C, ts, origin + max(pos, virtual), ""), n)
            if name not in self.snippets:
                self.snippets[name] = _Snippet(origin + start, origin + pos + after)

        lines = line_ends(scan, self.run, self.run_reported)
        self.run, self.run_reported = lines.run, lines.run_reported
        bare_lf, bare_cr = lines.bare_lf, lines.bare_cr
        nul = scan.count(b"\x00") if b"\x00" in scan else 0
        if bare_lf or bare_cr or nul:  # every smuggling sequence has one of these
            for m in _SMUGGLE.finditer(scan):
                hit("smuggle", m.start(), after=m.end() - m.start() + 400)
                if not self.smuggle_end:
                    self.smuggle_end = origin + m.end()
        if self.dot_stuffed and b"." in scan and b"\r\n." in scan:  # '.': memchr speed
            for m in _UNSTUFFED.finditer(scan):
                hit("unstuffed", m.start() + 2)
        for name, count, rx in (("bare-lf", bare_lf, _BARE_LF), ("bare-cr", bare_cr, _BARE_CR)):
            if count:
                first = rx.search(scan)
                assert first is not None
                hit(name, first.start(), before=20, after=20, n=count)
        if nul:
            hit("nul", scan.find(b"\x00"), before=10, after=10, n=nul)
        if not scan.isascii():
            m8 = _EIGHT_BIT.search(scan)
            assert m8 is not None
            hit("8bit", m8.start(), before=10, after=20)
        for start in lines.long_starts:
            hit("long", start)
        for snippet in self.snippets.values():
            snippet.take(scan[virtual:], base)

    def counter(self, name: str) -> Counter:
        """The hits of ``name``, their first one carrying its collected excerpt."""
        c = self.hits[name]
        snippet = self.snippets.get(name)
        if c.first is not None and snippet is not None:
            f = c.first
            c.first = Where(f.direction, f.ts, f.offset, f.location,
                            snippet.data[:80] if name != "smuggle" else snippet.data[:40])
        return c

    def verbs_after_smuggle(self) -> str:
        snippet = self.snippets.get("smuggle")
        if snippet is None:
            return ""
        tail = snippet.data[self.smuggle_end - snippet.start:]
        v = _VERBS_AFTER.search(tail)
        return v.group(1).strip().decode("ascii", "replace").upper() if v else ""


class DataContent(Check):
    """Byte-level checks of message content (need exact bytes)."""

    emits = ("data.smuggling-sequence", "data.unstuffed-dot", "data.bare-lf", "data.bare-cr",
             "data.nul-byte", "data.line-too-long", "data.8bit-without-8bitmime",
             "bdat.dot-stuffed")
    reads = (ev.MessageStart, ev.MessageData, ev.MessageEnd)

    def __init__(self) -> None:
        self.scan: _MessageScan | None = None
        self.method = ""
        self.tail = b""

    def on_event(self, event: ev.Event, ctx: SessionBuilder) -> None:
        if isinstance(event, ev.MessageStart):
            self.method = event.method
            self.scan = _MessageScan(dot_stuffed=event.method == "DATA")
            self.tail = b""
        elif isinstance(event, ev.MessageData) and self.scan is not None:
            if ctx.session.exact_bytes:
                self.scan.feed(event.raw, event.offset, event.ts)
            self.tail = (self.tail + event.raw[-5:])[-5:]  # no copy of the chunk
        elif isinstance(event, ev.MessageEnd) and self.scan is not None:
            scan, self.scan = self.scan, None
            if ctx.session.exact_bytes:
                scan.feed(b"", event.offset, event.ts, final=True)
                self._report(scan, ctx)
            if self.method == "BDAT" and self.tail.endswith(b"\r\n.\r\n"):
                ctx.finding("bdat.dot-stuffed", direction=C, ts=event.ts,
                            offset=event.offset - 5, data=self.tail,
                            detail="the BDAT content ends with <CRLF>.<CRLF>")

    def _report(self, scan: _MessageScan, ctx: SessionBuilder) -> None:
        h = {name: scan.counter(name) for name in scan.NAMES}
        smuggle = h["smuggle"]
        if smuggle.count:
            follow = scan.verbs_after_smuggle()
            extra = f"; followed by SMTP commands ({follow}...)" if follow else ""
            smuggle.report(ctx, "data.smuggling-sequence",
                           f"{smuggle.times('non-standard end-of-data sequence')}{extra}")
        h["unstuffed"].report(ctx, "data.unstuffed-dot",
                              f"{h['unstuffed'].times('line')} starting with a single '.'")
        h["bare-lf"].report(ctx, "data.bare-lf", h["bare-lf"].times("bare LF"))
        h["bare-cr"].report(ctx, "data.bare-cr", h["bare-cr"].times("bare CR"))
        h["nul"].report(ctx, "data.nul-byte", h["nul"].times("NUL byte"))
        h["long"].report(ctx, "data.line-too-long",
                         f"{h['long'].times('line')} longer than 998 octets plus CRLF")
        tx = ctx.session.transactions[-1] if ctx.session.transactions else None
        body = (tx.mail_params.get("BODY") or "").upper() if tx else ""
        if h["8bit"].count and body not in ("8BITMIME", "BINARYMIME"):
            offered = "8BITMIME" in ctx.session.capabilities
            why = ("the client did not declare BODY=8BITMIME" if offered
                   else "the server did not advertise 8BITMIME")
            h["8bit"].report(ctx, "data.8bit-without-8bitmime", f"8-bit octets, but {why}")


class DataFlow(Check):
    """Message-level checks: the end of data, sizes, refused DATA, BINARYMIME."""

    emits = ("data.terminator-missing", "data.premature-end", "data.body-after-refused-data",
             "data.size-exceeded", "data.binarymime-with-data")
    reads = (ev.MessageEnd, ev.Reply, ev.Guessed, ev.Command, ev.MessageStart)

    def __init__(self) -> None:
        self.watch = ""  # "premature" after a message end, "refused" after a refused DATA
        self.watch_item = 0
        self.stray = Counter()
        self.dot_line = False
        self.text_line = False  # a stray line that reads as text, not as a command

    def on_event(self, event: ev.Event, ctx: SessionBuilder) -> None:
        if isinstance(event, ev.MessageEnd) and event.how in ("dot", "closed"):
            if event.how == "closed":
                self._terminator_missing(event, ctx)
            self._start_watch("premature", event.item or 0, ctx)
        elif isinstance(event, ev.MessageEnd):
            self._end_watch(ctx)
        elif isinstance(event, ev.Reply) and event.verb == "DATA" and event.code != 354:
            self._start_watch("refused", event.answers or 0, ctx)
        elif isinstance(event, ev.Guessed) and event.verb == "DATA" and event.assumed != "354":
            self._start_watch("refused", event.item, ctx)
        elif isinstance(event, ev.Command) and self.watch:
            # a body line may start with a verb ("Data follows"); a bare DATA is a command
            if event.verb in KNOWN_VERBS and (event.verb != "DATA" or not event.args.strip()):
                self._end_watch(ctx)
            else:
                self.dot_line = self.dot_line or event.raw == b"."
                # RFC 5321 §4.1.1: a command is a verb then SP or CRLF; message text right
                # after the end of data (whenever it arrives, before or after the 250) is
                # the body's tail, not an unknown extension command (those are uppercase)
                self.text_line = self.text_line or _is_text(event.raw)
                self.stray.hit(Where(C, event.ts, event.offset, event.location, event.raw))
        elif isinstance(event, ev.MessageStart):
            self._end_watch(ctx)
            tx = ctx.tx
            if event.method == "DATA" and tx and (tx.mail_params.get("BODY") or "").upper() \
                    == "BINARYMIME":
                ctx.finding("data.binarymime-with-data", direction=C, ts=event.ts,
                            offset=event.offset, detail="MAIL FROM declared BODY=BINARYMIME")
        if isinstance(event, ev.MessageEnd):
            self._size(event, ctx)

    def finish(self, ctx: SessionBuilder) -> None:
        self._end_watch(ctx)

    def _start_watch(self, what: str, item: int, ctx: SessionBuilder) -> None:
        self._end_watch(ctx)
        self.watch, self.watch_item, self.stray, self.dot_line = what, item, Counter(), False
        self.text_line = False

    def _end_watch(self, ctx: SessionBuilder) -> None:
        what, stray = self.watch, self.stray
        self.watch, self.stray = "", Counter()
        if not what or not stray.count:
            return
        if not (self.dot_line or stray.count >= 2 or (what == "premature" and self.text_line)):
            return
        lines = stray.times("line")
        if what == "premature":
            stray.report(ctx, "data.premature-end",
                         f"after the end of data, {lines} of message text arrived as commands"
                         + (" (including the client's own final '.')" if self.dot_line else ""))
        else:
            stray.report(ctx, "data.body-after-refused-data",
                         f"after DATA was refused, {lines} that are not commands followed")

    @staticmethod
    def _terminator_missing(event: ev.MessageEnd, ctx: SessionBuilder) -> None:
        msgs = ctx.session.messages
        msg = msgs[-1] if msgs else None
        method = msg.method if msg else "DATA"
        fid = "data.terminator-missing" if method == "DATA" else "bdat.size-mismatch"
        detail = ("the stream ended inside the message, before <CRLF>.<CRLF>"
                  if method == "DATA" else "the stream ended inside a BDAT chunk")
        ctx.finding(fid, direction=C, ts=event.ts, offset=event.offset, detail=detail)

    @staticmethod
    def _size(event: ev.MessageEnd, ctx: SessionBuilder) -> None:
        msgs = ctx.session.messages
        info = msgs[-1].info if msgs else None
        if info is None:
            return
        size = info.size
        tx = ctx.session.transactions[-1]
        declared = tx.mail_params.get("SIZE")
        limit = size_limit(ctx.session.capabilities)
        if limit is not None and size > limit:
            ctx.finding("data.size-exceeded", direction=C, ts=event.ts, offset=event.offset,
                        detail=f"{size} octets, over the advertised SIZE {limit}")
        elif declared and digits(declared) and size > int(declared):
            # RFC 1870 §4: SIZE= is the client's estimate; being over it is worth a note
            ctx.finding("data.size-exceeded", direction=C, ts=event.ts, offset=event.offset,
                        detail=f"{size} octets, but MAIL FROM declared SIZE={declared}",
                        severity=Severity.INFO)
