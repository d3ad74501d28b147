"""Regenerate the client debug-output samples from real client libraries.

Real aiosmtpd servers (plain + STARTTLS on one port, implicit TLS on another, AUTH PLAIN
and LOGIN for ``alice`` / ``s3cret!``) are started here; then

* Jakarta Mail (Debian's ``libjakarta-mail-java`` 2.0, ``/usr/share/java``) runs
  ``samples/javamail/SendSample.java`` with ``mail.debug=true``, writing
  ``samples/javamail-debug.log``;
* Nodemailer (installed with npm into a scratch folder, not the repo) runs
  ``samples/nodemailer/send_sample.mjs`` with ``logger: true, debug: true``, writing
  ``samples/nodemailer-debug.log``, and with a pino logger (JSON lines), writing
  ``samples/nodemailer-pino.log``.

Needs: ``javac``/``java`` (17), ``libjakarta-mail-java`` and ``libjakarta-activation-java``,
``node`` (18+), ``openssl`` (a throw-away self-signed certificate), and::

    mkdir -p /tmp/nodemailer-run && cd /tmp/nodemailer-run && npm install nodemailer pino
    .venv/bin/python samples/make_client_samples.py [--npm-dir /tmp/nodemailer-run]

Ports 2550 (plain/STARTTLS) and 2553 (implicit TLS) on 127.0.0.1. The outputs differ
between runs only in timestamps, message ids and Nodemailer's session ids.
"""

from __future__ import annotations

import argparse
import os
import ssl
import subprocess
import tempfile
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

HERE = Path(__file__).resolve().parent
USERS = {b"alice": b"s3cret!"}
PORT, SMTPS_PORT = 2550, 2553
JARS = ["/usr/share/java/jakarta-mail.jar", "/usr/share/java/jakarta-activation.jar"]


class Handler:
    async def handle_DATA(self, server: object, session: Session, envelope: Envelope) -> str:
        return "250 2.0.0 Ok: queued"


def authenticator(server: object, session: Session, envelope: Envelope, mechanism: str,
                  auth_data: object) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and USERS.get(auth_data.login) == \
        auth_data.password
    # handled=False: aiosmtpd answers a failure with 535 (handled=True sends nothing)
    return AuthResult(success=ok, handled=False)


def certificate(folder: Path) -> ssl.SSLContext:
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=mx.example.test", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return context


def header(comment: str, mark: str) -> str:
    """Comment lines on top of a sample (the readers ignore lines they do not know)."""
    return "".join(f"{mark} {line}\n" for line in comment.strip().splitlines())


def javamail(build: Path) -> None:
    classpath = ":".join(JARS)
    subprocess.run(["javac", "-cp", classpath, "-d", str(build),
                    str(HERE / "javamail" / "SendSample.java")], check=True)
    run = subprocess.run(["java", "-cp", f"{build}:{classpath}", "SendSample", str(PORT),
                          str(SMTPS_PORT)], check=True, capture_output=True, text=True,
                         timeout=120)
    version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libjakarta-mail-java"],
                             capture_output=True, text=True).stdout.strip()
    text = header(f"Jakarta Mail (Debian libjakarta-mail-java {version}) mail.debug=true "
                  "output against aiosmtpd,\nrecorded by samples/make_client_samples.py",
                  "#") + run.stdout
    (HERE / "javamail-debug.log").write_text(text)
    print(f"wrote samples/javamail-debug.log ({text.count(chr(10))} lines)")


def nodemailer(npm_dir: Path) -> None:
    env = dict(os.environ, NODE_PATH=str(npm_dir / "node_modules"))
    script = str(HERE / "nodemailer" / "send_sample.mjs")
    pkg = (npm_dir / "node_modules" / "nodemailer" / "package.json").read_text()
    version = pkg.split('"version": "', 1)[1].split('"', 1)[0]
    for mode, name in (("text", "nodemailer-debug.log"), ("pino", "nodemailer-pino.log")):
        run = subprocess.run(["node", script, mode, str(PORT), str(SMTPS_PORT)], check=True,
                             capture_output=True, text=True, timeout=120, env=env,
                             cwd=npm_dir)
        text = run.stdout
        if mode == "text":
            text = header(f"Nodemailer {version} logger+debug output against aiosmtpd,\n"
                          "recorded by samples/make_client_samples.py", "#") + text
        (HERE / name).write_text(text)
        print(f"wrote samples/{name} ({text.count(chr(10))} lines)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--npm-dir", type=Path, default=Path("/tmp/nodemailer-run"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        context = certificate(Path(tmp))
        plain = Controller(Handler(), hostname="127.0.0.1", port=PORT,
                           authenticator=authenticator, auth_require_tls=False,
                           tls_context=context, server_hostname="mx.example.test")
        implicit = Controller(Handler(), hostname="127.0.0.1", port=SMTPS_PORT,
                              authenticator=authenticator, auth_require_tls=False,
                              ssl_context=context, server_hostname="mx.example.test")
        plain.start()
        implicit.start()
        try:
            javamail(Path(tmp) / "build")
            nodemailer(args.npm_dir)
        finally:
            plain.stop()
            implicit.stop()


if __name__ == "__main__":
    main()
