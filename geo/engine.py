"""How a build scores its units: in this process (the default, and the reference) or on a Dask cluster.

`riskmap build --engine dask` splits the enterprise records into spatial partitions — runs of a Morton
(Z-order) curve over their zoom-16 tiles, so a partition is a compact patch of the map — and sends each, with
the events of its enterprises, to a Dask worker that scores it (`geo.scoring.units.score_enterprises`: the
per-unit work) and tallies it into the regional grid (`geo.scoring.regions.tally`: counts per region, domain
and level, and each region's heaviest units), the grid broadcast to every worker once. The driver puts the
scores back in record order and adds up the partitions' tallies (whole numbers, and the top contributors
merged in one order: exact); hazard sites, the rescue circle, the regions' levels from the tally and the
prompts follow in the driver as in the in-memory engine, so the snapshot is identical (tested on a
`distributed.LocalCluster`). The workers also time their units from the nearest responder (the estimate's
router, sent once), which the coping term (`[region.coping] lack` > 0) reads; with a road network the one graph
search over every unit stays on the driver, and with the coping term on the driver then tallies the units too.

A unit's score depends on its own record and events only, which is what makes the partitions independent. A
worker lost mid-build has its partitions rescheduled by Dask (each task carries its data, so another worker
can run it); if they keep failing the build fails with a clear error, and nothing is published.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from geo.catalogue import Catalogue
from geo.errors import RiskmapError
from geo.pointgrid import DEPTH, morton, owner_tiles
from geo.response.coverage import Router, rounded
from geo.scoring.model import ScoringModel
from geo.scoring.regions import Tally, combine, tally
from geo.scoring.units import INPUT_COLUMNS, score_enterprises, with_scores

#: a task of this many units or fewer is not worth sending
MIN_PARTITION = 10_000

Scorer = Callable[[pd.DataFrame, "pd.DataFrame | None", date, ScoringModel, Catalogue], pd.DataFrame]


class EngineError(RiskmapError):
    """The distributed engine could not run the build (no cluster, or workers lost beyond retrying)."""


def spatial_partitions(lon: np.ndarray, lat: np.ndarray, n: int) -> list[np.ndarray]:
    """Row positions split into `n` runs of equal size along the Morton curve of the points' tiles (points
    without coordinates go last); each array is in ascending row order."""
    x, y = owner_tiles(np.nan_to_num(lon, nan=180.0), np.nan_to_num(lat, nan=-85.0), DEPTH)
    order = np.argsort(morton(x, y), kind="stable")
    return [np.sort(part) for part in np.array_split(order, max(1, n)) if len(part)]


@dataclass
class DaskEngine:
    """Score units on a Dask cluster: `scheduler` (``tcp://host:8786``) or, without one, a `LocalCluster` of
    `workers` processes started for the build and stopped after it. `partitions` defaults to 4 per worker."""

    scheduler: str | None = None
    workers: int = 2
    partitions: int | None = None
    score: Scorer = field(default=score_enterprises)  # what a worker runs on its partition
    stats: dict[str, Any] = field(default_factory=dict)  # partition sizes and the workers used, for reports

    @contextlib.contextmanager
    def client(self) -> Iterator[Any]:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - the extra is part of the test install
            raise EngineError("the Dask engine needs `pip install riskmap[dask]` (dask, distributed)") from exc
        if self.scheduler:
            try:
                client = Client(self.scheduler, timeout="30s")
            except OSError as exc:
                raise EngineError(f"cannot reach the Dask scheduler {self.scheduler}: {exc}") from None
            with client:
                yield client
            return
        try:
            cluster = LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
        except Exception as exc:
            raise EngineError(f"the local Dask cluster did not start: {type(exc).__name__}: {exc}") from None
        with cluster, Client(cluster) as client:
            yield client

    def __call__(
        self,
        enterprises: pd.DataFrame,
        events: pd.DataFrame | None,
        as_of: date,
        model: ScoringModel,
        catalogue: Catalogue,
    ) -> pd.DataFrame:
        """The same frame as `score_enterprises(enterprises, …)`, scored partition by partition on the cluster
        (each partition with only the columns the scoring reads, `INPUT_COLUMNS`)."""
        return self._run(enterprises, events, as_of, model, catalogue, None, None)[0]

    def score_and_tally(
        self,
        enterprises: pd.DataFrame,
        events: pd.DataFrame | None,
        as_of: date,
        model: ScoringModel,
        catalogue: Catalogue,
        grid: pd.DataFrame,
        router: Router | None = None,
    ) -> tuple[pd.DataFrame, Tally, tuple[np.ndarray, np.ndarray] | None]:
        """`__call__`, the units' regional `Tally` over `grid` (`geo.scoring.regions.region_grid`) and, given a
        `router` (`geo.response.coverage.rescue_router`), the units' rescue times (minutes, responder
        position): each worker times and tallies the partition it scores (the grid and the router sent to
        every worker once), and the partitions' tallies are combined here — whole-number counts and each
        region's top contributors, so the regional levels equal the in-memory engine's."""
        scores, done, parts = self._run(enterprises, events, as_of, model, catalogue, grid, router)
        if not done:  # nothing was sent (no units)
            return scores, tally(with_scores(enterprises, scores), None, grid, model, catalogue), None
        tallies = [d[0] for d in done if d[0] is not None]
        times = None
        if router is not None:
            minutes, who = np.empty(len(enterprises)), np.empty(len(enterprises), dtype=np.int64)
            for pos, (_, part_times) in zip(parts, done, strict=True):
                minutes[pos], who[pos] = part_times
            times = (minutes, who)
        return scores, combine(tallies, model.region.top_n), times

    def _run(
        self,
        enterprises: pd.DataFrame,
        events: pd.DataFrame | None,
        as_of: date,
        model: ScoringModel,
        catalogue: Catalogue,
        grid: pd.DataFrame | None,
        router: Router | None,
    ) -> tuple[pd.DataFrame, list[tuple[Tally | None, Any]], list[np.ndarray]]:
        """The scores in record order, each partition's (tally, times) and the partitions' row positions."""
        from distributed import get_task_stream

        with self.client() as client:
            n_workers = max(1, len(client.scheduler_info().get("workers", {})))
            n = self.partitions or max(1, min(4 * n_workers, len(enterprises) // MIN_PARTITION))
            lon = pd.to_numeric(enterprises.get("lon"), errors="coerce")
            lat = pd.to_numeric(enterprises.get("lat"), errors="coerce")
            parts = spatial_partitions(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float), n)
            by_part = _events_by_partition(enterprises, events, parts)
            inputs = enterprises[[c for c in INPUT_COLUMNS if c in enterprises.columns]]  # what workers need
            # and to time and tally the units: their names, places and regions
            wanted = _tally_columns(grid, router)
            extra = enterprises[[c for c in wanted if c in enterprises.columns and c not in inputs]]
            token = uuid.uuid4().hex[:8]
            # the grid and the router go to each worker once, as tasks of their own rather than scattered data:
            # a worker lost with its copy has it made again (scattered data would be lost with it)
            shared = [
                None if x is None else client.submit(_same, x, key=f"{name}-{token}")
                for name, x in (("grid", grid), ("router", router))
            ]
            t0 = time.perf_counter()
            try:
                with get_task_stream(client) as stream:  # (entered before the tasks are sent: it sees them all)
                    futures = [
                        client.submit(
                            _partition,
                            self.score,
                            inputs.iloc[pos],
                            extra.iloc[pos] if grid is not None else None,
                            ev,
                            as_of,
                            model,
                            catalogue,
                            *shared,
                            key=f"score-{token}-{i}",
                        )
                        for i, (pos, ev) in enumerate(zip(parts, by_part, strict=True))
                    ]
                    done = client.gather(futures)
            except Exception as exc:
                raise EngineError(
                    f"the Dask build failed, nothing was published: {type(exc).__name__}: {exc}"
                ) from None
            self.stats = {
                "workers": n_workers,
                "partitions": [len(p) for p in parts],
                "scoring_s": round(time.perf_counter() - t0, 3),  # sending, scoring and gathering, wall time
                "task_s": _compute_seconds(stream.data),  # each partition's scoring on its worker
                "tallied": grid is not None,  # the regional tally made on the workers too
                "timed": router is not None,  # and the rescue times
            }
        if not done:
            return self.score(enterprises, events, as_of, model, catalogue), [], parts
        scored = pd.concat([d[0] for d in done]).reindex(enterprises.index)
        return scored, [(d[1], d[2]) for d in done], parts


def _same(x: Any) -> Any:
    return x


def _tally_columns(grid: pd.DataFrame | None, router: Router | None) -> list[str]:
    """The record columns a unit's tally reads beyond the scoring's (its name and its region at each level),
    and its timing (its place and county)."""
    if grid is None:
        return []
    place = ["lon", "lat", "county_adcode"] if router is not None else []
    return list(dict.fromkeys(["name", *(f"{lvl}_adcode" for lvl in pd.unique(grid["admin_level"])), *place]))


def _partition(
    score: Scorer,
    inputs: pd.DataFrame,
    extra: pd.DataFrame | None,
    events: pd.DataFrame | None,
    as_of: date,
    model: ScoringModel,
    catalogue: Catalogue,
    grid: pd.DataFrame | None,
    router: Router | None,
) -> tuple[pd.DataFrame, Tally | None, tuple[np.ndarray, np.ndarray] | None]:
    """A worker's task: score a partition's units and, given the regional grid, tally them into it — first
    timing them from the nearest responder, given the router (the coping term reads the minutes)."""
    scores = score(inputs, events, as_of, model, catalogue)
    if grid is None or extra is None:
        return scores, None, None
    records = pd.concat([inputs.reset_index(drop=True), extra.reset_index(drop=True)], axis=1)
    times = None
    if router is not None:
        county = records["county_adcode"].to_numpy(dtype=object) if "county_adcode" in records else None
        if county is None:
            county = np.full(len(records), None, dtype=object)
        times = router.times(records["lon"].to_numpy(float), records["lat"].to_numpy(float), county)
        records = records.assign(rescue_minutes=rounded(times[0]))
    return scores, tally(with_scores(records, scores), None, grid, model, catalogue), times


def _compute_seconds(records: list[dict]) -> list[float]:
    """Each partition task's computing time (not the grid's or the router's tasks)."""
    out = []
    for record in records:
        if not str(record.get("key", "")).startswith("score-"):
            continue
        for step in record.get("startstops", ()):
            if step.get("action") == "compute":
                out.append(round(step["stop"] - step["start"], 3))
    return out


def _events_by_partition(
    enterprises: pd.DataFrame, events: pd.DataFrame | None, parts: list[np.ndarray]
) -> list[pd.DataFrame | None]:
    """Each partition's events: those whose `enterprise_id` is one of its enterprises (others count for
    nothing in the scoring, wherever they go)."""
    if events is None:
        return [None] * len(parts)
    part_of = np.empty(len(enterprises), dtype=np.int64)
    for i, pos in enumerate(parts):
        part_of[pos] = i
    which = pd.Series(part_of, index=enterprises["id"].astype(str).to_numpy())
    which = which[~which.index.duplicated(keep="first")]
    target = which.reindex(events["enterprise_id"].astype(str).to_numpy()).to_numpy()
    return [events[target == i] for i in range(len(parts))]
