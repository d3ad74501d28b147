"""Machine formats written as sessions arrive (memory stays flat whatever the format)."""

from __future__ import annotations

import io
import json

from smtplens.report import FindingsCsv, JsonDocument, findings_csv, session_dict
from tests.helpers import SAMPLES, sessions_of


def test_the_streamed_json_document_is_the_whole_document() -> None:
    sessions = sessions_of((SAMPLES / "auth-login.txt").read_text())
    sessions += sessions_of((SAMPLES / "smuggling.txt").read_text())
    out = io.StringIO()
    doc = JsonDocument(out, {"version": "x", "files": ["a", "b"]})
    for s in sessions:
        doc.add(session_dict(s))
    doc.close({"problems": ["p: q"], "summary": {"sessions": 2}})
    parsed = json.loads(out.getvalue())
    assert parsed == {"version": "x", "files": ["a", "b"],
                      "sessions": [json.loads(json.dumps(session_dict(s))) for s in sessions],
                      "problems": ["p: q"], "summary": {"sessions": 2}}


def test_an_empty_json_document_is_valid() -> None:
    out = io.StringIO()
    JsonDocument(out, {"version": "x"}).close({"problems": []})
    assert json.loads(out.getvalue()) == {"version": "x", "sessions": [], "problems": []}


def test_csv_rows_stream_one_session_at_a_time() -> None:
    sessions = sessions_of((SAMPLES / "smuggling.txt").read_text())
    out = io.StringIO()
    writer = FindingsCsv(out)
    header = out.getvalue()
    assert header.startswith("source,session,")
    for s in sessions:
        writer.add(s)
    assert out.getvalue() == findings_csv(sessions)


def test_a_renderer_names_a_view_it_has() -> None:
    import pytest

    from smtplens.cli.render import VIEWS, Renderer

    assert Renderer("jsonl").view in VIEWS
    with pytest.raises(ValueError, match="unknown view 'yaml'"):
        Renderer("yaml")
