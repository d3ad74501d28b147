"""The house rules of STYLE.md that code can check."""

from __future__ import annotations

import subprocess
import sys

CORE = ["smtplens.engine", "smtplens.sasl", "smtplens.mime", "smtplens.checks",
        "smtplens.analysis", "smtplens.pipeline", "smtplens.parallel", "smtplens.progress",
        "smtplens.sources", "smtplens.report", "smtplens.audit.observe",
        "smtplens.audit.tally", "smtplens.audit.correlate", "smtplens.audit.run",
        "smtplens.audit.state", "smtplens.audit.report", "smtplens.views.audit_page"]


def test_core_imports_no_scapy_pandas_typer_or_rich() -> None:
    # numpy neither: the line-end check imports it on the first large piece only
    code = (f"import sys; import {', '.join(CORE)}; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'scapy', 'pandas', 'typer', 'rich', 'numpy'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_engine_does_no_io() -> None:
    import ast
    from pathlib import Path

    import smtplens.engine

    for path in Path(smtplens.engine.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        imports = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                   for a in n.names}
        imports |= {(n.module or "").split(".")[0] for n in ast.walk(tree)
                    if isinstance(n, ast.ImportFrom)}
        assert "open" not in names, path
        assert not imports & {"socket", "os", "io", "pathlib"}, path


def test_sessions_pickle_for_parallel_audits() -> None:
    import pickle

    from smtplens.analysis import analyze_file
    from tests.helpers import SAMPLES

    for name in ("auth-login.txt", "auth-login.pcap", "postfix-maillog.log"):
        for session in analyze_file(str(SAMPLES / name)):
            again = pickle.loads(pickle.dumps(session))
            assert again.findings == session.findings and again.id == session.id
            assert [a.user for a in again.auth] == [a.user for a in session.auth]


def test_every_check_reads_the_events_it_looks_at() -> None:
    # a check only receives the event types in its ``reads`` (the dispatch table in
    # analysis._Live): one it tests for in on_event but does not list would never come
    import inspect
    import re

    from smtplens.checks import CHECK_CLASSES
    from smtplens.engine import events as ev

    kinds = {name for name, obj in vars(ev).items() if isinstance(obj, type)}
    for cls in CHECK_CLASSES:
        used = set(re.findall(r"ev\.(\w+)", inspect.getsource(cls.on_event))) & kinds
        assert cls.reads is not None, cls
        listed = {k.__name__ for k in cls.reads}
        assert used <= listed, f"{cls.__name__} looks at {used - listed} but does not read them"


def test_one_way_between_running_an_input_and_its_shards() -> None:
    """analysis decides how an input is run; parallel and pipeline never import it."""
    import ast
    from pathlib import Path

    import smtplens

    root = Path(smtplens.__file__).parent
    for name in ("parallel.py", "pipeline.py"):
        tree = ast.parse((root / name).read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import)
                     for a in n.names}
        assert "smtplens.analysis" not in imported, name
        assert not any(a.name == "analysis" for n in ast.walk(tree)
                       if isinstance(n, ast.ImportFrom) and n.module == "smtplens"
                       for a in n.names), name


def test_audit_and_views_know_only_the_layers_below() -> None:
    """audit/ sees sessions (never the CLI, the frames or dask at import); views/ sees
    report data only (never the model's producers)."""
    import ast
    from pathlib import Path

    import smtplens

    root = Path(smtplens.__file__).parent
    for folder, banned in (("audit", ("smtplens.cli", "smtplens.frames", "dask",
                                      "distributed", "pyarrow")),
                           ("views", ("smtplens.cli", "smtplens.frames", "smtplens.audit",
                                      "smtplens.sources", "smtplens.engine"))):
        for path in (root / folder).glob("*.py"):
            tree = ast.parse(path.read_text())
            top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
            names = {a.name for n in top if isinstance(n, ast.Import) for a in n.names}
            names |= {n.module or "" for n in top if isinstance(n, ast.ImportFrom)}
            assert not {m for m in names if m.startswith(banned)}, path
