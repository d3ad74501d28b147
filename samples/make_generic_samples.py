"""Regenerate the samples of the generic reader (``samples/generic-*.log``) from real software.

    .venv/bin/python samples/make_generic_samples.py

* ``generic-smtplib-logging.log``: Python's smtplib debug output (``set_debuglevel(1)``)
  sent through the ``logging`` module with a timestamp/level/name format, as
  applications do, talking to a real aiosmtpd server (AUTH LOGIN, a dot-stuffed line);
* ``generic-go-smtp.log``: a go-smtp 0.12 server (``samples/go-smtp-debug/main.go``,
  ``Server.Debug = os.Stdout``: what maddy writes) receiving a session from smtplib
  with AUTH PLAIN: both sides' raw lines, no markers;
* ``generic-telnet.log``: a raw-socket session against aiosmtpd written the way a
  telnet paste shows it (both sides' lines, no markers);
* ``generic-sent-got.log``: a real aiosmtpd session's lines in the ``Sent:``/``Got:``
  layout of DokuWiki's and FakeSMTP's debug output (layout written from their docs);
* ``generic-logcat.log``: a real aiosmtpd session's lines in Android logcat's
  ``threadtime`` layout (``MM-DD HH:MM:SS.mmm  PID  TID D tag: ...``) with K-9 Mail /
  Thunderbird for Android's ``SMTP >>>``/``SMTP <<<`` lines (layout written from the
  logcat documentation, around the real session).

Ports 2500-2549 only. The credentials are fake (alice@example.test / s3cret!).
"""

from __future__ import annotations

import base64
import logging
import os
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

HERE = Path(__file__).resolve().parent
USER, PASSWORD = "alice@example.test", "s3cret!"
AIOSMTPD_PORT, GO_PORT = 2501, 2511
BODY = ("From: alice@example.test\r\nTo: bob@example.test\r\nSubject: Quarterly report\r\n"
        "\r\nHello Bob,\r\n.a line that starts with a dot is stuffed.\r\nAlice\r\n")


class Handler:
    async def handle_DATA(self, server: object, session: Session, envelope: Envelope) -> str:
        return "250 2.0.0 Ok: queued"


def authenticator(server: object, session: Session, envelope: Envelope, mechanism: str,
                  auth_data: object) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() \
        and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # False: aiosmtpd answers 535


def aiosmtpd() -> Controller:
    controller = Controller(Handler(), hostname="127.0.0.1", port=AIOSMTPD_PORT,
                            authenticator=authenticator, auth_require_tls=False,
                            server_hostname="mx.example.test")
    controller.start()
    return controller


class LoggedSMTP(smtplib.SMTP):
    """smtplib whose debug lines go to a logger instead of stderr (as apps do it)."""

    log = logging.getLogger("mailer.smtp")

    def _print_debug(self, *args: Any) -> None:
        self.log.debug(" ".join(str(a) for a in args))


def smtplib_logging() -> list[str]:
    out = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(name)s] %(message)s"))
    root = logging.getLogger("mailer")
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    app = logging.getLogger("mailer")
    app.info("sending the quarterly report to 1 recipient")
    with LoggedSMTP("127.0.0.1", AIOSMTPD_PORT, local_hostname="client.example.test") as smtp:
        smtp.set_debuglevel(1)
        smtp.ehlo()
        smtp.user, smtp.password = USER, PASSWORD
        smtp.auth("LOGIN", smtp.auth_login, initial_response_ok=False)
        smtp.sendmail(USER, ["bob@example.test"], BODY)
    app.info("report sent")
    root.removeHandler(handler)
    out.close()
    text = Path(out.name).read_text()
    os.unlink(out.name)
    return text.splitlines()


def go_smtp() -> list[str]:
    binary = Path(tempfile.gettempdir()) / "smtplens-generic-go-smtp-debug"
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": "/usr/share/gocode"}
    subprocess.run(["go", "build", "-o", str(binary), "main.go"], check=True, env=env,
                   cwd=HERE / "go-smtp-debug")
    with tempfile.TemporaryFile() as out:
        server = subprocess.Popen([str(binary), f"127.0.0.1:{GO_PORT}"], stdout=out)
        try:
            time.sleep(0.5)
            with smtplib.SMTP("127.0.0.1", GO_PORT, local_hostname="client.example.test") \
                    as smtp:
                smtp.ehlo()
                smtp.user, smtp.password = USER, PASSWORD
                smtp.auth("PLAIN", smtp.auth_plain)
                smtp.sendmail(USER, ["bob@example.test"], BODY)
            time.sleep(0.3)
        finally:
            server.terminate()
            server.wait()
        out.seek(0)
        return out.read().decode().splitlines()


def raw_session() -> list[tuple[float, str, str]]:
    """A raw-socket session (AUTH LOGIN, one message): (time, side, line) per line."""
    lines: list[tuple[float, str, str]] = []
    with socket.create_connection(("127.0.0.1", AIOSMTPD_PORT)) as sock:
        reader = sock.makefile("rb")

        def reply() -> None:
            while True:
                line = reader.readline().decode().rstrip("\r\n")
                lines.append((time.time(), "S", line))
                if line[3:4] != "-":
                    return

        def send(text: str, answer: bool = True) -> None:
            lines.append((time.time(), "C", text))
            sock.sendall(text.encode() + b"\r\n")
            if answer:
                reply()

        reply()
        send("EHLO client.example.test")
        send("AUTH LOGIN")
        send(base64.b64encode(USER.encode()).decode())
        send(base64.b64encode(PASSWORD.encode()).decode())
        send(f"MAIL FROM:<{USER}>")
        send("RCPT TO:<bob@example.test>")
        send("DATA")
        body = BODY.replace("\r\n.", "\r\n..").split("\r\n")[:-1]
        for line in body:
            send(line, answer=False)
        send(".")
        send("QUIT")
    return lines


def telnet(session: list[tuple[float, str, str]]) -> list[str]:
    return [text for _, _, text in session]


def sent_got(session: list[tuple[float, str, str]]) -> list[str]:
    return [f"{'Sent' if side == 'C' else 'Got'}: {text}" for _, side, text in session]


def logcat(session: list[tuple[float, str, str]]) -> list[str]:
    out = []
    for ts, side, text in session:
        when = datetime.fromtimestamp(ts).strftime("%m-%d %H:%M:%S.%f")[:-3]
        arrow = ">>>" if side == "C" else "<<<"
        out.append(f"{when}  4242  4318 D k9mail  : SMTP {arrow} {text}")
    return out


def write(name: str, header: str, lines: list[str]) -> None:
    head = [f"# {line}" if line else "#" for line in header.strip().splitlines()]
    (HERE / name).write_text("\n".join([*head, *lines]) + "\n")
    print(f"wrote samples/{name} ({len(lines)} lines)")


def main() -> None:
    controller = aiosmtpd()
    try:
        write("generic-smtplib-logging.log", "Python smtplib debug output through logging "
              "(made by samples/make_generic_samples.py)", smtplib_logging())
        session = raw_session()
        write("generic-telnet.log", "a raw-socket session with aiosmtpd, as a telnet "
              "paste shows it (made by samples/make_generic_samples.py)", telnet(session))
        write("generic-sent-got.log", "Sent:/Got: layout (DokuWiki, FakeSMTP) written from "
              "their documented layout\naround a real aiosmtpd session's lines (made by "
              "samples/make_generic_samples.py)", sent_got(session))
        write("generic-logcat.log", "Android logcat threadtime layout with K-9 Mail's "
              "'SMTP >>>'/'SMTP <<<' lines, written from\nthe documented layout around a "
              "real aiosmtpd session's lines (made by samples/make_generic_samples.py)",
              logcat(session))
    finally:
        controller.stop()
    write("generic-go-smtp.log", "go-smtp 0.12.1 Server.Debug output (samples/go-smtp-debug/"
          "main.go; made by samples/make_generic_samples.py)", go_smtp())


if __name__ == "__main__":
    sys.exit(main())
