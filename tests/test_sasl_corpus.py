"""Every AUTH exchange of the real-world transcripts in ../shared/corpus (curl's and
swaks' test suites), replayed through SaslExchange. Skipped where the corpus is absent."""

from __future__ import annotations

import base64
import hmac
import re
from pathlib import Path
from urllib.parse import unquote_to_bytes

import pytest

from smtplens.sasl import SaslExchange, SaslStep
from smtplens.secret import Secret

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "logs"
pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(), reason="shared corpus (../shared/corpus) not present"
)

Calls = list[tuple[str, str]]


def replay(mechanism: str, calls: Calls) -> tuple[SaslExchange, list[SaslStep]]:
    ex = SaslExchange(mechanism)
    return ex, [getattr(ex, method)(text) for method, text in calls]


def assert_sound(name: str, steps: list[SaslStep], *secrets: str) -> None:
    for step in steps:
        assert step.label != "undecoded", (name, step.error)
        for secret in secrets:
            for shown in (repr(step), step.describe(), step.describe(verbose=True)):
                assert secret not in shown, (name, step)


# -- swaks ------------------------------------------------------------------------------

_SWAKS_LINE = re.compile(r"^(<-  |<~  |<\*\* | -> | ~> )(.*)$")


def swaks_exchanges() -> list[tuple[str, str, Calls]]:
    """(file, mechanism, calls) for every AUTH in the swaks transcripts."""
    found = []
    for path in sorted((CORPUS / "swaks").glob("*.stdout")):
        calls: Calls | None = None
        mechanism = ""
        for line in path.read_text("utf-8", "replace").splitlines():
            m = _SWAKS_LINE.match(line)
            if m is None:
                continue
            client, text = m.group(1).strip() in ("->", "~>"), m.group(2)
            if client and text.startswith("AUTH "):
                _, mechanism, *rest = text.split(" ", 2)
                calls = [("initial_response", rest[0])] if rest else []
            elif calls is not None and client:
                calls.append(("client", text))
            elif calls is not None and text.startswith("334 "):
                calls.append(("server", text[4:]))
            elif calls is not None:
                found.append((path.name, mechanism, calls))
                calls = None
    return found


def test_swaks_transcripts() -> None:
    exchanges = swaks_exchanges()
    assert len(exchanges) >= 20
    users = set()
    for name, mechanism, calls in exchanges:
        ex, steps = replay(mechanism, calls)
        assert_sound(name, steps, "validpassword", "PASSWORD")
        for step in steps:
            # "334 NTLM supported" and swaks --auth-plaintext lines are not Base64
            assert not step.error or not step.valid_base64, (name, step)
        users.add(ex.user)
    # None: the --auth-plaintext transcripts, and the unknown CUSTOM-PLAIN mechanism
    assert users == {"validuser", "USERNAME", None}


@pytest.mark.parametrize(("name", "algorithm"), [("00602", "md5"), ("00603", "sha1")])
def test_swaks_cram_responses_are_genuine(name: str, algorithm: str) -> None:
    [(_, mechanism, calls)] = [e for e in swaks_exchanges() if e[0] == f"{name}.stdout"]
    ex, (challenge, response) = replay(mechanism, calls)
    digest = dict(response.fields)["response"]
    assert isinstance(digest, Secret) and ex.user == "validuser"
    text = dict(challenge.fields)["challenge"]
    assert isinstance(text, str) and text.startswith("<") and text.endswith("@node.example.com>")
    assert digest.value == hmac.new(b"validpassword", text.encode(), algorithm).hexdigest()


def test_swaks_ntlm() -> None:
    [(_, mechanism, calls)] = [e for e in swaks_exchanges() if e[0] == "00605.stdout"]
    ex, steps = replay(mechanism, calls)
    assert [s.label for s in steps] == [
        "not Base64",  # "334 NTLM supported"
        "NTLM type 1 (negotiate)",
        "NTLM type 2 (challenge)",
        "NTLM type 3 (authenticate)",
    ]
    assert steps[3].describe() == (
        'NTLM type 3: user "validuser", workstation "validuser", '
        "NTLMv1 response [redacted response, 48 chars]"
    )
    assert ex.user == "validuser" and not ex.secrets_exposed


# -- curl -------------------------------------------------------------------------------

_REPLY = re.compile(r'^REPLY (?:"([^"]*)"|(\S*)) (\d{3}) ?(.*)$')
_B64_MACRO = re.compile(r"%b64\[(.*?)\]b64%")


def expand(text: str) -> str:
    """curl's test macros: ``%b64[...]b64%`` with ``%XX`` escapes, ``%SMTPPORT``."""

    def b64(m: re.Match[str]) -> str:
        raw = unquote_to_bytes(m.group(1).replace("%SMTPPORT", "3025"))
        return base64.b64encode(raw).decode()

    return _B64_MACRO.sub(b64, text)


def section(text: str, tag: str) -> list[str]:
    m = re.search(rf"<{tag}[^>]*>\n(.*?)</{tag}>", text, re.DOTALL)
    return m.group(1).split("\n") if m else []


def curl_exchanges(path: Path) -> list[tuple[str, Calls, str]]:
    """(mechanism, calls, final reply code) for each AUTH of one curl SMTP test: the
    client lines come from <protocol>, the server's answers from <servercmd>."""
    text = path.read_text("utf-8", "replace")
    replies: dict[str, tuple[str, str]] = {}
    for line in section(text, "servercmd"):
        m = _REPLY.match(expand(line))  # curl expands the macros first, too
        if m:
            key = m.group(1) if m.group(1) is not None else m.group(2)
            replies.setdefault(key, (m.group(3), m.group(4)))
    found: list[tuple[str, Calls, str]] = []
    current: tuple[str, Calls] | None = None
    for line in map(expand, section(text, "protocol")):
        if line.startswith("AUTH "):
            _, mechanism, *rest = line.split(" ", 2)
            current = (mechanism, [("initial_response", rest[0])] if rest else [])
            reply = replies.get(f"AUTH {mechanism}", replies.get("AUTH"))
        elif current is not None:
            current[1].append(("client", line))
            reply = replies.get(line)
        else:
            continue
        if reply is not None and reply[0] == "334":
            current[1].append(("server", reply[1]))
        else:
            found.append((current[0], current[1], reply[0] if reply else ""))
            current = None
    return found


# test -> (mechanism, user, authzid, cancelled) of each AUTH, in order
CURL_EXPECTED = {
    "test903": [("PLAIN", "user", None, False)],
    "test904": [("LOGIN", "user", None, False)],
    "test905": [("CRAM-MD5", "user", None, False)],
    "test906": [("NTLM", "testuser", None, False)],
    "test907": [("DIGEST-MD5", 'us"er', None, False)],
    "test908": [("XOAUTH2", "user", None, False)],
    "test919": [("PLAIN", "user", None, False)],
    "test920": [("LOGIN", "user", None, False)],
    "test921": [("NTLM", "testuser", None, False)],
    "test922": [("XOAUTH2", "user", None, False)],
    "test932": [("CRAM-MD5", None, None, True)],
    "test933": [("NTLM", None, None, True)],
    "test936": [("NTLM", None, None, True), ("PLAIN", "user", None, False)],
    "test937": [("DIGEST-MD5", None, None, True), ("PLAIN", "user", None, False)],
    "test942": [("EXTERNAL", None, "user", False)],
    "test943": [("EXTERNAL", None, None, False)],
    "test946": [("OAUTHBEARER", "user", "user", False)],
    "test949": [("OAUTHBEARER", "user", "user", False)],
    "test953": [("PLAIN", "kurt", "ursel", False)],
}


def curl_tests() -> list[Path]:
    folder = CORPUS / "curl"
    return sorted(p for p in folder.glob("test9*") if "AUTH" in p.read_text("utf-8", "replace"))


def test_curl_sasl_tests() -> None:
    seen = {}
    for path in curl_tests():
        summary = []
        for mechanism, calls, _ in curl_exchanges(path):
            ex, steps = replay(mechanism, calls)
            assert_sound(path.name, steps, "secret", "mF_9.B5f-4.1JqM", "xipj3plmq")
            for step in steps:
                # the only errors: "334 PLAIN supported"-style texts and "334 Rubbish"
                assert step.valid_base64 or step.direction.name == "SERVER", (path.name, step)
                assert not step.error or not step.valid_base64, (path.name, step)
            summary.append((ex.mechanism, ex.user, ex.authzid, ex.cancelled))
        seen[path.name] = summary
    assert len(seen) >= 25
    for name, expected in CURL_EXPECTED.items():
        assert seen[name] == expected, name


def test_curl_oauthbearer_failure_continuation() -> None:
    # curl test 948: the JSON error comes as a 334 and the client answers ^A
    [(mechanism, calls, code)] = curl_exchanges(CORPUS / "curl" / "test948")
    ex, steps = replay(mechanism, calls)
    assert [s.label for s in steps] == [
        "not Base64",  # "334 OAUTHBEARER supported"
        "credentials",
        "error (JSON)",
        "kvsep (after error)",
    ]
    assert dict(steps[2].fields)["status"] == "invalid_token"
    assert code == "535" and ex.secrets_exposed
