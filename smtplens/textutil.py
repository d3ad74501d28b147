"""Small text helpers shared by sources, checks and views."""

from __future__ import annotations

import re


def digits(text: str) -> bool:
    """True when ``text`` is a non-empty run of ASCII digits.

    ``str.isdigit`` also accepts characters such as '¹' that ``int()`` refuses.
    """
    return text.isascii() and text.isdigit()


#: what a terminal acts on instead of showing: C0 controls but TAB and LF (ESC starts
#: CSI/OSC sequences: clear screen, OSC 52 clipboard writes, window titles), DEL, the C1
#: controls (U+009B is a one-character CSI), and the bidirectional overrides that make
#: text read differently from what it is (CVE-2021-42574)
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """``text`` with every character a terminal would act on written as an escape
    (``\\x1b``, ``\\x9b``, ``\\u202e``); TAB and newline stay as they are."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_escape, text)


#: :data:`_UNSAFE` and what a page that must be valid UTF-8 cannot carry either: lone
#: surrogates (non-UTF-8 wire bytes travel as them) and the BMP noncharacters
_UNSAFE_IN_PAGE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
    "\ufdd0-\ufdef\ufffe\uffff]")


def visible_in_page(text: str) -> str:
    """:func:`visible`, and lone surrogates (``\\udcff``) and noncharacters too: for
    HTML pages, which are written as UTF-8."""
    if _UNSAFE_IN_PAGE.search(text) is None:
        return text
    return _UNSAFE_IN_PAGE.sub(_escape, text)


def unsafe_at(text: str) -> list[int]:
    """Indexes of the characters :func:`visible` would escape."""
    return [m.start() for m in _UNSAFE.finditer(text)]


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
