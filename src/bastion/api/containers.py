"""`/containers/...`: create, start, wait, attach, logs, stop, kill, delete, list, inspect.

Each handler is a translation: the Docker request body into `ContainerOptions`, the engine's
records into Docker's documents (engine/inspect.py already names inspect's fields as Docker).

`AutoRemove` is the server's job, as dockerd's: the engine's own `--rm` for detached
containers (conmon's exit command) would remove the record before a `wait?condition=removed`
could read the exit status, so the server creates the container without it, waits for it to
end, keeps the status, removes it, and then answers every waiter with that status.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import shlex
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web

from bastion.api import streams, trace
from bastion.api.attach import start_attached
from bastion.api.bodies import query_int, query_time
from bastion.api.errors import ApiError
from bastion.api.server import add, in_engine, in_engine_waiting, look
from bastion.api.system import json_response
from bastion.engine.health_config import status_suffix
from bastion.engine.inspect import mount_points

if TYPE_CHECKING:
    from bastion.engine import ContainerOptions, ContainerRecord, Engine

#: the label that marks a container the API made with AutoRemove (kept across restarts)
AUTO_REMOVE_LABEL = "bastion.api.auto-remove"


#: How many removed containers' statuses and AutoRemove events are kept: a wait reads one
#: moments after the removal, and a long-lived service removes containers without end.
KEPT = 1024


def _newest(kept: dict[str, Any], most: int) -> dict[str, Any]:
    """`kept` without its oldest entries beyond `most - 1` (dicts keep insertion order), so the
    caller's next one fits."""
    while len(kept) >= most:
        del kept[next(iter(kept))]
    return kept


class Removals:
    """AutoRemove: one task per started container, and the statuses of removed ones."""

    def __init__(self) -> None:
        self.statuses: dict[str, int] = {}
        self.done: dict[str, asyncio.Event] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        # attach streams still reading a container's log: its removal waits for them (the
        # log goes with the container)
        self.readers: collections.Counter[str] = collections.Counter()
        self.read = asyncio.Condition()

    async def reading(self, container_id: str, delta: int) -> None:
        async with self.read:
            self.readers[container_id] += delta
            self.read.notify_all()

    def event(self, container_id: str) -> asyncio.Event:
        """Set when the container's AutoRemove is done (then kept for the late waits, up to
        `KEPT` of them: an unset one, a container still to be removed, is never dropped)."""
        if container_id not in self.done and len(self.done) >= KEPT:
            for old in [c for c, event in self.done.items() if event.is_set()][: KEPT // 2]:
                del self.done[old]
        return self.done.setdefault(container_id, asyncio.Event())

    def ended(self, container_id: str, status: int) -> None:
        """Keep the exit status of a container being removed, for the waits that read it
        after (`wait?condition=removed`, or one that comes to it late)."""
        _newest(self.statuses, KEPT)[container_id] = status

    def watch(self, request: web.Request, record: ContainerRecord) -> None:
        container_id = record.id

        async def run() -> None:
            try:
                # the engine logs its die (at this wait) and its destroy (events_log.py)
                status = await in_engine_waiting(request, lambda e: e.wait(container_id))
                trace.mark(container_id, "exit-seen")
                self.ended(container_id, status)
                async with self.read:
                    await asyncio.wait_for(
                        self.read.wait_for(lambda: self.readers[container_id] <= 0), 30
                    )
                trace.mark(container_id, "readers-done")
                await in_engine(request, lambda e: e.remove(container_id, force=True))
                trace.mark(container_id, "removed")
            finally:
                self.event(container_id).set()

        task = asyncio.get_running_loop().create_task(run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


REMOVALS = web.AppKey("removals", Removals)


class Starts:
    """Wakes what waits for a container to start (`wait` on a created container: the docker
    CLI sends it before `start`) when the API has started one; a start from elsewhere
    (`bastion start`) is seen at the next look, a tenth of a second later at most."""

    def __init__(self) -> None:
        self.changed = asyncio.Condition()

    async def started(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def wait(self, timeout: float) -> None:
        async with self.changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), timeout)


STARTS = web.AppKey("starts", Starts)


def register(app: web.Application) -> None:
    app[REMOVALS] = Removals()
    app[STARTS] = Starts()
    add(app, "GET", "/containers/json", list_containers)
    add(app, "POST", "/containers/create", create)
    add(app, "GET", "/containers/{id}/json", inspect)
    add(app, "POST", "/containers/{id}/start", start)
    add(app, "POST", "/containers/{id}/stop", stop)
    add(app, "POST", "/containers/{id}/kill", kill)
    add(app, "POST", "/containers/{id}/wait", wait)
    add(app, "DELETE", "/containers/{id}", delete)
    add(app, "GET", "/containers/{id}/logs", logs)


def flag(request: web.Request, name: str, default: bool = False) -> bool:
    value = request.query.get(name)
    if value is None:
        return default
    return value.lower() not in ("", "0", "false", "no")


# --- create -------------------------------------------------------------------------------


def options_from_body(body: dict[str, Any], name: str | None) -> ContainerOptions:
    """Docker's ContainerCreate body (Config + HostConfig) as the engine's options: the same
    values the docker CLI would have turned its flags into, in the CLI's spellings."""
    from bastion.engine import ContainerOptions

    host = body.get("HostConfig") or {}
    entrypoint = body.get("Entrypoint")
    cmd = body.get("Cmd")
    if isinstance(cmd, str):
        cmd = shlex.split(cmd)
    if isinstance(entrypoint, str):
        entrypoint = shlex.split(entrypoint) if entrypoint else []
    command: tuple[str, ...] | None = tuple(cmd) if cmd is not None else None
    first: str | None = None
    if entrypoint is not None:
        # --entrypoint's one word, and the array's other words (run before the command)
        first = entrypoint[0] if entrypoint else ""
    network = host.get("NetworkMode") or "default"
    endpoints = (body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
    endpoint = endpoints.get(network) or {}
    labels = {str(k): str(v) for k, v in (body.get("Labels") or {}).items()}
    if host.get("AutoRemove"):
        labels[AUTO_REMOVE_LABEL] = "1"
    pids = host.get("PidsLimit")
    restart = host.get("RestartPolicy") or {}
    policy = restart.get("Name") or "no"
    if policy == "on-failure" and restart.get("MaximumRetryCount"):
        policy = f"on-failure:{restart['MaximumRetryCount']}"
    publish = []
    for port, bindings in (host.get("PortBindings") or {}).items():
        for binding in bindings or [{}]:
            host_ip, host_port = binding.get("HostIp") or "", binding.get("HostPort") or ""
            prefix = (
                f"{host_ip}:{host_port}:" if host_ip else (f"{host_port}:" if host_port else "")
            )
            publish.append(f"{prefix}{port}")
    nano = host.get("NanoCpus") or 0
    return ContainerOptions(
        command=command,
        entrypoint=first,
        entrypoint_args=tuple(entrypoint[1:]) if entrypoint else (),
        env=tuple(body.get("Env") or ()),
        workdir=body.get("WorkingDir") or None,
        user=body.get("User") or None,
        hostname=body.get("Hostname") or None,
        memory=host.get("Memory") or None,
        memory_swap=host.get("MemorySwap") or None,
        pids_limit=pids if pids and pids > 0 else None,
        network="bridge" if network in ("default", "bridge") else network,
        publish=tuple(publish),
        ip=(endpoint.get("IPAMConfig") or {}).get("IPv4Address") or None,
        network_aliases=tuple(endpoint.get("Aliases") or ()),
        publish_all=bool(host.get("PublishAllPorts")),
        labels=labels,
        name=name,
        auto_remove=False,  # the server removes it (see the module docstring)
        # `docker run -i` (StdinOnce): the client's leaving ends the container's stdin; a
        # detached `-i` keeps it open for the next attach (the engine's `detach`), and so does
        # a terminal, as moby (a detached `run -it` shell runs on)
        detach=not body.get("StdinOnce") or bool(body.get("Tty")),
        volumes=_volumes(host.get("Binds") or [], body.get("Volumes") or {}, host),
        stop_signal=body.get("StopSignal") or None,
        mounts=tuple(_mount_spec(m) for m in host.get("Mounts") or ()),
        tmpfs=tuple(
            f"{path}:{opts}" if opts else path for path, opts in (host.get("Tmpfs") or {}).items()
        ),
        read_only=bool(host.get("ReadonlyRootfs")),
        cpus=nano / 1e9 if nano else None,
        cpu_shares=host.get("CpuShares") or None,
        cpuset_cpus=host.get("CpusetCpus") or None,
        cap_add=tuple(host.get("CapAdd") or ()),
        cap_drop=tuple(host.get("CapDrop") or ()),
        privileged=bool(host.get("Privileged")),
        security_opt=tuple(host.get("SecurityOpt") or ()),
        ulimits=tuple(f"{u['Name']}={u['Soft']}:{u['Hard']}" for u in host.get("Ulimits") or ()),
        init=bool(host.get("Init")),
        tty=bool(body.get("Tty")),
        interactive=bool(body.get("OpenStdin")),
        restart=policy,
        healthcheck=_healthcheck(body.get("Healthcheck")),
    )


def _healthcheck(check: Any) -> dict[str, Any] | None:
    """`Config.Healthcheck` (Test, durations in ns, Retries) for the engine, which merges it
    over the image's and checks it (engine/health_config.py); None: the image's."""
    if check is None:
        return None
    if not isinstance(check, dict):
        raise ApiError(400, "invalid Healthcheck: give an object with Test, Interval, Timeout...")
    fields = ("Test", "Interval", "Timeout", "StartPeriod", "StartInterval", "Retries")
    return {key: check[key] for key in fields if check.get(key) is not None}


def _mount_spec(mount: dict[str, Any]) -> str:
    """A `HostConfig.Mounts` entry (what `docker run --mount` and docker-py's `mounts=` send)
    as the `--mount` text the engine reads (engine/mount_flags.py checks it)."""
    if not isinstance(mount, dict):
        raise ApiError(400, f"invalid mount {mount!r}: give an object with Type and Target")
    fields = {
        "type": mount.get("Type") or "volume",
        "source": mount.get("Source") or "",
        "target": mount.get("Target") or "",
    }
    if mount.get("ReadOnly"):
        fields["readonly"] = "true"
    propagation = (mount.get("BindOptions") or {}).get("Propagation")
    if propagation:
        fields["bind-propagation"] = propagation
    if (mount.get("VolumeOptions") or {}).get("NoCopy"):
        fields["volume-nocopy"] = "true"
    tmpfs = mount.get("TmpfsOptions") or {}
    if tmpfs.get("SizeBytes"):
        fields["tmpfs-size"] = str(tmpfs["SizeBytes"])
    if tmpfs.get("Mode"):
        fields["tmpfs-mode"] = format(int(tmpfs["Mode"]), "o")  # a number here, octal there
    for key, value in fields.items():
        if "," in str(value):
            raise ApiError(400, f"invalid mount: a comma in its {key} {value!r}")
    return ",".join(f"{k}={v}" for k, v in fields.items() if v != "")


def _volumes(binds: list[str], anonymous: dict[str, Any], host: dict[str, Any]) -> tuple[str, ...]:
    """`Binds`, then an anonymous volume (`-v PATH`) for each path of `Volumes` no bind
    covers: what the docker CLI sends for `-v PATH`, and what moby makes of it."""
    from bastion.engine.mount_flags import parse_volume

    covered = {parse_volume(b).target for b in binds}
    covered |= {os.path.normpath(str(m.get("Target") or "")) for m in host.get("Mounts") or ()}
    extra = [p for p in anonymous if os.path.normpath(p) not in covered]
    return (*binds, *extra)


async def create(request: web.Request) -> web.Response:
    try:
        body = await request.json(loads=_loads)
    except ValueError as exc:
        raise ApiError(400, f"invalid JSON body: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    image = body.get("Image")
    if not image:
        raise ApiError(400, "Config cannot be empty in order to create a container")
    name = request.query.get("name") or None
    options = options_from_body(body, name)

    def make(engine: Engine) -> ContainerRecord:
        from bastion.images import ImageNotFoundError

        try:
            engine.image(image)
        except ImageNotFoundError:
            # moby's 404, on which the docker CLI and docker-py pull and create again
            raise ApiError(404, f"No such image: {_with_tag(image)}") from None
        return engine.create(image, options)

    record = await in_engine(request, make)
    return json_response({"Id": record.id, "Warnings": []}, 201)


def _loads(text: str) -> Any:
    from bastion import jsonio

    return jsonio.loads(text)


def _with_tag(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    return image if ":" in last or "@" in last else f"{image}:latest"


# --- list, inspect --------------------------------------------------------------------------


def summary(
    record: ContainerRecord, networks: dict[str, Any] | None = None, health: str | None = None
) -> dict[str, Any]:
    """A `/containers/json` entry; `networks` its `NetworkSettings.Networks` (clients such as
    testcontainers read a container's address and gateway there); `health` its health status
    when it has a check (`Status` says it as Docker: "Up (healthy)")."""
    args = list(record.config.get("args", ()))
    state = "exited" if record.status == "exited" else record.status
    return {
        "Id": record.id,
        "Names": ["/" + record.name],
        "Image": record.image,
        "ImageID": record.image_id,
        "Command": shlex.join(args),
        "Created": int(record.created),
        "Ports": _ports(record),
        "Labels": dict(record.config.get("labels", {})),
        "State": state,
        "Status": _status(record) + status_suffix(health if record.status == "running" else None),
        "HostConfig": {"NetworkMode": record.config.get("network", "none")},
        "NetworkSettings": {"Networks": networks or {}},
        "Mounts": mount_points(record.config.get("mounts", ())),
    }


def _ports(record: ContainerRecord) -> list[dict[str, Any]]:
    """The published ports the engine recorded, as `/containers/json` lists them."""
    from bastion.engine.operations import published_ports

    return [
        {
            "IP": port.host_ip,
            "PrivatePort": port.container_port,
            "PublicPort": port.host_port,
            "Type": port.protocol,
        }
        for port in published_ports(record)
    ]


#: `/containers/json` filters: what each matches a record on
_LIST_FILTERS: dict[str, Callable[[ContainerRecord], set[str]]] = {
    "id": lambda r: {r.id, r.id[:12]},
    "name": lambda r: {r.name},
    "status": lambda r: {"exited" if r.status == "exited" else r.status},
    "exited": lambda r: {str(r.exit_code)} if r.status == "exited" else set(),
    "ancestor": lambda r: {r.image, r.image_id, r.image.rsplit(":", 1)[0]},
}


def _matches(
    record: ContainerRecord, filters: dict[str, set[str]], health: str | None = None
) -> bool:
    """Whether `record` passes every filter; `health` is its health status (None: no check,
    which the `health` filter calls `none`, as dockerd)."""
    for key, wanted in filters.items():
        if key == "health":
            if (health or "none") not in wanted:
                return False
        elif key == "label":
            labels = record.config.get("labels", {})
            for want in wanted:
                name, eq, value = want.partition("=")
                if name not in labels or (eq and labels[name] != value):
                    return False
        elif key == "id":
            if not any(record.id.startswith(w) for w in wanted):
                return False
        elif key == "name":
            if not any(w.lstrip("/") in record.name for w in wanted):
                return False
        elif not wanted & _LIST_FILTERS[key](record):
            return False
    return True


def _status(record: ContainerRecord) -> str:
    if record.status == "running":
        return "Up"
    if record.status == "exited":
        return f"Exited ({record.exit_code})"
    return "Created"


async def list_containers(request: web.Request) -> web.Response:
    from bastion.api.bodies import query_filters

    filters = query_filters(request)
    unknown = set(filters) - {*_LIST_FILTERS, "label", "health"}
    if unknown:
        raise ApiError(400, f"invalid filter {sorted(unknown)[0]!r}")
    # `limit=N` (N > 0): the N most recently created, running or not, as dockerd
    limit = query_int(request, "limit", 0)
    # a status filter looks at every container, as dockerd
    everything = flag(request, "all") or "status" in filters or "exited" in filters or limit > 0

    def listed(engine: Engine) -> list[dict[str, Any]]:
        records = sorted(engine.containers(all=everything), key=lambda r: -r.created)
        health = engine.health_statuses(records)
        chosen = [r for r in records if _matches(r, filters, health.get(r.id))]
        chosen = chosen[:limit] if limit > 0 else chosen
        return [
            summary(r, (engine.network_settings(r) or {}).get("Networks"), health.get(r.id))
            for r in chosen
        ]

    return json_response(await in_engine(request, listed))


async def inspect(request: web.Request) -> web.Response:
    """Docker's document, and bastion's alert count for the container (the engine's alert
    store) as `bastion.alerts` and the `X-Bastion-Alerts` header."""
    ident = request.match_info["id"]

    def run(engine: Engine) -> dict[str, Any]:
        doc = engine.inspect(ident)
        doc["bastion"] = {"alerts": engine.alert_counts().get(doc["Id"][:12], 0)}
        return doc

    doc = await in_engine(request, run)
    response = json_response(doc)
    response.headers["X-Bastion-Alerts"] = str(doc["bastion"]["alerts"])
    return response


# --- lifecycle ------------------------------------------------------------------------------


async def start(request: web.Request) -> web.Response:
    ident = request.match_info["id"]

    current = look(request, lambda e: e.container(ident))
    if current.status == "running":
        return web.Response(status=304)
    record = await start_attached(request, current.id)
    await request.app[STARTS].started()
    if record.config.get("labels", {}).get(AUTO_REMOVE_LABEL):
        request.app[REMOVALS].watch(request, record)
    return web.Response(status=204)


async def stop(request: web.Request) -> web.Response:
    timeout = float(request.query.get("t", "10"))
    ident = request.match_info["id"]

    def run(engine: Engine) -> bool:
        record = engine.container(ident)
        if record.status != "running":
            return False
        engine.stop(record.id, timeout)
        return True

    # it may wait `t` seconds: not in the executor's few threads (`in_engine_waiting`)
    return web.Response(status=204 if await in_engine_waiting(request, run) else 304)


async def kill(request: web.Request) -> web.Response:
    from bastion.engine.engine import signal_number

    sig = signal_number(request.query.get("signal", "SIGKILL"))
    ident = request.match_info["id"]

    def run(engine: Engine) -> None:
        record = engine.container(ident)
        if record.status != "running":
            raise ApiError(409, f"Container {record.id} is not running")
        engine.kill(record.id, sig)

    await in_engine(request, run)
    return web.Response(status=204)


async def delete(request: web.Request) -> web.Response:
    force = flag(request, "force")
    volumes = flag(request, "v")  # its anonymous volumes too (`docker rm -v`)
    ident = request.match_info["id"]

    def remove(engine: Engine) -> tuple[ContainerRecord, int | None]:
        from bastion.engine import ContainerStateError

        record = engine.container(ident)
        status = None
        with contextlib.suppress(ContainerStateError):  # it has not ended
            status = engine.wait(record.id, timeout=0)
        engine.remove(record.id, force=force, volumes=volumes)
        return record, status

    record, status = await in_engine(request, remove)
    if status is not None:  # for a `wait` that comes to read it after the removal
        request.app[REMOVALS].ended(record.id, status)
    return web.Response(status=204)


async def wait(request: web.Request) -> web.StreamResponse:
    """The headers go out at once (the CLI waits for them before it starts the container);
    the body, `{"StatusCode": N}`, when the condition holds."""
    condition = request.query.get("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise ApiError(400, f"invalid condition: {condition!r}")
    ident = request.match_info["id"]
    record = look(request, lambda e: e.container(ident))
    removals = request.app[REMOVALS]
    auto = bool(record.config.get("labels", {}).get(AUTO_REMOVE_LABEL))
    removed = removals.event(record.id) if auto else None
    response = web.StreamResponse(status=200)
    response.content_type = "application/json"
    await response.prepare(request)
    if condition == "not-running" and record.status in ("created", "exited"):
        status = record.exit_code or 0
    elif removed is not None:
        await removed.wait()
        status = removals.statuses.get(record.id, 0)
    else:
        # moby's next-exit of an exited container waits for the exit of a run still to come,
        # not the one that was; and a container not started yet (`docker run` without --rm
        # sends its wait first) is waited for here, woken by `start`: `Engine.wait` would
        # poll for it
        current: ContainerRecord | None = record
        unstarted = record.status in ("created", "starting")
        if unstarted or (record.status == "exited" and condition == "next-exit"):
            until, current = await _until_run(request, record)
            if until == "left":
                return response  # the client left first
        if current is not None and current.status == "exited" and current is not record:
            status = current.exit_code or 0  # it ran and ended already
        else:
            status = await _exit_status(request, record)
        if condition == "removed":
            while look(request, lambda e: _exists(e, record.id)):
                await asyncio.sleep(0.1)
    await response.write(_json_line({"StatusCode": status, "Error": None}))
    await response.write_eof()
    return response


async def _until_run(
    request: web.Request, record: ContainerRecord
) -> tuple[Literal["ran", "removed", "left"], ContainerRecord | None]:
    """Wait until the container has been started since `record` was read (a newer `started`)
    and its start is done (it runs, or has ended already): "ran" and its record then;
    "removed" if it is removed first, "left" if the client leaves first."""
    from bastion.engine import NoSuchContainerError

    while True:
        transport = request.transport
        if transport is None or transport.is_closing():
            return "left", None
        try:
            current = look(request, lambda e: e.container(record.id))
        except NoSuchContainerError:
            return "removed", None
        if current.started != record.started and current.status not in ("created", "starting"):
            return "ran", current
        await request.app[STARTS].wait(0.1)


async def _exit_status(request: web.Request, record: ContainerRecord) -> int:
    """The container's exit status once it has ended; if it has been removed (the headers are
    out: no 404 now), the one `DELETE` read before removing it, else 0."""
    from bastion.engine import NoSuchContainerError

    try:
        return await in_engine_waiting(request, lambda e: e.wait(record.id))
    except NoSuchContainerError:
        return request.app[REMOVALS].statuses.get(record.id, record.exit_code or 0)


def _exists(engine: Engine, container_id: str) -> bool:
    from bastion.engine import NoSuchContainerError

    try:
        engine.container(container_id)
    except NoSuchContainerError:
        return False
    return True


def _json_line(doc: object) -> bytes:
    from bastion import jsonio

    return jsonio.dumps(doc).encode() + b"\n"


# --- output ---------------------------------------------------------------------------------


def _stream_in_thread(
    request: web.Request, produce: Callable[[Engine], Iterator[bytes]]
) -> tuple[asyncio.Queue[bytes | None], threading.Event]:
    """Run `produce(engine)` in a worker thread, its items into an asyncio queue (None at the
    end); setting the returned event stops it at its next item."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=256)
    stop = threading.Event()

    def run() -> None:
        try:
            with request.app[_engine_key()].open() as engine:
                for item in produce(engine):
                    if stop.is_set():
                        break
                    asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()
        finally:
            asyncio.run_coroutine_threadsafe(queue.put(None), loop)

    threading.Thread(target=run, name="bastion-api-stream", daemon=True).start()
    return queue, stop


def _engine_key() -> web.AppKey[Any]:
    from bastion.api.server import ENGINE_KEY

    return ENGINE_KEY


def _log_frames(
    ident: str,
    *,
    stdout: bool,
    stderr: bool,
    follow: bool,
    tail: int | None,
    timestamps: bool,
    since: float | None,
    until: float | None,
) -> Callable[[Engine], Iterator[bytes]]:
    def produce(engine: Engine) -> Iterator[bytes]:
        record = engine.container(ident)
        tty = bool(record.config.get("tty"))  # a terminal's output is one raw stream
        lines = engine.logs(record.id, tail=tail, follow=follow, since=since, until=until)
        for line in lines:
            wanted = stdout if line.stream == "stdout" else stderr
            if not wanted:
                continue
            text = line.text if line.partial else line.text + b"\n"
            if timestamps:
                text = line.time.encode() + b" " + text
            stream = streams.STDERR if line.stream == "stderr" else streams.STDOUT
            yield text if tty else streams.frame(stream, text)

    return produce


async def logs(request: web.Request) -> web.StreamResponse:
    stdout, stderr = flag(request, "stdout"), flag(request, "stderr")
    if not (stdout or stderr):
        raise ApiError(400, "Bad parameters: you must choose at least one stream")
    tail_text = request.query.get("tail", "all")
    try:
        tail = None if tail_text in ("all", "") else int(tail_text)
    except ValueError:
        raise ApiError(400, f"invalid tail {tail_text!r}: a number or all") from None
    ident = request.match_info["id"]
    since, until = query_time(request, "since") or None, query_time(request, "until") or None
    look(request, lambda e: e.container(ident))  # 404 before any byte
    response = web.StreamResponse(status=200)
    response.content_type = "application/vnd.docker.raw-stream"
    await response.prepare(request)
    produce = _log_frames(
        ident,
        stdout=stdout,
        stderr=stderr,
        follow=flag(request, "follow"),
        tail=tail,
        timestamps=flag(request, "timestamps"),
        since=since,
        until=until,
    )
    queue, stop_event = _stream_in_thread(request, produce)
    try:
        while (item := await queue.get()) is not None:
            await response.write(item)
    finally:
        stop_event.set()
    await response.write_eof()
    return response
