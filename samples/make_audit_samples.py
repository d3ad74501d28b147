"""Write ``samples/audit-guessing.pcap``: real traffic that only an audit sees whole.

An aiosmtpd server on 127.0.0.1 that offers STARTTLS and, before it, AUTH LOGIN and
PLAIN (``auth_require_tls=False``: AUTH before TLS), and Python's smtplib as the
clients, each bound to its own loopback address, tcpdump capturing:

* 127.0.0.66 fails AUTH LOGIN for ``alice`` six times, one session each, then logs in
  with the right password and sends a message (password guessing, then a guessed
  password);
* 127.0.0.77 fails AUTH PLAIN for six different users (password spraying);
* 127.0.1.1 to 127.0.1.5 each fail once for ``bob`` (distributed guessing);
* 127.0.0.88 is a broken client (a script on a raw socket, as such clients are): three
  sessions whose message has a line starting with an unstuffed ``.``.

    python samples/make_audit_samples.py [--out DIR]
    python samples/make_audit_samples.py --screenshot   # samples/audit-report.png

Needs tcpdump, openssl and the right to capture (root). The credentials are made up.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

HERE = Path(__file__).resolve().parent
USERS = {"alice": "correct-horse-9", "bob": "bobs-password-3"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tls_context(folder: Path) -> ssl.SSLContext:
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=mx.example.test", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def _fail(port: int, source: str, user: str, password: str, mech: str = "LOGIN") -> None:
    with smtplib.SMTP("127.0.0.1", port, local_hostname=f"host-{source}.example",
                      source_address=(source, 0)) as smtp:
        smtp.ehlo()
        smtp.user, smtp.password = user, password
        method = smtp.auth_login if mech == "LOGIN" else smtp.auth_plain
        with contextlib.suppress(smtplib.SMTPAuthenticationError):  # 535: the point
            smtp.auth(mech, method, initial_response_ok=mech == "PLAIN")
        smtp.quit()


def _login_and_send(port: int, source: str, user: str, password: str) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"] = f"{user}@example.test", "carol@example.test"
    msg["Subject"], msg["Date"] = "invoice", "Mon, 01 Jan 2024 10:00:00 +0000"
    msg["Message-ID"] = "<guessed-1@example.test>"
    msg.set_content("Please pay the attached invoice.\n")
    with smtplib.SMTP("127.0.0.1", port, local_hostname=f"host-{source}.example",
                      source_address=(source, 0)) as smtp:
        smtp.ehlo()
        smtp.user, smtp.password = user, password
        smtp.auth("LOGIN", smtp.auth_login, initial_response_ok=False)
        smtp.send_message(msg)
        smtp.quit()


def _broken_client(port: int, source: str) -> None:
    """A script that writes the body as it is: no dot-stuffing (RFC 5321 §4.5.2)."""
    with socket.create_connection(("127.0.0.1", port), source_address=(source, 0)) as s:
        f = s.makefile("rwb")

        def reply() -> None:
            while (line := f.readline()) and line[3:4] == b"-":
                pass

        def send(line: bytes) -> None:
            f.write(line + b"\r\n")
            f.flush()

        reply()
        for line in (b"EHLO cron-mailer.example", b"MAIL FROM:<cron@example.test>",
                     b"RCPT TO:<ops@example.test>", b"DATA"):
            send(line)
            reply()
        for line in (b"Subject: nightly report", b"", b"disk usage:",
                     b".snapshots 12G", b"done"):
            send(line)
        send(b".")
        reply()
        send(b"QUIT")
        reply()


def make(path: Path) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    logging.getLogger("mail.log").setLevel(logging.ERROR)
    if shutil.which("tcpdump") is None or shutil.which("openssl") is None:
        sys.exit("tcpdump and openssl are needed")

    class Sink:
        async def handle_DATA(self, server: object, session: object, envelope: object,
                              ) -> str:
            return "250 2.0.0 Ok: queued"

    def authenticator(server: object, session: object, envelope: object, mechanism: str,
                      auth_data: object) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword)
              and USERS.get(auth_data.login.decode()) == auth_data.password.decode())
        return AuthResult(success=ok, handled=False)  # False: aiosmtpd answers 535

    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        controller = Controller(Sink(), hostname="127.0.0.1", port=port,
                                server_hostname="mx.example.test", ident="ESMTP aiosmtpd",
                                authenticator=authenticator, auth_require_tls=False,
                                tls_context=_tls_context(Path(tmp)))
        controller.start()
        dump = subprocess.Popen(["tcpdump", "-i", "lo", "-U", "-s", "0", "-w", str(path),
                                 f"tcp port {port}"], stderr=subprocess.PIPE, text=True)
        try:
            assert dump.stderr is not None
            line = dump.stderr.readline()
            if "listening" not in line:
                sys.exit(f"tcpdump did not start: {line.strip()}")
            time.sleep(0.5)
            for attempt in range(6):
                _fail(port, "127.0.0.66", "alice", f"guess-{attempt}")
            _login_and_send(port, "127.0.0.66", "alice", USERS["alice"])
            for user in ("admin", "info", "sales", "office", "test", "web"):
                _fail(port, "127.0.0.77", user, "Summer2024!", "PLAIN")
            for host in range(1, 6):
                _fail(port, f"127.0.1.{host}", "bob", f"bob{host}")
            for _ in range(3):
                _broken_client(port, "127.0.0.88")
            time.sleep(0.5)
        finally:
            dump.terminate()
            dump.wait(timeout=10)
            controller.stop()
    data = path.read_bytes()  # tcpdump drops root for its own user: make it ours
    path.unlink()
    path.write_bytes(data)
    print(f"wrote {path} ({len(data)} bytes)")


def screenshot(out: Path) -> None:
    """The README's picture: the audit page of the guessing capture, the real Postfix log
    and the swaks log, as headless Chromium shows it."""
    sys.path.insert(0, str(HERE.parent))
    from tests.chromium import screenshot as shoot

    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "audit.html"
        subprocess.run([sys.executable, "-m", "smtplens", "audit", "--quiet", "--fail-on",
                        "never", "--report", str(page), "samples/audit-guessing.pcap",
                        "samples/postfix-maillog.log", "samples/swaks-auth-login.log"],
                       cwd=HERE.parent, check=True)
        shoot(page.read_text(), out, width=1280)
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--screenshot", action="store_true",
                        help="only write audit-report.png (needs chromium)")
    args = parser.parse_args()
    if args.screenshot:
        screenshot(args.out / "audit-report.png")
        return
    make(args.out / "audit-guessing.pcap")


if __name__ == "__main__":
    main()
