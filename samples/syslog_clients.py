"""Drive real SMTP sessions against a server under test, for make_syslog_samples.sh.

    python3 samples/syslog_clients.py PORT [DOMAIN] [--user=U] [--auth-all] [--no-timeout]

Runs, one connection each: AUTH PLAIN + a delivered message; STARTTLS + AUTH LOGIN +
a message; three failed AUTH attempts (PLAIN, LOGIN, LOGIN); a refused RCPT; a
connection dropped after RCPT; one that sends EHLO and QUIT without MAIL; one left idle
until the server times it out (skipped with --no-timeout). Fake credentials only:
alice / s3cret!.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import sys
import time

HOST = "127.0.0.1"
USER, PASSWORD = "alice", "s3cret!"


def tls() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def client(port: int) -> smtplib.SMTP:
    s = smtplib.SMTP(HOST, port, local_hostname="client.example.test", timeout=30)
    s.ehlo()
    return s


def login(s: smtplib.SMTP, user: str) -> None:
    s.auth("PLAIN", lambda challenge=None: f"\0{user}\0{PASSWORD}", initial_response_ok=True)


def run(port: int, domain: str, user: str, timeout_run: bool, auth_all: bool) -> None:
    rcpt = f"alice@{domain}"
    msg = f"From: {user}\r\nTo: {rcpt}\r\nSubject: test\r\n\r\nHello from smtplens.\r\n"
    # 1. AUTH PLAIN in clear text, one delivered message
    s = client(port)
    login(s, user)
    s.sendmail(f"{USER}@{domain}", [rcpt], msg)
    s.quit()
    time.sleep(1)
    # 2. STARTTLS, AUTH LOGIN, a message
    s = client(port)
    s.starttls(context=tls())
    s.ehlo()
    s.user, s.password = user, PASSWORD
    s.auth("LOGIN", s.auth_login, initial_response_ok=False)
    s.sendmail(f"{USER}@{domain}", [rcpt], msg)
    s.quit()
    time.sleep(1)
    # 3. three failed AUTH attempts (PLAIN, LOGIN, LOGIN), then QUIT
    s = client(port)
    s.user, s.password = user, "wrong-password"
    for mech in ("PLAIN", "LOGIN", "LOGIN"):
        try:
            if mech == "PLAIN":  # the initial response carries user and password
                s.auth("PLAIN", s.auth_plain, initial_response_ok=True)
            else:
                s.auth("LOGIN", s.auth_login, initial_response_ok=False)
        except smtplib.SMTPException:
            pass
    s.quit()
    time.sleep(1)
    # 4. a refused recipient
    s = client(port)
    if auth_all:  # a submission server wants AUTH before MAIL
        login(s, user)
    s.mail(f"mallory@{domain}")
    print("RCPT", s.rcpt("bob@blocked.example.test"))
    print("RCPT", s.rcpt(f"nobody@{domain}"))
    s.quit()
    time.sleep(1)
    # 5. dropped after RCPT
    s = client(port)
    if auth_all:  # a submission server wants AUTH before MAIL
        login(s, user)
    s.mail(f"mallory@{domain}")
    s.rcpt(rcpt)
    assert s.sock is not None
    s.sock.close()
    time.sleep(1)
    # 6. EHLO and QUIT, no MAIL
    s = client(port)
    s.quit()
    time.sleep(1)
    if timeout_run:
        # 7. left idle after EHLO: the server's command timeout ends it
        raw = socket.create_connection((HOST, port))
        raw.recv(1000)
        raw.sendall(b"EHLO idle.example.test\r\n")
        raw.settimeout(90)
        try:
            while raw.recv(1000):
                pass
        except OSError:
            pass
        raw.close()


if __name__ == "__main__":
    port = int(sys.argv[1])
    domain = sys.argv[2] if len(sys.argv) > 2 and not sys.argv[2].startswith("-") else \
        "example.test"
    user = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--user=")), USER)
    run(port, domain, user, "--no-timeout" not in sys.argv, "--auth-all" in sys.argv)
