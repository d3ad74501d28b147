"""Terminal views (rich): the ``analyze`` summary and the ``show`` conversation.

Everything is printed through :func:`~smtplens.cli.terminal.say`, which makes the
control characters of wire strings visible whatever console the caller gives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from rich.console import Console
from rich.text import Text

from smtplens.cli.terminal import Plain, say, writes_plain
from smtplens.findings.catalog import CATALOG
from smtplens.findings.finding import Finding, Severity
from smtplens.model import AuthExchange, Exchange, Session, Transaction
from smtplens.report import Totals
from smtplens.sasl.base import wire_text
from smtplens.timestamps import in_range, out_of_range


class Styled(Protocol):
    """A line being built: rich's :class:`~rich.text.Text`, or :class:`Plain` for a
    console that writes plain text (the same characters, built without rich's cost)."""

    def append(self, text: str, style: str | None = None) -> Any: ...

    @property
    def plain(self) -> str: ...

    def __add__(self, other: Any) -> Any: ...

    def __getitem__(self, cut: slice) -> Any: ...

    def join(self, lines: Iterable[Any]) -> Any: ...


#: makes a :class:`Styled` from a text and an optional style
Make = Callable[..., Styled]


def _maker(console: Console) -> Make:
    return Plain if writes_plain(console) else Text


STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def when(ts: float | None) -> str:
    if ts is None:
        return ""
    if not in_range(ts):  # a damaged or hostile time: say so, never fail
        return out_of_range(ts)
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def clock(ts: float | None) -> str:
    """The time of day of ``when`` (12 columns), for the conversation view."""
    if ts is None:
        return ""
    return when(ts)[11:] if in_range(ts) else "out of range"


def where(f: Finding) -> str:
    ev = f.evidence
    parts = []
    if ev.location:
        parts.append(ev.location)
    if ev.direction is not None and ev.offset is not None:
        side = "client" if ev.direction.value == "C" else "server"
        parts.append(f"{side} offset {ev.offset}")
    if ev.ts is not None:
        parts.append(when(ev.ts))
    return ", ".join(parts)


def finding_text(f: Finding, fix: bool = True, make: Make = Text,
                 lang: str = "en") -> Styled:
    spec = _finding_text(f.id, lang)
    t = make("  ")
    t.append(f"{str(f.severity).upper():7}", STYLE[f.severity])
    t.append(f" {f.id}", "bold")
    t.append(f"  {spec.title}")
    if f.detail:
        t.append(f": {f.detail}")
    loc = where(f)
    if loc:
        t.append(f"\n           at {loc}", "dim")
    if f.evidence.excerpt:
        t.append(f"\n           bytes: {f.evidence.excerpt}", "dim")
    if fix:
        t.append(f"\n           fix: {spec.fix} ({CATALOG[f.id].rfc})", "green")
    return t


def _endpoints(s: Session) -> str:
    if s.client is None and s.server is None:
        return ""
    return f"{s.client or '?'} → {s.server or '?'}"


def session_header(s: Session, make: Make = Text) -> Styled:
    t = make()
    t.append(f"Session {s.id}", "bold")
    for part in (_endpoints(s), s.origin, when(s.ts_start)):
        if part:
            t.append(f"  {part}")
    if s.duration:
        t.append(f"  {s.duration:.3f}s")
    return t


def _caps(s: Session) -> str:
    out = []
    for key, params in s.capabilities.items():
        out.append(f"{key}({' '.join(params)})" if key == "AUTH" and params
                   else f"{key}={params[0]}" if len(params) == 1 else key)
    return " ".join(out)


#: characters of a greeting or reply line shown in the one-line summaries
CLIP = 100


def clip(text: str, limit: int = CLIP) -> str:
    """``text`` whole when it fits, else cut with an ellipsis that says it was cut."""
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _auth_lines(a: AuthExchange, reveal: bool, make: Make) -> list[Styled]:
    head = make(f"  AUTH {a.mechanism}")
    if a.user:
        head.append(f"  user {a.user!r}")
    style = "green" if a.outcome == "success" else "red" if a.outcome == "failure" else "yellow"
    head.append(f"  → {a.reply_code or '?'} {a.outcome}", style)
    head.append("  (TLS)" if a.encrypted else "  (TLS unknown)" if a.encrypted is None
                else "  (no TLS)", "dim")
    lines = [head]
    for step in a.steps:
        arrow = "S ←" if step.direction.value == "S" else "C →"
        wire = step.wire if isinstance(step.wire, str) else step.wire.show(reveal)
        lines.append(make(f"      {arrow} {wire[:60]:<30}  ", "dim")
                     + make(step.describe(reveal)))
    return lines


def _tx_line(t: Transaction, make: Make) -> Styled:
    rcpts = ", ".join(r.address + ("" if r.accepted or r.reply_code is None
                                   else f" ({r.reply_code})") for r in t.recipients[:4])
    if len(t.recipients) > 4:
        rcpts += f" +{len(t.recipients) - 4}"
    sender = f"<{t.mail_from}>" if t.mail_from is not None else "(no MAIL FROM)"
    line = make(f"  mail {t.index}: {sender}")
    if t.mail_reply_code is not None and t.mail_reply_code >= 400:
        # the refusal of MAIL FROM itself (553 bad sender, 530 auth required...): the
        # last reply of the transaction may be a later RCPT's 503
        text = t.mail_reply_text.splitlines()[0] if t.mail_reply_text else ""
        line.append(f" (MAIL FROM refused: {t.mail_reply_code} {clip(text)})".replace(" )", ")"),
                    "red")
    line.append(f" → {rcpts or '(no recipients)'}")
    m = t.message
    if m is not None and m.end == "skipped":
        line.append(f"  {m.method} (content not logged)")
    elif m is not None:
        size = m.info.size if m.info else m.wire_size
        line.append(f"  {m.method} {size} octets")
        if m.info and m.info.subject is not None:
            line.append(f"  subject {m.info.subject!r}")
        if m.info and m.info.attachments:
            names = ", ".join(a.filename or a.content_type for a in m.info.attachments[:3])
            line.append(f"  attachments: {names}")
        if not m.complete and m.end != "skipped":
            line.append(f"  [{m.end or 'incomplete'}]", "red")
    line.append(f"  → {t.last_reply or 'no reply'}", "dim")
    return line


def print_session(console: Console, s: Session, reveal: bool, lang: str = "en") -> None:
    make = _maker(console)
    lines: list[Styled] = []  # one render per session: rich costs per call
    lines.append(session_header(s, make))
    if s.partial:
        facts = ["partial session from a summary log"]
    elif s.greeting_code is not None:
        first = clip(s.greeting_text.splitlines()[0]) if s.greeting_text else ""
        facts = [f"greeting {s.greeting_code} {first}".rstrip()]
    else:
        facts = ["no greeting seen"]
    if s.helo_verb or s.helo:
        facts.append(" ".join(p for p in (s.helo_verb, s.helo) if p))
    facts.append("TLS" if s.tls else "TLS unknown" if s.tls is None else "no TLS")
    lines.append(make("  " + " · ".join(facts)))
    if s.capabilities:
        lines.append(make(f"  capabilities: {_caps(s)}", "dim"))
    for a in s.auth:
        for line in _auth_lines(a, reveal, make):
            lines.append(line)
    for t in s.transactions:
        lines.append(_tx_line(t, make))
    for f in s.findings:
        lines.append(finding_text(f, False, make, lang))
    if s.undetermined:
        lines.append(make(f"  {len(s.undetermined)} byte-level checks not determinable: "
                           f"{s.origin} does not record exact line endings "
                           f"({', '.join(s.undetermined)})", "dim"))
    lines.append(make())
    say(console, make("\n").join(lines))


def print_summary(console: Console, totals: Totals, problems: list[str],
                  lang: str = "en") -> None:
    t = Text("Summary: ", "bold")
    t.append(f"{totals.sessions} session(s), {totals.auth} AUTH exchange(s) "
             f"({totals.auth_ok} ok, {totals.auth_failed} failed), {totals.messages} message(s)")
    counts = ", ".join(f"{totals.findings.get(str(sev), 0)} {sev}"
                       for sev in (Severity.ERROR, Severity.WARNING, Severity.INFO))
    t.append(f"; findings: {counts}")
    say(console, t)
    if totals.by_id:
        say(console, Text("\nWhat the findings mean:", "bold"))
        when, fix = ("when", "fix: ") if lang == "en" else _labels(lang)
        for fid in sorted(totals.by_id, key=lambda i: (-CATALOG[i].severity, i)):
            text = _finding_text(fid, lang)
            say(console, Text.assemble(("  " + fid, "bold"), f" ×{totals.by_id[fid]}: ",
                                        text.description))
            say(console, Text(f"      {when}: {text.when}", "dim"))
            say(console, Text(f"      {fix} {text.fix} ({text.rfc})", "green"))
    if problems:  # each was printed to stderr when it happened
        say(console, Text(f"{len(problems)} input problem(s), listed on stderr", "red"))


def _labels(lang: str) -> tuple[str, str]:
    from smtplens.explain import ui

    return ui("when", lang), ui("fix", lang) + ":"


def _finding_text(finding_id: str, lang: str) -> Any:
    """The finding's texts in ``lang`` (English straight from the catalog)."""
    if lang == "en":
        return CATALOG[finding_id]
    from smtplens.explain import lookup

    return lookup(finding_id, lang)[0]


def _meaning(code: int | None, enhanced: str | None, lang: str | None) -> str:
    """`` · title`` of a reply code (and its enhanced code) in ``lang``, or ""."""
    if lang is None or code is None:
        return ""
    from smtplens.explain import one_line  # the texts load on first use

    titles = [t for t in (one_line(code, lang), one_line(enhanced, lang) if enhanced
                          else "") if t]
    return f"  · {'; '.join(titles)}" if titles else ""


def _exchange_line(e: Exchange, reveal: bool, make: Make,
                   meanings: str | None = None) -> list[Styled]:
    out = []
    stamp = clock(e.ts)
    line = make(f"{stamp:>12} C → ", "blue")
    line.append(wire_text(e.shown(reveal)))  # escaped as the finding excerpts are
    if e.step is not None:
        line.append(f"   ⟶ {e.meaning(reveal)}", "magenta")
    if e.pipelined:
        line.append("  (pipelined)", "dim")
    out.append(line)
    if e.reply_code is not None or e.reply_text:
        rstamp = clock(e.reply_ts)
        for i, text in enumerate(e.reply_text.split("\n")):
            sep = "-" if i < e.reply_text.count("\n") else " "
            r = make(f"{rstamp if i == 0 else '':>12} S ← ", "green")
            r.append(f"{e.reply_code}{sep}{wire_text(text)}")
            if i == 0 and e.reply_note:
                r.append(f"   ⟶ {e.reply_note}", "magenta")
            if i == 0 and e.latency is not None:
                r.append(f"  (+{e.latency * 1000:.1f} ms)", "dim")
            if i == 0 and meanings is not None:
                r.append(_meaning(e.reply_code, e.enhanced, meanings), "cyan")
            out.append(r)
    elif e.verb != "QUIT":
        out.append(make(f"{'':>12} S ← (no reply)", "dim"))
    return out


def print_conversation(console: Console, s: Session, reveal: bool,
                       meanings: str | None = None, lang: str = "en") -> None:
    """The annotated conversation: arrows, decoded AUTH, findings where they happen;
    with ``meanings`` (a language), each reply code's one-line meaning
    (:func:`smtplens.explain.one_line`)."""
    make = _maker(console)
    lines: list[Styled] = []  # one render per session: rich costs per call
    lines.append(session_header(s, make))
    if s.greeting_code is not None:
        greeting = s.greeting_text.split("\n")
        for i, line in enumerate(greeting):  # RFC 5321 §4.2.1: "220-" until the last line
            sep = "-" if i < len(greeting) - 1 else " "
            lines.append(make(f"{'':>12} S ← {s.greeting_code}{sep}{wire_text(line)}",
                              "green"))
    placed = sorted((f for f in s.findings if f.evidence.offset is not None
                     and f.evidence.direction is not None
                     and f.evidence.direction.value == "C"),
                    key=lambda f: f.evidence.offset or 0)
    rest = [f for f in s.findings if f not in placed]
    by_end = {t.message.end_item: t for t in s.transactions
              if t.message is not None and t.message.end_item is not None}
    for e in s.exchanges:
        tx = by_end.get(e.item)
        if tx is not None:
            lines.append(make(f"{'':>12} C ⇢ ", "blue") + _tx_line(tx, make)[2:])
        while placed and (placed[0].evidence.offset or 0) < e.offset:
            lines.append(finding_text(placed.pop(0), True, make, lang))
        for out in _exchange_line(e, reveal, make, meanings):
            lines.append(out)
    for f in placed + rest:
        lines.append(finding_text(f, True, make, lang))
    if s.encrypted_bytes:
        lines.append(make(f"{'':>12} ⋯ {s.encrypted_bytes} octets inside TLS", "dim"))
    lines.append(make())
    say(console, make("\n").join(lines))
