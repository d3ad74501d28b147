"""Learning the per-line prefix of SMTP debug output nobody wrote a reader for.

Loggers put something before every line: a timestamp (ISO, syslog, ``10:00:00.123``),
a level and a logger name (``INFO:mailer:``, ``DEBUG SMTP:``, ``flutter:``,
``I/K9MAIL ( 1234):``). In each line we look for where an SMTP token could start
(a direction marker, a reply code, a command verb, RFC 5321 §4.1 and §4.2), at word
boundaries only, and turn the text before it into a *shape*: digit runs become
``9``, words ``a``, blanks one space, other characters stay. The shape most lines
share is the file's prefix; a line whose start does not fit it is a continuation of
the previous log message, or noise.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from smtplens.sources.generic.markers import Marker, match_marker

#: the longest prefix considered (a logger's prefix is short; text beyond is content)
MAX_PREFIX = 200  # Stalwart: a time, a level and a session{...} span of ~150
#: RFC 5321 §4.2: a reply is three digits (2yz-5yz) then a space, a hyphen or nothing
REPLY = re.compile(r"[2-5][0-5][0-9](?:[ -]|$)")
#: verbs read in any case (smtplib writes "ehlo", "mail FROM:", "rcpt TO:")
_VERB_ANY_CASE = re.compile(
    r"(?:EHLO|HELO|LHLO|STARTTLS|VRFY|EXPN|ETRN|BDAT)(?: |$)|MAIL FROM:|RCPT TO:"
    r"|(?:DATA|QUIT|RSET|NOOP|HELP)$|AUTH [A-Z0-9-]+(?: |$)", re.IGNORECASE)
#: verbs that are also English words count only as written on the wire: uppercase
_VERB_UPPER = re.compile(r"(?:DATA|QUIT|RSET|NOOP|HELP|TURN|ATRN|XCLIENT|XFORWARD)(?: |$)")
_TOKEN = re.compile(r"[\w.]+|\s+|.")
_BOUNDARY_AFTER = frozenset(" \t:])>|,;")


def is_reply(text: str) -> bool:
    return REPLY.match(text) is not None


def is_command(text: str) -> bool:
    return _VERB_ANY_CASE.match(text) is not None or _VERB_UPPER.match(text) is not None


def shape(prefix: str) -> str:
    """``2024-05-01 10:00:00,123 INFO mailer: `` -> ``9-9-9 9:9:9,9 a a: ``."""
    out = []
    for tok in _TOKEN.findall(prefix):
        if tok.isspace():
            out.append(" ")
        elif len(tok) > 1 or tok.isalnum() or tok == "_":
            out.append("9" if re.fullmatch(r"[\d.]+", tok) else "a")
        else:
            out.append(tok)
    return "".join(out)


def shape_pattern(shp: str) -> re.Pattern[str]:
    """The regex that matches prefixes of shape ``shp`` at a line's start."""
    parts = []
    for ch in shp:
        if ch == "9":
            parts.append(r"[\d.]+")
        elif ch == "a":
            parts.append(r"[\w.]+")
        elif ch == " ":
            parts.append(r"\s+")
        else:
            parts.append(re.escape(ch))
    return re.compile("".join(parts))


@dataclass(frozen=True, slots=True)
class Candidate:
    """A place in a line where SMTP could start."""

    pos: int
    marker: Marker | None


def candidates(line: str) -> list[Candidate]:
    """Every word-boundary position of ``line`` where a marker, a reply or a command
    starts (at most one per position)."""
    found: list[Candidate] = []
    limit = min(len(line), MAX_PREFIX)
    for pos in range(limit):
        if pos and (line[pos - 1] not in _BOUNDARY_AFTER or line[pos] in " \t"):
            continue
        marker = match_marker(line, pos)
        if marker is not None:
            found.append(Candidate(pos, marker))
        elif is_reply(line[pos:pos + 4]) or is_command(line[pos:pos + 40]):
            found.append(Candidate(pos, None))
    return found


@dataclass(frozen=True, slots=True)
class Prefix:
    """The prefix a file's SMTP lines share."""

    shape: str
    pattern: re.Pattern[str]
    examples: tuple[str, ...]  #: literal prefixes of the first lines that have it
    lines: int  #: how many of the lines looked at have it (with an SMTP token after it)

    def describe(self) -> str:
        """``prefix `NNNN-NN-NN NN:NN:NN DEBUG [smtp] ```: digits are ``N``, words that
        change from line to line ``*``, the rest as written."""
        if not self.shape:
            return "no prefix"
        split = [_TOKEN.findall(e) for e in self.examples]
        if len({len(t) for t in split}) != 1:
            return f"prefix `{re.sub(r'[0-9]', 'N', self.examples[0])}`"
        out = []
        for toks in zip(*split, strict=True):
            if all(re.fullmatch(r"[\d.]+", t) for t in toks):
                out.append(re.sub(r"[0-9]", "N", toks[0]))
            elif len(set(toks)) == 1 or all(t.isspace() for t in toks):
                out.append(toks[0])
            else:
                out.append("*")
        return f"prefix `{''.join(out)}`"

    def split(self, line: str) -> int | None:
        """Where the part after the prefix starts, None when the line does not have it."""
        m = self.pattern.match(line)
        return None if m is None else m.end()


def learn(lines: Iterable[str]) -> Prefix | None:
    """The prefix shape most lines with an SMTP token share (None: no SMTP token)."""
    counts: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    order: dict[str, int] = {}
    for line in lines:
        seen: set[str] = set()
        for cand in candidates(line):
            shp = shape(line[:cand.pos])
            if shp in seen:
                continue
            seen.add(shp)
            counts[shp] += 1
            order.setdefault(shp, len(order))
            lits = examples.setdefault(shp, [])
            if len(lits) < 8 and line[:cand.pos] not in lits:
                lits.append(line[:cand.pos])
    if not counts:
        return None
    best = max(counts, key=lambda s: (counts[s], -order[s]))
    lits = examples[best]
    return Prefix(best, shape_pattern(best), tuple(lits), counts[best])
