"""Write the sample captures ``samples/auth-login.pcap`` and ``samples/smuggling.pcap``.

* ``auth-login.pcap`` is real traffic: an aiosmtpd server (AUTH LOGIN and PLAIN offered
  without TLS) on 127.0.0.1, Python's smtplib as the client, tcpdump capturing the
  loopback interface. The client says EHLO, authenticates with AUTH LOGIN, sends one
  message with a line starting with "." (smtplib dot-stuffs it, RFC 5321 §4.5.2) and a
  small attachment, then QUIT. Needs tcpdump and the right to capture (root).
* ``smuggling.pcap`` is crafted with scapy: a client probing for SMTP smuggling
  (CVE-2023-51764) sends ``<CR><LF>`` then ``<LF>.<CR><LF>`` followed by a second
  MAIL FROM/RCPT TO/DATA inside one DATA body, ended by the real ``<CR><LF>.<CR><LF>``;
  the server side is a plausible (patched) Postfix that takes it all as one message.

    python samples/make_pcap_samples.py [--only auth-login|smuggling] [--out DIR]

The credentials in the capture are made up for the sample.
"""

from __future__ import annotations

import argparse
import shutil
import smtplib
import socket
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

HERE = Path(__file__).resolve().parent
USER = "alice@example.test"
PASSWORD = "sample-password-1"  # made up: the capture shows it, that is the point


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_auth_login(path: Path) -> None:
    """Capture a real smtplib -> aiosmtpd session on the loopback interface."""
    import logging

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    # aiosmtpd 1.4 logs a deprecation of its own Session.login_data while authenticating
    logging.getLogger("mail.log").setLevel(logging.ERROR)

    if shutil.which("tcpdump") is None:
        sys.exit("tcpdump is needed for auth-login.pcap")

    class Sink:
        async def handle_DATA(self, server: object, session: object, envelope: object,
                              ) -> str:
            return "250 2.0.0 Ok: queued as 8F1A2C"

    def authenticator(server: object, session: object, envelope: object, mechanism: str,
                      auth_data: object) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login.decode() == USER and auth_data.password.decode() == PASSWORD)
        return AuthResult(success=ok, handled=False)  # False: aiosmtpd answers 535

    port = _free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port,
                            server_hostname="mx.example.test", ident="ESMTP aiosmtpd",
                            authenticator=authenticator, auth_require_tls=False)
    controller.start()
    dump = subprocess.Popen(["tcpdump", "-i", "lo", "-U", "-s", "0", "-w", str(path),
                             f"tcp port {port}"], stderr=subprocess.PIPE, text=True)
    try:
        assert dump.stderr is not None
        line = dump.stderr.readline()  # "listening on lo, ..." once it captures
        if "listening" not in line:
            sys.exit(f"tcpdump did not start: {line.strip()}")
        time.sleep(0.5)
        msg = EmailMessage()
        msg["From"] = USER
        msg["To"] = "bob@example.test"
        msg["Subject"] = "Quarterly numbers"
        msg["Date"] = "Mon, 01 Jan 2024 10:00:00 +0000"
        msg["Message-ID"] = "<sample-1@example.test>"
        msg.set_content("Hi Bob,\n\nthe numbers are attached.\n"
                        ".this line starts with a dot and is sent as '..this'\n"
                        "..and this one starts with two\n\nAlice\n")
        csv = "".join(f"{q},{1000 + 37 * q},{500 + 11 * q}\n" for q in range(1, 41))
        msg.add_attachment(("quarter,revenue,cost\n" + csv).encode(), maintype="text",
                           subtype="csv", filename="numbers.csv")
        with smtplib.SMTP("127.0.0.1", port, local_hostname="client.example.test") as smtp:
            smtp.ehlo()
            smtp.user, smtp.password = USER, PASSWORD
            smtp.auth("LOGIN", smtp.auth_login, initial_response_ok=False)
            smtp.send_message(msg)
            smtp.quit()
        time.sleep(0.5)
    finally:
        dump.terminate()
        dump.wait(timeout=10)
        controller.stop()
    # tcpdump drops root for its own user: rewrite the file so it is ours
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data)
    print(f"wrote {path} ({len(data)} bytes)")


def make_smuggling(path: Path) -> None:
    """Craft the smuggling probe with scapy (deterministic: fixed times and numbers)."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    from scapy.utils import wrpcap

    client, server = ("192.0.2.10", 51234), ("198.51.100.25", 25)
    seq = {True: 3_000_000_000, False: 1_200_000_000}  # by "from client"
    packets = []
    t = 1_704_103_200.0  # 2024-01-01 10:00:00 UTC

    def send(from_client: bool, flags: str, data: bytes = b"") -> None:
        nonlocal t
        t += 0.003
        (sip, sport), (dip, dport) = (client, server) if from_client else (server, client)
        pkt = (Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:19") if from_client
               else Ether(src="02:00:00:00:00:19", dst="02:00:00:00:00:0a"))
        pkt = pkt / IP(src=sip, dst=dip, ttl=64) / TCP(
            sport=sport, dport=dport, flags=flags, seq=seq[from_client],
            ack=seq[not from_client] if "A" in flags else 0, window=64240)
        if data:
            pkt = pkt / Raw(data)
        pkt.time = t
        packets.append(pkt)
        seq[from_client] = (seq[from_client] + len(data) + ("S" in flags or "F" in flags))

    send(True, "S")
    send(False, "SA")
    send(True, "A")
    dialog = [
        (False, b"220 mx.example.net ESMTP Postfix (Debian/GNU)\r\n"),
        (True, b"EHLO attacker.example\r\n"),
        (False, b"250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n"
                b"250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
                b"250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"),
        (True, b"MAIL FROM:<user@example.org>\r\n"),
        (False, b"250 2.1.0 Ok\r\n"),
        (True, b"RCPT TO:<victim@example.net>\r\n"),
        (False, b"250 2.1.5 Ok\r\n"),
        (True, b"DATA\r\n"),
        (False, b"354 End data with <CR><LF>.<CR><LF>\r\n"),
        # the smuggling sequence <LF>.<CR><LF> is split across two segments
        (True, b"From: user@example.org\r\nTo: victim@example.net\r\nSubject: hello\r\n"
               b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n\r\nfirst message\r\n\n"),
        (True, b".\r\nMAIL FROM:<admin@example.net>\r\nRCPT TO:<victim@example.net>\r\n"
               b"DATA\r\nFrom: admin@example.net\r\nTo: victim@example.net\r\n"
               b"Subject: smuggled\r\n\r\nsmuggled message\r\n.\r\n"),
        (False, b"250 2.0.0 Ok: queued as 4T0fXk1QzVz9rwN\r\n"),
        (True, b"QUIT\r\n"),
        (False, b"221 2.0.0 Bye\r\n"),
    ]
    for from_client, data in dialog:
        send(from_client, "PA", data)
        send(not from_client, "A")
    send(False, "FA")
    send(True, "FA")
    send(False, "A")
    wrpcap(str(path), packets)
    print(f"wrote {path} ({path.stat().st_size} bytes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["auth-login", "smuggling"])
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    if args.only in (None, "smuggling"):
        make_smuggling(args.out / "smuggling.pcap")
    if args.only in (None, "auth-login"):
        make_auth_login(args.out / "auth-login.pcap")


if __name__ == "__main__":
    main()
