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
import re
from typing import Any

from smtplens.engine.syntax import KNOWN_VERBS, auth_args, split_command
from smtplens.sasl.base import decode_base64, is_text, printable
from smtplens.secret import REDACTED, Secret

#: shorter values are not searched for elsewhere: "abc" would redact half the session
MIN_SECRET = 4
#: the ellipsis :func:`~smtplens.builder.excerpt` ends a cut excerpt with
_CUT = "…"


class Redactor:
    """The secrets of one session, and their removal from any text."""

    __slots__ = ("_pattern", "_values")

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def __bool__(self) -> bool:
        return bool(self._values)

    def add(self, value: str) -> None:
        """Hide ``value`` (and its display-escaped form, and what its Base64 decodes
        to when that is text) wherever it appears."""
        for form in _forms(value):
            if len(form) >= MIN_SECRET and form not in self._values:
                self._values.add(form)
                self._pattern = None

    def add_secret(self, secret: Secret) -> None:
        self.add(secret.reveal())

    def _regex(self) -> re.Pattern[str]:
        if self._pattern is None:
            alternatives = sorted(self._values, key=len, reverse=True)  # longest first
            # whole tokens only: a password "1234567" is not in the user "123456789@aol.com"
            self._pattern = re.compile(
                "(?<![A-Za-z0-9])(?:" + "|".join(map(re.escape, alternatives)) + ")(?![A-Za-z0-9])")
        return self._pattern

    def text(self, text: str) -> str:
        """``text`` with every known secret replaced by the redaction marker; a secret
        cut short at the end of an excerpt (``…``) is redacted too."""
        if not self._values or not text:
            return text
        out = self._regex().sub(REDACTED, text)
        if out.endswith(_CUT):
            out = self._cut_tail(out)
        return out

    def _cut_tail(self, text: str) -> str:
        body = text[:-1]
        for value in self._values:
            for n in range(min(len(value), len(body)) - 1, MIN_SECRET - 1, -1):
                if body.endswith(value[:n]) and not body[-n - 1:-n].isalnum():
                    return body[:-n] + REDACTED + _CUT
        return text

    def data(self, data: bytes) -> bytes:
        """Bytes with every known secret replaced (compared as UTF-8)."""
        if not self._values or not data:
            return data
        text = data.decode("utf-8", "surrogateescape")
        return self._regex().sub(REDACTED, text).encode("utf-8", "surrogateescape")

    def session(self, obj: Any) -> Any:
        """Every string inside ``obj`` (a session and all it holds) redacted; mutable
        records are changed in place, frozen ones replaced. Secrets are kept as they are."""
        if not self._values:
            return obj
        return self._walk(obj)

    def _walk(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.text(obj)
        if obj is None or isinstance(obj, int | float | Secret):
            return obj
        if isinstance(obj, list):
            obj[:] = [self._walk(x) for x in obj]
            return obj
        if isinstance(obj, tuple):
            return tuple(self._walk(x) for x in obj)
        if isinstance(obj, dict):
            return {self._walk(k): self._walk(v) for k, v in obj.items()}
        if isinstance(obj, bytes):
            return self.data(obj)
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            changes = {}
            for f in dataclasses.fields(obj):
                old = getattr(obj, f.name)
                new = self._walk(old)
                if new is not old and new != old:
                    changes[f.name] = new
            if not changes:
                return obj
            params = getattr(type(obj), "__dataclass_params__", None)
            if params is not None and params.frozen:
                return dataclasses.replace(obj, **changes)
            for name, value in changes.items():
                setattr(obj, name, value)
            return obj
        return obj


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
