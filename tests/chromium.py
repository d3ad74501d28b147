"""Load an HTML file in Debian's headless Chromium: console messages, DOM, screenshot.

How this Chromium (156, Debian bookworm) reports the console with
``--enable-logging=stderr``: one record per message on stderr,

    [pid:tid:MMDD/HHMMSS.micros:INFO:CONSOLE:LINE] "message", source: URL (LINE)

A message may span lines (it ends at ``", source: URL (LINE)``). Every level comes out
at INFO: ``console.log``, ``console.warn``, ``console.error``, uncaught exceptions, CSP
refusals and SVG attribute errors ("Error: <rect> attribute width: Expected length")
look the same, so the level cannot be told apart. The pages under test have no
script, so every console message counts as an error. Older builds wrote
``INFO:CONSOLE(LINE)]``; both forms are read.

Chromium runs with a throwaway profile, no background services, a dead proxy and a
host resolver that resolves nothing, so it never reaches the network. What the page
itself asked for is read from a net log (``--log-net-log``): requests whose network
isolation key is the ``file://`` page, not the browser's own update checks.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

NAMES = ("chromium", "chromium-browser", "google-chrome")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

#: one console record: [pid:tid:date/time:INFO:CONSOLE:N] "message", source: URL (N)
#: (the message may hold newlines: it ends at the first `", source: URL (N)` line end)
_CONSOLE = re.compile(
    r"^\[[^\]\n]*:CONSOLE(?::\d+|\(\d+\))\] \"(.*?)\", source: (\S*) \((\d+)\)$",
    re.S | re.M)
#: a URL the DOM would fetch: src/href/... attributes, CSS url() and @import
_EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|srcset|poster|data|action|formaction|background|xlink:href)"""
    r"""\s*=\s*["']?\s*|url\(\s*["']?\s*|@import\s+["']?\s*)((?:https?:)?//[^"'\s)>]*)""",
    re.I)

FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
    "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps",
    "--disable-extensions", "--disable-features=Translate,OptimizationHints,MediaRouter",
    "--metrics-recording-only", "--mute-audio", "--hide-scrollbars",
    # nothing gets out even if something tries: a proxy that refuses, a resolver that fails
    "--proxy-server=http://127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
)


@dataclass
class PageResult:
    """What Chromium made of one page."""

    console_errors: list[str]  #: every console message ("message (source:line)")
    screenshot: Path | None  #: the PNG, when one was asked for and written
    dom: str  #: the DOM after loading (``--dump-dom``)
    network: list[str] = field(default_factory=list)  #: URLs the page requested
    external_refs: list[str] = field(default_factory=list)  #: http(s) URLs in the DOM
    stderr: str = ""  #: Chromium's whole log

    @property
    def offline(self) -> bool:
        """The page neither asked for nor refers to anything on the network."""
        return not self.network and not self.external_refs


def find_chromium() -> str | None:
    """The first Chromium-like browser on PATH, or None."""
    for name in NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def need_chromium() -> str:
    """The browser, or skip the calling test with the reason."""
    path = find_chromium()
    if path is None:
        pytest.skip(f"no headless browser on PATH (looked for {', '.join(NAMES)})")
    return path


def console_messages(stderr: str) -> list[str]:
    """The console messages in Chromium's stderr log."""
    return [f"{m.group(1)} ({m.group(2)}:{m.group(3)})" for m in _CONSOLE.finditer(stderr)]


def external_refs(dom: str) -> list[str]:
    """http(s) (and scheme-relative) URLs the DOM would fetch."""
    return [m.group(1) for m in _EXTERNAL.finditer(dom)]


def page_requests(netlog: Path) -> list[str]:
    """URLs the page (a ``file://`` document) asked the network stack for."""
    try:
        data = json.loads(netlog.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        return []
    start_job = data.get("constants", {}).get("logEventTypes", {}).get("URL_REQUEST_START_JOB")
    urls = []
    for event in data.get("events", []):
        params = event.get("params") or {}
        if event.get("type") != start_job or "url" not in params:
            continue
        if "file://" in str(params.get("network_isolation_key", "")):
            urls.append(str(params["url"]))
    return urls


def load_page(path: Path | str, screenshot: Path | str | None = None, width: int = 1280,
              height: int = 900, *, timeout: float = 90.0, dark: bool = False) -> PageResult:
    """Load ``path`` in headless Chromium; screenshot to ``screenshot`` if given.

    ``dark`` asks for ``prefers-color-scheme: dark``. Raises RuntimeError when no
    browser is found, TimeoutError when it does not finish within ``timeout``.
    """
    browser = find_chromium()
    if browser is None:
        raise RuntimeError("no headless Chromium on PATH")
    url = Path(path).resolve().as_uri()
    shot = Path(screenshot).resolve() if screenshot is not None else None
    with tempfile.TemporaryDirectory(prefix="smtplens-chromium-") as tmp:
        netlog = Path(tmp) / "net.json"
        args = [browser, *FLAGS, f"--user-data-dir={tmp}/profile",
                f"--window-size={width},{height}", f"--log-net-log={netlog}", "--dump-dom"]
        if dark:
            args += ["--force-dark-mode", "--blink-settings=preferredColorScheme=0"]
        if shot is not None:
            shot.unlink(missing_ok=True)
            args.append(f"--screenshot={shot}")
        args.append(url)
        env = {**os.environ, "HOME": tmp, "XDG_CONFIG_HOME": f"{tmp}/config",
               "XDG_CACHE_HOME": f"{tmp}/cache"}
        # its own session, so a hung browser and its helpers are ended together
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, env=env, cwd=tmp,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise TimeoutError(f"chromium did not finish {url} in {timeout:.0f} s") from None
        stderr = err.decode("utf-8", "replace")
        dom = out.decode("utf-8", "replace")
        return PageResult(
            console_errors=console_messages(stderr),
            screenshot=shot if shot is not None and shot.exists() else None,
            dom=dom, network=page_requests(netlog), external_refs=external_refs(dom),
            stderr=stderr)


def screenshot(html: str, out: Path, width: int = 1280, *, height: int = 1600,
               dark: bool = False) -> Path:
    """Render the document ``html`` to the PNG ``out``; raises when the page logs a
    console message, asks for the network, or no PNG is written."""
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="smtplens-shot-") as tmp:
        page = Path(tmp) / "page.html"
        page.write_text(html, encoding="utf-8")
        result = load_page(page, out, width=width, height=height, dark=dark)
    if result.console_errors:
        raise RuntimeError(f"the page logged: {result.console_errors}")
    if not result.offline:
        raise RuntimeError(f"the page asked for the network: "
                           f"{result.network + result.external_refs}")
    if result.screenshot is None:
        raise RuntimeError(f"chromium wrote no screenshot to {out}")
    return result.screenshot
