"""The generic reader: SMTP found in text no dedicated reader knows.

It learns the file's layout from its first lines (:mod:`.layout`: the per-line
prefix, the direction markers or none), then reads every line with it. Sessions are
split as in other logs without session ids (a new 220 greeting, a command after
QUIT). Each session gets a ``log.read-by-guess`` finding that says how the file was
read and how much of it fitted. Logs lose CR/LF and segmenting, so it never claims
exact bytes (``Opened.exact_bytes=False``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from smtplens.sources.generic.layout import Layout, Reading, learn_layout
from smtplens.sources.generic.prefix import is_command
from smtplens.sources.logs._interleaved import LogSessions
from smtplens.stream import Direction, Notice, Skipped, StreamItem

CODE = "log.read-by-guess"
#: lines the layout is learned from (the rest of the file is read with it)
LEARN_LINES = 400
#: the sniff score range: above detection's minimum (30), below every dedicated
#: format's score on its own files, so the generic reader is only the last fallback
SCORE_MIN, SCORE_MAX = 31, 40
#: forced with ``--input-format generic``, a file with this score is read: a few
#: SMTP lines are enough when the user says so
FORCED_MIN = 6
#: the share of non-blank head lines the layout must read for the file to be claimed
MIN_SHARE = 0.3
_KEY = "generic"


@dataclass(slots=True)
class Tally:
    """How much of the head the layout read."""

    lines: int = 0  #: non-blank lines
    read: int = 0  #: lines read as SMTP
    replies: int = 0
    commands: int = 0

    @property
    def share(self) -> float:
        return self.read / self.lines if self.lines else 0.0


def tally(layout: Layout, head: Iterable[str]) -> Tally:
    t = Tally()
    for line in head:
        r = layout.read(line)
        if r.kind == "blank":
            continue
        t.lines += 1
        if r.kind in ("smtp", "repeat"):
            t.read += 1
        if r.kind != "smtp":
            continue
        text = r.payload.decode("utf-8", "replace")
        if r.direction is Direction.SERVER:
            t.replies += sum(1 for part in text.splitlines() if part[:3].isdigit())
        elif is_command(text.rstrip("\r\n")):
            t.commands += 1
    return t


def confidence(share: float) -> str:
    return "high" if share >= 0.8 else "medium" if share >= 0.5 else "low"


def _not_smtp(lines: list[str]) -> str | None:
    """What ``lines`` are when they are plainly something else than SMTP."""
    text = "\n".join(lines[:50])
    if "Traceback (most recent call last)" in text:
        return "a Python traceback, not an SMTP transcript"
    odd = sum((ch < " " and ch not in "\t\n") or "\udc80" <= ch <= "\udcff" for ch in text)
    if odd > len(text) // 50:
        return "binary data, not text"
    if len(lines) >= 3 and sum(ln.count(",") >= 2 for ln in lines[:50]) \
            > len(lines[:50]) * 0.8:
        return "comma-separated values, not an SMTP transcript"
    return None


def looks_like(head: list[str], suggest: bool = True) -> str:
    """What ``head`` looks like most, for an error message (``suggest``: say to try
    ``--input-format generic`` when it shows some SMTP)."""
    lines = [ln for ln in head if ln.strip()]
    if not lines:
        return "an empty file"
    other = _not_smtp(lines)
    if other is not None:
        return other
    layout = learn_layout(lines)
    if layout is not None:
        t = tally(layout, lines)
        if (t.replies or t.commands) and t.share < 0.5:
            return (f"text with a few SMTP-like lines ({t.read} of {t.lines}) but no "
                    "layout most lines share")
        if t.replies or t.commands:
            what = "SMTP replies" if t.replies >= t.commands else "SMTP commands"
            where = "" if not layout.prefix.shape else \
                f" behind a {layout.prefix.describe()}"
            hint = "; try --input-format generic" if suggest and \
                t.replies + t.commands >= FORCED_MIN // 2 else ""
            return (f"{what}{where} ({t.replies} replies, {t.commands} commands, "
                    f"{layout.describe_markers()}){hint}")
    return "text with no SMTP commands or replies"


def _midstream(direction: Direction, payload: bytes) -> bool:
    """A session's first line that cannot start one: a reply other than the 220
    greeting (RFC 5321 §3.1; a 554 greeting refuses, but still opens), or a command
    other than the greeting EHLO/HELO/LHLO (a log that missed the greeting still
    starts at the client's first command, RFC 5321 §4.1.1.1, RFC 2033 §4.1)."""
    head = payload[:5].upper()
    if direction is Direction.SERVER:
        return head[:3] not in (b"220", b"554", b"421")
    return head[:4] not in (b"EHLO", b"HELO", b"LHLO")


class GenericTranscript:
    """SMTP debug output of any program: prefix and markers learned from the file."""

    name = "generic"
    description = ("any SMTP debug output: per-line prefix (timestamps, logger names) and "
                   "direction markers learned from the file, or sides told from content")

    forced_min = FORCED_MIN

    def sniff(self, head: list[str]) -> int:
        lines = [ln for ln in head if ln.strip()]
        if not lines or _not_smtp(lines) is not None:
            return 0
        layout = learn_layout(lines)
        if layout is None:
            return 0
        t = tally(layout, lines)
        # a transcript is mostly SMTP: a file where few lines fit the layout (Zeek's event
        # dumps quote reply codes among record fields) is not claimed unless forced
        if t.replies < 2 or t.commands < 1 or t.share < MIN_SHARE:
            return min(SCORE_MIN - 6, 2 * (t.replies + t.commands))
        return SCORE_MIN + round((SCORE_MAX - SCORE_MIN) * t.share)

    def parse(self, lines: Iterable[tuple[int, str]], source: str) -> Iterator[StreamItem]:
        it = iter(lines)
        head = list(itertools.islice(it, LEARN_LINES))
        layout = learn_layout(text for _, text in head)
        if layout is None:
            for number, _ in head[:1]:
                yield Notice("input.unparsed-line", "no SMTP command or reply found",
                             source=source, location=f"line {number}")
            return
        sessions = LogSessions(source, self.name, content_logged=True)
        seen = read = 0
        started = ""

        def guess_notice() -> Notice:
            s = sessions.get(_KEY)
            share = read / seen if seen else 0.0
            return Notice(CODE, f"{layout.prefix.describe()}; {layout.describe_markers()}; "
                          f"{read} of {seen} lines read ({confidence(share)} confidence); "
                          "line ends not known", source=source, location=started,
                          conn_id=s.conn_id if s else None)

        def end() -> Iterator[StreamItem]:
            nonlocal seen, read
            if sessions.get(_KEY) is not None:
                yield guess_notice()
                yield from sessions.close(_KEY)
                seen = read = 0

        held: tuple[int, Reading] | None = None  # a "maybe" line waiting for its answer
        for number, text in itertools.chain(head, it):
            r = layout.read(text)
            if r.kind == "blank":
                continue
            seen += 1
            if r.kind == "repeat":
                read += 1
            if held is not None and r.kind == "smtp" and r.direction is Direction.SERVER \
                    and sessions.get(_KEY) is not None:
                # RFC 5321 §4.2.4: answered, so it was a command the log's reader does
                # not know (the server's 500 "command not recognized" usually says so)
                read += 1
                yield from sessions.send(_KEY, Direction.CLIENT, held[1].payload, held[0],
                                         held[1].ts)
            held = (number, r) if r.kind == "maybe" else None
            if r.kind != "smtp" or r.direction is None:
                continue
            read += 1
            if sessions.get(_KEY) is None or sessions.restarts(_KEY, r.direction, r.payload):
                seen, read = seen - 1, read - 1  # this line is the next session's
                yield from end()
                seen, read = seen + 1, read + 1
                started = f"line {number}"
                yield from sessions.open(_KEY, number, r.ts, "generic")
                if _midstream(r.direction, r.payload):
                    yield sessions.notice(number, "the excerpt starts mid-session (its first "
                                          "SMTP line is neither a 220 greeting nor EHLO, "
                                          "HELO or LHLO)", _KEY, r.ts, "capture.midstream")
            s = sessions.get(_KEY)
            if layout.tracker.unlogged_message and s is not None:
                # a reply to a message the log did not show: say it was left out, so
                # the engine does not read what follows as its content
                layout.tracker.unlogged_message = False
                s.in_data = False
                yield Skipped(s.conn_id, Direction.CLIENT, "message", r.ts, f"line {number}")
            yield from sessions.send(_KEY, r.direction, r.payload, number, r.ts)
            s = sessions.get(_KEY)
            if s is not None and s.quit_answered:
                yield from end()
        yield from end()
