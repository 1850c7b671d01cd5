"""One file on its way into the store (`Batch`), and the parsing that makes it: columns matched to the data
contract, every value parsed, unparseable and missing values and repeated ids listed in the report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from geo.catalogue import Catalogue
from geo.crs import CrsSpec
from geo.errors import InputRejected
from geo.fields import TYPE_HINTS, Contract, Field, match_columns, parse_column, parsers
from geo.ingest.report import Report
from geo.join import Hierarchy
from geo.readers import RawTable

CRITICAL = {"id", "enterprise_id", "domain", "lon", "lat", "type", "found_date"}


@dataclass(frozen=True)
class IngestOptions:
    crs: str | None = None
    sheet: str | None = None
    tolerance_m: float = 1000.0
    #: Enterprises given as points go through coordinate arrays (`geo.ingest.locate`); False sends them through
    #: point geometries like every other record, the straightforward path the tests compare the fast one with.
    point_arrays: bool = True


@dataclass(frozen=True)
class Batch:
    """One file on its way into the store, handed from step to step.

    Frozen: a step that changes what travels on returns a new batch (`dataclasses.replace`). The report is
    the one part every step adds to (a row with any rejection in it goes no further)."""

    raw: RawTable
    contract: Contract
    mapping: dict[str, str]  # canonical field name -> the file's column
    values: pd.DataFrame  # parsed values, and the file's other columns as text; one row per row of `raw`
    report: Report
    options: IngestOptions
    catalogue: Catalogue
    spec: CrsSpec | None = None  # the source CRS, for a kind with a location
    hierarchy: Hierarchy | None = None  # the store's boundaries, for a kind with a location

    @property
    def kind(self) -> str:
        return self.contract.kind

    @property
    def path(self) -> Path:
        return self.raw.path

    @property
    def crs_and_boundaries(self) -> tuple[CrsSpec, Hierarchy]:
        if self.spec is None or self.hierarchy is None:
            raise RuntimeError(f"{self.kind} records are not located: the batch has no CRS or boundaries")
        return self.spec, self.hierarchy


def parse(raw: RawTable, contract: Contract, catalogue: Catalogue, options: IngestOptions) -> Batch:
    """Match the file's columns to the contract and parse every value; the problems go into the report."""
    mapping = match_columns(list(raw.frame.columns), contract)
    _require_columns(raw, contract, mapping)
    key_col = mapping.get(contract.key)
    ids = raw.frame[key_col].to_numpy(dtype=object) if key_col else np.full(len(raw.frame), "", dtype=object)
    if contract.kind == "events":
        ids = np.where(ids == "", raw.frame[mapping["enterprise_id"]].to_numpy(dtype=object), ids)
    rep = Report(raw.positions, ids)
    parse_as = parsers(catalogue)
    values = pd.DataFrame(index=raw.frame.index)
    for f in contract.fields:
        if f.name not in mapping:
            continue
        text = raw.frame[mapping[f.name]]
        parsed, bad = parse_column(parse_as[f.type], text)
        values[f.name] = parsed
        if bad.any():
            _report_bad_values(rep, f, text, bad, contract.kind, catalogue)
    for f in contract.fields:
        if f.required and f.name in values:
            rep.reject(isnull(values[f.name]), f.name, f"missing {f.name} ({f.aliases[0] if f.aliases else f.name})")
    canonical = set(mapping.values())
    for col in raw.frame.columns:
        if col not in canonical:
            name = col if col not in values.columns else f"{col}_src"
            values[name] = raw.frame[col].where(raw.frame[col] != "", None)
    if contract.kind != "events":
        reject_duplicates(values, rep, contract.key)
    return Batch(raw, contract, mapping, values, rep, options, catalogue)


def _require_columns(raw: RawTable, contract: Contract, mapping: dict[str, str]) -> None:
    missing = [f.name for f in contract.fields if f.required and f.name not in mapping]
    if not missing:
        return
    fields = [contract.field(m) for m in missing]
    accepted = "; ".join(f"{f.name}: {', '.join((f.name, *f.aliases))}" for f in fields)
    title_rows = any(str(c).startswith("Unnamed") for c in raw.frame.columns)
    raise InputRejected(
        f"{raw.path}: no column for required field(s) {', '.join(missing)} (accepted names — {accepted}); "
        f"columns found: {', '.join(raw.frame.columns)}"
        + ("; the header must be the first row (remove title rows above it)" if title_rows else "")
    )


def _report_bad_values(
    rep: Report, f: Field, text: pd.Series, bad: np.ndarray, kind: str, catalogue: Catalogue
) -> None:
    """Unparseable values: rejected for the fields a record cannot do without, else a warning."""
    shown = text[bad].str.slice(0, 40)  # only the bad values: cheap when there are few
    hint = TYPE_HINTS.get(f.type, "")
    if f.name == "domain":
        hint = "one of " + ", ".join(f"{d.code} ({d.zh})" for d in catalogue.domains)
    elif f.name == "type" and kind == "hazards":
        hint = "one of " + ", ".join(f"{t.code} ({t.zh})" for t in catalogue.hazard_types)
    if f.name in ("domain", "type"):
        reason = "unknown value '" + shown + f"'; expected {hint}"
    else:
        reason = "'" + shown + f"' is not {hint}"
    reasons = np.empty(len(text), dtype=object)
    if f.name in CRITICAL:
        reasons[bad] = reason.to_numpy()
        rep.reject(bad, f.name, reasons)
    else:
        reasons[bad] = (reason + "; value ignored").to_numpy()
        rep.warn(bad, f.name, reasons)


def isnull(series: pd.Series) -> np.ndarray:
    missing = series.isna().to_numpy().copy()
    if series.dtype == "str" or series.dtype == object:
        missing |= series.eq("").to_numpy(dtype=bool, na_value=False)
    return missing


def reject_duplicates(values: pd.DataFrame, rep: Report, key: str) -> None:
    """Within a file the first usable row with an id wins; later rows with the same id are rejected."""
    ids = values[key]
    usable = np.flatnonzero(ids.notna().to_numpy() & ~rep.rejected)
    codes, _ = pd.factorize(ids.iloc[usable])  # codes number the ids in order of first appearance
    first = codes > np.maximum.accumulate(np.r_[-1, codes[:-1]]) if len(codes) else np.zeros(0, dtype=bool)
    if first.all():
        return
    first_row = usable[first]  # indexed by code
    dup_rows = usable[~first]
    reasons = np.empty(len(ids), dtype=object)
    first_lines = rep.positions[first_row[codes[~first]]].astype(str).astype(object)
    reasons[dup_rows] = "duplicate id; first seen at line " + first_lines
    mask = np.zeros(len(ids), dtype=bool)
    mask[dup_rows] = True
    rep.reject(mask, key, reasons)


def add_malformed(batch: Batch) -> None:
    """Rows the reader could not split into the header's fields go into the report as rejected, with the id
    taken from the id column's position when the row reaches it."""
    raw, mapping = batch.raw, batch.mapping
    if not raw.malformed:
        return
    columns = list(raw.frame.columns)
    id_col = mapping.get(batch.contract.key) or mapping.get("enterprise_id")
    pos = columns.index(id_col) if id_col in columns else 0
    ids = [cells[pos] if len(cells) > pos else "" for _, cells, _ in raw.malformed]
    lines = [line for line, _, _ in raw.malformed]
    reasons = [reason for _, _, reason in raw.malformed]
    batch.report.rows.append(
        pd.DataFrame({"line": lines, "id": ids, "field": "row", "reason": reasons, "severity": "rejected"})
    )
