"""The API server: an aiohttp application on a unix socket (or an explicit tcp://127.0.0.1).

Routes are registered with and without the `/vX.Y` prefix; a middleware checks the version
(`versions.check`) and turns every failure into moby's `{"message": ...}` (`errors`). The
socket is made 0660, owned by root and the group asked for (default root's): the API runs
containers as root, so it is root's, as dockerd's socket is.
"""

from __future__ import annotations

import asyncio
import grp
import os
import queue
import signal
import socket
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from bastion.api import errors, trace, versions
from bastion.errors import BastionError

if TYPE_CHECKING:
    from bastion.engine import Engine

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
T = TypeVar("T")


@dataclass(frozen=True)
class EngineFactory:
    """How a worker thread opens the engine: the same root, runtime root and cgroup parent
    as the CLI would."""

    root: str | None
    runtime_root: str
    cgroup_parent: str
    _kept: threading.local = field(default_factory=threading.local, compare=False, repr=False)

    def open(self) -> Engine:
        from bastion.engine import Engine

        return Engine(self.root, runtime_root=self.runtime_root, cgroup_parent=self.cgroup_parent)

    def kept(self) -> Engine:
        """The calling thread's engine, opened at its first request and kept for its next
        ones: opening one per request (its database connection) and closing it (SQLite
        checkpoints the WAL, with fsyncs, when a process's last connection closes) cost more
        than most requests' own work. One per thread: a connection is its thread's (sqlite3),
        and it closes when the thread ends (the executor's, when the service stops)."""
        engine: Engine | None = getattr(self._kept, "engine", None)
        if engine is None:
            engine = self._kept.engine = self.open()
        return engine


ENGINE_KEY = web.AppKey("engine", EngineFactory)


async def in_engine(request: web.Request, work: Callable[[Engine], T]) -> T:
    """Run `work(engine)` in a worker thread (the engine blocks: SQLite, the runtime)."""
    factory = request.app[ENGINE_KEY]
    return await asyncio.to_thread(lambda: work(factory.kept()))


class Waiters:
    """Threads for work that waits for a container to end (`Engine.wait`, `stop`): not the
    executor's few (CPUs + 4), which a handful of such waits would all hold, leaving none to
    any other request. As many as there are waits at once: an idle one takes the next wait
    (its engine kept, as the executor's), else a new one starts. Daemon threads, so that a
    service stopped with containers still running does not wait for them at its exit."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._idle = 0
        self._lock = threading.Lock()

    def submit(self, work: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            start = self._idle == 0
            if not start:
                self._idle -= 1  # that one takes this job
        self._jobs.put((work, future))
        if start:
            threading.Thread(target=self._serve, name="bastion-api-wait", daemon=True).start()
        return future

    def _serve(self) -> None:
        while True:
            work, future = self._jobs.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(work())
                except BaseException as exc:
                    future.set_exception(exc)
            with self._lock:
                self._idle += 1


WAITERS = web.AppKey("waiters", Waiters)


async def in_engine_waiting(request: web.Request, work: Callable[[Engine], T]) -> T:
    """`in_engine` for work that waits for a container to end, in `Waiters`' threads."""
    factory = request.app[ENGINE_KEY]
    return await asyncio.wrap_future(request.app[WAITERS].submit(lambda: work(factory.kept())))


def look(request: web.Request, work: Callable[[Engine], T]) -> T:
    """`work(engine)` on the event loop's own thread, for a read of the metadata alone (a
    container's record by its name or id: an indexed SQLite read, microseconds). The hand-off
    to a worker thread and back costs more than that, and on a loaded machine each of its
    wake-ups waits for a CPU. What may block (the runtime, a wait, a write, a file) stays in
    `in_engine`."""
    return work(request.app[ENGINE_KEY].kept())


@web.middleware
async def _traced(request: web.Request, handler: Handler) -> web.StreamResponse:
    """`in` and `out` lines of the request (api/trace.py), when the trace is on."""
    if not trace.enabled():
        return await handler(request)
    what = f"{request.method} {request.path}"
    ident = request.match_info.get("id")
    trace.record("in", ident, what)
    response = await handler(request)
    trace.record("out", ident, f"{what} {response.status}")
    return response


@web.middleware
async def _api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    problem = versions.check(request.match_info.get("api_version"))
    if problem is not None:
        return errors.response(400, problem)
    try:
        return await handler(request)
    except errors.ApiError as exc:
        return errors.response(exc.status, exc.message)
    except BastionError as exc:
        mapped = errors.from_bastion(exc)
        return errors.response(mapped.status, mapped.message)
    except web.HTTPException as exc:
        if exc.status >= 400:
            return errors.response(exc.status, exc.reason or exc.text or "error")
        raise
    except ValueError as exc:  # a malformed body or parameter
        return errors.response(400, str(exc))


def add(app: web.Application, method: str, path: str, handler: Handler) -> None:
    """`path` with and without the version prefix."""
    app.router.add_route(method, path, handler)
    app.router.add_route(method, "/v{api_version:[0-9]+\\.[0-9]+}" + path, handler)


def make_app(factory: EngineFactory) -> web.Application:
    from bastion.api import build, containers, events, images, system

    app = web.Application(middlewares=[_traced, _api_middleware], client_max_size=1 << 30)
    app[ENGINE_KEY] = factory
    app[WAITERS] = Waiters()
    for module in (system, events, containers, images, build):
        module.register(app)
    for module in _resources():
        module.register(app)
    return app


def _resources() -> tuple[Any, ...]:
    """The routes beyond the core ones: attach, exec, container operations, networks,
    volumes (kept apart from the core list: helpers add routes to both)."""
    from bastion.api import alert_events, attach, container_ops, export, networks, update
    from bastion.api import exec as exec_

    return (attach, exec_, container_ops, networks, alert_events, export, update)


async def serve(
    address: str,
    factory: EngineFactory,
    *,
    group: str | None = None,
    idle_timeout: float | None = None,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the API at `address` (`unix:///path` or `tcp://127.0.0.1:PORT`), or on the socket
    systemd passed (`activation_socket`), until SIGINT or SIGTERM, or `idle_timeout` seconds
    without a request (`--time`, as Podman's)."""
    app = make_app(factory)
    last_request = [asyncio.get_running_loop().time()]

    @web.middleware
    async def touch(request: web.Request, handler: Handler) -> web.StreamResponse:
        last_request[0] = asyncio.get_running_loop().time()
        return await handler(request)

    app.middlewares.insert(0, touch)
    # streams (events, logs -f, attach) end only when their client leaves: a stop cancels
    # them after a moment instead of aiohttp's minute
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    activated = activation_socket()
    try:
        if activated is not None:
            # systemd made the socket (bastion-api.socket: its mode and group are the unit's)
            await web.SockSite(runner, activated).start()
        else:
            await _site(runner, address).start()
            if address.startswith("unix://"):
                _secure(address.removeprefix("unix://"), group)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if ready is not None:
            ready("the socket systemd passed" if activated is not None else address)
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            except TimeoutError:
                idle = loop.time() - last_request[0]
                if idle_timeout and idle >= idle_timeout:
                    break
    finally:
        await runner.cleanup()
        if activated is None and address.startswith("unix://"):
            path = address.removeprefix("unix://")
            if os.path.exists(path):
                os.unlink(path)


#: sd_listen_fds(3): the first socket systemd passes is descriptor 3.
_LISTEN_FDS_START = 3


def activation_socket() -> socket.socket | None:
    """The listening socket systemd passed (socket activation: `LISTEN_PID` is this process
    and `LISTEN_FDS` at least 1), else None. The variables are removed, as sd_listen_fds(3)
    does, so the containers and processes the service starts do not inherit them."""
    pid, count = os.environ.get("LISTEN_PID"), os.environ.get("LISTEN_FDS")
    if pid is None or count is None:
        return None
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)
    if not (pid.isdigit() and int(pid) == os.getpid() and count.isdigit() and int(count) >= 1):
        return None
    sock = socket.socket(fileno=_LISTEN_FDS_START)
    os.set_inheritable(sock.fileno(), False)
    return sock


def _site(runner: web.AppRunner, address: str) -> web.BaseSite:
    if address.startswith("unix://"):
        path = address.removeprefix("unix://")
        os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
        if os.path.exists(path):
            os.unlink(path)  # a stale socket of a service that died
        return web.UnixSite(runner, path)
    if address.startswith("tcp://"):
        host, _, port = address.removeprefix("tcp://").rpartition(":")
        return web.TCPSite(runner, host or "127.0.0.1", int(port))
    raise ValueError(f"unsupported address {address!r}: use unix:///PATH or tcp://HOST:PORT")


def _secure(path: str, group: str | None) -> None:
    gid = grp.getgrnam(group).gr_gid if group else 0
    os.chown(path, 0, gid)
    os.chmod(path, 0o660)
