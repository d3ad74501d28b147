"""Header blocks of a message and of its MIME parts (RFC 5322 §2.2, RFC 2045, 2047, 2231).

A block is collected only up to a cap, but its end (the first empty line) is still found
past the cap, so the body starts at the right octet whatever the block's length. The top
block is parsed by the standard ``email`` package (``compat32`` policy: it keeps raw values
and never builds the structured header objects, whose parsers can raise on hostile input);
part blocks, which can be many, only have their Content-Type and Content-Disposition picked
out. Parameters (RFC 2231) and encoded-words (RFC 2047) are decoded by the email package.
Values are reported as on the wire, unfolded; only the subject and file names are decoded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser

_PARSER = BytesHeaderParser(policy=policy.compat32)

# RFC 5322 §2.2.3: unfolding removes every line break that is followed by WSP.
_FOLD = re.compile(r"(?:\r\n|\r|\n)(?=[ \t])")
# RFC 2047 §2: encoded-word = "=?" charset "?" encoding "?" encoded-text "?="
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_BOUNDARY_MAX = 200  # RFC 2046 §5.1.1 allows 70; real mailers go beyond, junk goes further
_BLANK_CRLF = b"\n\r\n"
_BLANK_LF = b"\n\n"
# RFC 2045 §5, RFC 2183 §2: the two fields that shape an entity, with their folded lines
_MIME_FIELD = re.compile(
    rb"^(content-(?:type|disposition))[ \t]*:([^\r\n]*(?:(?:\r\n|\r|\n)[ \t][^\r\n]*)*)",
    re.IGNORECASE | re.MULTILINE,
)


class HeaderBlock:
    """Collects one header block (up to and including its empty line), keeping ``cap`` octets."""

    __slots__ = ("_last", "cap", "data", "ended", "size")

    def __init__(self, cap: int) -> None:
        self.cap = max(cap, 0)
        self.data = bytearray()  #: the first ``cap`` octets of the block
        self.size = 0  #: octets of the block seen so far (all of it once ``ended``)
        self.ended = False  #: the empty line was seen
        self._last = b"\n"  # last two octets seen; a block starts at a line start

    @property
    def cut(self) -> bool:
        """More octets belong to the block than were kept."""
        return self.size > self.cap

    def push(self, buf: bytes, start: int, end: int) -> int:
        """Take ``buf[start:end]``; return the index just past the empty line, or -1."""
        if self.ended or start >= end:
            return -1
        stop = _blank_line_end(self._last, buf, start, end)
        upto = end if stop < 0 else stop
        room = self.cap - len(self.data)
        if room > 0:
            self.data += buf[start : min(upto, start + room)]
        self.size += upto - start
        self._last = (self._last + buf[max(start, upto - 2) : upto])[-2:]
        self.ended = stop >= 0
        return stop


def _blank_line_end(last: bytes, buf: bytes, start: int, end: int) -> int:
    # RFC 5322 §2.1: the header ends at the first empty line; a bare-LF one is tolerated.
    # ``last`` (two octets at most) covers an empty line split over two pushes.
    head = last + buf[start : min(end, start + 2)]
    found = [i + len(p) for p in (_BLANK_CRLF, _BLANK_LF) if (i := head.find(p)) >= 0]
    found = [i for i in found if i > len(last)]
    if found:
        return start + min(found) - len(last)
    first = buf.find(b"\n", start, end)  # a memchr first: long runs without any line break
    if first < 0:
        return -1
    crlf = buf.find(_BLANK_CRLF, first, end)
    # an LF one ends first only if it starts at or before the CRLF one: no need to look
    # through the rest of the body for one
    lf = buf.find(_BLANK_LF, first, end if crlf < 0 else crlf + 2)
    if lf >= 0:
        return lf + len(_BLANK_LF)
    return crlf + len(_BLANK_CRLF) if crlf >= 0 else -1


# RFC 5322 §2.2: a field is a name (printable ASCII but the colon), a colon and a body
# whose continuation lines start with WSP; CRLF or a bare LF ends a line. A block of
# such fields only, ended by an empty line or not at all, is the common block.
_NAME = rb"[\x21-\x39\x3b-\x7e]+"
_COMMON_BLOCK = re.compile(rb"(?:" + _NAME + rb":[^\r\n]*\r?\n(?:[ \t][^\r\n]*\r?\n)*)*(?:\r?\n)?")
_FOLD_OCTETS = re.compile(rb"\r?\n(?=[ \t])")
# one unfolded field: its name and its value without the white space around it
_FIELD = rb"(" + _NAME + rb"):[ \t]*((?:[^\r\n]*[^ \t\r\n])?)[ \t]*\r?\n"
_FIELD_OCTETS = re.compile(_FIELD)
_FIELD_TEXT = re.compile(_FIELD.decode("ascii"))


def read_block(block: bytes) -> tuple[list[tuple[str, str]], PartHeaders]:
    """The (name, unfolded wire value) pairs of a top header block, and what its MIME
    fields say: what :func:`fields` and :func:`describe` give for :func:`parse_block`.

    The common block (fields and their continuation lines only) is read with regular
    expressions over the whole block; any other (a lone CR, a line that is no field, a
    ``From`` envelope line, a block cut inside a line) goes through the email package,
    whose reading is the reference: both read the common block alike."""
    if _COMMON_BLOCK.fullmatch(block) is None:
        message = parse_block(block)
        return fields(message), describe(message)
    # every line break followed by WSP is a fold (RFC 5322 §2.2.3): unfolded, one field
    # is one line
    unfolded = _FOLD_OCTETS.sub(b"", block) if b"\n " in block or b"\n\t" in block else block
    pairs: list[tuple[str, str]]
    if unfolded.isascii():
        pairs = _FIELD_TEXT.findall(unfolded.decode("ascii"))
    else:  # the values as :func:`wire_text` reads them
        pairs = [(name.decode("ascii"), value.decode("utf-8", "backslashreplace"))
                 for name, value in _FIELD_OCTETS.findall(unfolded)]
    return pairs, describe_block(block)


def parse_block(block: bytes) -> Message:
    """Parse a header block with the email package; an empty message if it cannot."""
    try:
        return _PARSER.parsebytes(block)
    except Exception:  # the parser is lenient by design; this guards against its bugs only
        return Message()


def wire_text(value: str) -> str:
    """Text of a value the parser read as ASCII with surrogate escapes.

    Raw octets are read as UTF-8 (RFC 6532); octets that are not UTF-8 stay visible as ``\\xNN``.
    """
    if value.isascii():
        return value
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeError:
        return value.encode("utf-8", "backslashreplace").decode("ascii")
    return raw.decode("utf-8", "backslashreplace")


def unfold(value: str) -> str:
    """A raw field value on one line, without surrounding white space."""
    return _FOLD.sub("", value).strip(" \t\r\n")


def fields(message: Message) -> list[tuple[str, str]]:
    """All (name, unfolded wire value) pairs of a parsed block, in order."""
    return [(wire_text(name), wire_text(unfold(value))) for name, value in message.raw_items()]


_LEGACY_OCTET = re.compile(r"\\x([89a-f][0-9a-f])")


def decode_legacy(text: str) -> str:
    """Raw 8-bit octets that were not UTF-8 (shown as ``\\xNN`` by :func:`wire_text`) read
    as Windows-1252, what legacy mailers mean by them (Arkime does the same)."""
    if "\\x" not in text:
        return text
    return _LEGACY_OCTET.sub(
        lambda m: bytes([int(m.group(1), 16)]).decode("cp1252", "replace"), text)


def decode_words(text: str) -> str:
    """Decode the RFC 2047 encoded-words in ``text``; a word that cannot be decoded stays raw."""
    if "=?" not in text:
        return text
    try:
        return str(make_header(decode_header(text)))
    except Exception:  # unknown charset, bad base64, raw 8-bit text next to encoded-words
        pass
    out: list[str] = []
    pos = 0
    previous_was_word = False
    for match in _ENCODED_WORD.finditer(text):
        gap = text[pos : match.start()]
        # RFC 2047 §6.2: white space between adjacent encoded-words is not displayed.
        if not (previous_was_word and gap.strip(" \t") == ""):
            out.append(gap)
        out.append(_decode_word(match.group()))
        pos = match.end()
        previous_was_word = True
    out.append(text[pos:])
    return "".join(out)


def _decode_word(word: str) -> str:
    charset, rest = word[2:].split("?", 1)
    # RFC 2231 §5: "charset*language" inside an encoded-word; the codec wants the charset only.
    fixed = "=?" + charset.split("*", 1)[0] + "?" + rest
    try:
        return str(make_header(decode_header(fixed)))
    except Exception:
        return word


@dataclass(frozen=True, slots=True)
class PartHeaders:
    """What the MIME fields of one entity say about its body."""

    content_type: str  #: lowercased "type/subtype"
    disposition: str | None  #: lowercased disposition type, quotes removed
    filename: str | None  #: decoded file name
    boundary: bytes | None  #: for a multipart with a usable boundary

    @property
    def is_attachment(self) -> bool:
        """A file, an image, an enclosed message: anything but plain text and multipart bodies."""
        if self.filename is not None or self.disposition == "attachment":
            return True
        return self.content_type.partition("/")[0] not in ("text", "multipart")


def describe(message: Message, default_type: str = "text/plain") -> PartHeaders:
    """Content type, disposition, file name and boundary of a parsed entity header."""
    found: dict[bytes, bytes] = {}
    for name, value in message.raw_items():
        key = name.lower().encode("ascii", "replace")
        if key in (b"content-type", b"content-disposition") and key not in found:
            found[key] = _wire_octets(value)
    return _describe(found, default_type)


def describe_block(block: bytes, default_type: str = "text/plain") -> PartHeaders:
    """Like :func:`describe` for a raw part header block (the fast path: most parts have
    only a Content-Type, and the block is not run through the email parser)."""
    found: dict[bytes, bytes] = {}
    for match in _MIME_FIELD.finditer(block):
        found.setdefault(match.group(1).lower(), match.group(2))
    return _describe(found, default_type)


def _describe(found: dict[bytes, bytes], default_type: str) -> PartHeaders:
    if not found:
        return PartHeaders(default_type, None, None, None)
    # The email package reads the parameters (RFC 2045 §5.1, RFC 2231). The values are
    # given to it as text, not octets: it would turn raw 8-bit ones into Header objects
    # that mangle them. Names read as UTF-8; the boundary octet for octet (Latin-1),
    # since it must match the wire. Values in the usual form (:func:`_params`) are read
    # here, the way the email package reads them.
    type_value = found.get(b"content-type")
    disposition = found.get(b"content-disposition")
    content_type = default_type if type_value is None else _content_type(type_value)
    type_params = None
    boundary = filename = None
    if content_type.startswith("multipart/"):
        type_params = _params(type_value)
        if type_params is None:
            boundary = _boundary(_entity(found, _latin1, default_type))
        else:
            value = type_params.get("boundary")
            boundary = None if value is None else _boundary_octets(value.rstrip())
    # the parameter parse is the slow part: skip it when no "name" parameter can be there
    if any(b"name" in v.lower() for v in found.values()):
        if type_params is None:
            type_params = _params(type_value)
        disposition_params = _params(disposition)
        if type_params is None or disposition_params is None:
            filename = _filename(_entity(found, _utf8, default_type))
        else:
            name = disposition_params.get("filename")
            if name is None:
                name = type_params.get("name")
            filename = None if name is None else decode_words(unfold(name.strip()))
    return PartHeaders(
        content_type=content_type,
        disposition=None if disposition is None else _disposition(_utf8(disposition)),
        filename=filename,
        boundary=boundary,
    )


def _content_type(value: bytes) -> str:
    # what email.message.Message.get_content_type() says (RFC 2045 §5.2: an invalid type
    # is text/plain)
    ctype = _utf8(value).strip(" \t").partition(";")[0].strip().lower()
    return ctype if ctype.count("/") == 1 else "text/plain"


# The usual form of a Content-Type or Content-Disposition value: printable ASCII, a
# value with neither "=" nor quotes, then "; name=value" parameters with plain names (no
# RFC 2231 "*"), the values tokens or quoted strings without backslash, quote, ";", "<"
# or ">". For those the email package's get_param() gives back the value itself.
_HEAD = re.compile(rb'[ \t]*([^\x00-\x20;="\\\x7f]+)[ \t\r\n]*')
_PARAM = re.compile(
    rb'(?:;[ \t\r\n]*([A-Za-z0-9_.-]+)='
    rb'(?:"([\x20\x21\x23-\x3a\x3d\x3f-\x5b\x5d-\x7e]+)"|([\x21\x23-\x3a\x3d\x3f-\x5b\x5d-\x7e]+))'
    rb'[ \t\r\n]*)')
_PARAM_NAMES = (b"boundary", b"name", b"filename")  # a bare head with one of these names


def _params(value: bytes | None) -> dict[str, str] | None:
    """The parameters of a value in the usual form, lowercased names to values, the first
    of each name; ``{}`` for no value; None for a value in any other form."""
    if value is None:
        return {}
    if not value.isascii():
        return None
    head = _HEAD.match(value)
    if head is None or head.group(1).lower() in _PARAM_NAMES:
        return None
    params: dict[str, str] = {}
    pos, end = head.end(), len(value)
    while pos < end:
        param = _PARAM.match(value, pos)
        if param is None:
            return None
        name, quoted, token = param.groups()
        params.setdefault(name.decode("ascii").lower(), (quoted or token).decode("ascii"))
        pos = param.end()
    return params


def _entity(found: dict[bytes, bytes], decode: Callable[[bytes], str], default: str) -> Message:
    entity = Message()
    entity.set_default_type(default)  # RFC 2046 §5.1.5: parts of a digest
    for name, value in found.items():
        entity[name.decode("ascii")] = decode(value).strip(" \t")
    return entity


def _utf8(value: bytes) -> str:
    return value.decode("utf-8", "backslashreplace")


def _latin1(value: bytes) -> str:
    return value.decode("latin-1")


def _wire_octets(value: str) -> bytes:
    try:
        return value.encode("ascii", "surrogateescape")
    except UnicodeError:
        return value.encode("utf-8", "surrogateescape")


def _disposition(value: str) -> str | None:
    # the value as email.message.Message.get() gives it
    kind = value.strip(" \t").split(";", 1)[0].strip(" \t\r\n\"'").lower()
    return kind or None


def _filename(message: Message) -> str | None:
    try:
        name = message.get_filename()
    except Exception:  # malformed RFC 2231 parameters
        return None
    if not isinstance(name, str):
        return None
    return decode_words(unfold(name))


def _boundary(message: Message) -> bytes | None:
    try:
        value = message.get_boundary()
    except Exception:
        return None
    return _boundary_octets(value)


def _boundary_octets(value: str | None) -> bytes | None:
    if not value:
        return None
    try:
        raw = value.encode("latin-1")
    except UnicodeError:  # RFC 2231 boundary*=utf-8''...: decoded to characters past Latin-1
        try:
            raw = value.encode("utf-8")
        except UnicodeError:
            return None
    # A boundary with a line break could never start a line; one that long is not a boundary.
    if len(raw) > _BOUNDARY_MAX or b"\r" in raw or b"\n" in raw:
        return None
    return raw
