"""Direction markers that SMTP debug output puts before each line.

Programs mark who sent a line in many ways: ``C:``/``S:`` (RFC 5321's examples),
``>``/``<``, ``-->``/``<--`` (either way round), ``->``/``<-``, ``>>>``/``<<<``,
``Sent:``/``Got:`` (DokuWiki, FakeSMTP), ``Client:``/``Server:``, ``CLIENT 1:``/
``SERVER 1:`` (numbered), ``C->S``/``S->C``, smtplib's ``send:``/``reply:``,
Stalwart's ``event="write" data=``/``event="read" data=``. Each
marker belongs to a :class:`MarkerPair`; a pair either says which side is the client
(``fixed``) or leaves it to the content: the side whose lines carry reply codes is
the server (RFC 5321 §4.2: only servers send replies).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from smtplens.stream import Direction


@dataclass(frozen=True, slots=True)
class MarkerPair:
    """Two markers that tell the sides apart."""

    name: str  #: short name, e.g. "-->/<--"
    first: str  #: how the first marker is shown
    second: str  #: how the second marker is shown
    #: the direction of the first marker's lines, None when the content decides
    fixed: Direction | None


PAIRS: dict[str, MarkerPair] = {p.name: p for p in (
    MarkerPair("C:/S:", "C:", "S:", Direction.CLIENT),
    MarkerPair("C->S/S->C", "C->S", "S->C", Direction.CLIENT),
    MarkerPair("client/server", "Client:", "Server:", Direction.CLIENT),
    MarkerPair("sent/got", "Sent:", "Got:", Direction.CLIENT),
    MarkerPair("send/reply", "send:", "reply:", Direction.CLIENT),
    MarkerPair("-->/<--", "-->", "<--", None),
    MarkerPair(">>>/<<<", ">>>", "<<<", None),
    MarkerPair("->/<-", "->", "<-", None),
    MarkerPair(">/<", ">", "<", None),
    MarkerPair("write/read", 'event="write" data=', 'event="read" data=', None),
)}

# (regex, pair name, is the pair's first marker); longest alternatives first so that
# "-->" is never read as "-" then ">"; a marker is followed by a space or the line end
_TABLE: list[tuple[re.Pattern[str], str, bool]] = [
    (re.compile(p, re.IGNORECASE), name, first) for p, name, first in (
        (r"-->(?: |$)", "-->/<--", True),
        (r"<--(?: |$)", "-->/<--", False),
        # glued to the text as well: Haxe smtpmailer's ">>>EHLO a", "<<<220 mx"
        (r">>>(?: |(?![<>]))", ">>>/<<<", True),
        (r"<<<(?: |(?![<>]))", ">>>/<<<", False),
        # Stalwart's trace: event="write" data="220 mx\r\n" size=22 (a quoted string)
        (r'event="write" data=(?=")', "write/read", True),
        (r'event="read" data=(?=")', "write/read", False),
        (r"C->S:?(?: |$)", "C->S/S->C", True),
        (r"S->C:?(?: |$)", "C->S/S->C", False),
        (r"->(?: |$)", "->/<-", True),
        (r"<-(?: |$)", "->/<-", False),
        (r">(?: |$)", ">/<", True),
        (r"<(?: |$)", ">/<", False),
        (r"client(?: ?#?\d+)?:(?: |$)", "client/server", True),
        (r"server(?: ?#?\d+)?:(?: |$)", "client/server", False),
        (r"sent:(?: |$)", "sent/got", True),
        (r"got:(?: |$)", "sent/got", False),
        (r"send:(?: |$)", "send/reply", True),
        (r"reply:(?: |$)", "send/reply", False),
        (r"C:(?: |$)", "C:/S:", True),
        (r"S:(?: |$)", "C:/S:", False),
    )
]


@dataclass(frozen=True, slots=True)
class Marker:
    """A marker found at the start of a line's SMTP part."""

    pair: str  #: the :data:`PAIRS` key
    first: bool  #: the pair's first marker
    end: int  #: where the payload starts (after the marker and one space)


def match_marker(text: str, pos: int = 0) -> Marker | None:
    """The marker at ``text[pos:]``, if one is there."""
    for pattern, pair, first in _TABLE:
        m = pattern.match(text, pos)
        if m is not None:
            return Marker(pair, first, m.end())
    return None


_SIZE_TAIL = re.compile(r' size=\d+$')


def payload_text(pair: str, text: str) -> str:
    """The part of a marked line's text that is the payload: Stalwart's trace ends the
    quoted data with `` size=N``."""
    if pair == "write/read":
        return _SIZE_TAIL.sub("", text)
    return text


def shown(pair: str, first: bool) -> str:
    p = PAIRS[pair]
    return p.first if first else p.second
