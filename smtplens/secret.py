"""Secrets (passwords, tokens, challenge responses) that are redacted by default."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

REDACTED = "[redacted]"


@dataclass(frozen=True, slots=True)
class Secret:
    """A credential or credential-equivalent value.

    ``str()`` and ``repr()`` never show the value; :meth:`reveal` does, and only the
    views that were asked to (``--show-secrets``) call it. :meth:`fingerprint` gives a
    short stable hash so two sessions using the same password can be correlated
    without showing it.
    """

    value: str = field(repr=False)
    kind: str = "password"  #: "password", "token", "response", "hash", ...

    def reveal(self) -> str:
        return self.value

    def fingerprint(self) -> str:
        return hashlib.sha256(self.value.encode("utf-8", "surrogateescape")).hexdigest()[:12]

    def show(self, reveal: bool) -> str:
        """The value when ``reveal`` is true, else the redaction marker with its length."""
        return self.value if reveal else self.redacted()

    def redacted(self) -> str:
        return f"[redacted {self.kind}, {len(self.value)} chars]"

    def __str__(self) -> str:
        return self.redacted()

    def __repr__(self) -> str:
        return f"Secret({self.kind!r}, {REDACTED})"

    def __reduce__(self) -> tuple[type[Secret], tuple[str, str]]:
        # picklable for multiprocessing / Dask, explicitly
        return (Secret, (self.value, self.kind))
