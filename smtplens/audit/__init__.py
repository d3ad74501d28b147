"""Audits: many files, one report (``smtplens audit``).

Sessions are reduced as they are built (:mod:`~smtplens.audit.observe`), counted
(:mod:`~smtplens.audit.tally`) and correlated across sessions and files
(:mod:`~smtplens.audit.correlate`: password guessing, broken clients, vulnerable
servers); :mod:`~smtplens.audit.run` reads the files in worker processes or on Dask,
:mod:`~smtplens.audit.state` remembers where each log was read up to, and
:mod:`~smtplens.audit.report` makes the report's data. The audit sees sessions, never
raw bytes.
"""
