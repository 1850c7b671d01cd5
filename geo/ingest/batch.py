"""One file on its way into the store (`Batch`), and the parsing that makes it: columns matched to the data
contract, every value parsed, unparseable and missing values and repeated ids listed in the report."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from geo.catalogue import Catalogue
from geo.crs import CrsSpec
from geo.errors import InputRejected
from geo.fields import TYPE_HINTS, Contract, Field, match_columns, parse_column, parsers
from geo.ingest.plausible import remove_control_characters, warn_control_characters, warn_implausible
from geo.ingest.report import Report
from geo.join import Hierarchy
from geo.readers import RawTable, trim

if TYPE_CHECKING:
    from geo.ingest.kinds import KindHandler

#: Field types whose values come from a vocabulary: a value outside it is "unknown" (with the vocabulary).
_VOCABULARIES = ("domain", "hazard_type", "event_type", "resource_kind")


@dataclass(frozen=True)
class IngestOptions:
    crs: str | None = None
    sheet: str | None = None
    tolerance_m: float = 1000.0
    #: Enterprises given as points go through coordinate arrays (`geo.ingest.locate`); False sends them through
    #: point geometries like every other record, the straightforward path the tests compare the fast one with.
    point_arrays: bool = True
    #: the day dates are judged against ("today" in a `plausible` range of geo/data/fields.toml); None: today
    today: date | None = None


@dataclass(frozen=True)
class Batch:
    """One file on its way into the store, handed from step to step.

    Frozen: a step that changes what travels on returns a new batch (`dataclasses.replace`). The report is
    the one part every step adds to (a row with any rejection in it goes no further)."""

    raw: RawTable
    handler: KindHandler
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
        return self.handler.kind

    @property
    def path(self) -> Path:
        return self.raw.path

    @property
    def crs_and_boundaries(self) -> tuple[CrsSpec, Hierarchy]:
        if self.spec is None or self.hierarchy is None:
            raise RuntimeError(f"{self.kind} records are not located: the batch has no CRS or boundaries")
        return self.spec, self.hierarchy


def parse(
    raw: RawTable, handler: KindHandler, contract: Contract, catalogue: Catalogue, options: IngestOptions
) -> Batch:
    """Match the file's columns to the contract and parse every value; the problems go into the report."""
    mapping = match_columns(list(raw.frame.columns), contract)
    _require_columns(raw, contract, mapping)
    filed = raw.frame
    frame, controls = remove_control_characters(filed)
    raw = dataclasses.replace(raw, frame=frame)
    rep = Report(raw.positions, _report_ids(raw, mapping, contract.key, handler.report_id))
    warn_control_characters(rep, controls, filed, {col: name for name, col in mapping.items()})
    if raw.warned:  # e.g. a line in another encoding than the rest of the file
        lines = dict(raw.warned)
        on = np.isin(raw.positions, list(lines))
        rep.warn(on, "row", np.array([lines.get(int(p), "") for p in raw.positions], dtype=object))
    parse_as = parsers(catalogue)
    values = pd.DataFrame(index=raw.frame.index)
    for f in contract.fields:
        if f.name not in mapping:
            continue
        text = raw.frame[mapping[f.name]]
        if f.type != "text":  # typed values lose every surrounding whitespace; free text keeps what was filed
            text = trim(text, None)
        parsed, bad = parse_column(parse_as[f.type], text)
        values[f.name] = parsed
        if bad.any():
            _report_bad_values(rep, f, text, bad, f.name in handler.critical, catalogue)
    for f in contract.fields:
        if f.required and f.name in values:
            rep.reject(isnull(values[f.name]), f.name, f"missing {f.name} ({f.aliases[0] if f.aliases else f.name})")
    warn_implausible(values, contract, rep, options.today)
    canonical = set(mapping.values())
    for col in raw.frame.columns:
        if col not in canonical:
            name = col if col not in values.columns else f"{col}_src"
            values[name] = raw.frame[col].where(raw.frame[col] != "", None)
    if handler.ids_given:
        reject_duplicates(values, rep, contract.key)
    return Batch(raw, handler, contract, mapping, values, rep, options, catalogue)


def _report_ids(raw: RawTable, mapping: dict[str, str], key: str, fallback: str | None) -> np.ndarray:
    """What names each row in the report: its id, else (when the kind has one) the fallback field's value."""
    key_col = mapping.get(key)
    ids = raw.frame[key_col].to_numpy(dtype=object) if key_col else np.full(len(raw.frame), "", dtype=object)
    if fallback is not None and fallback in mapping:
        ids = np.where(ids == "", raw.frame[mapping[fallback]].to_numpy(dtype=object), ids)
    return ids


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
        + ("; no row among the first 10 names them (title rows above the header are skipped)" if title_rows else "")
    )


def _report_bad_values(
    rep: Report, f: Field, text: pd.Series, bad: np.ndarray, critical: bool, catalogue: Catalogue
) -> None:
    """Unparseable values: rejected for the fields a record cannot do without (`critical`), else a warning."""
    shown = text[bad].str.slice(0, 40)  # only the bad values: cheap when there are few
    hint = TYPE_HINTS.get(f.type, "")
    if f.type == "domain":
        hint = "one of " + ", ".join(f"{d.code} ({d.zh})" for d in catalogue.domains)
    elif f.type == "hazard_type":
        hint = "one of " + ", ".join(f"{t.code} ({t.zh})" for t in catalogue.hazard_types)
    elif f.type == "resource_kind":
        hint = "one of " + ", ".join(f"{t.code} ({t.zh})" for t in catalogue.resource_kinds)
    if f.type in _VOCABULARIES:
        reason = "unknown value '" + shown + f"'; expected {hint}"
    else:
        reason = "'" + shown + f"' is not {hint}"
    reasons = np.empty(len(text), dtype=object)
    if critical:
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
    fallback = batch.handler.report_id
    id_col = mapping.get(batch.contract.key) or (mapping.get(fallback) if fallback else None)
    pos = columns.index(id_col) if id_col in columns else 0
    ids = [cells[pos] if len(cells) > pos else "" for _, cells, _ in raw.malformed]
    lines = [line for line, _, _ in raw.malformed]
    reasons = [reason for _, _, reason in raw.malformed]
    batch.report.rows.append(
        pd.DataFrame({"line": lines, "id": ids, "field": "row", "reason": reasons, "severity": "rejected"})
    )
