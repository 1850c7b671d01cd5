"""`riskmap serve`'s process model: a supervisor holds the port and hands it from one generation of service
processes to the next when a build is published (blue/green).

A process that answers requests never loads a snapshot while it answers: loading one at 1M enterprises holds
the GIL for seconds in total and, in the serving process, pushed the readers' p99 past 300 ms. Instead:

- the supervisor binds the listening socket once and keeps a *standby* process ready (libraries imported,
  settings and store checked), so that a switch costs only the load;
- when the store's current snapshot changes, the standby loads and warms it, then starts accepting on the
  shared socket; the supervisor then tells the old generation to *drain*: it stops accepting (the kernel's
  accept queue is shared, so no connection is lost), answers the requests already on its connections with
  ``Connection: close`` so that clients reconnect to the new one, waits for its jobs (an ingest or a build
  running in its job worker) to finish, and exits;
- a generation that fails to load leaves the old one serving; a service process that dies is replaced.

During a switch two copies of the snapshot are in memory (about 2 × 2.7 GB at 1M enterprises); the supervisor
itself holds no snapshot.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger("riskmap.serve")
#: how often the supervisor reads the store's current snapshot id
POLL_S = 0.5
#: a draining process closes connections still open after this long (idle keep-alive ones close after 5 s)
DRAIN_S = 30.0
#: a generation that has not loaded its snapshot after this long is given up (the old one keeps serving)
LOAD_TIMEOUT_S = 1800.0
#: after a generation failed to load a snapshot, wait this long before trying that snapshot again
RETRY_S = 30.0


# -- a service process ---------------------------------------------------------------------------------------
class _Draining:
    """ASGI wrapper: while the process drains, every response says ``Connection: close``."""

    def __init__(self, app: Any):
        self.app = app
        self.on = False

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or not self.on:
            await self.app(scope, receive, send)
            return

        async def closing(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, closing)


def _server_class() -> type:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, which on SIGUSR1 stops accepting and exits once its connections and jobs are done."""

        def __init__(self, config: Any, wrapper: _Draining, jobs: Any):
            super().__init__(config)
            self.wrapper = wrapper
            self.jobs = jobs
            self.drain_requested = False
            self.drain_deadline = 0.0

        async def on_tick(self, counter: int) -> bool:
            if self.drain_requested and not self.wrapper.on:
                self.wrapper.on = True
                self.drain_deadline = time.monotonic() + DRAIN_S
                for server in self.servers:  # this process's copy of the listening socket only
                    server.close()
            if self.wrapper.on:
                open_connections = self.server_state.connections and time.monotonic() < self.drain_deadline
                if not open_connections and not self.jobs.busy():
                    return True
            return await super().on_tick(counter)

    return Server


def _service_process(store: str, sock: socket.socket, conn: Connection) -> None:
    """A service process: get ready, wait for the word to go, load the current snapshot, serve until told to
    drain. A snapshot that fails to load is served anyway (each request reports the problem) only when no
    other generation is serving."""
    import uvicorn

    sys.setswitchinterval(0.001)  # see cli.serve
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ^C in a terminal reaches the supervisor, which stops us
    ready: dict[str, Any] = {}
    preparing = threading.Thread(target=_prepare, args=(store, ready), name="prepare")
    preparing.start()
    preparing.join()
    if "app" not in ready or not _load(ready, conn):
        return
    app, snap_id, problem = ready["app"], ready["snapshot"], ready["problem"]
    wrapper = _Draining(app)
    config = uvicorn.Config(wrapper, log_level="warning", lifespan="on")
    server = _server_class()(config, wrapper, app.state.riskmap.jobs)

    def drain(signum: int, frame: Any) -> None:
        server.drain_requested = True

    signal.signal(signal.SIGUSR1, drain)

    def announce() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.01)
        conn.send(("ready", snap_id, problem))
        if snap_id and not problem:
            from api.mappage import prerender

            if sys.platform == "linux":  # behind the readers, and behind other instances' loads on this machine
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), app.state.settings.job_nice)

            try:  # the wall screens' page, right after taking over (a request meanwhile waits for this render)
                prerender(app)
            except Exception:  # the page's own request reports it
                log.exception("rendering the map page in advance failed")

    threading.Thread(target=announce, name="announce", daemon=True).start()
    server.run(sockets=[sock])


def _prepare(store: str, out: dict[str, Any]) -> None:
    """Import, check the settings and prepare what needs no snapshot: in a thread of its own, niced like the build
    jobs (on Linux niceness is per thread), so that while another generation serves, getting this one ready takes
    the CPU its readers leave. The main thread, which loads and serves afterwards, keeps the service's priority."""
    from api.settings import Settings

    settings = Settings(store=store)
    if sys.platform == "linux":
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), settings.job_nice)
    from api.app import create_app

    app = create_app(settings)
    state = app.state.riskmap
    state.follow = False  # the supervisor starts a new generation for a new build
    try:
        state.prepare()
    except Exception:  # the load reports what is wrong
        log.exception("preparing the service process failed")
    out["app"] = app


def _load(ready: dict[str, Any], conn: Connection) -> bool:
    """Wait for the word, then load the current snapshot at the service's priority: the switch waits for this
    load (niced, it waited for the readers' CPU: 8–9 s under 32 clients at 1M). False: not to serve."""
    from geo.errors import StoreEmpty

    try:
        alone = conn.recv()
    except EOFError:  # the supervisor stopped
        return False
    snap_id, problem = None, ""
    try:
        snap_id = ready["app"].state.riskmap.refresh().key
    except StoreEmpty:
        pass  # no build yet: requests say so; the first build starts a generation
    except Exception as exc:  # served anyway if nothing else serves: each request then reports it
        log.exception("loading the current snapshot failed")
        problem = f"{type(exc).__name__}: {exc}"
        if not alone:
            conn.send(("failed", None, problem))
            return False
    ready.update(snapshot=snap_id, problem=problem)
    return True


# -- the supervisor -------------------------------------------------------------------------------------------
@dataclass
class _Process:
    proc: Any
    conn: Connection
    snapshot: str | None = None


@dataclass
class Supervisor:
    store: str
    host: str
    port: int
    workers: int = 1
    current_id: Callable[[], str | None] = field(default=lambda: None)
    on_ready: Callable[[str | None], None] = field(default=lambda snap: None)

    def __post_init__(self) -> None:
        self._ctx = multiprocessing.get_context("spawn")
        # the service processes' malloc keeps two arenas, not one per thread that ever ran (16 on 2 cores): under
        # load a 1M instance over PostgreSQL then holds 304 MB, not 317 (set it in the environment to choose)
        os.environ.setdefault("MALLOC_ARENA_MAX", "2")
        self._stop = threading.Event()
        self._serving: list[_Process] = []
        self._standby: list[_Process] = []
        self._draining: list[_Process] = []
        self._failed: dict[str, float] = {}
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP by name: asyncio turns Nagle off only on connections whose socket says TCP (with proto 0,
        # each small response waited for the client's delayed ACK: 40 ms a request one at a time)
        self.sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.host, self.port))
        self.sock.listen(2048)

    def stop(self, *_: Any) -> None:
        self._stop.set()

    def _spawn(self) -> _Process:
        ours, theirs = self._ctx.Pipe()
        proc = self._ctx.Process(target=_service_process, args=(self.store, self.sock, theirs), name="riskmap-serve")
        proc.start()
        theirs.close()
        return _Process(proc, ours)

    def _top_up(self) -> None:
        self._standby = [p for p in self._standby if p.proc.is_alive()]
        while len(self._standby) < self.workers:
            self._standby.append(self._spawn())

    def _start_generation(self, expected: str | None) -> bool:
        """Start the standby processes on the current snapshot and, once they all serve, retire the old ones."""
        generation, self._standby = self._standby, []
        for p in generation:
            p.conn.send(not self._serving)
        deadline = time.monotonic() + LOAD_TIMEOUT_S
        pending = list(generation)
        problem = ""
        while pending and not problem and not self._stop.is_set():
            if time.monotonic() > deadline:
                problem = f"not ready after {LOAD_TIMEOUT_S:.0f} s"
                break
            for p in list(pending):
                if p.conn.poll(0.05):
                    try:
                        _, p.snapshot, problem = p.conn.recv()  # ("ready" | "failed", snapshot id, problem)
                    except EOFError:
                        problem = f"process {p.proc.pid} ended"
                    pending.remove(p)
                elif not p.proc.is_alive():
                    problem = f"process {p.proc.pid} ended with status {p.proc.exitcode}"
        if problem:
            print(f"riskmap serve: snapshot {expected} did not load: {problem}", file=sys.stderr, flush=True)
            if expected:
                self._failed[expected] = time.monotonic()
        running = all(p.proc.is_alive() for p in generation)
        if self._stop.is_set() or not running or (problem and self._serving):  # the old generation keeps serving
            _terminate(generation)
            return False
        old, self._serving = self._serving, generation
        for p in old:
            _signal(p, signal.SIGUSR1)
        self._draining += old
        self.on_ready(generation[0].snapshot)
        return True

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        try:
            self._top_up()
            while not self._stop.is_set():
                self._tick()
                self._stop.wait(POLL_S)
        finally:
            _terminate(self._serving + self._standby + self._draining)
            self.sock.close()

    def _tick(self) -> None:
        self._draining = [p for p in self._draining if p.proc.is_alive()]
        try:
            snap = self.current_id()
        except Exception as exc:  # a database restarting, say: keep serving what is loaded
            log.warning("reading the current snapshot failed: %s", exc)
            return
        lost = [p for p in self._serving if not p.proc.is_alive()]
        served = self._serving[0].snapshot if self._serving else None
        retry = snap in self._failed and time.monotonic() - self._failed[snap] < RETRY_S
        if (lost or not self._serving or snap != served) and not retry:
            if lost:
                print(f"riskmap serve: service process {lost[0].proc.pid} ended; starting another", file=sys.stderr)
            self._top_up()
            self._start_generation(snap)
            self._top_up()


def _signal(p: _Process, signum: int) -> None:
    try:
        if p.proc.pid is not None:
            os.kill(p.proc.pid, signum)
    except ProcessLookupError:
        pass


def _terminate(processes: list[_Process]) -> None:
    """SIGTERM: uvicorn's graceful stop (and the process's job workers with it); SIGKILL after 30 s."""
    for p in processes:
        if p.proc.is_alive():
            p.proc.terminate()
    deadline = time.monotonic() + 30
    for p in processes:
        p.proc.join(max(0.1, deadline - time.monotonic()))
        if p.proc.is_alive():
            p.proc.kill()
            p.proc.join(5)
