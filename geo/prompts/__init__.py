"""Dynamic risk prompts (动态风险研判提示): what changed since the build before and what needs attention.

Rules are data (`geo/data/alerts.toml`, `rules.load_rules`); `evaluate` finds the conditions that hold in a
build; `ledger` reconciles them with the previous build's prompts, stores them with the snapshot and lists
them (`select`, `records`). See docs/alerts.md.
"""

from geo.prompts.ledger import archive, read_build, read_prompts, records, select, stage
from geo.prompts.rules import SEVERITIES, AlertRules, load_rules

__all__ = [
    "SEVERITIES",
    "AlertRules",
    "archive",
    "load_rules",
    "read_build",
    "read_prompts",
    "records",
    "select",
    "stage",
]
