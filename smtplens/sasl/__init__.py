"""SASL decoders for SMTP AUTH (RFC 4954): one :class:`SaslExchange` per AUTH command.

Pure code: no I/O and nothing but the standard library. Each line of the exchange
becomes a :class:`SaslStep` whose secrets (passwords, tokens, challenge responses)
are :class:`~smtplens.secret.Secret` values, redacted unless a view reveals them.

Modules, one per mechanism family: :mod:`.plain_login` (PLAIN, LOGIN, EXTERNAL,
ANONYMOUS), :mod:`.challenge` (CRAM-*, DIGEST-MD5), :mod:`.oauth` (XOAUTH2,
OAUTHBEARER), :mod:`.scram`, :mod:`.ntlm`, :mod:`.gssapi`; :mod:`.base` holds the
shared step record and helpers, :mod:`.exchange` the framing and dispatch.
"""

from smtplens.sasl.base import DETAIL_FIELDS, Field, SaslStep
from smtplens.sasl.exchange import DECODERS, SaslExchange

__all__ = ["DECODERS", "DETAIL_FIELDS", "Field", "SaslExchange", "SaslStep"]
