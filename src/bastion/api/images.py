"""`/images/...`: pull (`create`), list, inspect, delete, history, tag, push, save (`get`),
load, prune; `search` answers 501 (there is no Docker Hub to search).

A pull answers 200 at once and streams Docker's progress objects (`status`, `id`,
`progressDetail`), one per line; a failure after that is an `errorDetail` object in the stream,
as moby's (the docker CLI prints its message and exits 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import shutil
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from bastion.api import streams
from bastion.api.errors import ApiError
from bastion.api.server import add, in_engine
from bastion.api.system import json_response
from bastion.errors import BastionError

if TYPE_CHECKING:
    from bastion.engine import Engine, ImageRecord
    from bastion.images import Credentials, PullProgress

T = TypeVar("T")


def register(app: web.Application) -> None:
    add(app, "GET", "/images/json", list_images)
    add(app, "POST", "/images/create", pull)
    add(app, "GET", "/images/search", search)
    add(app, "GET", "/images/get", save)
    add(app, "POST", "/images/load", load)
    add(app, "POST", "/images/prune", prune)
    add(app, "GET", "/images/{name:.+}/json", inspect)
    add(app, "GET", "/images/{name:.+}/history", history)
    add(app, "GET", "/images/{name:.+}/get", save)
    add(app, "POST", "/images/{name:.+}/tag", tag)
    add(app, "POST", "/images/{name:.+}/push", push)
    add(app, "DELETE", "/images/{name:.+}", delete)
    add(app, "POST", "/commit", commit)


def registry_auth(request: web.Request) -> Credentials | None:
    """The client's credentials for the registry (`X-Registry-Auth`: base64url JSON with
    `username`/`password` or an `identitytoken`, as the docker CLI and docker-py send them);
    None without any."""
    import base64

    header = request.headers.get("X-Registry-Auth", "").strip()
    if not header:
        return None
    try:
        padded = header + "=" * (-len(header) % 4)
        document = json.loads(base64.urlsafe_b64decode(padded))
    except ValueError:
        raise ApiError(400, "X-Registry-Auth is not base64url JSON") from None
    if not isinstance(document, dict):
        return None
    from bastion.images import Credentials

    token = document.get("identitytoken") or None
    username, password = document.get("username") or "", document.get("password") or ""
    if not (username or token):
        return None  # `{}`: the CLI's "no credentials"
    return Credentials(str(username), str(password), identity_token=token)


def _created(record: ImageRecord) -> int:
    try:
        moment = datetime.datetime.fromisoformat(record.created.replace("Z", "+00:00"))
    except ValueError:
        return int(record.pulled)
    return int(moment.timestamp())


def summary(record: ImageRecord, labels: dict[str, str] | None = None) -> dict[str, Any]:
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
        "Labels": dict(labels or {}),
        "Containers": -1,
    }


async def list_images(request: web.Request) -> web.Response:
    from bastion.api.bodies import query_filters
    from bastion.api.image_filters import LIST_FILTERS, check, predicate

    filters = query_filters(request)
    check(filters, LIST_FILTERS)

    def listed(engine: Engine) -> list[dict[str, Any]]:
        keep = predicate(engine, filters)
        return [
            summary(r, engine.layout.image(r.name).config.labels)
            for r in engine.images()
            if keep(r)
        ]

    return json_response(await in_engine(request, listed))


async def inspect(request: web.Request) -> web.Response:
    name = request.match_info["name"]

    def look(engine: Engine) -> dict[str, Any]:
        # the engine's document (`bastion image inspect`'s), with the fields of moby's that
        # older clients still read
        document = engine.inspect_image(name)
        return {
            **document,
            "VirtualSize": document["Size"],
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

    # the engine logs moby's image events: `untag`, then `delete` (events_log.py)
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
            # moby reports the download's end before the unpacking's ("Download complete",
            # then "Pull complete"); the engine unpacks as it downloads, so both come here
            loop.call_soon_threadsafe(queue.put_nowait, {**doc, "status": "Download complete"})
            doc["status"] = "Pull complete"
        else:
            doc["status"] = "Downloading"
            doc["progressDetail"] = {"current": step.done, "total": step.total}
        loop.call_soon_threadsafe(queue.put_nowait, doc)

    await progress.send({"status": f"Pulling from {source.split(':')[0]}", "id": shown})
    credentials = registry_auth(request)
    platform = request.query.get("platform") or None  # "os/arch[/variant]" in an index
    task = asyncio.ensure_future(
        in_engine(
            request,
            lambda e: e.pull(
                reference, progress=report, credentials=credentials, platform=platform
            ),
        )
    )
    try:
        record = await _relay(progress, queue, task)
    except BastionError as exc:
        await progress.error(exc.message)
    else:
        await progress.send({"status": f"Digest: {record.digest}"})
        await progress.send({"status": f"Status: Downloaded newer image for {record.name}"})
    return await progress.finish()


async def search(request: web.Request) -> web.Response:
    raise ApiError(
        501,
        "image search is not supported: bastion has no Docker Hub to search "
        "(pull a full reference from the registry you use)",
    )


async def history(request: web.Request) -> web.Response:
    from bastion.engine.image_verbs import created_stamp

    name = request.match_info["name"]

    def rows(engine: Engine) -> list[dict[str, Any]]:
        record = engine.image(name)
        tags = [r.name for r in engine.images() if r.image_id == record.image_id]
        return [
            {
                "Id": row.id,
                "Created": int(created_stamp(row.created)),
                "CreatedBy": row.created_by,
                "Tags": tags if index == 0 else None,
                "Size": row.size,
                "Comment": row.comment,
            }
            for index, row in enumerate(engine.history(name))
        ]

    return json_response(await in_engine(request, rows))


async def tag(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    repo = request.query.get("repo")
    if not repo:
        raise ApiError(400, "repo is required")
    target = f"{repo}:{request.query['tag']}" if request.query.get("tag") else repo
    await in_engine(request, lambda e: e.tag(name, target))
    return web.Response(status=201)


async def _relay(
    progress: streams.Progress, queue: asyncio.Queue[dict[str, Any]], task: asyncio.Future[T]
) -> T:
    """Send the progress documents the engine queues while `task` runs (pull, push), then
    the task's result (or its error)."""
    while not task.done() or not queue.empty():
        getter = asyncio.ensure_future(queue.get())
        waited: set[asyncio.Future[Any]] = {task, getter}
        await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            await progress.send(getter.result())
        else:
            getter.cancel()
    return task.result()


async def push(request: web.Request) -> web.StreamResponse:
    """Push with a progress stream (`Pushing`, `Pushed`, the digest line the CLI prints);
    the credentials of X-Registry-Auth, else the engine's auth files (`bastion login`)."""
    name = request.match_info["name"]
    tag = request.query.get("tag")
    reference = f"{name}:{tag}" if tag else name
    progress = streams.Progress(request)
    await progress.start()
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def report(step: PullProgress) -> None:
        doc: dict[str, Any] = {"id": step.digest.removeprefix("sha256:")[:12]}
        if step.state == "present":
            doc["status"] = "Layer already exists"
        elif step.state == "done":
            doc["status"] = "Pushed"
        else:
            doc["status"] = "Pushing"
            doc["progressDetail"] = {"current": step.done, "total": step.total}
        loop.call_soon_threadsafe(queue.put_nowait, doc)

    def work(engine: Engine) -> tuple[str, int]:
        record = engine.image(reference)
        digest = engine.push(record.name, progress=report, credentials=credentials)
        size = len(engine.layout.read_blob(digest))
        return digest, size

    credentials = registry_auth(request)
    await progress.send({"status": f"The push refers to repository [{name}]"})
    task = asyncio.ensure_future(in_engine(request, work))
    try:
        digest, size = await _relay(progress, queue, task)
    except BastionError as exc:
        await progress.error(exc.message)
    else:
        last = reference.rsplit("/", 1)[-1]
        shown = tag or (last.rsplit(":", 1)[-1] if ":" in last else "latest")
        await progress.send({"status": f"{shown}: digest: {digest} size: {size}"})
        await progress.send({"aux": {"Tag": shown, "Digest": digest, "Size": size}})
    return await progress.finish()


async def save(request: web.Request) -> web.StreamResponse:
    """A docker-archive of the images (`/images/NAME/get`, `/images/get?names=...`), streamed
    from a file the engine writes whole first."""
    import tempfile

    names = [request.match_info["name"]] if "name" in request.match_info else []
    names += request.query.getall("names", [])
    if not names:
        raise ApiError(400, "name the images to save (names=...)")
    directory = tempfile.mkdtemp(prefix="bastion-save-")
    path = os.path.join(directory, "images.tar")
    try:
        await in_engine(request, lambda e: e.save(names, path))
        response = web.StreamResponse(status=200)
        response.content_type = "application/x-tar"
        response.enable_chunked_encoding()
        await response.prepare(request)
        with open(path, "rb") as f:
            while chunk := await asyncio.to_thread(f.read, 1 << 20):
                await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def load(request: web.Request) -> web.StreamResponse:
    """Load a docker-archive or oci-archive from the body; `Loaded image: NAME` lines."""
    import tempfile

    directory = tempfile.mkdtemp(prefix="bastion-load-")
    path = os.path.join(directory, "images.tar")
    try:
        with open(path, "wb") as f:
            async for chunk in request.content.iter_chunked(1 << 20):
                f.write(chunk)
        progress = streams.Progress(request)
        await progress.start()
        try:
            records = await in_engine(request, lambda e: e.load(path))
        except BastionError as exc:
            await progress.error(exc.message)
            return await progress.finish()
        for record in records:
            if record.name.startswith("sha256:"):
                text = f"Loaded image ID: {record.image_id}\n"
            else:
                text = f"Loaded image: {_short_name(record.name)}\n"
            await progress.send({"stream": text})
        return await progress.finish()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _short_name(name: str) -> str:
    """`docker.io/library/x:1` as Docker prints it (`x:1`)."""
    return name.removeprefix("docker.io/").removeprefix("library/")


async def prune(request: web.Request) -> web.Response:
    """`image prune`: untagged images, or with `dangling=false` every image no container uses;
    `label` (what Ryuk asks for: never every image) and `until` narrow it (image_filters.py)."""
    from bastion.api.bodies import parse_time, query_filters
    from bastion.api.image_filters import check, predicate

    filters = query_filters(request)
    check(filters, frozenset({"dangling", "label", "until"}))
    prune_all = any(v.lower() in ("false", "0") for v in filters.pop("dangling", ()))
    until = [parse_time(v, "until") for v in filters.pop("until", ())]

    def work(engine: Engine) -> dict[str, Any]:
        from bastion.engine.image_verbs import created_stamp, is_untagged
        from bastion.engine.system import Pruned

        ids = {r.name: r.image_id for r in engine.images()}
        if filters or until:
            keep = predicate(engine, filters)
            used = {c.image_id for c in engine.metadata.containers()}
            doomed = [
                r.name
                for r in engine.images()
                if r.image_id not in used
                and (prune_all or is_untagged(r.name))
                and keep(r)
                and all(created_stamp(r.created, r.pulled) < t for t in until)
            ]
            pruned = Pruned()
            for name in doomed:
                with contextlib.suppress(BastionError):  # gone meanwhile, or used now
                    pruned.removed.extend(engine.remove_image(name))
        else:
            pruned = engine.prune_images(all=prune_all)
        deleted = []
        for name in pruned.removed:
            if not name.startswith("sha256:"):
                deleted.append({"Untagged": name})
            deleted.append({"Deleted": ids.get(name, name)})
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": pruned.reclaimed}

    return json_response(await in_engine(request, work))


async def commit(request: web.Request) -> web.Response:
    """`POST /commit?container=&repo=&tag=&comment=&author=&changes=`: 201 `{"Id": ...}`
    (engine/container_commit.py). `changes` holds instructions one a line, as the docker
    CLI sends its `--change` flags; a JSON body (a container config) is not read."""
    from bastion.engine.container_commit import CommitOptions

    container = request.query.get("container")
    if not container:
        raise ApiError(400, "commit needs a container: ?container=NAME_OR_ID")
    repo, tag = request.query.get("repo", ""), request.query.get("tag", "")
    if tag and not repo:
        raise ApiError(400, "a tag needs a repository: add repo=NAME")
    options = CommitOptions(
        reference=f"{repo}:{tag}" if repo and tag else repo or None,
        comment=request.query.get("comment", ""),
        author=request.query.get("author", ""),
        changes=tuple(request.query.getall("changes", [])),
    )
    record = await in_engine(request, lambda e: e.commit(container, options))
    return json_response({"Id": record.image_id}, status=201)
