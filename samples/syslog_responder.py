"""The tiny SMTP server behind rblsmtpd for the qmail sample (make_syslog_samples.sh).

tcpserver runs it once per connection with the socket on stdin/stdout, as it runs
qmail-smtpd; it answers just enough SMTP for a client to finish (and logs nothing:
the sample's lines come from tcpserver and rblsmtpd themselves).
"""

from __future__ import annotations

import sys


def main() -> None:
    out = sys.stdout.buffer
    out.write(b"220 mail.example.test ESMTP\r\n")
    out.flush()
    for raw in sys.stdin.buffer:
        verb = raw.strip().split(b" ", 1)[0].upper()
        if verb == b"EHLO":
            out.write(b"250-mail.example.test\r\n250 PIPELINING\r\n")
        elif verb == b"DATA":
            out.write(b"354 go ahead\r\n")
            out.flush()
            for body in sys.stdin.buffer:
                if body in (b".\r\n", b".\n"):
                    break
            out.write(b"250 ok 1733130000 qp 4242\r\n")
        elif verb == b"QUIT":
            out.write(b"221 mail.example.test\r\n")
            out.flush()
            return
        else:
            out.write(b"250 ok\r\n")
        out.flush()


if __name__ == "__main__":
    main()
