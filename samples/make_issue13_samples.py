"""Regenerate the samples of issue 13 (defects seen on real inputs) from real software.

* ``swaks-starttls.log`` / ``swaks-tls-on-connect.log``: swaks (``--tls``, STARTTLS
  on the submission port; ``--tlsc``, TLS from the first byte) against aiosmtpd with a
  self-signed certificate made by ``openssl req``, AUTH PLAIN inside TLS;
* ``premature-end-linewise.txt``: a raw-socket client that writes one line at a time
  and waits for each reply, with a bare '.' in the body (the rest of the body arrives
  after the server's 250), recorded by the proxy of ``make_samples.py``;
* ``syntax-deviations.txt``: Python's smtplib sending ``MAIL FROM:`` / ``RCPT TO:``
  without angle brackets and with a space after the colon (``docmd``), ``EHLO`` with no
  domain, and an AUTH PLAIN whose authentication identity is empty (``\\0\\0password``).

    .venv/bin/python samples/make_issue13_samples.py

Needs swaks and openssl on the PATH and aiosmtpd in the venv; fake credentials only.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_samples import HERE, Handler, authenticator, record

PORTS = iter(range(2800, 2850))  # this helper's port range


def certificate(workdir: Path) -> ssl.SSLContext:
    """A self-signed certificate for mx.example.test, made by openssl."""
    key, crt = workdir / "key.pem", workdir / "crt.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=mx.example.test", "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(crt), str(key))
    return ctx


def swaks(name: str, comment: str, args: list[str], tls: ssl.SSLContext,
          implicit: bool) -> None:
    port = next(PORTS)
    kwargs: dict[str, object] = {"authenticator": authenticator,
                                 "server_hostname": "mx.example.test"}
    if implicit:
        # TLS from the first byte: aiosmtpd does not count it as TLS for its AUTH rule
        kwargs.update(ssl_context=tls, auth_require_tls=False)
    else:
        kwargs.update(tls_context=tls, require_starttls=True)
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        out = subprocess.run(
            ["swaks", "--server", f"127.0.0.1:{port}", "--helo", "client.example.test",
             "--from", "alice@example.test", "--to", "bob@example.test",
             "--auth", "PLAIN", "--auth-user", "alice", "--auth-password", "s3cret!",
             "--header", "Subject: issue 13 TLS sample", "--body", "Hello Bob, over TLS.",
             *args], capture_output=True, text=True, timeout=60)
    finally:
        controller.stop()
    text = out.stdout  # swaks' own transcript, as it printed it
    (HERE / name).write_text(text)
    print(f"wrote samples/{name} ({len(text.splitlines())} lines): {comment}")


def line_by_line(port: int, lines: list[bytes]) -> None:
    """Write one line, wait for what the server says, write the next."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.settimeout(0.3)
        reply(s)
        for line in lines:
            s.sendall(line + b"\r\n")
            reply(s)
        time.sleep(0.2)


def reply(s: socket.socket) -> None:
    """Read up to the last line of a reply (``NNN `` then CRLF), or until a timeout
    (inside DATA the server says nothing)."""
    got = b""
    with contextlib.suppress(TimeoutError):
        while not re.search(rb"(?:^|\n)[0-9]{3}(?: [^\n]*)?\r\n$", got):
            chunk = s.recv(65536)
            if not chunk:
                return
            got += chunk


def recorded(name: str, comment: str, client: Callable[[int], None]) -> None:
    record(name, comment, client, port=next(PORTS), script="make_issue13_samples.py")


def premature_linewise(port: int) -> None:
    line_by_line(port, [
        b"EHLO script.example.org", b"MAIL FROM:<eve@example.org>",
        b"RCPT TO:<bob@example.com>", b"DATA",
        b"From: eve@example.org", b"To: bob@example.com", b"Subject: test", b"",
        b"first part", b".", b"second part was lost", b"regards", b".", b"QUIT"])


def deviations(port: int) -> None:
    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.example.org") as smtp:
        smtp.putcmd("EHLO")  # RFC 5321 §4.1.1.1: the domain is missing
        smtp.getreply()
        smtp.ehlo()
        plain = base64.b64encode(b"\0\0s3cret!").decode()  # RFC 4616: empty authcid
        smtp.docmd("AUTH", f"PLAIN {plain}")
        smtp.docmd("MAIL", "FROM: alice@example.org")  # no brackets, space after ':'
        smtp.docmd("RCPT", "TO:bob@example.com")  # no brackets
        smtp.docmd("RSET")
        smtp.docmd("MAIL", "FROM: <alice@example.org>")  # a space after ':' only
        smtp.docmd("RCPT", "TO:<bob@example.com>")
        smtp.docmd("RSET")


def main() -> None:
    asyncio.set_event_loop(asyncio.new_event_loop())
    with tempfile.TemporaryDirectory() as tmp:
        tls = certificate(Path(tmp))
        swaks("swaks-starttls.log", "STARTTLS, then AUTH PLAIN", ["--tls"], tls,
              implicit=False)
        swaks("swaks-tls-on-connect.log", "TLS on connect, AUTH PLAIN", ["--tlsc"], tls,
              implicit=True)
    recorded("premature-end-linewise.txt",
             "a bare '.' ended the body early; the client writes line by line and waits\n"
             "for each reply, so the rest of the body arrives after the server's 250",
             premature_linewise)
    recorded("syntax-deviations.txt",
             "smtplib docmd: EHLO without a domain, AUTH PLAIN with an empty authcid,\n"
             "MAIL FROM:/RCPT TO: without angle brackets, a space after the colon",
             deviations)


if __name__ == "__main__":
    main()
