"""The notebooks in notebooks/: they run top to bottom in a kernel of this Python, their
tagged cells print what the test expects, their HTML is inert, their plots are drawn,
no output shows a password, and the committed files carry no outputs."""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SAMPLES = ROOT / "samples"
TOUR, AUDIT = "01-capture-tour.ipynb", "02-log-audit.ipynb"

#: every sample the notebooks read (the secrets below are those these files carry)
INPUTS = ["auth-login.pcap", "missing-terminator.txt", "unstuffed-dot.txt",
          "audit-guessing.pcap", "postfix-maillog.log", "exim-mainlog.log",
          "postfix-debug.log", "swaks-auth-login.log", "smtplib-debug.log"]
#: passwords of the sample generators: make_pcap_samples.py PASSWORD, make_audit_samples.py
#: USERS and its guesses, make_samples.py; wonderland is what smtplib-debug.log and
#: postfix-debug.log send, s3cret-pass what swaks-auth-login.log sends
PASSWORDS = ["sample-password-1", "correct-horse-9", "bobs-password-3", "s3cret!",
             "wonderland", "Summer2024!", "s3cret-pass",
             *(f"guess-{n}" for n in range(6))]
#: the tagged cells that draw, the same in both notebooks
PLOTS = {"plot-reply-latency", "plot-findings-by-id", "plot-auth-by-client",
         "plot-message-sizes", "plot-sessions-timeline"}


# ------------------------------------------------------------------ committed files
def _committed() -> list[Path]:
    found = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert {p.name for p in found} >= {TOUR, AUDIT}
    return found


def test_committed_notebooks_have_no_outputs() -> None:
    """Outputs are stripped before commit: a run's outputs (and any secret a careless
    reveal=True put in them) never reach git."""
    for path in _committed():
        nb = json.loads(path.read_text(encoding="utf-8"))
        assert nb["nbformat"] == 4, path.name
        assert nb["metadata"]["kernelspec"]["name"] == "python3", path.name
        for cell in nb["cells"]:
            if cell["cell_type"] != "code":
                continue
            where = f"{path.name} cell {cell.get('id')}"
            assert cell["outputs"] == [], where
            assert cell["execution_count"] is None, where


# ------------------------------------------------------------------ running them
def _kernel_is_this_python() -> bool:
    """The "python3" kernelspec Jupyter finds starts sys.executable (a bare "python" is
    replaced with sys.executable by jupyter_client; an absolute path must be ours, not
    compared through symlinks: a venv's python links to the system one)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        argv = KernelSpecManager().get_kernel_spec("python3").argv
    except NoSuchKernel:
        return False
    major, minor = sys.version_info[:2]
    if argv[0] in ("python", f"python{major}", f"python{major}.{minor}"):
        return True
    return os.path.abspath(argv[0]) == os.path.abspath(sys.executable)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A "python3" kernel that runs this interpreter and imports this checkout."""
    pytest.importorskip("nbclient", reason="the notebook tests need nbclient "
                        "(pip install -e '.[test]')")
    pytest.importorskip("nbformat", reason="the notebook tests need nbformat")
    pytest.importorskip("ipykernel", reason="the notebook tests need ipykernel")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", os.pathsep.join(
            [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
        if not _kernel_is_this_python():
            # a user-wide kernelspec of another Python, or none: one of ours, first
            # on JUPYTER_PATH
            from ipykernel.kernelspec import install

            prefix = tmp_path_factory.mktemp("kernelspec")
            install(prefix=str(prefix), kernel_name="python3")
            mp.setenv("JUPYTER_PATH", os.pathsep.join(
                [str(prefix / "share" / "jupyter"),
                 *filter(None, [os.environ.get("JUPYTER_PATH")])]))
            assert _kernel_is_this_python()
        yield


@pytest.fixture(scope="module")
def executed(kernel: None) -> dict[str, Any]:
    import nbformat
    from nbclient import NotebookClient

    out = {}
    for name in (TOUR, AUDIT):
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
        out[name] = nb
    return out


def _cells(nb: Any, tag: str) -> list[Any]:
    found = [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]
    assert found, f"no cell tagged {tag}"
    return found


def _printed(nb: Any, tag: str) -> Any:
    """The JSON a check cell printed (its last line of stdout)."""
    (cell,) = _cells(nb, tag)
    text = "".join(o["text"] for o in cell.outputs
                   if o.output_type == "stream" and o.name == "stdout")
    return json.loads(text.strip().splitlines()[-1])


def _html(nb: Any, tag: str) -> str:
    (cell,) = _cells(nb, tag)
    pages = [o["data"]["text/html"] for o in cell.outputs if "text/html" in o.get("data", {})]
    assert len(pages) == 1, f"{tag}: {len(pages)} HTML outputs"
    return str(pages[0])


def _text_outputs(nb: Any) -> Iterator[tuple[str, str]]:
    """(cell id, text) of every output but images."""
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.output_type == "stream":
                yield cell.id, o.text
            elif o.output_type == "error":
                yield cell.id, "\n".join([o.ename, o.evalue, *o.traceback])
            else:
                for mime, value in o.get("data", {}).items():
                    if not mime.startswith("image/"):
                        yield cell.id, value if isinstance(value, str) else json.dumps(value)


def test_capture_tour(executed: dict[str, Any]) -> None:
    nb = executed[TOUR]
    assert _printed(nb, "check-sessions") == {
        "sessions": 24, "problems": 0,
        "per_file": {"auth-login.pcap": 1, "missing-terminator.txt": 1,
                     "unstuffed-dot.txt": 1, "audit-guessing.pcap": 21},
        "totals": {"sessions": 24, "auth": 19, "auth_success": 2, "auth_failure": 17,
                   "messages": 7, "findings": 42, "problems": 0}}

    # AUTH LOGIN (aiosmtpd's prompts): two 334 prompts, the user, the password redacted
    login = _printed(nb, "check-auth-steps")
    assert (login["session"], login["mechanism"], login["outcome"], login["reply_code"],
            login["encrypted"]) == ("C1", "LOGIN", "success", 235, False)
    steps = login["steps"]
    assert [(s["direction"], s["meaning"]) for s in steps] == [
        ("S", "prompt"), ("C", "user"), ("S", "prompt"), ("C", "password")]
    assert steps[0]["decoded"].startswith("User Name")
    assert steps[2]["decoded"].startswith("Password")
    assert steps[1]["decoded"] == 'user "alice@example.test"'
    assert re.fullmatch(r"password \[redacted password, \d+ chars\]", steps[3]["decoded"])
    assert steps[3]["wire"].startswith("[redacted password")
    assert login["findings"] == ["auth.cleartext"]

    data = _printed(nb, "check-data")
    assert data["findings"] == {
        "missing-terminator.txt": ["data.terminator-missing", "protocol.no-quit"],
        "unstuffed-dot.txt": ["data.unstuffed-dot"]}
    assert data["complete"] == {"missing-terminator.txt": False, "unstuffed-dot.txt": True}
    assert "§4.5.2" in data["rfc"]["data.unstuffed-dot"]
    assert "§4.1.1.4" in data["rfc"]["data.terminator-missing"]

    guessing = _printed(nb, "check-guessing")
    assert guessing["failures"] == {"127.0.0.66": 6, "127.0.0.77": 6, "127.0.1.1": 1,
                                    "127.0.1.2": 1, "127.0.1.3": 1, "127.0.1.4": 1,
                                    "127.0.1.5": 1}
    assert guessing["successes"] == {"127.0.0.66": 1}  # the sixth guess was followed by a hit
    assert guessing["users"]["127.0.0.77"] == 6  # one password, six users: spraying
    assert guessing["auth_failed_findings"] == 17

    summary, ladder = _html(nb, "summary"), _html(nb, "ladder")
    assert "auth-login.pcap" in summary and "audit-guessing.pcap" in summary
    assert "334" in ladder and "alice@example.test" in ladder
    assert "[redacted password" in ladder
    assert "<table" in _html(nb, "sessions-table")


def test_log_audit(executed: dict[str, Any]) -> None:
    nb = executed[AUDIT]
    load = _printed(nb, "check-load")
    assert load["per_file"] == {"postfix-maillog.log": 26, "exim-mainlog.log": 15,
                                "postfix-debug.log": 7, "swaks-auth-login.log": 1,
                                "smtplib-debug.log": 2}
    assert load["origins"] == {"postfix-maillog.log": ["postfix-log"],
                               "exim-mainlog.log": ["exim-mainlog"],
                               "postfix-debug.log": ["postfix-debug"],
                               "swaks-auth-login.log": ["swaks"],
                               "smtplib-debug.log": ["smtplib"]}
    assert (load["sessions"], load["problems"]) == (51, 0)
    assert load["totals"] == {"sessions": 51, "auth": 30, "auth_success": 9,
                              "auth_failure": 18, "messages": 15, "findings": 73,
                              "problems": 0}

    failures = _printed(nb, "check-failures")
    # 85.170.90.200's three 435s are the server's saslauthd being down
    # (log.sasl-backend-fault), not failed logins
    assert failures["failures"] == {"181.214.206.133": 8,
                                    "203.0.113.9": 3, "::1": 2, "(not in the log)": 2,
                                    "127.0.0.1": 1, "62.202.253.124": 1, "192.0.2.1": 1}
    assert failures["successes"] == {"(not in the log)": 6, "127.0.0.1": 2, "::1": 1}
    assert failures["attempts"] == 30

    findings = _printed(nb, "check-findings")
    assert findings["by_severity"] == {"error": 22, "warning": 42, "info": 9}
    assert sum(findings["by_id"].values()) == 73
    by_id = findings["by_id"]
    assert (by_id["auth.failed"], by_id["auth.cleartext"], by_id["auth.repeated-failures"],
            by_id["log.secret-in-log"], by_id["log.sasl-backend-fault"]) == (18, 9, 2, 8, 3)
    assert findings["secret_in_log"] == ["postfix-debug.log", "smtplib-debug.log",
                                         "swaks-auth-login.log"]

    parquet = _printed(nb, "check-parquet")
    tables = ["sessions", "commands", "auth", "auth_steps", "messages", "findings",
              "problems"]
    assert parquet["files"] == sorted(f"{t}.parquet" for t in tables)
    assert {t: v["rows"] for t, v in parquet["tables"].items()} == {
        "sessions": 51, "commands": 84, "auth": 30, "auth_steps": 31, "messages": 22,
        "findings": 73, "problems": 0}
    for table, result in parquet["tables"].items():
        assert result["same_dtypes"] and result["same_values"], table

    assert "postfix-maillog.log" in _html(nb, "summary")


@pytest.mark.parametrize("name", [TOUR, AUDIT])
def test_html_outputs_are_inert(executed: dict[str, Any], name: str) -> None:
    nb = executed[name]
    pages = [str(o["data"]["text/html"]) for c in nb.cells for o in c.get("outputs", [])
             if "text/html" in o.get("data", {})]
    assert len(pages) >= 3
    for page in pages:
        assert "<script" not in page.lower()
        assert "javascript:" not in page.lower()


@pytest.mark.parametrize("name", [TOUR, AUDIT])
def test_plot_cells_draw_one_png(executed: dict[str, Any], name: str) -> None:
    nb = executed[name]
    for tag in PLOTS:
        (cell,) = _cells(nb, tag)
        images = [o["data"]["image/png"] for o in cell.outputs
                  if "image/png" in o.get("data", {})]
        assert len(images) == 1, f"{tag}: {len(images)} images"
        assert base64.b64decode(images[0]).startswith(b"\x89PNG\r\n\x1a\n"), tag


@pytest.fixture(scope="module")
def secrets() -> set[str]:
    """The passwords above, and what the samples really carry: each secret AUTH line's
    Base64 as sent and its decoded password (revealed here, in the test process only).
    Revealed passwords shorter than six characters (wrong, bob1) are left to their
    Base64: as plain words they turn up in ordinary text."""
    import smtplens

    frames = smtplens.load([str(SAMPLES / n) for n in INPUTS], reveal=True, progress=False)
    steps = frames.auth_steps[frames.auth_steps["meaning"].isin(
        ["password", "token", "response"])]
    wires = {str(w) for w in steps["wire"].dropna()}
    plain = {m for d in steps["decoded"].dropna() for m in re.findall(r'password "([^"]*)"', d)}
    assert "sample-password-1" in plain and "Summer2024!" in plain  # the reveal worked
    return set(PASSWORDS) | {w for w in wires if len(w) >= 8} | {p for p in plain
                                                                  if len(p) >= 6}


@pytest.mark.parametrize("name", [TOUR, AUDIT])
def test_no_output_shows_a_password(executed: dict[str, Any], secrets: set[str],
                                    name: str) -> None:
    shown = list(_text_outputs(executed[name]))
    assert shown
    for cell_id, text in shown:
        leaked = sorted(s for s in secrets if s in text)
        assert not leaked, f"{name} cell {cell_id} shows {leaked}"
