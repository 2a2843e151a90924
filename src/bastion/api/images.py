"""`/images/...`: pull (`create`), list, inspect, delete.

A pull answers 200 at once and streams Docker's progress objects (`status`, `id`,
`progressDetail`), one per line; a failure after that is an `errorDetail` object in the stream,
as moby's (the docker CLI prints its message and exits 1).
"""

from __future__ import annotations

import asyncio
import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bastion.api import streams
from bastion.api.errors import ApiError
from bastion.api.server import add, in_engine
from bastion.api.system import json_response
from bastion.errors import BastionError

if TYPE_CHECKING:
    from bastion.engine import Engine, ImageRecord
    from bastion.images import PullProgress


def register(app: web.Application) -> None:
    add(app, "GET", "/images/json", list_images)
    add(app, "POST", "/images/create", pull)
    add(app, "GET", "/images/{name:.+}/json", inspect)
    add(app, "DELETE", "/images/{name:.+}", delete)


def _created(record: ImageRecord) -> int:
    try:
        moment = datetime.datetime.fromisoformat(record.created.replace("Z", "+00:00"))
    except ValueError:
        return int(record.pulled)
    return int(moment.timestamp())


def summary(record: ImageRecord) -> dict[str, Any]:
    repository = record.name.split("@", 1)[0].rsplit(":", 1)[0]
    return {
        "Id": record.image_id,
        "ParentId": "",
        "RepoTags": [record.name] if "@" not in record.name else [],
        "RepoDigests": [f"{repository}@{record.digest}"],
        "Created": _created(record),
        "Size": record.size,
        "VirtualSize": record.size,
        "SharedSize": -1,
        "Labels": {},
        "Containers": -1,
    }


async def list_images(request: web.Request) -> web.Response:
    records = await in_engine(request, lambda e: e.images())
    return json_response([summary(r) for r in records])


async def inspect(request: web.Request) -> web.Response:
    name = request.match_info["name"]

    def look(engine: Engine) -> dict[str, Any]:
        record = engine.image(name)
        image = engine.layout.image(record.name)
        config = image.config
        return {
            "Id": record.image_id,
            "RepoTags": [record.name],
            "RepoDigests": summary(record)["RepoDigests"],
            "Parent": "",
            "Created": record.created,
            "Size": record.size,
            "VirtualSize": record.size,
            "Os": "linux",
            "Architecture": "amd64",
            "Config": {
                "Env": list(config.env),
                "Cmd": list(config.cmd) if config.cmd is not None else None,
                "Entrypoint": list(config.entrypoint) if config.entrypoint is not None else None,
                "WorkingDir": config.working_dir,
                "User": config.user,
                "Labels": dict(config.labels) or None,
                "StopSignal": config.stop_signal or None,
            },
            "RootFS": {"Type": "layers", "Layers": list(config.diff_ids)},
            "GraphDriver": {"Name": "overlay", "Data": None},
        }

    return json_response(await in_engine(request, look))


async def delete(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    force = request.query.get("force", "").lower() in ("1", "true")

    def remove(engine: Engine) -> list[dict[str, str]]:
        record = engine.image(name)
        untagged = engine.remove_image(record.name, force=force)
        return [{"Untagged": n} for n in untagged] + [{"Deleted": record.image_id}]

    return json_response(await in_engine(request, remove))


async def pull(request: web.Request) -> web.StreamResponse:
    source = request.query.get("fromImage")
    if not source:
        if request.query.get("fromSrc"):
            raise ApiError(501, "image import through the API is not supported yet")
        raise ApiError(400, "fromImage is required")
    tag = request.query.get("tag")
    reference = source
    if tag:
        reference = f"{source}@{tag}" if tag.startswith("sha256:") else f"{source}:{tag}"
    progress = streams.Progress(request)
    await progress.start()
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    shown = reference.rsplit(":", 1)[-1] if tag else "latest"

    def report(step: PullProgress) -> None:
        doc: dict[str, Any] = {"id": step.digest.removeprefix("sha256:")[:12]}
        if step.state == "present":
            doc["status"] = "Already exists"
        elif step.state == "done":
            doc["status"] = "Pull complete"
        else:
            doc["status"] = "Downloading"
            doc["progressDetail"] = {"current": step.done, "total": step.total}
        loop.call_soon_threadsafe(queue.put_nowait, doc)

    await progress.send({"status": f"Pulling from {source.split(':')[0]}", "id": shown})
    task = asyncio.ensure_future(in_engine(request, lambda e: e.pull(reference, progress=report)))
    while not task.done() or not queue.empty():
        getter = asyncio.ensure_future(queue.get())
        await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            await progress.send(getter.result())
        else:
            getter.cancel()
    try:
        record = task.result()
    except BastionError as exc:
        await progress.error(exc.message)
    else:
        await progress.send({"status": f"Digest: {record.digest}"})
        await progress.send({"status": f"Status: Downloaded newer image for {record.name}"})
    return await progress.finish()
