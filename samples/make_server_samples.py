"""Regenerate the Haraka and OpenSMTPD samples from real servers run here.

    python samples/make_server_samples.py haraka      # writes samples/haraka-protocol.log
    python samples/make_server_samples.py opensmtpd   # writes samples/opensmtpd-*.log

Haraka: ``npm install Haraka`` in /tmp/haraka-run (outside the repo), then
``node_modules/.bin/haraka -i /tmp/haraka-run/srv``; this script writes the config
(loglevel=protocol, listen 127.0.0.1:2650, auth/flat_file with alice@example.test,
rcpt_to.in_host_list for example.test, queue/discard), runs ``haraka -c srv`` and sends
sessions with smtplib: AUTH PLAIN success + a message with a dot-stuffed line, AUTH LOGIN
failure (535), a rejected RCPT. Haraka offers AUTH without TLS on a private address.

OpenSMTPD: a Debian bookworm root copied from /tmp/roots/base to /tmp/roots/opensmtpd
(this script bind-mounts ``/proc`` and ``/dev`` there; ``umount`` them afterwards; never
on the host: it is an MTA). Bookworm's 6.8.0p2 cannot do TLS with OpenSSL 3 ("missing
private key", OpenSMTPD issue #1171) and offers AUTH only after STARTTLS, so trixie's
7.6.0p1 is installed there instead (``deb http://deb.debian.org/debian trixie main`` in
sources.list.d, ``apt-get install -t trixie opensmtpd ca-certificates``). This script
writes /etc/smtpd.conf there (listen on 127.0.0.1 port 2651 with STARTTLS, a self-signed
certificate and ``auth-optional <passwds>``: see OPENSMTPD_CONF), runs ``chroot ...
smtpd -d -v -T smtp`` as root and sends the same kind of sessions. ``-d`` writes the
brief log lines and the ``-T smtp`` trace to stderr; they are split into the two samples
(the trace: the ``smtp: 0x...:`` lines, the unprefixed ``<<< [MSG]`` lines and the brief
``smtp`` lines between them; the brief log: the ``smtp``/``mta``/``mda`` event lines).
A relayed message (AUTH, then RCPT to relay.test) goes to port 2653, where nothing
listens: the ``mta`` lines.

In both samples the first session is the script's port probe (greeting, QUIT).

Only fake credentials are used (alice@example.test / s3cret!).
"""

from __future__ import annotations

import contextlib
import os
import re
import smtplib
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HARAKA = Path("/tmp/haraka-run")
ROOT = Path("/tmp/roots/opensmtpd")
USER, PASSWORD = "alice@example.test", "s3cret!"
BODY = ("From: alice@example.test\r\nTo: bob@example.test\r\nSubject: hello\r\n\r\n"
        "first line\r\n.a line that starts with a dot (dot-stuffed on the wire)\r\n"
        "last line\r\n")


def wait_port(port: int, seconds: float = 20.0) -> None:
    end = time.time() + seconds
    while time.time() < end:
        try:
            smtplib.SMTP("127.0.0.1", port, timeout=2).quit()
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"nothing listens on port {port}")


def sessions(port: int, tls: bool = False) -> None:
    """The same four sessions against either server (two of them overlap in time)."""
    def connect() -> smtplib.SMTP:
        s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.example.test",
                         timeout=10)
        s.ehlo()
        if tls:
            import ssl
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s.starttls(context=ctx)
            s.ehlo()
        return s

    # 1. AUTH PLAIN success and a message with a dot-stuffed line; a second session
    #    (AUTH LOGIN with a wrong password) runs while the first one is open
    good = connect()
    bad = connect()
    good.login(USER, PASSWORD)  # both servers offer PLAIN LOGIN: smtplib picks PLAIN
    bad.user, bad.password = USER, "wrong-password"
    with contextlib.suppress(smtplib.SMTPAuthenticationError):
        bad.auth("LOGIN", bad.auth_login, initial_response_ok=False)
    good.sendmail(USER, ["bob@example.test"], BODY)
    bad.quit()
    good.quit()
    # 2. a rejected RCPT (a domain the server does not take mail for)
    rej = connect()
    rej.mail("carol@example.test")
    rej.rcpt("dave@elsewhere.invalid")
    rej.rset()
    rej.quit()


# ---------------------------------------------------------------------- Haraka
def haraka() -> None:
    srv = HARAKA / "srv"
    cfg = srv / "config"
    (cfg / "log.ini").write_text("[main]\nlevel=protocol\ntimestamps=true\n"
                                 "format=default\n")
    (cfg / "loglevel").write_text("protocol\n")
    (cfg / "smtp.ini").write_text("listen=127.0.0.1:2650\nnodes=0\n")
    (cfg / "plugins").write_text("auth/flat_file\nrcpt_to.in_host_list\nqueue/discard\n")
    (cfg / "host_list").write_text("example.test\n")
    (cfg / "me").write_text("mx.example.test\n")
    (cfg / "auth_flat_file.ini").write_text(
        f"[core]\nmethods=PLAIN,LOGIN\n\n[users]\n{USER}={PASSWORD}\n")
    out = Path("/tmp/srvgen/haraka.out")
    env = dict(os.environ, YES_REALLY_DO_DISCARD="1")
    with out.open("wb") as fh:
        proc = subprocess.Popen([str(HARAKA / "node_modules/.bin/haraka"), "-c", str(srv)],
                                stdout=fh, stderr=subprocess.STDOUT, env=env)
    try:
        wait_port(2650)
        sessions(2650)
        time.sleep(1)
    finally:
        proc.terminate()
        proc.wait(10)
    text = out.read_text("utf-8", "replace")
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # colours, when Haraka thinks it is a tty
    keep = [ln for ln in text.splitlines()
            if re.match(r"^\S+ \[(PROTOCOL|INFO|NOTICE|WARN|ERROR)\] \[[0-9A-F-]{36}", ln)]
    # the wait_port probe makes one short session first: keep it (a real connection)
    (HERE / "haraka-protocol.log").write_text("\n".join(keep) + "\n")
    print(f"haraka-protocol.log: {len(keep)} lines")


# ---------------------------------------------------------------------- OpenSMTPD
OPENSMTPD_CONF = """\
# written by samples/make_server_samples.py
pki mx.example.test cert "/etc/smtpd/cert.pem"
pki mx.example.test key "/etc/smtpd/key.pem"
table passwds file:/etc/smtpd/passwds
table virt file:/etc/smtpd/virtual
# AUTH is offered only after STARTTLS; auth-optional lets unauthenticated clients send
listen on 127.0.0.1 port 2651 tls pki mx.example.test auth-optional <passwds> \\
    hostname mx.example.test
action "recv" maildir "/var/vmail/%{dest.user}" virtual <virt>
# nothing listens on 2653: the mta lines show a failed delivery attempt
action "out" relay host smtp://127.0.0.1:2653
match from any for domain "example.test" action "recv"
match auth from any for domain "relay.test" action "out"
"""


def chroot(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["chroot", str(ROOT), *args], check=True, text=True,
                          capture_output=True, **kw)  # type: ignore[call-overload]


def opensmtpd() -> None:
    for mount in ("proc", "dev"):  # smtpd needs /dev/null, /dev/urandom and /proc
        if not os.path.ismount(ROOT / mount):
            subprocess.run(["mount", "--bind", f"/{mount}", str(ROOT / mount)], check=True)
    etc = ROOT / "etc/smtpd"
    etc.mkdir(exist_ok=True)
    # a self-signed certificate for STARTTLS (7.6 takes RSA or ECDSA keys)
    if not (etc / "cert.pem").exists():
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes",
                        "-keyout", str(etc / "key.pem"), "-out", str(etc / "cert.pem"),
                        "-days", "3650", "-subj", "/CN=mx.example.test"], check=True,
                       capture_output=True)
        (etc / "key.pem").chmod(0o600)
    hashed = chroot("smtpctl", "encrypt", PASSWORD).stdout.strip()
    (etc / "passwds").write_text(f"{USER} {hashed}\n")
    if subprocess.run(["chroot", str(ROOT), "id", "vmail"], capture_output=True).returncode:
        chroot("useradd", "-m", "-d", "/var/vmail", "vmail")
    (etc / "virtual").write_text("bob@example.test vmail\nalice@example.test vmail\n")
    (ROOT / "etc/smtpd.conf").write_text(OPENSMTPD_CONF)
    chroot("smtpd", "-n")
    # an empty queue: the mta lines are this run's relayed message, not an older one
    chroot("sh", "-c", "rm -rf /var/spool/smtpd/queue/* /var/spool/smtpd/incoming/*")
    out = Path("/tmp/srvgen/opensmtpd.out")
    with out.open("wb") as fh:
        proc = subprocess.Popen(["chroot", str(ROOT), "smtpd", "-d", "-v", "-T", "smtp"],
                                stdout=fh, stderr=subprocess.STDOUT)
    try:
        wait_port(2651)
        sessions(2651, tls=True)
        # a relayed message: the mta lines of a delivery attempt
        s = smtplib.SMTP("127.0.0.1", 2651, local_hostname="client.example.test")
        s.starttls()
        s.login(USER, PASSWORD)
        s.sendmail(USER, ["erin@relay.test"], BODY.replace("bob@example.test",
                                                            "erin@relay.test"))
        s.quit()
        time.sleep(3)
    finally:
        proc.terminate()
        proc.wait(10)
    lines = out.read_text("utf-8", "replace").splitlines()
    # the trace: smtpd's "smtp: 0x...:" lines, the message lines it prints unprefixed
    # ("<<< [MSG] ...", "<<< [EOM]") and the brief session lines between them
    trace = [ln for ln in lines
             if re.match(r"^(?:smtp: 0x[0-9a-f]+: |<<< \[(?:MSG|EOM)\]|[0-9a-f]{16} smtp )", ln)]
    brief = [ln for ln in lines if re.match(r"^[0-9a-f]{16} (?:smtp|mta|mda) ", ln)]
    (HERE / "opensmtpd-trace.log").write_text("\n".join(trace) + "\n")
    (HERE / "opensmtpd-maillog.log").write_text("\n".join(brief) + "\n")
    print(f"opensmtpd-trace.log: {len(trace)} lines, opensmtpd-maillog.log: {len(brief)}")


if __name__ == "__main__":
    what = sys.argv[1:] or ["haraka", "opensmtpd"]
    if "haraka" in what:
        haraka()
    if "opensmtpd" in what:
        opensmtpd()
