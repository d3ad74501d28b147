"""Streaming summary of one message: feed its octets in any chunks, then :meth:`finish`.

The octets are the message content as the SMTP engine delivers it, dot-unstuffed
(RFC 5321 §4.5.2), without the terminating ``.`` line. Memory stays bounded whatever
the message size: the top header block is kept up to a cap, each part header up to a
smaller one, and bodies are only hashed, counted and searched for MIME delimiters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from smtplens.mime.fields import (
    HeaderBlock,
    PartHeaders,
    decode_legacy,
    decode_words,
    read_block,
)
from smtplens.mime.info import Attachment, MessageInfo
from smtplens.mime.structure import Structure

MAX_HEADER_FIELDS = 200  #: top header fields reported in ``MessageInfo.header_fields``


class MessageSummary:
    """Summarise one message fed in chunks, keeping only bounded state.

    ``sink``, when given, receives every octet fed, in order (to extract the message to
    a ``.eml`` file, say); its own errors propagate. Nothing else in here raises: any
    input, however damaged, gives a :class:`MessageInfo`.
    """

    def __init__(
        self,
        *,
        max_header_bytes: int = 256 * 1024,
        max_part_header_bytes: int = 16 * 1024,
        sink: Callable[[bytes], None] | None = None,
    ) -> None:
        self._sink = sink
        self._size = 0
        self._sha256 = hashlib.sha256()
        self._eight_bit = False
        self._header = HeaderBlock(max_header_bytes)
        self._part_header_cap = max_part_header_bytes
        self._fields: list[tuple[str, str]] = []
        self._top: PartHeaders | None = None
        self._structure: Structure | None = None
        self._info: MessageInfo | None = None

    def feed(self, data: bytes) -> None:
        """Take the next octets of the message (any chunking gives the same summary)."""
        if self._info is not None or not data:
            return
        if not isinstance(data, bytes):
            data = bytes(data)
        self._size += len(data)
        self._sha256.update(data)
        if not self._eight_bit and not data.isascii():
            self._eight_bit = True
        if self._sink is not None:
            self._sink(data)
        if not self._header.ended:
            stop = self._header.push(data, 0, len(data))
            if stop < 0:
                return
            self._start_body()
            if self._structure is None:  # not multipart: the body is only hashed and counted
                return
            data = data[stop:]
        if self._structure is not None and data:
            self._structure.feed(data)

    def finish(self, *, complete: bool = True) -> MessageInfo:
        """End of the message; ``complete=False`` when it was cut (connection lost, gap).

        Calling it again returns the same summary; later :meth:`feed` calls are ignored.
        """
        if self._info is not None:
            return self._info
        if not self._header.ended:
            self._read_header()
        attachments: list[Attachment] = []
        if self._structure is not None:
            self._structure.finish()
            attachments = self._structure.attachments
        elif self._header.ended and self._top is not None and self._top.is_attachment:
            # a single-part message whose whole body is a file (scanners, bounces)
            attachments = [self._top_attachment(self._top)]
        self._info = self._summary(attachments, truncated=not complete)
        return self._info

    def _read_header(self) -> None:
        self._fields, self._top = read_block(bytes(self._header.data))
        self._header.data = bytearray()  # parsed: up to ``max_header_bytes`` freed

    def _start_body(self) -> None:
        self._read_header()
        top = self._top
        if top is not None and top.boundary is not None:
            subtype = top.content_type.partition("/")[2]
            self._structure = Structure(top.boundary, subtype, self._part_header_cap)

    def _top_attachment(self, top: PartHeaders) -> Attachment:
        return Attachment(
            filename=top.filename,
            content_type=top.content_type,
            disposition=top.disposition,
            size=self._size - self._header.size,
        )

    def _summary(self, attachments: list[Attachment], *, truncated: bool) -> MessageInfo:
        first: dict[str, str] = {}  # lowercased name -> its first value
        received: list[str] = []
        for name, value in self._fields:
            key = name.lower()
            if key not in first:
                first[key] = value
            if key == "received":
                received.append(value)
        get = first.get
        subject_raw = get("subject")
        user_agent = get("user-agent")
        return MessageInfo(
            size=self._size,
            sha256=self._sha256.hexdigest(),
            header_size=self._header.size,
            headers_complete=self._header.ended and not self._header.cut,
            from_=get("from"),
            to=get("to"),
            cc=get("cc"),
            reply_to=get("reply-to"),
            subject=None if subject_raw is None else decode_words(decode_legacy(subject_raw)),
            subject_raw=subject_raw,
            date=get("date"),
            message_id=get("message-id"),
            in_reply_to=get("in-reply-to"),
            user_agent=get("x-mailer") if user_agent is None else user_agent,
            received=tuple(received),
            attachments=tuple(attachments),
            header_fields=tuple(self._fields[:MAX_HEADER_FIELDS]),
            eight_bit=self._eight_bit,
            truncated=truncated,
        )
