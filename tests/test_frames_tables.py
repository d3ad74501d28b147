"""frames/tables.py and the Frames API: columns and dtypes as documented, the decoded
AUTH steps, redaction, one session's rows, and the Parquet and CSV round trips."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import smtplens
from smtplens.frames import TABLES, Frames, read_csv, read_parquet
from smtplens.frames.tables import COLUMNS, columns_markdown, step_meaning

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
INPUTS = ["auth-login.pcap", "postfix-debug.log", "smtplib-debug.log", "unstuffed-dot.txt",
          "missing-terminator.txt", "audit-guessing.pcap", "postfix-maillog.log"]
#: passwords the samples carry (make_pcap_samples.py, make_samples.py, make_audit_samples.py)
PASSWORDS = ["sample-password-1", "wonderland", "s3cret!", "correct-horse-9",
             "bobs-password-3", "Summer2024!"]


@pytest.fixture(scope="module")
def frames() -> Frames:
    return smtplens.load([str(SAMPLES / n) for n in INPUTS] + [str(SAMPLES / "nowhere")],
                         jobs=1)


def _dtypes(df: pd.DataFrame) -> dict[str, str]:
    return {str(k): str(v) for k, v in df.dtypes.items()}


def test_every_frame_has_the_documented_columns_and_dtypes(frames: Frames) -> None:
    empty = smtplens.frames.to_frames([])
    for table in TABLES:
        expected = {name: dtype for name, (dtype, _) in COLUMNS[table].items()}
        for f in (frames, empty):
            got = _dtypes(getattr(f, table))
            assert list(got) == list(expected), table
            for name, dtype in expected.items():
                shown = "str" if dtype == "string" else dtype  # how pandas 3 may print it
                assert got[name] in (dtype, shown), (table, name, got[name])


def test_the_readme_lists_every_column() -> None:
    assert columns_markdown() in (ROOT / "README.md").read_text()


def test_auth_steps_are_the_decoded_334_exchange(frames: Frames) -> None:
    steps = frames.auth_steps
    login = steps[steps["source"].str.endswith("auth-login.pcap")]
    assert list(login["direction"].astype(str)) == ["S", "C", "S", "C"]
    assert list(login["meaning"].astype(str)) == ["prompt", "user", "prompt", "password"]
    assert login.iloc[0]["wire"] == "VXNlciBOYW1lAA=="  # aiosmtpd's "User Name\0"
    assert login.iloc[1]["decoded"] == 'user "alice@example.test"'
    assert login.iloc[3]["wire"].startswith("[redacted password")
    assert login["valid_base64"].all()
    plain = steps[(steps["mechanism"] == "PLAIN") & steps["source"].str.endswith(
        "postfix-debug.log")]
    assert (plain["meaning"] == "password").all() and len(plain) >= 2


def test_no_secret_in_any_frame_unless_revealed(frames: Frames) -> None:
    for table in TABLES:
        text = getattr(frames, table).astype(str).to_csv()
        for secret in PASSWORDS:
            assert secret not in text, (table, secret)
    revealed = smtplens.load([str(SAMPLES / "auth-login.pcap")], reveal=True, jobs=1)
    assert "sample-password-1" in revealed.auth_steps["decoded"].str.cat()


def test_problems_is_a_frame_naming_file_and_reason(frames: Frames) -> None:
    [problem] = frames.problems.to_dict("records")
    assert problem["source"].endswith("nowhere") and problem["fatal"]


def test_one_session_and_its_rows(frames: Frames) -> None:
    sid = frames.sessions[frames.sessions["source"].str.endswith("auth-login.pcap")].iloc[0]
    view = frames.session(sid["session"], source=sid["source"])
    assert len(view.sessions) == 1 and len(view.auth_steps) == 4
    assert set(view.commands["session"]) == {sid["session"]}
    assert set(view.commands["source"]) == {sid["source"]}
    assert "auth-login.pcap" in repr(view)
    with pytest.raises(KeyError, match="no session"):
        frames.session("no-such-session")
    # pcap ids (C1, C2, ...) repeat across files: the file must be named
    if (frames.sessions["session"] == sid["session"]).sum() > 1:
        with pytest.raises(KeyError, match="several files"):
            frames.session(sid["session"])


def test_repr_of_the_whole_result(frames: Frames) -> None:
    text = repr(frames)
    assert f"{len(frames.sessions)} sessions" in text and "1 input problems" in text


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_round_trip_keeps_values_and_dtypes(frames: Frames, tmp_path: Path,
                                            kind: str) -> None:
    if kind == "parquet":
        pytest.importorskip("pyarrow")
        frames.to_parquet(tmp_path)
        again = read_parquet(tmp_path)
    else:
        frames.to_csv(tmp_path)
        again = read_csv(tmp_path)
    for table in TABLES:
        before, after = getattr(frames, table), getattr(again, table)
        assert _dtypes(after) == _dtypes(before), table
        if kind == "csv":  # CSV has one empty cell for "" and for missing: both read as NA
            before = before.copy()
            for name, (dtype, _) in COLUMNS[table].items():
                if dtype == "string":
                    before[name] = before[name].replace("", pd.NA)
        pd.testing.assert_frame_equal(after, before, check_categorical=False, obj=table)


def test_step_meanings_cover_every_mechanism_in_the_samples(frames: Frames) -> None:
    meanings = set(frames.auth_steps["meaning"].astype(str))
    assert meanings <= {"prompt", "challenge", "error", "user", "password", "token",
                        "response", "cancel", "other"}
    assert {"prompt", "user", "password"} <= meanings  # LOGIN and PLAIN in the samples


def test_step_meaning_reads_the_decoded_fields() -> None:
    from smtplens.sasl import SaslStep
    from smtplens.secret import Secret
    from smtplens.stream import Direction

    def step(direction: Direction, label: str, *names: str) -> SaslStep:
        return SaslStep(direction, "eA==", True, label,
                        tuple((n, Secret("x") if n in ("password", "token") else "x")
                              for n in names))

    assert step_meaning(step(Direction.SERVER, 'prompt "Password:"', "prompt")) == "prompt"
    assert step_meaning(step(Direction.SERVER, "challenge", "challenge")) == "challenge"
    assert step_meaning(step(Direction.CLIENT, "credentials", "user", "token")) == "token"
    assert step_meaning(step(Direction.CLIENT, "response", "user", "response")) == "response"
    assert step_meaning(step(Direction.CLIENT, "username", "user")) == "user"
    assert step_meaning(step(Direction.CLIENT, "cancel")) == "cancel"
