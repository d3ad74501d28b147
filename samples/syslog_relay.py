"""The dummy next hop Dovecot submission relays to (make_syslog_samples.sh).

    python samples/syslog_relay.py PORT

An aiosmtpd server on 127.0.0.1:PORT that accepts everything except recipients in
blocked.example.test (550 5.7.1), so the submission log shows a refused RCPT.
"""

from __future__ import annotations

import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class Handler:
    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address.lower().endswith("@blocked.example.test"):
            return "550 5.7.1 Relaying to blocked.example.test is denied"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return "250 2.0.0 Ok: queued"


if __name__ == "__main__":
    controller = Controller(Handler(), hostname="127.0.0.1", port=int(sys.argv[1]))
    controller.start()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()
