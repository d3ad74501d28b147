"""``smtplens explain``: the catalog of code and finding texts (en, vi), its formats and
the command."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from smtplens import explain
from smtplens.cli import app
from smtplens.explain import UnknownCode, compare, lookup, missing_texts, one_line
from smtplens.explain.render import render
from smtplens.findings.catalog import CATALOG
from tests.chromium import find_chromium, load_page
from tests.helpers import ROOT

runner = CliRunner()

#: RFC 5321 §4.2.2 and §4.2.3, RFC 4954 §6 (and 432/454/534/538 of §4-§6), RFC 7504
RFC_REPLIES = ("211", "214", "220", "221", "250", "251", "252", "354", "421", "450", "451",
               "452", "455", "500", "501", "502", "503", "504", "550", "551", "552", "553",
               "554", "555", "334", "235", "432", "454", "530", "534", "535", "538", "521",
               "556")
GMAIL = ("535-5.7.8 Username and Password not accepted. For more information, go to\n"
         "535 5.7.8  https://support.google.com/mail/?p=BadCredentials "
         "d9443c01a7336-2a0b1c2d3e4sm123456pfb.31 - gsmtp")
MICROSOFT = ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled "
             "for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. "
             "[AM0PR10CA0001.EURPRD10.PROD.OUTLOOK.COM 2024-01-01T00:00:00.000Z 08DC0A1B2C3D4E5F]")
HOSTILE = "550 5.7.1 <script>alert(1)</script>\x1b[2J \u202egnp.exe\u202c \"quoted\" & 'x'"

VI_HEADINGS = ("Mô tả", "Khi bạn thấy mã này", "Cách khắc phục", "Sự khác biệt chính",
               "Khi nào dùng cái nào")


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["explain", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def heading(entry: explain.Entry, lang: str) -> str:
    return explain.ui("title_reply", lang, code=entry.code, title=entry.title)


def ordered(text: str, *parts: str) -> bool:
    """``parts`` occur in ``text`` in this order."""
    at = 0
    for part in parts:
        found = text.find(part, at)
        if found < 0:
            return False
        at = found + len(part)
    return True


# ----------------------------------------------------------------- the data, complete

def test_every_text_exists_in_both_languages() -> None:
    missing = missing_texts()
    assert missing == [], f"{len(missing)} texts missing: {missing[:40]}"


def test_data_ships_with_the_package() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "explain/data/*/*.toml" in data["tool"]["setuptools"]["package-data"]["smtplens"]
    for lang in explain.LANGS:
        for name in ("replies", "compare", "ui", "enhanced", "hints"):
            assert (Path(explain.__file__).parent / "data" / lang / f"{name}.toml").is_file()
    assert (Path(explain.__file__).parent / "data" / "vi" / "findings.toml").is_file()


@pytest.mark.parametrize("lang", explain.LANGS)
def test_every_catalog_finding_is_explained(lang: str) -> None:
    for finding_id, spec in CATALOG.items():
        [entry] = lookup(finding_id, lang)
        assert entry.kind == "finding" and entry.code == finding_id
        assert entry.title and entry.description and entry.when and entry.fix
        assert entry.rfc == spec.rfc  # the rule is the catalog's, in every language
        if lang == "en":
            assert (entry.title, entry.fix) == (spec.title, spec.fix)
        else:  # translated, not the English fallback
            assert (entry.title, entry.description) != (spec.title, spec.description), \
                finding_id


def test_no_translation_of_a_finding_the_catalog_does_not_have() -> None:
    assert set(explain.listed("findings", "vi")) <= set(CATALOG)


@pytest.mark.parametrize("lang", explain.LANGS)
def test_every_rfc_reply_code_is_listed(lang: str) -> None:
    listed = set(explain.listed("replies", lang))
    assert not set(RFC_REPLIES) - listed
    for code in RFC_REPLIES:
        [entry] = lookup(code, lang)
        assert entry.kind == "reply" and entry.title and entry.description
        assert entry.when and entry.fix and entry.rfc.startswith("RFC")
        assert one_line(code, lang) == entry.title
        assert one_line(int(code), lang) == entry.title


def test_the_languages_list_the_same_keys() -> None:
    for part in ("replies", "classes", "categories", "enhanced_classes", "subjects",
                 "details", "compare", "ui"):
        assert set(explain.listed(part, "en")) == set(explain.listed(part, "vi")), part
    assert explain.listed("hints", "en") == explain.listed("hints", "vi")


def test_hints_have_patterns_that_compile_and_codes() -> None:
    hints = explain.listed("hints", "en")
    assert hints and len(hints) == len(set(hints))
    for hint in explain.hint_specs():
        assert hint.codes, hint.id
        assert re.compile(hint.pattern)


def test_what_is_the_same_in_every_language_is_the_same() -> None:
    # the data's contract: rules and what picks a hint are not translated
    for part in ("replies", "details"):
        for key in explain.listed(part, "en"):
            assert explain._field("en", part, key, "rfc") == \
                explain._field("vi", part, key, "rfc"), (part, key)
    en = {h["id"]: h for h in explain._data("en").hints}
    for hint in explain._data("vi").hints:
        assert {k: hint.get(k) for k in ("provider", "codes", "pattern")} == \
            {k: en[hint["id"]].get(k) for k in ("provider", "codes", "pattern")}, hint["id"]


def test_no_hint_matches_any_reply() -> None:
    for hint in explain.hint_specs():
        assert hint.compiled is not None
        assert not hint.compiled.search(""), hint.id
        assert not hint.compiled.search("250 2.0.0 Ok: queued as 4BXkLm0ZzHz9vQ"), hint.id
    assert [e.kind for e in lookup("250 2.0.0 Ok: queued as 4BXkLm0ZzHz9vQ", "en")] == \
        ["reply", "enhanced"]


def test_the_catalog_is_read_on_first_use_and_needs_no_cli() -> None:
    code = ("import sys; import smtplens.explain as x, smtplens.explain.render; "
            "print(x._data.cache_info().currsize, sorted({m.split('.')[0] for m in "
            "sys.modules} & {'typer', 'rich', 'pandas', 'scapy'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.strip()
    assert out == "0 []"


# ---------------------------------------------------------------------------- lookups

def test_enhanced_codes_with_and_without_class() -> None:
    [entry] = lookup("5.7.8", "en")
    assert entry.kind == "enhanced" and entry.title and entry.rfc
    [wild] = lookup("X.7.8", "en")
    assert (wild.code, wild.title) == ("X.7.8", entry.title)
    assert lookup("x.7.8", "en")[0].code == "X.7.8"
    assert one_line("5.7.8", "vi") == lookup("5.7.8", "vi")[0].title != entry.title
    assert lookup("5.07.008", "en")[0].code == "5.7.8"
    [microsoft] = lookup("X.7.139", "en")  # a subject without a class still says something
    assert microsoft.kind == "enhanced" and microsoft.title
    with pytest.raises(UnknownCode):
        lookup("X.9.9", "en")


def test_a_gmail_reply_line_gives_both_codes_and_the_hint() -> None:
    for text in (GMAIL, GMAIL.replace("\n", " "),
                 "host smtp.gmail.com[142.250.1.1] said: " + GMAIL.replace("\n", " ")):
        entries = lookup(text, "en")
        assert [e.kind for e in entries[:2]] == ["reply", "enhanced"], text
        assert [e.code for e in entries[:2]] == ["535", "5.7.8"]
        hints = [e for e in entries if e.kind == "hint"]
        assert hints and any("gmail" in (h.provider + h.code).lower() for h in hints), hints
        assert entries[0].line  # the line as given, shown with the codes
    vi = lookup(GMAIL, "vi")
    assert [e.kind for e in vi][:2] == ["reply", "enhanced"]
    assert [e.code for e in vi if e.kind == "hint"] == \
           [e.code for e in lookup(GMAIL, "en") if e.kind == "hint"]


def test_a_microsoft_reply_line_gives_its_hint() -> None:
    entries = lookup(MICROSOFT, "en")
    assert [e.code for e in entries[:2]] == ["535", "5.7.139"]
    # 5.7.139 is Microsoft's own: explained by its class and subject
    assert entries[1].kind == "enhanced" and "7.139" in entries[1].description
    hints = [e for e in entries if e.kind == "hint"]
    assert any("microsoft" in (h.provider + h.code).lower() for h in hints), hints
    assert not any("gmail" in (h.provider + h.code).lower() for h in hints)


def test_a_hint_needs_its_text_and_its_codes() -> None:
    assert not [e for e in lookup("535 5.7.8 Authentication failed", "en") if e.kind == "hint"
                and "gmail" in (e.provider + e.code).lower()]
    # the Gmail words on a reply code the hint is not about
    text = GMAIL.replace("535", "250").replace("5.7.8", "2.0.0")
    assert not [e for e in lookup(text, "en") if e.kind == "hint"
                and "gmail" in (e.provider + e.code).lower()]


@pytest.mark.parametrize("query", ["999", "6.1.1", "data.nope", "hello", "12", "5355", "",
                                   "999 hello there"])
def test_not_a_code_raises_with_the_nearest(query: str) -> None:
    with pytest.raises(UnknownCode) as e:
        lookup(query, "en")
    assert isinstance(e.value, LookupError)
    if query in ("999", "6.1.1", "data.nope"):
        assert e.value.nearest
    if query == "6.1.1":
        assert e.value.nearest[0] in ("2.1.1", "4.1.1", "5.1.1")
    if query == "data.nope":
        assert all(n.startswith("data.") for n in e.value.nearest)


def test_nearest_reply_codes_share_the_first_digits() -> None:
    assert all(c.startswith("55") for c in explain.nearest_replies("559", 3))


@pytest.mark.parametrize("lang", explain.LANGS)
def test_codes_of_a_known_class_are_explained_by_their_digits(lang: str) -> None:
    [entry] = lookup("288", lang)
    assert entry.kind == "class" and entry.code == "288"
    two = explain.class_of(entry, lang)
    assert two is not None and two[1] in entry.description
    [entry] = lookup("599", lang)
    assert entry.kind == "class" and explain.class_of(entry, lang) is not None
    assert "599" in entry.description  # the unknown_class message names it
    [entry] = lookup("5.9.9", lang)  # no subject 9 in RFC 3463: the class is all there is
    assert entry.kind == "class" and "5.9.9" in entry.description
    [entry] = lookup("5.7.999", lang)  # subject 7 known, detail 7.999 not registered
    assert entry.kind == "enhanced" and "7.999" in entry.description
    assert one_line("599", lang) == "" and one_line("5.7.999", lang) == ""
    assert one_line("hello", lang) == ""


def test_default_lang_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for value, lang in (("vi", "vi"), ("vi_VN.UTF-8", "vi"), ("EN", "en"), ("fr", "en"),
                        ("", "en")):
        monkeypatch.setenv("SMTPLENS_LANG", value)
        assert explain.default_lang() == lang
    monkeypatch.delenv("SMTPLENS_LANG")
    assert explain.default_lang() == "en"
    with pytest.raises(ValueError):
        lookup("334", "fr")


# ------------------------------------------------------------------------ comparisons

@pytest.mark.parametrize("lang", explain.LANGS)
def test_334_vs_354_has_the_shape_of_the_seed_page(lang: str) -> None:
    a, b = lookup("334", lang)[0], lookup("354", lang)[0]
    pair = compare(a, b, lang)
    assert pair.differences and pair.when and pair.curated
    assert compare(b, a, lang).differences == pair.differences  # the key is sorted
    text = render([a, b, pair], "text", lang)
    heads = [explain.ui(k, lang) for k in ("description", "when", "fix")]
    title = explain.ui("title_compare", lang, a="334", b="354")
    assert title == ("334 vs 354" if lang == "en" else "334 so với 354")
    assert text.startswith(title + "\n")
    # the opening names both, with the class they share
    assert ordered(text, title, "334", "354", "3xx", heading(a, lang), *heads,
                   heading(b, lang), *heads, explain.ui("differences", lang), "1. ", "2. ",
                   explain.ui("when_each", lang))
    if lang == "vi":
        assert ordered(text, *VI_HEADINGS)
    else:
        assert ordered(text, "Description", "When you see it", "How to fix or respond")
    assert "Base64" in text and "<CRLF>.<CRLF>" in text


def test_a_generated_comparison_stays_in_its_language() -> None:
    en = [lookup(c, "en")[0] for c in ("250", "550")]
    vi = [lookup(c, "vi")[0] for c in ("250", "550")]
    pair = compare(vi[0], vi[1], "vi")
    if not pair.curated:
        text = "\n".join(pair.differences + pair.when)
        for entry in en:
            assert entry.description.split("\n")[0] not in text
            assert entry.fix not in text
        assert all(e.fix in text for e in vi)
    page = render([*vi, pair], "text", "vi")
    assert ordered(page, *VI_HEADINGS)
    for word in ("Description", "When you see it", "How to fix", "Key differences"):
        assert word not in page


def test_three_codes_compare_each_with_the_next() -> None:
    code, out, _ = run("334", "354", "250")
    assert code == 0
    assert out.startswith("334 vs 354 vs 250")
    assert ordered(out, "334 vs 354\n===", "354 vs 250\n===")
    doc = json.loads(run("334", "354", "250", "-f", "json")[1])
    assert doc["comparison"]["codes"] == ["334", "354", "250"]
    assert [(p["a"], p["b"]) for p in doc["comparison"]["pairs"]] == [("334", "354"),
                                                                       ("354", "250")]


# ---------------------------------------------------------------------------- formats

def test_json_has_every_field() -> None:
    code, out, _ = run("334", "354", "--format", "json", "--lang", "vi")
    assert code == 0
    doc = json.loads(out)
    assert doc["lang"] == "vi"
    assert doc["title"] == explain.ui("title_compare", "vi", a="334", b="354")
    assert [e["code"] for e in doc["entries"]] == ["334", "354"]
    for entry in doc["entries"]:
        assert set(entry) >= {"kind", "code", "title", "class", "description", "when", "fix",
                              "rfc"}
        assert entry["kind"] == "reply" and entry["class"].startswith("3xx")
    comparison = doc["comparison"]
    assert comparison["differences"] and comparison["when"]
    assert comparison["pairs"][0]["differences"] == comparison["differences"]
    single = json.loads(run("535 5.7.8 x", "-f", "json")[1])
    assert single["comparison"] is None
    assert [e["kind"] for e in single["entries"]] == ["reply", "enhanced"]


def test_json_keeps_the_wire_text_and_escapes_what_terminals_act_on() -> None:
    out = run(HOSTILE, "-f", "json")[1]
    assert "\x1b" not in out and "\u202e" not in out
    doc = json.loads(out)
    assert doc["entries"][0]["line"] == HOSTILE


@pytest.mark.parametrize("lang", explain.LANGS)
def test_markdown_headings(lang: str) -> None:
    code, out, _ = run("334", "354", "-f", "markdown", "--lang", lang)
    assert code == 0
    title = explain.ui("title_compare", lang, a="334", b="354")
    assert out.startswith(f"# {title}\n")
    desc, diff, each = (explain.ui(k, lang) for k in ("description", "differences",
                                                        "when_each"))
    smtp = explain.ui("title_reply", lang, code="", title="").split("{")[0].strip(": ")
    assert ordered(out, f"\n## {smtp} 334", f"\n### {desc}\n", f"\n## {smtp} 354",
                   f"\n### {desc}\n", f"\n## {diff}\n", "\n1. ", f"\n## {each}\n", "\n- ")
    assert "\\<CRLF\\>.\\<CRLF\\>" in out  # shown, not taken for a tag
    one = run("334", "-f", "markdown", "--lang", lang)[1]
    assert one.startswith(f"# {smtp} 334") and f"\n## {desc}\n" in one


def test_markdown_fences_the_wire_line() -> None:
    out = run("550 5.7.1 ```\n# not a heading <b>x</b>\x1b[2J", "-f", "markdown")[1]
    assert "\x1b" not in out and "\\x1b[2J" in out
    assert "````text\n550 5.7.1 ```\n# not a heading <b>x</b>" in out


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in ("meta", "br"):
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (tag, self.stack)
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    parser.close()
    assert parser.stack == []  # every element closed, in order
    return parser


@pytest.mark.parametrize("lang", explain.LANGS)
def test_html_is_a_page_without_script(lang: str) -> None:
    code, page, _ = run("334", "354", "-f", "html", "--lang", lang)
    assert code == 0
    parsed = _parse(page)
    assert "script" not in parsed.tags and "<script" not in page.lower()
    assert parsed.tags.count("h1") == 1 and "ol" in parsed.tags
    assert "Content-Security-Policy" in page and "http://" not in page
    text = "".join(parsed.text)
    assert "<CRLF>.<CRLF>" in text and "&lt;CRLF&gt;.&lt;CRLF&gt;" in page
    assert f'lang="{lang}"' in page
    if lang == "vi":
        assert ordered(text, *VI_HEADINGS)


def test_html_escapes_a_hostile_reply_line() -> None:
    page = render(lookup(HOSTILE, "en"), "html", "en")
    parsed = _parse(page)
    assert "script" not in parsed.tags and "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\x1b" not in page and "\\x1b[2J" in page
    assert "\u202e" not in page and "\\u202e" in page
    assert "&quot;quoted&quot; &amp; &#x27;x&#x27;" in page


def test_text_makes_control_characters_visible() -> None:
    code, out, _ = run(HOSTILE)
    assert code == 0
    assert "\x1b" not in out and "\\x1b[2J" in out and "\u202e" not in out
    assert "<script>alert(1)</script>" in out  # plain text: shown as it is
    assert "\x1b" not in render(lookup(HOSTILE, "en"), "text", "en")


@pytest.mark.parametrize("lang", explain.LANGS)
def test_html_loads_in_chromium_without_console_errors(lang: str, tmp_path: Path) -> None:
    if find_chromium() is None:
        pytest.skip("no headless Chromium on PATH")
    items = [*lookup("334", lang), *lookup("354", lang)]
    items.append(compare(items[0], items[1], lang))
    for name, page in (("compare", render(items, "html", lang)),
                       ("hostile", render(lookup(HOSTILE, lang), "html", lang)),
                       ("gmail", render(lookup(GMAIL, lang), "html", lang))):
        path = tmp_path / f"{name}.html"
        path.write_text(page, encoding="utf-8")
        result = load_page(path)
        assert result.console_errors == [], name
        assert result.offline, name
        assert "<script" not in result.dom.lower()


# ---------------------------------------------------------------------------- the command

def test_vi_by_option_and_by_environment() -> None:
    by_option = run("334", "354", "--lang", "vi")[1]
    by_env = run("334", "354", env={"SMTPLENS_LANG": "vi"})[1]
    assert by_option == by_env and ordered(by_env, *VI_HEADINGS)
    assert "Description" in run("334", env={"SMTPLENS_LANG": "en"})[1]
    assert "Description" in run("334", "--lang", "en", env={"SMTPLENS_LANG": "vi"})[1]


def test_unknown_code_exits_2_and_names_the_nearest() -> None:
    code, out, err = run("999")
    assert code == 2 and out == ""
    assert "999" in err and "Traceback" not in err
    nearest = lookup_nearest("999")
    assert nearest and all(n in err for n in nearest)
    code, out, err = run("334", "999", "354")  # the others are still explained
    assert code == 2 and "999" in err
    assert out.startswith("334 vs 354")
    code, _, err = run("999", "--lang", "vi")
    assert code == 2 and "999" in err


def lookup_nearest(query: str) -> list[str]:
    with pytest.raises(UnknownCode) as e:
        lookup(query, "en")
    return e.value.nearest


def test_a_code_given_twice_is_explained_once() -> None:
    assert run("334", "334")[1] == run("334")[1]
    out = run("535", MICROSOFT, "-f", "json")[1]
    doc = json.loads(out)
    assert [e["code"] for e in doc["entries"] if e["kind"] != "hint"] == ["535", "5.7.139"]
    assert doc["entries"][0]["line"] == MICROSOFT and doc["comparison"] is None


def test_no_code_is_a_usage_error() -> None:
    code, _, err = run()
    assert code == 2 and "Missing argument" in err


def test_a_finding_id_on_the_command_line() -> None:
    code, out, _ = run("data.unstuffed-dot", "--lang", "vi")
    assert code == 0 and "RFC 5321 §4.5.2" in out
    assert CATALOG["data.unstuffed-dot"].title not in out


def test_the_command_in_a_subprocess() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SMTPLENS_LANG"}
    proc = subprocess.run([sys.executable, "-m", "smtplens", "explain", "334", "354"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("334 vs 354\n")
    assert ordered(proc.stdout, "Description", "Key differences", "When each applies") or \
        ordered(proc.stdout, explain.ui("description", "en"), explain.ui("differences", "en"))
    proc = subprocess.run([sys.executable, "-m", "smtplens", "explain", "999"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("smtplens: ")
