"""Small text helpers shared by sources and checks."""

from __future__ import annotations


def digits(text: str) -> bool:
    """True when ``text`` is a non-empty run of ASCII digits.

    ``str.isdigit`` also accepts characters such as '¹' that ``int()`` refuses.
    """
    return text.isascii() and text.isdigit()
