"""Postfix syslog lines: the prefix (time, host, ``program[pid]``) and the shapes smtpd and
postscreen share: the client ``host[address]:port``, ``key=<value>`` lists and the
``QID: reject: STAGE from CLIENT: CODE X.Y.Z text; from=<a> to=<b> proto=ESMTP helo=<h>``
line (postscreen separates the pairs with commas).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from smtplens.sources.logs._times import iso_time, syslog_time

#: the client as Postfix writes it: ``unknown[192.0.2.1]``, ``[192.0.2.1]:25123``
CLIENT = r"(?P<name>[^\s\[\]]*)\[(?P<ip>[^\]\s]*)\](?::(?P<port>\d{1,5}))?"
#: ``key=<value>`` or ``key=value`` pairs: four groups, one of the two pairs is set
KV = re.compile(r"(\w+)=<([^>]*)>|(\w+)=([^\s,;<>]+)")
Key = tuple[str, str, str]  #: (host, program, pid or client address)
Prefix = tuple[float | None, str, str, str, str]  #: PostfixLine's fields

#: the time may be missing: ``docker compose logs`` of a container that logs to stdout
#: writes ``mail postfix/smtpd[3101]: ...`` (host, tag, no date); such lines get no time
_PREFIX = re.compile(
    r"^(?:(?:(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(?P<day>\d{1,2}) "
    r"(?P<hms>\d\d:\d\d:\d\d(?:\.\d{1,6})?)"
    r"|(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)?)) )?"
    r"(?P<host>\S+) (?P<program>postfix[^\s\[\]:]*)\[(?P<pid>\d{1,10})\]: (?P<msg>.*)$")
#: _PREFIX after its time and the space that follows it (see PrefixReader)
_AFTER_TIME = re.compile(r"(?P<host>\S+) (?P<program>postfix[^\s\[\]:]*)\[(?P<pid>\d{1,10})\]: ")
_LOOKS = re.compile(r"^(?:(?:[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d\S*|\d{4}-\d\d-\d\dT\S+) )?"
                    r"\S+ postfix\S*[/\[]")
#: postscreen: a connection, its end (or hand-over to smtpd), and what its tests saw
PS_CONNECT = re.compile(r"^CONNECT from \[(?P<ip>[^\]\s]+)\]:(?P<port>\d+) "
                         r"to \[(?P<sip>[^\]\s]+)\]:(?P<sport>\d+)$")
PS_END = re.compile(r"^(?:DISCONNECT|PASS NEW|PASS OLD|WHITELISTED|ALLOWLISTED) "
                     r"\[(?P<ip>[^\]\s]+)\]:(?P<port>\d+)$")
PS_EVENT = re.compile(
    r"^(?P<what>PREGREET|COMMAND PIPELINING|BARE NEWLINE|NON-SMTP COMMAND|HANGUP|"
    r"COMMAND (?:TIME|COUNT|LENGTH) LIMIT)(?: (?P<count>\d+))?(?: after (?P<secs>[\d.]+))? "
    r"from \[(?P<ip>[^\]\s]+)\]:(?P<port>\d+)(?: after (?P<stage>[^:]+?))?"
    r"(?:: (?P<rest>.*)| (?P<tail>in tests .*))?$")
_REJECT = re.compile(rf"^(?P<qid>\w+): (?P<action>reject|milter-reject|defer): "
                     rf"(?P<stage>.+?) from {CLIENT}: (?P<text>.*)$")
_REPLY = re.compile(r"^(?:(?P<code>[245]\d\d) )?(?:(?P<enh>[245]\.\d{1,3}\.\d{1,3}) )?"
                    r"(?P<reply>.*)$")
_TAIL = re.compile(r"^(?P<reply>.*?);? (?P<kv>(?:from|to|proto|helo)=.*)$")


@dataclass(slots=True)  # not frozen: one is made per line, and a frozen __init__ costs 3x
class PostfixLine:
    """One syslog line written by a Postfix daemon (read-only by convention)."""

    ts: float | None
    host: str  #: the syslog host: the server
    program: str  #: ``postfix/smtpd``, ``postfix-out/smtpd``, ``postfix/submission/smtpd``
    pid: str
    msg: str  #: the text after ``program[pid]: ``

    @property
    def daemon(self) -> str:
        return self.program.rsplit("/", 1)[-1]

    @staticmethod
    def looks_like(text: str) -> bool:
        """A syslog line naming a Postfix program (whether or not it is well formed)."""
        return _LOOKS.match(text) is not None


def prefix(text: str, now: datetime | None) -> PostfixLine | None:
    """The line split at its syslog prefix, or None when it is not a Postfix line.
    Without ``now`` (sniffing) no time is computed."""
    m = _PREFIX.match(text)
    if m is None:
        return None
    ts: float | None = None
    if now is not None:
        ts = _time_of(m, now)
    return PostfixLine(ts, m.group("host"), m.group("program"), m.group("pid"), m.group("msg"))


def _time_of(m: re.Match[str], now: datetime) -> float | None:
    iso = m.group("iso")
    if not iso and not m.group("hms"):
        return None  # a line without its date (see _PREFIX)
    return iso_time(iso) if iso else syslog_time(m.group("mon"), m.group("day"),
                                                 m.group("hms"), now)


class PrefixReader:
    """:func:`prefix` for the lines of one file, with one notion of "now".

    Two shortcuts give the same answer as :data:`_PREFIX`, which stays the definition:

    * the time part of :data:`_PREFIX` can match only one way (each piece ends where a
      space must follow), so a line that starts with the last time seen and a space has
      that time: only the rest (:data:`_AFTER_TIME`, the same pattern) is matched, and
      the time is not computed again (most lines of a busy log share their second);
    * :data:`_AFTER_TIME` reads nothing past the ``]: `` that ends it, so text it has
      matched is known: a process logs many lines, and a line whose text from the host
      to its first ``]: `` was matched before takes ``host``, ``program`` and ``pid``
      from :attr:`_sources` (a host ending in ``]:`` makes that lookup miss: then the
      pattern decides).
    """

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._stamp = "\n"  # the time text of the last line ("\n" + " " starts no line)
        self._after = 1  # where the host begins after that time: len(stamp) + 1
        self._ts: float | None = None
        #: "host program[pid" -> (host, program, pid), as _AFTER_TIME read them
        self._sources: dict[str, tuple[str, str, str]] = {}

    def read(self, text: str) -> Prefix | None:
        """``(ts, host, program, pid, msg)`` (a tuple: the caller makes a PostfixLine of
        the lines it reads further), or None when it is not a Postfix line."""
        after = self._after
        if text.startswith(self._stamp) and text[after - 1:after] == " ":
            end = text.find("]: ", after)
            if end < 0:
                return None  # _AFTER_TIME ends in "]: "
            parts = self._sources.get(text[after:end])
            if parts is not None:
                msg = text[end + 3:]
            else:
                m = _AFTER_TIME.match(text, after)
                if m is None:
                    return None
                host, program, pid = m.group("host", "program", "pid")
                parts = self._learn(text[after:m.end() - 3], (host, program, pid))
                msg = text[m.end():]
            # _PREFIX ends in ".*$": a newline inside the message needs the whole pattern
            if "\n" not in msg:
                host, program, pid = parts
                return self._ts, host, program, pid, msg
        m = _PREFIX.match(text)
        if m is None:
            return None
        after = m.start("host")
        # the shortcut above needs a time: a line without one ("\n" starts no line)
        self._stamp, self._after = (text[:after - 1], after) if after else ("\n", 1)
        self._ts = ts = _time_of(m, self.now)
        return ts, m.group("host"), m.group("program"), m.group("pid"), m.group("msg")

    def _learn(self, source: str, parts: tuple[str, str, str]) -> tuple[str, str, str]:
        if len(source) <= _SOURCE_MAX:
            if len(self._sources) >= _SOURCES:  # bounded: a log of many processes
                self._sources.clear()
            self._sources[source] = parts
        return parts


#: how many process prefixes PrefixReader keeps, and the longest it keeps
_SOURCES, _SOURCE_MAX = 4096, 300


@dataclass(slots=True)
class Reject:
    """A ``reject:`` line: what was refused, with which reply, and the envelope pairs."""

    queue_id: str  #: ``NOQUEUE`` before the first accepted recipient
    action: str  #: ``reject``, ``milter-reject`` or ``defer``
    stage: str  #: ``RCPT``, ``MAIL``, ``CONNECT``, ``END-OF-MESSAGE``, ...
    client: re.Match[str]  #: the match, for its ``ip`` and ``port`` groups
    code: int | None
    enhanced: str | None
    reply: str
    fields: dict[str, str] = field(default_factory=dict)


def parse_reject(msg: str) -> Reject | None:
    m = _REJECT.match(msg)
    if m is None:
        return None
    text, pairs = m.group("text"), ""
    if tail := _TAIL.match(text):
        text, pairs = tail.group("reply"), tail.group("kv")
    reply = _REPLY.match(text)
    assert reply is not None  # every group is optional
    fields = {k or k2: v or v2 for k, v, k2, v2 in KV.findall(pairs)}
    code = reply.group("code")
    return Reject(m.group("qid"), m.group("action"), m.group("stage"), m,
                  int(code) if code else None, reply.group("enh"), reply.group("reply"), fields)
