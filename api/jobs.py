"""Writes off the event loop: ingests and builds run as jobs in a separate worker process.

A job is submitted by `POST /datasets/{kind}` or `POST /builds` and answered at once with its id (202) or,
with `?wait=SECONDS`, with its result when it finishes in time. `GET /jobs/{id}` reports it. At most
`job_workers` jobs run at a time and at most `job_queue` wait; more are refused (503) rather than piled up.

Each job is a JSON document — in `<store>/jobs/<id>.json` for a directory store, in the table `riskmap.jobs`
for a database store — written by the service when the job is queued and finished and by the worker when it
starts, so every service instance on the store can report any job.
The workers are started with `spawn`: nothing of the serving process (threads, locks, open files) is copied.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import secrets
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from api.problems import ServiceBusy
from geo.errors import RiskmapError, UnitNotFound
from geo.pgschema import SCHEMA

log = logging.getLogger(__name__)
#: job documents kept per store (oldest finished ones are removed beyond this)
KEEP_JOBS = 500


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _dumps(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False, default=str)


def _write(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    tmp.write_text(_dumps(doc), encoding="utf-8")
    os.replace(tmp, path)


class FileBook:
    """Job documents as files in a directory (the directory store's ``jobs/``)."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)

    def ref(self, job_id: str) -> str:
        return str(self.dir / f"{job_id}.json")

    def write(self, job_id: str, doc: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        _write(self.dir / f"{job_id}.json", doc)

    def read(self, job_id: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.dir / f"{job_id}.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def list(self, limit: int) -> list[dict[str, Any]]:
        paths = sorted(self.dir.glob("*.json"), reverse=True)[:limit] if self.dir.is_dir() else []
        out = []
        for p in paths:
            try:
                out.append(json.loads(p.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue
        return out

    def prune(self, keep: int) -> None:
        docs = sorted(self.dir.glob("*.json"))
        for old in docs[: max(0, len(docs) - keep)]:
            old.unlink(missing_ok=True)


class TableBook:
    """Job documents in the PostgreSQL store's ``riskmap.jobs`` table: every service instance on the database
    reports every job, whichever instance runs it."""

    def __init__(self, url: str):
        self.url = url

    def _conn(self) -> Any:
        from geo.pgstore import pool_for

        return pool_for(self.url).connection()

    def ref(self, job_id: str) -> str:
        return f"{self.url}#job={job_id}"

    def write(self, job_id: str, doc: dict[str, Any]) -> None:
        from psycopg.types.json import Jsonb

        with self._conn() as conn:
            conn.execute(
                f"INSERT INTO {SCHEMA}.jobs (id, doc) VALUES (%s, %s) "
                "ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc, updated = now()",
                (job_id, Jsonb(doc, dumps=_dumps)),
            )

    def read(self, job_id: str) -> dict[str, Any] | None:
        with self._conn() as conn:
            row = conn.execute(f"SELECT doc FROM {SCHEMA}.jobs WHERE id = %s", (job_id,)).fetchone()
        return dict(row[0]) if row else None

    def list(self, limit: int) -> list[dict[str, Any]]:
        with self._conn() as conn:
            rows = conn.execute(f"SELECT doc FROM {SCHEMA}.jobs ORDER BY id DESC LIMIT %s", (limit,)).fetchall()
        return [dict(r[0]) for r in rows]

    def prune(self, keep: int) -> None:
        with self._conn() as conn:
            conn.execute(
                f"DELETE FROM {SCHEMA}.jobs WHERE id NOT IN (SELECT id FROM {SCHEMA}.jobs ORDER BY id DESC LIMIT %s)",
                (keep,),
            )


def book_for(store: Any) -> FileBook | TableBook:
    """Where a store keeps its job documents: a database store in its database, a directory store (or a bare
    directory) in ``jobs/``."""
    if getattr(store, "backend", None) == "postgis":
        return TableBook(store.location)
    return FileBook(Path(getattr(store, "root", store)) / "jobs")


def _book_of(ref: str) -> tuple[FileBook | TableBook, str]:
    if ref.startswith(("postgresql://", "postgres://")) and "#job=" in ref:
        url, job_id = ref.rsplit("#job=", 1)
        return TableBook(url), job_id
    path = Path(ref)
    return FileBook(path.parent), path.stem


def _started(doc_ref: str) -> None:
    book, job_id = _book_of(doc_ref)
    doc = book.read(job_id) or {"id": job_id}
    book.write(job_id, {**doc, "status": "running", "started": _now()})


# -- what the worker process runs (module-level functions: they are pickled by name) -----------------------
def run_ingest(doc_path: str, store_root: str, path: str, kind: str, crs: str | None, sheet: str | None) -> dict:
    from geo.ingest import IngestOptions, ingest_file
    from geo.store import Store

    _started(doc_path)
    result = ingest_file(Store.open(store_root), Path(path), kind, IngestOptions(crs=crs, sheet=sheet))
    report = result.report.astype(object).where(result.report.notna(), None).to_dict(orient="records")
    return {
        "rows": result.rows,
        "accepted": result.accepted,
        "rejected": result.rejected,
        "warnings": result.warnings,
        "inserted": result.inserted,
        "updated": result.updated,
        "report": report,
    }


def run_build(doc_path: str, store_root: str, as_of: str) -> dict:
    from geo.build import build
    from geo.store import Store

    _started(doc_path)
    snap, _ = build(Store.open(store_root), date.fromisoformat(as_of))
    return {
        "snapshot": snap.id,
        "as_of": snap.meta["as_of"],
        "units": snap.meta["units"],
        "unit_levels": snap.meta["unit_levels"],
    }


def _lower_priority(nice: int) -> None:
    """A job worker yields the CPU to the readers: a build at 1M holds a core for ~30 s, and on a small machine
    the service's requests come first (the kernel still gives the build every cycle they leave)."""
    if nice > 0:
        os.nice(nice)


class JobRunner:
    """Queues jobs on a small process pool and keeps their documents in the store."""

    def __init__(self, store: Any, workers: int = 1, queue: int = 8, nice: int = 10):
        """`store`: a Store (a database store keeps the documents in its database) or a directory."""
        self.book = book_for(store)
        self.workers = workers
        self.queue = queue
        self.nice = nice
        self._pool: ProcessPoolExecutor | None = None
        self._futures: dict[str, Future] = {}
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # a fresh process per job: what a build held (a snapshot's tables) goes back to the system
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                max_tasks_per_child=1,
                initializer=_lower_priority,
                initargs=(self.nice,),
            )
        return self._pool

    def worker_pids(self) -> list[int]:
        """The worker processes now running (none until the first job)."""
        procs = getattr(self._pool, "_processes", None) or {}
        return [p.pid for p in procs.values() if p.is_alive()]

    def busy(self) -> bool:
        """Whether a job is queued or running."""
        with self._lock:
            return any(not f.done() for f in self._futures.values())

    def shutdown(self) -> None:
        """Stop the workers with the service: queued jobs are cancelled, a running one is ended (its staging
        is swept by the next writer, as after any crash)."""
        if self._pool is not None:
            procs = list((getattr(self._pool, "_processes", None) or {}).values())
            self._pool.shutdown(wait=False, cancel_futures=True)
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.join(5)
            self._pool = None

    def submit(
        self,
        job_type: str,
        fn: Callable[..., dict],
        args: tuple,
        fields: dict[str, Any],
        cleanup: Path | None = None,
        hide: dict[str, str] | None = None,
        on_success: Callable[[dict], None] | None = None,
    ) -> str:
        """Queue `fn(doc_path, *args)` in a worker; returns the job id at once."""
        with self._lock:
            pending = sum(not f.done() for f in self._futures.values())
            if pending >= self.workers + self.queue:
                if cleanup is not None:
                    shutil.rmtree(cleanup, ignore_errors=True)
                raise ServiceBusy(f"{pending} jobs are queued or running; try again when one has finished")
            job_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(4)
            book = self.book
            book.write(job_id, {"id": job_id, "type": job_type, "status": "queued", "submitted": _now(), **fields})
            future = self._executor().submit(fn, book.ref(job_id), *args)
            self._futures[job_id] = future

        def finished(fut: Future) -> None:
            doc = book.read(job_id) or {"id": job_id, "type": job_type, **fields}
            exc = fut.exception()
            if exc is None:
                doc.update(status="succeeded", result=fut.result())
                if on_success is not None:
                    on_success(doc["result"])
            else:
                doc.update(status="failed", error=_error(exc, hide or {}))
            doc["finished"] = _now()
            book.write(job_id, doc)
            if cleanup is not None:
                shutil.rmtree(cleanup, ignore_errors=True)
            self._prune()

        future.add_done_callback(finished)
        return job_id

    def future(self, job_id: str) -> Future | None:
        return self._futures.get(job_id)

    def get(self, job_id: str) -> dict[str, Any]:
        if not job_id.replace("-", "").isalnum():
            raise UnitNotFound(f"no job {job_id!r}")
        doc = self.book.read(job_id)
        if doc is None:
            raise UnitNotFound(f"no job {job_id!r} (jobs are kept for the last {KEEP_JOBS})")
        return doc

    def list(self, limit: int = 50) -> list[dict[str, Any]]:
        return self.book.list(limit)

    def _prune(self) -> None:
        with self._lock:
            self._futures = {k: f for k, f in self._futures.items() if not f.done() or k >= _cutoff(self._futures)}
        self.book.prune(KEEP_JOBS)


def _cutoff(futures: dict[str, Future]) -> str:
    keys = sorted(futures)
    return keys[-KEEP_JOBS] if len(keys) > KEEP_JOBS else ""


def _error(exc: BaseException, hide: dict[str, str]) -> dict[str, Any]:
    """A failed job's error as problem fields; `hide` maps the service's paths to the names the user knows."""
    from api.problems import status_for

    if not isinstance(exc, RiskmapError):
        log.error("job failed", exc_info=exc)
        detail = f"internal error ({type(exc).__name__}); the server log has the details"
        return {"type": type(exc).__name__, "status": 500, "detail": detail}
    detail = str(exc)
    for private, public in hide.items():
        detail = detail.replace(private, public)
    return {"type": type(exc).__name__, "status": status_for(exc), "detail": detail}
