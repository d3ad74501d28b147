"""Views: plain functions from smtplens data to text for one medium.

Wire strings are escaped here, once per medium: for HTML by
:func:`smtplens.views.html.esc`, the only escaping helper the HTML pages use.
"""

from __future__ import annotations

from smtplens.views.audit_page import render_audit_page

__all__ = ["render_audit_page"]
