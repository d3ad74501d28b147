"""The generic reader: SMTP debug output of programs with no dedicated reader.

``prefix`` learns the per-line prefix, ``markers`` knows the direction markers,
``direction`` tells sides apart from content, ``layout`` puts them together and
``reader`` turns a file into stream items.
"""

from __future__ import annotations

from smtplens.sources.generic.reader import GenericTranscript, looks_like

__all__ = ["GenericTranscript", "looks_like"]
