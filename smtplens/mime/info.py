"""What the summary of one message reports: :class:`MessageInfo` and its :class:`Attachment` s."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Attachment:
    """One MIME part that carries a file, an image or an enclosed message.

    A part counts as an attachment when it has a file name, or says
    ``Content-Disposition: attachment``, or is neither text nor multipart (images,
    applications, ``message/rfc822``). Plain inline text and HTML bodies are not attachments.
    """

    filename: str | None  #: RFC 2231 / RFC 2047 decoded; Content-Disposition filename or type name
    content_type: str  #: lowercased "type/subtype" (RFC 2045 §5.2 default: text/plain)
    disposition: str | None  #: "attachment", "inline" (lowercased, unquoted) or None
    size: int  #: octets of the part body as transferred (still encoded), without its delimiters


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """Summary of one message (RFC 5322 / MIME), built without keeping its body."""

    size: int  #: octets fed; RFC 1870 §6 counting: CRLFs included, no stuffing dots
    sha256: str  #: hex SHA-256 of every octet fed
    header_size: int  #: octets of the top header block incl. its empty line (all, if none)
    headers_complete: bool  #: False when the header block was over the cap or never ended
    from_: str | None  #: first From value, as on the wire (unfolded, not decoded)
    to: str | None  #: first To value, as on the wire
    cc: str | None  #: first Cc value, as on the wire
    reply_to: str | None  #: first Reply-To value, as on the wire
    subject: str | None  #: first Subject, RFC 2047 decoded and unfolded
    subject_raw: str | None  #: first Subject as on the wire, unfolded (the form Zeek reports)
    date: str | None  #: first Date value
    message_id: str | None  #: first Message-ID value
    in_reply_to: str | None  #: first In-Reply-To value
    user_agent: str | None  #: User-Agent, else X-Mailer
    received: tuple[str, ...]  #: every Received value, top (newest hop) first, unfolded
    attachments: tuple[Attachment, ...]  #: in message order, capped (see ``MAX_ATTACHMENTS``)
    header_fields: tuple[tuple[str, str], ...]  #: top (name, unfolded value) pairs, first 200
    eight_bit: bool  #: some octet anywhere in the message is above 127
    truncated: bool  #: the message did not end normally (``finish(complete=False)``)
