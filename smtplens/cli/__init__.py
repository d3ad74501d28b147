"""The ``smtplens`` command line (typer + rich).

Exit codes: 0 clean, 1 findings at or above ``--fail-on``, 2 unusable input or usage
(or ``--extract`` could not write a message: the run goes on, and says which).
Errors name the file and position; no traceback reaches the user (set
``SMTPLENS_DEBUG=1`` to see one).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections import Counter
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from smtplens import __version__
from smtplens.analysis import Problem, analyze_rendered
from smtplens.cli.progressbar import ProgressBar
from smtplens.cli.render import ConsoleSpec, Renderer
from smtplens.cli.terminal import SafeConsole
from smtplens.cli.text import print_summary
from smtplens.errors import SmtplensError
from smtplens.extract import EmlWriter, ExtractError, extract_summary
from smtplens.findings.catalog import all_specs
from smtplens.findings.finding import Severity
from smtplens.memcap import DEFAULT_MEMCAP, format_size, parse_size
from smtplens.report import CSV_HEADER, JsonDocument, Totals
from smtplens.sources import format_names
from smtplens.sources.rotation import expand

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Rebuild SMTP sessions from captures and mail logs, decode AUTH, "
                       "and explain what went wrong.")


class OutputFormat(StrEnum):
    text = "text"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


class FailOn(StrEnum):
    info = "info"
    warning = "warning"
    error = "error"
    never = "never"


class Lang(StrEnum):
    en = "en"
    vi = "vi"


Files = Annotated[list[str], typer.Argument(help="Captures (pcap/pcapng, .gz/.bz2/.xz), "
                                                 "transcripts or logs, or directories of "
                                                 "them; '-' for stdin.")]
InputFormat = Annotated[str | None, typer.Option(
    "--input-format", "-i", help="Force the input format instead of detecting it: "
                                 + ", ".join(format_names()))]
Ports = Annotated[list[int] | None, typer.Option(
    "--port", help="TCP port(s) carrying SMTP in captures (default: 25, 587, 2525, 465, 24 "
                   "and content detection).")]
Jobs = Annotated[int | None, typer.Option(
    "--jobs", "-j", min=1, help="Processes for one large capture (default: one per core; "
                               "1: this process only).")]
MEMCAP_DEFAULT = format_size(DEFAULT_MEMCAP)
Memcap = Annotated[str, typer.Option(
    "--memcap", help="Memory budget of all open connections of a capture, all processes "
                     "together (256M, 2G); over it the least recently active are closed "
                     "early, each with a capture.memcap-closed finding.")]
LangOption = Annotated[Lang | None, typer.Option(
    "--lang", help="Language of the explanations: en or vi (default: $SMTPLENS_LANG, "
                   "else en).")]
ShowSecrets = Annotated[bool, typer.Option(
    "--show-secrets", help="Reveal passwords, tokens and challenge responses (redacted by "
                           "default).")]


def _console() -> SafeConsole:
    _safe_output()
    return SafeConsole(highlight=False, soft_wrap=True)


def _safe_output() -> None:
    """Bytes that were not UTF-8 travel as surrogate escapes; print them as \\udcNN
    escapes instead of failing (the terminal is not where raw junk should go)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


#: where messages go while a progress bar shows (above it), else None
_bar: ProgressBar | None = None


def _err(message: str, style: str | None = "red") -> None:
    console = _bar or SafeConsole(stderr=True, highlight=False, soft_wrap=True)
    console.print(f"smtplens: {message}", style=style, markup=False, soft_wrap=True)


@contextlib.contextmanager
def _errors_to(bar: ProgressBar) -> Iterator[None]:
    global _bar
    _bar = bar if bar.enabled else None
    try:
        yield
    finally:
        _bar = None


def _memcap(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--memcap") from None


def _check_input_format(fmt: str | None) -> None:
    if fmt is not None and fmt not in format_names():
        raise typer.BadParameter(f"unknown input format {fmt!r}; use one of "
                                 f"{', '.join(format_names())}", param_hint="--input-format")


@app.command()
def analyze(
    files: Files,
    output: Annotated[OutputFormat, typer.Option("--format", "-f",
                                                 help="Output format.")] = OutputFormat.text,
    fail_on: Annotated[FailOn, typer.Option(
        "--fail-on", help="Exit 1 when a finding at or above this severity is found.")]
    = FailOn.error,
    input_format: InputFormat = None,
    port: Ports = None,
    extract: Annotated[Path | None, typer.Option(
        "--extract", help="Write each message as an .eml file into this directory (new "
                          "files only: a taken name gets -2, -3...).")] = None,
    jobs: Jobs = None,
    memcap: Memcap = MEMCAP_DEFAULT,
    show_secrets: ShowSecrets = False,
    lang: LangOption = None,
) -> None:
    """Summarise every session: AUTH exchanges decoded, messages, findings."""
    _check_input_format(input_format)
    budget = _memcap(memcap)
    console = _console()
    totals, problems, fatal = Totals(), [], False
    try:
        sink = EmlWriter(extract) if extract is not None else None
    except ExtractError as e:
        _err(str(e))
        raise typer.Exit(2) from None
    not_written: Counter[str] = Counter()  # why messages were not extracted
    ports = frozenset(port) if port else None
    # every format streams: a session is written (and dropped) as soon as it is built,
    # rendered where it was built (in the workers, with several)
    doc = JsonDocument(sys.stdout, {"version": __version__, "files": files}) \
        if output is OutputFormat.json else None
    if output is OutputFormat.csv:
        sys.stdout.write(CSV_HEADER)
    render = Renderer(output.value, show_secrets, ConsoleSpec.of(console),
                      lang=_language(lang))
    paths = expand(files)

    def problem(p: Problem) -> None:
        nonlocal fatal
        fatal = fatal or p.fatal
        problems.append(str(p))
        _err(str(p))

    with ProgressBar(paths) as bar, _errors_to(bar):
        for path in paths:
            bar.start(path)
            for out in analyze_rendered(path, render, fmt=input_format, ports=ports,
                                        on_problem=problem, sink_factory=sink, jobs=jobs,
                                        memcap=budget):
                totals.add_tally(out.tally)
                not_written.update(out.notes)
                if doc is not None:
                    doc.add_entry(out.text)
                else:
                    sys.stdout.write(out.text)
                bar.tick(len(out.tally.findings))
    if output is OutputFormat.text:
        print_summary(console, totals, problems, _language(lang))
    elif doc is not None:
        doc.close({"problems": problems, "summary": totals.as_dict()})
    if sink is not None:  # say what was written, and what was not and why
        sink.close()
        for line in extract_summary(sink, not_written):
            _err(line, style=None)
        fatal = fatal or bool(sink.failed)  # asked-for files are missing
    _exit(totals, fail_on, fatal)


def _exit(totals: Totals, fail_on: FailOn, fatal: bool) -> None:
    if fatal or not totals.sessions:  # unreadable input, or nothing usable in any of it
        raise typer.Exit(2)
    if fail_on is not FailOn.never and totals.worst is not None \
            and totals.worst >= Severity.parse(fail_on.value):
        raise typer.Exit(1)
    raise typer.Exit(0)


@app.command()
def show(
    file: Annotated[str, typer.Argument(help="A capture, transcript or log.")],
    session: Annotated[str | None, typer.Option(
        "--session", "-s", help="Session id (as printed by analyze); default: all.")] = None,
    input_format: InputFormat = None,
    port: Ports = None,
    jobs: Jobs = None,
    memcap: Memcap = MEMCAP_DEFAULT,
    show_secrets: ShowSecrets = False,
    meanings: Annotated[bool, typer.Option(
        "--meanings", help="Give each reply code its one-line meaning (smtplens explain "
                           "CODE says more).")] = False,
    lang: LangOption = None,
) -> None:
    """The annotated conversation: arrows, decoded 334 text, findings where they happen."""
    _check_input_format(input_format)
    budget = _memcap(memcap)
    console = _console()
    fatal, found = False, False

    def problem(p: Problem) -> None:
        nonlocal fatal
        fatal = fatal or p.fatal
        _err(str(p))

    render = Renderer("conversation", show_secrets, ConsoleSpec.of(console), session,
                      _language(lang) if meanings else None, _language(lang))
    with ProgressBar([file]) as bar, _errors_to(bar):
        bar.start(file)
        for out in analyze_rendered(file, render, fmt=input_format,
                                    ports=frozenset(port) if port else None,
                                    on_problem=problem, jobs=jobs, memcap=budget):
            if session is None or out.id == session:
                found = True
                sys.stdout.write(out.text)
            bar.tick(len(out.tally.findings))
    if session is not None and not found and not fatal:
        _err(f"{file}: no session {session!r} (run 'smtplens analyze {file}' for the ids)")
        raise typer.Exit(2)
    raise typer.Exit(2 if fatal or not found else 0)


class Engine(StrEnum):
    local = "local"
    dask = "dask"


@app.command()
def audit(
    paths: Annotated[list[str], typer.Argument(
        help="Captures and logs: files, folders (read recursively) or quoted globs "
             "('logs/**/mail.log*'); .gz/.bz2/.xz; rotated sets are read oldest first.")],
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", min=1, help="Worker processes (default: one per core); one lone "
                                   "large capture is split across them.")] = None,
    engine: Annotated[Engine, typer.Option(
        "--engine", help="local: worker processes here; dask: one task per file on a "
                         "dask.distributed cluster (pip install smtplens[dask]).")]
    = Engine.local,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="With --engine dask: the scheduler's address "
                            "(tcp://host:8786); default: a LocalCluster started here.")]
    = None,
    since: Annotated[str | None, typer.Option(
        "--since", help="Only sessions that started at or after this: 2026-11-25, "
                        "2026-11-25T10:00 (UTC unless an offset is given), or 24h, 7d "
                        "back from now.")] = None,
    until: Annotated[str | None, typer.Option(
        "--until", help="Only sessions that started before this (same forms).")] = None,
    fail_on: Annotated[FailOn, typer.Option(
        "--fail-on", help="Exit 1 when a finding at or above this severity is found.")]
    = FailOn.error,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No terminal report, no progress bar, no per-file "
                              "messages: only the exit code and the files asked for.")]
    = False,
    json_out: Annotated[str | None, typer.Option(
        "--json", help="Write the report as JSON (schema smtplens-audit, version 1) "
                       "to this file ('-': stdout).")] = None,
    csv_dir: Annotated[str | None, typer.Option(
        "--csv", help="Write the report's tables as CSV files into this folder.")] = None,
    parquet_dir: Annotated[str | None, typer.Option(
        "--parquet", help="Write the report's tables as Parquet files into this folder "
                          "(pyarrow).")] = None,
    html: Annotated[str | None, typer.Option(
        "--report", help="Write a self-contained HTML page (no network needed).")] = None,
    state: Annotated[str | None, typer.Option(
        "--state", help="Remember where each log was read up to in this file; the next "
                        "run reads only what was appended (following rotation) and "
                        "carries the password-guessing windows over.")] = None,
    max_failures: Annotated[int, typer.Option(
        "--max-failures", min=1, help="Failed AUTH from one client within --window "
                                      "that count as password guessing.")] = 5,
    window: Annotated[str, typer.Option(
        "--window", help="The window of the password-guessing rules (10m, 1h, 600s).")]
    = "10m",
    input_format: InputFormat = None,
    port: Ports = None,
    memcap: Memcap = MEMCAP_DEFAULT,
    lang: LangOption = None,
) -> None:
    """Audit many captures and logs at once: cross-session findings (password guessing,
    broken clients, vulnerable servers, secrets in logs), one report, an exit code."""
    from smtplens.audit.correlate import Thresholds
    from smtplens.audit.run import AuditOptions
    from smtplens.cli.audit import AuditArgs, UsageError, parse_span, parse_when, run_audit

    _check_input_format(input_format)
    if engine is not Engine.dask and scheduler is not None:
        raise typer.BadParameter("only with --engine dask", param_hint="--scheduler")
    if json_out == "-" and not quiet:
        raise typer.BadParameter("'-' writes JSON on stdout: add --quiet so the terminal "
                                 "report does not mix with it", param_hint="--json")
    try:
        begin = parse_when(since, "--since") if since else None
        end = parse_when(until, "--until") if until else None
        seconds = parse_span(window, "--window")
    except UsageError as e:
        _err(str(e))
        raise typer.Exit(2) from None
    from smtplens.analysis import default_jobs

    options = AuditOptions(since=begin, until=end, input_format=input_format,
                           ports=frozenset(port) if port else None, memcap=_memcap(memcap),
                           thresholds=Thresholds(failures=max_failures, window=seconds))
    _safe_output()
    args = AuditArgs(paths, jobs or default_jobs(), engine.value, scheduler, begin, end,
                     fail_on.value, quiet, json_out, csv_dir, parquet_dir, html, state,
                     options, _language(lang))
    raise typer.Exit(run_audit(args, _err))


class ExplainFormat(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"
    html = "html"


@app.command()
def explain(
    codes: Annotated[list[str], typer.Argument(
        help="Reply codes (334), enhanced status codes (5.7.8, X.7.8), whole reply lines "
             "in quotes ('535 5.7.8 Username and Password not accepted') or finding ids "
             "(data.unstuffed-dot); two or more are compared.")],
    lang: Annotated[Lang | None, typer.Option(
        "--lang", help="Language of the texts (default: $SMTPLENS_LANG, else en).")] = None,
    output: Annotated[ExplainFormat, typer.Option(
        "--format", "-f", help="Output format (html: a self-contained printable page).")]
    = ExplainFormat.text,
) -> None:
    """What SMTP reply codes, enhanced status codes and findings mean, and what to do."""
    from smtplens.cli.explain import run_explain
    from smtplens.explain import default_lang

    _safe_output()
    raise typer.Exit(run_explain(codes, lang.value if lang else default_lang(),
                                 output.value, _err))


def _language(lang: Lang | None) -> str:
    from smtplens.explain import default_lang

    return lang.value if lang is not None else default_lang()


@app.command()
def catalog(
    markdown: Annotated[bool, typer.Option("--markdown", help="As a Markdown table.")] = False,
) -> None:
    """List every finding smtplens can report, with its severity and RFC rule."""
    if markdown:
        sys.stdout.write(catalog_markdown())
        return
    console = _console()
    for spec in all_specs():
        console.print(f"[bold]{spec.id}[/bold] ({spec.severity}) {spec.title}")
        console.print(f"    {spec.description}", markup=False)
        console.print(f"    fix: {spec.fix} ({spec.rfc})", style="green", markup=False)


def catalog_markdown() -> str:
    """The findings catalog as the Markdown table the README embeds."""
    rows = ["| id | severity | title | rule | needs exact bytes |",
            "|---|---|---|---|---|"]
    for spec in all_specs():
        rows.append(f"| `{spec.id}` | {spec.severity} | {spec.title} | {spec.rfc} | "
                    f"{'yes' if spec.exact_bytes else ''} |")
    return "\n".join(rows) + "\n"


@app.callback(invoke_without_command=True)
def _root(version: Annotated[bool, typer.Option("--version", help="Print the version.")]
          = False) -> None:
    if version:
        typer.echo(f"smtplens {__version__}")
        raise typer.Exit(0)


def main() -> None:
    """Console entry point: no traceback for expected errors."""
    try:
        app()
    except SmtplensError as e:
        _err(str(e))
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:  # an internal error: say so plainly, never a bare traceback
        if os.environ.get("SMTPLENS_DEBUG"):
            raise
        _err(f"internal error: {type(e).__name__}: {e} (set SMTPLENS_DEBUG=1 for details)")
        sys.exit(2)
