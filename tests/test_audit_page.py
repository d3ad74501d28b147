"""The HTML audit page: sections, escaping of every wire string, empty and big reports,
and the page as headless Chromium renders it."""

from __future__ import annotations

import copy
import math
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from smtplens.findings.catalog import CATALOG
from smtplens.views import render_audit_page
from smtplens.views.audit_page import MAX_COLUMNS
from smtplens.views.html import Safe, el, esc, timestamp
from tests.chromium import PNG_MAGIC, load_page, need_chromium, screenshot

T0 = datetime(2026, 11, 28, 11, 51, 52, tzinfo=UTC).timestamp()
HOUR = 3600.0

# ------------------------------------------------------------------------- fixtures


def _finding(fid: str, count: int, sessions: int, examples: list[dict[str, Any]]
             ) -> dict[str, Any]:
    spec = CATALOG[fid]
    return {"id": fid, "severity": str(spec.severity), "title": spec.title, "count": count,
            "sessions": sessions, "rfc": spec.rfc, "fix": spec.fix,
            "cross": fid.startswith("audit."), "examples": examples}


def _example(file: str, session: str, line: int, ts: float | None, detail: str
             ) -> dict[str, Any]:
    return {"file": file, "session": session, "location": f"line {line}", "ts": ts,
            "detail": detail}


def _party(address: str, sessions: int, ok: int, failed: int, messages: int, errors: int,
           warnings: int, users: list[str]) -> dict[str, Any]:
    return {"address": address, "sessions": sessions, "auth_success": ok,
            "auth_failure": failed, "messages": messages, "errors": errors,
            "warnings": warnings, "users": users}


def realistic() -> dict[str, Any]:
    """A report like ``smtplens audit --json`` writes for a small mail server's day."""
    log, pcap, bad = "/var/log/mail.log", "captures/mx1-2026-11-28.pcap", "captures/cut.pcapng"
    guessing = [{"file": log, "session": f"postfix-{n}", "location": f"line {900 + n}",
                 "ts": T0 + 60 * n} for n in range(5)]
    timeline = []
    for h in range(72):
        if h in (20, 21, 22, 50):  # gaps: hours without sessions
            continue
        timeline.append({"start": (T0 // HOUR + h) * HOUR, "sessions": 10 + (h * 7) % 25,
                         "auth_failures": 40 if h in (3, 4) else h % 3,
                         "error_sessions": 1 + h % 4})
    return {
        "schema": "smtplens-audit", "version": 1, "smtplens": "0.1.0",
        "generated": "2026-12-02T02:00:00Z", "inputs": [log, pcap, bad],
        "window": {"since": "2026-11-28T00:00:00Z", "until": None}, "fail_on": "error",
        "exit_code": 1,
        "totals": {"files": 3, "bad_files": 1, "sessions": 1342, "partial_sessions": 1200,
                   "tls_sessions": 980, "messages": 812, "message_bytes": 48_213_977,
                   "recipients": 905, "rejected_recipients": 37,
                   "auth": {"success": 640, "failure": 311, "cancelled": 4},
                   "mechanisms": {"LOGIN": 255, "PLAIN": 700},
                   "origins": {"pcap": 142, "postfix-log": 1200},
                   "first_ts": T0, "last_ts": T0 + 71 * HOUR + 1234, "worst": "error",
                   "findings": 1890},
        "cross_findings": [
            {"id": "audit.password-guessing", "severity": "error",
             "title": CATALOG["audit.password-guessing"].title, "subject": "203.0.113.7",
             "detail": "311 failed AUTH from 203.0.113.7 in 41 min (5 in 10 min trips it)",
             "count": 311, "first_ts": T0, "last_ts": T0 + 2460,
             "rfc": CATALOG["audit.password-guessing"].rfc,
             "fix": CATALOG["audit.password-guessing"].fix, "places": guessing},
            {"id": "audit.auth-before-tls", "severity": "warning",
             "title": CATALOG["audit.auth-before-tls"].title, "subject": "mx1.example.net",
             "detail": "AUTH PLAIN LOGIN offered in clear text next to STARTTLS",
             "count": 142, "first_ts": T0 + 10, "last_ts": T0 + 70 * HOUR,
             "rfc": CATALOG["audit.auth-before-tls"].rfc,
             "fix": CATALOG["audit.auth-before-tls"].fix,
             "places": [{"file": pcap, "session": "tcp-17", "location": "packet 233",
                         "ts": T0 + 10}]},
        ],
        "findings": [
            _finding("audit.password-guessing", 1, 311, []),
            _finding("auth.failed", 311, 298,
                     [_example(log, "postfix-1", 901, T0 + 60, "535 5.7.8 authentication "
                               "failed for user 'admin'")]),
            _finding("data.bare-lf", 57, 12,
                     [_example(pcap, "tcp-4", 18, T0 + 300, "bare LF at octet 1533"),
                      _example(pcap, "tcp-9", 44, None, "bare LF at octet 88")]),
            _finding("auth.cleartext", 9, 9,
                     [_example(pcap, "tcp-2", 7, T0 + 5, "AUTH PLAIN before STARTTLS")]),
            _finding("protocol.no-quit", 1450, 1200, []),
            _finding("audit.auth-before-tls", 1, 142, []),
        ],
        "top_clients": [
            _party("203.0.113.7", 298, 0, 311, 0, 298, 0, ["admin", "info", "sales"]),
            _party("198.51.100.23", 41, 40, 1, 212, 0, 57, ["alice@example.net"]),
            _party("192.0.2.10", 12, 12, 0, 30, 0, 0, []),
        ],
        "top_servers": [_party("mx1.example.net", 1342, 640, 311, 812, 307, 57,
                               ["admin", "alice@example.net"])],
        "timeline": timeline,
        "files": [
            {"path": log, "origin": "postfix-log", "sessions": 1200, "size": 8_812_004,
             "read_from": 0, "unreadable": False, "skipped": "", "bad": False,
             "problems": []},
            {"path": pcap, "origin": "pcap", "sessions": 142, "size": 51_000_111,
             "read_from": 0, "unreadable": False, "skipped": "", "bad": False,
             "problems": [{"location": "record 9912", "message": "capture ends inside a "
                           "packet", "code": "pcap.truncated", "fatal": False}]},
            {"path": bad, "origin": "pcapng", "sessions": 0, "size": 4096, "read_from": 0,
             "unreadable": True, "skipped": "", "bad": True,
             "problems": [{"location": "offset 28", "message": "block length 4294967295 "
                           "runs past the end of the file", "code": "pcapng.bad-block",
                           "fatal": True}]},
        ],
    }


def empty_report() -> dict[str, Any]:
    """Nothing but two bad files."""
    files = [
        {"path": "empty.log", "origin": "", "sessions": 0, "size": 0, "read_from": 0,
         "unreadable": False, "skipped": "", "bad": True, "problems": []},
        {"path": "garbage.pcap", "origin": "pcap", "sessions": 0, "size": 17, "read_from": 0,
         "unreadable": True, "skipped": "", "bad": True,
         "problems": [{"location": "offset 0", "message": "not a capture file",
                       "code": "pcap.bad-magic", "fatal": True}]},
    ]
    return {"schema": "smtplens-audit", "version": 1, "smtplens": "0.1.0",
            "generated": "2026-12-02T02:00:00Z", "inputs": ["empty.log", "garbage.pcap"],
            "window": {"since": None, "until": None}, "fail_on": "error", "exit_code": 2,
            "totals": {"files": 2, "bad_files": 2, "sessions": 0, "partial_sessions": 0,
                       "tls_sessions": 0, "messages": 0, "message_bytes": 0,
                       "recipients": 0, "rejected_recipients": 0, "auth": {},
                       "mechanisms": {}, "origins": {}, "first_ts": None, "last_ts": None,
                       "worst": None, "findings": 0},
            "cross_findings": [], "findings": [], "top_clients": [], "top_servers": [],
            "timeline": [], "files": files}


HOSTILE = ('<script>alert(1)</script>"><img src=x onerror=alert(1)>\x1b[31m\udcff'
           "</svg><script>&amp;\u202e\x9b")
#: how HOSTILE reads as text once the page is parsed (escapes made visible)
HOSTILE_TEXT = ('<script>alert(1)</script>"><img src=x onerror=alert(1)>\\x1b[31m\\udcff'
                "</svg><script>&amp;\\u202e\\x9b")


def hostile(value: Any) -> Any:
    """``value`` with every string in it, dict keys too, replaced by HOSTILE."""
    if isinstance(value, str):
        return HOSTILE
    if isinstance(value, dict):
        return {(HOSTILE + str(i) if isinstance(k, str) else k): hostile(v)
                for i, (k, v) in enumerate(value.items())}
    if isinstance(value, list):
        return [hostile(v) for v in value]
    return value


def hostile_report() -> dict[str, Any]:
    """The realistic report with HOSTILE in every string value, and in the keys of the
    counters (AUTH mechanism names come off the wire)."""
    report = realistic()
    out = hostile(report)
    # the structure's own keys stay, so every value is read and shown
    out = _restore_keys(report, out)
    for counter in ("mechanisms", "origins"):
        out["totals"][counter] = {f"{HOSTILE}{i}": 5 for i in range(3)}
    return out


def _restore_keys(shape: Any, value: Any) -> Any:
    if isinstance(shape, dict):
        return {k: _restore_keys(v, hostile(v)) for k, v in shape.items()}
    if isinstance(shape, list):
        return [_restore_keys(s, v) for s, v in zip(shape, value, strict=True)]
    return value


def garbage_numbers(value: Any, path: str = "") -> Any:
    """``value`` with every number replaced by something that is not a usable one."""
    bad: list[Any] = ["12x", math.nan, math.inf, -math.inf, 10**40, -5, [1], {"n": 1}, None,
                      "1e999"]
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bad[len(path) % len(bad)]
    if isinstance(value, dict):
        return {k: garbage_numbers(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [garbage_numbers(v, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


# --------------------------------------------------------------------- parsing output

#: every element the page writes
ELEMENTS = {"html", "head", "meta", "title", "style", "body", "main", "header", "nav", "ul",
            "li", "a", "p", "span", "dl", "dt", "dd", "div", "section", "h1", "h2", "h3",
            "table", "thead", "tbody", "tr", "th", "td", "code", "details", "summary",
            "small", "br", "strong", "footer", "svg", "g", "rect", "line", "text"}
ATTRIBUTES = {"lang", "charset", "name", "content", "http-equiv", "class", "id", "href",
              "role", "viewbox", "width", "height", "aria-label", "x", "y", "x1", "x2", "y1",
              "y2", "rx", "text-anchor"}


class Page(HTMLParser):
    """The elements, attributes and text of a page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None, str]] = []
        self.texts: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend((name, value, tag) for name, value in attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.texts.append(data)

    @property
    def text(self) -> str:
        return "".join(self.texts)


def section(html: str, anchor: str) -> str:
    m = re.search(rf'<section id="{anchor}">(.*?)</section>', html, re.S)
    assert m, anchor
    return m.group(1)


# ---------------------------------------------------------------------------- tests


def test_realistic_page_has_every_section_and_its_numbers() -> None:
    html = render_audit_page(realistic())
    assert html.startswith("<!DOCTYPE html>")
    for anchor in ("totals", "cross", "findings", "clients", "servers", "timeline", "files"):
        assert f'<section id="{anchor}">' in html
    text = Page(html).text
    for shown in ("1,342", "1,200 partial", "73.0%", "48.2 MB", "48,213,977 octets", "812",
                  "640", "311", "4 cancelled", "905", "37 rejected", "1,890",
                  "2026-11-28 11:51:52Z", "exit 1", "--fail-on error", "203.0.113.7",
                  "mx1.example.net", "alice@example.net", "PLAIN 700", "postfix-log 1,200",
                  "/var/log/mail.log", "captures/cut.pcapng", "offset 28",
                  "pcapng.bad-block", "Password guessing from one client",
                  "auth.failed", "535 5.7.8 authentication failed", "line 904"):
        assert shown in text, shown
    assert "(2 d 23 h)" in text  # the time covered
    # the two charts, and the timeline's gaps are not drawn
    assert html.count("<svg") == 2
    timeline = section(html, "timeline")
    assert timeline.count("<g>") == 68
    assert "one column per hour." in Page(timeline).text
    # nothing from the network: no URL at all, scripts forbidden by the policy
    assert "http://" not in html and "https://" not in html
    policy = [v for n, v, _ in Page(html).attrs if n == "content" and v and "src" in v]
    assert policy and policy[0].startswith("default-src 'none';") and "script" not in policy[0]
    assert "<script" not in html
    assert "@media print" in html and "prefers-color-scheme: dark" in html


def test_page_is_made_only_of_the_elements_it_means_to_write() -> None:
    page = Page(render_audit_page(realistic()))
    assert set(page.tags) <= ELEMENTS
    assert {name for name, _, _ in page.attrs} <= ATTRIBUTES
    hrefs = {value for name, value, _ in page.attrs if name == "href"}
    assert all(h and h.startswith("#") for h in hrefs)


def test_findings_sorted_by_severity_then_count() -> None:
    html = section(render_audit_page(realistic()), "findings")
    table = html[html.index("<table"):]
    order = [fid for fid in re.findall(r"<code>([a-z.-]+)</code>", table) if "." in fid]
    assert order == ["auth.cleartext", "audit.password-guessing", "auth.failed",
                     "data.bare-lf", "audit.auth-before-tls", "protocol.no-quit"]


def test_hostile_strings_never_reach_the_page_raw() -> None:
    report = hostile_report()
    html = render_audit_page(report, title=HOSTILE)
    html.encode("utf-8")  # no lone surrogate left
    for raw in ("<script", "<img", "</svg><script>", '"><img', "\x1b", "\x9b",
                "\udcff", "\u202e"):
        assert raw not in html, repr(raw)
    page = Page(html)
    assert "script" not in page.tags and "img" not in page.tags
    assert set(page.tags) <= ELEMENTS
    assert not [a for a in page.attrs if a[0].startswith("on")]
    assert {name for name, _, _ in page.attrs} <= ATTRIBUTES
    # no wire string in any attribute
    assert not [a for a in page.attrs if "alert" in (a[1] or "")]
    # the text reads as the hostile text, made visible: every field is shown
    text = page.text
    assert text.count(HOSTILE_TEXT) >= 60
    assert "&amp;" in text  # the literal text, escaped once in the markup
    assert html.count("&amp;amp;") >= 60
    # SVG labels and tooltips are escaped too
    for chart in re.findall(r"<svg.*?</svg>", html, re.S):
        assert "<script" not in chart and "\x1b" not in chart
        assert HOSTILE_TEXT[:20] in Page(chart).text or "Sessions per" in chart


def test_every_string_field_of_the_report_is_shown() -> None:
    # each string of the realistic report, made unique, appears escaped in the page
    report = realistic()
    seen: list[str] = []

    def mark(value: Any, path: str) -> Any:
        # a wrong schema shows as a notice; a severity the page does not know is cut
        if isinstance(value, str) and path != ".schema" and not path.endswith(".severity"):
            seen.append(f"<{path}>")
            return f"<{path}>"
        if isinstance(value, dict):
            return {k: mark(v, f"{path}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [mark(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return value

    text = Page(render_audit_page(mark(report, ""))).text
    missing = [s for s in seen if s not in text]
    assert not missing


def test_esc_escapes_markup_quotes_controls_and_surrogates() -> None:
    assert esc('<a href="x">\'&') == "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;"
    assert esc("\x1b[31mred\x07") == "\\x1b[31mred\\x07"
    assert esc("\x00\x7f\x85\x9b") == "\\x00\\x7f\\x85\\x9b"
    assert esc("\udcff\ud800") == "\\udcff\\ud800"
    assert esc("abc\u202edef\u2066") == "abc\\u202edef\\u2066"
    assert esc("tab\tnew\nline\r") == "tab\tnew\nline\\x0d"
    assert esc("caf\u00e9 \U0001f4e7") == "caf\u00e9 \U0001f4e7"
    assert esc(None) == "" and esc(12) == "12"
    assert esc(Safe("<b>")) == "<b>"
    assert isinstance(esc("x"), Safe)


def test_el_escapes_children_and_attributes_and_refuses_odd_names() -> None:
    assert el("td", "<x>", class_='a"b') == '<td class="a&quot;b">&lt;x&gt;</td>'
    assert el("details", el("summary", "s"), open=True) == \
        "<details open><summary>s</summary></details>"
    assert el("span", None, ["a", Safe("<i>b</i>")], hidden=False) == "<span>a<i>b</i></span>"
    with pytest.raises(ValueError):
        el("x onload=1")
    with pytest.raises(ValueError):
        el("p", **{"on click": "x"})


def test_times_out_of_range_never_raise() -> None:
    assert timestamp(T0) == "2026-11-28 11:51:52Z"
    assert timestamp(T0 + 0.9) == "2026-11-28 11:51:52Z"
    for bad in (math.nan, math.inf, -math.inf, 1e20, -1e20, 10**400, "soon", [1]):
        assert timestamp(bad) == "time out of range"
    assert timestamp(None) == "\u2014"


def test_non_numbers_are_shown_and_drawn_as_zero() -> None:
    report = garbage_numbers(realistic())
    report["cross_findings"][0]["first_ts"] = math.nan
    html = render_audit_page(report)
    assert "time out of range" in html
    page = Page(html)
    geometry = {"x", "y", "x1", "x2", "y1", "y2", "width", "height", "rx"}
    for name, value, tag in page.attrs:
        if name in geometry and tag in {"rect", "line", "text", "svg"}:
            assert value is not None and math.isfinite(float(value)), (tag, name, value)
            assert abs(float(value)) < 1e6, (tag, name, value)


def test_empty_report_says_so_in_every_section() -> None:
    html = render_audit_page(empty_report())
    text = Page(html).text
    for empty in ("No pattern across sessions was found", "No findings: nothing looked wrong.",
                  "No client addresses were seen.", "No servers were seen.",
                  "No session had a time, so there is no timeline.", "no AUTH", "no sessions",
                  "no findings"):
        assert empty in text, empty
    assert "<svg" not in html
    files = Page(section(html, "files")).text
    assert "garbage.pcap" in files and "not a capture file" in files and "offset 0" in files
    assert "empty.log" in files and "no SMTP session found in it" in files
    assert "exit 2" in text and "nothing usable was read" in text
    assert html.count('class="empty"') == 5


def test_report_without_bad_files_says_so() -> None:
    report = realistic()
    report["files"] = [f for f in report["files"] if not f["bad"]]
    text = Page(section(render_audit_page(report), "files")).text
    assert "No bad files: every input gave sessions." in text


def test_unknown_schema_is_shown_not_fatal() -> None:
    report = realistic()
    report["version"] = 7
    text = Page(render_audit_page(report)).text
    assert "This page reads smtplens-audit version 1; the report says smtplens-audit " \
           "version 7" in text
    assert "<html" in render_audit_page({})


def big_report() -> dict[str, Any]:
    report = realistic()
    fids = list(CATALOG)
    report["findings"] = [
        {**_finding(fids[i % len(fids)], 1000 - i, 10, [
            _example(f"/var/log/mail.log.{i}", f"postfix-{i}-{k}", 1000 + k, T0 + k,
                     f"detail {i}/{k}: " + "x" * 80) for k in range(3)]),
         "id": f"{fids[i % len(fids)]}-{i}"} for i in range(500)]
    report["timeline"] = [{"start": (T0 // HOUR + h) * HOUR, "sessions": 5 + h % 17,
                           "auth_failures": h % 5, "error_sessions": h % 3}
                          for h in range(10_000)]
    return report


def test_big_report_stays_small() -> None:
    html = render_audit_page(big_report())
    assert len(html.encode("utf-8")) < 2_000_000
    timeline = section(html, "timeline")
    assert timeline.count("<g>") <= MAX_COLUMNS
    assert "one column per day (hours merged" in Page(timeline).text
    findings = section(html, "findings")
    chart = findings[findings.index("<svg"):findings.index("</svg>")]
    assert chart.count("<g>") == 30
    assert "The chart shows the 30 most frequent of 500 ids" in Page(findings).text


@pytest.mark.parametrize("span", [365 * 24, 24 * 365 * 50, 10**7])
def test_timeline_columns_are_capped_for_any_span(span: int) -> None:
    report = realistic()
    report["timeline"] = [{"start": (T0 // HOUR + h) * HOUR, "sessions": 1,
                           "auth_failures": 0, "error_sessions": 0}
                          for h in range(0, span, max(1, span // 3000))]
    report["timeline"].append({"start": 1e300, "sessions": 1, "auth_failures": 0,
                               "error_sessions": 0})
    html = render_audit_page(report)
    timeline = section(html, "timeline")
    assert 0 < timeline.count("<g>") <= MAX_COLUMNS
    assert "1 hours with a time out of range were left out." in Page(timeline).text
    assert len(html) < 500_000


# ------------------------------------------------------------------------- Chromium


def test_chromium_helper_sees_console_messages_and_network(tmp_path: Path) -> None:
    need_chromium()
    page = tmp_path / "noisy.html"
    page.write_text('<!doctype html><body><script>console.error("boom\\nsecond line");'
                    "nosuch();</script><img src=\"http://192.0.2.1/x.png\"></body>",
                    encoding="utf-8")
    result = load_page(page)
    assert any(m.startswith("boom\nsecond line (file://") for m in result.console_errors)
    assert any("nosuch is not defined" in m for m in result.console_errors)
    assert result.network == ["http://192.0.2.1/x.png"]
    assert result.external_refs == ["http://192.0.2.1/x.png"]
    assert not result.offline


def test_chromium_renders_the_page_cleanly(tmp_path: Path) -> None:
    need_chromium()
    page = tmp_path / "audit.html"
    page.write_text(render_audit_page(realistic()), encoding="utf-8")
    result = load_page(page, tmp_path / "audit.png", height=2400)
    assert result.console_errors == []
    assert result.offline, result.network + result.external_refs
    for shown in ("1,342", "73.0%", "48.2 MB", "203.0.113.7", "Password guessing"):
        assert shown in result.dom
    assert result.screenshot is not None
    png = result.screenshot.read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 10_000


def test_chromium_renders_the_hostile_page_without_running_anything(tmp_path: Path) -> None:
    # an injected script would be refused by the page's policy, and Chromium logs refusals
    need_chromium()
    page = tmp_path / "hostile.html"
    page.write_text(render_audit_page(hostile_report(), title=HOSTILE), encoding="utf-8")
    result = load_page(page)
    assert result.console_errors == []
    assert result.offline
    assert "<script" not in result.dom.split("</style>", 1)[1]


def test_screenshot_helper_writes_a_png(tmp_path: Path) -> None:
    need_chromium()
    html = render_audit_page(copy.deepcopy(empty_report()))
    out = screenshot(html, tmp_path / "shot.png", width=900)
    assert out.read_bytes().startswith(PNG_MAGIC)
