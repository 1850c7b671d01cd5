"""The ingest report, one line per problem, and the result of one ingest.

The report has one line per problem: ``line`` (the CSV line in the file, the header line 1 unless a title
precedes it; the sheet row, or the feature number in a vector file), ``id``, ``field``, ``reason``,
``severity`` (rejected | warning).
A row with any "rejected" line is not stored; "warning" rows are stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

REPORT_COLUMNS = ["line", "id", "field", "reason", "severity"]


class Report:
    """Collects problems per row; a row with any rejection is dropped."""

    def __init__(self, positions: np.ndarray, ids: np.ndarray):
        self.positions = positions
        self.ids = ids
        self.rejected = np.zeros(len(positions), dtype=bool)
        self.rows: list[pd.DataFrame] = []

    def add(self, mask: np.ndarray, fieldname: str, reason, severity: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        reasons = reason[mask] if isinstance(reason, np.ndarray | pd.Series | list) else reason
        if isinstance(reasons, pd.Series):
            reasons = reasons.to_numpy()
        self.rows.append(
            pd.DataFrame(
                {
                    "line": self.positions[mask],
                    "id": self.ids[mask],
                    "field": fieldname,
                    "reason": reasons,
                    "severity": severity,
                }
            )
        )
        if severity == "rejected":
            self.rejected |= mask

    def reject(self, mask: np.ndarray, fieldname: str, reason) -> None:
        self.add(mask & ~self.rejected, fieldname, reason, "rejected")

    def warn(self, mask: np.ndarray, fieldname: str, reason) -> None:
        self.add(mask & ~self.rejected, fieldname, reason, "warning")

    def frame(self) -> pd.DataFrame:
        if not self.rows:
            return pd.DataFrame(columns=REPORT_COLUMNS)
        out = pd.concat(self.rows, ignore_index=True)
        return out.sort_values(["line", "severity"], kind="stable").reset_index(drop=True)[REPORT_COLUMNS]


@dataclass
class IngestResult:
    path: Path
    kind: str
    rows: int
    accepted: int
    rejected: int
    warnings: int
    inserted: int
    updated: int
    report: pd.DataFrame
    report_path: Path | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        head = (
            f"{self.path.name}: {self.rows} rows read, {self.accepted} accepted "
            f"({self.inserted} new, {self.updated} replaced), {self.rejected} rejected, "
            f"{self.warnings} rows with warnings"
        )
        lines = [head, *self.notes]
        if len(self.report):
            counts = self.report.groupby(["severity", "field"]).size()
            lines += [f"  {sev:8s} {fld:22s} {n}" for (sev, fld), n in counts.items()]
        if self.report_path:
            lines.append(f"report: {self.report_path}")
        return "\n".join(lines)


def write_report(report: pd.DataFrame, path: Path) -> None:
    """The report as CSV: UTF-8 with a BOM (Excel opens Chinese text correctly), formulas neutralised (ids and
    reasons quote what was filed: `geo.csvsafe`)."""
    from geo.csvsafe import write_csv

    path.parent.mkdir(parents=True, exist_ok=True)
    write_csv(report, path)
