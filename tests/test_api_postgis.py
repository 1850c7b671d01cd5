"""A representative set of the service's tests (tests/test_api.py) run again on a PostgreSQL store: the same
assertions, the same demo, the store a database on the throwaway cluster (`tests.pgcluster`)."""

from __future__ import annotations

from datetime import date

import pytest

from tests.test_api import (  # noqa: F401 - the tests and the server fixture, collected again here
    server,
    test_bad_parameters_are_400_problem_json,
    test_items_paging_filters_bbox,
    test_jobs_report_and_queue_bound,
    test_landing_conformance_collections,
    test_near_equals_brute_force,
    test_near_in_gcj02_matches_wgs84,
    test_region_counts_are_units_and_open_sites_apart,
    test_region_page,
    test_unknown_things_are_404,
    test_upload_needs_editor_token,
    test_vector_tiles,
)


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory, pg_cluster):
    """tests.test_api's demo store (20,000 enterprises, built as of 2026-11-01) in a PostgreSQL database."""
    from geo.boundaries import load_bundled
    from geo.build import build
    from geo.ingest import IngestOptions, ingest_file
    from geo.store import Store
    from synth import generate_demo

    root = tmp_path_factory.mktemp("api-pg")
    store = Store.open(pg_cluster.new_database())
    assert store.backend == "postgis"
    b = load_bundled()
    store.write("boundaries", b)
    files = generate_demo(root / "in", b.loc[b["admin_level"] == "county"], n_enterprises=20000, seed=7)
    for kind, paths in files.items():
        for p in paths:
            ingest_file(store, p, kind, IngestOptions(crs="gcj02" if "gcj02" in p.name else None))
    build(store, date(2026, 11, 1))
    return store


def test_a_job_is_reported_by_every_instance(demo_store, tmp_path, monkeypatch):
    """Two service instances on one database, each with its own work directory: an upload sent to one is
    reported, running and finished, by the other (the job documents live in the database, `riskmap.jobs`)."""
    import time

    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings, hash_token
    from tests.test_api import TOKEN

    auth = {"Authorization": f"Bearer {TOKEN}"}
    settings = Settings(store=demo_store.location, editor_token_hashes=(hash_token(TOKEN),))
    monkeypatch.setenv("RISKMAP_WORKDIR", str(tmp_path / "a"))
    first = create_app(settings)
    monkeypatch.setenv("RISKMAP_WORKDIR", str(tmp_path / "b"))
    second = create_app(settings)
    csv = b"id,domain,lon,lat\nJOB-PG-1,fire,120.13,30.27\n"
    with TestClient(first) as a, TestClient(second) as b:
        r = a.post("/datasets/enterprises", files={"file": ("pg.csv", csv, "text/csv")}, headers=auth)
        assert r.status_code == 202
        job_id = r.json()["id"]
        seen = set()
        for _ in range(600):
            job = b.get(f"/jobs/{job_id}", headers=auth).json()
            seen.add(job["status"])
            if job["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.1)
        assert job["status"] == "succeeded" and job["result"]["accepted"] == 1, job
        assert job_id in {j["id"] for j in b.get("/jobs", headers=auth).json()["jobs"]}
    assert not (tmp_path / "a" / "jobs").exists() and not (tmp_path / "b" / "jobs").exists()
