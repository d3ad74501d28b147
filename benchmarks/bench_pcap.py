"""Full analysis of a large capture, next to tshark on the same file in the same run.

Generates (at run time, in a temporary directory; nothing is committed) a libpcap file
of about ``--size`` MB: many interleaved SMTP sessions with AUTH PLAIN or LOGIN,
pipelined MAIL/RCPT, multi-segment DATA bodies with dot-stuffed lines, server ACKs,
about 1% retransmitted and 1% reordered segments. Then it runs, each in a child
process so peak memory is its own:

* smtplens: every session through the engine, the builder and all checks, first in
  one process (``-j1``), then as ``smtplens analyze`` does by default (one worker
  process per core, see ``smtplens/parallel.py``);
* tshark: ``tshark -r F -Y smtp -T fields -e smtp.req.command -e smtp.response.code``.

It prints time, MB/s, packets/s and peak RSS for both, and the ratio.

    python benchmarks/bench_pcap.py [--size MB] [--keep]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

MSS = 1448
_REC = struct.Struct("<IIII")
_HDR = struct.Struct("!6s6sH BBHHHBBH4s4s HHIIBBHHH")  # Ethernet + IPv4 + TCP (20)
SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01
Packet = tuple[bool, int, bytes]  # (from client, flags, payload)


def body_text(rng: random.Random, size: int) -> bytes:
    """Message text with headers, a few dot-stuffed lines, and a base64 attachment."""
    words = [b"lorem", b"ipsum", b"dolor", b"relay", b"queue", b"message", b"capture"]
    out = bytearray(b"From: Alice <alice@example.org>\r\nTo: bob@example.net\r\n"
                    b"Subject: quarterly numbers\r\nMIME-Version: 1.0\r\n"
                    b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n"
                    b"Content-Type: text/plain\r\n\r\n")
    while len(out) < size // 3:
        line = b" ".join(rng.choice(words) for _ in range(rng.randint(4, 12)))
        out += (b".." + line if rng.random() < 0.02 else line) + b"\r\n"
    out += (b"--b1\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n")
    b64 = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\r\n"
    out += b64 * max(1, (size - len(out)) // len(b64))
    return bytes(out) + b"--b1--\r\n"


BODY_SIZES = (20_000, 200_000, 1_000_000, 3_000_000)


def session(rng: random.Random, n: int, sizes: tuple[int, ...] = BODY_SIZES,
            ) -> Iterator[Packet]:
    yield True, SYN, b""
    yield False, SYN | ACK, b""
    yield True, ACK, b""
    yield False, PSH | ACK, b"220 mx.example.net ESMTP Postfix\r\n"
    yield True, PSH | ACK, b"EHLO client%d.example.org\r\n" % n
    yield False, PSH | ACK, (b"250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n"
                             b"250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n")
    if n % 2:
        yield True, PSH | ACK, b"AUTH PLAIN AHVzZXIAcGFzc3dvcmQ=\r\n"
    else:
        yield True, PSH | ACK, b"AUTH LOGIN\r\n"
        yield False, PSH | ACK, b"334 VXNlcm5hbWU6\r\n"
        yield True, PSH | ACK, b"dXNlcg==\r\n"
        yield False, PSH | ACK, b"334 UGFzc3dvcmQ6\r\n"
        yield True, PSH | ACK, b"cGFzc3dvcmQ=\r\n"
    yield False, PSH | ACK, b"235 2.7.0 Authentication successful\r\n"
    yield True, PSH | ACK, (b"MAIL FROM:<s%d@example.org>\r\nRCPT TO:<r%d@example.net>\r\n"
                            b"DATA\r\n" % (n, n))
    yield False, PSH | ACK, b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data\r\n"
    body = body_text(rng, rng.choice(sizes)) + b".\r\n"
    segs = [body[i:i + MSS] for i in range(0, len(body), MSS)]
    for k, seg in enumerate(segs):
        yield True, PSH | ACK, seg
        if k % 2:
            yield False, ACK, b""
    yield False, PSH | ACK, b"250 2.0.0 Ok: queued as ABC%d\r\n" % n
    yield True, PSH | ACK, b"QUIT\r\n"
    yield False, PSH | ACK, b"221 2.0.0 Bye\r\n"
    yield True, FIN | ACK, b""
    yield False, FIN | ACK, b""


def write_capture(path: str, size_mb: float, seed: int = 7, sizes: tuple[int, ...] = BODY_SIZES,
                  at_once: int = 40) -> tuple[int, int]:
    """Write the capture (``at_once`` sessions interleaved, bodies of one of ``sizes``
    octets); returns (bytes, packets)."""
    rng = random.Random(seed)
    target = size_mb * 1_000_000
    packets = 0
    with open(path, "wb", buffering=1 << 20) as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        active: list[tuple[int, Iterator[Packet], list[int]]] = []
        n, ts, written = 0, 1_700_000_000.0, 24
        while written < target or active:
            while len(active) < at_once and written < target:
                n += 1
                active.append((n, session(rng, n, sizes), [1000, 5000]))
            idx = rng.randrange(len(active))
            num, gen, seqs = active[idx]
            burst: list[tuple[bool, int, int, int, bytes]] = []
            for _ in range(rng.randint(1, 6)):
                pkt = next(gen, None)
                if pkt is None:
                    active.pop(idx)
                    break
                from_client, flags, payload = pkt
                side = 0 if from_client else 1
                burst.append((from_client, flags, seqs[side], seqs[1 - side], payload))
                seqs[side] += len(payload) + (1 if flags & (SYN | FIN) else 0)
            if len(burst) >= 2 and burst[0][0] == burst[1][0] and rng.random() < 0.05:
                burst[0], burst[1] = burst[1], burst[0]  # out-of-order segments, one side
            for from_client, flags, seq, ack, payload in burst:
                copies = 2 if payload and rng.random() < 0.01 else 1  # retransmission
                for _ in range(copies):
                    ts += 0.00002
                    written += _record(out, ts, num, from_client, flags, seq, ack, payload)
                    packets += 1
    return written, packets


def _record(out: object, ts: float, num: int, from_client: bool, flags: int, seq: int,
            ack: int, payload: bytes) -> int:
    client = bytes([10, 1, (num >> 8) & 255, num & 255])
    server = bytes([192, 0, 2, 25])
    sport, dport = 20000 + num % 40000, 25
    src, dst = (client, server) if from_client else (server, client)
    if not from_client:
        sport, dport = dport, sport
    total = 20 + 20 + len(payload)
    frame = _HDR.pack(b"\x02" * 6, b"\x04" * 6, 0x0800, 0x45, 0, total, 0, 0x4000, 64, 6, 0,
                      src, dst, sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50,
                      flags, 65535, 0, 0) + payload
    sec = int(ts)
    out.write(_REC.pack(sec, int((ts - sec) * 1e6), len(frame), len(frame)))  # type: ignore[attr-defined]
    out.write(frame)  # type: ignore[attr-defined]
    return 16 + len(frame)


SMTPLENS_CHILD = """
import resource, sys, time
from smtplens.analysis import analyze_file
from smtplens.analysis import default_jobs
jobs = int(sys.argv[2]) or default_jobs()
t = time.perf_counter()
sessions = messages = findings = 0
for s in analyze_file(sys.argv[1], jobs=jobs):
    sessions += 1
    messages += len(s.messages)
    findings += len(s.findings)
dt = time.perf_counter() - t
# peak RSS in MB: this process plus, for each worker, the largest worker's peak (an upper
# bound of all processes together: forked workers share pages, counted here in each)
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
rss = own + (jobs * workers if jobs > 1 else 0)
print(f"{dt} {rss} {jobs} {sessions} {messages} {findings}")
"""


def run_smtplens(path: str, jobs: int) -> tuple[float, float, int, str]:
    """Time, peak RSS (MB), processes used, and what was found; ``jobs=0``: the default."""
    # started through /usr/bin/time: a process keeps the peak RSS of the process it was
    # forked from (this generator, hundreds of MB) unless something small is in between
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, "-c", SMTPLENS_CHILD,
                           path, str(jobs)], check=True, capture_output=True, text=True)
    out = proc.stdout.split()
    return (float(out[0]), float(out[1]), int(out[2]),
            f"{out[3]} sessions, {out[4]} messages, {out[5]} findings")


def run_tshark(path: str) -> tuple[float, float] | None:
    tshark = shutil.which("tshark")
    if tshark is None:
        return None
    cmd = ["/usr/bin/time", "-f", "%M", tshark, "-r", path, "-Y", "smtp", "-T", "fields",
           "-e", "smtp.req.command", "-e", "smtp.response.code"]
    t = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t
    rss = float(proc.stderr.strip().splitlines()[-1]) / 1024 if proc.stderr.strip() else 0.0
    return dt, rss


def _count_records(path: str) -> int:
    """Records of a libpcap file as this script writes them (little-endian)."""
    count = 0
    with open(path, "rb") as fh:
        fh.seek(24)
        while head := fh.read(16):
            fh.seek(_REC.unpack(head)[2], os.SEEK_CUR)
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=220, help="capture size in MB")
    parser.add_argument("--keep", action="store_true", help="keep the capture")
    parser.add_argument("--capture", help="a capture this script wrote before (--keep): "
                                          "measure it again instead of writing one")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="smtplens-bench-")
    path = args.capture or os.path.join(tmp, "bench.pcap")
    try:
        t = time.perf_counter()
        if args.capture:
            size, packets = os.path.getsize(path), _count_records(path)
        else:
            size, packets = write_capture(path, args.size)
        print(f"capture: {size / 1e6:.0f} MB, {packets} packets "
              f"(ready in {time.perf_counter() - t:.1f}s) at {path}")
        dt = 0.0
        for jobs in (1, 0):
            dt, rss, used, what = run_smtplens(path, jobs)
            label = f"smtplens -j{used}:"
            print(f"{label:16s}{dt:6.2f}s  {size / 1e6 / dt:7.1f} MB/s  {packets / dt:9.0f} "
                  f"pkt/s  peak RSS {rss:6.1f} MB  ({what})")
        tshark = run_tshark(path)
        if tshark is None:
            print("tshark: not installed (apt-get install tshark) - no ratio")
            return
        tdt, trss = tshark
        print(f"{'tshark:':16s}{tdt:6.2f}s  {size / 1e6 / tdt:7.1f} MB/s  {packets / tdt:9.0f} "
              f"pkt/s  peak RSS {trss:6.1f} MB")
        print(f"ratio: smtplens (default, all cores) is {tdt / dt:.2f}x tshark's speed")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
