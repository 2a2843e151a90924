"""`POST /build`: the classic builder (`DOCKER_BUILDKIT=0 docker build`, docker-py's
`images.build`) over the engine's `build`.

The body is the build context as a tar (plain or gzip; chunked or not). It is spooled to a
file under the engine root and unpacked with the layer unpacker's rules (nothing lands outside
the context directory, whatever the names say). The answer is a chunked JSON stream, as moby's:
`{"stream": "Step 1/N : ..."}` and the steps' output, `{"aux": {"ID": "sha256:..."}}`, and a
failure as `{"error": ..., "errorDetail": {"message": ..., "code": N}}` (N: a failed RUN's
status, which the docker CLI exits with).

A client that goes away mid-build cancels it: the build's RUN container is killed and the
build stops with no image named (its finished steps stay in the cache). The query parameters
`rm`/`forcerm` are accepted and always true (a step's container never outlives it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import threading
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bastion.api import streams
from bastion.api.errors import ApiError
from bastion.api.server import ENGINE_KEY, add, in_engine
from bastion.errors import BastionError

if TYPE_CHECKING:
    from bastion.engine import BuildResult, Engine

#: How often a silent build looks whether its client is still there.
_POLL = 0.5


def register(app: web.Application) -> None:
    add(app, "POST", "/build", build)


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")


def _json_map(request: web.Request, name: str) -> dict[str, str]:
    text = request.query.get(name)
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise ApiError(400, f"{name} is not a JSON object: {text!r}") from None
    if not isinstance(value, dict):
        raise ApiError(400, f"{name} must be a JSON object of strings")
    # a null build arg is one given without a value: not set (moby)
    return {str(k): str(v) for k, v in value.items() if v is not None}


async def _spool(request: web.Request, directory: str) -> str:
    """The request body (the context tar) into a file; its path."""
    path = os.path.join(directory, "context.tar")
    with open(path, "wb") as f:
        async for chunk in request.content.iter_chunked(1 << 20):
            f.write(chunk)
    return path


def _unpack_context(archive: str, directory: str) -> None:
    from bastion.images import unpack_layer

    os.makedirs(directory, mode=0o700)
    if os.path.getsize(archive) == 0:
        return  # an empty context: a Dockerfile given by URL is not supported, FROM-only is fine
    with open(archive, "rb") as f:
        unpack_layer(f, directory, chown=False)


async def build(request: web.Request) -> web.StreamResponse:
    from bastion.engine import BuildOptions
    from bastion.engine.engine import default_root

    query = request.query
    if query.get("remote"):
        raise ApiError(501, "building from a remote context (git or URL) is not supported")
    network = query.get("networkmode") or "host"
    if network in ("default", "bridge"):
        network = "host"  # bastion's RUN steps share the host's network (docs/api.md)
    if network not in ("host", "none"):
        raise ApiError(400, f"networkmode {network!r} is not supported: use host or none")
    dockerfile = query.get("dockerfile") or "Dockerfile"
    if os.path.isabs(dockerfile) or os.path.normpath(dockerfile).startswith(".."):
        raise ApiError(400, f"the Dockerfile {dockerfile!r} is not inside the build context")
    root = request.app[ENGINE_KEY].root or default_root()
    os.makedirs(os.path.join(root, "tmp"), exist_ok=True)
    work = tempfile.mkdtemp(prefix="build-context-", dir=os.path.join(root, "tmp"))
    try:
        archive = await _spool(request, work)
        context = os.path.join(work, "context")
        await asyncio.to_thread(_unpack_context, archive, context)
        os.unlink(archive)
        options = BuildOptions(
            context=context,
            dockerfile=dockerfile,
            tags=tuple(query.getall("t", [])),
            build_args=_json_map(request, "buildargs"),
            labels=_json_map(request, "labels"),
            no_cache=_flag(request, "nocache"),
            target=query.get("target") or None,
            network=network,
        )
        return await _stream(request, options, quiet=_flag(request, "q"))
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)


async def _stream(request: web.Request, options: Any, *, quiet: bool) -> web.StreamResponse:
    progress = streams.Progress(request)
    await progress.start()
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()
    cancel = threading.Event()

    def say(text: str) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, text)

    def work(engine: Engine) -> BuildResult:
        return engine.build(options, say=None if quiet else say, cancel=cancel)

    task = asyncio.ensure_future(in_engine(request, work))
    try:
        while not task.done() or not queue.empty():
            if _gone(request):
                cancel.set()
                break
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({task, getter}, timeout=_POLL, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                await progress.send({"stream": getter.result()})
            else:
                getter.cancel()
    except (ConnectionResetError, asyncio.CancelledError):
        cancel.set()
        with contextlib.suppress(BaseException):
            await asyncio.shield(task)  # the build cleans up (its container, its overlay)
        raise
    if cancel.is_set():
        with contextlib.suppress(BaseException):
            await task
        return progress.response
    try:
        result = task.result()
    except Exception as exc:  # the 200 is sent: every failure goes into the stream
        message = exc.message if isinstance(exc, BastionError) else f"{type(exc).__name__}: {exc}"
        detail: dict[str, Any] = {"message": message}
        code = getattr(exc, "step_exit_code", None)
        if code is not None:
            detail["code"] = code
        await progress.send({"errorDetail": detail, "error": message})
    else:
        await progress.send({"aux": {"ID": result.image_id}})
        if quiet:
            await progress.send({"stream": result.image_id + "\n"})
    return await progress.finish()


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()
