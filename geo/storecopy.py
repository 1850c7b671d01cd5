"""`riskmap store copy SRC DST`: a store's tables and kept snapshots into another store, of either kind.

The tables and the calibrated scoring model (`riskmap calibrate`, which the next builds use) are read and
written whole, in the destination's writer lock; each kept snapshot is published
again under its own id (oldest first, only the source's current one made current), with its units (records
and scores together), hazard sites, regions and prompts, so that the copy serves, exports and explains what
the source did. Prompts archived from snapshots the source no longer keeps are not copied.
"""

from __future__ import annotations

from typing import cast

from geo.snapshot import RESCUE_FILES, Snapshot, kept, publish
from geo.store import TABLES, Store, atomic_write_bytes, write_parquet


def copy_store(src: Store, dst: Store) -> list[str]:
    """Copy `src` into `dst` (its tables replaced, the snapshots added); one line per thing copied."""
    lines = []
    with dst.lock():
        for name in TABLES:
            if src.has(name):
                frame = src.read(name)
                dst.write(name, frame)
                lines.append(f"{name}: {len(frame)} rows")
        model = src.calibrated_model()
        _keep_model(dst, None if model is None else model.read_text(encoding="utf-8"))
        if model is not None:
            lines.append("the calibrated model")
    current = src.current_id()
    for snap in kept(src):
        _copy_snapshot(snap, dst, make_current=snap.id == current)
        lines.append(f"snapshot {snap.id}{' (current)' if snap.id == current else ''}: {snap.meta.get('units')} units")
    return lines


def _keep_model(dst: Store, text: str | None) -> None:
    """Keep `text` as `dst`'s calibrated model, or none (the caller holds `dst`'s lock): the copy builds with
    the source's model."""
    if dst.backend == "postgis":
        from geo.pgstore import PgStore

        cast(PgStore, dst).keep_model(text)
    elif text is None:
        dst.model_path.unlink(missing_ok=True)
    else:
        atomic_write_bytes(dst.model_path, text.encode("utf-8"))


def _copy_snapshot(snap: Snapshot, dst: Store, *, make_current: bool) -> None:
    units, hazards, regions, prompts = snap.units(), snap.hazards(), snap.regions(), snap.raw_prompts()
    rescue = {
        key: frame
        for key, frame in (
            ("resources", snap.resources()),
            ("regions", snap.rescue_regions()),
            ("zones", snap.rescue_zones()),
        )
        if len(frame.columns)
    }
    if dst.backend == "postgis":
        from geo.pgsnapshot import next_seq, publish_pg

        with dst.lock():
            publish_pg(
                dst,  # type: ignore[arg-type]
                next_seq(dst),  # type: ignore[arg-type]
                snap.meta,
                units,
                hazards,
                regions,
                prompts,
                rescue=rescue,
                snap_id=snap.id,
                make_current=make_current,
            )
        return
    from geo.prompts.ledger import FILE, archive

    staging = dst.make_staging()
    for key, frame in rescue.items():
        write_parquet(frame, staging / RESCUE_FILES[key])
    if prompts is not None:
        prompts.to_parquet(staging / FILE, index=False, compression="zstd")
    with dst.lock():
        made = publish(dst, units, hazards, regions, snap.meta, staging, snap_id=snap.id, make_current=make_current)
        archive(dst, made.id, made.path)
