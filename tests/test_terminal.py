"""Terminal escape injection (issue 8): no control character from the wire or a file
name reaches the terminal raw, in any text view or message."""

from __future__ import annotations

import io
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.text import Text
from typer.testing import CliRunner

from smtplens.cli import app
from smtplens.cli.terminal import SafeConsole, safe_text
from smtplens.textutil import unsafe_at, visible

runner = CliRunner()
CLEAR = "\\x1b[2J"  # erase the screen (C= escapes)
OSC52 = "\\x1b]52;c;cGF5bG9hZA==\\x1b\\\\"  # clipboard write, ended by ESC \
TITLE = "\\x1b]0;pwned\\x07"  # window title, ended by BEL
C1_CSI = "\\xc2\\x9b2J"  # U+009B, the one-character CSI, as UTF-8
HOSTILE = (CLEAR, OSC52, TITLE, C1_CSI)
RAW = ("\x1b", "\x9b", "\x07")


def hostile_transcript(tmp_path: Path, name: str = "hostile.txt") -> Path:
    a, b, c, d = HOSTILE
    lines = [
        f"S= 220 mx{a} ESMTP{b}\\r\\n",
        f"C= EHLO client{c}\\r\\n",
        f"S= 250-mx{d}\\r\\n",
        f"S= 250-X-CAP{a}\\r\\n",
        "S: 250 AUTH PLAIN LOGIN",
        "C: AUTH LOGIN",
        "S: 334 VXNlcm5hbWU6",
        "C: G1sySmFsaWNl",  # "\x1b[2Jalice"
        f"S= 535 5.7.8 no{b}\\r\\n",
        f"C= MAIL FROM:<a{a}@example.org>\\r\\n",
        "S: 250 ok",
        f"C= RCPT TO:<b{d}@example.com>\\r\\n",
        f"S= 550 5.1.1 unknown user{c}\\r\\n",
        "C: RCPT TO:<ok@example.com>",
        "S: 250 ok",
        "C: DATA",
        "S: 354 go",
        f"C= Subject: hi{a}{d}\\r\\n",
        "C: MIME-Version: 1.0",
        'C: Content-Type: multipart/mixed; boundary="b"',
        "C:",
        "C: --b",
        "C: Content-Type: text/plain",
        "C:",
        "C: body",
        "C: --b",
        "C: Content-Type: application/octet-stream",
        f'C= Content-Disposition: attachment; filename="x{b}{c}.exe"\\r\\n',
        "C:",
        "C: AAAA",
        "C: --b--",
        "C: .",
        f"S= 250 queued{a}\\r\\n",
        f"C= XYZZY{b}\\r\\n",
        f"S= 500 what{b}\\r\\n",
    ]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def assert_no_raw_controls(text: str) -> None:
    for ch in RAW:
        assert ch not in text, f"raw {ch!r} in output: {text[max(0, text.find(ch) - 40):][:80]!r}"


def test_analyze_text_escapes_every_wire_string(tmp_path: Path) -> None:
    path = hostile_transcript(tmp_path)
    result = runner.invoke(app, ["analyze", "--fail-on", "never", str(path)])
    assert result.exit_code == 0, result.output
    assert_no_raw_controls(result.output)
    # made visible, not dropped
    assert "\\x1b[2J" in result.output and "\\x9b" in result.output


def test_show_escapes_every_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["show", str(hostile_transcript(tmp_path))])
    assert result.exit_code == 0, result.output
    assert_no_raw_controls(result.output)
    assert "\\x1b]52;c;" in result.output


def test_csv_escapes_controls(tmp_path: Path) -> None:
    result = runner.invoke(app, ["analyze", "-f", "csv", "--fail-on", "never",
                                 str(hostile_transcript(tmp_path))])
    assert_no_raw_controls(result.output)


def test_json_has_no_raw_controls(tmp_path: Path) -> None:
    for fmt in ("json", "jsonl"):
        result = runner.invoke(app, ["analyze", "-f", fmt, "--fail-on", "never",
                                     str(hostile_transcript(tmp_path))])
        assert_no_raw_controls(result.output)


def test_file_names_in_messages_are_escaped(tmp_path: Path) -> None:
    bad = tmp_path / "mail\x1b]0;owned\x07\x1b[2J.log"
    bad.write_bytes(b"\x00\x01 nothing SMTP here\n")
    missing = str(tmp_path / "gone\x1b[2J.pcap")
    for target in (str(bad), missing):
        result = runner.invoke(app, ["analyze", target])
        assert result.exit_code == 2
        assert_no_raw_controls(result.output)
        assert "\\x1b" in result.output


def test_safe_text_keeps_styles_in_place() -> None:
    t = Text("ok ")
    t.append("bad\x1b[2J", "red")
    t.append(" end", "green")
    out = safe_text(t)
    assert out.plain == "ok bad\\x1b[2J end"
    red = [out.plain[s.start:s.end] for s in out.spans if s.style == "red"]
    green = [out.plain[s.start:s.end] for s in out.spans if s.style == "green"]
    assert red == ["bad\\x1b[2J"] and green == [" end"]


def test_visible_keeps_tab_and_newline() -> None:
    assert visible("a\tb\nc") == "a\tb\nc"
    assert visible("\x1b\x9b\u202e\x7f\r") == "\\x1b\\x9b\\u202e\\x7f\\x0d"


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.one_of(st.text(max_size=8),
                          st.sampled_from(["\x1b", "\x9b", "\x07", "\r", "\u202e", "\x00"])),
                max_size=12))
def test_console_never_prints_an_unsafe_character(parts: list[str]) -> None:
    text = "".join(parts)
    out = io.StringIO()
    console = SafeConsole(file=out, color_system=None, width=300)
    console.print(text, markup=False)
    console.print(Text(text, "bold") + Text(text))
    assert not unsafe_at(out.getvalue().replace("\n", ""))


def test_plain_writes_are_what_rich_writes(tmp_path: Path) -> None:
    # on a file or pipe the text views skip rich's renderer; the bytes must not change
    # (a recording console always goes through the renderer)
    from rich.console import Console

    from smtplens.analysis import analyze_file
    from smtplens.cli.text import print_conversation, print_session

    sessions = list(analyze_file(str(hostile_transcript(tmp_path))))
    sessions += list(analyze_file("samples/auth-login.txt"))

    def render(record: bool) -> str:
        out = io.StringIO()
        console = Console(file=out, highlight=False, soft_wrap=True, record=record)
        for s in sessions:
            print_session(console, s, False)
            print_conversation(console, s, True)
        return out.getvalue()

    assert render(record=False) == render(record=True)


# no TAB: rich expands it to spaces on a console, a file keeps it as it came
_WIRE = st.text(st.sampled_from("ab .:<>@\r\x00\x07\x08\x0b\x0c\x1b\x7f\x9b\u202e→é"),
                max_size=12)


@settings(max_examples=60, deadline=None)
@given(helo=_WIRE, reply=_WIRE, subject=_WIRE, user=_WIRE)
def test_plain_writing_is_what_rich_writes(helo: str, reply: str, subject: str,
                                           user: str) -> None:
    """A file or pipe gets the views built as Plain text; a console rich renders gets
    rich Text: the characters written are the same, hostile ones included."""
    import base64

    from rich.console import Console

    from smtplens.cli.terminal import writes_plain
    from smtplens.cli.text import print_conversation, print_session
    from tests.helpers import sessions_of

    def esc(text: str) -> str:  # the transcript's C=/S= escapes of any character
        return "".join(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else ch for ch in text)

    login = base64.b64encode(user.encode("utf-8", "surrogatepass")).decode()
    sessions = sessions_of(f"""
        S: 220 mx ESMTP
        C= EHLO {esc(helo)}\\r\\n
        S= 250-mx {esc(reply)}\\r\\n
        S: 250 AUTH LOGIN
        C: AUTH LOGIN
        S: 334 VXNlcm5hbWU6
        C: {login}
        S= 535 5.7.8 {esc(reply)}\\r\\n
        C: MAIL FROM:<a@b>
        S: 250 ok
        C: RCPT TO:<c@d>
        S: 250 ok
        C: DATA
        S: 354 go
        C= Subject: {esc(subject)}\\r\\n
        C:
        C: body
        C: .
        S: 250 ok
        C: QUIT
        S: 221 bye
    """)
    outs = []
    for record in (False, True):
        file = io.StringIO()
        console = Console(file=file, color_system=None, soft_wrap=True, highlight=False,
                          record=record, width=100)
        assert writes_plain(console) is not record
        for s in sessions:
            print_session(console, s, False)
            print_conversation(console, s, False)
        outs.append(file.getvalue())
    assert outs[0] == outs[1]
    assert not any(ch in outs[0] for ch in "\x1b\x9b\u202e\x00\x7f")
