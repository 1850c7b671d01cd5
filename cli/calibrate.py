"""`riskmap calibrate`: refit the regional constants to the store's census and keep the model in the store
(docs/scoring.md §5); the before/after table; the build's hint when one level swamps an admin level."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geo.catalogue import LEVELS

if TYPE_CHECKING:
    import pandas as pd

    from geo.scoring.model import ScoringModel
    from geo.store import Store

#: the demo calibrates by itself when its census is more than this factor off the model's calibrated size
DEMO_FACTOR = 2.0


def add_parser(sub: Any, store_arg: Callable, date_type: Callable, handler: Callable) -> None:
    c = sub.add_parser(
        "calibrate",
        help="refit the regional constants (k, domain factors, rule thresholds) to the store's census",
        description="Score the store's census as a build does, propose k per admin level, domain_factor per "
        "domain and the rules' min_count for its size, print the counts per level with the base and the "
        "proposed model, and write the proposed model into the store (STORE/model.toml), where every later "
        "`riskmap build` without --model uses it. See docs/scoring.md §5.",
    )
    c.add_argument(
        "--model", type=Path, help="base model TOML (default: the store's calibrated model, else the shipped one)"
    )
    c.add_argument("--as-of", type=date_type, help="score the census as of this date (default: today)")
    c.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="LEVEL=R,O,Y,B",
        help="target shares of an admin level's regions red,orange,yellow,blue by index (sum 1), e.g. "
        "county=0.10,0.25,0.35,0.30; repeatable (default: the model's [calibration.targets])",
    )
    c.add_argument("--out", type=Path, help="write the model here instead of into the store")
    c.add_argument("--dry-run", action="store_true", help="print the proposal only; write nothing")
    store_arg(c)
    c.set_defaults(func=handler)


def _num(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() and abs(x) < 1e15 else f"{x:,.3g}"


def report(calibrated: Any) -> list[str]:
    """The proposal and the before/after table, as lines."""
    from geo.scoring.calibrate import counts_by_level

    p = calibrated.proposal
    lines = [
        f"calibrating to {p.units:,} units as of {calibrated.as_of}; base: {calibrated.base_source} "
        f"(fingerprint {p.base.fingerprint()[:12]}…)",
        "",
        "k per admin level (the index reaches yellow at load 0.29 k, orange at 0.69 k, red at 1.39 k):",
    ]
    for f in p.fits:
        lines.append(f"  {f.admin_level:10s} {_num(f.k_base):>12s} → {_num(f.k):<12s} {f.describe()}")
    changed = [f"{d} {old:g} → {new:g}" for d, (old, new) in p.domain_factor.items()]
    lines.append("domain_factor (share of the county load): " + ", ".join(changed))
    for rule, per in p.min_count.items():
        lines.append(f"min_count of rule {rule}: " + ", ".join(f"{lv} {a} → {b}" for lv, (a, b) in per.items()))
    lines += [f"note: {n}" for n in p.notes]
    before, after = counts_by_level(calibrated.before), counts_by_level(calibrated.after)
    by_index = counts_by_level(_index_levels(calibrated.after))
    lines += ["", f"regions per level, domain all     {'  '.join(f'{lv:>6s}' for lv in LEVELS)}"]
    fits = {f.admin_level: f for f in p.fits}
    for lvl, counts in before.items():
        n = sum(counts.values())
        rows: list[tuple[str, dict[str, Any]]] = [
            ("base model", counts),
            ("proposed", after.get(lvl, {})),
            ("proposed, by index", by_index.get(lvl, {})),
        ]
        target = p.model.calibration.target_for(lvl) if p.model.calibration else None
        if target is not None and fits.get(lvl) is not None and fits[lvl].method == "fitted":
            rows.append((f"target × {n}", {lv: f"{target.of(lv) * n:.1f}" for lv in LEVELS}))
        for i, (what, c) in enumerate(rows):
            name = f"{lvl} ({n})" if i == 0 else ""
            lines.append(f"  {name:14s} {what:18s} {'  '.join(f'{c.get(lv, 0)!s:>6s}' for lv in LEVELS)}")
    lines.append("  (after rules; 'by index' is before rules, what the targets are about)")
    return lines


def _index_levels(regions: pd.DataFrame) -> pd.DataFrame:
    """The regions with `risk_level` replaced by the level of their index before rules."""
    return regions.assign(risk_level=[e["index_level"] for e in regions["explanation"]])


def print_hints(regions: pd.DataFrame, model: ScoringModel | None = None) -> None:
    """To stderr: a hint for every admin level whose regions nearly all fall in one level, and for the
    country when the model has no k of its own for it (a model calibrated before the country existed)."""
    from geo.scoring.calibrate import crowded
    from geo.scoring.model import DEFAULT_PATH

    for c in crowded(regions):
        print(f"riskmap: {c.hint()}", file=sys.stderr)
    if model is not None and "country" not in model.region.k and regions["admin_level"].eq("country").any():
        print(
            "riskmap: hint: the model has no [region.k] country, so the country is levelled with the finer "
            f"levels' `default` k; calibrate from the shipped model: riskmap calibrate --model {DEFAULT_PATH}",
            file=sys.stderr,
        )


def run(args: argparse.Namespace, store: Store, today: date) -> int:
    from geo.calibration import calibrate, keep
    from geo.scoring.calibrate import parse_targets

    targets = parse_targets(args.target) if args.target else None
    as_of = args.as_of or today
    calibrated = calibrate(store, as_of, args.model, targets, today=today)
    for line in report(calibrated):
        print(line)
    fingerprint = calibrated.model.fingerprint()
    if args.dry_run:
        print(f"\ndry run: nothing written (the proposed model's fingerprint would be {fingerprint})")
        return 0
    path = keep(store, calibrated, args.out)
    if args.out:
        print(f"\nwrote {path} (fingerprint {fingerprint}); build with `riskmap build --model {path}`")
    else:
        print(f"\nwrote {path} (fingerprint {fingerprint}); `riskmap build` uses it from now on")
    return 0


def demo_calibrate(store: Store, requested: int, today: date) -> None:
    """What `riskmap demo` does after ingesting: calibrate when the census is more than `DEMO_FACTOR` off the
    size the model in use was calibrated at (the default 20,000-unit demo is left to the shipped model)."""
    from geo.calibration import calibrate, keep, store_model

    model = store_model(store)
    ref = model.calibration.units if model.calibration else None
    if ref is None or ref / DEMO_FACTOR <= requested <= ref * DEMO_FACTOR:
        return
    print(
        f"{requested} enterprises is more than ×{DEMO_FACTOR:g} off the {ref} the model was calibrated at: "
        "calibrating the regional constants to this census (riskmap calibrate)"
    )
    calibrated = calibrate(store, today, today=today)
    for line in report(calibrated):
        print(line)
    path = keep(store, calibrated)
    print(f"wrote {path}; the demo's builds use it\n")
