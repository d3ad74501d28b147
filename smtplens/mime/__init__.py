"""Streaming summary of one email message (RFC 5322 / MIME) in bounded memory.

Feed the message octets (dot-unstuffed, as the SMTP engine delivers them) to a
:class:`MessageSummary` in any chunks, then call ``finish()`` for a :class:`MessageInfo`:
size and SHA-256, the top header fields (subject decoded), the attachments found by
following the multipart structure, and whether the header block or the message was cut.
"""

from smtplens.mime.info import Attachment, MessageInfo
from smtplens.mime.summary import MessageSummary

__all__ = ["Attachment", "MessageInfo", "MessageSummary"]
