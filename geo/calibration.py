"""`riskmap calibrate`: refit a model's regional constants to the census in a store, and keep the result in
the store, where builds find it (`Store.calibrated_model`).

`calibrate(store, as_of)` scores the store's census with the base model (the store's calibrated model if it
has one, else the shipped one, or a file given) exactly as a build does (`geo.build.compute`), proposes the
new constants (`geo.scoring.calibrate.propose`), levels the regions again with them, and renders the model
file (`geo.scoring.modelfile.render`). `keep(store, calibrated)` writes it into the store, atomically, under
the store's lock. The store's model is frozen there: every build uses it until the next calibration.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import cast

import pandas as pd

from geo.scoring.calibrate import Proposal, propose
from geo.scoring.model import DEFAULT_PATH, LevelShares, ScoringModel, load_model
from geo.scoring.modelfile import render
from geo.scoring.regions import regional_levels
from geo.store import Store, atomic_write_bytes

__all__ = ["Calibrated", "calibrate", "keep", "store_model"]


def store_model(store: Store) -> ScoringModel:
    """The model a build of `store` uses when given none: its calibrated model, else the shipped one."""
    return load_model(store.calibrated_model())


def _base(store: Store, path: Path | None) -> tuple[ScoringModel, Path, str]:
    """The base model, the file it comes from, and how to name it."""
    if path is not None:
        return load_model(path), path, str(path)
    stored = store.calibrated_model()
    if stored is not None:
        return load_model(stored), stored, f"the store's calibrated model {stored}"
    return load_model(), DEFAULT_PATH, "the shipped model"


@dataclass(frozen=True)
class Calibrated:
    """A calibration of a store's census: the proposal, the regional levels with the base model (`before`) and
    with the proposed one (`after`), and the model file's text."""

    proposal: Proposal
    base_source: str
    as_of: date
    before: pd.DataFrame
    after: pd.DataFrame
    text: str

    @property
    def model(self) -> ScoringModel:
        return self.proposal.model


def _source(store: Store) -> str:
    """The store and what its census was when calibrated (the enterprises' last write, the published build)."""
    tables = store.manifest().get("tables", {})
    updated = (tables.get("enterprises") or {}).get("updated")
    snap = store.current_id()
    parts = [f"enterprises updated {updated}" if updated else None, f"published build {snap}" if snap else None]
    detail = "; ".join(p for p in parts if p)
    return f"store {store.label}" + (f" ({detail})" if detail else "")


def calibrate(
    store: Store,
    as_of: date,
    base_path: Path | None = None,
    targets: dict[str, LevelShares] | None = None,
    *,
    today: date | None = None,
) -> Calibrated:
    """Calibrate the regional constants to the census of `store` as of `as_of` (see the module)."""
    from geo.build import boundaries_with_area, compute

    base, path, base_source = _base(store, base_path)
    computed = compute(store, as_of, model=base)
    on = today or date.today()
    proposal = propose(
        computed.regions,
        base,
        len(computed.units),
        targets,
        calibrated_on=on,
        as_of=as_of,
        source=_source(store),
    )
    after = regional_levels(computed.units, computed.hazards, boundaries_with_area(store), proposal.model)
    header = "\n".join(
        [
            f"riskmap scoring model, calibrated by `riskmap calibrate` on {on} (docs/scoring.md §5).",
            f"fingerprint: {proposal.model.fingerprint()}",
            f"base: {base_source} (fingerprint {base.fingerprint()})",
            f"census: {proposal.units} units as of {as_of}, {_source(store)}",
            "Builds of the store use this model until the next `riskmap calibrate`; delete the file to go back to",
            "the shipped model. Only [region.k], [region.domain_factor], the rules' min_count, version and",
            "[calibration] differ from the base model.",
        ]
    )
    text = render(proposal.model, path.read_text(encoding="utf-8"), header)
    return Calibrated(proposal, base_source, as_of, computed.regions, after, text)


def keep(store: Store, calibrated: Calibrated, out: Path | None = None) -> Path:
    """Write the calibrated model to `out`, else into the store (where the next builds use it); atomic."""
    data = calibrated.text.encode("utf-8")
    if out is not None:
        atomic_write_bytes(out, data)
        return out
    if store.backend != "files":
        from geo.pgstore import PgStore

        with store.lock():
            cast(PgStore, store).keep_model(calibrated.text)
        return store.calibrated_model() or Path()
    with store.lock():
        atomic_write_bytes(store.model_path, data)
    return store.model_path
