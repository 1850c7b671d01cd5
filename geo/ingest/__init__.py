"""Ingest census files into the store: every row accepted or listed in the report, nothing lost.

`ingest_file` reads a file (`geo.readers`), matches its columns to the data contract (`geo.fields`),
parses and checks every value, converts coordinates to WGS84 (`geo.crs`), joins each record to the
administrative hierarchy (`geo.join`) and upserts the accepted records into the store by id.

One file travels through the steps as a `Batch` (`geo.ingest.batch`): parsed (`batch`), checked (`kinds`),
located (`geometry`, `locate`) and upserted (`upsert`); the report (`report`) collects every step's problems.

The report has one line per problem: ``line`` (the CSV line in the file, the header line 1 unless a title
precedes it; the sheet row, or the feature number in a vector file), ``id``, ``field``, ``reason``,
``severity`` (rejected | warning).
A row with any "rejected" line is not stored; "warning" rows are stored.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from geo.catalogue import load_catalogue
from geo.errors import InputRejected
from geo.fields import header_score, load_contract
from geo.ingest.batch import Batch, IngestOptions, add_malformed, parse
from geo.ingest.kinds import HANDLERS, KINDS, KindHandler
from geo.ingest.locate import locate, source_crs
from geo.ingest.report import REPORT_COLUMNS, IngestResult, write_report
from geo.ingest.upsert import isin_text as _isin_text
from geo.ingest.upsert import upsert
from geo.join import Hierarchy
from geo.readers import read_table
from geo.store import Store

__all__ = [
    "HANDLERS",
    "KINDS",
    "REPORT_COLUMNS",
    "Batch",
    "IngestOptions",
    "IngestResult",
    "KindHandler",
    "_isin_text",
    "ingest_file",
    "write_report",
]


def ingest_file(store: Store, path: Path | str, kind: str, options: IngestOptions | None = None) -> IngestResult:
    """Read, validate, join and upsert one file. Raises InputRejected only when the whole file is unusable."""
    options = options or IngestOptions()
    handler = HANDLERS.get(kind)
    if handler is None:
        raise InputRejected(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    contract = load_contract(kind)
    raw = read_table(Path(path), sheet=options.sheet, header_score=header_score(contract))
    batch = parse(raw, handler, contract, load_catalogue(), options)
    mapped = ", ".join(f"{c}→{f}" for f, c in batch.mapping.items() if c != f)
    notes = [*raw.notes, f"columns: {mapped or 'all canonical'}"]
    if raw.encoding:
        notes.append(f"encoding: {raw.encoding}")
    if handler.geometry != "none":
        hierarchy = _hierarchy(store)
        spec = source_crs(raw, options.crs)
        batch = dataclasses.replace(batch, hierarchy=hierarchy, spec=spec)
        notes.append(f"coordinates: {spec.name} → WGS84")
    batch = handler.check(batch, store)
    located = locate(batch)
    if handler.after_locate is not None:
        located = handler.after_locate(batch, located)
    inserted, updated = upsert(store, handler.kind, handler.key, located)
    add_malformed(batch)
    return _result(batch, Path(path), inserted, updated, notes)


def _result(batch: Batch, path: Path, inserted: int, updated: int, notes: list[str]) -> IngestResult:
    raw, rep = batch.raw, batch.report
    report = rep.frame()
    accepted_lines = set(raw.positions[~rep.rejected].tolist())
    warned = report.loc[report["severity"] == "warning", "line"] if len(report) else pd.Series([], dtype=int)
    warned_rows = int(warned[warned.isin(accepted_lines)].nunique())
    rows = len(raw.frame) + len(raw.malformed)
    accepted = int((~rep.rejected).sum())
    rejected = int(rep.rejected.sum()) + len(raw.malformed)
    return IngestResult(path, batch.kind, rows, accepted, rejected, warned_rows, inserted, updated, report, notes=notes)


def _hierarchy(store: Store) -> Hierarchy:
    """The store's boundaries (the bundled ones written first, under the store's lock, into a store without
    any), before `upsert` takes the lock: it is not re-entrant."""
    from geo.boundaries import ensure_boundaries

    return Hierarchy.from_boundaries(ensure_boundaries(store), cache=store.cache_dir)
