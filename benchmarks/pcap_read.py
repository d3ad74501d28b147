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
import shutil
import subprocess
import sys
import tempfile
import time


def write_capture(path: str, size_mb: int, sessions: int) -> int:
    """The same generated capture as the full-analysis benchmark (``bench_pcap.py``),
    ``sessions`` of them open at a time; returns the number of packets."""
    from bench_pcap import write_capture as generate

    return generate(path, size_mb, at_once=sessions)[1]


def read_child(path: str, profile: bool, repeat: int) -> None:
    """Child mode: read the capture, print the best timings as JSON."""
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
    print(json.dumps({"seconds": min(walls), "cpu_seconds": min(cpus), "items": items,
                      "payload": payload}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200, help="capture size in MB")
    parser.add_argument("--sessions", type=int, default=40,
                        help="sessions open at a time (40: the capture of bench_pcap.py)")
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
        # /usr/bin/time gives the child's own peak RSS (ru_maxrss survives fork+exec, so
        # the child of this generator process would report the generator's)
        child = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, __file__,
                                "--read", path, "--repeat", str(args.repeat)]
                               + (["--profile"] if args.profile else []),
                               capture_output=True, text=True, check=True)
        rss_mb = float(child.stderr.strip().splitlines()[-1]) / 1024
        if args.profile:
            print("\n".join(child.stderr.splitlines()[:-1]))
        res = json.loads(child.stdout.strip().splitlines()[-1])
        secs, cpu = res["seconds"], res["cpu_seconds"]
        print(f"read_capture: {secs:.2f} s  {size / 1e6 / secs:.0f} MB/s  "
              f"{packets / secs / 1e3:.0f}k packets/s  (CPU {cpu:.2f} s = "
              f"{size / 1e6 / cpu:.0f} MB/s)  {res['items']} items  "
              f"{res['payload'] / 1e6:.0f} MB payload  peak RSS {rss_mb:.0f} MB")
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
