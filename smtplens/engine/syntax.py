"""Parsing of command arguments and EHLO replies (RFC 5321 §4.1.2, RFC 1869)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from smtplens.textutil import digits

#: RFC 5321 §4.1 and the extensions smtplens knows; anything else is "unknown"
KNOWN_VERBS = frozenset({
    "HELO", "EHLO", "LHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT", "VRFY",
    "EXPN", "HELP", "AUTH", "STARTTLS", "TURN", "ETRN", "ATRN", "SEND", "SOML", "SAML",
    "XCLIENT", "XFORWARD", "BURL", "PROXY", "XEXCH50", "X-EXPS", "X-ANONYMOUSTLS",
    "X-LINK2STATE",
})
#: RFC 2920 §3.1: may only be the last command of a pipelined group
GROUP_ENDERS = frozenset({"EHLO", "HELO", "LHLO", "DATA", "VRFY", "EXPN", "TURN", "QUIT",
                          "NOOP", "STARTTLS", "AUTH"})
#: RFC 5321 §4.1.4: usable at any time
ANYTIME = frozenset({"RSET", "NOOP", "HELP", "VRFY", "EXPN", "QUIT"})

_VERB = re.compile(rb"[ \t]*([^ \t]*)[ \t]?(.*)", re.DOTALL)
_BLANKS = re.compile(r"[ \t]+")


def split_command(line: bytes) -> tuple[bytes, bytes]:
    """A command line's verb and the rest after one separator.

    RFC 5321 §4.1.1 separates them with one SP; servers also take leading blanks and a
    TAB (Postfix, Exim), so ``" AUTH PLAIN x"`` and ``"AUTH<TAB>PLAIN<TAB>x"`` are AUTH
    commands too, and must be read as such (their initial response is a credential).
    """
    word, _, rest = line.partition(b" ")
    if word and b"\t" not in word:
        return word, rest
    m = _VERB.match(line)
    assert m is not None  # the pattern matches any line
    return m.group(1), m.group(2)


def auth_args(args: str) -> tuple[str, str]:
    """AUTH's mechanism (uppercased) and initial response ("" when none), however they
    are separated (RFC 4954 §4: ``AUTH mechanism [initial-response]``)."""
    parts = _BLANKS.split(args.strip(" \t"), maxsplit=1)
    mech = parts[0].upper()
    return mech, parts[1].strip(" \t") if len(parts) > 1 else ""


_PATH = re.compile(r"^\s*(FROM|TO)\s*:\s*(<[^>]*>|[^\s<>]*)\s*(.*)$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class PathArg:
    """The argument of MAIL FROM / RCPT TO."""

    keyword: str  #: "FROM" or "TO" (uppercased)
    address: str  #: without angle brackets; "" for the null reverse-path <>
    bracketed: bool  #: written with <...> as RFC 5321 §4.1.2 requires
    params: dict[str, str | None]  #: ESMTP parameters, keys uppercased (RFC 5321 §4.1.2)


def parse_path(args: str) -> PathArg | None:
    """``FROM:<a@b> SIZE=12 BODY=8BITMIME`` → PathArg; None when it does not parse."""
    m = _PATH.match(args)
    if not m:
        return None
    raw = m.group(2)
    bracketed = raw.startswith("<")
    address = raw[1:-1] if bracketed else raw
    if bracketed and ":" in address and address.startswith("@"):
        address = address.split(":", 1)[1]  # RFC 5321 §4.1.2 source route: ignore it
    return PathArg(m.group(1).upper(), address, bracketed, parse_params(m.group(3)))


def parse_params(text: str) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    for word in text.split():
        key, sep, value = word.partition("=")
        params[key.upper()] = value if sep else None
    return params


def parse_capabilities(lines: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """EHLO reply lines (after the first, which is the greeting) → {KEYWORD: params}.

    The legacy ``AUTH=LOGIN PLAIN`` form (pre-RFC 4954 Outlook clients) is merged
    into ``AUTH``.
    """
    caps: dict[str, tuple[str, ...]] = {}
    for line in lines[1:]:
        words = line.split()
        if not words:
            continue
        keyword = words[0].upper()
        params = tuple(words[1:])
        if keyword.startswith("AUTH="):
            params = (keyword[5:], *params)
            keyword = "AUTH"
        if keyword == "AUTH":
            params = tuple(p.upper() for p in params)
            merged = caps.get("AUTH", ()) + params
            params = tuple(dict.fromkeys(merged))
        caps[keyword] = params
    return caps


def size_limit(caps: dict[str, tuple[str, ...]]) -> int | None:
    """The advertised SIZE limit (RFC 1870 §4), None when none or 0 (no fixed limit)."""
    params = caps.get("SIZE")
    if not params or not digits(params[0]):
        return None
    return int(params[0]) or None
