"""`riskmap serve`: the HTTP service (OGC API, maps, /near, uploads) in one process or several on one port."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def add_parser(sub: Any, store_arg: Callable, handler: Callable) -> None:
    sv = sub.add_parser("serve", help="run the HTTP service (OGC API, maps, /near, uploads)")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument(
        "--workers",
        type=int,
        choices=range(1, 17),
        metavar="N",
        default=1,
        help="service processes sharing the port (each holds the snapshot: ~2 GB at 1M enterprises); default 1",
    )
    sv.add_argument(
        "--switch",
        choices=("handover", "in-process"),
        default="handover",
        help="how a new build comes to be served: 'handover' (default) starts new service processes on it and "
        "retires the old ones once the new serve, so readers never wait behind a load (two copies in memory "
        "meanwhile); 'in-process' loads it in the serving process(es) in the background (one copy)",
    )
    store_arg(sv)
    sv.set_defaults(func=handler)


def _settings(args: argparse.Namespace):
    from api.settings import Settings

    store = getattr(args, "store", None)
    return Settings(store=store) if store is not None else Settings()


def run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    workers = getattr(args, "workers", 1)
    # requests are short and share one GIL with a snapshot loading in the background and each other: hand it
    # over every 1 ms instead of 5 so that a waiting request is not held up behind a long one
    sys.setswitchinterval(0.001)
    where = f"http://{args.host}:{args.port}/"
    if getattr(args, "switch", "handover") == "handover":
        return _handover(settings, args.host, args.port, workers, where)
    import uvicorn

    from api.app import create_app
    from geo.pointer import redact

    if workers > 1:  # processes on one port; each loads the snapshot (memory × workers) and follows builds
        store = settings.store if isinstance(settings.store, str) else str(Path(settings.store).resolve())
        os.environ["RISKMAP_STORE"] = store  # what each worker's create_app() reads (with the other settings)
        create_app(settings)  # a bad store or setting is reported here, once, before any worker starts
        print(f"serving {redact(store)} on {where} with {workers} worker processes")
        uvicorn.run(
            "api.app:create_app", factory=True, host=args.host, port=args.port, workers=workers, log_level="warning"
        )
        return 0
    app = create_app(settings)
    print(f"serving {redact(str(settings.store))} on {where} (map: /map, OGC API: /collections, docs: /docs)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _handover(settings: Any, host: str, port: int, workers: int, where: str) -> int:
    """The supervisor (`api.handover`): it imports no data library and loads nothing (47 MB); it checks the
    store and settings in a process of its own and reads the current snapshot's id with `geo.pointer`."""
    from api.handover import Supervisor
    from geo.pointer import Pointer, redact

    store = settings.store if isinstance(settings.store, str) else str(Path(settings.store).resolve())
    os.environ["RISKMAP_STORE"] = store  # the service processes read the other settings as this one did
    _check_in_a_process(store)  # a bad store or setting is reported here, once, before any process starts
    label = f"{redact(store)} on {where}" + (f" with {workers} service processes" if workers > 1 else "")

    def ready(snapshot: str | None) -> None:
        print(f"serving {label}: snapshot {snapshot or '(none yet)'} (map: /map, OGC API: /collections)", flush=True)

    Supervisor(store, host, port, workers, current_id=Pointer(store), on_ready=ready).run()
    return 0


def _check_in_a_process(store: str) -> None:
    """`create_app` on the store in a spawned process (so this one never imports what it needs): its error,
    if any, raised here as the same kind of error."""
    import multiprocessing

    import geo.errors

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        problem = pool.apply(_check, (store,))
    if problem is not None:
        kind, message = problem
        error = getattr(geo.errors, kind, None)
        if not (isinstance(error, type) and issubclass(error, geo.errors.RiskmapError)):
            error = geo.errors.RiskmapError
        raise error(message)


def _check(store: str) -> tuple[str, str] | None:
    from api.app import create_app
    from api.settings import Settings
    from geo.errors import RiskmapError

    try:
        create_app(Settings(store=store))
    except RiskmapError as exc:
        return type(exc).__name__, str(exc)
    return None
