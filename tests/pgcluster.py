"""A throwaway PostgreSQL + PostGIS cluster for the tests (and the benchmarks).

`start_cluster()` runs Debian's ``initdb`` and ``pg_ctl`` (``/usr/lib/postgresql/<n>/bin``, packages
``postgresql`` and ``postgresql-<n>-postgis-3``) into a new temporary directory, on a free loopback port,
with durability off (fsync, synchronous commit: a test cluster dies with the test run). PostgreSQL refuses
to run as root: as root, the cluster runs as the ``postgres`` user (``runuser``). `Cluster.stop` stops it and
removes the directory. ``$RISKMAP_TEST_PG_URL`` names an existing server instead (nothing is started).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

URL_ENV = "RISKMAP_TEST_PG_URL"
USER = "riskmap"


def pg_bindir() -> Path | None:
    """The newest PostgreSQL server's bin directory that has PostGIS installed beside it, or None."""
    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True):
        version = bindir.split("/")[-2]
        has_postgis = glob.glob(f"/usr/share/postgresql/{version}/extension/postgis.control")
        if os.path.exists(f"{bindir}/initdb") and has_postgis:
            return Path(bindir)
    return None


def missing_reason() -> str | None:
    """Why no cluster can be started here (None: one can)."""
    if os.environ.get(URL_ENV):
        return None
    if pg_bindir() is None:
        return "PostgreSQL with PostGIS is not installed (apt-get install postgresql postgresql-15-postgis-3)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[postgis]')"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    url: str  # the server's URL with the database `template` (createdb more with `new_database`)
    root: Path | None  # the temporary directory (None: an outside server)
    bindir: Path | None
    as_user: list[str]

    def run(self, *args: str) -> subprocess.CompletedProcess:
        assert self.bindir is not None
        cmd = [*self.as_user, str(self.bindir / args[0]), *args[1:]]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)

    def new_database(self) -> str:
        """A fresh empty database on the cluster; its URL."""
        import psycopg

        name = f"riskmap_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + "/" + name

    def stop(self) -> None:
        if self.root is None:
            return
        self.run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster() -> Cluster:
    """Start a cluster (or name the server of $RISKMAP_TEST_PG_URL); raises RuntimeError with the server
    log when it does not start."""
    outside = os.environ.get(URL_ENV)
    if outside:
        return Cluster(outside, None, None, [])
    bindir = pg_bindir()
    if bindir is None:
        raise RuntimeError(missing_reason() or "no PostgreSQL")
    root = Path(tempfile.mkdtemp(prefix="riskmap-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        os.chmod(root, 0o755)
        shutil.chown(root, "postgres", "postgres")
    port = _free_port()
    cluster = Cluster(f"postgresql://{USER}@127.0.0.1:{port}/postgres", root, bindir, as_user)
    data = root / "data"
    init = cluster.run("initdb", "-D", str(data), "-U", USER, "-A", "trust", "-E", "UTF8", "--no-sync", "--locale=C")
    if init.returncode:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {init.stderr.strip()}")
    opts = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
        "-c full_page_writes=off -c max_connections=200 -c shared_buffers=128MB"
    )
    start = cluster.run("pg_ctl", "-D", str(data), "-o", opts, "-l", str(root / "server.log"), "-w", "start")
    if start.returncode:
        log = ""
        with contextlib.suppress(OSError):
            log = (root / "server.log").read_text()[-2000:]
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"pg_ctl start failed: {start.stderr.strip()} {log}")
    return cluster
