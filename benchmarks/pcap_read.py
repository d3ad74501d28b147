"""How fast is :func:`smtplens.sources.pcap.read_capture`, next to tshark?

Writes (in a temporary directory, at run time) a libpcap file of about ``--size`` MB of
interleaved SMTP sessions: handshake, banner, EHLO, MAIL/RCPT/DATA with a body of
5-300 KB in 1448-byte segments (the server ACKs every second one), QUIT, FIN. Then it
reads it with ``read_capture`` in a child process (so the peak RSS is the reader's
alone) and times ``tshark -r F -T fields -e frame.number`` on the same file.

    python benchmarks/pcap_read.py [--size MB] [--sessions N] [--repeat N] [--profile] [--keep]

Wall times are the best of ``--repeat`` reads; the CPU time is shown too, because on a
shared machine it is the steadier figure.
"""

from __future__ import annotations

import argparse
import json
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
_ETH_IP = struct.Struct("!6s6sH BBHHHBBH4s4s")
_TCP = struct.Struct("!HHIIBBHHH BBBBII")  # 20-byte header + NOP NOP timestamps (12)


def _lines(rng: random.Random, size: int) -> bytes:
    words = [b"lorem", b"ipsum", b"dolor", b"sit", b"amet", b"smtp", b"mail", b"relay",
             b"queue", b"message", b"header", b"body", b"capture", b"packet", b"stream"]
    out = bytearray()
    while len(out) < size:
        out += b" ".join(rng.choice(words) for _ in range(rng.randint(5, 14))) + b"\r\n"
    return bytes(out)


def _session(rng: random.Random, blob: bytes, n: int) -> Iterator[tuple[bool, int, bytes]]:
    """(from_client, tcp_flags, payload) for one SMTP session."""
    syn, ack, psh, fin = 0x02, 0x10, 0x08, 0x01
    yield True, syn, b""
    yield False, syn | ack, b""
    yield True, ack, b""
    yield False, psh | ack, b"220 mx.example.net ESMTP Postfix\r\n"
    yield True, psh | ack, b"EHLO client%d.example.org\r\n" % n
    yield False, psh | ack, (b"250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n"
                             b"250-8BITMIME\r\n250 SMTPUTF8\r\n")
    yield True, psh | ack, b"MAIL FROM:<sender%d@example.org>\r\n" % n
    yield False, psh | ack, b"250 2.1.0 Ok\r\n"
    yield True, psh | ack, b"RCPT TO:<rcpt%d@example.net>\r\n" % n
    yield False, psh | ack, b"250 2.1.5 Ok\r\n"
    yield True, psh | ack, b"DATA\r\n"
    yield False, psh | ack, b"354 End data with <CR><LF>.<CR><LF>\r\n"
    size = rng.randint(5_000, 300_000)
    start = rng.randrange(0, len(blob) - size)
    body = (b"From: a@example.org\r\nTo: b@example.net\r\nSubject: bench %d\r\n\r\n" % n
            + blob[start:start + size] + b".\r\n")
    for i, off in enumerate(range(0, len(body), MSS)):
        yield True, ack | (psh if off + MSS >= len(body) else 0), body[off:off + MSS]
        if i % 2:
            yield False, ack, b""
    yield False, psh | ack, b"250 2.0.0 Ok: queued as 4Xyz%d\r\n" % n
    yield True, psh | ack, b"QUIT\r\n"
    yield False, psh | ack, b"221 2.0.0 Bye\r\n"
    yield False, fin | ack, b""
    yield True, fin | ack, b""
    yield False, ack, b""


def write_capture(path: str, size_mb: int, sessions: int, seed: int = 1) -> int:
    """Write the benchmark capture; returns the number of packets."""
    rng = random.Random(seed)
    blob = _lines(rng, 1 << 20)
    target = size_mb * 1_000_000
    mac_c, mac_s = b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x02"
    packets = 0
    written = 0
    ts = 1_700_000_000.0
    started = 0
    active: list[tuple[Iterator[tuple[bool, int, bytes]], bytes, bytes, int, list[int]]] = []
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        out: list[bytes] = []
        while written < target or active:
            while written < target and len(active) < sessions:
                started += 1
                cip = bytes((10, 1, (started >> 8) & 255, started & 255))
                sip = bytes((192, 0, 2, 1 + started % 50))
                seqs = [rng.getrandbits(32), rng.getrandbits(32)]  # client, server
                active.append((_session(rng, blob, started), cip, sip,
                               10000 + started % 50000, seqs))
            i = rng.randrange(len(active))
            gen, cip, sip, cport, seqs = active[i]
            step = next(gen, None)
            if step is None:
                active.pop(i)
                continue
            from_client, flags, payload = step
            ts += 0.00002
            src, dst = (cip, sip) if from_client else (sip, cip)
            sport, dport = (cport, 25) if from_client else (25, cport)
            me, peer = (0, 1) if from_client else (1, 0)
            seq, ackn = seqs[me], seqs[peer]
            tcp = _TCP.pack(sport, dport, seq, ackn if flags != 0x02 else 0, 8 << 4, flags,
                            65535, 0, 0, 1, 1, 8, 10, packets, packets)
            total = 20 + len(tcp) + len(payload)
            frame = (_ETH_IP.pack(mac_s if from_client else mac_c,
                                  mac_c if from_client else mac_s, 0x0800, 0x45, 0, total,
                                  packets & 0xFFFF, 0x4000, 64, 6, 0, src, dst)
                     + tcp + payload)
            sec = int(ts)
            out.append(_REC.pack(sec, int((ts - sec) * 1e6), len(frame), len(frame)))
            out.append(frame)
            seqs[me] = (seq + len(payload) + (1 if flags & 0x03 else 0)) & 0xFFFFFFFF
            packets += 1
            written += 16 + len(frame)
            if len(out) > 4096:
                fh.write(b"".join(out))
                out.clear()
        fh.write(b"".join(out))
    return packets


def read_child(path: str, profile: bool, repeat: int) -> None:
    """Child mode: read the capture, print the best timings and peak RSS as JSON."""
    import resource

    from smtplens.sources.pcap import read_capture
    from smtplens.stream import Data

    def consume() -> tuple[int, int]:
        items = payload = 0
        for item in read_capture(path):
            items += 1
            if type(item) is Data:
                payload += len(item.data)
        return items, payload

    if profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.runcall(consume)
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(15)
    walls, cpus = [], []
    for _ in range(repeat):  # the best of a few runs: this machine's other load varies
        wall, cpu = time.perf_counter(), time.process_time()
        items, payload = consume()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": min(walls), "cpu_seconds": min(cpus), "items": items,
                      "payload": payload, "rss_mb": rss_kb / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200, help="capture size in MB")
    parser.add_argument("--sessions", type=int, default=64, help="concurrent sessions")
    parser.add_argument("--profile", action="store_true", help="cProfile the reader")
    parser.add_argument("--repeat", type=int, default=3, help="reads to time (best wins)")
    parser.add_argument("--keep", action="store_true", help="keep the capture file")
    parser.add_argument("--read", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read:
        read_child(args.read, args.profile, args.repeat)
        return
    tmp = tempfile.mkdtemp(prefix="smtplens-bench-")
    path = os.path.join(tmp, "bench.pcap")
    try:
        t0 = time.perf_counter()
        packets = write_capture(path, args.size, args.sessions)
        size = os.path.getsize(path)
        print(f"wrote {size / 1e6:.0f} MB, {packets} packets in "
              f"{time.perf_counter() - t0:.1f} s ({path})")
        child = subprocess.run([sys.executable, __file__, "--read", path,
                                "--repeat", str(args.repeat)]
                               + (["--profile"] if args.profile else []),
                               capture_output=True, text=True, check=True)
        if args.profile:
            print(child.stderr)
        res = json.loads(child.stdout.strip().splitlines()[-1])
        secs, cpu = res["seconds"], res["cpu_seconds"]
        print(f"read_capture: {secs:.2f} s  {size / 1e6 / secs:.0f} MB/s  "
              f"{packets / secs / 1e3:.0f}k packets/s  (CPU {cpu:.2f} s = "
              f"{size / 1e6 / cpu:.0f} MB/s)  {res['items']} items  "
              f"{res['payload'] / 1e6:.0f} MB payload  peak RSS {res['rss_mb']:.0f} MB")
        if shutil.which("tshark"):
            t0 = time.perf_counter()
            with open(os.devnull, "wb") as null:
                subprocess.run(["tshark", "-r", path, "-T", "fields", "-e", "frame.number"],
                               stdout=null, stderr=subprocess.DEVNULL, check=True)
            tsecs = time.perf_counter() - t0  # one run: it takes long enough
            print(f"tshark -T fields -e frame.number: {tsecs:.2f} s  "
                  f"{size / 1e6 / tsecs:.0f} MB/s  (read_capture is {tsecs / secs:.1f}x "
                  "tshark's speed)")
        else:
            print("tshark: not installed, no comparison")
    finally:
        if args.keep:
            print(f"kept {path}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
