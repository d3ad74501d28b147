"""OAuth 2.0 bearer-token mechanisms: Google's XOAUTH2 and OAUTHBEARER (RFC 7628).

A bearer token is as good as a password for its lifetime, so a decoded token marks the
exchange ``secrets_exposed``. On failure both mechanisms make the server send a
Base64 JSON error in a 334, which the client must answer (XOAUTH2 with an empty line,
OAUTHBEARER with a single ``%x01``) before the final 5xx.
"""

from __future__ import annotations

import json

from smtplens.sasl.base import (
    Decoded,
    Field,
    Mechanism,
    generic_challenge,
    parse_gs2_header,
    printable,
    raw_text,
)
from smtplens.secret import Secret

KVSEP = "\x01"  # RFC 7628 §3.1 kvsep


def json_error(data: bytes) -> Decoded | None:
    """The server's JSON error challenge (RFC 7628 §3.2.2), or None if ``data`` is not
    a JSON object. Keys and values become fields (``status``, ``schemes``, ``scope``)."""
    try:
        text = data.decode("utf-8").strip()
        if not text.startswith("{"):
            return None
        obj = json.loads(text)
        if not isinstance(obj, dict):
            return None
        fields: tuple[Field, ...] = tuple(
            (printable(str(k)), printable(v if isinstance(v, str) else json.dumps(v)))
            for k, v in obj.items()
        )
    except (UnicodeDecodeError, ValueError, RecursionError):
        # RecursionError: absurdly nested JSON from a hostile peer
        return None
    return Decoded("error (JSON)", fields)


def _server(data: bytes) -> Decoded:
    error = json_error(data)
    if error is not None:
        return error
    plain = generic_challenge(data)
    if data.lstrip().startswith(b"{"):
        return Decoded(plain.label, plain.fields, "looks like JSON but does not parse")
    return plain


def _bearer(value: str) -> tuple[str, str]:
    """``Bearer TOKEN`` -> (scheme, token); RFC 6750 §2.1 scheme is case-insensitive."""
    scheme, _, token = value.partition(" ")
    return scheme, token.strip()


#: RFC 7628 §3.1 keys whose values are not credentials
_PLAIN_KEYS = frozenset({"host", "port", "mthd", "path", "post", "qs"})


def _other(key: str, eq: str, value: str, errors: list[str]) -> Field:
    """A key=value pair other than user/auth; unknown values are kept secret (they might
    be credentials), and errors never quote client data."""
    if not eq:
        errors.append("a part is not key=value")
        return ("unparsed", Secret(key, "data"))
    if key in _PLAIN_KEYS:
        return (key, printable(value))
    return (printable(key), Secret(value, "data"))


class XOAuth2(Mechanism):
    """XOAUTH2 (developers.google.com/gmail/imap/xoauth2-protocol):
    ``user=U ^A auth=Bearer TOKEN ^A ^A``."""

    def server(self, data: bytes) -> Decoded:
        return _server(data)

    def client(self, data: bytes) -> Decoded:
        if not data:
            return Decoded("empty")
        text = raw_text(data)
        if text == KVSEP:
            return Decoded("kvsep (after error)")
        fields: list[Field] = []
        errors: list[str] = []
        seen = set()
        for pair in text.split(KVSEP):
            if not pair:
                continue
            key, eq, value = pair.partition("=")
            seen.add(key)
            if key == "user":
                self.user = printable(value)
                fields.append(("user", self.user))
            elif key == "auth":
                fields.extend(self._auth(value, errors))
            else:
                fields.append(_other(key, eq, value, errors))
        errors += [f"no {key}=" for key in ("user", "auth") if key not in seen]
        if not text.endswith(KVSEP * 2):
            errors.append("does not end with ^A^A")
        return Decoded("credentials", tuple(fields), "; ".join(errors), secret="token")

    def _auth(self, value: str, errors: list[str]) -> list[Field]:
        scheme, token = _bearer(value)
        fields: list[Field] = []
        if scheme.lower() != "bearer":
            fields.append(("scheme", printable(scheme)))
            errors.append("auth scheme is not Bearer")
        if token:
            self.secrets_exposed = True
            fields.append(("token", Secret(token, "token")))
        else:
            errors.append("empty token")
        return fields


class OAuthBearer(XOAuth2):
    """RFC 7628 §3.1: ``gs2-header kvsep *kvpair kvsep``, e.g.
    ``n,a=user@example.com,^Ahost=server.example.com^Aport=143^Aauth=Bearer T^A^A``.

    The GS2 authzid (``a=``) is in practice the user's mail address, and the token is
    what authenticates, so it is reported as both ``authzid`` and ``user``.
    """

    def client(self, data: bytes) -> Decoded:
        if not data:
            return Decoded("empty", error="OAUTHBEARER answers an error with ^A, not empty")
        text = raw_text(data)
        if text == KVSEP:
            # RFC 7628 §3.2.3: the client acknowledges the error challenge
            return Decoded("kvsep (after error)")
        header = parse_gs2_header(text)
        if header is None:
            return Decoded("credentials", error="no GS2 header (n,a=...,)", secret="token")
        fields: list[Field] = []
        errors = [header.error] if header.error else []
        if header.cbind != "n":
            # RFC 7628 §3.1: OAUTHBEARER has no channel binding
            fields.append(("channel binding", printable(header.cbind)))
            errors.append("channel binding flag must be 'n'")
        if header.authzid:
            self.authzid = self.user = header.authzid
            fields.append(("user", header.authzid))
        rest = header.rest
        if not rest.startswith(KVSEP) or not rest.endswith(KVSEP * 2):
            errors.append("key=value pairs not framed by ^A ... ^A^A")
        has_auth = False
        for pair in rest.split(KVSEP):
            if not pair:
                continue
            key, eq, value = pair.partition("=")
            if key == "auth":
                has_auth = True
                fields.extend(self._auth(value, errors))
            else:
                fields.append(_other(key, eq, value, errors))
        if not has_auth:
            errors.append("no auth=")
        return Decoded("credentials", tuple(fields), "; ".join(errors), secret="token")
