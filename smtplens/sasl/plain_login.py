"""Clear-text mechanisms: PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login),
EXTERNAL (RFC 4422 appendix A) and ANONYMOUS (RFC 4505).

PLAIN and LOGIN carry the password itself (Base64 is an encoding, not a protection),
so a decoded password marks the exchange ``secrets_exposed``.
"""

from __future__ import annotations

import re

from smtplens.sasl.base import (
    MASKED_LABEL,
    Decoded,
    Field,
    Mechanism,
    is_masked,
    is_text,
    printable,
    raw_text,
    size,
)
from smtplens.secret import Secret


class Plain(Mechanism):
    """RFC 4616 §2: ``message = [authzid] UTF8NUL authcid UTF8NUL passwd``.

    The client sends the message as the initial response or in answer to an empty
    334 (RFC 4954 §4); the server has nothing to say in between.
    """

    def client(self, data: bytes) -> Decoded:
        if not data:
            return Decoded("empty", error="PLAIN needs authzid NUL authcid NUL password")
        parts = data.split(b"\0")
        if len(parts) != 3:
            # a malformed message still most likely holds the password: keep it secret
            return Decoded(
                "credentials",
                error=f"malformed PLAIN message: {len(parts) - 1} NUL separator(s), expected 2",
                secret="password",
            )
        authzid, authcid, passwd = (raw_text(p) for p in parts)
        fields: list[Field] = []
        if authzid:
            self.authzid = printable(authzid)
            fields.append(("authzid", self.authzid))
        self.user = printable(authcid)
        fields.append(("user", self.user))
        if is_masked(passwd):
            # the log replaced the password inside the Base64 (Nodemailer writes
            # "\0alice\0/* secret */"): the user is real, there is no secret to hide
            fields.append(("password", MASKED_LABEL))
            self.secrets_masked = True
            return Decoded("credentials", tuple(fields),
                           "empty user name" if not authcid else "")
        fields.append(("password", Secret(passwd, "password")))
        self.secrets_exposed = True
        problems = [
            what
            for what, missing in (("empty user name", not authcid), ("empty password", not passwd))
            if missing
        ]
        return Decoded("credentials", tuple(fields), "; ".join(problems), secret="password")


#: prompt words, lowercased: anything naming a password wins over a user-name word
_PASSWORD_WORDS = ("pass", "pwd", "kennwort")
_USER_WORDS = ("user", "login", "name", "account", "benutzer")


#: a prompt shown in clear by a log ("Username:"), not some other non-Base64 text
_CLEAR_PROMPT = re.compile(r"[A-Za-z][A-Za-z ]{0,30}:")


def classify_prompt(text: str) -> str | None:
    """``"user"``, ``"password"`` or None for a LOGIN prompt text ("Username:", "Password\\0")."""
    words = text.lower()
    if any(w in words for w in _PASSWORD_WORDS):
        return "password"
    if any(w in words for w in _USER_WORDS):
        return "user"
    return None


class Login(Mechanism):
    """LOGIN: the server prompts for the user name, then the password, one 334 each.

    The prompt texts are not standardised: most servers send ``Username:`` and
    ``Password:``, some ``User Name\\0`` and ``Password\\0`` (stalwartlabs/smtp-server#21).
    The answer after a user-like prompt is the user name, after a password-like prompt
    the password; with an unknown prompt we fall back on the order (first answer user,
    then password). An initial response on the AUTH line is the user name, so the
    next prompt asks for the password (rnwood/smtp4dev#17).

    Where prompt and order disagree (a server asking "Username:" again after the
    initial response), the answer is taken as the password: most clients (smtplib,
    curl) answer by order, and mistaking a user name for a password only hides it,
    while the reverse would print a password.
    """

    def __init__(self) -> None:
        super().__init__()
        self._expect: str | None = None  # what the last prompt asked for

    def server(self, data: bytes) -> Decoded:
        if not data:
            self._expect = None
            return Decoded("empty")
        return self._prompt(raw_text(data))

    def undecodable_server(self, text: str) -> Decoded | None:
        # some logs (swaks --auth-plaintext) show the prompts decoded: still a prompt
        if _CLEAR_PROMPT.fullmatch(text) and classify_prompt(text):
            return self._prompt(text)
        return None

    def _prompt(self, text: str) -> Decoded:
        self._expect = classify_prompt(text)
        shown = printable(text)
        return Decoded(f'prompt "{shown}"', (("prompt", shown),))

    def client(self, data: bytes) -> Decoded:
        role = self._next_role()
        text = raw_text(data)
        if role == "user":
            if not text.isprintable():
                # a clear-text answer that happens to be valid Base64 ("password" is):
                # its decoding is junk, and re-encoding the junk would give it back
                return Decoded(
                    "username",
                    (("size", size(len(data))),),
                    "decodes to binary: perhaps a clear-text answer",
                    secret="undecoded",
                )
            self.user = printable(text)
            return Decoded("username", (("user", self.user),))
        self.secrets_exposed = True
        return Decoded("password", (("password", Secret(text, "password")),), secret="password")

    def undecodable_client(self, text: str) -> None:
        self._next_role()

    def _next_role(self) -> str:
        first, asked = self.client_steps == 0, self._expect
        self._expect = None
        return "user" if first and asked != "password" else "password"


class External(Mechanism):
    """RFC 4422 appendix A: the client sends only an authorization identity, which may
    be empty (act as the identity the external channel, usually TLS, established)."""

    def client(self, data: bytes) -> Decoded:
        self.authzid = printable(raw_text(data)) or None
        label = "authzid" if data else "authzid (empty: the external identity)"
        return Decoded(label, (("authzid", self.authzid or ""),))


class Anonymous(Mechanism):
    """RFC 4505 §2: the client may send trace information (often an e-mail address)."""

    def client(self, data: bytes) -> Decoded:
        if not data:
            return Decoded("empty")
        if is_text(data):
            return Decoded("trace", (("trace", printable(raw_text(data))),))
        return Decoded("trace", (("size", size(len(data))),), "trace is not UTF-8 text")
