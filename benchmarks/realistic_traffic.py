"""Realistic SMTP traffic for ``bench_realistic.py``: one plan per session, three renderings.

A :class:`Plan` says what a session does: a bot failing AUTH LOGIN/PLAIN once to three
times then QUIT, a client submitting mail after a good AUTH, an inbound relay with no AUTH
whose recipients are accepted (250) or refused (550/554). This module writes them as a libpcap
capture (struct records through ``bench_memory.Writer``): 220 greetings of Postfix, Exim
and Sendmail, their EHLO replies, pipelined MAIL/RCPT/DATA where PIPELINING is advertised
(one command per segment where it is not), 1460-octet body segments, about 1%
retransmitted and 3% of body segments reordered, 300 sessions open at once, interleaved in
time (:func:`interleave`). ``realistic_logs`` writes the same plans as mail logs.
"""

from __future__ import annotations

import base64
import heapq
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from bench_memory import Writer

MSS = 1460
SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01
T0 = 1_790_000_000.0  # Sep 2026: in the past, so year-less syslog times stay in this year
T = TypeVar("T")
Step = tuple[float, T]  #: (seconds after the previous item of the session, item)


@dataclass
class Counts:
    """What was generated, to check what the tools report against it."""

    sessions: int = 0
    auth: int = 0  #: AUTH exchanges
    auth_failed: int = 0
    messages: int = 0
    rcpt_refused: int = 0
    lines: int = 0  #: log lines (logs) or packets (capture)
    size: int = 0  #: octets written


@dataclass(slots=True)
class Plan:
    kind: str  #: "auth-fail", "submit", "inbound", "refused"
    ip: str
    port: int
    helo: str
    auths: list[tuple[str, str, str, bool]] = field(default_factory=list)  # mech, user, pw, ok
    sender: str = ""
    rcpts: list[tuple[str, int]] = field(default_factory=list)  #: address, RCPT reply code
    size: int = 0  #: message octets; 0: no message


_USERS = ("admin", "info", "sales", "test", "office", "support", "webmaster", "contact")
_DOMAINS = ("example.net", "example.org", "example.com")
_BOTS = [f"203.0.113.{i}" for i in range(1, 60)] + [f"198.51.100.{i}" for i in range(1, 40)]


def make_plan(rng: random.Random, k: int, counts: Counts) -> Plan:
    """Session ``k``: ~40% failing bots, 15% submissions, 30% inbound, 15% refused."""
    r = rng.random()
    port = 20000 + k % 40000
    counts.sessions += 1
    if r < 0.40:
        plan = Plan("auth-fail", rng.choice(_BOTS), port, rng.choice(("User", "ylmf-pc", "[x]")))
        for _ in range(rng.choices((1, 2, 3), (60, 25, 15))[0]):
            user = f"{rng.choice(_USERS)}@{rng.choice(_DOMAINS)}"
            plan.auths.append((rng.choice(("LOGIN", "PLAIN")), user,
                               f"pw{rng.randrange(10**6)}", False))
        counts.auth += len(plan.auths)
        counts.auth_failed += len(plan.auths)
        return plan
    ip = f"10.{(k >> 16) & 255}.{(k >> 8) & 255}.{k & 255}"
    plan = Plan("submit" if r < 0.55 else "inbound" if r < 0.85 else "refused", ip, port,
                f"host{k}.client.example")
    plan.sender = f"user{k}@{plan.helo}"
    if plan.kind == "submit":
        plan.auths.append((rng.choice(("LOGIN", "PLAIN")), plan.sender, "s3cret", True))
        counts.auth += 1
    for j in range(rng.choices((1, 2, 3, 5), (70, 15, 10, 5))[0]):
        refused = plan.kind == "refused" and (j == 0 or rng.random() < 0.5)
        code = rng.choice((550, 554)) if refused else 250
        plan.rcpts.append((f"{rng.choice(_USERS)}{j}@{rng.choice(_DOMAINS)}", code))
        counts.rcpt_refused += refused
    if any(code == 250 for _, code in plan.rcpts):
        plan.size = int(min(60_000, max(2_000, rng.lognormvariate(math.log(9_000), 0.8))))
        counts.messages += 1
    return plan


def interleave(sessions: Iterator[Iterator[Step[T]]], at_once: int, rng: random.Random,
               t0: float = T0) -> Iterator[tuple[float, int, T]]:
    """(time, session number, item) of ``at_once`` sessions open at a time, in time order;
    a session that ends is followed by a new one a moment later."""
    heap: list[tuple[float, int, T, Iterator[Step[T]]]] = []
    number = 0

    def start(ts: float) -> None:
        nonlocal number
        gen = next(sessions, None)
        step = next(gen, None) if gen is not None else None
        if gen is not None and step is not None:
            number += 1
            heapq.heappush(heap, (ts + step[0], number, step[1], gen))

    for _ in range(at_once):
        start(t0 + rng.uniform(0, 5.0))
    while heap:
        ts, k, item, gen = heapq.heappop(heap)
        yield ts, k, item
        step = next(gen, None)
        if step is None:
            start(ts + rng.expovariate(20.0))
        else:
            heapq.heappush(heap, (ts + step[0], k, step[1], gen))


# ---------------------------------------------------------------------------- capture
@dataclass(frozen=True, slots=True)
class Server:
    ip: bytes
    greeting: bytes
    ehlo: bytes  #: the reply after "250-" of the first line
    pipelining: bool
    queued: bytes
    failed: bytes
    bye: bytes


SERVERS = (
    Server(bytes([192, 0, 2, 25]), b"220 mx1.example.net ESMTP Postfix (Debian/GNU)\r\n",
           b"250-mx1.example.net\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-VRFY\r\n"
           b"250-ETRN\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n"
           b"250-8BITMIME\r\n250-DSN\r\n250 SMTPUTF8\r\n", True,
           b"250 2.0.0 Ok: queued as %s\r\n",
           b"535 5.7.8 Error: authentication failed: authentication failure\r\n",
           b"221 2.0.0 Bye\r\n"),
    Server(bytes([192, 0, 2, 26]), b"220 mx2.example.net ESMTP Exim 4.96 Tue, 01 Sep 2026 "
           b"10:00:00 +0000\r\n",
           b"250-mx2.example.net Hello client [10.0.0.1]\r\n250-SIZE 52428800\r\n"
           b"250-8BITMIME\r\n250-PIPELINING\r\n250-PIPE_CONNECT\r\n250-AUTH PLAIN LOGIN\r\n"
           b"250-CHUNKING\r\n250-STARTTLS\r\n250-PRDR\r\n250 HELP\r\n", True,
           b"250 OK id=%s\r\n", b"535 Incorrect authentication data\r\n",
           b"221 mx2.example.net closing connection\r\n"),
    Server(bytes([192, 0, 2, 27]), b"220 smtp.example.org ESMTP Sendmail 8.17.1/8.17.1; "
           b"Tue, 1 Sep 2026 10:00:00 GMT\r\n",
           b"250-smtp.example.org Hello client [10.0.0.1], pleased to meet you\r\n"
           b"250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-SIZE\r\n250-DSN\r\n"
           b"250-AUTH LOGIN PLAIN\r\n250-DELIVERBY\r\n250 HELP\r\n", False,
           b"250 2.0.0 %s Message accepted for delivery\r\n",
           b"535 5.7.0 authentication failed\r\n",
           b"221 2.0.0 smtp.example.org closing connection\r\n"),
)
Packet = tuple[bool, int, bytes]  #: (from the client, TCP flags, payload)


def _pools(rng: random.Random) -> tuple[bytes, bytes]:
    words = b"the quarterly report invoice meeting relay queue message attached please".split()
    text = bytearray()
    while len(text) < 300_000:
        line = b" ".join(rng.choice(words) for _ in range(rng.randint(3, 14)))
        # RFC 5321 §4.5.2: a line starting with "." is sent with one more
        text += (b".." + line if rng.random() < 0.01 else line) + b"\r\n"
    raw = base64.encodebytes(rng.randbytes(200_000)).replace(b"\n", b"\r\n")
    return bytes(text), raw


def _body(rng: random.Random, pools: tuple[bytes, bytes], plan: Plan, qid: str) -> bytes:
    text, b64 = pools
    head = (b"From: <%s>\r\nTo: <%s>\r\nSubject: report %s\r\nDate: Tue, 1 Sep 2026 10:00:00 "
            b"+0000\r\nMessage-ID: <%s@%s>\r\nMIME-Version: 1.0\r\n"
            % (plan.sender.encode(), plan.rcpts[0][0].encode(), qid.encode(), qid.encode(),
               plan.helo.encode()))
    size = plan.size - len(head)
    attach = size > 15_000
    part = min(size, 4_000) if attach else size
    start = text.find(b"\r\n", rng.randrange(200_000)) + 2
    body = text[start:text.find(b"\r\n", start + part) + 2]
    if not attach:
        return head + b"Content-Type: text/plain\r\n\r\n" + body + b".\r\n"
    start = b64.find(b"\r\n", rng.randrange(100_000)) + 2
    data = b64[start:b64.find(b"\r\n", start + size - part) + 2]
    return (head + b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
            b"Content-Type: text/plain\r\n\r\n" + body + b'--b1\r\nContent-Type: '
            b'application/pdf; name="r.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            + data + b"--b1--\r\n.\r\n")


def _b64(text: str) -> bytes:
    return base64.b64encode(text.encode())


def capture_session(rng: random.Random, plan: Plan, pools: tuple[bytes, bytes],
                    k: int) -> Iterator[Step[Packet]]:
    srv = SERVERS[k % 3]
    rtt = rng.uniform(0.002, 0.12)
    half, client, server = rtt / 2, True, False

    def reply(payload: bytes, think: float = 0.0005) -> Step[Packet]:
        return half + think, (server, PSH | ACK, payload)

    yield 0.0, (client, SYN, b"")
    yield half, (server, SYN | ACK, b"")
    yield half, (client, ACK, b"")
    yield reply(srv.greeting, 0.002)
    yield half, (client, PSH | ACK, b"EHLO %s\r\n" % plan.helo.encode())
    yield reply(srv.ehlo)
    for mech, user, password, ok in plan.auths:
        done = b"235 2.7.0 Authentication successful\r\n" if ok else srv.failed
        think = 0.01 if ok else rng.uniform(0.2, 1.5)  # servers slow down failures
        if mech == "PLAIN":
            answer = _b64(f"\0{user}\0{password}")
            if rng.random() < 0.8:
                yield half, (client, PSH | ACK, b"AUTH PLAIN %s\r\n" % answer)
            else:
                yield half, (client, PSH | ACK, b"AUTH PLAIN\r\n")
                yield reply(b"334 \r\n")
                yield half, (client, PSH | ACK, answer + b"\r\n")
        else:
            if rng.random() < 0.85:
                yield half, (client, PSH | ACK, b"AUTH LOGIN\r\n")
                yield reply(b"334 VXNlcm5hbWU6\r\n")
                yield half, (client, PSH | ACK, _b64(user) + b"\r\n")
            else:
                yield half, (client, PSH | ACK, b"AUTH LOGIN %s\r\n" % _b64(user))
            yield reply(b"334 UGFzc3dvcmQ6\r\n")
            yield half, (client, PSH | ACK, _b64(password) + b"\r\n")
        yield reply(done, think)
    if plan.rcpts:
        qid = f"{rng.getrandbits(40):010X}"
        body = _body(rng, pools, plan, qid) if plan.size else b""
        size = len(body) - 3 - body.count(b"\r\n..")  # RFC 1870 §3: unstuffed, no "."
        mail = b"MAIL FROM:<%s> SIZE=%d\r\n" % (plan.sender.encode(), max(size, 0))
        replies = [b"250 2.1.0 Ok\r\n"]
        cmds = [mail]
        for address, code in plan.rcpts:
            cmds.append(b"RCPT TO:<%s>\r\n" % address.encode())
            replies.append(b"250 2.1.5 Ok\r\n" if code == 250 else
                           b"550 5.1.1 <%s>: Recipient address rejected: User unknown\r\n"
                           % address.encode() if code == 550 else
                           b"554 5.7.1 <%s>: Relay access denied\r\n" % address.encode())
        cmds.append(b"DATA\r\n")
        replies.append(b"354 End data with <CR><LF>.<CR><LF>\r\n" if plan.size else
                       b"554 5.5.1 Error: no valid recipients\r\n")
        if srv.pipelining:  # RFC 2920: the whole envelope in one segment
            yield half, (client, PSH | ACK, b"".join(cmds))
            yield reply(b"".join(replies))
        else:  # one by one; no DATA when every recipient was refused
            steps = list(zip(cmds, replies, strict=True))
            for cmd, answer in steps if plan.size else steps[:-1]:
                yield half, (client, PSH | ACK, cmd)
                yield reply(answer)
        if plan.size:
            for i, at in enumerate(range(0, len(body), MSS)):
                yield (half if i == 0 else 0.00012), (client, PSH | ACK, body[at:at + MSS])
                if i % 2:
                    yield 0.00005, (server, ACK, b"")
            yield reply(srv.queued % qid.encode(), rng.uniform(0.005, 0.05))
    yield half, (client, PSH | ACK, b"QUIT\r\n")
    yield reply(srv.bye)
    yield half, (client, FIN | ACK, b"")
    yield 0.0002, (server, FIN | ACK, b"")


def write_capture(path: str, sessions: int, counts: Counts, seed: int = 11,
                  at_once: int = 300) -> None:
    """``sessions`` sessions, ``at_once`` open at a time; fills ``counts``."""
    rng = random.Random(seed)
    pools = _pools(rng)
    ips: dict[int, bytes] = {}

    def started(k: int) -> Iterator[Step[Packet]]:
        plan = make_plan(rng, k, counts)
        ips[k] = bytes(int(part) for part in plan.ip.split("."))
        return capture_session(rng, plan, pools, k)

    gens = (started(k) for k in range(1, sessions + 1))
    late: list[tuple[float, int, tuple[int, int] | None,
                     tuple[bytes, bytes, int, int, int, int, int, bytes]]] = []
    seqs: dict[int, list[int]] = {}
    held: dict[tuple[int, int], int] = {}  # (session, side) -> seq of a segment held back
    order = 0
    with open(path, "wb", buffering=1 << 20) as out:
        w = Writer(out)
        for ts, k, (from_client, flags, payload) in interleave(gens, at_once, rng):
            while late and late[0][0] <= ts:
                when, _, key, args = heapq.heappop(late)
                w.packet(when, *args)
                if key is not None:
                    del held[key]
            srv = SERVERS[k % 3]
            cip = ips[k]
            side = 0 if from_client else 1
            seq = seqs.setdefault(k, [k * 7919 + 1, k * 104729 + 5])
            sport, dport = 20000 + k % 40000, 587 if k % 5 == 0 else 25
            src, dst, sp, dp = ((cip, srv.ip, sport, dport) if from_client
                                else (srv.ip, cip, dport, sport))
            # a receiver acknowledges only what it got: not past a segment held back
            ack = held.get((k, 1 - side), seq[1 - side])
            args = (src, dst, sp, dp, seq[side], ack if flags & ACK else 0, flags, payload)
            seq[side] = (seq[side] + len(payload) + (1 if flags & (SYN | FIN) else 0)) \
                & 0xFFFFFFFF
            if not from_client and flags & FIN:
                del seqs[k], ips[k]
            order += 1
            if len(payload) == MSS and rng.random() < 0.03 and (k, side) not in held:
                held[k, side] = args[4]  # overtaken by the next segments
                heapq.heappush(late, (ts + 0.0005, order, (k, side), args))
                continue
            w.packet(ts, *args)
            if payload and rng.random() < 0.01 and not payload.startswith((b"QUIT", b"221")):
                # lost on the way (or its ACK was): sent again a little later
                heapq.heappush(late, (ts + rng.uniform(0.003, 0.02), order, None, args))
        for when, _, _, args in sorted(late, key=lambda e: e[:2]):
            w.packet(when, *args)
    counts.lines, counts.size = w.packets, w.size


