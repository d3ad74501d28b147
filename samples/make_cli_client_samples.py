"""Regenerate the msmtp and PHPMailer debug-output samples from real clients.

A real aiosmtpd server (AUTH PLAIN/LOGIN for ``alice@example.test`` / ``s3cret!``,
STARTTLS with a throw-away self-signed certificate made with ``openssl req``, and a
550 for any ``nobody@...`` recipient) listens on 127.0.0.1:2601; then

* Debian's msmtp (1.8.23) is run with ``-v`` five times: AUTH PLAIN in clear, AUTH
  LOGIN after STARTTLS (``--tls=on --tls-starttls=on --tls-certcheck=off``), a wrong
  password (535), a rejected recipient (550), and AUTH PLAIN with TLS on connect
  (``--tls-starttls=off``, against the same server on 127.0.0.1:2602), all written to
  ``samples/msmtp-verbose.log`` (stdout and stderr as the terminal shows them);
* Debian's libphp-phpmailer (6.6.3, php-cli 8.2) sends with ``SMTPDebug = 2`` and
  ``SMTPDebug = 4`` (``Debugoutput = 'echo'``): AUTH LOGIN that succeeds, then a wrong
  password (535), into ``samples/phpmailer-level2.log`` and
  ``samples/phpmailer-level4.log``; plus level 4 in ``'html'`` mode (success only) into
  ``samples/phpmailer-level4-html.log`` and in ``'error_log'`` mode (PHP's error log,
  ``-d error_log=...``) into ``samples/phpmailer-level4-errorlog.log``.

The password is given to msmtp through ``--passwordeval`` reading a file, so msmtp's
settings dump shows the command, not the password.

    .venv/bin/python samples/make_cli_client_samples.py

``samples/smtp-cli-verbose.log`` and ``samples/mailkit-protocol.log`` are not made
here: smtp-cli and .NET are not available on this machine (see their first lines).
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

HERE = Path(__file__).resolve().parent
PORT = 2601
SMTPS_PORT = 2602  # the same server with TLS on connect (RFC 8314 §3)
USERS = {b"alice@example.test": b"s3cret!"}
MESSAGE = ("From: Alice <alice@example.test>\nTo: bob@example.test\nSubject: Build report\n"
           "\nThe nightly build passed.\n.signature: lines that start with a dot get stuffed\n")

PHP = r"""<?php
require '/usr/share/php/libphp-phpmailer/autoload.php';
use PHPMailer\PHPMailer\PHPMailer;
[$_, $port, $level, $mode, $password] = $argv;
$mail = new PHPMailer(true);
$mail->isSMTP();
$mail->Host = '127.0.0.1';
$mail->Port = (int)$port;
$mail->SMTPAuth = true;
$mail->AuthType = 'LOGIN';
$mail->Username = 'alice@example.test';
$mail->Password = $password;
$mail->SMTPSecure = '';
$mail->SMTPAutoTLS = false;
$mail->Hostname = 'web01.example.test';
$mail->SMTPDebug = (int)$level;
$mail->Debugoutput = $mode;
$mail->setFrom('alice@example.test', 'Shop');
$mail->addAddress('bob@example.test');
$mail->Subject = 'Your order';
$mail->Body = "Thank you for your order.\n.this line starts with a dot\n";
try {
    $mail->send();
} catch (Exception $e) {
    echo "Mailer Error: ", $mail->ErrorInfo, "\n";
}
"""


class Handler:
    async def handle_RCPT(self, server: object, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address.startswith("nobody@"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: object, session: Session, envelope: Envelope) -> str:
        return "250 2.0.0 Ok: queued as 4F2A1C"


def authenticator(server: object, session: Session, envelope: Envelope, mechanism: str,
                  auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and USERS.get(auth_data.login) == \
        auth_data.password
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd sends the 535


def tls_context(workdir: Path) -> ssl.SSLContext:
    key, cert = workdir / "key.pem", workdir / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=mx.example.test"],
                   check=True, capture_output=True)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def msmtp(workdir: Path, password: str, auth: str, recipients: list[str],
          tls: str = "off") -> str:
    pw = workdir / "password"
    pw.write_text(password + "\n")
    port = SMTPS_PORT if tls == "on-connect" else PORT
    args = ["msmtp", "-v", "-C", "/dev/null", "--host=127.0.0.1", f"--port={port}",
            f"--auth={auth}", "--user=alice@example.test", f"--passwordeval=cat {pw}",
            "--from=alice@example.test", "--domain=client.example.test"]
    if tls == "off":
        args.append("--tls=off")
    else:
        args += ["--tls=on", f"--tls-starttls={'on' if tls == 'starttls' else 'off'}",
                 "--tls-certcheck=off"]
    # stdbuf: stdout line-buffered, so the "msmtp: ..." errors on stderr land where a
    # terminal shows them
    run = subprocess.run(["stdbuf", "-oL", *args, *recipients], input=MESSAGE, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    # the path of the temporary directory changes with every run
    return run.stdout.replace(str(workdir), "/home/alice/.config/msmtp")


def phpmailer(workdir: Path, level: int, mode: str, password: str) -> str:
    script = workdir / "send.php"
    script.write_text(PHP)
    log = workdir / "php-error.log"
    log.unlink(missing_ok=True)
    # error_log mode: PHP's own log file, "[02-Dec-2026 05:44:29 UTC] ..." lines
    run = subprocess.run(["php", "-d", f"error_log={log}", "-d", "date.timezone=UTC",
                          str(script), str(PORT), str(level), mode, password],
                         text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         timeout=30)
    return log.read_text() if mode == "error_log" else run.stdout


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="smtplens-cli-"))
    controller = Controller(Handler(), hostname="127.0.0.1", port=PORT,
                            authenticator=authenticator, auth_require_tls=False,
                            server_hostname="mx.example.test",
                            tls_context=tls_context(workdir))
    smtps = Controller(Handler(), hostname="127.0.0.1", port=SMTPS_PORT,
                       authenticator=authenticator, auth_require_tls=False,
                       server_hostname="mx.example.test", ssl_context=tls_context(workdir))
    controller.start()
    smtps.start()
    try:
        runs = [msmtp(workdir, "s3cret!", "plain", ["bob@example.test"]),
                msmtp(workdir, "s3cret!", "login", ["bob@example.test"], tls="starttls"),
                msmtp(workdir, "wrong-pass", "login", ["bob@example.test"]),
                msmtp(workdir, "s3cret!", "plain", ["bob@example.test",
                                                     "nobody@example.test"]),
                msmtp(workdir, "s3cret!", "plain", ["bob@example.test"], tls="on-connect")]
        (HERE / "msmtp-verbose.log").write_text("".join(runs))
        for name, level, mode in [("phpmailer-level2.log", 2, "echo"),
                                  ("phpmailer-level4.log", 4, "echo"),
                                  ("phpmailer-level4-html.log", 4, "html"),
                                  ("phpmailer-level4-errorlog.log", 4, "error_log")]:
            text = phpmailer(workdir, level, mode, "s3cret!")
            if mode != "html":
                text += phpmailer(workdir, level, mode, "wrong-pass")
            (HERE / name).write_text(text)
            time.sleep(0.2)
    finally:
        controller.stop()
        smtps.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    for name in ("msmtp-verbose.log", "phpmailer-level2.log", "phpmailer-level4.log",
                 "phpmailer-level4-html.log", "phpmailer-level4-errorlog.log"):
        print(f"wrote samples/{name} ({(HERE / name).stat().st_size} bytes)")


if __name__ == "__main__":
    main()
