"""Keeping a session's secrets out of everything it shows.

A credential rarely stays where the protocol puts it: a server echoes the client's
Base64 back in its ``535`` text, a client out of step with the server sends its next
password guess as if it were a command, an injected ``AUTH LOGIN`` sits in the excerpt
of a STARTTLS finding. So each session keeps a :class:`Redactor` of every secret it has
seen (the wire text of every AUTH answer or initial response that holds one, the
decoded passwords and tokens, and lines that arrived where an AUTH answer could be),
and once the session is built, :meth:`Redactor.session` replaces every occurrence of
them in every string the session holds: reply texts, excerpts, details, subjects.
Views never see the text, so no view can leak it.

:class:`~smtplens.secret.Secret` values are left alone: they are redacted by their own
``str`` and shown only when a view is asked to (``--show-secrets``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from smtplens.engine.syntax import KNOWN_VERBS, auth_args, split_command
from smtplens.sasl.base import decode_base64, is_text, printable
from smtplens.secret import REDACTED, Secret

#: shorter values are not searched for elsewhere: "abc" would redact half the session
MIN_SECRET = 4
#: the ellipsis :func:`~smtplens.builder.excerpt` ends a cut excerpt with
_CUT = "…"


class Redactor:
    """The secrets of one session, and their removal from any text.

    No regular expression: a session has a few secrets, each looked for with ``in`` and
    ``str.find`` (compiling a pattern per session cost more than the whole walk, and
    pushed the MIME patterns out of :mod:`re`'s cache)."""

    __slots__ = ("_ordered", "_values")

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._ordered: tuple[str, ...] = ()  # longest first

    def __bool__(self) -> bool:
        return bool(self._values)

    def add(self, value: str) -> None:
        """Hide ``value`` (and its display-escaped form, and what its Base64 decodes
        to when that is text) wherever it appears."""
        for form in _forms(value):
            if len(form) >= MIN_SECRET and form not in self._values:
                self._values.add(form)
                self._ordered = tuple(sorted(self._values, key=len, reverse=True))

    def add_secret(self, secret: Secret) -> None:
        self.add(secret.reveal())

    def found_in(self, text: str) -> bool:
        """Whether ``text`` may hold a secret (whole or cut short at an excerpt's end)."""
        return text[-1:] == _CUT or any(v in text for v in self._ordered)

    def text(self, text: str) -> str:
        """``text`` with every known secret replaced by the redaction marker; a secret
        cut short at the end of an excerpt (``…``) is redacted too."""
        if not self._values or not text:
            return text
        out = text
        for value in self._ordered:  # longest first: a shorter one may be inside it
            if value in out:
                out = _replace_tokens(out, value)
        if out.endswith(_CUT):
            out = self._cut_tail(out)
        return out

    def _cut_tail(self, text: str) -> str:
        body = text[:-1]
        for value in self._values:
            for n in range(min(len(value), len(body)) - 1, MIN_SECRET - 1, -1):
                if body.endswith(value[:n]) and not _word(body[-n - 1:-n]):
                    return body[:-n] + REDACTED + _CUT
        return text

    def data(self, data: bytes) -> bytes:
        """Bytes with every known secret replaced (compared as UTF-8)."""
        if not self._values or not data:
            return data
        text = data.decode("utf-8", "surrogateescape")
        return self.text(text).encode("utf-8", "surrogateescape")

    def session(self, obj: Any) -> Any:
        """Every string inside ``obj`` (a session and all it holds) redacted; mutable
        records are changed in place, frozen ones replaced. Secrets are kept as they are."""
        if not self._values:
            return obj
        return _Walk(self).walk(obj)


_ATOMS = frozenset({int, float, bool, type(None), Secret})
#: per record type: the fields that may hold text (None: not a record), and frozen or not
_FIELDS: dict[type, tuple[str, ...] | None] = {}
_FROZEN: dict[type, bool] = {}
#: field annotations that hold no text (the walk skips such fields)
_NO_TEXT = frozenset({"int", "float", "bool", "None", "Direction", "Severity", "Secret"})


#: fields that hold smtplens' own words, not wire text: ids, kinds, verbs, outcomes (a
#: password "data" must not turn the finding id "data.terminator-missing" into junk)
_VOCABULARY: dict[str, frozenset[str]] = {
    "Session": frozenset({"id", "source", "origin", "helo_verb", "close_reason",
                          "undetermined"}),
    "Exchange": frozenset({"kind", "verb"}),
    "Finding": frozenset({"id"}),
    "Evidence": frozenset({"session"}),
    "AuthExchange": frozenset({"mechanism", "outcome"}),
    "Message": frozenset({"method", "end"}),
    "Transaction": frozenset({"method", "ended"}),
}


def _may_hold_text(annotation: object) -> bool:
    if not isinstance(annotation, str):  # a real type: look at it
        return annotation not in (int, float, bool, Secret)
    return not all(part.strip() in _NO_TEXT for part in annotation.split("|"))


class _Walk:
    """One pass over a session's records (per-type field lists are cached: this runs
    once per session that showed a secret, so it must cost microseconds, not a
    dataclass introspection per record)."""

    __slots__ = ("found_in", "redactor")

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.found_in = redactor.found_in

    def walk(self, obj: Any) -> Any:
        kind = type(obj)
        if kind is str or kind in _ATOMS:
            return self.value(obj)
        if kind is list:
            for i, x in enumerate(obj):
                new = self.value(x)
                if new is not x:
                    obj[i] = new
            return obj
        if kind is tuple:
            items = tuple(self.value(x) for x in obj)
            return obj if all(a is b for a, b in zip(items, obj, strict=True)) else items
        if kind is dict:
            return {self.value(k): self.value(v) for k, v in obj.items()}
        if kind is bytes:
            return self.redactor.data(obj)
        names = _FIELDS.get(kind, ())
        if names == ():
            names = self._learn(kind)
        if names is None:  # an enum, say: nothing to redact
            return obj
        changes = {}
        for name in names:
            old = getattr(obj, name)
            new = self.value(old)
            if new is not old:
                changes[name] = new
        if not changes:
            return obj
        if _FROZEN[kind]:
            return dataclasses.replace(obj, **changes)
        for name, value in changes.items():
            setattr(obj, name, value)
        return obj

    def value(self, obj: Any) -> Any:
        """:meth:`walk`, with the common leaves handled without a call."""
        kind = type(obj)
        if kind is str:
            if len(obj) < MIN_SECRET or not self.found_in(obj):
                return obj
            return self.redactor.text(obj)
        if kind in _ATOMS:
            return obj
        return self.walk(obj)

    def _learn(self, kind: type) -> tuple[str, ...] | None:
        words = _VOCABULARY.get(kind.__name__, frozenset())
        names = (tuple(f.name for f in dataclasses.fields(kind)
                       if _may_hold_text(f.type) and f.name not in words)
                 if dataclasses.is_dataclass(kind) else None)
        params = getattr(kind, "__dataclass_params__", None)
        _FROZEN[kind] = bool(params is not None and params.frozen)
        _FIELDS[kind] = names
        return names


def _word(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _replace_tokens(text: str, value: str) -> str:
    """``text`` with each whole-token occurrence of ``value`` redacted: not where it is
    part of a longer word or number (a password "1234567" is not in the user
    "123456789@aol.com"); the check applies only at an end of ``value`` that is itself
    a letter or digit."""
    check_before, check_after = _word(value[0]), _word(value[-1])
    parts: list[str] = []
    start = at = 0
    while (at := text.find(value, at)) >= 0:
        end = at + len(value)
        if (check_before and at and _word(text[at - 1])) or (
                check_after and end < len(text) and _word(text[end])):
            at += 1
            continue
        parts += (text[start:at], REDACTED)
        start = at = end
    if not parts:
        return text
    parts.append(text[start:])
    return "".join(parts)


def _forms(value: str) -> set[str]:
    forms = {value, printable(value)}
    data, _ = decode_base64(value)
    if data and is_text(data):
        # PLAIN: authzid NUL authcid NUL password; the password is the secret part
        decoded = data.decode("utf-8")
        parts = decoded.split("\0")
        forms.update({parts[-1], printable(parts[-1])} if len(parts) == 3 else {decoded})
    elif data and b"\0" in data:
        fields = data.split(b"\0")
        if len(fields) == 3 and is_text(fields[2]):
            forms.add(fields[2].decode("utf-8"))
    return {f for f in forms if f.strip()}


def auth_lines(data: bytes) -> bytes:
    """Redact what follows ``AUTH <mechanism>`` on its line, and every line after an AUTH
    line that is not a known command (an answer or a password, sent in one write with
    the AUTH command: RFC 4954 §4 answers are one line each)."""
    if b"auth" not in data.lower():
        return data
    out: list[bytes] = []
    after_auth = False
    for line in data.splitlines(keepends=True):
        body = line.rstrip(b"\r\n")
        ending = line[len(body):]
        word, rest = split_command(body)
        verb = word.decode("latin-1").upper()
        if verb == "AUTH":
            mech, initial = auth_args(rest.decode("latin-1"))
            hidden = b" " + REDACTED.encode() if initial else b""
            out.append(b"AUTH " + mech.encode("latin-1") + hidden + ending)
            after_auth = True
        elif after_auth and body.strip() and verb not in KNOWN_VERBS:
            out.append(REDACTED.encode() + ending)
        else:
            out.append(line)
            after_auth = False
    return b"".join(out)
