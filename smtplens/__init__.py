"""smtplens: rebuild SMTP sessions from captures and mail logs, and explain what went wrong."""

from __future__ import annotations

__version__ = "0.1.0"
