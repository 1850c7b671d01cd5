"""`riskmap store …`: check (and repair) a store, make or upgrade a database's schema, copy a store."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any


def _store(args: argparse.Namespace):
    from geo.store import Store

    return Store.open(getattr(args, "store", None))


def cmd_store_check(args: argparse.Namespace) -> int:
    from geo.store_check import check_store

    store = _store(args)
    problems = check_store(store, repair=args.repair)
    for p in problems:
        print(p.line())
    remaining = [p for p in problems if not p.repaired]
    print(f"store {store.label}: {len(problems)} problem(s), {len(problems) - len(remaining)} repaired")
    return 1 if remaining else 0


def cmd_store_init(args: argparse.Namespace) -> int:
    from geo.pgschema import LATEST, upgrade

    store = _bare_store(args)
    if store.backend != "postgis":
        print(f"store {store.label}: a directory store needs no init (it is made on first use)")
        return 0
    applied = upgrade(store)
    print(f"store {store.label}: schema version {LATEST} ({'applied ' + str(applied) if applied else 'up to date'})")
    return 0


def _bare_store(args: argparse.Namespace):
    """The named store without the schema check (init and upgrade make the schema)."""
    import os

    from geo.pgstore import PgStore
    from geo.pointer import is_url
    from geo.store import Store

    location = getattr(args, "store", None) or os.environ.get("RISKMAP_STORE") or "riskmap-data"
    if is_url(location):
        from geo.pgstore import _workdir

        return PgStore(_workdir(location).resolve(), location)
    return Store.open(location)


def cmd_store_copy(args: argparse.Namespace) -> int:
    from geo.store import Store
    from geo.storecopy import copy_store

    src = Store.open(args.src, create=False)
    dst = Store.open(args.dst)
    t0 = time.perf_counter()
    report = copy_store(src, dst)
    for line in report:
        print(line)
    print(f"copied {src.label} to {dst.label} ({time.perf_counter() - t0:.1f} s)")
    return 0


def add_parser(sub: Any, store_arg: Callable) -> None:
    """The ``store`` command and its actions; `store_arg` adds ``--store`` to a parser (`cli.main`)."""
    st = sub.add_parser("store", help="check (and repair) the store")
    ssub = st.add_subparsers(dest="action", required=True, metavar="ACTION")
    sc = ssub.add_parser(
        "check", help="manifest against files, leftovers of dead writers, the current snapshot; exit 1 if any remain"
    )
    sc.add_argument("--repair", action="store_true", help="rewrite the manifest, remove leftovers, repoint the build")
    store_arg(sc)
    sc.set_defaults(func=cmd_store_check)
    for action, help_text in (
        ("init", "create the schema in a PostgreSQL store (postgresql://…)"),
        ("upgrade", "apply the schema migrations a PostgreSQL store lacks (back it up first)"),
    ):
        si = ssub.add_parser(action, help=help_text)
        store_arg(si)
        si.set_defaults(func=cmd_store_init)
    scp = ssub.add_parser("copy", help="copy a store (tables and kept snapshots) to another, directory or database")
    scp.add_argument("src", help="source store: a directory or postgresql://…")
    scp.add_argument("dst", help="destination store (its tables and snapshots are replaced)")
    scp.set_defaults(func=cmd_store_copy)
