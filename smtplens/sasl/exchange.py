"""One AUTH exchange: strict Base64, cancel, and dispatch to the mechanism decoders.

RFC 4954 §4 framing, which is the same for every mechanism:

* ``AUTH mechanism [initial-response]``; an initial response of ``=`` is empty;
* the server sends ``334 SP [base64]`` challenges (the text may be empty);
* the client answers each with one Base64 line, or ``*`` to cancel (the server then
  MUST answer 501);
* Base64 is decoded strictly (RFC 4648 §4: no whitespace, padding required). A line
  that is not Base64 is kept raw with ``valid_base64=False``; a client one is a Secret,
  since it may be a password typed in clear.

Nothing here raises on protocol data: the decoders turn every oddity into a step
``error``, and a last-resort guard turns a decoder bug into one too.
"""

from __future__ import annotations

from collections.abc import Callable

from smtplens.sasl.base import MASKED_LABEL, Decoded, Mechanism, SaslStep, decode_base64, is_masked
from smtplens.sasl.challenge import Cram, DigestMd5
from smtplens.sasl.gssapi import Gssapi
from smtplens.sasl.ntlm import Ntlm
from smtplens.sasl.oauth import OAuthBearer, XOAuth2
from smtplens.sasl.plain_login import Anonymous, External, Login, Plain
from smtplens.sasl.scram import Scram
from smtplens.secret import Secret
from smtplens.stream import Direction

CANCEL = "*"  # RFC 4954 §4
EMPTY_INITIAL_RESPONSE = "="  # RFC 4954 §4

#: mechanism name (uppercase, as on the wire) -> decoder factory
DECODERS: dict[str, Callable[[], Mechanism]] = {
    "PLAIN": Plain,
    "LOGIN": Login,
    "EXTERNAL": External,
    "ANONYMOUS": Anonymous,
    "DIGEST-MD5": DigestMd5,
    "XOAUTH2": XOAuth2,
    "OAUTHBEARER": OAuthBearer,
    "NTLM": Ntlm,
    "MSN": Ntlm,  # the old Microsoft name of AUTH NTLM
    "GSSAPI": Gssapi,
    "GSS-SPNEGO": Gssapi,
}

#: mechanisms whose client answers carry the password itself (RFC 4616, LOGIN)
SENDS_PASSWORD = frozenset({"PLAIN", "LOGIN"})


def decoder_for(mechanism: str) -> Mechanism:
    """A fresh decoder for ``mechanism`` (the base :class:`Mechanism` if unknown)."""
    factory = DECODERS.get(mechanism)
    if factory is not None:
        return factory()
    if mechanism.startswith("SCRAM-"):
        return Scram(mechanism)
    if mechanism.startswith("CRAM-"):
        return Cram(mechanism)
    return Mechanism()


class SaslExchange:
    """State of one AUTH exchange (one per AUTH command).

    Feed it the lines in order: :meth:`initial_response` for the text after the
    mechanism on the AUTH line (if any), then :meth:`server` for each 334 and
    :meth:`client` for each answer. Every call returns a :class:`SaslStep` and none
    raises, whatever the input.
    """

    def __init__(self, mechanism: str) -> None:
        self.mechanism = mechanism.upper()  #: as on the wire, uppercased
        self.cancelled = False  #: the client sent ``*``
        self._decoder = decoder_for(self.mechanism)

    @property
    def user(self) -> str | None:
        """The authentication identity (authcid) once decoded, else None."""
        return self._decoder.user

    @property
    def authzid(self) -> str | None:
        """The authorization identity, when the client gave a non-empty one."""
        return self._decoder.authzid

    @property
    def secrets_masked(self) -> bool:
        """True once a step that carries a reusable secret was masked by the log: the
        secret is not in the file, but it was sent as the mechanism sends it."""
        return self._decoder.secrets_masked

    @property
    def secrets_exposed(self) -> bool:
        """True once a step carried a reusable secret in recoverable form (a PLAIN or
        LOGIN password, an XOAUTH2 or OAUTHBEARER token)."""
        return self._decoder.secrets_exposed

    def initial_response(self, text: str) -> SaslStep:
        """The initial response on the AUTH line; ``=`` means empty (RFC 4954 §4)."""
        return self._client(text, initial=True)

    def client(self, text: str) -> SaslStep:
        """One client line answering a 334; ``*`` cancels."""
        return self._client(text, initial=False)

    def server(self, text: str) -> SaslStep:
        """The text of a 334 reply (after ``334 ``), possibly empty."""
        data, why = decode_base64(text)
        try:
            if data is None:
                raw = self._decoder.undecodable_server(text)
                label, fields = (raw.label, raw.fields) if raw else ("not Base64", ())
                return SaslStep(Direction.SERVER, text, False, label, fields, why)
            decoded = self._decoder.server(data)
        except Exception as exc:  # last resort: a decoder bug must not stop the analysis
            return _failure(Direction.SERVER, text, data is not None, exc)
        finally:
            self._decoder.server_steps += 1
        return SaslStep(Direction.SERVER, text, True, decoded.label, decoded.fields, decoded.error)

    def _client(self, text: str, initial: bool) -> SaslStep:
        if text == CANCEL:
            self.cancelled = True
            return SaslStep(Direction.CLIENT, text, True, "cancel")
        if is_masked(text):
            # the log hid the credentials: keep the step (and LOGIN's count of answers),
            # decode nothing, report no Base64 error and no exposed secret
            self._decoder.undecodable_client(text)
            self._decoder.client_steps += 1
            if self.mechanism in SENDS_PASSWORD:
                self._decoder.secrets_masked = True
            return SaslStep(Direction.CLIENT, text, True, MASKED_LABEL)
        data: bytes | None
        if initial and text == EMPTY_INITIAL_RESPONSE:
            data, why = b"", ""
        else:
            data, why = decode_base64(text)
            if text == EMPTY_INITIAL_RESPONSE:
                why += " ('=' means empty only on the AUTH line)"
        try:
            if data is None:
                self._decoder.undecodable_client(text)
                return SaslStep(
                    Direction.CLIENT, Secret(text, "undecoded"), False, "not Base64", (), why
                )
            decoded: Decoded = self._decoder.client(data)
        except Exception as exc:  # last resort, as in server()
            return _failure(Direction.CLIENT, Secret(text, "undecoded"), data is not None, exc)
        finally:
            self._decoder.client_steps += 1
        # a line holding any secret field must not show its Base64 either
        kind = decoded.secret or next(
            (value.kind for _, value in decoded.fields if isinstance(value, Secret)), ""
        )
        wire: str | Secret = Secret(text, kind) if kind else text
        return SaslStep(Direction.CLIENT, wire, True, decoded.label, decoded.fields, decoded.error)


def _failure(direction: Direction, wire: str | Secret, valid: bool, exc: Exception) -> SaslStep:
    return SaslStep(
        direction, wire, valid, "undecoded", error=f"decoder failure ({type(exc).__name__})"
    )
