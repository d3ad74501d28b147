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

_PREFIX = re.compile(
    r"^(?:(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(?P<day>\d{1,2}) "
    r"(?P<hms>\d\d:\d\d:\d\d(?:\.\d{1,6})?)"
    r"|(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)?)) "
    r"(?P<host>\S+) (?P<program>postfix[^\s\[\]:]*)\[(?P<pid>\d{1,10})\]: (?P<msg>.*)$")
_LOOKS = re.compile(r"^(?:[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d\S*|\d{4}-\d\d-\d\dT\S+) "
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


@dataclass(frozen=True, slots=True)
class PostfixLine:
    """One syslog line written by a Postfix daemon."""

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
        ts = (iso_time(m.group("iso")) if m.group("iso")
              else syslog_time(m.group("mon"), m.group("day"), m.group("hms"), now))
    return PostfixLine(ts, m.group("host"), m.group("program"), m.group("pid"), m.group("msg"))


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
