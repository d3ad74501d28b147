"""Who sent a line, when the log does not say: a small SMTP state tracker.

Telnet pastes and raw debug writers (go-smtp's ``Server.Debug``, which maddy uses)
show both sides' lines with no marker. Their content tells them apart:

* RFC 5321 §4.2: a reply is a three-digit code then a space, a hyphen or the end;
* RFC 5321 §4.1: the other lines are commands (known verbs; anything else is noise);
* RFC 5321 §4.1.1.4: after a 354 reply the client's message follows, up to a lone ``.``;
* RFC 4954 §4: after a 334 challenge the next line is the client's SASL answer;
* RFC 3030 §2: after ``BDAT n`` the next ``n`` octets are the client's chunk;
* RFC 5321 §4.2.4: a line that is none of these, sent when it is the client's turn
  (after a complete reply) and answered by a reply, is an unknown command (the reader
  looks one line ahead for the answer: :meth:`ContentTracker.side` says ``None`` and
  :attr:`ContentTracker.maybe_command` says so).
"""

from __future__ import annotations

import re

from smtplens.sources.generic.prefix import is_command, is_reply
from smtplens.stream import Direction

_BDAT = re.compile(r"BDAT\s+(\d{1,12})(?:\s+LAST)?\s*$", re.IGNORECASE)


class ContentTracker:
    """Tells the side of each unmarked line from what came before it."""

    def __init__(self) -> None:
        self.in_data = False  #: inside a DATA message (after 354, before ".")
        self.sasl = False  #: a 334 challenge waits for the client's answer
        self.bdat_left = 0  #: octets of a BDAT chunk still to come
        self.verb = ""  #: the client's last command verb
        self.client_turn = False  #: a complete reply came and no client line since
        #: the last line :meth:`side` refused came when it was the client's turn
        self.maybe_command = False
        self.data_lines = 0  #: message lines read since the 354 reply
        #: a reply came after 354 with no message line: the log left the message out
        self.unlogged_message = False
        #: the code of a reply still open (its last line read was ``code-``): a bare
        #: line with the same code continues it (RFC 5321 §4.2.1)
        self.open_code = ""

    def side(self, text: str) -> Direction | None:
        """The direction of ``text`` (a line without its CRLF), None when it is not SMTP."""
        self.maybe_command = False
        side = self._side(text)
        if side is Direction.CLIENT:
            self.client_turn = False
            self.open_code = ""
        elif side is None:
            self.maybe_command = self.client_turn
        return side

    def _side(self, text: str) -> Direction | None:
        if self.bdat_left > 0:
            self.bdat_left = max(0, self.bdat_left - len(text) - 2)
            return Direction.CLIENT
        if self.in_data:
            self.data_lines += 1
            if text == ".":
                self.in_data = False
            return Direction.CLIENT
        if self.sasl and not (is_reply(text) and " " in text[:4]):
            self.sasl = False
            return Direction.CLIENT
        if is_reply(text):
            self.see_reply(text)
            return Direction.SERVER
        if is_command(text):
            self.see_command(text)
            return Direction.CLIENT
        return None

    def see_reply(self, text: str) -> None:
        """A server line (also told by marked logs, to keep the state right)."""
        self.sasl = False
        code = text[:3]
        if text[3:4] == "-":
            self.open_code = code
            return  # RFC 5321 §4.2.1: only the last line of a reply counts
        self.open_code = ""
        if self.in_data:
            # the server answers only after the message ended (RFC 5321 §4.1.1.4): a
            # log that did not show the message content (FakeSMTP) has moved past it
            self.in_data = False
            self.unlogged_message = self.data_lines == 0
            return
        self.client_turn = code not in ("354", "334")
        if code == "354" and self.verb in ("DATA", ""):
            self.in_data = True
            self.data_lines = 0
        elif code == "334":
            self.sasl = True

    def continues(self, text: str) -> bool:
        """``text`` is the next line of the reply still open: the same code (RFC 5321
        §4.2.1), so a line the log wrote without its prefix or marker."""
        return bool(self.open_code) and is_reply(text) and text[:3] == self.open_code

    def see_command(self, text: str) -> None:
        self.client_turn = False
        self.open_code = ""
        self.verb = text.split(None, 1)[0].upper() if text.strip() else ""
        m = _BDAT.match(text)
        if m is not None:
            self.bdat_left = int(m.group(1))
