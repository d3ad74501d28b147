"""The long fuzz run (issue 8): readers, engine, views and CLI on damaged real inputs.

Uses atheris (coverage-guided libFuzzer, with a structure-aware custom mutator) when it
is installed (``pip install atheris``), and otherwise hypothesis with as many examples as
the time allows. The seeds, mutators and properties are those of
``tests/test_fuzz_harness.py``; the corpus in ``../shared/corpus`` is used when present.

Each input is one target: the pcap reader (forced or detected), one text format
(forced), format detection, the engine fed directly (random chunks, gaps, closes, plus
the "any chunking gives the same session" property), or the CLI. Every failure is
de-duplicated by exception type and innermost smtplens frame, saved under ``--out``
(``<kind>-<id>/input.bin``, ``traceback.txt``, a minimized ``input.min.bin``), and
summed up at the end with the number of inputs run. A run stuck for ``--timeout``
seconds on one input counts as a hang (its stack is saved); a jump of the peak memory
by more than ``--memory-mb`` on one input counts as a blow-up; an exception raised in a
finalizer (an unclosed file: ResourceWarning is an error here) and a growing number of
open file descriptors count as leaks. Raw ESC / C1 characters in the terminal views are
counted as "escape" findings.

    python benchmarks/fuzz.py --minutes 10 [--out /tmp/smtplens-fuzz] [--engine auto]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import pkgutil
import random
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
import zlib
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class Hang(BaseException):  # BaseException: it passes through `except Exception`
    """One input ran longer than --timeout seconds."""


def _import_harness(instrument: bool) -> Any:
    """The harness module, with every smtplens module imported (and instrumented for
    atheris coverage when asked; lazily imported modules would be missed otherwise)."""
    ctx: Any = contextlib.nullcontext()
    if instrument:
        import atheris  # type: ignore[import-untyped]

        ctx = atheris.instrument_imports(include=["smtplens"])
    with ctx:
        import smtplens

        for mod in pkgutil.walk_packages(smtplens.__path__, "smtplens."):
            if not mod.name.endswith("__main__"):  # that one runs the CLI
                __import__(mod.name)
        import tests.test_fuzz_harness as harness
    return harness


class Runner:
    """Runs one input on one target and records what goes wrong."""

    def __init__(self, h: Any, out: Path, timeout: float, memory_mb: int) -> None:
        self.h, self.out, self.timeout, self.memory_mb = h, out, timeout, memory_mb
        self.targets = ["pcap", *h.TEXT_FORMATS, "detect", "engine", "cli"]
        self.work = Path(tempfile.mkdtemp(prefix="smtplens-fuzz-work-"))
        self.inputs = 0
        self.by_target: dict[str, int] = {}
        self.failures: dict[str, dict[str, Any]] = {}
        self.escapes = 0
        self.current: tuple[str, bytes] = ("", b"")
        self.quiet = False
        self.last_stats = 0.0
        self.peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.fds = self._fd_count()
        self.started = time.time()
        warnings.simplefilter("error", ResourceWarning)
        sys.unraisablehook = self._unraisable
        signal.signal(signal.SIGALRM, self._alarm)

    # -- one input --------------------------------------------------------------------
    def run(self, target: str, payload: bytes) -> None:
        self.inputs += 1
        self.by_target[target] = self.by_target.get(target, 0) + 1
        self.current = (target, payload)
        signal.setitimer(signal.ITIMER_REAL, self.timeout)
        try:
            text = self.execute(target, payload)
            signal.setitimer(signal.ITIMER_REAL, 0)
            found = self.h.terminal_controls(text)
            if found:
                self.escapes += 1
                self.record("escape", "terminal controls in text views", repr(found),
                            target, payload)
        except Hang:
            self.record("hang", "hang", traceback.format_exc(), target, payload)
        except Exception as e:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self.record("crash", self.signature(e), traceback.format_exc(), target, payload)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if rss - self.peak > self.memory_mb * 1024:
            self.record("memory", f"peak RSS +{(rss - self.peak) // 1024} MB", "", target,
                        payload)
        self.peak = rss
        if self.inputs % 500 == 0:
            import gc

            gc.collect()
            fds = self._fd_count()
            if fds > self.fds + 16:
                self.record("leak", f"open fds {self.fds} -> {fds}", "", target, payload)
                self.fds = fds
        if time.time() - self.last_stats > 2:
            self.write_stats()

    def execute(self, target: str, payload: bytes) -> str:
        h = self.h
        if target == "engine":
            client, server = split_streams(payload)
            rnd = random.Random(zlib.crc32(payload))
            text = h.check_engine(h.engine_items(rnd, client, server))
            items = h.engine_items(rnd, client, server, timestamps=False)
            if h.session_dicts(items) != h.session_dicts(h.merged(items)):
                raise AssertionError("chunking: merging same-side chunks changed the session")
            return str(text)
        suffix = ".pcap" if target == "pcap" else ".log"
        path = self.work / f"input{suffix}"
        path.write_bytes(payload)
        if target == "cli":
            return str(h.check_cli(str(path), None))
        if target == "pcap":
            fmt = "pcap" if zlib.crc32(payload) & 1 else None
        else:
            fmt = None if target == "detect" else target
        return str(h.check_file(str(path), fmt))

    # -- bookkeeping ------------------------------------------------------------------
    @staticmethod
    def signature(e: BaseException) -> str:
        frames = traceback.extract_tb(e.__traceback__)
        inner = [f for f in frames if "/smtplens/" in f.filename]
        where = f"{Path(inner[-1].filename).name}:{inner[-1].lineno}" if inner else ""
        text = str(e).split("\n")[0][:60]
        if isinstance(e, AssertionError):
            return f"AssertionError {text.split(':')[0]} {where}"
        return f"{type(e).__name__} {where or text}"

    def record(self, kind: str, sig: str, tb: str, target: str, payload: bytes) -> None:
        key = f"{kind}: {sig}"
        entry = self.failures.get(key)
        if entry is None:
            folder = self.out / f"{kind}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "input.bin").write_bytes(payload)
            (folder / "target.txt").write_text(target + "\n")
            (folder / "traceback.txt").write_text(f"{key}\n\n{tb}")
            entry = self.failures[key] = {"kind": kind, "count": 0, "folder": str(folder),
                                          "target": target, "size": len(payload)}
            if not self.quiet:
                print(f"[fuzz] new {key} (target {target}, {len(payload)} bytes) -> {folder}",
                      flush=True)
        elif kind != "escape" and len(payload) < entry["size"]:  # keep the smallest
            Path(entry["folder"], "input.bin").write_bytes(payload)
            Path(entry["folder"], "traceback.txt").write_text(f"{key}\n\n{tb}")
            entry["size"] = len(payload)
        entry["count"] += 1

    def write_stats(self) -> None:
        self.last_stats = time.time()
        stats = {"inputs": self.inputs, "seconds": round(time.time() - self.started),
                 "by_target": self.by_target, "escapes": self.escapes,
                 "failures": self.failures}
        tmp = self.out / "stats.json.tmp"
        tmp.write_text(json.dumps(stats, indent=1))
        tmp.replace(self.out / "stats.json")

    def _alarm(self, signum: int, frame: FrameType | None) -> None:
        raise Hang(f"over {self.timeout}s")

    def _unraisable(self, u: Any) -> None:
        tb = "".join(traceback.format_exception(u.exc_type, u.exc_value, u.exc_traceback))
        target, payload = self.current
        what = type(u.object).__name__ if u.object is not None else u.err_msg
        self.record("leak", f"unraisable {u.exc_type.__name__} in {what}"[:120], tb, target,
                    payload)

    @staticmethod
    def _fd_count() -> int:
        try:
            return len(os.listdir("/proc/self/fd"))
        except OSError:
            return 0


def split_streams(payload: bytes) -> tuple[bytes, bytes]:
    """An engine input: 'C: '/'S: ' lines (others go to the client), CRLF-ended."""
    client, server = [], []
    for line in payload.split(b"\n"):
        if line.startswith(b"S: "):
            server.append(line[3:] + b"\r\n")
        else:
            client.append((line[3:] if line.startswith(b"C: ") else line) + b"\r\n")
    return b"".join(client), b"".join(server)


def seeds(h: Any, runner: Runner) -> dict[str, list[bytes]]:
    """Seed payloads per target."""
    pool: dict[str, list[bytes]] = {t: [] for t in runner.targets}
    pool["pcap"] = [p.read_bytes() for p in h.pcap_seeds(max_size=512 * 1024)]
    texts = h.text_seeds(per_folder=40)
    for fmt, paths in texts.items():
        pool[fmt] = [p.read_bytes() for p in paths]
    everything = [p for paths in texts.values() for p in paths]
    pool["detect"] = [p.read_bytes() for p in everything[::2]]
    pool["engine"] = [p.read_bytes() for p in sorted(h.SAMPLES.glob("*.txt"))]
    pool["cli"] = pool["pcap"][:3] + [p.read_bytes() for p in everything[::10]]
    return pool


def mutate_payload(h: Any, rnd: random.Random, target: str, payload: bytes,
                   pool: dict[str, list[bytes]]) -> bytes:
    partner = rnd.choice(pool[target] or pool["detect"])
    huge = 1_100_000 if rnd.random() < 0.05 else 70_000
    capture = target == "pcap" or (target == "cli" and payload[:4] in _MAGICS)
    return bytes(h.mutate(rnd, payload, partner, capture=capture, huge=huge))


_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d",
           b"\x0a\x0d\x0d\x0a")


# -- workers ------------------------------------------------------------------------------

def atheris_worker(args: argparse.Namespace) -> None:
    import atheris

    h = _import_harness(instrument=True)
    out = Path(args.out)
    runner = Runner(h, out, args.timeout, args.memory_mb)
    pool = seeds(h, runner)
    targets = runner.targets
    seed_dir, live = out / "seeds", out / "corpus"
    seed_dir.mkdir(parents=True, exist_ok=True)
    live.mkdir(exist_ok=True)
    for t, payloads in pool.items():
        for i, p in enumerate(payloads):
            (seed_dir / f"{t}-{i}").write_bytes(bytes([targets.index(t)]) + p)

    def one_input(data: bytes) -> None:
        if not data:
            return
        runner.run(targets[data[0] % len(targets)], data[1:])

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rnd = random.Random(seed)
        index = data[0] % len(targets) if data else rnd.randrange(len(targets))
        payload = data[1:]
        if rnd.random() < 0.03:
            index = rnd.randrange(len(targets))
        target = targets[index]
        if not payload or rnd.random() < 0.05:
            payload = rnd.choice(pool[target] or pool["detect"])
        if rnd.random() < 0.25:
            payload = atheris.Mutate(payload, max(1, max_size - 1))
        else:
            payload = mutate_payload(h, rnd, target, payload, pool)
        return (bytes([index]) + payload)[:max_size]

    atexit_stats(runner)
    atheris.Setup([sys.argv[0], f"-max_total_time={int(args.minutes * 60)}",
                   "-max_len=2500000", f"-timeout={int(args.timeout * 4)}",
                   "-rss_limit_mb=6000", "-print_final_stats=1", f"-seed={args.seed}",
                   f"-artifact_prefix={out}/libfuzzer-",  # not into the working directory
                   str(live), str(seed_dir)],
                  one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()


def hypothesis_worker(args: argparse.Namespace) -> None:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    h = _import_harness(instrument=False)
    runner = Runner(h, Path(args.out), args.timeout, args.memory_mb)
    pool = seeds(h, runner)
    deadline = time.time() + args.minutes * 60

    class TimeUp(Exception):
        pass

    @settings(max_examples=10**9, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(seed=st.integers(min_value=0, max_value=2**63))
    def body(seed: int) -> None:
        if time.time() > deadline:
            raise TimeUp
        rnd = random.Random(seed)
        target = rnd.choice(runner.targets)
        if target == "cli" and rnd.random() < 0.8:  # the CLI is slow: run it less
            target = "detect"
        payload = rnd.choice(pool[target] or pool["detect"])
        for _ in range(rnd.randint(1, 3)):
            payload = mutate_payload(h, rnd, target, payload, pool)
        runner.run(target, payload)

    with contextlib.suppress(TimeUp):
        body()
    runner.write_stats()


def atexit_stats(runner: Runner) -> None:
    import atexit

    atexit.register(runner.write_stats)


# -- minimizing, in the parent ------------------------------------------------------------

def minimize(h: Any, runner: Runner, folder: Path, budget: float) -> None:
    """Delta debugging over lines (or bytes) while the same failure comes back."""
    target = (folder / "target.txt").read_text().strip()
    data = (folder / "input.bin").read_bytes()
    key = (folder / "traceback.txt").read_text().split("\n")[0]
    runner.out = folder / "min"  # scratch: the original input.bin stays as found

    def same(other: str) -> bool:  # line numbers move while others edit the code
        return re.sub(r":\d+", "", other) == re.sub(r":\d+", "", key)

    def fails(candidate: bytes) -> bool:
        before = dict(runner.failures)
        runner.failures = {}
        runner.run(target, candidate)
        again = any(same(k) for k in runner.failures)
        runner.failures = before
        return again

    stop = time.time() + budget
    if not fails(data):
        (folder / "minimized.txt").write_text("did not reproduce in a fresh process\n")
        return
    for split in (lambda b: b.splitlines(keepends=True), lambda b: [bytes([x]) for x in b]):
        parts = split(data)
        chunk = max(1, len(parts) // 2)
        while chunk >= 1 and time.time() < stop:
            i, changed = 0, False
            while i < len(parts) and time.time() < stop:
                candidate = parts[:i] + parts[i + chunk:]
                if candidate and fails(b"".join(candidate)):
                    parts, changed = candidate, True
                else:
                    i += chunk
            if not changed:
                chunk //= 2
        data = b"".join(parts)
        if len(data) > 4096:
            break  # byte-level passes on big inputs do not finish in the budget
    (folder / "input.min.bin").write_bytes(data)
    tb = ""
    runner.failures = {}
    runner.run(target, data)
    for entry in runner.failures.values():
        tb = Path(entry["folder"], "traceback.txt").read_text()
    (folder / "traceback.min.txt").write_text(tb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--out", default="/tmp/smtplens-fuzz")
    parser.add_argument("--engine", choices=("auto", "atheris", "hypothesis"), default="auto")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds per input")
    parser.add_argument("--memory-mb", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--minimize-seconds", type=float, default=30.0)
    parser.add_argument("--report-only", action="store_true",
                        help="skip fuzzing: minimize and summarise what --out holds")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401

            engine = "atheris"
        except ImportError:
            engine = "hypothesis"
    if args.worker:
        (atheris_worker if engine == "atheris" else hypothesis_worker)(args)
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"[fuzz] {engine}, {args.minutes} min, findings in {out}", flush=True)
    cmd = [sys.executable, __file__, "--worker", "--engine", engine, "--minutes",
           str(args.minutes), "--out", str(out), "--timeout", str(args.timeout),
           "--memory-mb", str(args.memory_mb), "--seed", str(args.seed)]
    returncode = 0
    if not args.report_only:
        with open(out / "worker.log", "w") as log:
            returncode = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=False,
                                        timeout=args.minutes * 60 + 600).returncode
    stats: dict[str, Any] = json.loads((out / "stats.json").read_text()) \
        if (out / "stats.json").exists() \
        else {"inputs": 0, "failures": {}, "by_target": {}, "escapes": 0}
    print(f"[fuzz] worker exit {returncode}; {stats['inputs']} inputs in "
          f"{stats.get('seconds', '?')} s")
    print("[fuzz] inputs by target: " + ", ".join(f"{k} {v}" for k, v in
                                                  sorted(stats["by_target"].items())))
    h = _import_harness(instrument=False)
    runner = Runner(h, out, args.timeout, args.memory_mb)
    runner.quiet = True
    for key, entry in sorted(stats["failures"].items()):
        if entry["kind"] == "crash" or entry["kind"] == "hang":
            minimize(h, runner, Path(entry["folder"]), args.minimize_seconds)
        print(f"  {entry['count']:6} x {key}  (target {entry['target']}) -> {entry['folder']}")
    crashes = [e for e in stats["failures"].values() if e["kind"] != "escape"]
    print(f"[fuzz] {len(crashes)} distinct crash/hang/leak signature(s), "
          f"{stats['escapes']} input(s) with terminal controls on screen")


if __name__ == "__main__":
    main()
