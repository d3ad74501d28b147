"""Challenge-response mechanisms: CRAM-MD5 (RFC 2195) and its CRAM-SHA* cousins,
and DIGEST-MD5 (RFC 2831, moved to Historic by RFC 6331).

The responses are keyed hashes: not the password, but enough to test guesses offline,
so they are kept as :class:`~smtplens.secret.Secret` (kind ``"response"``) and never
mark the exchange ``secrets_exposed``.
"""

from __future__ import annotations

import re

from smtplens.sasl.base import Decoded, Field, Mechanism, generic_challenge, printable, raw_text
from smtplens.secret import Secret

#: hex digits of the HMAC for each CRAM hash (RFC 2195 §2 for MD5)
_DIGEST_HEX = {"MD5": 32, "SHA1": 40, "SHA-1": 40, "SHA256": 64, "SHA-256": 64}
_HEX = re.compile(r"[0-9a-fA-F]+")


class Cram(Mechanism):
    """RFC 2195 §2: the server sends a challenge (a msg-id like
    ``<1896.697170952@postoffice.reston.mci.net>``), the client answers
    ``user SP hexdigest`` where the digest is HMAC(password, challenge)."""

    def __init__(self, mechanism: str = "CRAM-MD5") -> None:
        super().__init__()
        self._hash = mechanism.partition("-")[2]
        self._hex_len = _DIGEST_HEX.get(self._hash)

    def server(self, data: bytes) -> Decoded:
        return generic_challenge(data)

    def client(self, data: bytes) -> Decoded:
        if not data:
            return Decoded("empty", error="CRAM needs 'user digest'")
        text = raw_text(data)
        # the user name may itself contain spaces: the digest is after the last one
        user, space, digest = text.rpartition(" ")
        if not space:
            return Decoded("response", error="no space between user and digest", secret="response")
        self.user = printable(user)
        fields: tuple[Field, ...] = (("user", self.user), ("response", Secret(digest, "response")))
        error = ""
        if not _HEX.fullmatch(digest):
            error = "digest is not hexadecimal"
        elif self._hex_len is not None and len(digest) != self._hex_len:
            error = f"digest has {len(digest)} hex digits, {self._hash} gives {self._hex_len}"
        return Decoded("response", fields, error, secret="response")


# -- DIGEST-MD5 ----------------------------------------------------------------------

_SPACE = re.compile(r"[ \t\r\n]*")
_SEPARATORS = re.compile(r"[, \t\r\n]*")
_TOKEN = re.compile(r'[^\x00-\x20()<>@,;:\\"/\[\]?={}\x7f]+')  # RFC 2616 §2.2 token
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)  # RFC 2831 §1.2 quoted-string
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)

#: RFC 2831 §2.1.1-2.1.3 directives; ``response`` proves the password, and the value
#: of any other (unknown) directive is kept secret too, since it could be anything
_KNOWN_DIRECTIVES = frozenset(
    {
        "realm", "nonce", "qop", "stale", "maxbuf", "charset", "algorithm", "cipher",
        "username", "cnonce", "nc", "digest-uri", "authzid", "rspauth",
    }
)  # fmt: skip


def _skip_space(text: str, pos: int, space: re.Pattern[str] = _SPACE) -> int:
    m = space.match(text, pos)
    return pos if m is None else m.end()


def parse_directives(text: str) -> tuple[list[tuple[str, str]], str]:
    """RFC 2831 §7.1 ``#rule`` list of ``name=value`` / ``name="quoted"`` directives.

    Returns the (name, raw value) pairs parsed so far and an error, if any. Commas and
    escaped quotes inside quoted strings are part of the value.
    """
    pairs: list[tuple[str, str]] = []
    pos, end = 0, len(text)
    while True:
        # empty list elements are allowed (RFC 2616 §2.1 "#rule")
        pos = _skip_space(text, pos, _SEPARATORS)
        if pos >= end:
            return pairs, ""
        name = _TOKEN.match(text, pos)
        if name is None:
            return pairs, f"expected a directive name at offset {pos}"
        pos = _skip_space(text, name.end())
        if pos >= end or text[pos] != "=":
            return pairs, f"directive at offset {name.start()} has no value"
        pos = _skip_space(text, pos + 1)
        quoted = _QUOTED.match(text, pos)
        if quoted is not None:
            value = _QUOTED_PAIR.sub(r"\1", quoted.group(1))
            pos = quoted.end()
        elif pos < end and text[pos] == '"':
            return pairs, f"unterminated quoted string at offset {pos}"
        else:
            comma = text.find(",", pos)
            comma = end if comma < 0 else comma
            value, pos = text[pos:comma].strip(), comma
        pairs.append((name.group().lower(), value))
        pos = _skip_space(text, pos)
        if pos < end and text[pos] != ",":
            return pairs, f"expected ',' at offset {pos}"


class DigestMd5(Mechanism):
    """RFC 2831 §2.1: the server sends a digest-challenge (realm, nonce, qop, algorithm,
    charset), the client a digest-response (username, realm, nonce, cnonce, nc, qop,
    digest-uri, response), the server proves itself with ``rspauth`` (§2.1.3) and the
    client answers that with an empty line."""

    def server(self, data: bytes) -> Decoded:
        if not data:
            return Decoded("empty")
        pairs, error = parse_directives(raw_text(data))
        names = {name for name, _ in pairs}
        label = "rspauth" if "rspauth" in names else "digest-challenge"
        if label == "digest-challenge" and not error and "nonce" not in names:
            error = "no nonce directive"
        return Decoded(label, self._fields(pairs), error)

    def client(self, data: bytes) -> Decoded:
        if not data:
            return Decoded("empty")
        pairs, error = parse_directives(raw_text(data))
        for name, value in pairs:
            if name == "username":
                self.user = printable(value)
            elif name == "authzid":
                self.authzid = printable(value)
        if not error and not any(name == "response" for name, _ in pairs):
            error = "no response directive"
        return Decoded("digest-response", self._fields(pairs), error, secret="response")

    @staticmethod
    def _fields(pairs: list[tuple[str, str]]) -> tuple[Field, ...]:
        fields: list[Field] = []
        for name, value in pairs:
            if name in _KNOWN_DIRECTIVES:
                fields.append((name, printable(value)))
            else:
                kind = "response" if name == "response" else "data"
                fields.append((printable(name), Secret(value, kind)))
        return tuple(fields)
