"""Explanations as terminal text, JSON, Markdown or a printable HTML page.

One code: its heading (code and title), the sections (description, when you see it,
how to fix, the rule), then the hints a reply line matched. Two or more codes: the
shape of a comparison page (``334 vs 354``): the title, a line naming each code with
its class, each code's sections, then the key differences (numbered) and when each
applies. More than two codes are compared pair by pair, each with the next one
(``a vs b``, ``b vs c``), each pair under its own ``a vs b`` heading.

Every heading comes from ``ui.toml`` in the page's language. The reply line a user
pasted is wire text: it is escaped for each medium here (terminal control characters
made visible, Markdown in a fenced block, HTML through :func:`smtplens.views.html.esc`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from smtplens.explain import Comparison, Entry, category_of, class_of, class_sentence, ui
from smtplens.textutil import visible
from smtplens.views.html import BASE_CSS, Safe, el, join, page

FORMATS = ("text", "json", "markdown", "html")

Subject = Entry | Comparison | Sequence[Entry | Comparison]


@dataclass(frozen=True, slots=True)
class _View:
    """What every format shows, in order."""

    title: str
    intro: list[str]  #: one line per compared code (empty for one code)
    entries: list[Entry]
    pairs: list[Comparison]


def render(subject: Subject, fmt: str, lang: str) -> str:
    """``subject`` (entries, a comparison, or entries followed by the comparisons of
    consecutive codes) in ``fmt`` (text, json, markdown, html) and ``lang``."""
    view = _view(subject, lang)
    if fmt == "text":
        return _text(view, lang)
    if fmt == "json":
        return _json(view, lang)
    if fmt == "markdown":
        return _markdown(view, lang)
    if fmt == "html":
        return _html(view, lang)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def _view(subject: Subject, lang: str) -> _View:
    items: list[Entry | Comparison] = (
        [subject] if isinstance(subject, Entry | Comparison) else list(subject))
    entries = [x for x in items if isinstance(x, Entry)]
    pairs = [x for x in items if isinstance(x, Comparison)]
    compared: list[Entry] = []
    for pair in pairs:
        for entry in (pair.a, pair.b):
            if entry is not None and all(entry.code != c.code for c in compared):
                compared.append(entry)
    if not entries:
        entries = list(compared)
    if pairs and compared:
        title = compared[0].code
        for entry in compared[1:]:
            title = ui("title_compare", lang, a=title, b=entry.code)
        # the seed page's opening: the class each belongs to, pair by pair
        intro = []
        for pair in pairs:
            if pair.a is not None and pair.b is not None:
                intro.append(class_sentence(pair.a, pair.b, lang) or _intro(pair.a, pair.b,
                                                                            lang))
        return _View(title, intro, entries, pairs)
    main = [e for e in entries if e.kind != "hint"]
    if len(main) == 1:
        title = _heading(main[0], lang)
    elif main:  # a reply line: "SMTP 535 5.7.8: Authentication credentials invalid"
        title = ui("title_reply", lang, code=" ".join(dict.fromkeys(e.code for e in main)),
                   title=main[0].title)
    else:
        title = entries[0].title if entries else ""
    return _View(title, [], entries, [])


def _heading(entry: Entry, lang: str) -> str:
    if entry.kind == "hint":
        return f"{ui('hint', lang)}: {entry.title}"
    if entry.kind == "finding":
        return f"{entry.code}: {entry.title}"
    return ui("title_reply", lang, code=entry.code, title=entry.title)


def _intro(a: Entry, b: Entry, lang: str) -> str:
    return ui("title_compare", lang, a=_heading(a, lang), b=_heading(b, lang))


def _kind(entry: Entry, lang: str) -> str:
    if entry.kind == "class":
        return ui("reply_code" if re.fullmatch(r"\d{3}", entry.code) else "enhanced", lang)
    return ui({"reply": "reply_code"}.get(entry.kind, entry.kind), lang)


def _meta(entry: Entry, lang: str) -> str:
    """The line under a heading: what kind of code, its class, who words it so."""
    klass, category = class_of(entry, lang), category_of(entry, lang)
    parts = [_kind(entry, lang) if entry.kind != "hint" else "",  # the heading says hint
             f"{ui('class', lang)}: {klass.label}" if klass else "",
             f"{ui('category', lang)}: {category}" if category else "", entry.provider]
    return " \u00b7 ".join(p for p in parts if p)


def _sections(entry: Entry, lang: str) -> list[tuple[str, str]]:
    fields = (("description", entry.description), ("when", entry.when), ("fix", entry.fix),
              ("rfc", entry.rfc))
    return [(ui(key, lang), text) for key, text in fields if text]


def _pair_title(pair: Comparison, lang: str) -> str:
    a = pair.a.code if pair.a is not None else "?"
    b = pair.b.code if pair.b is not None else "?"
    return ui("title_compare", lang, a=a, b=b)


def _note(pair: Comparison, lang: str) -> str:
    """Said above a comparison made from the entries (none was written for the pair)."""
    if pair.curated or pair.a is None or pair.b is None:
        return ""
    return ui("no_compare", lang, a=pair.a.code, b=pair.b.code)


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


# ---------------------------------------------------------------------------- text

def _text(view: _View, lang: str) -> str:
    out: list[str] = []
    if view.pairs:
        out += [view.title, "=" * len(view.title), *view.intro, ""]
    for entry in view.entries:
        heading = _heading(entry, lang)
        out += [heading, "-" * len(heading), _meta(entry, lang)]
        if entry.line:
            out += ["", *(f"  > {ln}" for ln in entry.line.splitlines())]
        for name, text in _sections(entry, lang):
            out += ["", name, *_indented(text)]
        out.append("")
    for pair in view.pairs:
        if len(view.pairs) > 1:
            title = _pair_title(pair, lang)
            out += [title, "=" * len(title)]
        if _note(pair, lang):
            out += [_note(pair, lang), ""]
        if pair.differences:
            out.append(ui("differences", lang))
            for i, text in enumerate(pair.differences, 1):
                out += _indented(text, f"  {i}. ")
        if pair.when:
            out += ["", ui("when_each", lang)] if pair.differences else [ui("when_each", lang)]
            for text in pair.when:
                out += _indented(text, "  - ")
        out.append("")
    # nothing a terminal acts on, whoever prints this (the CLI's console escapes too)
    return visible("\n".join(out).rstrip("\n") + "\n")


def _indented(text: str, first: str = "  ") -> list[str]:
    pad = " " * len(first)
    lines: list[str] = []
    for i, para in enumerate(_paragraphs(text)):
        if i:
            lines.append("")
        for j, ln in enumerate(para.splitlines()):
            lines.append((first if i == 0 and j == 0 else pad) + ln.strip())
    return lines


# ---------------------------------------------------------------------------- json

def _entry_dict(entry: Entry, lang: str) -> dict[str, Any]:
    klass = class_of(entry, lang)
    return {"kind": entry.kind, "code": entry.code, "title": entry.title,
            "class": klass.label if klass else None,
            "category": category_of(entry, lang) or None, "description": entry.description,
            "when": entry.when, "fix": entry.fix, "rfc": entry.rfc,
            "line": entry.line or None, "provider": entry.provider or None}


#: characters JSON may carry raw that a terminal acts on or an editor hides: written as
#: \\u escapes (they only occur inside strings, so the document stays the same JSON)
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _json(view: _View, lang: str) -> str:
    comparison = None
    if view.pairs:
        pairs = [{"a": p.a.code if p.a else None, "b": p.b.code if p.b else None,
                  "title": _pair_title(p, lang), "curated": p.curated,
                  "note": _note(p, lang) or None,
                  "differences": p.differences, "when": p.when} for p in view.pairs]
        codes: list[str] = []
        for p in pairs:
            codes += [c for c in (p["a"], p["b"]) if isinstance(c, str) and c not in codes]
        comparison = {"title": view.title, "codes": codes,
                      "differences": [d for p in view.pairs for d in p.differences],
                      "when": [w for p in view.pairs for w in p.when], "pairs": pairs}
    doc = {"lang": lang, "title": view.title,
           "entries": [_entry_dict(e, lang) for e in view.entries], "comparison": comparison}
    text = json.dumps(doc, ensure_ascii=False, indent=2)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


# ------------------------------------------------------------------------ markdown

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#&])")


def _md(text: str) -> str:
    """Text as Markdown that shows as itself (``<CRLF>`` is not a tag)."""
    return _MD_SPECIAL.sub(r"\\\1", visible(text))


def _fenced(text: str) -> list[str]:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + "text", *visible(text).splitlines(), fence]


def _markdown(view: _View, lang: str) -> str:
    single = not view.pairs and len(view.entries) == 1
    out: list[str] = [f"# {_md(view.title)}", ""]
    if view.intro:
        out += [*(f"- {_md(line)}" for line in view.intro), ""]
    level = "#" if single else "##"
    for i, entry in enumerate(view.entries):
        if not single or i:
            out += [f"{level} {_md(_heading(entry, lang))}", ""]
        out += [f"*{_md(_meta(entry, lang))}*", ""]
        if entry.line:
            out += [*_fenced(entry.line), ""]
        for name, text in _sections(entry, lang):
            out += [f"{level}# {_md(name)}", "", *(_md(p) + "\n" for p in _paragraphs(text))]
    for pair in view.pairs:
        sub = "##"
        if len(view.pairs) > 1:
            out += [f"## {_md(_pair_title(pair, lang))}", ""]
            sub = "###"
        if _note(pair, lang):
            out += [f"*{_md(_note(pair, lang))}*", ""]
        if pair.differences:
            out += [f"{sub} {_md(ui('differences', lang))}", "",
                    *(f"{i}. {_md(_oneline(t))}" for i, t in enumerate(pair.differences, 1)),
                    ""]
        if pair.when:
            out += [f"{sub} {_md(ui('when_each', lang))}", "",
                    *(f"- {_md(_oneline(t))}" for t in pair.when), ""]
    out += ["---", "", f"*{_md(ui('rfc_note', lang))}*"]
    return "\n".join(out).rstrip("\n") + "\n"


def _oneline(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------------------- html

CSS = BASE_CSS + """
main.explain { max-width: 900px; }
.explain h1 { margin-bottom: .5rem; }
.explain .intro { list-style: none; padding: 0; margin: 0 0 1rem; color: var(--muted); }
.explain section.entry { border: 1px solid var(--line); border-left: .3rem solid var(--info);
  border-radius: .4rem; padding: .8rem 1rem; margin: 1.25rem 0; }
.explain section.entry.hint { border-left-color: var(--warning); }
.explain section.entry.finding { border-left-color: var(--error); }
.explain section.entry h2 { margin: 0 0 .2rem; border: 0; padding: 0; }
.explain .code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.explain .meta { color: var(--muted); margin: 0 0 .6rem; font-size: .9rem; }
.explain h3 { margin: .9rem 0 .3rem; }
.explain p { margin: 0 0 .5rem; }
.explain pre.reply { background: var(--panel); border: 1px solid var(--line);
  border-radius: .3rem; padding: .5rem .7rem; white-space: pre-wrap;
  overflow-wrap: anywhere; margin: .3rem 0 .6rem; }
.explain ol.differences li, .explain ul.when li { margin: 0 0 .5rem; }
@media print { .explain section.entry { break-inside: avoid; } }
"""


def _html(view: _View, lang: str) -> str:
    parts: list[object] = [el("h1", view.title)]
    if view.intro:
        parts.append(el("ul", [el("li", line) for line in view.intro], class_="intro"))
    for entry in view.entries:
        heading = (el("span", ui("hint", lang), ": ", entry.title) if entry.kind == "hint"
                   else [el("span", entry.code, class_="code"), " ", entry.title])
        body: list[object] = [el("h2", heading), el("p", _meta(entry, lang), class_="meta")]
        if entry.line:
            body.append(el("pre", entry.line, class_="reply"))
        for name, text in _sections(entry, lang):
            body += [el("h3", name), [el("p", p) for p in _paragraphs(text)]]
        parts.append(el("section", body, class_=f"entry {entry.kind}"))
    for pair in view.pairs:
        many = len(view.pairs) > 1
        block: list[object] = [el("h2", _pair_title(pair, lang))] if many else []
        head = "h3" if many else "h2"
        if _note(pair, lang):
            block.append(el("p", _note(pair, lang), class_="meta"))
        if pair.differences:
            block += [el(head, ui("differences", lang)),
                      el("ol", [el("li", t) for t in pair.differences], class_="differences")]
        if pair.when:
            block += [el(head, ui("when_each", lang)),
                      el("ul", [el("li", t) for t in pair.when], class_="when")]
        parts.append(el("section", block, class_="comparison"))
    parts.append(el("footer", ui("rfc_note", lang)))
    body_html = el("main", join(parts), class_="explain", lang=lang)
    return str(page(view.title, Safe(body_html), css=CSS))
