"""``smtplens explain``: what reply codes, enhanced status codes, reply lines and
finding ids mean, in English or Vietnamese; two or more are compared.

Exit codes: 0 every code explained, 2 some code unknown (the others are still
explained; the unknown ones are named on stderr with the nearest known codes).
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable

from smtplens.cli.terminal import SafeConsole
from smtplens.explain import Comparison, Entry, UnknownCode, compare, lookup, ui
from smtplens.explain.render import render


def explain_codes(queries: list[str], lang: str) -> tuple[list[Entry | Comparison],
                                                          list[UnknownCode]]:
    """The entries of every query (each query's own first, its hints after), the
    comparisons of each explained code with the next, and the queries not known."""
    groups: list[list[Entry]] = []
    unknown: list[UnknownCode] = []
    for query in queries:
        try:
            found = lookup(query, lang)
        except UnknownCode as e:
            unknown.append(e)
            continue
        same = [i for i, g in enumerate(groups) if g[0].code == found[0].code]
        if not same:
            groups.append(found)
        elif found[0].line and not any(groups[i][0].line for i in same):
            groups[same[0]] = found  # the reply line says more than its bare code
        elif found[0].line and all(groups[i][0].line != found[0].line for i in same):
            groups.append(found)
    items: list[Entry | Comparison] = [e for g in groups for e in g]
    items += [compare(a[0], b[0], lang) for a, b in itertools.pairwise(groups)
              if a[0].code != b[0].code]
    return items, unknown


def run_explain(queries: list[str], lang: str, fmt: str,
                err: Callable[..., None]) -> int:
    """Explain ``queries`` on stdout in ``fmt``; the exit code."""
    items, unknown = explain_codes(queries, lang)
    for e in unknown:
        err(ui("unknown", lang, code=e.query, nearest=", ".join(e.nearest) or "-"))
        if e.reason:
            err(e.reason, style=None)
    if items:
        out = render(items, fmt, lang)
        if fmt == "text":
            SafeConsole(highlight=False, soft_wrap=True, emoji=False).print(
                out, markup=False, emoji=False, highlight=False, end="")
        else:
            sys.stdout.write(out)
    return 2 if unknown else 0
