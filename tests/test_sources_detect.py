"""Format detection on the corpus: each folder is read as its own format, and no file of
another folder is claimed by it."""

from __future__ import annotations

from pathlib import Path

import pytest

from smtplens.errors import UnknownFormatError
from smtplens.sources import detect_text_format

FOLDERS = {"swaks": "swaks", "exim-client": "exim-client", "exim-debug": "exim-debug",
           "curl": "curl"}
OTHERS = ("swaks", "exim-client", "exim-debug", "curl", "exchange")


@pytest.mark.parametrize(("folder", "fmt"), sorted(FOLDERS.items()))
def test_each_folder_is_its_own_format(folder: str, fmt: str, corpus: Path) -> None:
    for path in sorted((corpus / "logs" / folder).iterdir()):
        assert detect_text_format(str(path)).name == fmt, path
    for other in OTHERS:
        if other == folder:
            continue
        for path in sorted((corpus / "logs" / other).iterdir()):
            try:
                chosen = detect_text_format(str(path)).name
            except UnknownFormatError:  # no format at all is fine here
                continue
            assert chosen != fmt, path
