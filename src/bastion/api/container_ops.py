"""`/containers/...` beyond the lifecycle: restart, pause/unpause, rename, top, changes, stats,
archive (GET/HEAD/PUT) and prune, each over its `Engine` verb (operations.py, copy.py through
archive.py, process_table.py, changes.py)."""

from __future__ import annotations

import asyncio
import base64
import datetime
import os
import tempfile
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bastion import jsonio
from bastion.api.bodies import query_int
from bastion.api.errors import ApiError
from bastion.api.server import add, in_engine, in_engine_waiting
from bastion.api.system import json_response

if TYPE_CHECKING:
    from bastion.engine import Engine
    from bastion.engine.operations import ContainerStats


def register(app: web.Application) -> None:
    add(app, "POST", "/containers/{id}/restart", restart)
    add(app, "POST", "/containers/{id}/pause", pause)
    add(app, "POST", "/containers/{id}/unpause", unpause)
    add(app, "POST", "/containers/{id}/rename", rename)
    add(app, "GET", "/containers/{id}/top", top)
    add(app, "GET", "/containers/{id}/changes", changes)
    add(app, "GET", "/containers/{id}/stats", stats)
    add(app, "GET", "/containers/{id}/archive", get_archive)
    add(app, "HEAD", "/containers/{id}/archive", head_archive)
    add(app, "PUT", "/containers/{id}/archive", put_archive)
    add(app, "POST", "/containers/prune", prune)


async def restart(request: web.Request) -> web.Response:
    timeout = query_int(request, "t", 10)
    ident = request.match_info["id"]
    # the stop may wait `t` seconds: not in the executor's few threads
    await in_engine_waiting(request, lambda e: e.restart(ident, timeout))
    return web.Response(status=204)


async def pause(request: web.Request) -> web.Response:
    ident = request.match_info["id"]
    await in_engine(request, lambda e: e.pause(ident))
    return web.Response(status=204)


async def unpause(request: web.Request) -> web.Response:
    ident = request.match_info["id"]
    await in_engine(request, lambda e: e.unpause(ident))
    return web.Response(status=204)


async def rename(request: web.Request) -> web.Response:
    new = request.query.get("name", "")
    if not new:
        raise ApiError(400, "rename needs a new name: ?name=NEW")
    ident = request.match_info["id"]
    await in_engine(request, lambda e: e.rename(ident, new.lstrip("/")))
    return web.Response(status=204)


async def top(request: web.Request) -> web.Response:
    import shlex

    from bastion.engine.process_table import ps_table

    options = shlex.split(request.query.get("ps_args", ""))
    ident = request.match_info["id"]

    def run(engine: Engine) -> tuple[list[str], list[list[str]]]:
        return ps_table(engine.top(ident), options)

    titles, rows = await in_engine(request, run)
    return json_response({"Titles": titles, "Processes": rows})


async def changes(request: web.Request) -> web.Response:
    ident = request.match_info["id"]
    found = await in_engine(request, lambda e: e.changes(ident))
    return json_response([{"Path": path, "Kind": kind} for path, kind in found])


# --- stats ----------------------------------------------------------------------------------


def _iso(when: float) -> str:
    text = datetime.datetime.fromtimestamp(when, datetime.UTC).isoformat()
    return text.replace("+00:00", "Z")


def _cpu(sample: ContainerStats | None, system_ns: int, cpus: int) -> dict[str, Any]:
    if sample is None:
        return {"cpu_usage": {"total_usage": 0}, "throttling_data": {}}
    return {
        "cpu_usage": {"total_usage": sample.cpu_ns, "usage_in_kernelmode": 0},
        "system_cpu_usage": system_ns,
        "online_cpus": cpus,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    }


def stats_document(
    now: ContainerStats,
    before: ContainerStats | None,
    system_now: int,
    system_before: int,
    cpus: int,
    host_memory: int,
    read: float,
    preread: float | None,
) -> dict[str, Any]:
    """One sample in Docker's shape (what `docker stats` computes its columns from: CPU % from
    the deltas of `cpu_usage.total_usage` and `system_cpu_usage` times `online_cpus`; memory
    usage against its limit, the host's memory when the cgroup has none)."""
    return {
        "read": _iso(read),
        "preread": _iso(preread) if preread is not None else "0001-01-01T00:00:00Z",
        "id": now.id,
        "name": "/" + now.name,
        "num_procs": 0,
        "pids_stats": {
            "current": now.pids,
            **({"limit": now.pids_limit} if now.pids_limit else {}),
        },
        "cpu_stats": _cpu(now, system_now, cpus),
        "precpu_stats": _cpu(before, system_before, cpus),
        "memory_stats": {
            "usage": now.memory_usage,
            "limit": now.memory_limit or host_memory,
            "stats": {},
        },
        "blkio_stats": {
            "io_service_bytes_recursive": [
                {"major": major, "minor": minor, "op": op, "value": value}
                for major, minor, op, value in now.block_io
            ]
        },
        "networks": {name: dict(counters) for name, counters in now.networks.items()},
    }


async def stats(request: web.Request) -> web.StreamResponse:
    """`stream=true` (default): a document a second until the client leaves or the container
    ends; `stream=false`: one, after a second's second sample (so CPU % has its deltas);
    `one-shot=true` with it: one at once, precpu empty."""
    import time

    from bastion.engine import ContainerStateError
    from bastion.engine.host_cpu import online_cpus, system_cpu_ns
    from bastion.engine.operations import host_memory

    stream = request.query.get("stream", "1").lower() not in ("0", "false")
    one_shot = request.query.get("one-shot", "").lower() in ("1", "true")
    ident = request.match_info["id"]
    record = await in_engine(request, lambda e: e.container(ident))
    cpus, memory = online_cpus(), host_memory()
    if record.status != "running":
        # as dockerd: a container that does not run has a document of zeros (`docker stats -a`)
        from bastion.engine.operations import ContainerStats

        idle = ContainerStats(record.id, record.name, 0.0, 0, 0, None, 0, None)
        return json_response(stats_document(idle, None, 0, 0, cpus, 0, 0.0, None))

    async def sample() -> tuple[ContainerStats, int, float]:
        taken = await in_engine(request, lambda e: e.stats(record.id))
        return taken, system_cpu_ns(), time.time()

    before: tuple[ContainerStats, int, float] | None = None
    now = await sample()
    if not stream:
        if not one_shot:
            await asyncio.sleep(1)
            before, now = now, await sample()
        return json_response(_document(now, before, cpus, memory))
    response = web.StreamResponse(status=200)
    response.content_type = "application/json"
    await response.prepare(request)
    try:
        while True:
            await response.write(
                jsonio.dumps(_document(now, before, cpus, memory)).encode() + b"\n"
            )
            await asyncio.sleep(1)
            before = now
            try:
                now = await sample()
            except ContainerStateError:  # it ended: so does the stream
                break
    except (ConnectionResetError, asyncio.CancelledError):
        return response
    await response.write_eof()
    return response


def _document(
    now: tuple[ContainerStats, int, float],
    before: tuple[ContainerStats, int, float] | None,
    cpus: int,
    memory: int,
) -> dict[str, Any]:
    return stats_document(
        now[0],
        before[0] if before else None,
        now[1],
        before[1] if before else 0,
        cpus,
        memory,
        now[2],
        before[2] if before else None,
    )


# --- archive --------------------------------------------------------------------------------


def _path(request: web.Request) -> str:
    path = request.query.get("path", "")
    if not path:
        raise ApiError(400, "the path parameter is required: ?path=/PATH/IN/CONTAINER")
    return path


def _stat_header(doc: dict[str, Any]) -> str:
    return base64.b64encode(jsonio.dumps(doc).encode()).decode()


def _not_found(exc: Exception, ident: str, path: str) -> ApiError | None:
    """copy.py's "no such ..." as moby's 404 (the docker CLI copies to a new name on it)."""
    from bastion.engine import CopyError

    if isinstance(exc, CopyError) and exc.message.startswith("no such"):
        return ApiError(404, f"Could not find the file {path} in container {ident}")
    return None


async def head_archive(request: web.Request) -> web.Response:
    from bastion.engine.archive import copied_out

    ident, path = request.match_info["id"], _path(request)
    await in_engine(request, lambda e: e.container(ident))  # moby's 404 before the path's

    def run(engine: Engine) -> dict[str, Any]:
        with copied_out(engine, ident, path) as (_, doc):
            return doc

    try:
        doc = await in_engine(request, run)
    except Exception as exc:
        raise _not_found(exc, ident, path) or exc from None
    return web.Response(status=200, headers={"X-Docker-Container-Path-Stat": _stat_header(doc)})


async def get_archive(request: web.Request) -> web.StreamResponse:
    from bastion.engine.archive import copied_out, write_tar

    ident, path = request.match_info["id"], _path(request)
    await in_engine(request, lambda e: e.container(ident))  # moby's 404 before the path's
    with tempfile.TemporaryFile() as spool:

        def run(engine: Engine) -> dict[str, Any]:
            with copied_out(engine, ident, path) as (copy, doc):
                write_tar(copy, spool)
            spool.seek(0)
            return doc

        try:
            doc = await in_engine(request, run)
        except Exception as exc:
            raise _not_found(exc, ident, path) or exc from None
        response = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "application/x-tar",
                "X-Docker-Container-Path-Stat": _stat_header(doc),
            },
        )
        response.content_length = os.fstat(spool.fileno()).st_size
        await response.prepare(request)
        while chunk := await asyncio.to_thread(spool.read, 1 << 20):
            await response.write(chunk)
        await response.write_eof()
        return response


async def put_archive(request: web.Request) -> web.Response:
    from bastion.engine.archive import put_archive as unpack

    ident, path = request.match_info["id"], _path(request)
    await in_engine(request, lambda e: e.container(ident))  # 404 before reading the body
    with tempfile.TemporaryFile() as spool:
        while chunk := await request.content.read(1 << 20):
            await asyncio.to_thread(spool.write, chunk)
        spool.seek(0)
        try:
            await in_engine(request, lambda e: unpack(e, ident, path, spool))
        except Exception as exc:
            raise _not_found(exc, ident, path) or exc from None
    return web.Response(status=200)


async def prune(request: web.Request) -> web.Response:
    from bastion.api.bodies import query_filters

    filters = query_filters(request)
    if set(filters) - {"label", "until"}:
        raise ApiError(400, f"invalid filter {sorted(set(filters) - {'label', 'until'})[0]!r}")
    if filters:
        raise ApiError(400, "container prune filters (label, until) are not supported yet")
    pruned = await in_engine(request, lambda e: e.prune_containers())
    return json_response(
        {"ContainersDeleted": pruned.removed or None, "SpaceReclaimed": pruned.reclaimed}
    )
