"""Drive the sessions of samples/make_postfix_mixed_samples.sh against a local Postfix.

Clients bound to 127.0.0.2 are in ``debug_peer_list`` (debug transcript lines), those on
127.0.0.1 are not (summary lines only), those on 127.0.0.3 talk to postscreen. Fake
credentials only: alice@example.test / s3cret!
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
import time

HOST = "127.0.0.1"
USER, PASSWORD = "alice@example.test", "s3cret!"
DEBUG, PLAIN, SCREENED = "127.0.0.2", "127.0.0.1", "127.0.0.3"


def client(src: str, port: int = 2750) -> smtplib.SMTP:
    return smtplib.SMTP(HOST, port, local_hostname="client.example.test",
                        source_address=(src, 0), timeout=10)


def auth_ok_and_mail(src: str) -> None:
    with client(src) as s:
        s.ehlo()
        s.login(USER, PASSWORD)
        s.sendmail(USER, ["bob@example.test"], b"Subject: hi\r\n\r\nhello\r\n")


def auth_fail(src: str, times: int = 1) -> None:
    s = client(src)
    s.ehlo()
    for _ in range(times):
        with contextlib.suppress(smtplib.SMTPException):
            s.login(USER, "wrong-password")
    with contextlib.suppress(smtplib.SMTPException):
        s.quit()


def rejected_relay(src: str) -> None:
    with client(src) as s:
        s.ehlo()
        with contextlib.suppress(smtplib.SMTPException):
            s.sendmail("carol@elsewhere.test", ["dave@elsewhere.test"], b"x\r\n")


def too_many_errors(src: str) -> None:
    s = client(src)
    s.ehlo()
    s.mail("carol@elsewhere.test")
    try:
        for n in range(5):
            s.rcpt(f"nobody{n}@elsewhere.test")
    except smtplib.SMTPException:
        pass
    s.close()


def cut_in_data(src: str, port: int = 2750) -> None:
    sock = socket.create_connection((HOST, port), source_address=(src, 0))
    f = sock.makefile("rb")

    def reply() -> bytes:
        line = f.readline()
        while line[3:4] == b"-":
            line = f.readline()
        return line

    reply()
    for cmd in (b"EHLO client.example.test", b"MAIL FROM:<carol@example.test>",
                b"RCPT TO:<bob@example.test>", b"DATA"):
        sock.sendall(cmd + b"\r\n")
        reply()
    sock.sendall(b"Subject: cut\r\n\r\nthis message never ends\r\n")
    time.sleep(0.3)
    sock.close()


def smtps_auth_fail(src: str) -> None:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    s = smtplib.SMTP_SSL(HOST, 2751, local_hostname="client.example.test",
                         source_address=(src, 0), context=ctx, timeout=10)
    s.ehlo()
    with contextlib.suppress(smtplib.SMTPException):
        s.login(USER, "wrong-password")
    s.quit()


def starttls_auth_ok(src: str) -> None:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with client(src) as s:
        s.ehlo()
        s.starttls(context=ctx)
        s.ehlo()
        s.login(USER, PASSWORD)


def backend_fault(src: str) -> None:
    s = client(src, 2753)
    s.ehlo()
    with contextlib.suppress(smtplib.SMTPException):
        s.login(USER, PASSWORD)
    s.quit()


def rate_limits(src: str) -> None:
    for _ in range(2):
        with client(src, 2754) as s:
            s.ehlo()
            for _n in range(2):
                with contextlib.suppress(smtplib.SMTPException):
                    s.sendmail("carol@example.test", ["bob@example.test"], b"x\r\n")
    for _ in range(2):  # over the connection rate: refused at connect
        try:
            with client(src, 2754) as s:
                s.ehlo()
        except (smtplib.SMTPException, OSError):
            pass


def postscreen_sessions() -> None:
    # PREGREET: talk before the 220 greeting ends
    sock = socket.create_connection((HOST, 2752), source_address=(SCREENED, 0))
    sock.sendall(b"EHLO early.example.test\r\n")
    time.sleep(2.5)
    try:
        sock.recv(4096)
        sock.sendall(b"MAIL FROM:<x@elsewhere.test>\r\nRCPT TO:<y@example.test>\r\n")
        time.sleep(0.3)
        sock.recv(4096)
    except OSError:
        pass
    sock.close()
    # HANGUP: leave during the greet wait
    sock = socket.create_connection((HOST, 2752), source_address=(SCREENED, 0))
    time.sleep(0.5)
    sock.close()
    time.sleep(0.5)
    # a well-behaved client: PASS NEW, then COMMAND PIPELINING in the deep tests
    sock = socket.create_connection((HOST, 2752), source_address=(SCREENED, 0))
    time.sleep(3)
    try:
        sock.recv(4096)
        sock.sendall(b"EHLO ok.example.test\r\nMAIL FROM:<x@example.test>\r\n")
        time.sleep(0.5)
        sock.recv(4096)
        sock.sendall(b"QUIT\r\n")
        time.sleep(0.3)
    except OSError:
        pass
    sock.close()


def main() -> None:
    for src in (DEBUG, PLAIN):
        auth_ok_and_mail(src)
        auth_fail(src, 3)
        rejected_relay(src)
        too_many_errors(src)
        cut_in_data(src)
        starttls_auth_ok(src)
    smtps_auth_fail(PLAIN)
    backend_fault(PLAIN)
    rate_limits(PLAIN)
    postscreen_sessions()


if __name__ == "__main__":
    main()
