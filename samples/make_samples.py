"""Regenerate the transcript samples from real software.

A real server (aiosmtpd) talks to real clients (Python's smtplib, or a raw socket for
the broken clients smtplib will not imitate) through a recording proxy that writes
exactly the bytes each side sent, in smtplens' C:/S: transcript format.

    .venv/bin/python samples/make_samples.py
"""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

HERE = Path(__file__).resolve().parent
USERS = {b"alice": b"s3cret!"}


class Handler:
    async def handle_DATA(self, server: object, session: Session, envelope: Envelope) -> str:
        return "250 2.0.0 Ok: queued"


def authenticator(server: object, session: Session, envelope: Envelope, mechanism: str,
                  auth_data: object) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and USERS.get(auth_data.login) == \
        auth_data.password
    return AuthResult(success=ok, handled=False)  # False: aiosmtpd answers 535


def escape(data: bytes) -> str:
    out = []
    for b in data:
        ch = chr(b)
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\x00":
            out.append("\\0")
        elif 32 <= b < 127:
            out.append(ch)
        else:
            out.append(f"\\x{b:02x}")
    return "".join(out)


class Recorder:
    """A TCP proxy that writes what each side sent as C:/S: lines."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.lines: list[str] = []
        self.start = time.time()
        self.pending = {"C": b"", "S": b""}
        self.lock = threading.Lock()

    def record(self, side: str, data: bytes) -> None:
        with self.lock:
            buf = self.pending[side] + data
            ts = f"{time.time():.6f}"
            while True:
                nl = buf.find(b"\n")
                if nl < 0:
                    break
                line, buf = buf[: nl + 1], buf[nl + 1:]
                if line.endswith(b"\r\n") and b"\r" not in line[:-2] and b"\n" not in line[:-1] \
                        and b"\x00" not in line and all(32 <= b < 127 for b in line[:-2]):
                    self.lines.append(f"{ts} {side}: {line[:-2].decode()}")
                else:
                    self.lines.append(f"{ts} {side}= {escape(line)}")
            self.pending[side] = buf

    def flush(self) -> None:
        for side, buf in self.pending.items():
            if buf:
                self.lines.append(f"{time.time():.6f} {side}= {escape(buf)}")
        self.pending = {"C": b"", "S": b""}

    def serve(self) -> int:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def run() -> None:
            client, _ = listener.accept()
            server = socket.create_connection(("127.0.0.1", self.upstream_port))

            def pump(src: socket.socket, dst: socket.socket, side: str) -> None:
                while True:
                    try:
                        data = src.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        with contextlib.suppress(OSError):
                            dst.shutdown(socket.SHUT_WR)
                        return
                    self.record(side, data)
                    dst.sendall(data)

            t = threading.Thread(target=pump, args=(server, client, "S"), daemon=True)
            t.start()
            pump(client, server, "C")
            t.join(timeout=5)
            client.close()
            server.close()
            listener.close()

        threading.Thread(target=run, daemon=True).start()
        return int(listener.getsockname()[1])


def raw_client(port: int, script: list[bytes], close_early: bool = False) -> None:
    """Send each chunk, reading whatever the server answers in between."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.settimeout(1.0)
        s.recv(4096)
        for chunk in script:
            s.sendall(chunk)
            time.sleep(0.15)
            with contextlib.suppress(TimeoutError):
                s.recv(65536)
        if not close_early:
            time.sleep(0.2)


def record(name: str, comment: str, client: Callable[[int], None], port: int | None = None,
           script: str = "make_samples.py") -> None:
    """Record ``client`` talking to aiosmtpd (on ``port``, or a free one) into
    ``samples/name``, headed by ``comment`` and the ``script`` that made it."""
    if port is None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
    controller = Controller(Handler(), hostname="127.0.0.1", port=port,
                            authenticator=authenticator, auth_require_tls=False,
                            server_hostname="mx.example.test")
    controller.start()
    try:
        rec = Recorder(port)
        proxy = rec.serve()
        client(proxy)
        time.sleep(0.5)
        rec.flush()
    finally:
        controller.stop()
    header = [f"# {line}" for line in comment.strip().splitlines()]
    header.append(f"# recorded from aiosmtpd by samples/{script}")
    (HERE / name).write_text("\n".join([*header, *rec.lines]) + "\n")
    print(f"wrote samples/{name} ({len(rec.lines)} lines)")


def auth_login_only(port: int) -> None:
    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.example.org") as smtp:
        smtp.ehlo()
        smtp.user, smtp.password = "alice", "s3cret!"
        smtp.auth("LOGIN", smtp.auth_login, initial_response_ok=False)
        body = ("From: alice@example.org\r\nTo: bob@example.com\r\nSubject: Quarterly report"
                "\r\n\r\nHello Bob,\r\n.signature lines start with a dot and smtplib "
                "stuffs them.\r\nAlice\r\n")
        smtp.sendmail("alice@example.org", ["bob@example.com"], body)


BODY = b"From: eve@example.org\r\nTo: bob@example.com\r\nSubject: test\r\n\r\n"


def unstuffed(port: int) -> None:
    raw_client(port, [b"EHLO script.example.org\r\n", b"MAIL FROM:<eve@example.org>\r\n",
                      b"RCPT TO:<bob@example.com>\r\n", b"DATA\r\n",
                      BODY + b"Totals:\r\n.5 percent growth\r\n.net revenue up\r\nBye\r\n.\r\n",
                      b"QUIT\r\n"])


def premature(port: int) -> None:
    raw_client(port, [b"EHLO script.example.org\r\n", b"MAIL FROM:<eve@example.org>\r\n",
                      b"RCPT TO:<bob@example.com>\r\n", b"DATA\r\n",
                      BODY + b"first part\r\n.\r\nsecond part was lost\r\nregards\r\n.\r\n",
                      b"QUIT\r\n"])


def missing_terminator(port: int) -> None:
    raw_client(port, [b"EHLO script.example.org\r\n", b"MAIL FROM:<eve@example.org>\r\n",
                      b"RCPT TO:<bob@example.com>\r\n", b"DATA\r\n",
                      BODY + b"the client died before the end\r\n"], close_early=True)


def smuggling(port: int) -> None:
    payload = (BODY + b"innocent text\r\n\n.\r\nMAIL FROM:<ceo@example.com>\r\n"
               b"RCPT TO:<bob@example.com>\r\nDATA\r\nFrom: ceo@example.com\r\n"
               b"Subject: wire the money\r\n\r\nurgent\r\n.\r\n")
    raw_client(port, [b"EHLO attacker.example.net\r\n", b"MAIL FROM:<eve@example.org>\r\n",
                      b"RCPT TO:<bob@example.com>\r\n", b"DATA\r\n", payload, b"QUIT\r\n"])


def main() -> None:
    asyncio.set_event_loop(asyncio.new_event_loop())
    record("auth-login.txt", "smtplib: AUTH LOGIN without TLS, then one message",
           auth_login_only)
    record("unstuffed-dot.txt", "a script that does not dot-stuff lines starting with '.'",
           unstuffed)
    record("premature-end.txt", "a bare '.' line in the body ended the message early",
           premature)
    record("missing-terminator.txt", "the client closed the connection inside DATA",
           missing_terminator)
    record("smuggling.txt", "an SMTP-smuggling attempt: <LF>.<CR><LF> then a second message",
           smuggling)


if __name__ == "__main__":
    main()
