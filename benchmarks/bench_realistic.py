"""smtplens on realistic traffic, next to tshark, Suricata and pflogsumm in the same run.

Generates (at run time, in a temporary directory) three inputs from the same mix of
sessions (``realistic_traffic.py``, ``realistic_logs.py``): a capture of ``--sessions``
(3,000) sessions of 2-60 KB messages, 30-50% failing AUTH LOGIN/PLAIN, refused
recipients, pipelined envelopes, 1% retransmitted and some reordered segments, 300 open
at a time; a Postfix mail log and an Exim main log of ``--log-lines`` (300,000) lines.

Each tool runs in a child process (through ``/usr/bin/time``, whose ``%M`` is the largest
process; the process tree is also sampled from /proc every 20 ms, summing workers): it
prints MB/s, sessions/s, µs per session, peak RSS and the ratios smtplens/peer, checks
that every generated AUTH exchange was decoded (from the ``--format jsonl`` output), then
times the pipeline stage by stage in this process (read, +engine, +builder, +checks,
+output) so the next bottleneck shows, and with ``--profile`` a cProfile top 15.

    python benchmarks/bench_realistic.py [--sessions N] [--log-lines N]
        [--only capture|postfix|exim] [--profile] [--keep]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import json
import os
import pstats
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from bench_memory import sampled_run
from realistic_logs import write_exim_log, write_postfix_log
from realistic_traffic import Counts, write_capture

_OUTPUTS = itertools.count(1)


@dataclass
class Run:
    label: str
    seconds: float
    rss_mb: float
    output: str  #: where stdout went


def timed(label: str, cmd: list[str], tmp: str, keep_output: bool = False) -> Run | None:
    """``cmd`` in a child process: wall time and peak RSS; None (with the reason printed)
    when it fails."""
    out_path = os.path.join(tmp, f"out-{next(_OUTPUTS)}.txt") if keep_output else os.devnull
    rss_file = os.path.join(tmp, "rss.txt")
    with open(out_path, "wb") as out:
        proc, err, dt, sampled = sampled_run(
            ["/usr/bin/time", "-f", "%M", "-o", rss_file, *cmd], out)
    if proc.returncode != 0:
        print(f"{label}: failed ({proc.returncode}): {err.decode(errors='replace')[-400:]}")
        return None
    with open(rss_file) as fh:
        largest = float(fh.read().split()[-1]) / 1024
    return Run(label, dt, max(sampled, largest), out_path)


def show(run: Run, counts: Counts, refs: list[Run] | None = None) -> None:
    """One line of figures; for a peer, smtplens/peer ratios against each of ``refs``
    (speed: above 1 means smtplens is faster; RSS: above 1 means smtplens uses more)."""
    secs, per = run.seconds, run.seconds / counts.sessions * 1e6
    print(f"  {run.label:30s}{secs:7.2f} s {counts.size / 1e6 / secs:7.1f} MB/s "
          f"{counts.sessions / secs:7.0f} sess/s {per:7.0f} µs/sess  peak {run.rss_mb:5.0f} MB")
    for ref in refs or []:
        print(f"      smtplens/peer, {ref.label.removeprefix('smtplens '):22s}speed "
              f"{secs / ref.seconds:6.2f}x   peak RSS {ref.rss_mb / run.rss_mb:5.2f}x")


def smtplens(args: list[str], path: str) -> list[str]:
    return [sys.executable, "-m", "smtplens", "analyze", "--fail-on", "never", *args, path]


def check_auth(run: Run | None, counts: Counts, what: str) -> None:
    """Every generated AUTH exchange is in the jsonl output, its user decoded."""
    if run is None:
        return
    total = failed = decoded = 0
    with open(run.output, "rb") as fh:
        for line in fh:
            for a in json.loads(line).get("auth", []):
                total += 1
                failed += a["outcome"] == "failure"
                decoded += bool(a.get("user")) and all(s.get("valid_base64", True)
                                                       for s in a.get("steps", []))
    ok = "OK" if total == counts.auth and failed == counts.auth_failed else "MISMATCH"
    print(f"  AUTH check ({what}): generated {counts.auth} ({counts.auth_failed} failed); "
          f"jsonl has {total} ({failed} failed), {decoded} with a user name decoded: {ok}")


SURICATA_YAML = """%YAML 1.1
---
default-log-dir: {logdir}
outputs:
  - eve-log:
      enabled: yes
      filetype: regular
      filename: eve.json
      types:
        - smtp
app-layer:
  protocols:
    smtp:
      enabled: yes
      detection-ports:
        dp: 25, 587
      mime:
        decode-mime: yes
        decode-base64: yes
        decode-quoted-printable: yes
        header-value-depth: 2000
        extract-urls: yes
stream:
  memcap: 256mb
  reassembly:
    memcap: 512mb
    depth: 0
"""


def run_peers(path: str, counts: Counts, tmp: str, ref: list[Run]) -> None:
    tshark = shutil.which("tshark")
    if tshark is None:
        print("  tshark: not installed (apt-get install -y tshark), skipped")
    else:
        run = timed("tshark -Y smtp -T fields", [tshark, "-r", path, "-Y", "smtp", "-T", "fields",
                    "-e", "smtp.req.command", "-e", "smtp.response.code"], tmp)
        if run is not None:
            show(run, counts, ref)
    suricata = shutil.which("suricata")
    if suricata is None:
        print("  suricata: not installed (apt-get install -y -t bookworm-backports suricata), "
              "skipped")
        return
    logdir = os.path.join(tmp, "suricata")
    os.makedirs(logdir, exist_ok=True)
    conf = os.path.join(tmp, "suricata.yaml")
    with open(conf, "w") as fh:
        fh.write(SURICATA_YAML.format(logdir=logdir))
    run = timed("suricata 7 --runmode single", [suricata, "-c", conf, "-r", path, "--runmode",
                "single", "-l", logdir, "-S", "/dev/null", "-k", "none"], tmp)
    if run is not None:
        show(run, counts, ref)
        with open(os.path.join(logdir, "eve.json"), "rb") as fh:
            events = sum(1 for line in fh if b'"event_type":"smtp"' in line)
        print(f"  (suricata wrote {events} smtp events)")


def measure(kind: str, path: str, counts: Counts, tmp: str) -> None:
    unit = "packets" if kind == "capture" else "lines"
    print(f"\n{kind}: {counts.size / 1e6:.1f} MB, {counts.lines} {unit}, {counts.sessions} "
          f"sessions, {counts.auth} AUTH ({counts.auth_failed} failed), {counts.messages} "
          f"messages, {counts.rcpt_refused} refused RCPT")
    if kind == "capture":
        from smtplens.analysis import PARALLEL_MIN_BYTES, default_jobs, worth_sharding

        jobs = default_jobs()
        print(f"  default jobs: {jobs}; sharded: {worth_sharding(path, jobs)} (captures "
              f"under {PARALLEL_MIN_BYTES >> 20} MB run in one process)")
        variants = [("text, default jobs", []), ("text, -j1", ["-j1"]),
                    ("jsonl, default jobs", ["--format", "jsonl"]),
                    ("jsonl, -j1", ["--format", "jsonl", "-j1"])]
    else:
        variants = [("text", []), ("jsonl", ["--format", "jsonl"])]
    start = timed("startup", [sys.executable, "-c", "import smtplens.cli"], tmp)
    if start is not None:
        print(f"  python + import smtplens.cli: {start.seconds:.2f} s, in every run below")
    runs = {label: timed(f"smtplens {label}", smtplens(extra, path), tmp,
                         keep_output="jsonl" in label) for label, extra in variants}
    ref = [run for run in runs.values() if run is not None and "-j1" not in run.label]
    for run in runs.values():
        if run is not None:
            show(run, counts)
    for fmt in ("text", "jsonl"):
        many, one = runs.get(f"{fmt}, default jobs"), runs.get(f"{fmt}, -j1")
        if many is not None and one is not None:
            ratio = one.seconds / many.seconds
            print(f"      {fmt}: default jobs / -j1{'':9s}speed {ratio:6.2f}x")
    check_auth(runs[next(label for label, _ in variants if "jsonl" in label)], counts, kind)
    if not ref:
        return
    if kind == "capture":
        run_peers(path, counts, tmp, ref)
    elif kind == "postfix":
        pflogsumm = shutil.which("pflogsumm")
        if pflogsumm is None:
            print("  pflogsumm: not installed (apt-get install -y pflogsumm), skipped")
        elif (run := timed("pflogsumm", [pflogsumm, path], tmp)) is not None:
            show(run, counts, ref)
    else:
        print("  exim: no peer run (eximstats comes with exim4-base, not installed here)")
    for run in runs.values():
        if run is not None and run.output != os.devnull:
            os.unlink(run.output)


# ---------------------------------------------------------------------------- stages
def _engine(items: Iterable[object], build: bool) -> Iterator[object]:
    """The pipeline without the checks: engine only, or engine and builder."""
    from smtplens.builder import SessionBuilder
    from smtplens.engine import Conversation
    from smtplens.stream import Closed, Data, Gap, Opened

    live: dict[str, tuple[Conversation, SessionBuilder | None]] = {}
    for item in items:
        if isinstance(item, Data):
            conv, builder = live[item.conn_id]
            events = conv.receive(item.direction, item.data, item.ts, item.location)
        elif isinstance(item, Opened):
            live[item.conn_id] = (Conversation(decrypted=item.decrypted, lmtp=item.lmtp,
                                               implicit_tls=item.implicit_tls),
                                  SessionBuilder(item) if build else None)
            continue
        elif isinstance(item, Gap):
            conv, builder = live[item.conn_id]
            events = conv.gap(item.direction, item.size, item.ts)
        elif isinstance(item, Closed) and item.conn_id in live:
            conv, builder = live.pop(item.conn_id)
            events = conv.close(item.ts, item.reason)
            if builder is not None:
                for event in events:
                    builder.on_event(event)
                yield builder.finish()
            continue
        else:
            continue
        if builder is not None:
            for event in events:
                builder.on_event(event)


def stages(kind: str, path: str, counts: Counts) -> None:
    from smtplens.analysis import analyze_stream
    from smtplens.cli.terminal import SafeConsole
    from smtplens.cli.text import print_session
    from smtplens.report import session_dict
    from smtplens.sources import read_source

    def read() -> Iterator[object]:
        if kind == "capture":
            from smtplens.sources.pcap import read_capture

            return iter(read_capture(path))
        return iter(read_source(path))

    def jsonl() -> None:
        with open(os.devnull, "w") as out:
            for s in analyze_stream(read_source(path)):
                out.write(json.dumps(session_dict(s, False)) + "\n")

    def text() -> None:
        with open(os.devnull, "w") as out:
            console = SafeConsole(file=out, highlight=False, soft_wrap=True)
            for s in analyze_stream(read_source(path)):
                print_session(console, s, False)

    steps: list[tuple[str, Callable[[], object]]] = [("read", lambda: sum(1 for _ in read()))]
    if kind == "capture":
        steps += [("+engine", lambda: sum(1 for _ in _engine(read(), False))),
                  ("+builder", lambda: sum(1 for _ in _engine(read(), True)))]
    steps += [("+checks (analyze_stream)",
               lambda: sum(1 for _ in analyze_stream(read_source(path)))),
              ("+output jsonl", jsonl), ("+output text", text)]
    unit = "packet" if kind == "capture" else "line"
    sample = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "samples",
                          "auth-login.pcap")
    for _ in analyze_stream(read_source(sample)):  # imports out of the timings
        pass
    print(f"  stages in one process, CPU time ({kind}):")
    before = 0.0
    for label, fn in steps:
        t = time.process_time()
        fn()
        dt = time.process_time() - t
        delta = "" if label == "read" or label.startswith("+output text") \
            else f"  (+{(dt - before) / counts.sessions * 1e6:6.0f} µs/sess)"
        print(f"    {label:26s}{dt:7.2f} s CPU {dt / counts.sessions * 1e6:7.0f} µs/sess "
              f"{dt / counts.lines * 1e6:6.1f} µs/{unit}{delta}")
        if not label.startswith("+output"):
            before = dt


def profile(path: str) -> None:
    from smtplens.analysis import analyze_file

    prof = cProfile.Profile()
    prof.enable()
    for _ in analyze_file(path, jobs=1):
        pass
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(15)
    text = buf.getvalue()
    print("  cProfile of analyze_file(-j1), top 15 by tottime:")
    print("\n".join("    " + ln for ln in text[text.index("   ncalls"):].rstrip().splitlines()))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sessions", type=int, default=3000, help="sessions in the capture")
    parser.add_argument("--log-lines", type=int, default=300_000, help="lines of each log")
    parser.add_argument("--only", choices=("capture", "postfix", "exim"))
    parser.add_argument("--profile", action="store_true", help="cProfile a -j1 analysis")
    parser.add_argument("--keep", action="store_true", help="keep the generated inputs")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="smtplens-realistic-")
    work = os.path.join(tmp, "runs")
    os.makedirs(work)
    writers: dict[str, tuple[str, Callable[[str, Counts], None]]] = {
        "capture": ("realistic.pcap", lambda p, c: write_capture(p, args.sessions, c)),
        "postfix": ("maillog", lambda p, c: write_postfix_log(p, args.log_lines, c)),
        "exim": ("mainlog", lambda p, c: write_exim_log(p, args.log_lines, c)),
    }
    try:
        for kind, (name, write) in writers.items():
            if args.only not in (None, kind):
                continue
            path, counts = os.path.join(tmp, name), Counts()
            t = time.perf_counter()
            write(path, counts)
            print(f"{kind}: written in {time.perf_counter() - t:.1f} s at {path}")
            measure(kind, path, counts, work)
            stages(kind, path, counts)
            if args.profile:
                profile(path)
    finally:
        if args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
