"""Realistic mail logs for ``bench_realistic.py``: the plans of ``realistic_traffic`` written
as a busy Postfix mail log (smtpd connect/disconnect, SASL LOGIN/PLAIN failures with
sasl_username, NOQUEUE reject RCPT 550/554, cleanup message-id, qmgr from=, smtp/local
to= status=sent/deferred/bounced, bounce, anvil) and as an Exim main log (``<=``, ``=>``,
``**``, ``==``, rejected RCPT, authenticator failed, closed by QUIT, no MAIL).
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Iterator

from realistic_traffic import Counts, Plan, Step, interleave, make_plan


class _Clock:
    """Formats times, once per second (most lines share their second with the last)."""

    def __init__(self, fmt: str) -> None:
        self.fmt, self.sec, self.text = fmt, -1, ""

    def __call__(self, ts: float) -> str:
        if int(ts) != self.sec:
            self.sec = int(ts)
            self.text = time.strftime(self.fmt, time.gmtime(self.sec))
        return self.text


def _write_log(path: str, lines: int, counts: Counts, render: Callable[..., Iterator[Step[str]]],
               fmt: str, seed: int, at_once: int = 250) -> None:
    rng = random.Random(seed)
    numbers = itertools.takewhile(lambda _: counts.lines < lines, itertools.count(1))
    plans = (render(rng, make_plan(rng, k, counts), k) for k in numbers)
    clock = _Clock(fmt)
    with open(path, "w", buffering=1 << 20) as out:
        for ts, _, text in interleave(plans, at_once, rng):
            counts.lines += 1
            out.write(f"{clock(ts)} {text}\n")
        counts.size = out.tell()


def postfix_session(rng: random.Random, plan: Plan, k: int) -> Iterator[Step[str]]:
    smtpd = f"mx1 postfix/{'submission/' if plan.kind == 'submit' else ''}smtpd[{1000 + k}]:"
    who = f"unknown[{plan.ip}]" if plan.kind == "auth-fail" else f"{plan.helo}[{plan.ip}]"
    yield 0.0, f"{smtpd} connect from {who}"
    if plan.kind != "auth-fail" and rng.random() < 0.3:
        yield 0.05, (f"{smtpd} Anonymous TLS connection established from {who}: TLSv1.3 "
                     "with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)")
    for mech, user, _, ok in plan.auths:
        if not ok:
            reason = ("UGFzc3dvcmQ6" if mech == "LOGIN" and rng.random() < 0.5
                      else f"authentication failure, sasl_username={user}")
            yield rng.uniform(0.3, 2.0), f"{smtpd} warning: {who}: SASL {mech} " \
                                         f"authentication failed: {reason}"
    qid = f"{rng.getrandbits(40):010X}"
    accepted = [a for a, code in plan.rcpts if code == 250]
    opened = False
    for address, code in plan.rcpts:
        if code == 250 and not opened:
            opened = True
            sasl = "".join(f", sasl_method={m}, sasl_username={u}" for m, u, _, _ in plan.auths)
            yield 0.05, f"{smtpd} {qid}: client={who}{sasl}"
        elif code != 250:
            text = ("550 5.1.1 <{0}>: Recipient address rejected: User unknown in virtual "
                    "mailbox table" if code == 550 else "554 5.7.1 <{0}>: Relay access denied")
            yield 0.02, (f"{smtpd} {qid if opened else 'NOQUEUE'}: reject: RCPT from {who}: "
                         f"{text.format(address)}; from=<{plan.sender}> to=<{address}> "
                         f"proto=ESMTP helo=<{plan.helo}>")
    if plan.size:
        yield 0.1, f"mx1 postfix/cleanup[{500 + k % 7}]: {qid}: message-id=<{qid}@{plan.helo}>"
        yield 0.01, (f"mx1 postfix/qmgr[400]: {qid}: from=<{plan.sender}>, size={plan.size}, "
                     f"nrcpt={len(accepted)} (queue active)")
    auth = f" auth={int(any(ok for *_, ok in plan.auths))}/{len(plan.auths)}" \
        if plan.auths else ""
    envelope = (f" mail=1 rcpt={len(accepted)}/{len(plan.rcpts)} data={int(bool(plan.size))}/1"
                if plan.rcpts else "")
    n = 2 + len(plan.auths) + (len(plan.rcpts) + 2 if plan.rcpts else 0)
    yield 0.05, f"{smtpd} disconnect from {who} ehlo=1{auth}{envelope} quit=1 commands={n}"
    deferred = False
    for address in accepted if plan.size else []:
        r = rng.random()
        if r < 0.6:
            yield rng.uniform(0.1, 2), (
                f"mx1 postfix/smtp[{2000 + k % 50}]: {qid}: to=<{address}>, relay=mx.example.com"
                f"[198.51.100.7]:25, delay=1.2, delays=0.1/0.01/0.5/0.6, dsn=2.0.0, status=sent "
                f"(250 2.0.0 OK 1790000000 {qid.lower()} - gsmtp)")
        elif r < 0.85:
            yield 0.05, (f"mx1 postfix/local[{3000 + k % 20}]: {qid}: to=<{address}>, "
                         "relay=local, delay=0.08, delays=0.05/0.01/0/0.02, dsn=2.0.0, "
                         "status=sent (delivered to mailbox)")
        elif r < 0.95:
            deferred = True
            yield 30.0, (f"mx1 postfix/smtp[{2000 + k % 50}]: {qid}: to=<{address}>, "
                         "relay=none, delay=30, delays=0.02/0/30/0, dsn=4.4.1, status=deferred "
                         "(connect to mx.example.com[198.51.100.9]:25: Connection timed out)")
        else:
            yield 1.0, (f"mx1 postfix/smtp[{2000 + k % 50}]: {qid}: to=<{address}>, "
                        f"relay=mx.example.com[198.51.100.8]:25, delay=1, delays=0.1/0/0.4/0.5, "
                        f"dsn=5.1.1, status=bounced (host mx.example.com[198.51.100.8] said: 550 "
                        f"5.1.1 <{address}>: User unknown (in reply to RCPT TO command))")
            yield 0.01, (f"mx1 postfix/bounce[{4000 + k % 5}]: {qid}: sender non-delivery "
                         f"notification: {rng.getrandbits(40):010X}")
    if plan.size and not deferred:
        yield 0.01, f"mx1 postfix/qmgr[400]: {qid}: removed"
    if k % 200 == 0:
        yield 60.0, (f"mx1 postfix/anvil[{300 + k % 9}]: statistics: max connection rate "
                     f"{rng.randint(2, 40)}/60s for (smtp:{plan.ip}) at Sep 21 10:00:00")


def exim_session(rng: random.Random, plan: Plan, k: int) -> Iterator[Step[str]]:
    host = f"({plan.helo}) [{plan.ip}]:{plan.port} I=[192.0.2.26]:25"
    yield 0.0, f"SMTP connection from [{plan.ip}]:{plan.port} I=[192.0.2.26]:25 " \
               f"(TCP/IP connection count = {rng.randint(1, 300)})"
    for mech, user, _, ok in plan.auths:
        if not ok:
            yield rng.uniform(0.3, 2.0), (f"dovecot_{mech.lower()} authenticator failed for "
                                          f"H={host}: 535 Incorrect authentication data "
                                          f"(set_id={user})")
    for address, code in plan.rcpts:
        if code != 250:
            why = "relay not permitted" if code == 554 else "Unrouteable address"
            yield 0.03, f"H={host} F=<{plan.sender}> rejected RCPT <{address}>: {why}"
    mid = f"1s{rng.getrandbits(16):04x}-{rng.getrandbits(24):06X}-{rng.getrandbits(8):02X}"
    accepted = [a for a, code in plan.rcpts if code == 250]
    if plan.size:
        a = "".join(f" A=dovecot_{m.lower()}:{u}" for m, u, _, ok in plan.auths if ok)
        yield 0.2, (f"{mid} <= {plan.sender} H={host} P=esmtp{'sa' if a else ''}{a} "
                    f"S={plan.size} id={mid}@{plan.helo} T=\"report {k}\" from <{plan.sender}> "
                    f"for {' '.join(accepted)}")
    commands = ",".join(["EHLO", *["AUTH"] * len(plan.auths), "QUIT"])
    if plan.size:
        yield 0.05, f"SMTP connection from {host} closed by QUIT"
    else:
        yield 0.05, f"no MAIL in SMTP connection from {host} D=2s C={commands}"
    for address in accepted if plan.size else []:
        r = rng.random()
        if r < 0.8:
            yield rng.uniform(0.1, 2), (f"{mid} => {address} R=dnslookup T=remote_smtp "
                                        "H=mx.example.com [198.51.100.7] X=TLS1.3:TLS_AES_256"
                                        "_GCM_SHA384:256 CV=yes C=\"250 2.0.0 OK\" QT=1s DT=0s")
        elif r < 0.92:
            yield 30.0, (f"{mid} == {address} R=dnslookup T=remote_smtp defer (110): "
                         "Connection timed out")
        else:
            yield 1.0, (f"{mid} ** {address} R=dnslookup T=remote_smtp H=mx.example.com "
                        f"[198.51.100.8]: SMTP error from remote mail server after RCPT "
                        f"TO:<{address}>: 550 5.1.1 User unknown")
    if plan.size:
        yield 0.01, f"{mid} Completed"


def write_postfix_log(path: str, lines: int, counts: Counts, seed: int = 12) -> None:
    _write_log(path, lines, counts, postfix_session, "%b %e %H:%M:%S", seed)


def write_exim_log(path: str, lines: int, counts: Counts, seed: int = 13) -> None:
    _write_log(path, lines, counts, exim_session, "%Y-%m-%d %H:%M:%S", seed)
