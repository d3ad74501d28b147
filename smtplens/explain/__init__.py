"""What a reply code, an enhanced status code, a reply line or a finding means (en, vi).

Every text is data: ``explain/data/<lang>/*.toml``, read on first use with
:mod:`importlib.resources` and :mod:`tomllib` and cached per language. The English
finding texts stay in :mod:`smtplens.findings.catalog` (the one place checks and
reports read them); only their translations live here.

- ``replies.toml``: ``[reply."334"]`` title, description, when, fix, rfc; ``[class."3"]``
  the first digit and ``[category."3"]`` the second (RFC 5321 §4.2.1).
- ``enhanced.toml``: ``[class."5"]``, ``[subject."7"]`` and ``[detail."7.8"]`` (keyed
  without the class digit, as the IANA registry is: RFC 3463, RFC 5248).
- ``hints.toml``: ``[[hint]]`` id, provider, codes, pattern (a regex on the reply text),
  title, description, fix; what one provider's wording of a reply means.
- ``compare.toml``: ``[compare."334+354"]`` differences, when: the two codes sorted.
- ``ui.toml``: headings and messages; ``findings.toml``: the finding translations.

A query that is not a code at all raises :class:`UnknownCode` with the nearest known
codes; a code of a known class that the data does not list is explained by what its
digits mean. Nothing here prints or imports the CLI.
"""

from __future__ import annotations

import difflib
import os
import re
import string
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any, NamedTuple

from smtplens.errors import SmtplensError
from smtplens.findings.catalog import CATALOG

LANGS = ("en", "vi")
KINDS = ("reply", "enhanced", "finding", "hint", "class")

#: the ui texts the code reads; each must exist in every language
UI_KEYS = ("description", "when", "fix", "rfc", "hint", "class", "category", "enhanced",
           "reply_code", "finding", "differences", "when_each", "title_reply",
           "title_compare", "compare_same_class", "compare_other_class", "no_compare",
           "success", "intermediate", "transient", "permanent", "rfc_note", "unknown",
           "unknown_class", "unknown_subject", "unknown_detail", "invalid_code")
#: the text fields each part of the data must fill in every language
_REPLY_FIELDS = ("title", "description", "when", "fix")
_DIGIT_FIELDS = ("title", "description")
_HINT_FIELDS = ("title", "description", "fix")

_REPLY = re.compile(r"\d{3}")
_VALID_REPLY = re.compile(r"[2-5][0-5]\d")
_ENHANCED = re.compile(r"([0-9xX])\.(\d{1,3})\.(\d{1,3})")
_FINDING = re.compile(r"[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)+")
#: RFC 5321 §4.2: Reply-code [("-" / SP) text]; RFC 3463 §2: an enhanced code opens the
#: text (class 2, 4 or 5 only: "550 6.1.1 ..." has no enhanced code)
_LINE = re.compile(r"(\d{3})(?:[ -]|$)[ \t]*(?:([245xX]\.\d{1,3}\.\d{1,3})(?!\S))?[ \t]*(.*)")
_ENHANCED_LINE = re.compile(r"([245xX]\.\d{1,3}\.\d{1,3})[ \t]+(\S.*)")
#: a reply quoted inside a log line ("... said: 535-5.7.8 Username and ...")
_EMBEDDED = re.compile(r"(?<![\d.])[2-5]\d\d[ -][245]\.\d{1,3}\.\d{1,3}(?!\S)")
#: what a hint pattern is tried on (reply lines are 512 octets: RFC 5321 §4.5.3.1.5)
_MATCH_LIMIT = 4096


class DataError(SmtplensError):
    """A data file of the catalog cannot be read (a packaging bug, not user input)."""


class UnknownCode(SmtplensError, LookupError):
    """``query`` is not a reply code, enhanced status code, reply line or finding id
    smtplens knows; ``nearest`` are the known ones closest to it."""

    def __init__(self, query: str, nearest: list[str], reason: str = "") -> None:
        self.query = query
        self.nearest = list(nearest)
        self.reason = reason  #: why it is not a code, in the language asked for
        super().__init__(f"unknown code {query}: nearest known: "
                         f"{', '.join(self.nearest) or '-'}")


@dataclass(frozen=True, slots=True)
class Entry:
    """One explained thing, with its texts in one language."""

    kind: str  #: one of :data:`KINDS`; "class": a code explained by its digits only
    code: str  #: ``334``, ``5.7.8``, ``X.7.8``, a finding id or a hint id
    title: str
    description: str = ""
    when: str = ""  #: when you see it: the usual causes
    fix: str = ""  #: how to fix or respond
    rfc: str = ""  #: the rule it rests on
    line: str = ""  #: the reply line(s) it was read from, as given (wire text)
    provider: str = ""  #: who words a reply this way (hints)


@dataclass(frozen=True, slots=True)
class Comparison:
    """What sets two explained codes apart, and when each applies."""

    differences: list[str]
    when: list[str]
    a: Entry | None = None
    b: Entry | None = None
    curated: bool = False  #: written for this pair (compare.toml), not generated


@dataclass(frozen=True, slots=True)
class _Data:
    replies: dict[str, dict[str, Any]]
    classes: dict[str, dict[str, Any]]
    categories: dict[str, dict[str, Any]]
    compare: dict[str, dict[str, Any]]
    ui: dict[str, str]
    enhanced_classes: dict[str, dict[str, Any]]
    subjects: dict[str, dict[str, Any]]
    details: dict[str, dict[str, Any]]
    hints: list[dict[str, Any]]
    findings: dict[str, dict[str, Any]]


# --------------------------------------------------------------------------- loading

def default_lang() -> str:
    """The language ``SMTPLENS_LANG`` names (``vi``, ``vi_VN.UTF-8``), else ``en``."""
    wanted = re.split(r"[._@-]", os.environ.get("SMTPLENS_LANG", "").strip().lower())[0]
    return wanted if wanted in LANGS else "en"


def _lang(lang: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; use one of {', '.join(LANGS)}")
    return lang


def _file(lang: str, name: str) -> dict[str, Any]:
    res = resources.files(__name__) / "data" / lang / f"{name}.toml"
    try:
        raw = res.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return {}  # not written (yet): missing_texts() says what is lacking
    except OSError as e:
        raise DataError(f"{res}: {e}") from e
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise DataError(f"{res}: {e}") from e


def _tables(doc: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    found = doc.get(key)
    if not isinstance(found, dict):
        return {}
    return {str(k): v for k, v in found.items() if isinstance(v, dict)}


@cache
def _data(lang: str) -> _Data:
    replies, enhanced = _file(lang, "replies"), _file(lang, "enhanced")
    hints = _file(lang, "hints").get("hint", [])
    return _Data(
        replies=_tables(replies, "reply"), classes=_tables(replies, "class"),
        categories=_tables(replies, "category"),
        compare=_tables(_file(lang, "compare"), "compare"),
        ui={str(k): _s(v) for k, v in _file(lang, "ui").items()},
        enhanced_classes=_tables(enhanced, "class"), subjects=_tables(enhanced, "subject"),
        details=_tables(enhanced, "detail"),
        hints=[h for h in hints if isinstance(h, dict)] if isinstance(hints, list) else [],
        findings=_tables(_file(lang, "findings"), "finding"))


def reload() -> None:
    """Forget the loaded data (it is read again on next use)."""
    _data.cache_clear()
    _patterns.cache_clear()


def _s(value: object) -> str:
    """A text field: a string, or a list of paragraphs."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        return "\n\n".join(str(v).strip() for v in value if isinstance(v, str) and v.strip())
    return ""


def _texts(value: object) -> list[str]:
    """A list field (compare differences/when): a list, or one string."""
    if isinstance(value, list):
        return [str(v).strip() for v in value if isinstance(v, str) and v.strip()]
    return [value.strip()] if isinstance(value, str) and value.strip() else []


def _field(lang: str, part: str, key: str, name: str) -> str:
    """One text of the data, falling back to English where ``lang`` lacks it (the
    completeness test makes sure it never has to)."""
    for each in (lang, "en") if lang != "en" else ("en",):
        table = getattr(_data(each), part).get(key)
        if table is not None and _s(table.get(name)):
            return _s(table.get(name))
    return ""


class _Blank(string.Formatter):
    """str.format that leaves an unknown {field} as it is instead of raising."""

    def get_value(self, key: int | str, args: Any, kwargs: Any) -> Any:
        if isinstance(key, str) and key not in kwargs:
            return "{" + key + "}"
        return super().get_value(key, args, kwargs)


def ui(key: str, lang: str, **fields: object) -> str:
    """The ui text ``key`` in ``lang`` with ``{fields}`` filled in."""
    text = _data(_lang(lang)).ui.get(key) or _data("en").ui.get(key) or key
    try:
        return _Blank().format(text, **fields) if fields or "{" in text else text
    except (ValueError, IndexError, AttributeError):  # a broken template: show it as it is
        return text


# --------------------------------------------------------------------------- lookups

def lookup(query: str, lang: str) -> list[Entry]:
    """The entries explaining ``query``: a reply code (``334``), an enhanced status
    code (``5.7.8``, ``X.7.8``), a whole reply line (``535-5.7.8 Username and ...``,
    several lines too: both codes, then every hint that matches) or a finding id.

    Raises :class:`UnknownCode` when ``query`` is none of those.
    """
    lang = _lang(lang)
    q = query.strip()
    if _REPLY.fullmatch(q):
        return [_reply(q, lang)]
    m = _ENHANCED.fullmatch(q)
    if m is not None:
        return [_enhanced(q, lang)]
    if q in CATALOG:
        return [_finding(q, lang)]
    line = _reply_line(q)
    if line is not None:
        return _explain_line(q, *line, lang=lang)
    if _FINDING.fullmatch(q) and not q[0].isdigit():
        ids = list(CATALOG)
        close = difflib.get_close_matches(q, ids, n=5, cutoff=0.6)
        family = [i for i in ids if i.split(".", 1)[0] == q.split(".", 1)[0]]
        raise UnknownCode(q, close or family[:5])
    raise UnknownCode(q, _nearest_any(q))


def _reply(code: str, lang: str) -> Entry:
    d = _data(lang)
    if code in d.replies or code in _data("en").replies:
        return _listed("reply", code, lang, "replies", code)
    first, second = code[0], code[1]
    klass = _field(lang, "classes", first, "title")
    # RFC 5321 §4.2: Reply-code = %x32-35 %x30-35 %x30-39
    invalid = "" if _VALID_REPLY.fullmatch(code) else ui("invalid_code", lang, code=code)
    if not klass:
        raise UnknownCode(code, nearest_replies(code), invalid)
    category = _field(lang, "categories", second, "title")
    # RFC 5321 §4.2.1: the first digit says how it went, the second what it is about
    title = f"{klass}, {category}" if category else klass
    parts = [ui("unknown_class", lang, code=code, klass=klass), invalid,
             _field(lang, "classes", first, "description"),
             _field(lang, "categories", second, "description")]
    return Entry("class", code, title, "\n\n".join(p for p in parts if p),
                 _field(lang, "classes", first, "when"), _field(lang, "classes", first, "fix"),
                 _field(lang, "classes", first, "rfc") or "RFC 5321 §4.2.1")


def _listed(kind: str, code: str, lang: str, part: str, key: str) -> Entry:
    def text(name: str) -> str:
        return _field(lang, part, key, name)

    return Entry(kind, code, text("title"), text("description"), text("when"), text("fix"),
                 text("rfc"))


def _enhanced(code: str, lang: str) -> Entry:
    klass, *numbers = code.split(".")
    klass, subject, detail = klass.upper(), *(str(int(n)) for n in numbers)
    code = f"{klass}.{subject}.{detail}"
    sd = f"{subject}.{detail}"
    subject_title = _field(lang, "subjects", subject, "title")
    known_class = bool(_field(lang, "enhanced_classes", klass, "title"))
    if not known_class and not (klass == "X" and subject_title):
        raise UnknownCode(code, nearest_enhanced(code))
    class_text = _field(lang, "enhanced_classes", klass, "description") if klass != "X" else ""
    class_title = _field(lang, "enhanced_classes", klass, "title") if klass != "X" else ""
    if _field(lang, "details", sd, "title"):
        return _listed("enhanced", code, lang, "details", sd)
    fields = {"code": code, "klass": class_title, "subject": subject, "detail": sd}
    if subject_title:  # RFC 3463 §3: the subject still says what went wrong
        parts = [ui("unknown_detail", lang, **fields), class_text,
                 _field(lang, "subjects", subject, "description")]
        title = f"{subject_title} ({class_title})" if class_title else subject_title
        kind = "enhanced"
    else:
        parts = [ui("unknown_subject", lang, **fields), class_text]
        title = class_title
        kind = "class"
    # RFC 3463 §3.1: the classes mean what the first digit of a reply code means
    when = _field(lang, "enhanced_classes", klass, "when") or _field(lang, "classes", klass, "when")
    fix = _field(lang, "enhanced_classes", klass, "fix") or _field(lang, "classes", klass, "fix")
    return Entry(kind, code, title, "\n\n".join(p for p in parts if p), when, fix,
                 _field(lang, "subjects", subject, "rfc")
                 or _field(lang, "enhanced_classes", klass, "rfc") or "RFC 3463 §3")


def _finding(finding_id: str, lang: str) -> Entry:
    spec = CATALOG[finding_id]
    texts = {"title": spec.title, "description": spec.description, "when": spec.when,
             "fix": spec.fix}
    if lang != "en":
        texts = {k: _field(lang, "findings", finding_id, k) or v for k, v in texts.items()}
    return Entry("finding", finding_id, texts["title"], texts["description"], texts["when"],
                 texts["fix"], spec.rfc)


def _reply_line(query: str) -> tuple[str, str | None, str] | None:
    """(reply code, enhanced code or None, the text) of a whole reply, else None."""
    lines = [ln.strip() for ln in re.split(r"\r\n|\r|\n", query) if ln.strip()]
    if not lines:
        return None
    if not _LINE.fullmatch(lines[0]):
        m = _EMBEDDED.search(lines[0])
        if m is None:
            e = _ENHANCED_LINE.fullmatch(lines[0])
            if e is None:
                return None
            return "", e.group(1), " ".join([e.group(2), *lines[1:]])
        lines[0] = lines[0][m.start():]
    first = _LINE.fullmatch(lines[0])
    assert first is not None
    code, enhanced = first.group(1), first.group(2)
    texts = [first.group(3)]
    for ln in lines[1:]:  # RFC 5321 §4.2: every line repeats the code
        m = _LINE.fullmatch(ln)
        texts.append(m.group(3) if m is not None and m.group(1) == code else ln)
    text = " ".join(t for t in texts if t)
    # a multi-line reply pasted as one line: drop the repeated "535-5.7.8" prefixes
    repeat = rf"(?<!\S){code}[ -]" + (rf"(?:{re.escape(enhanced)}(?!\S))?" if enhanced else "")
    text = re.sub(r"\s+", " ", re.sub(repeat, " ", text)).strip()
    return code, enhanced, text


def _explain_line(query: str, code: str, enhanced: str | None, text: str, *,
                  lang: str) -> list[Entry]:
    given = "\n".join(ln.strip() for ln in re.split(r"\r\n|\r|\n", query) if ln.strip())
    out: list[Entry] = []
    if code:
        out.append(_reply(code, lang))
    if enhanced:
        out.append(_enhanced(enhanced, lang))
    if out:
        out[0] = replace(out[0], line=given)
    out.extend(hints_for(code, enhanced, text, lang))
    return out


@dataclass(frozen=True, slots=True)
class HintSpec:
    """What picks a hint: the reply codes it is about and a regex on the reply text."""

    id: str
    provider: str
    codes: tuple[str, ...]
    pattern: str
    compiled: re.Pattern[str] | None  #: None when the pattern does not compile


@cache
def _patterns() -> tuple[HintSpec, ...]:
    # the patterns and codes come from the English file (the translations may repeat them)
    out = []
    for h in _data("en").hints:
        text = str(h.get("pattern", ""))
        try:
            compiled: re.Pattern[str] | None = re.compile(text, re.I) if text else None
        except re.error:
            compiled = None  # reported by missing_texts()
        codes = tuple(str(c) for c in h.get("codes", []) if isinstance(c, str | int)) \
            if isinstance(h.get("codes"), list) else ()
        out.append(HintSpec(str(h.get("id", "")), _s(h.get("provider")), codes, text,
                            compiled))
    return tuple(out)


def hint_specs() -> list[HintSpec]:
    """Every hint, in the order of ``hints.toml``."""
    return list(_patterns())


def _fits(codes: tuple[str, ...], reply: str, enhanced: str | None) -> bool:
    """A hint's codes fit a reply when each kind of code it names matches the reply's
    code of that kind (a kind the reply lacks does not count against it)."""
    replies = [c for c in codes if _REPLY.fullmatch(c)]
    enhanced_codes = [c for c in codes if _ENHANCED.fullmatch(c)]
    if replies and reply and reply not in replies:
        return False
    if enhanced_codes and enhanced:
        wanted = enhanced.split(".", 1)
        return any(c.split(".", 1)[1] == wanted[1] and c[0].upper() in ("X", wanted[0].upper())
                   for c in enhanced_codes)
    return True


def hints_for(reply: str, enhanced: str | None, text: str, lang: str) -> list[Entry]:
    """The hints whose pattern matches the reply ``text`` and whose codes fit."""
    found = []
    whole = " ".join(p for p in (reply, enhanced or "", text) if p)[:_MATCH_LIMIT]
    for hint in _patterns():
        pattern = hint.compiled
        if pattern is None or not hint.id or not _fits(hint.codes, reply, enhanced):
            continue
        if pattern.search(text[:_MATCH_LIMIT]) or pattern.search(whole):
            found.append(_hint(hint.id, hint.provider, lang))
    return found


def _hint_texts(lang: str, hint_id: str) -> dict[str, Any]:
    return next((h for h in _data(lang).hints if str(h.get("id", "")) == hint_id), {})


def _hint(hint_id: str, provider: str, lang: str) -> Entry:
    mine, en = _hint_texts(lang, hint_id), _hint_texts("en", hint_id)

    def text(name: str) -> str:
        return _s(mine.get(name)) or _s(en.get(name))

    return Entry("hint", hint_id, text("title"), text("description"), text("when"),
                 text("fix"), text("rfc"), provider=_s(mine.get("provider")) or provider)


# --------------------------------------------------------------------- nearest codes

def _distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _closest(query: str, known: Iterable[str], n: int = 5) -> list[str]:
    # same class (first digits) first, then fewest edits, then numerically nearest
    def key(code: str) -> tuple[int, int, int, str]:
        digits_q, digits_c = re.sub(r"\D", "", query), re.sub(r"\D", "", code)
        gap = abs(int(digits_q) - int(digits_c)) if digits_q and digits_c else 0
        pairs = zip(query.upper(), code.upper(), strict=False)
        same = next((i for i, (x, y) in enumerate(pairs) if x != y), min(len(query), len(code)))
        return -same, _distance(query, code), gap, code

    return sorted(set(known), key=key)[:n]


def nearest_replies(code: str, n: int = 5) -> list[str]:
    """The known reply codes nearest to ``code``."""
    return _closest(code, _data("en").replies, n)


def known_enhanced() -> list[str]:
    """Every enhanced status code the data explains (each detail in each class)."""
    en = _data("en")
    return [f"{c}.{d}" for c in sorted(en.enhanced_classes) for d in en.details]


def nearest_enhanced(code: str, n: int = 5) -> list[str]:
    """The known enhanced status codes nearest to ``code``."""
    return _closest(code, known_enhanced(), n)


def _nearest_any(query: str) -> list[str]:
    known = [*_data("en").replies, *known_enhanced(), *CATALOG]
    return difflib.get_close_matches(query, known, n=5, cutoff=0.6)


# ---------------------------------------------------------------------- comparisons

class ClassInfo(NamedTuple):
    """What the first digit of a code says."""

    label: str  #: ``3xx Positive Intermediate``, ``5.x.x Permanent failure``
    description: str
    next: str  #: what the client does next, in a few words (ui success ... permanent)


#: RFC 5321 §4.2.1 (and RFC 3463 §3.1, whose classes mean the same): what comes next
_NEXT = {"2": "success", "3": "intermediate", "4": "transient", "5": "permanent"}


def class_of(entry: Entry, lang: str) -> ClassInfo | None:
    """The class an entry's code is in (``3xx Positive Intermediate``, RFC 5321 §4.2.1;
    ``5.x.x Permanent failure``, RFC 3463 §3.1), or None for findings and hints."""
    code = entry.code
    if entry.kind in ("reply", "class") and _REPLY.fullmatch(code):
        part, label = "classes", f"{code[0]}xx"
    elif entry.kind in ("enhanced", "class") and _ENHANCED.fullmatch(code) \
            and code[0] in "245":
        part, label = "enhanced_classes", f"{code[0]}.x.x"
    else:
        return None
    title = _field(lang, part, code[0], "title")
    if not title:
        return None
    return ClassInfo(f"{label} {title}", _field(lang, part, code[0], "description"),
                     ui(_NEXT[code[0]], lang) if code[0] in _NEXT else "")


def category_of(entry: Entry, lang: str) -> str:
    """What the second digit says: the category of a reply code (``x3x``, RFC 5321
    §4.2.1) or the subject of an enhanced status code (``x.7.x``, RFC 3463 §2)."""
    code = entry.code
    if entry.kind in ("reply", "class") and _REPLY.fullmatch(code):
        title = _field(lang, "categories", code[1], "title")
        return f"x{code[1]}x {title}" if title else ""
    m = _ENHANCED.fullmatch(code)
    if entry.kind in ("enhanced", "class") and m is not None:
        title = _field(lang, "subjects", m.group(2), "title")
        return f"x.{m.group(2)}.x {title}" if title else ""
    return ""


def class_sentence(a: Entry, b: Entry, lang: str) -> str:
    """``334 and 354 are both 3xx Positive Intermediate replies`` (or each its own
    class); "" when either has no class."""
    ca, cb = class_of(a, lang), class_of(b, lang)
    if ca is None or cb is None:
        return ""
    if ca.label == cb.label:
        return ui("compare_same_class", lang, a=_name(a), b=_name(b), klass=ca.label)
    return ui("compare_other_class", lang, a=_name(a), b=_name(b), klass_a=ca.label,
              klass_b=cb.label)


def compare(a: Entry, b: Entry, lang: str) -> Comparison:
    """How ``a`` and ``b`` differ and when each applies: the text written for the pair
    in ``compare.toml`` when there is one, else made from the two entries (their class,
    what the client does next, when each is seen and what to do), in ``lang``."""
    lang = _lang(lang)
    key = "+".join(sorted((a.code, b.code)))
    curated = _data(lang).compare.get(key)
    if curated is not None:
        differences, when = _texts(curated.get("differences")), _texts(curated.get("when"))
        if differences or when:
            return Comparison(differences, when, a, b, curated=True)
    # only texts of the data in ``lang`` and protocol terms: nothing English in a vi page
    differences = [t for t in (class_sentence(a, b, lang),) if t]
    for entry in (a, b):
        if entry.description:
            differences.append(f"{_name(entry)}: {_first_paragraph(entry.description)}")
    for entry in (a, b):
        if entry.when:
            differences.append(f"{ui('when', lang)} ({entry.code}): {entry.when}")
    when = []
    for entry in (a, b):
        klass = class_of(entry, lang)
        parts = [_name(entry), klass.next if klass is not None else "", entry.fix]
        if entry.fix or parts[1]:
            when.append(" \u2014 ".join(p for p in parts if p))
    return Comparison(differences, when, a, b)


def _name(entry: Entry) -> str:
    return f"{entry.code} ({entry.title})" if entry.title else entry.code


def _first_paragraph(text: str) -> str:
    return text.split("\n\n", 1)[0]


def listed(part: str, lang: str) -> list[str]:
    """The keys ``lang``'s data lists in ``part``: replies, classes, categories,
    enhanced_classes, subjects, details, compare, ui, findings, or hints (their ids)."""
    data = _data(_lang(lang))
    if part == "hints":
        return [str(h.get("id", "")) for h in data.hints]
    found: dict[str, Any] = getattr(data, part)
    return list(found)


def one_line(code: int | str, lang: str) -> str:
    """The title of a reply code or an enhanced status code, "" when not listed."""
    text = str(code).strip()
    if lang not in LANGS:
        lang = "en"
    if _REPLY.fullmatch(text):
        return _field(lang, "replies", text, "title")
    m = _ENHANCED.fullmatch(text)
    if m is not None:
        return _field(lang, "details", f"{m.group(2)}.{m.group(3)}", "title")
    return ""


# ----------------------------------------------------------------------- completeness

def missing_texts() -> list[str]:
    """Every ``lang:part.key:field`` that lacks text in some language: each reply code,
    class and category of ``replies.toml``, each enhanced class, subject and detail,
    each hint, each comparison and each ui key of either language, and each finding of
    the catalog. Also a hint whose pattern does not compile (``:pattern``) and a ui
    text whose ``{fields}`` differ from the English one (``:fields``)."""
    out: list[str] = []
    parts = (("replies", "reply", _REPLY_FIELDS), ("classes", "class", _DIGIT_FIELDS),
             ("categories", "category", _DIGIT_FIELDS),
             ("enhanced_classes", "enhanced.class", _DIGIT_FIELDS),
             ("subjects", "enhanced.subject", _DIGIT_FIELDS),
             ("details", "enhanced.detail", _REPLY_FIELDS))
    for part, name, fields in parts:
        keys = sorted({k for lang in LANGS for k in getattr(_data(lang), part)})
        for key in keys:
            for lang in LANGS:
                table = getattr(_data(lang), part).get(key, {})
                out.extend(f"{lang}:{name}.{key}:{f}" for f in fields if not _s(table.get(f)))
            if part in ("replies", "details") and not any(
                    _s(getattr(_data(lang), part).get(key, {}).get("rfc")) for lang in LANGS):
                out.append(f"en:{name}.{key}:rfc")
    for key in sorted({k for lang in LANGS for k in _data(lang).compare}):
        for lang in LANGS:
            table = _data(lang).compare.get(key, {})
            out.extend(f"{lang}:compare.{key}:{f}" for f in ("differences", "when")
                       if not _texts(table.get(f)))
    hint_ids = sorted({str(h.get("id", "")) for lang in LANGS for h in _data(lang).hints})
    for hint_id in hint_ids:
        for lang in LANGS:
            texts = _hint_texts(lang, hint_id)
            out.extend(f"{lang}:hint.{hint_id}:{f}" for f in _HINT_FIELDS
                       if not _s(texts.get(f)))
    out.extend(f"en:hint.{h.id or '?'}:pattern" for h in _patterns()
               if h.compiled is None or not h.id)
    out.extend(f"en:hint.{h.id}:codes" for h in _patterns() if h.id and not h.codes)
    ui_keys = sorted({*UI_KEYS, *(k for lang in LANGS for k in _data(lang).ui)})
    for key in ui_keys:
        for lang in LANGS:
            if not _data(lang).ui.get(key):
                out.append(f"{lang}:ui.{key}:text")
        en_fields = _fields(_data("en").ui.get(key, ""))
        if _data("vi").ui.get(key) and en_fields != _fields(_data("vi").ui.get(key, "")):
            out.append(f"vi:ui.{key}:fields")
    for finding_id, spec in CATALOG.items():
        out.extend(f"en:finding.{finding_id}:{f}" for f in (*_REPLY_FIELDS, "rfc")
                   if not getattr(spec, f).strip())
        vi = _data("vi").findings.get(finding_id, {})
        out.extend(f"vi:finding.{finding_id}:{f}" for f in _REPLY_FIELDS if not _s(vi.get(f)))
    return out


def _fields(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}
    except ValueError:
        return {"(broken)"}


__all__ = ["KINDS", "LANGS", "ClassInfo", "Comparison", "DataError", "Entry", "HintSpec",
           "UnknownCode", "category_of", "class_of", "class_sentence", "compare",
           "default_lang", "hint_specs", "hints_for", "listed", "lookup", "missing_texts",
           "nearest_enhanced", "nearest_replies", "one_line", "reload", "ui"]


def codes_markdown() -> str:
    """The README's table of every listed reply and enhanced status code, with its
    title in each language (made from the data; a test keeps the README in step)."""
    rows = ["| code | " + " | ".join(LANGS) + " |", "|---|" + "---|" * len(LANGS)]
    for part, shown, of in (("replies", "{}", "{}"), ("details", "X.{}", "5.{}")):
        for code in sorted(listed(part, "en"), key=lambda c: [int(x) for x in c.split(".")]):
            titles = [one_line(of.format(code), lang).replace("|", "\\|")
                      for lang in LANGS]
            rows.append(f"| `{shown.format(code)}` | " + " | ".join(titles) + " |")
    return "\n".join(rows) + "\n"
