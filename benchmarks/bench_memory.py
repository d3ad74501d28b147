"""Peak memory on hostile captures: a SYN scan, and connections that never end DATA.

Generates (at run time, in a temporary directory; nothing is committed) two libpcap
files with struct-written records:

* ``scan``: ``--flows`` (200,000) SYN-only flows to port 25, 20 µs apart (a port scan:
  about 14 MB);
* ``open-data``: ``--conns`` (50,000) connections that greet, say EHLO, pipeline
  MAIL/RCPT/DATA, get 354 and send ``--body`` octets of message, then go quiet for ever.

Then it runs ``smtplens analyze`` on each, as text and as ``--format jsonl``, with
``-j1`` and with the default jobs, each in a child process, and prints the time and the
peak resident memory: the largest of the samples of the sum over the process and its
workers (read from ``/proc`` every 20 ms, Linux only), and from ``getrusage`` the
process's own peak plus, with workers, ``jobs`` times the largest worker's peak (an
upper bound: forked workers share pages, counted here in each).

    python benchmarks/bench_memory.py [--flows N] [--conns N] [--body OCTETS]
        [--memcap SIZE] [--only scan|open-data] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, BinaryIO

MSS = 1448
_REC = struct.Struct("<IIII")
_HDR = struct.Struct("!6s6sH BBHHHBBH4s4s HHIIBBHHH")  # Ethernet + IPv4 + TCP (20)
SYN, ACK, PSH = 0x02, 0x10, 0x08

#: (from client, flags, payload) of one open-data connection, up to its last packet
Packet = tuple[bool, int, bytes]


class Writer:
    """A libpcap file written record by record (Ethernet, IPv4, TCP without options)."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.size = 24
        self.packets = 0
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))

    def packet(self, ts: float, src: bytes, dst: bytes, sport: int, dport: int, seq: int,
               ack: int, flags: int, payload: bytes = b"") -> None:
        frame = _HDR.pack(b"\x02" * 6, b"\x04" * 6, 0x0800, 0x45, 0, 40 + len(payload), 0,
                          0x4000, 64, 6, 0, src, dst, sport, dport, seq & 0xFFFFFFFF,
                          ack & 0xFFFFFFFF, 0x50, flags, 65535, 0, 0) + payload
        sec = int(ts)
        self.out.write(_REC.pack(sec, int((ts - sec) * 1e6), len(frame), len(frame)))
        self.out.write(frame)
        self.size += 16 + len(frame)
        self.packets += 1


def _client(k: int) -> bytes:
    return bytes([10, (k >> 16) & 255, (k >> 8) & 255, k & 255])


SERVER = bytes([192, 0, 2, 25])


def write_scan(path: str, flows: int) -> tuple[int, int]:
    """``flows`` SYNs to port 25 from distinct clients, 20 µs apart; (bytes, packets)."""
    with open(path, "wb", buffering=1 << 20) as fh:
        w = Writer(fh)
        ts = 1_700_000_000.0
        for k in range(flows):
            w.packet(ts + k * 0.00002, _client(k), SERVER, 40000 + k % 20000, 25,
                     k * 7919, 0, SYN)
    return w.size, w.packets


def open_data(n: int, body: int) -> Iterator[Packet]:
    """One connection up to a message it never finishes."""
    yield True, SYN, b""
    yield False, SYN | ACK, b""
    yield True, ACK, b""
    yield False, PSH | ACK, b"220 mx.example.net ESMTP\r\n"
    yield True, PSH | ACK, b"EHLO c%d.example.org\r\n" % n
    yield False, PSH | ACK, b"250-mx.example.net\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
    yield True, PSH | ACK, (b"MAIL FROM:<s%d@example.org>\r\nRCPT TO:<r@example.net>\r\n"
                            b"DATA\r\n" % n)
    yield False, PSH | ACK, b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data\r\n"
    text = (b"From: s@example.org\r\nTo: r@example.net\r\nSubject: never ends\r\n\r\n"
            + b"lorem ipsum dolor sit amet relay queue message capture\r\n" * (body // 56 + 1))
    text = text[:body]
    for i in range(0, len(text), MSS):
        yield True, PSH | ACK, text[i:i + MSS]
        yield False, ACK, b""


def write_open_data(path: str, conns: int, body: int) -> tuple[int, int]:
    """``conns`` connections, one after another 20 µs per packet, each stopping inside
    its message (all of them open at the end of the file); (bytes, packets)."""
    with open(path, "wb", buffering=1 << 20) as fh:
        w = Writer(fh)
        ts = 1_700_000_000.0
        for k in range(conns):
            client, sport = _client(k), 40000 + k % 20000
            seqs = [k * 7919, k * 104729 + 5]
            for from_client, flags, payload in open_data(k, body):
                side = 0 if from_client else 1
                src, dst = (client, SERVER) if from_client else (SERVER, client)
                sp, dp = (sport, 25) if from_client else (25, sport)
                ack = seqs[1 - side] if flags & ACK else 0
                ts += 0.00002
                w.packet(ts, src, dst, sp, dp, seqs[side], ack, flags, payload)
                seqs[side] += len(payload) + (1 if flags & SYN else 0)
    return w.size, w.packets


CHILD = """
import atexit, os, resource, sys
from smtplens.analysis import default_jobs, worth_sharding

path, jobs, report = sys.argv[1], int(sys.argv[2]) or default_jobs(), sys.argv[3]
used = jobs if worth_sharding(path, jobs) else 1

def peak() -> None:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    with open(report, "w") as fh:
        fh.write(f"{own} {workers} {used}")

atexit.register(peak)
from smtplens.cli import main
sys.argv = ["smtplens", "analyze", *sys.argv[4:], path]
main()
"""


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants, from /proc (0 elsewhere)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1])
            with open(f"/proc/{p}/task/{p}/children") as fh:
                todo.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            continue
    return total * os.sysconf("SC_PAGE_SIZE") / 2**20


def sampled_run(cmd: list[str], out: IO[bytes]) -> tuple[subprocess.Popen[bytes], bytes,
                                                         float, float]:
    """Run ``cmd`` with stdout to ``out``, sampling the RSS of its process tree every
    20 ms: (process, stderr, seconds, peak MB sampled)."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE)
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], _tree_rss_mb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    done.set()
    sampler.join()
    return proc, err, time.perf_counter() - t, peak[0]


def run(path: str, jobs: int, args: list[str], tmp: str) -> tuple[float, float, float, int, int]:
    """Time, sampled peak (MB), getrusage bound (MB), processes used, output lines."""
    report = os.path.join(tmp, "peak.txt")
    cmd = [sys.executable, "-c", CHILD, path, str(jobs), report, *args]
    out_path = os.path.join(tmp, "out.txt")
    with open(out_path, "wb") as out:
        proc, err, dt, sampled_peak = sampled_run(cmd, out)
    sampled = [sampled_peak]
    if proc.returncode not in (0, 1):
        raise SystemExit(f"smtplens failed ({proc.returncode}): {err.decode()[-2000:]}")
    with open(report) as fh:
        own, workers, used = fh.read().split()
    bound = float(own) + (int(used) * float(workers) if int(used) > 1 else 0.0)
    with open(out_path, "rb") as fh:
        lines = sum(1 for _ in fh)
    return dt, sampled[0], bound, int(used), lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flows", type=int, default=200_000, help="SYN-only flows")
    parser.add_argument("--conns", type=int, default=50_000, help="open-DATA connections")
    parser.add_argument("--body", type=int, default=4 * MSS,
                        help="octets of message each open-DATA connection sends")
    parser.add_argument("--memcap", help="pass --memcap SIZE to smtplens")
    parser.add_argument("--only", choices=("scan", "open-data"))
    parser.add_argument("--keep", action="store_true", help="keep the captures")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="smtplens-mem-")
    extra = ["--memcap", args.memcap] if args.memcap else []
    try:
        cases: list[tuple[str, str, Callable[..., tuple[int, int]], tuple[int, ...]]] = []
        if args.only in (None, "scan"):
            cases.append(("scan", f"{args.flows} SYN-only flows", write_scan,
                          (args.flows,)))
        if args.only in (None, "open-data"):
            cases.append(("open-data", f"{args.conns} connections inside DATA "
                          f"({args.body} octets each)", write_open_data,
                          (args.conns, args.body)))
        for name, what, write, params in cases:
            path = os.path.join(tmp, f"{name}.pcap")
            t = time.perf_counter()
            size, packets = write(path, *params)
            print(f"{name}: {what}: {size / 1e6:.0f} MB, {packets} packets "
                  f"(written in {time.perf_counter() - t:.1f}s)")
            for fmt in ("text", "jsonl"):
                for jobs in (1, 0):
                    flags = ["--format", fmt, *(["-j1"] if jobs == 1 else []), *extra]
                    dt, sampled, bound, used, lines = run(path, jobs, flags, tmp)
                    label = f"  {fmt:5s} -j{used}{'' if jobs else ' (default)':10s}"
                    print(f"{label} {dt:6.2f}s  peak RSS {sampled:7.1f} MB sampled, "
                          f"{bound:7.1f} MB getrusage bound  ({lines} output lines)",
                          flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"captures kept in {tmp}")


if __name__ == "__main__":
    main()
