"""Findings: data records (id, severity, evidence) and the catalog of their texts."""

from smtplens.findings.catalog import CATALOG, FindingSpec, all_specs, spec
from smtplens.findings.finding import Evidence, Finding, Severity

__all__ = ["CATALOG", "Evidence", "Finding", "FindingSpec", "Severity", "all_specs", "spec"]
