"""Shared pieces of the SASL decoders: the step record, strict Base64, display-safe text.

Every mechanism decoder is a small :class:`Mechanism` object holding the state of one
exchange. It receives the *decoded* bytes of each line and returns a :class:`Decoded`
(label, fields, error, and whether the line carries a secret);
:class:`~smtplens.sasl.exchange.SaslExchange` does the Base64 and the cancel handling
and turns each result into a :class:`SaslStep`.

Nothing here does I/O, and nothing raises on protocol data: whatever cannot be parsed
becomes an ``error`` string on the step.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from smtplens.secret import Secret
from smtplens.stream import Direction

FieldValue = str | Secret
Field = tuple[str, FieldValue]

#: fields kept out of the one-line :meth:`SaslStep.describe` unless ``verbose`` (they stay
#: in ``fields`` for the JSON/CSV views)
DETAIL_FIELDS = frozenset(
    {
        "flags",
        "OS version",
        "AV flags",
        "timestamp",
        "single host",
        "channel bindings",
        "LM response length",
        "NT response length",
        "session key length",
    }
)


@dataclass(frozen=True, slots=True)
class SaslStep:
    """One line of an AUTH exchange, decoded as far as the mechanism allows."""

    direction: Direction  #: who sent the line
    #: the line as sent (Base64 text); a :class:`Secret` when it encodes a secret or is an
    #: undecodable client line (it may be a password typed in clear)
    wire: str | Secret
    valid_base64: bool  #: False: the line is shown raw and the engine reports it
    label: str  #: short meaning: ``prompt "Username:"``, ``username``, ``cancel``, ...
    fields: tuple[Field, ...] = ()  #: decoded parts, secrets as :class:`Secret`
    error: str = ""  #: why the line could not be decoded or parsed, if so

    def describe(self, reveal: bool = False, verbose: bool = False) -> str:
        """One line for humans: label and fields, secrets redacted unless ``reveal``.

        A prompt shows just its decoded text (``Username:``). The label is left out when
        a field already carries its name (``user "alice"`` for a ``username`` step) and
        a trailing gloss in parentheses is dropped before the fields
        (``NTLM type 3: ...``). Fields in :data:`DETAIL_FIELDS` appear only when
        ``verbose``.
        """
        if self.label.startswith("prompt ") and len(self.fields) == 1:
            return _show(self.fields[0][1], reveal, quoted=False)
        shown = [f for f in self.fields if verbose or f[0] not in DETAIL_FIELDS]
        if not shown:
            text = self.label
        else:
            parts = ", ".join(f"{name} {_show(value, reveal)}" for name, value in shown)
            if any(name and self.label.startswith(name) for name, _ in self.fields):
                text = parts
            else:
                text = f"{_GLOSS.sub('', self.label)}: {parts}"
        if self.error:
            text += f"; {self.error}" if shown else f": {self.error}"
        return text


_GLOSS = re.compile(r"\s*\([^()]*\)$")


def _show(value: FieldValue, reveal: bool, quoted: bool = True) -> str:
    if isinstance(value, Secret):
        if not reveal:
            return value.redacted()
        value = printable(value.value)
    if not quoted:
        return value
    return '"' + value.replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class Decoded:
    """What a mechanism made of one decoded line (the exchange adds wire and direction)."""

    label: str
    fields: tuple[Field, ...] = ()
    error: str = ""
    secret: str = ""  #: :class:`Secret` kind for the wire text; empty: not a secret


class Mechanism:
    """Decoder state for one exchange; the base class serves unknown mechanisms.

    Subclasses override :meth:`server` and :meth:`client` (and the ``undecodable_*``
    hooks when a raw line still tells them something). The exchange counts the steps.
    """

    def __init__(self) -> None:
        self.user: str | None = None  #: authentication identity, once decoded
        self.authzid: str | None = None  #: authorization identity, when one was given
        self.secrets_exposed = False  #: a reusable secret was seen in recoverable form
        #: a reusable secret was sent but the log masked it (still sent in clear)
        self.secrets_masked = False
        self.client_steps = 0  #: client lines seen so far (initial response included)
        self.server_steps = 0  #: 334 challenges seen so far

    def server(self, data: bytes) -> Decoded:
        """A decoded 334 challenge."""
        return generic_challenge(data)

    def client(self, data: bytes) -> Decoded:
        """A decoded client line. Unknown mechanism: we cannot know what it holds."""
        if not data:
            return Decoded("empty")
        return Decoded("client data", (("size", size(len(data))),), secret="data")

    def undecodable_server(self, text: str) -> Decoded | None:
        """A 334 text that is not Base64: a label for it, or None for the default."""
        return None

    def undecodable_client(self, text: str) -> None:
        """A client line that is not Base64 (lets ordered mechanisms keep count)."""


def generic_challenge(data: bytes) -> Decoded:
    """A server challenge the mechanism gives no meaning to: its text, or its size."""
    if not data:
        return Decoded("empty")
    if is_text(data):
        return Decoded("challenge", (("challenge", text_of(data)),))
    return Decoded("challenge", (("size", size(len(data))),))


# -- credentials a log masked before it was written or pasted ----------------------

#: the label of a step whose text a log replaced by a mask: there is nothing to decode
MASKED_LABEL = "masked by the log"

# "****", "XXXX" (valid Base64, but no client sends it), "<base64 scrambled>",
# "[credentials hidden]", "<hidden>", "/* hidden */", "[...]": never a real answer,
# which is Base64 (RFC 4954 §4) and has no brackets, spaces or runs of '*'
_MASK = re.compile(
    r"\*{2,}|[Xx]{3,}|#{3,}|\.{3}|…|\[\.{3}\]|/\*[^*]{0,40}\*/"
    r"|[<\[({]\s*[A-Za-z][A-Za-z0-9 _.+/:,;'&|-]{0,60}[>\])}]"
    r"|(?i:redacted|hidden|masked|removed|scrubbed|snip)"
)

# Base64 a person masked in part before pasting it ("c3Bmbxxxxxx=", "eGJ4RxxxxxxxxxU=",
# "dXNlcg****"): Base64 letters around one run of a mask character. '*' and '#' are
# not Base64 at all; a run of four or more of one 'x' or 'X' is valid Base64, so that
# form counts only in a short line that does not decode to text (a real answer that
# decodes to text, like the Base64 of "xxxx@example.test", is never a mask)
_PART_MASK = re.compile(r"[A-Za-z0-9+/]*(?:\*{3,}|#{3,}|x{4,}|X{4,})[A-Za-z0-9+/]*=*")
_X_RUN = re.compile(r"x{4,}|X{4,}")
#: longest line whose 'x' run is taken for a mask (masked passwords and user names are
#: short; a long NTLM or GSSAPI blob may hold "xxxx" by chance)
_X_MASK_MAX = 64


def is_masked(text: str) -> bool:
    """True when a log put a mask where an AUTH line's Base64 was (``AUTH PLAIN ****``,
    ``[base64 user+pass]``, ``c3Bmbxxxxxx=``)."""
    text = text.strip()
    if _MASK.fullmatch(text) is not None:
        return True
    if _PART_MASK.fullmatch(text) is None:
        return False
    if "*" in text or "#" in text:  # not in the Base64 alphabet: a mask
        return True
    if len(text) > _X_MASK_MAX or not _X_RUN.search(text):
        return False
    data, _ = decode_base64(text)
    # strict Base64 that decodes to text (NULs allowed: PLAIN) is a real answer
    return data is None or not is_text(data.replace(b"\0", b" "))


# -- Base64 (RFC 4648 §4), strictly: no whitespace, padding required -----------------

_NOT_B64 = re.compile(r"[^A-Za-z0-9+/=]")
_EARLY_PAD = re.compile(r"=+[^=]")


def decode_base64(text: str) -> tuple[bytes | None, str]:
    """``(data, "")`` for valid Base64 (empty text is empty data), else ``(None, why)``
    where ``why`` reads after "not Base64: " (``whitespace at offset 4``)."""
    try:
        return base64.b64decode(text, validate=True), ""
    except (binascii.Error, ValueError) as exc:
        return None, _why_not_base64(text, exc)


def _why_not_base64(text: str, exc: Exception) -> str:
    bad = _NOT_B64.search(text)
    if bad is not None:
        char = bad.group()
        what = "whitespace" if char.isspace() else f"character {char!r}"
        return f"{what} at offset {bad.start()}"
    if _EARLY_PAD.search(text):
        return "'=' padding before the end"
    if len(text) % 4:
        return f"length {len(text)} is not a multiple of 4"
    return str(exc)


# -- display-safe text ----------------------------------------------------------------

_ESCAPES = {"\0": "\\0", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\xa0\xad]")


def printable(text: str) -> str:
    """``text`` with control and other non-printable characters escaped (NUL as ``\\0``)."""
    if text.isprintable():
        return text
    # the usual culprits (C0, DEL, C1) in one C-speed pass, then anything rarer
    text = _CONTROLS.sub(lambda m: _escape(m.group()), text)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


#: what :func:`wire_text` escapes: C0 and C1 controls, DEL, line and paragraph
#: separators, bidi overrides, and lone surrogates (non-UTF-8 wire bytes travel in text
#: as surrogate escapes, U+DC80..U+DCFF)
_WIRE_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_WIRE_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def wire_text(text: str) -> str:
    """Wire text as every view shows it (a finding's detail and its ``bytes:`` excerpt,
    in text, JSON and HTML alike): a byte that was not UTF-8 as ``\\xac`` (the byte, not
    the surrogate escape that carried it), CR, LF, TAB as ``\\r \\n \\t``, any other
    control as ``\\x0c``, separators and bidi controls as ``\\u202e``; printable text
    (any script) is kept."""
    if _WIRE_UNSAFE.search(text) is None:
        return text
    return _WIRE_UNSAFE.sub(_wire_escape, text)


def _wire_escape(m: re.Match[str]) -> str:
    ch = m.group()
    if ch in _WIRE_ESCAPES:
        return _WIRE_ESCAPES[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape of byte code - 0xDC00
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def raw_text(data: bytes) -> str:
    """Bytes as text: UTF-8 when valid, else Latin-1 (every byte maps, nothing is lost)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def text_of(data: bytes) -> str:
    """Bytes as display-safe text (see :func:`raw_text` and :func:`printable`)."""
    return printable(raw_text(data))


def is_text(data: bytes) -> bool:
    """True when ``data`` is UTF-8 with nothing but printable characters (and tabs)."""
    try:
        return data.decode("utf-8").replace("\t", " ").isprintable()
    except UnicodeDecodeError:
        return False


def size(n: int) -> str:
    return "1 byte" if n == 1 else f"{n} bytes"


# -- RFC 5801 §4 GS2 header, shared by SCRAM (RFC 5802) and OAUTHBEARER (RFC 7628) ----

_GS2 = re.compile(r"(F,)?(n|y|p=[A-Za-z0-9.-]+),(?:a=([^,]*))?,")
_SASLNAME_ESCAPE = re.compile(r"=(2C|3D)|=")


@dataclass(frozen=True, slots=True)
class Gs2Header:
    cbind: str  #: "n", "y" or "p=<cb-name>"
    authzid: str | None  #: unescaped, display-safe
    rest: str  #: what follows the header
    error: str = ""


def parse_gs2_header(text: str) -> Gs2Header | None:
    """The GS2 header at the start of ``text``, or None if there is none."""
    m = _GS2.match(text)
    if m is None:
        return None
    authzid, error = (None, "") if m.group(3) is None else unescape_saslname(m.group(3))
    return Gs2Header(m.group(2), authzid, text[m.end() :], error)


def unescape_saslname(value: str) -> tuple[str, str]:
    """RFC 5802 §5.1 saslname: ``=2C`` is ``,`` and ``=3D`` is ``=``; any other ``=`` is
    an error. Returns (display-safe name, error)."""
    bad = False

    def repl(m: re.Match[str]) -> str:
        nonlocal bad
        if m.group(1) is None:
            bad = True
            return "="
        return "," if m.group(1) == "2C" else "="

    name = _SASLNAME_ESCAPE.sub(repl, value)
    return printable(name), ("bad '=' escape in a name (RFC 5802 §5.1)" if bad else "")


def attributes(text: str) -> list[tuple[str, str]]:
    """``a=1,b=2`` pairs split at the first ``=`` (values may contain ``=``, e.g. Base64)."""
    pairs = []
    for part in text.split(","):
        name, eq, value = part.partition("=")
        pairs.append((name, value) if eq else ("", part))
    return pairs
