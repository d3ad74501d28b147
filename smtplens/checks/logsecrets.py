"""A log file that holds credentials (RFC 4954 §9: Base64 is no protection).

A capture holding a password is evidence of a clear-text login (``auth.cleartext``);
a *log* holding one is a second problem: the secret now sits on disk, in rotated
copies, in backups, in the ticket the log was pasted into. Client debug logs (smtplib,
swaks, curl, PHPMailer) write the Base64 AUTH lines; Postfix at ``debug_peer_level``
>= 2 writes them too (and, with Cyrus SASL, the decoded response: the sources report
that line themselves). Courier's ``courieresmtpd: error,...,cmd: AUTH PLAIN <Base64>``
quotes a failed AUTH PLAIN's initial response (user and password, cut at 20
characters): its summary sessions bypass the checks, so ``sources/logs/courier.py``
reports that line itself, the same way. The finding names the line, never the secret.
"""

from __future__ import annotations

from smtplens.builder import SessionBuilder
from smtplens.checks.base import Check, Where
from smtplens.stream import Direction

#: origins whose files are not logs: a capture, and the hand-written C:/S: transcript
NOT_LOGS = frozenset({"pcap", "transcript"})


class LogSecrets(Check):
    """Once per session: the first AUTH whose secret the log made recoverable."""

    emits = ("log.secret-in-log",)
    reads = ()  # no event: it looks at the finished session

    def finish(self, ctx: SessionBuilder) -> None:
        s = ctx.session
        if s.origin in NOT_LOGS or ctx.has_finding("log.secret-in-log"):
            return
        exposed = [a for a in s.auth if a.secrets_exposed]
        if not exposed:
            return
        first = exposed[0]
        where = next((e for e in s.exchanges if e.item == first.item), None)
        user = f" for user {first.user!r}" if first.user else ""
        more = f" (and {len(exposed) - 1} more AUTH exchanges)" if len(exposed) > 1 else ""
        ctx.report("log.secret-in-log",
                   Where(Direction.CLIENT, first.ts, where.offset if where else None,
                         where.location if where else s.location, f"AUTH {first.mechanism}"),
                   f"this {s.origin} log holds the AUTH {first.mechanism} credentials{user} "
                   f"in recoverable form{more}")
