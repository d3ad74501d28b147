"""The notebook views: one real session as a ladder (AUTH decoded beside the wire, the
message as one row, findings at their rows), the summary of a result, hostile text in
every field, a very long session, and both fragments in headless Chromium."""

from __future__ import annotations

import base64
import math
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd

from smtplens import frames
from smtplens.analysis import analyze_file
from smtplens.findings.catalog import CATALOG
from smtplens.model import Session
from smtplens.report import finding_dict
from smtplens.secret import Secret
from smtplens.views.html import CSP
from smtplens.views.ladder import (
    LADDER_CSS,
    MAX_ROWS,
    REPLY_LINES,
    SUMMARY_CSS,
    _missing,
    render_ladder,
    render_summary,
)
from tests.chromium import PNG_MAGIC, load_page, need_chromium, screenshot
from tests.helpers import SAMPLES

PCAP = str(SAMPLES / "auth-login.pcap")
PHPMAILER = str(SAMPLES / "phpmailer-debug.log")
POSTFIX = str(SAMPLES / "postfix-debug.log")
SMTPLIB = str(SAMPLES / "smtplib-debug.log")
TERMINATOR = str(SAMPLES / "missing-terminator.txt")
UNSTUFFED = str(SAMPLES / "unstuffed-dot.txt")
#: what samples/make_pcap_samples.py authenticates with (made up for the sample)
PASSWORD = "sample-password-1"

Rows = dict[str, Any]


def explain(finding_id: str) -> tuple[str, str, str]:
    spec = CATALOG[finding_id]
    return spec.description, spec.when, spec.fix


# ------------------------------------------------------------------ the inputs

#: the columns the ladder reads that the frames gained late: built here from the
#: Session objects when the frames do not have them (yet)
LATE_COLUMNS = {"commands": ("reply_note", "offset", "location")}


class Inputs:
    """One session's rows of every frame, as render_ladder takes them."""

    def __init__(self, session: Rows, commands: list[Rows], auth_steps: list[Rows],
                 messages: list[Rows], findings: list[Rows]) -> None:
        self.session, self.commands, self.auth_steps = session, commands, auth_steps
        self.messages, self.findings = messages, findings

    def render(self, **kwargs: Any) -> str:
        return render_ladder(self.session, self.commands, self.auth_steps, self.messages,
                             self.findings, **kwargs)


def _of(df: pd.DataFrame, sid: str) -> list[Rows]:
    return df[df.session == sid].to_dict("records")  # type: ignore[return-value]


def session_inputs(path: str, sid: str | None = None) -> Inputs:
    """The rows of session ``sid`` (default: the first) of ``path``, from the frames;
    what the frames lack is built from the Session objects."""
    f = frames.load([path], jobs=1)
    sid = sid or str(f.sessions.session.iloc[0])
    commands = _of(f.commands, sid)
    steps = _of(f.auth_steps, sid) if hasattr(f, "auth_steps") else None
    missing = [c for c in LATE_COLUMNS["commands"] if c not in f.commands.columns]
    if steps is None or missing:
        built = session_rows(_session(path, sid))
        if steps is None:
            steps = built.auth_steps
        for row, extra in zip(commands, built.commands, strict=True):
            for column in missing:
                row[column] = extra[column]
    return Inputs(_of(f.sessions, sid)[0], commands, steps, _of(f.messages, sid),
                  _of(f.findings, sid))


def _session(path: str, sid: str) -> Session:
    found = [s for s in analyze_file(path, jobs=1) if s.id == sid]
    assert len(found) == 1, sid
    return found[0]


def session_rows(s: Session) -> Inputs:
    """The rows straight from a Session: plain floats for times, None for missing,
    no pandas value anywhere."""
    session = {"session": s.id, "source": s.source, "origin": s.origin,
               "client": str(s.client) if s.client else None,
               "server": str(s.server) if s.server else None, "start": s.ts_start,
               "end": s.ts_end, "greeting_code": s.greeting_code,
               "greeting": s.greeting_text, "helo": s.helo, "tls": s.tls, "user": s.user,
               "messages": len(s.messages), "findings": len(s.findings),
               "client_bytes": s.client_bytes, "server_bytes": s.server_bytes}
    commands = [{"session": s.id, "item": e.item, "kind": e.kind, "verb": e.verb,
                 "text": e.shown(False), "meaning": e.meaning(False), "ts": e.ts,
                 "reply_code": e.reply_code, "enhanced": e.enhanced, "reply": e.reply_text,
                 "reply_note": e.reply_note,
                 "latency_ms": None if e.latency is None else e.latency * 1000,
                 "pipelined": e.pipelined, "offset": e.offset, "location": e.location}
                for e in s.exchanges]
    steps = []
    for number, a in enumerate(s.auth, 1):
        for step_no, st in enumerate(a.steps, 1):
            steps.append({"session": s.id, "exchange": number, "mechanism": a.mechanism,
                          "step": step_no, "direction": st.direction.value,
                          "wire": str(st.wire) if isinstance(st.wire, Secret) else st.wire,
                          "decoded": st.describe(False), "meaning": st.label,
                          "valid_base64": st.valid_base64, "error": st.error, "ts": a.ts})
    messages = []
    for t in s.transactions:
        m = t.message
        info = m.info if m is not None else None
        messages.append({
            "session": s.id, "index": t.index, "mail_from": t.mail_from,
            "recipients": ",".join(r.address for r in t.recipients), "method": t.method,
            "size": info.size if info else None, "sha256": info.sha256 if info else None,
            "subject": info.subject if info else None,
            "from": info.from_ if info else None, "to": info.to if info else None,
            "date": info.date if info else None,
            "message_id": info.message_id if info else None,
            "attachments": ",".join(a.filename or a.content_type for a in info.attachments)
            if info else None, "reply_code": m.reply_code if m else None,
            "complete": m.complete if m else None, "ts": t.ts})
    findings = [{k: finding_dict(f)[k] for k in ("session", "id", "severity", "title",
                                                 "detail", "direction", "ts", "offset",
                                                 "location", "excerpt")}
                for f in s.findings]
    return Inputs(session, commands, steps, messages, findings)


# ------------------------------------------------------------------ reading the HTML

class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node | str] = []

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    def all(self, tag: str | None = None, cls: str | None = None) -> list[Node]:
        found = []
        for c in self.children:
            if isinstance(c, Node):
                if (tag is None or c.tag == tag) and (cls is None or cls in c.classes):
                    found.append(c)
                found.extend(c.all(tag, cls))
        return found

    def up(self, tag: str, cls: str | None = None) -> Node:
        node = self.parent
        while node is not None:
            if node.tag == tag and (cls is None or cls in node.classes):
                return node
            node = node.parent
        raise AssertionError(f"no <{tag} class={cls}> around <{self.tag}>")

    def has(self, node: Node) -> bool:
        return any(c is node or (isinstance(c, Node) and c.has(node)) for c in self.children)


VOID = {"br"}


class Tree(HTMLParser):
    """The fragment as a tree, with every tag and attribute seen."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, None)
        self.at = self.root
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str]] = []
        self.style: list[str] = []
        self.feed(html)
        self.close()
        assert self.at is self.root, f"unclosed <{self.at.tag}>"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = {k: v or "" for k, v in attrs}
        self.attrs.extend(values.items())
        node = Node(tag, values, self.at)
        self.at.children.append(node)
        if tag not in VOID:
            self.at = node

    def handle_endtag(self, tag: str) -> None:
        assert self.at.tag == tag, f"</{tag}> closes <{self.at.tag}>"
        assert self.at.parent is not None
        self.at = self.at.parent

    def handle_data(self, data: str) -> None:
        if self.at.tag == "style":
            self.style.append(data)
        self.at.children.append(data)

    # ladder helpers
    def lines(self) -> list[Node]:
        return [n for n in self.root.all("div", "l") if "lanes" not in n.classes]

    def line_with(self, side: str, text: str) -> Node:
        found = [n for n in self.lines() if any(text in c.text for c in n.all("div", side))]
        assert found, f"no line with {text!r} on side {side}"
        return found[0]

    def cell(self, line: Node, side: str) -> Node:
        return next(c for c in line.children if isinstance(c, Node) and side in c.classes)

    def finding(self, finding_id: str) -> Node:
        found = [n for n in self.root.all("div", "f")
                 if any(c.text == finding_id for c in n.all("code"))]
        assert len(found) == 1, f"{finding_id}: {len(found)} marks"
        return found[0]


ELEMENTS = {"div", "style", "span", "code", "strong", "ol", "li", "details", "summary", "dl",
            "dt", "dd", "q", "p", "table", "thead", "tbody", "tr", "th", "td", "br", "small"}
CLASSES = {"smtplens-ladder", "smtplens-summary", "hd", "ttl", "m", "badge", "ok", "warning",
           "error", "info", "unknown", "l", "lanes", "t", "c", "a", "s", "lat", "rows", "r",
           "data", "x-error", "x-warning", "x-info", "x-unknown", "to", "fro", "code", "go",
           "temp", "fail", "odd", "none", "dec", "bad", "pl", "rest", "msgd", "fs", "f", "fh",
           "tail", "msg", "more-rows", "empty", "h", "cards", "card", "v", "k", "scroll", "key",
           "num"}


def checked(html: str, css: str = LADDER_CSS) -> Tree:
    """Parse a fragment and check what any fragment must be: one root, only our
    elements, classes and attributes, the constant style sheet and nothing to run."""
    tree = Tree(html)
    top = [c for c in tree.root.children if isinstance(c, Node)]
    assert len(top) == 1 and top[0].tag == "div"
    assert top[0].classes <= {"smtplens-ladder", "smtplens-summary"}
    assert set(tree.tags) <= ELEMENTS, set(tree.tags) - ELEMENTS
    assert "script" not in tree.tags
    for name, value in tree.attrs:
        assert name in ("class", "title"), name
        assert not name.startswith("on")
        if name == "class":
            assert set(value.split()) <= CLASSES, value
    assert tree.style == [css]
    assert "\udcff" not in html and "\x1b" not in html
    html.encode("utf-8")  # no lone surrogate got through
    return tree


# ------------------------------------------------------------------ missing values

def test_missing_reads_every_kind_of_absent_value() -> None:
    for value in (None, math.nan, float("nan"), pd.NA, pd.NaT):
        assert _missing(value), value
    for value in (0, 0.0, "", "x", False, pd.Timestamp(0, unit="s", tz="UTC"), [], {}):
        assert not _missing(value), value


def test_pandas_missing_values_read_like_none() -> None:
    # rows may carry pd.NA, pd.NaT or NaN where a value is missing (pandas versions and
    # row access differ): every one renders as the None it stands for
    inputs = session_inputs(TERMINATOR)
    before = inputs.render()
    fillers = [pd.NA, pd.NaT, math.nan]

    def swap(rows: list[Rows]) -> list[Rows]:
        out = []
        for n, row in enumerate(rows):
            out.append({k: fillers[(n + i) % 3] if v is None else v
                        for i, (k, v) in enumerate(row.items())})
        return out

    swapped = [swap([inputs.session])[0], swap(inputs.commands), swap(inputs.auth_steps),
               swap(inputs.messages), swap(inputs.findings)]
    assert sum(v is pd.NA for row in swapped[1] for v in row.values()) > 0
    after = render_ladder(*swapped)
    assert after == before
    tree = checked(after)
    assert "<NA>" not in tree.root.text and "NaT" not in tree.root.text


# ------------------------------------------------------------------ AUTH, real sessions

def test_pcap_auth_login_challenges_sit_beside_what_they_decode_to() -> None:
    inputs = session_inputs(PCAP)
    tree = checked(inputs.render())
    line = tree.line_with("s", "VXNlciBOYW1lAA==")  # aiosmtpd's "User Name\0"
    reply = tree.cell(line, "s")
    assert "334" in reply.text and "User Name\\0" in reply.all("span", "dec")[0].text
    assert tree.cell(line, "c").text == "AUTH LOGIN"
    # the user name answer, decoded beside its Base64, with the next challenge
    line = tree.line_with("c", "YWxpY2VAZXhhbXBsZS50ZXN0")
    assert 'user "alice@example.test"' in tree.cell(line, "c").text
    assert "Password\\0" in tree.cell(line, "s").text


def test_phpmailer_username_challenge_sits_beside_username() -> None:
    tree = checked(session_inputs(PHPMAILER).render())
    line = tree.line_with("s", "VXNlcm5hbWU6")
    reply = tree.cell(line, "s")
    assert [n.text for n in reply.all("code")] == ["VXNlcm5hbWU6"]
    assert [n.text for n in reply.all("span", "dec")] == ["Username:"]
    assert tree.cell(line, "c").text == "AUTH LOGIN"
    line = tree.line_with("s", "UGFzc3dvcmQ6")
    assert "Password:" in tree.cell(line, "s").text
    assert "masked by the log" in tree.cell(line, "c").text


def test_the_password_is_redacted_and_never_shown() -> None:
    inputs = session_inputs(PCAP)
    html = inputs.render(explain=explain)
    tree = checked(html)
    line = tree.line_with("c", "[redacted password")
    client = tree.cell(line, "c").text
    assert "password [redacted password, 17 chars]" in client
    assert "235" in tree.cell(line, "s").text
    encoded = base64.b64encode(PASSWORD.encode()).decode()
    for secret in (PASSWORD, encoded, encoded.rstrip("="), encoded[:16]):
        assert secret not in html
        assert secret not in tree.root.text


def test_server_challenges_come_from_auth_steps_or_reply_note() -> None:
    inputs = session_inputs(PHPMAILER)
    # without auth_steps, reply_note still decodes the challenge
    without = checked(render_ladder(inputs.session, inputs.commands, [], inputs.messages,
                                    inputs.findings))
    assert "Username:" in without.cell(without.line_with("s", "VXNlcm5hbWU6"), "s").text
    # without reply_note, the steps of the matching exchange do
    bare = [{**c, "reply_note": None} for c in inputs.commands]
    steps = checked(render_ladder(inputs.session, bare, inputs.auth_steps, inputs.messages,
                                  inputs.findings))
    assert "Username:" in steps.cell(steps.line_with("s", "VXNlcm5hbWU6"), "s").text
    # with neither, the wire line stands alone
    neither = checked(render_ladder(inputs.session, bare, [], inputs.messages, []))
    assert not neither.cell(neither.line_with("s", "VXNlcm5hbWU6"), "s").all("span", "dec")


def test_several_auth_exchanges_pair_their_own_steps() -> None:
    # smtplib-debug: PLAIN with an initial response, LOGIN with one, LOGIN without
    tree = checked(session_inputs(SMTPLIB, "smtplib#1").render())
    lines = tree.lines()
    auth = [n for n in lines if tree.cell(n, "c").text.startswith("AUTH")]
    assert len(auth) == 3
    assert 'user "alice"' in tree.cell(auth[1], "c").text  # its initial response
    assert "Password\\0" in tree.cell(auth[1], "s").text
    assert "User Name\\0" in tree.cell(auth[2], "s").text


def test_rows_built_from_session_objects_render_the_same_ladder() -> None:
    # plain floats and None, no pandas value: the renderer needs no pandas
    inputs = session_rows(_session(PCAP, "C1"))
    tree = checked(inputs.render())
    assert "User Name\\0" in tree.cell(tree.line_with("s", "VXNlciBOYW1lAA=="), "s").text
    framed = checked(session_inputs(PCAP).render())
    assert [tree.cell(n, "c").text for n in tree.lines()] == \
        [framed.cell(n, "c").text for n in framed.lines()]
    assert [n.text for n in tree.root.all("span", "t")] == \
        [n.text for n in framed.root.all("span", "t")]


# ------------------------------------------------------------------ DATA and latency

def test_the_message_is_one_row_that_unfolds_to_its_headers() -> None:
    tree = checked(session_inputs(PCAP).render())
    data = tree.root.all("li", "data")
    assert len(data) == 1
    message = data[0].all("details", "msgd")
    assert len(message) == 1
    summary = message[0].all("summary")[0].text
    for shown in ("DATA", "1,401 octets", "Quarterly numbers", "numbers.csv"):
        assert shown in summary
    facts = {dt.text: dd.text for dt, dd in zip(message[0].all("dt"), message[0].all("dd"),
                                                strict=True)}
    assert facts["From"] == "alice@example.test" and facts["To"] == "bob@example.test"
    assert facts["Date"] == "Mon, 01 Jan 2024 10:00:00 +0000"
    assert facts["Message-ID"] == "<sample-1@example.test>"
    # the DATA line and the message line are both in the one entry, each with its reply
    lines = data[0].all("div", "l")
    assert tree.cell(lines[0], "c").text == "data" and "354" in tree.cell(lines[0], "s").text
    assert "250" in tree.cell(lines[1], "s").text
    assert "Ok: queued as 8F1A2C" in tree.cell(lines[1], "s").text


def test_replies_show_their_latency_and_times_are_utc_milliseconds() -> None:
    inputs = session_inputs(PCAP)
    tree = checked(inputs.render())
    ehlo = tree.line_with("c", "ehlo client.example.test")
    assert next(c for c in ehlo.children if isinstance(c, Node) and "lat" in c.classes
                ).text == "0.32 ms"
    lat = [n.text for n in tree.root.all("span", "lat")][1:]  # the lanes' heading first
    assert sum(bool(t) for t in lat) == len(inputs.commands)
    assert all(re.fullmatch(r"\d+\.\d\d ms", t) for t in lat if t)
    times = [n for n in tree.root.all("span", "t") if n.attrs.get("title")]
    assert times[1].text == "12:17:30.652"
    assert times[1].attrs["title"] == "2026-11-28 12:17:30.652Z"


def test_multi_line_replies_fold_after_the_first_line() -> None:
    tree = checked(session_inputs(PCAP).render())
    reply = tree.cell(tree.line_with("c", "ehlo client.example.test"), "s")
    details = reply.all("details")
    assert len(details) == 1
    assert details[0].all("summary")[0].text == "5 more lines"
    assert "mx.example.test" in reply.text and "mx.example.test" not in details[0].text
    # RFC 5321 §4.2.1: the hyphen on every line but the last, as on the wire
    assert "250-AUTH LOGIN PLAIN" in details[0].text and "250 HELP" in details[0].text


CHUNKED = """\
S: 220 mx.example.test ESMTP
C: EHLO a.example
S: 250-mx.example.test
S: 250-CHUNKING
S: 250 PIPELINING
C: MAIL FROM:<a@example.org>
C: RCPT TO:<b@example.com>
S: 250 OK
S: 250 OK
C: BDAT 19
C: Subject: hi there
S: 250 2.0.0 chunk ok
C: BDAT 0 LAST
S: 250 2.0.0 queued
C: MAIL FROM:<a@example.org>
S: 250 OK
C: RCPT TO:<c@example.com>
S: 550 no
C: DATA
S: 554 no valid recipients
C: QUIT
S: 221 bye
"""


def test_bdat_message_goes_with_the_last_chunk_and_refused_data_has_none(
        tmp_path: Path) -> None:
    path = tmp_path / "chunked.txt"
    path.write_text(CHUNKED, encoding="utf-8")
    inputs = session_inputs(str(path))
    assert [m["method"] for m in inputs.messages] == ["BDAT", "DATA"]
    tree = checked(inputs.render())
    (message,) = tree.root.all("details", "msgd")
    assert "19 octets" in message.text and "hi there" in message.text
    entry = message.up("li", "r")
    assert entry.all("div", "c")[0].text == "BDAT 0 LAST"
    assert "the verdict is the reply to the last chunk" in entry.text
    # the refused DATA (554) sent no message: no message line, but its finding
    refused = tree.line_with("c", "DATA").up("li", "r")
    assert "554" in refused.text and not refused.all("details", "msgd")
    assert tree.finding("protocol.out-of-sequence").up("li", "r") is refused
    rcpt = tree.line_with("c", "RCPT TO:<b@example.com>")
    assert [n.text for n in rcpt.all("span", "pl")] == ["pipelined"]


def test_a_log_without_the_content_says_so() -> None:
    tree = checked(session_inputs(POSTFIX, "smtpd[9826]#1").render())
    (message,) = tree.root.all("details", "msgd")
    summary = message.all("summary")[0].text
    assert "size unknown" in summary and "content not in the log" in summary
    assert "incomplete" not in summary


# ------------------------------------------------------------------ findings

def _entry(tree: Tree, finding_id: str) -> Node:
    mark = tree.finding(finding_id)
    return mark.up("li", "r")


def test_unstuffed_dot_is_marked_on_the_data_row() -> None:
    inputs = session_inputs(UNSTUFFED)
    # the rows say: DATA at offset 81, its end at 201, the finding at 157 in the body
    offsets = {c["verb"]: c["offset"] for c in inputs.commands}
    (f,) = inputs.findings
    assert f["id"] == "data.unstuffed-dot" and offsets["DATA"] <= f["offset"] < offsets["."]
    tree = checked(inputs.render())
    entry = _entry(tree, "data.unstuffed-dot")
    assert "data" in entry.classes and "x-warning" in entry.classes
    assert entry.all("details", "msgd")
    mark = tree.finding("data.unstuffed-dot")
    assert "warning" in mark.classes
    assert "2 lines starting with a single '.'" in mark.text
    assert ".5 percent growth" in mark.text  # the excerpt


def test_missing_terminator_is_marked_on_the_unfinished_data_row() -> None:
    inputs = session_inputs(TERMINATOR)
    # the rows say: DATA is the last client line (no end of data), and both findings
    # come after it: the terminator by offset, the missing QUIT by time
    assert inputs.commands[-1]["verb"] == "DATA"
    assert all(c["kind"] != "data-end" for c in inputs.commands)
    tree = checked(inputs.render(explain=explain))
    entry = _entry(tree, "data.terminator-missing")
    assert "data" in entry.classes and "x-error" in entry.classes
    assert _entry(tree, "protocol.no-quit") is entry
    summary = entry.all("details", "msgd")[0].all("summary")[0].text
    assert "93 octets" in summary and "test" in summary and "incomplete" in summary
    assert "no reply to the message" in entry.text
    # the session block at the end is for what fits no row
    assert not tree.root.all("div", "tail")
    note = tree.finding("data.terminator-missing").all("details")[0].text
    assert CATALOG["data.terminator-missing"].fix in note


def test_findings_go_to_the_row_of_their_location_then_offset_then_time() -> None:
    # by location: postfix-debug puts line numbers on findings and lines alike
    inputs = session_inputs(POSTFIX, "smtpd[9826]#2")
    tree = checked(inputs.render())
    second = [f for f in inputs.findings if f["location"] == "line 215"]
    assert [f["id"] for f in second] == ["auth.failed"]
    marks = [m for m in tree.root.all("div", "f") if "535" in m.text]
    assert marks
    rows = {c["location"]: c for c in inputs.commands}
    entry = next(m for m in marks if "line 215" in m.text).up("li", "r")
    assert rows["line 215"]["text"] in entry.all("div", "c")[0].text
    # by offset: the pcap's findings have offsets, no locations
    pcap = session_inputs(PCAP)
    (cleartext,) = pcap.findings
    assert cleartext["location"] == "" and cleartext["offset"] == 26
    tree = checked(pcap.render())
    entry = _entry(tree, "auth.cleartext")
    assert entry.all("div", "c")[0].text == "AUTH LOGIN"


def test_finding_placement_rules_on_made_up_rows() -> None:
    t0 = 1_800_000_000.0
    session = {"session": "X", "start": t0}
    commands = [
        {"session": "X", "item": 1, "kind": "command", "verb": "EHLO", "text": "EHLO a",
         "ts": t0 + 1, "reply_code": 250, "reply": "ok", "offset": 0, "location": "line 1"},
        {"session": "X", "item": 2, "kind": "command", "verb": "NOOP", "text": "NOOP",
         "ts": t0 + 2, "reply_code": 250, "reply": "ok", "offset": 8, "location": ""},
        {"session": "X", "item": 3, "kind": "command", "verb": "QUIT", "text": "QUIT",
         "ts": t0 + 3, "reply_code": 221, "reply": "bye", "offset": 14},
    ]

    def finding(fid: str, **where: Any) -> Rows:
        return {"session": "X", "id": fid, "severity": "info", "title": fid, **where}

    findings = [
        finding("by.location", location="line 1", offset=14, direction="C", ts=t0 + 3),
        finding("by.offset", offset=9, direction="C", ts=t0 + 3),  # inside NOOP's [8, 14)
        finding("server.offset", offset=9, direction="S", ts=t0 + 2.5),  # not a client offset
        finding("by.time", ts=t0 + 2.0),  # same time as NOOP: NOOP
        finding("after.all", ts=t0 + 99),  # nearest before: QUIT
        finding("too.early", ts=t0),  # before every row
        finding("nowhere"),
        finding("other.session", session="Y", ts=t0 + 1),
    ]
    tree = checked(render_ladder(session, commands, [], [], findings))

    def row_of(fid: str) -> str:
        entry = _entry(tree, fid)
        return entry.all("div", "c")[0].text

    assert row_of("by.location") == "EHLO a"
    assert row_of("by.offset") == "NOOP"
    assert row_of("server.offset") == "NOOP"
    assert row_of("by.time") == "NOOP"
    assert row_of("after.all") == "QUIT"
    (tail,) = tree.root.all("div", "tail")
    assert "Findings of the session" in tail.text
    assert tail.has(tree.finding("too.early")) and tail.has(tree.finding("nowhere"))
    assert "other.session" not in tree.root.text


def test_explain_is_asked_once_per_id_and_may_not_know_it() -> None:
    inputs = session_inputs(SMTPLIB, "smtplib#1")
    asked: list[str] = []

    def lookup(finding_id: str) -> tuple[str, str, str]:
        asked.append(finding_id)
        if finding_id == "auth.failed":
            raise KeyError(finding_id)
        return explain(finding_id)

    tree = checked(inputs.render(explain=lookup))
    assert sorted(asked) == sorted({f["id"] for f in inputs.findings})
    for mark in tree.root.all("div", "f"):
        fid = mark.all("code", "m")[0].text
        assert bool(mark.all("details")) == (fid != "auth.failed")
    # without explain, no explanation
    assert not [m for m in checked(inputs.render()).root.all("div", "f") if m.all("details")]


def test_the_header_names_both_ends_and_the_counts() -> None:
    tree = checked(session_inputs(PCAP).render())
    head = tree.root.all("div", "hd")[0].text
    for shown in ("Session C1", "127.0.0.1:38520 \u2192 127.0.0.1:60033", "pcap",
                  "auth-login.pcap", "started 2026-11-28 12:17:30.651 UTC", "no TLS",
                  "user alice@example.test", "9 lines", "1 message", "1 finding (1 error)"):
        assert shown in head, shown


def test_a_session_without_commands_says_so_and_keeps_its_messages() -> None:
    # a summary log keeps no transcript: no commands, but the transactions it saw
    f = frames.load([str(SAMPLES / "postfix-maillog.log")], jobs=1)
    assert f.commands.empty
    sid = str(f.messages[f.messages.method == "DATA"].session.iloc[0])
    messages = _of(f.messages, sid)
    tree = checked(render_ladder(_of(f.sessions, sid)[0], [], [], messages,
                                 _of(f.findings, sid)))
    assert "No commands were recorded" in tree.root.text
    tail = next(t for t in tree.root.all("div", "tail") if "Messages" in t.text)
    (message,) = tail.all("details", "msgd")
    assert str(messages[0]["mail_from"]) in message.text
    assert "size unknown" in message.all("summary")[0].text


# ------------------------------------------------------------------ the summary

def test_summary_of_real_results() -> None:
    f = frames.load([PCAP, POSTFIX, SMTPLIB, TERMINATOR, UNSTUFFED], jobs=1)
    by_severity = {str(k): int(v) for k, v in
                   f.findings["severity"].astype(object).value_counts().items()}
    sessions = f.sessions.to_dict("records")
    html = render_summary(f.totals(), sessions, by_severity, [], max_rows=3)
    tree = checked(html, SUMMARY_CSS)
    rows = tree.root.all("tbody")[0].all("tr")
    assert len(rows) == 3
    assert f"\u2026 and {len(sessions) - 3:,} more" in tree.root.text
    cards = {c.all("div", "k")[0].text: c.all("div", "v")[0].text
             for c in tree.root.all("div", "card")}
    totals = f.totals()
    assert cards["sessions"] == str(len(sessions))
    assert cards["AUTH ok"] == str(totals["auth_success"])
    assert cards["AUTH failed"] == str(totals["auth_failure"])
    assert cards["messages"] == str(totals["messages"])
    assert cards["findings"] == str(len(f.findings))
    badges = [b.text for b in tree.root.all("span", "badge")]
    assert badges[:2] == ["error", "warning"]
    first = [td.text for td in rows[0].all("td")]
    assert first[0].startswith("C1") and "auth-login.pcap" in first[0]  # several sources
    assert first[1:3] == ["127.0.0.1:38520", "127.0.0.1:60033"]
    assert first[3] == "2026-11-28 12:17:30.651" and first[6] == "no"
    assert "Input problems" not in tree.root.text


def test_summary_lists_input_problems(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"\xd4\xc3\xb2\xa1" + b"\x00" * 10)
    f = frames.load([PCAP, str(junk)], jobs=1)
    problems = f.problems.to_dict("records")
    assert problems
    totals = f.totals()
    tree = checked(render_summary(totals, f.sessions.to_dict("records"), {}, problems),
                   SUMMARY_CSS)
    assert "Input problems" in tree.root.text
    cells = [td.text for td in tree.root.all("tbody")[-1].all("tr")[0].all("td")]
    assert cells[0] == str(junk) and str(problems[0]["message"]) in cells[2]
    assert "\u2026 and" not in tree.root.text
    # more problems than rows: the rest is counted
    many = [{"source": "f", "location": f"line {n}", "message": "bad"} for n in range(30)]
    tree = checked(render_summary({"sessions": 0, "problems": 30}, [], {}, many, max_rows=5),
                   SUMMARY_CSS)
    assert "\u2026 and 25 more" in tree.root.text and "No sessions." in tree.root.text


def test_frames_show_these_views_in_a_notebook() -> None:
    f = frames.load([PCAP], jobs=1)
    assert 'class="smtplens-summary"' in f._repr_html_()
    view = f.session("C1")
    tree = checked(view._repr_html_())
    assert tree.finding("auth.cleartext").all("details")  # explained from the catalog


# ------------------------------------------------------------------ hostile text

HOSTILE = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "\x1b[2J",
           "\udcff", "</style><script>", "\u202e", "' onmouseover='alert(1)"]
EVIL = "".join(HOSTILE)
#: what must not be in the markup as it is (the words stay as text: "onerror=" is
#: harmless between tags, where the parser shows it cannot be an attribute)
RAW = ["<script", "<img", "\x1b", "\udcff", "</style><script", "\u202e", "onmouseover='"]


def hostile_inputs() -> Inputs:
    t0 = 1_800_000_000.0
    session = {k: EVIL for k in ("session", "source", "origin", "client", "server", "helo",
                                 "user", "greeting")}
    session |= {"start": t0, "end": EVIL, "tls": EVIL, "messages": EVIL, "findings": EVIL,
                "client_bytes": EVIL, "server_bytes": EVIL, "greeting_code": EVIL}
    commands = []
    for item, (kind, verb) in enumerate([("command", "EHLO"), ("command", "AUTH"),
                                         ("auth", "AUTH-ANSWER"), ("command", "MAIL"),
                                         ("command", "DATA"), ("data-end", "."),
                                         ("command", EVIL)], 1):
        commands.append({"session": EVIL, "item": item, "kind": kind, "verb": verb,
                         "text": EVIL, "meaning": EVIL, "ts": t0 + item,
                         "reply_code": 334 if verb.startswith("AUTH") else EVIL,
                         "enhanced": EVIL, "reply": "\n".join(HOSTILE), "reply_note": EVIL,
                         "latency_ms": EVIL, "pipelined": EVIL, "offset": EVIL,
                         "location": EVIL})
    steps = [{"session": EVIL, "exchange": 1, "mechanism": EVIL, "step": n, "direction": d,
              "wire": EVIL, "decoded": EVIL, "meaning": EVIL, "valid_base64": False,
              "error": EVIL, "ts": EVIL} for n, d in enumerate("SCS", 1)]
    messages = [{k: EVIL for k in ("session", "mail_from", "recipients", "method", "subject",
                                   "from", "to", "date", "message_id", "attachments",
                                   "sha256", "reply_code", "complete", "ts", "size")}
                | {"index": 1}]
    findings = [{k: EVIL for k in ("session", "id", "severity", "title", "detail",
                                   "direction", "ts", "offset", "location", "excerpt")},
                {"session": EVIL, "id": EVIL, "severity": EVIL, "title": EVIL,
                 "detail": EVIL, "direction": "C", "ts": t0 + 5, "offset": None,
                 "location": EVIL, "excerpt": EVIL}]
    return Inputs(session, commands, steps, messages, findings)


def _no_raw(html: str) -> None:
    for raw in RAW:
        assert raw not in html, raw
    assert "\\x1b[2J" in html and "\\udcff" in html and "\\u202e" in html


def test_hostile_strings_in_every_ladder_field_are_shown_not_run() -> None:
    inputs = hostile_inputs()
    html = inputs.render(explain=lambda _id: (EVIL, EVIL, EVIL))
    _no_raw(html)
    tree = checked(html)
    # the text is still there to read, made visible
    text = tree.root.text
    assert "<script>alert(1)</script>" in text and '"><img src=x onerror=alert(1)>' in text
    # data picked no class: an unknown severity is "unknown"
    assert {m.attrs["class"] for m in tree.root.all("div", "f")} == {"f unknown"}
    assert tree.root.all("details", "msgd")
    assert len(tree.root.all("div", "f")) == 2


def test_hostile_strings_in_every_summary_field_are_shown_not_run() -> None:
    sessions = [{k: EVIL for k in ("session", "source", "client", "server", "start", "helo",
                                   "user", "tls", "findings")}] * 3
    problems = [{"source": EVIL, "location": EVIL, "message": EVIL, "code": EVIL}]
    totals = {k: EVIL for k in ("sessions", "auth", "auth_success", "auth_failure",
                                "messages", "findings", "problems")}
    html = render_summary(totals, sessions, {EVIL: 3, "error": EVIL}, problems, max_rows=2)
    _no_raw(html)
    tree = checked(html, SUMMARY_CSS)
    assert "\u2026 and 1 more" in tree.root.text
    assert "<script>alert(1)</script>" in tree.root.text


def test_numbers_and_times_from_data_are_coerced() -> None:
    t0 = 1_800_000_000.0
    commands = [{"item": 1, "kind": "command", "verb": "NOOP", "text": "NOOP",
                 "ts": math.inf, "reply_code": "250", "reply": "ok", "latency_ms": math.nan},
                {"item": "2", "kind": "command", "verb": "NOOP", "text": "NOOP", "ts": 1e30,
                 "reply_code": 10**40, "latency_ms": -1e300, "offset": 10**40},
                {"item": None, "kind": None, "verb": None, "text": None, "ts": "x"}]
    session = {"session": "N", "start": pd.Timestamp(t0, unit="s", tz="UTC"),
               "end": pd.NaT, "messages": 10**40, "client_bytes": -5}
    html = render_ladder(session, commands, [], [{"index": 1, "method": "DATA",
                                                  "size": 10**400}], [])
    tree = checked(html)
    first, second, third = tree.lines()
    assert first.all("span", "t")[0].text == "time out of range"
    assert first.all("span", "lat")[0].text == ""  # NaN: no latency
    assert "250" in tree.cell(first, "s").text
    assert second.all("span", "t")[0].text == "time out of range"
    assert tree.cell(third, "c").text == "\u2014" and "no reply" in tree.cell(third, "s").text
    # counts past 64 bits are clamped, not printed whole (nor an error)
    assert f"{2**63 - 1:,} messages" in tree.root.all("div", "hd")[0].text
    assert f"{2**63 - 1:,} octets" in tree.root.all("details", "msgd")[0].text


# ------------------------------------------------------------------ a long session

def long_session(n: int = 5000) -> Inputs:
    t0 = 1_800_000_000.0
    session = {"session": "L", "client": "192.0.2.1:5000", "server": "192.0.2.2:25",
               "start": t0}
    ehlo_lines = "\n".join(["mx.example"] + [f"X-CAPABILITY-{i}" for i in range(300)])
    huge = "\n".join(f"line {i}" for i in range(10_000))
    commands: list[Rows] = [
        {"item": 1, "kind": "command", "verb": "EHLO", "text": "EHLO a", "ts": t0,
         "reply_code": 250, "reply": ehlo_lines, "latency_ms": 1.5, "offset": 0},
        {"item": 2, "kind": "command", "verb": "HELP", "text": "HELP", "ts": t0 + 0.1,
         "reply_code": 214, "reply": huge, "latency_ms": 2.0, "offset": 8},
    ]
    for i in range(3, n + 1):
        commands.append({"item": i, "kind": "command", "verb": "NOOP", "text": "NOOP",
                         "ts": t0 + i / 100, "reply_code": 250, "reply": "2.0.0 Ok",
                         "latency_ms": 0.25, "offset": 6 * i})
    findings = [{"session": "L", "id": "late.finding", "severity": "warning", "title": "late",
                 "direction": "C", "offset": 6 * (n - 10) + 1}]
    return Inputs(session, commands, [], [], findings)


def test_a_session_of_5000_commands_stays_bounded() -> None:
    inputs = long_session()
    html = inputs.render()
    tree = checked(html)
    assert len(tree.root.all("li", "r")) == MAX_ROWS
    assert "\u2026 and 3,000 more rows, not drawn" in tree.root.text
    # the finding of a row left out is listed at the end
    (tail,) = tree.root.all("div", "tail")
    assert tail.has(tree.finding("late.finding"))
    assert len(html) < MAX_ROWS * 700 + 200_000
    # every row when asked: the size grows with the rows, no more
    everything = inputs.render(max_rows=10_000)
    full = checked(everything)
    assert len(full.root.all("li", "r")) == 5000
    assert len(everything) < 5000 * 700 + 200_000
    assert _entry(full, "late.finding").all("div", "c")[0].text == "NOOP"


def test_long_multi_line_replies_fold_and_stop() -> None:
    tree = checked(long_session(10).render())
    ehlo = tree.cell(tree.line_with("c", "EHLO a"), "s")
    (details,) = ehlo.all("details")
    assert details.all("summary")[0].text == "300 more lines"
    assert "mx.example" in ehlo.text and "mx.example" not in details.text
    help_reply = tree.cell(tree.line_with("c", "HELP"), "s")
    (details,) = help_reply.all("details")
    assert details.all("summary")[0].text == "9,999 more lines"
    assert len(details.all("code")) == REPLY_LINES
    assert f"\u2026 and {9999 - REPLY_LINES:,} more lines" in details.text


# ------------------------------------------------------------------ headless Chromium

def page(*fragments: str, background: str = "#ffffff") -> str:
    """A minimal page around notebook fragments (the policy runs nothing)."""
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            "<title>smtplens ladder</title></head>"
            f'<body style="margin:12px;background:{background}">'
            f"{''.join(fragments)}</body></html>\n")


def test_chromium_shows_the_ladder_and_summary_cleanly(tmp_path: Path) -> None:
    need_chromium()
    f = frames.load([PCAP, PHPMAILER], jobs=1)
    ladder = f.session("C1")._repr_html_()
    other = f.session("phpmailer#1")._repr_html_()
    out = tmp_path / "ladder.html"
    out.write_text(page(ladder, other, f._repr_html_()), encoding="utf-8")
    for dark in (False, True):
        result = load_page(out, tmp_path / f"ladder-{dark}.png", dark=dark)
        assert result.console_errors == []
        assert result.offline, result.network + result.external_refs
        assert "VXNlcm5hbWU6" in result.dom and "Quarterly numbers" in result.dom
        assert result.screenshot is not None
        assert result.screenshot.read_bytes().startswith(PNG_MAGIC)


def test_chromium_runs_nothing_from_the_hostile_fragments(tmp_path: Path) -> None:
    need_chromium()
    inputs = hostile_inputs()
    ladder = inputs.render(explain=lambda _id: (EVIL, EVIL, EVIL))
    summary = render_summary({"sessions": EVIL}, [{"session": EVIL, "helo": EVIL}],
                             {EVIL: 1}, [{"source": EVIL, "message": EVIL}])
    out = tmp_path / "hostile.html"
    out.write_text(page(ladder, summary), encoding="utf-8")
    result = load_page(out)
    assert result.console_errors == []
    assert result.offline
    body = result.dom.split("</style>", 1)[1]
    assert "<script" not in body and "<img" not in body


def make_readme_screenshot(path: str | Path = SAMPLES / "session-ladder.png") -> Path:
    """Write the README's picture: the ladder of samples/auth-login.pcap's session.
    Not run by the tests (it rewrites a file in samples/); call it by hand."""
    f = frames.load([PCAP], jobs=1)
    inputs = Inputs(_of(f.sessions, "C1")[0], _of(f.commands, "C1"),
                    _of(f.auth_steps, "C1"), _of(f.messages, "C1"), _of(f.findings, "C1"))
    inputs.session["source"] = "samples/auth-login.pcap"  # as the README's reader has it
    html = inputs.render(explain=explain)
    return screenshot(page(html, background="#f3f4f6"), Path(path), width=1120, height=640)
