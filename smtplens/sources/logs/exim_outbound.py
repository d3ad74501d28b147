"""Exim's main log, outbound side: a delivery the remote server refused.

When Exim's ``smtp`` transport gets a refusal, the delivery line (``**`` failed,
``==`` deferred) quotes the remote server's reply and the command it answered::

    2025-02-17 17:59:47 1tk2b3-006Xtp-0N ** bob@remote.example R=dnslookup
        T=remote_smtp H=mx.remote.example [192.0.2.2]: SMTP error from remote mail
        server after RCPT TO:<bob@remote.example>: 550 Relay not permitted

That is one SMTP connection with Exim as the client (another connection than the ones
the log's ``<=`` lines describe): it becomes a partial session of its own with the
server's address (and port when logged), the refused command in its place (greeting
for ``after initial connection``, EHLO/HELO, MAIL, RCPT, DATA, the message for ``after
end of data``) and ``log.rejected`` with the code and text (RFC 5321 §4.2). An ``X=``
field after the host says TLS was used; without it, TLS is unknown (the selector may
be off). What the connection did before the refusal, and AUTH, are not in the line. A
multi-line reply is logged on one line (its lines' codes kept): its first code counts.
"""

from __future__ import annotations

import re

from smtplens.model import Recipient
from smtplens.sources.logs._summary import PartialSession, endpoint
from smtplens.stream import Direction, Summary

#: the delivery line after its time, pid and message id ("**" failed, "==" deferred)
_IP = r"[0-9A-Fa-f:.]{2,45}"
_REFUSED = re.compile(
    r"^(?P<flag>\*\*|==) (?P<rcpt>\S{1,512})(?: <[^>\s]{0,512}>)?(?P<fields>.*?)"
    rf"(?: H=(?P<host>\S{{1,255}}) \[(?P<ip>{_IP})\](?:[:.](?P<port>\d{{1,5}}))?(?P<tail>.*?))?"
    r": SMTP error from remote (?:mail server|mailer|host) after (?P<after>.+?): "
    # Exim before 4.70 named the host here instead of in H=
    rf"(?:host (?P<host2>\S{{1,255}}) \[(?P<ip2>{_IP})\]: )?"
    r"(?P<code>[2-5]\d\d)(?:[ -](?P<text>.*))?$")
_SENDER = re.compile(r"(?:^| )F=<(?P<sender>[^>]{0,512})>")
_ADDRESS = re.compile(r"<(?P<addr>[^>]{0,512})>")


def refused_delivery(msg: str, number: int, line: str, ts: float | None, source: str,
                     count: int, message_id: str | None) -> Summary | None:
    """The partial session of a refused delivery line, or None when ``msg`` is not one."""
    m = _REFUSED.match(msg)
    if m is None:
        return None
    code, text = int(m.group("code")), (m.group("text") or "").strip()
    host, ip = m.group("host") or m.group("host2"), m.group("ip") or m.group("ip2")
    server = endpoint(ip, m.group("port")) if ip else None
    ps = PartialSession(f"exim-out-{count}", source, "exim-mainlog", number, ts, None, server)
    s = ps.session
    if " X=" in f" {m.group('tail') or ''}":
        s.tls = True  # X=cipher: the delivery ran over TLS (Exim's tls_cipher selector)
    after = m.group("after").strip()
    command = after.removeprefix("pipelined ").strip()
    verb = command.split(" ", 1)[0].upper()
    sender_m = _SENDER.search(m.group("fields"))
    sender = sender_m.group("sender") if sender_m else None
    if after == "initial connection":
        s.greeting_code, s.greeting_text = code, text
        command = "the greeting"
    elif verb in ("EHLO", "HELO", "LHLO"):
        s.helo_verb, s.helo = verb, command[5:].strip() or None
    elif verb == "MAIL":
        a = _ADDRESS.search(command)
        t = ps.transaction(ts, a.group("addr") if a else sender, message_id)
        t.mail_reply_code, t.mail_reply_text = code, text
        t.last_reply_code, t.last_reply_line = code, text
    elif verb == "RCPT":
        a = _ADDRESS.search(command)
        t = ps.transaction(ts, sender, message_id)
        t.recipients.append(Recipient(a.group("addr") if a else m.group("rcpt"), {},
                                      code, text))
        t.last_reply_code, t.last_reply_line = code, text
    elif verb == "DATA" or after in ("end of data", "sending data block"):
        t = ps.transaction(ts, sender, message_id)
        t.recipients.append(Recipient(m.group("rcpt"), {}, None, ""))
        t.method = "DATA"
        if verb == "DATA":
            t.data_reply_code = code
        t.last_reply_code, t.last_reply_line = code, text
    how = "deferred" if m.group("flag") == "==" else "failed"
    who = "" if not ip else f" [{ip}]" if host == ip else f" {host} [{ip}]"
    ps.finding("log.rejected", number, line, ts, Direction.SERVER,
               f"the remote server{who} answered {command} "
               f"with {code} {text}".rstrip()
               + f" (Exim's delivery to {m.group('rcpt')} {how})")
    return ps.finish()
