"""Keeping a session's secrets out of everything it shows.

A credential rarely stays where the protocol puts it: a server echoes the client's
Base64 back in its ``535`` text, a client out of step with the server sends its next
password guess as if it were a command, an injected ``AUTH LOGIN`` sits in the excerpt
of a STARTTLS finding. So each session keeps a :class:`Redactor` of every secret it has
seen (the wire text of every AUTH answer or initial response that holds one, the
decoded passwords and tokens, and lines that arrived where an AUTH answer could be),
and once the session is built, :meth:`Redactor.session` replaces every occurrence of
them in every string the session holds: reply texts, excerpts, details, subjects.
Views never see the text, so no view can leak it. Most sessions show their secrets
nowhere else: all their text is joined and searched once, and only a session where a
secret turns up is walked string by string.

:class:`~smtplens.secret.Secret` values are left alone: they are redacted by their own
``str`` and shown only when a view is asked to (``--show-secrets``).
"""

from __future__ import annotations

import dataclasses
import operator
import re
from collections.abc import Callable
from functools import partial
from itertools import chain
from typing import Any

from smtplens.engine.syntax import KNOWN_VERBS, auth_args, split_command
from smtplens.sasl.base import decode_base64, is_text, printable, wire_text
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

    __slots__ = ("_added", "_ordered", "_values")

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._ordered: tuple[str, ...] = ()  # longest first
        self._added: set[str] = set()  # the values given to add(), whose forms are in

    def __bool__(self) -> bool:
        return bool(self._values)

    def add(self, value: str) -> None:
        """Hide ``value`` (and its display-escaped form, and what its Base64 decodes
        to when that is text) wherever it appears."""
        if value in self._added:  # an AUTH answer's secret is often added twice
            return
        self._added.add(value)
        grown = False
        for form in _forms(value):
            if len(form) >= MIN_SECRET and form not in self._values:
                self._values.add(form)
                grown = True
        if grown:
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
        if not self._values or not self._in_any(obj):
            return obj
        return _Walk(self).walk(obj)

    def _in_any(self, obj: Any) -> bool:
        """Whether some string the walk would visit may change. Most sessions that showed
        a secret show it nowhere else: their strings are joined once and searched with a
        ``str.find`` per secret, and the walk is skipped."""
        try:
            joined = "\0".join(filter(None, _strings(obj))) + "\0"
        except TypeError:  # a field holds what its annotation does not say: look closer
            return True
        # a string that ends in a cut (an excerpt's "…") may end in the start of a secret
        return _CUT + "\0" in joined or any(v in joined for v in self._ordered)


_ATOMS = frozenset({int, float, bool, type(None), Secret})
#: per record type: the fields that may hold text (None: not a record), and frozen or not
_FIELDS: dict[type, tuple[str, ...] | None] = {}
_FROZEN: dict[type, bool] = {}
#: per record type, for :func:`_strings`: a getter of its text fields, (name, joiner) of
#: its fields of text containers, a getter of its other fields
_Getter = Callable[[Any], tuple[Any, ...]]
_Plan = tuple[_Getter | None, tuple[tuple[str, Callable[[Any], str]], ...], _Getter | None]
_PLANS: dict[type, _Plan] = {}
_NOT_NONE = partial(operator.is_not, None)
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

    @staticmethod
    def _learn(kind: type) -> tuple[str, ...] | None:
        words = _VOCABULARY.get(kind.__name__, frozenset())
        names = (tuple(f.name for f in dataclasses.fields(kind)
                       if _may_hold_text(f.type) and f.name not in words)
                 if dataclasses.is_dataclass(kind) else None)
        params = getattr(kind, "__dataclass_params__", None)
        _FROZEN[kind] = bool(params is not None and params.frozen)
        _FIELDS[kind] = names
        return names


def _strings(obj: Any) -> list[str | None]:
    """Every string :meth:`_Walk.walk` would visit in ``obj``, in no particular order, with
    Nones among them; the strings of one container come joined by NUL. A value that is
    not what its field's annotation says makes :meth:`Redactor._in_any` fail with a
    ``TypeError`` (and the walk run)."""
    found: list[str | None] = []
    stack = [obj]
    pop, more, keep, keep_all = stack.pop, stack.extend, found.append, found.extend
    plan_of = _PLANS.get
    while stack:
        item = pop()
        kind = type(item)
        plan = plan_of(kind)
        if plan is not None:  # a record, the most common item here
            text, containers, other = plan
            if text is not None:
                keep_all(text(item))
            for name, join in containers:
                keep(join(getattr(item, name)))
            if other is not None:
                more(filter(_NOT_NONE, other(item)))
        elif kind is str:
            keep(item)
        elif kind in _ATOMS:
            continue
        elif kind is list or kind is tuple:
            more(item)
        elif kind is dict:
            more(item)
            more(item.values())
        elif kind is bytes:
            keep(item.decode("utf-8", "surrogateescape"))
        else:
            stack.append(item)  # a type seen for the first time: learn it, then look again
            _plan(kind)
    return found


def _join(values: Any) -> str:
    return "\0".join(values)


def _join_pairs(pairs: Any) -> str:
    return "\0".join(chain.from_iterable(pairs))


def _join_fields(pairs: Any) -> str:  # SASL fields: (name, text or Secret)
    return "\0".join([x for x in chain.from_iterable(pairs) if type(x) is not Secret])


def _join_map(mapping: Any) -> str:
    return "\0".join(chain(mapping, filter(_NOT_NONE, mapping.values())))


def _join_map_of_texts(mapping: Any) -> str:
    return "\0".join(chain(mapping, chain.from_iterable(mapping.values())))


#: field annotations :func:`_strings` reads in one call: plain text, and containers of
#: text (joined); a field of any other annotation is looked into value by value
_TEXT = frozenset({"str", "str | None"})
_JOINERS: dict[str, Callable[[Any], str]] = {
    "tuple[str, ...]": _join,
    "list[str]": _join,
    "tuple[tuple[str, str], ...]": _join_pairs,
    "tuple[Field, ...]": _join_fields,
    "dict[str, str | None]": _join_map,
    "dict[str, str]": _join_map,
    "dict[str, tuple[str, ...]]": _join_map_of_texts,
}


def _plan(kind: type) -> _Plan:
    names = (_FIELDS[kind] if kind in _FIELDS else _Walk._learn(kind)) or ()
    # annotations as text (``from __future__ import annotations``); a real type matches none
    types = {f.name: str(f.type) for f in dataclasses.fields(kind)} if names else {}
    text = tuple(name for name in names if types[name] in _TEXT)
    containers = tuple((name, _JOINERS[types[name]]) for name in names
                       if types[name] in _JOINERS)
    other = tuple(name for name in names
                  if types[name] not in _TEXT and types[name] not in _JOINERS)
    plan = _PLANS[kind] = (_getter(text), containers, _getter(other))
    return plan


def _getter(names: tuple[str, ...]) -> _Getter | None:
    """The values of ``names`` as a tuple, in one call."""
    if not names:
        return None
    if len(names) == 1:
        name = names[0]
        return lambda obj: (getattr(obj, name),)
    return operator.attrgetter(*names)


def _word(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


def _padding_follows(text: str, end: int) -> bool:
    """Does ``text`` go on at ``end`` with Base64 padding that ends a token (``==``)?"""
    j = end
    while j < len(text) and j - end < 3 and text[j] == "=":
        j += 1
    return 0 < j - end <= 2 and (j == len(text) or text[j] not in _B64_CHARS)


def _replace_tokens(text: str, value: str) -> str:
    """``text`` with each whole-token occurrence of ``value`` redacted: not where it is
    part of a longer word or number (a password "1234567" is not in the user
    "123456789@aol.com"); the check applies only at an end of ``value`` that is itself
    a letter or digit.

    A value in the Base64 alphabet (RFC 4648 §4) followed by padding that ends the
    token is the start of another Base64 token, not the secret: a password line that is
    the user name's Base64 less its ``==`` leaves the user name's line alone. Anything
    else after it (``/``, ``+``, ``=`` then more text) still hides it: a missed secret
    costs more than a redacted look-alike."""
    check_before, check_after = _word(value[0]), _word(value[-1])
    base64 = all(ch in _B64_CHARS for ch in value)
    parts: list[str] = []
    start = at = 0
    while (at := text.find(value, at)) >= 0:
        end = at + len(value)
        if (check_before and at and _word(text[at - 1])) or (
                check_after and end < len(text) and _word(text[end])) or (
                base64 and _padding_follows(text, end)):
            at += 1
            continue
        parts += (text[start:at], REDACTED)
        start = at = end
    if not parts:
        return text
    return "".join(parts) + text[start:]


def _forms(value: str) -> set[str]:
    forms = {value, printable(value), wire_text(value)}  # raw, and as views escape it
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


_BLANK_BYTES = re.compile(rb"[ \t]+")


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
            _, initial = auth_args(rest.decode("latin-1"))
            # the mechanism as sent, ASCII-uppercased: str.upper() can leave Latin-1
            # ("\xff".upper() is U+0178), bytes.upper() cannot
            mech = _BLANK_BYTES.split(rest.strip(b" \t"), maxsplit=1)[0].upper()
            hidden = b" " + REDACTED.encode() if initial else b""
            out.append(b"AUTH " + mech + hidden + ending)
            after_auth = True
        elif after_auth and body.strip() and verb not in KNOWN_VERBS:
            out.append(REDACTED.encode() + ending)
        else:
            out.append(line)
            after_auth = False
    return b"".join(out)
