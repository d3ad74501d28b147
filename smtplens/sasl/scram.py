"""SCRAM-SHA-1 (RFC 5802), SCRAM-SHA-256 (RFC 7677) and their -PLUS variants.

Four messages (RFC 5802 §5)::

    C: n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL                    client-first
    S: r=fyko+d2lbbFgONRv9qkxdawL3rfc...,s=QSXCR+Q6sek8bf92,i=4096     server-first
    C: c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfc...,p=v0X8v3Bz2T0...     client-final
    S: v=rmF9pqV8S7suAoZWja4dJRkFsKQ=                            server-final

then the client answers the server-final with an empty line. The proof ``p=`` is not
the password but lets a guess be tested offline, so it is a Secret (kind ``"proof"``).
The decoder also checks what a passive observer can: the server nonce extends the
client's, the client-final repeats it, and ``c=`` repeats the GS2 header (§5.1).
"""

from __future__ import annotations

from smtplens.sasl.base import (
    Decoded,
    Field,
    Gs2Header,
    Mechanism,
    attributes,
    decode_base64,
    parse_gs2_header,
    printable,
    raw_text,
    size,
    unescape_saslname,
)
from smtplens.secret import Secret

#: RFC 5802 §5.1 gs2-cbind-flag meanings
_CBIND = {
    "n": "n (the client does not support it)",
    "y": "y (the client supports it, but thinks the server does not)",
}


def _cbind(flag: str) -> str:
    return _CBIND.get(flag, printable(flag))


class Scram(Mechanism):
    """Decoder of one SCRAM exchange; ``mechanism`` is e.g. ``SCRAM-SHA-256-PLUS``."""

    def __init__(self, mechanism: str = "SCRAM-SHA-1") -> None:
        super().__init__()
        self._plus = mechanism.endswith("-PLUS")
        self._gs2_header = ""  # as sent in client-first, for the c= check
        self._client_nonce = ""
        self._server_nonce = ""

    # -- client ----------------------------------------------------------------------

    def client(self, data: bytes) -> Decoded:
        if not data:
            return Decoded("empty")
        text = raw_text(data)
        header = parse_gs2_header(text)
        if header is not None:
            return self._client_first(text, header)
        attrs = attributes(text)
        if any(name == "p" for name, _ in attrs):
            return self._client_final(attrs)
        return Decoded("client data", (("size", size(len(data))),), "not a SCRAM message", "data")

    def _client_first(self, text: str, header: Gs2Header) -> Decoded:
        self._gs2_header = text[: len(text) - len(header.rest)]
        cbind, authzid = header.cbind, header.authzid
        errors = [header.error] if header.error else []
        fields: list[Field] = [("channel binding", _cbind(cbind))]
        # RFC 5802 §6: -PLUS must bind the channel, and only -PLUS may
        if self._plus and not cbind.startswith("p="):
            errors.append("SCRAM -PLUS without channel binding (p=)")
        elif not self._plus and cbind.startswith("p="):
            errors.append("channel binding (p=) with a mechanism that is not -PLUS")
        if authzid:
            self.authzid = authzid
            fields.append(("authzid", authzid))
        attrs = attributes(header.rest)
        if attrs and attrs[0][0] == "m":
            errors.append("mandatory extension m= (reserved, RFC 5802 §5.1)")
        for name, value in attrs:
            if name == "n":
                self.user, name_error = unescape_saslname(value)
                fields.append(("user", self.user))
                if name_error:
                    errors.append(name_error)
            elif name == "r":
                self._client_nonce = value
                fields.append(("nonce", printable(value)))
            else:
                fields.append((printable(name) or "unparsed", Secret(value, "data")))
        errors += _missing(attrs, "n", "r")
        return Decoded("client-first", tuple(fields), "; ".join(errors))

    def _client_final(self, attrs: list[tuple[str, str]]) -> Decoded:
        fields: list[Field] = []
        errors: list[str] = []
        for name, value in attrs:
            if name == "c":
                fields.append(("channel binding", self._channel_binding(value, errors)))
            elif name == "r":
                fields.append(("nonce", printable(value)))
                if self._server_nonce and value != self._server_nonce:
                    errors.append("nonce differs from the server-first nonce")
            elif name == "p":
                fields.append(("proof", Secret(value, "proof")))
            else:
                fields.append((printable(name) or "unparsed", Secret(value, "data")))
        errors += _missing(attrs, "c", "r")
        return Decoded("client-final", tuple(fields), "; ".join(errors), secret="proof")

    def _channel_binding(self, value: str, errors: list[str]) -> str:
        """RFC 5802 §5.1 ``c=``: Base64 of the GS2 header plus any channel-binding data."""
        decoded, _ = decode_base64(value)
        if decoded is None:
            errors.append("c= is not Base64")
            return printable(value)
        text = raw_text(decoded)
        header = parse_gs2_header(text)
        if header is None:
            errors.append("c= does not start with a GS2 header")
            return size(len(decoded))
        prefix = text[: len(text) - len(header.rest)]
        if self._gs2_header and prefix != self._gs2_header:
            errors.append("c= does not repeat the client-first GS2 header")
        extra = len(decoded) - len(prefix.encode("utf-8", "surrogateescape"))
        return printable(prefix) + (f" + {size(extra)} of channel-binding data" if extra else "")

    # -- server ----------------------------------------------------------------------

    def server(self, data: bytes) -> Decoded:
        if not data:
            return Decoded("empty")
        attrs = attributes(raw_text(data))
        names = {name for name, _ in attrs}
        if "v" in names or "e" in names or self.server_steps:
            # RFC 5802 §3, §5: the second challenge is the server-final message, whatever
            # it holds (one without v= or e= is a broken server-final, not a server-first)
            return self._server_final(attrs)
        fields: list[Field] = []
        errors: list[str] = []
        for name, value in attrs:
            if name == "r":
                self._server_nonce = value
                fields.append(("nonce", printable(value)))
                if self._client_nonce and not value.startswith(self._client_nonce):
                    errors.append("server nonce does not extend the client nonce")
            elif name == "s":
                fields.append(("salt", printable(value)))
                if decode_base64(value)[0] is None:
                    errors.append("salt is not Base64")
            elif name == "i":
                fields.append(("iterations", printable(value)))
                if not value.isdigit():
                    errors.append("iteration count is not a number")
            else:
                fields.append((printable(name) or "unparsed", printable(value)))
        errors += _missing(attrs, "r", "s", "i")
        return Decoded("server-first", tuple(fields), "; ".join(errors))

    @staticmethod
    def _server_final(attrs: list[tuple[str, str]]) -> Decoded:
        fields: list[Field] = []
        label = "server-final"
        for name, value in attrs:
            if name == "v":
                fields.append(("verifier", printable(value)))
            elif name == "e":
                label = "server-error"
                fields.append(("error", printable(value)))
            else:
                fields.append((printable(name) or "unparsed", printable(value)))
        missing = "" if {"v", "e"} & {n for n, _ in attrs} else "no v= or e= attribute"
        return Decoded(label, tuple(fields), missing)


def _missing(attrs: list[tuple[str, str]], *names: str) -> list[str]:
    present = {name for name, _ in attrs}
    return [f"no {name}= attribute" for name in names if name not in present]
