"""The notebook figures: what they show, read back from their Axes, on real captures and
logs; empty, missing and hostile data."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys
from collections.abc import Callable, Sequence

import pandas as pd
import pytest

pytest.importorskip("matplotlib")

from matplotlib.axes import Axes
from matplotlib.cbook import is_math_text
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.text import Text

import smtplens
from smtplens.frames import Frames, plots, to_frames
from tests.helpers import SAMPLES, sessions_of

PLOTS: list[Callable[[Frames], Figure]] = [
    plots.sessions_timeline, plots.reply_latency, plots.findings_by_id,
    plots.auth_by_client, plots.message_sizes]
RED, AMBER, BLUE, ORANGE = "#d62728", "#ffbf00", "#1f77b4", "#ff7f0e"
HOSTILE = "$\\frac{1}{0}$\x1b[2J<script>"


@pytest.fixture(scope="module")
def guessing() -> Frames:
    return smtplens.load(str(SAMPLES / "audit-guessing.pcap"))


@pytest.fixture(scope="module")
def frames() -> Frames:
    # two captures that both have a session "C1": joins must keep the files apart
    return smtplens.load([str(SAMPLES / name) for name in
                          ("audit-guessing.pcap", "postfix-maillog.log", "auth-login.pcap")])


def png(fig: Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png")
    assert out.getvalue().startswith(b"\x89PNG")
    return out.getvalue()


def axes(fig: Figure) -> Axes:
    (ax,) = fig.axes
    return ax


def ticks(labels: Sequence[Text]) -> list[str]:
    return [t.get_text() for t in labels]


def bars(ax: Axes, label: str) -> list[float]:
    (container,) = [c for c in ax.containers if c.get_label() == label]
    return [p.get_width() for p in container]


def shown(text: str) -> str:
    """What matplotlib draws for a label that is not mathtext."""
    assert not is_math_text(text), text
    return text.replace(r"\$", "$")


# -- matplotlib stays optional --------------------------------------------------------

def test_importing_the_frames_does_not_import_matplotlib() -> None:
    code = ("import sys, smtplens, smtplens.frames, smtplens.frames.plots; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"


def test_a_missing_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch,
                                              guessing: Frames) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'smtplens\[notebook\]'"):
        plots.findings_by_id(guessing)


# -- auth_by_client --------------------------------------------------------------------

def test_auth_by_client_puts_the_password_guessers_first(guessing: Frames) -> None:
    fig = plots.auth_by_client(guessing)
    ax = axes(fig)
    clients = ticks(ax.get_yticklabels())
    failures = dict(zip(clients, bars(ax, "failure"), strict=True))
    successes = dict(zip(clients, bars(ax, "success"), strict=True))
    assert clients[0] in ("127.0.0.66", "127.0.0.77") and failures[clients[0]] == 6
    assert clients[:2] == ["127.0.0.66", "127.0.0.77"]  # 6 failures each: most tries first
    assert successes["127.0.0.66"] == 1 and successes["127.0.0.77"] == 0
    assert all(failures[f"127.0.1.{i}"] == 1 for i in range(1, 6))
    assert not any(":" in c for c in clients)  # ports dropped
    assert sum(failures.values()) + sum(successes.values()) == len(guessing.auth)
    png(fig)


def test_auth_by_client_keeps_sessions_of_different_files_apart(frames: Frames) -> None:
    ax = axes(plots.auth_by_client(frames))
    clients = ticks(ax.get_yticklabels())
    failures = dict(zip(clients, bars(ax, "failure"), strict=True))
    successes = dict(zip(clients, bars(ax, "success"), strict=True))
    assert clients[0] == "181.214.206.133" and failures[clients[0]] == 8  # postfix log
    # audit-guessing.pcap's C1 failed, auth-login.pcap's C1 (127.0.0.1) succeeded
    assert (failures["127.0.0.66"], successes["127.0.0.66"]) == (6, 1)
    assert (failures["127.0.0.1"], successes["127.0.0.1"]) == (0, 1)
    assert sum(failures.values()) + sum(successes.values()) == len(frames.auth)


def test_auth_by_client_shows_the_top_clients_only(guessing: Frames) -> None:
    fig = plots.auth_by_client(guessing, top=3)
    ax = axes(fig)
    assert len(ticks(ax.get_yticklabels())) == 3
    assert "top 3 of 7" in ax.get_title()
    with pytest.raises(ValueError):
        plots.auth_by_client(guessing, top=0)


@pytest.mark.parametrize(("client", "host"), [
    ("192.0.2.1:25", "192.0.2.1"), ("192.0.2.1", "192.0.2.1"),
    ("[2001:db8::1]:587", "2001:db8::1"), ("[2001:db8::1]", "2001:db8::1"),
    ("2001:968:9999:20:415c:cd2:da8e:d0cf", "2001:968:9999:20:415c:cd2:da8e:d0cf"),
    ("mx.example:2525", "mx.example"), ("odd:port", "odd:port"), (None, None)])
def test_client_host_drops_the_port(client: str | None, host: str | None) -> None:
    assert plots.client_host(client) == host


# -- findings_by_id --------------------------------------------------------------------

def test_findings_by_id_counts_each_id_coloured_by_severity(frames: Frames) -> None:
    ax = axes(plots.findings_by_id(frames))
    ids = ticks(ax.get_yticklabels())
    (container,) = ax.containers
    widths = [p.get_width() for p in container]
    expected = frames.findings["id"].astype(object).value_counts()
    assert dict(zip(ids, widths, strict=True)) == expected.to_dict()
    assert widths == sorted(widths, reverse=True)
    assert ids[0] == "auth.failed"
    colour = {i: to_hex(p.get_facecolor()) for i, p in
              zip(ids, container, strict=True)}
    assert colour["auth.cleartext"] == RED and colour["auth.repeated-failures"] == RED
    assert colour["auth.failed"] == AMBER and colour["log.rejected"] == BLUE
    legend = ax.get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == ["error", "warning", "info"]


def test_findings_by_id_shows_at_most_thirty(frames: Frames) -> None:
    many = pd.DataFrame({"id": pd.Categorical([f"x.id-{i:02}" for i in range(40)] * 2),
                         "severity": pd.Categorical(["info"] * 80)})
    ax = axes(plots.findings_by_id(dataclasses.replace(frames, findings=many)))
    assert len(ticks(ax.get_yticklabels())) == 30
    assert "30 most frequent of 40" in ax.get_title()


# -- reply_latency ---------------------------------------------------------------------

def _medians(frames: Frames) -> pd.Series[float]:
    c = frames.commands.dropna(subset=["latency_ms"])
    return c.groupby(c["verb"].astype(object))["latency_ms"].median().sort_values()


def _verb_label(verb: str) -> str:
    return ". (end of data)" if verb == "." else verb


def test_reply_latency_has_one_box_per_verb_by_median(frames: Frames) -> None:
    fig = plots.reply_latency(frames)
    ax = axes(fig)
    medians = _medians(frames)
    assert ticks(ax.get_xticklabels()) == [_verb_label(v) for v in medians.index]
    assert len([p for p in ax.patches if isinstance(p, PathPatch)]) == len(medians)
    latency = frames.commands["latency_ms"].dropna()
    latency = latency[latency > 0]
    assert ax.get_yscale() == ("log" if latency.max() / latency.min() > 100 else "linear")
    png(fig)


def test_reply_latency_as_violins(frames: Frames) -> None:
    fig = plots.reply_latency(frames, kind="violin")
    ax = axes(fig)
    assert ticks(ax.get_xticklabels()) == [_verb_label(v) for v in _medians(frames).index]
    bodies = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bodies) == len(_medians(frames))
    png(fig)
    with pytest.raises(ValueError):
        plots.reply_latency(frames, kind="pie")


def test_reply_latency_stays_linear_over_a_narrow_range(guessing: Frames) -> None:
    commands = guessing.commands.copy()
    commands["latency_ms"] = pd.array([1.0 + i % 5 for i in range(len(commands))],
                                      dtype="Float64")
    ax = axes(plots.reply_latency(dataclasses.replace(guessing, commands=commands)))
    assert ax.get_yscale() == "linear"


# -- message_sizes ---------------------------------------------------------------------

def _heights(ax: Axes) -> float:
    return sum(p.get_height() for p in ax.patches if isinstance(p, Rectangle))


def test_message_sizes_counts_every_message_with_a_size(frames: Frames) -> None:
    fig = plots.message_sizes(frames)
    ax = axes(fig)
    sized = int(frames.messages["size"].notna().sum())
    assert 0 < sized < len(frames.messages)  # the postfix log knows no sizes
    assert _heights(ax) == sized
    assert ax.get_xscale() == "linear"  # 61 to 1401 octets
    assert len(ax.patches) == 30
    png(fig)


def test_message_sizes_go_logarithmic_over_many_decades(frames: Frames) -> None:
    messages = frames.messages.head(5).copy()
    messages["size"] = pd.array([0, 10, 1000, 100_000, None], dtype="Int64")
    ax = axes(plots.message_sizes(dataclasses.replace(frames, messages=messages), bins=8))
    assert ax.get_xscale() == "log"
    assert _heights(ax) == 4 and len(ax.patches) == 8


# -- sessions_timeline -----------------------------------------------------------------

def _failed_auth(frames: Frames) -> set[tuple[str, str]]:
    failed = frames.auth[frames.auth["outcome"] == "failure"]
    return set(zip(failed["source"], failed["session"], strict=True))


def test_sessions_timeline_colours_the_failed_auth_sessions(frames: Frames) -> None:
    fig = plots.sessions_timeline(frames)
    ax = axes(fig)
    labels = ticks(ax.get_yticklabels())
    (container,) = ax.containers
    colour = {label: to_hex(p.get_facecolor())
              for label, p in zip(labels, container, strict=True)}
    assert len(colour) == len(frames.sessions)
    failed = _failed_auth(frames)
    expected = {f"{r.session} {r.client}" for r in frames.sessions.itertuples()
                if (r.source, r.session) in failed}
    assert {label for label, c in colour.items() if c == RED} == expected
    assert colour["C1 127.0.0.66:53325"] == RED
    assert colour["C1 127.0.0.1:38520"] == ORANGE  # cleartext AUTH that succeeded
    assert colour["C7 127.0.0.66:45783"] == ORANGE  # the guess that worked
    assert colour["C19 127.0.0.88:59143"] == AMBER  # unstuffed dot
    legend = ax.get_legend()
    assert legend is not None
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts[0] == f"auth failed ({len(expected)})"
    png(fig)


def test_sessions_timeline_by_origin(frames: Frames) -> None:
    ax = axes(plots.sessions_timeline(frames, by="origin"))
    legend = ax.get_legend()
    assert legend is not None
    counts = frames.sessions["origin"].astype(object).value_counts()
    assert sorted(t.get_text() for t in legend.get_texts()) == sorted(
        f"{origin} ({n})" for origin, n in counts.items())
    with pytest.raises(ValueError):
        plots.sessions_timeline(frames, by="colour")


def _stacked(ax: Axes) -> dict[str, float]:
    out: dict[str, float] = {}
    for p in ax.patches:
        assert isinstance(p, Rectangle)
        out[to_hex(p.get_facecolor())] = out.get(to_hex(p.get_facecolor()), 0) + p.get_height()
    return out


def test_sessions_timeline_stacks_a_histogram_for_many_sessions(guessing: Frames) -> None:
    # 15 copies of the capture: 315 sessions, more than the 300 bars drawn one by one
    def copies(df: pd.DataFrame) -> pd.DataFrame:
        parts = [df.assign(session=df["session"] + f"-{k}") for k in range(15)]
        return pd.concat(parts, ignore_index=True)

    many = dataclasses.replace(guessing, sessions=copies(guessing.sessions),
                               auth=copies(guessing.auth), findings=copies(guessing.findings))
    fig = plots.sessions_timeline(many)
    ax = axes(fig)
    heights = _stacked(ax)
    assert sum(heights.values()) == 315
    assert heights[RED] == 15 * len(_failed_auth(guessing))
    assert ax.get_ylabel() == "sessions started"
    png(fig)
    # the same with a lower threshold, on the capture itself
    few = _stacked(axes(plots.sessions_timeline(guessing, max_bars=10)))
    assert sum(few.values()) == len(guessing.sessions) and few[RED] == 17


# -- empty, missing and hostile data ----------------------------------------------------

@pytest.mark.parametrize("plot", PLOTS, ids=lambda p: p.__name__)
def test_empty_frames_draw_no_data(plot: Callable[[Frames], Figure]) -> None:
    fig = plot(to_frames([]))
    assert "no data" in [t.get_text() for t in axes(fig).texts]
    png(fig)


def test_missing_values_are_left_out_or_named(frames: Frames) -> None:
    sessions = frames.sessions.copy()
    sessions.loc[:4, "start"] = pd.NaT
    sessions.loc[5:9, "end"] = pd.NaT
    sessions.loc[10:, "client"] = pd.NA
    commands = frames.commands.copy()
    commands.loc[:10, "verb"] = pd.NA
    commands.loc[11:20, "latency_ms"] = pd.NA
    auth = frames.auth.copy()
    auth.loc[:2, "outcome"] = pd.NA
    findings = frames.findings.copy()
    findings.loc[:5, "severity"] = pd.NA
    findings.loc[6:8, "id"] = pd.NA
    messages = frames.messages.copy()
    messages["size"] = pd.NA
    holey = dataclasses.replace(frames, sessions=sessions, commands=commands, auth=auth,
                                findings=findings, messages=messages)
    timeline = axes(plots.sessions_timeline(holey))
    assert len(timeline.containers[0]) == len(sessions) - 5  # no start: not placed
    assert "(none)" in ticks(axes(plots.reply_latency(holey)).get_xticklabels())
    by_client = axes(plots.auth_by_client(holey))
    assert sum(bars(by_client, "other")) == 3
    assert "(unknown client)" in ticks(by_client.get_yticklabels())
    by_id = axes(plots.findings_by_id(holey))
    assert sum(p.get_width() for p in by_id.containers[0]) == len(findings) - 3
    assert "no data" in [t.get_text() for t in axes(plots.message_sizes(holey)).texts]
    for plot in PLOTS:
        png(plot(holey))


def _hostile_frames() -> Frames:
    sessions = sessions_of(f"""
        1795867193.0 S: 220 mx.example.test ESMTP
        1795867193.1 C: EHLO {HOSTILE}
        1795867193.2 S: 250-mx.example.test
        1795867193.2 S: 250 AUTH PLAIN
        1795867193.3 C: {HOSTILE}
        1795867193.4 S: 500 5.5.2 unknown command
        1795867193.5 C: X\udcffVERB
        1795867193.6 S: 500 5.5.2 unknown command
        1795867193.7 C: AUTH PLAIN AGFsaWNlAHdyb25n
        1795867193.8 S: 535 5.7.8 no
        1795867193.9 C: QUIT
        1795867194.0 S: 221 bye
        """)
    frames = to_frames(sessions)
    frames.sessions["client"] = pd.array([f"{HOSTILE}\n:25"], dtype=pd.StringDtype("python"))
    ids = [HOSTILE, *frames.findings["id"].astype(object)[1:]]
    frames.findings["id"] = pd.Categorical(ids)
    return frames


def test_hostile_wire_strings_are_shown_literally() -> None:
    frames = _hostile_frames()
    verbs = set(frames.commands["verb"].astype(object))
    (verb,) = [v for v in verbs if v.startswith("$")]
    assert "\x1b" in verb
    labels: list[str] = []
    for plot in PLOTS:
        fig = plot(frames)
        png(fig)
        ax = axes(fig)
        labels += ticks(ax.get_xticklabels()) + ticks(ax.get_yticklabels())
    drawn = [shown(label) for label in labels]  # no label is mathtext
    assert not any("\x1b" in d or "\n" in d or "\udcff" in d for d in drawn)
    assert verb.replace("\x1b", "\\x1b") in drawn  # reply_latency's verb, dollars and all
    assert "X\\xffVERB" in drawn  # a non-UTF-8 byte, as an escape
    assert HOSTILE.replace("\x1b", "\\x1b") in drawn  # findings_by_id's id
    assert any(d.startswith(HOSTILE.replace("\x1b", "\\x1b") + "\\n") for d in drawn)  # client


def test_frames_without_a_source_column_are_matched_by_order(frames: Frames) -> None:
    # hand-made or older frames: a repeated session id goes to the session in row order
    bare = dataclasses.replace(frames, auth=frames.auth.drop(columns="source"))
    ax = axes(plots.auth_by_client(bare))
    clients = ticks(ax.get_yticklabels())
    failures = dict(zip(clients, bars(ax, "failure"), strict=True))
    successes = dict(zip(clients, bars(ax, "success"), strict=True))
    assert (failures["127.0.0.66"], successes["127.0.0.66"]) == (6, 1)
    assert (failures["127.0.0.1"], successes["127.0.0.1"]) == (0, 1)


def test_figures_draw_in_a_worker_thread(guessing: Frames) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        images = list(pool.map(lambda plot: png(plot(guessing)), PLOTS))
    assert len(images) == len(PLOTS)
