"""The explanations where the tool shows codes and findings: analyze's "what the
findings mean" and show's reply meanings, in the chosen language."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from smtplens.explain import lookup, one_line
from smtplens.findings.catalog import CATALOG

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def _run(*args: str, lang: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "SMTPLENS_LANG"}
    if lang is not None:
        env["SMTPLENS_LANG"] = lang
    return subprocess.run([sys.executable, "-m", "smtplens", *args], capture_output=True,
                          text=True, env=env, check=False).stdout


def test_analyze_explains_findings_in_vietnamese() -> None:
    sample = str(SAMPLES / "unstuffed-dot.txt")
    vi = lookup("data.unstuffed-dot", "vi")[0]
    english = _run("analyze", "--fail-on", "never", sample)
    assert CATALOG["data.unstuffed-dot"].description in english
    for out in (_run("analyze", "--fail-on", "never", "--lang", "vi", sample),
                _run("analyze", "--fail-on", "never", sample, lang="vi")):
        assert vi.description in out and vi.fix in out
        assert "Cách khắc phục" in out
        assert CATALOG["data.unstuffed-dot"].description not in out


def test_show_gives_each_reply_its_meaning_when_asked() -> None:
    sample = str(SAMPLES / "auth-login.pcap")
    plain = _run("show", sample)
    assert one_line(334, "en") not in plain
    en = _run("show", "--meanings", sample)
    vi = _run("show", "--meanings", "--lang", "vi", sample)
    for code in (250, 334, 235, 354, 221):  # the greeting has no exchange to annotate
        assert one_line(code, "en") in en, code
        assert one_line(code, "vi") in vi, code
    # the enhanced code of "235 2.7.0" is explained too
    assert one_line("2.7.0", "en") in en


def test_the_readme_lists_every_code_with_both_languages() -> None:
    from smtplens.explain import codes_markdown

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    table = codes_markdown()
    assert table in readme
    assert "| `334` |" in table and "| `X.7.8` |" in table


def test_audit_report_titles_and_fixes_in_the_chosen_language(tmp_path: Path) -> None:
    import json

    out = tmp_path / "r.json"
    subprocess.run([sys.executable, "-m", "smtplens", "audit", "--quiet", "--fail-on",
                    "never", "--lang", "vi", "--json", str(out),
                    str(SAMPLES / "audit-guessing.pcap")], check=True)
    report = json.loads(out.read_text())
    assert report["lang"] == "vi"
    guessing = next(r for r in report["findings"] if r["id"] == "audit.password-guessing")
    vi = lookup("audit.password-guessing", "vi")[0]
    assert (guessing["title"], guessing["fix"]) == (vi.title, vi.fix)
    assert guessing["rfc"] == CATALOG["audit.password-guessing"].rfc
    assert all(c["title"] == lookup(c["id"], "vi")[0].title
               for c in report["cross_findings"])


def test_a_notebook_ladder_explains_in_smtplens_lang(monkeypatch: pytest.MonkeyPatch) -> None:
    import html

    import smtplens

    monkeypatch.setenv("SMTPLENS_LANG", "vi")
    frames = smtplens.load(str(SAMPLES / "unstuffed-dot.txt"), jobs=1, progress=False)
    page = frames.session(frames.sessions.iloc[0]["session"])._repr_html_()
    vi = lookup("data.unstuffed-dot", "vi")[0]
    assert html.escape(vi.fix, quote=True) in page


def test_each_finding_of_a_session_in_the_chosen_language() -> None:
    sample = str(SAMPLES / "unstuffed-dot.txt")
    vi = lookup("data.unstuffed-dot", "vi")[0]
    en = CATALOG["data.unstuffed-dot"]
    text = _run("analyze", "--fail-on", "never", "--lang", "vi", sample)
    conversation = _run("show", "--lang", "vi", sample)
    assert f"data.unstuffed-dot  {vi.title}" in text
    assert f"data.unstuffed-dot  {vi.title}" in conversation and vi.fix in conversation
    assert f"data.unstuffed-dot  {en.title}" in _run("analyze", "--fail-on", "never", sample)
