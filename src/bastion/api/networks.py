"""`/networks` and `/volumes` (and `/system/df`): Docker's documents over the engine's
networks (engine/networks.py: `network_document` already names Docker's fields) and volumes
(engine/volumes.py: `document`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from bastion.api.bodies import query_filters, read_json
from bastion.api.errors import ApiError
from bastion.api.server import add, in_engine
from bastion.api.system import json_response

if TYPE_CHECKING:
    from bastion.engine import Engine


def register(app: web.Application) -> None:
    add(app, "GET", "/networks", list_networks)
    add(app, "POST", "/networks/create", create_network)
    add(app, "POST", "/networks/prune", prune_networks)
    add(app, "GET", "/networks/{id}", inspect_network)
    add(app, "DELETE", "/networks/{id}", delete_network)
    add(app, "POST", "/networks/{id}/connect", connect)
    add(app, "POST", "/networks/{id}/disconnect", disconnect)
    add(app, "GET", "/volumes", list_volumes)
    add(app, "POST", "/volumes/create", create_volume)
    add(app, "POST", "/volumes/prune", prune_volumes)
    add(app, "GET", "/volumes/{name}", inspect_volume)
    add(app, "DELETE", "/volumes/{name}", delete_volume)
    add(app, "GET", "/system/df", system_df)


def _check_filters(filters: dict[str, set[str]], known: set[str]) -> None:
    unknown = set(filters) - known
    if unknown:
        raise ApiError(400, f"invalid filter {sorted(unknown)[0]!r}")


def _labelled(labels: dict[str, str], wanted: set[str]) -> bool:
    for want in wanted:
        name, eq, value = want.partition("=")
        if name not in labels or (eq and labels[name] != value):
            return False
    return True


# --- networks -------------------------------------------------------------------------------


async def list_networks(request: web.Request) -> web.Response:
    filters = query_filters(request)
    _check_filters(filters, {"name", "id", "label", "driver", "type"})

    def run(engine: Engine) -> list[dict[str, Any]]:
        return [engine.inspect_network(n.id) for n in engine.networks()]

    docs = []
    for doc in await in_engine(request, run):
        kind = "custom" if doc["Name"] != "bridge" else "builtin"
        if "name" in filters and not any(w in doc["Name"] for w in filters["name"]):
            continue
        if "id" in filters and not any(doc["Id"].startswith(w) for w in filters["id"]):
            continue
        if "driver" in filters and doc["Driver"] not in filters["driver"]:
            continue
        if "type" in filters and kind not in filters["type"]:
            continue
        if "label" in filters and not _labelled(doc.get("Labels") or {}, filters["label"]):
            continue
        docs.append(doc)
    return json_response(docs)


async def inspect_network(request: web.Request) -> web.Response:
    ident = request.match_info["id"]
    return json_response(await in_engine(request, lambda e: e.inspect_network(ident)))


async def create_network(request: web.Request) -> web.Response:
    body = await read_json(request)
    name = body.get("Name")
    if not name or not isinstance(name, str):
        raise ApiError(400, "a network needs a Name")
    driver = body.get("Driver") or "bridge"
    if driver != "bridge":
        raise ApiError(400, f"network driver {driver!r} is not supported: bastion has bridge")
    configs = (body.get("IPAM") or {}).get("Config") or []
    subnets = tuple(c["Subnet"] for c in configs if c.get("Subnet"))
    gateways = [c["Gateway"] for c in configs if c.get("Gateway")]
    labels = {str(k): str(v) for k, v in (body.get("Labels") or {}).items()}

    def run(engine: Engine) -> str:
        return engine.create_network(
            name,
            subnets=subnets,
            gateway=gateways[0] if gateways else None,
            internal=bool(body.get("Internal")),
            ipv6=bool(body.get("EnableIPv6")),
            labels=labels,
        ).id

    return json_response({"Id": await in_engine(request, run), "Warning": ""}, 201)


async def delete_network(request: web.Request) -> web.Response:
    ident = request.match_info["id"]
    await in_engine(request, lambda e: e.remove_network(ident))
    return web.Response(status=204)


async def connect(request: web.Request) -> web.Response:
    body = await read_json(request)
    container = body.get("Container")
    if not container:
        raise ApiError(400, "connect needs a Container")
    endpoint = body.get("EndpointConfig") or {}
    ip = (endpoint.get("IPAMConfig") or {}).get("IPv4Address") or None
    aliases = tuple(endpoint.get("Aliases") or ())
    network = request.match_info["id"]
    await in_engine(
        request, lambda e: e.connect_network(network, container, ip=ip, aliases=aliases)
    )
    return web.Response(status=200)


async def disconnect(request: web.Request) -> web.Response:
    body = await read_json(request)
    container = body.get("Container")
    if not container:
        raise ApiError(400, "disconnect needs a Container")
    network = request.match_info["id"]
    await in_engine(request, lambda e: e.disconnect_network(network, container))
    return web.Response(status=200)


async def prune_networks(request: web.Request) -> web.Response:
    _check_filters(query_filters(request), set())
    removed = await in_engine(request, lambda e: e.prune_networks())
    return json_response({"NetworksDeleted": removed or None})


# --- volumes --------------------------------------------------------------------------------


async def list_volumes(request: web.Request) -> web.Response:
    from bastion.engine.volumes import document

    filters = query_filters(request)
    _check_filters(filters, {"name", "label", "dangling", "driver"})

    def run(engine: Engine) -> list[tuple[dict[str, Any], bool]]:
        volumes = engine.volumes
        return [(document(v), bool(volumes.users(v.name))) for v in engine.volume_list()]

    out = []
    for doc, used in await in_engine(request, run):
        if "name" in filters and not any(w in doc["Name"] for w in filters["name"]):
            continue
        if "driver" in filters and "local" not in filters["driver"]:
            continue
        if "label" in filters and not _labelled(doc["Labels"] or {}, filters["label"]):
            continue
        dangling = filters.get("dangling")
        if dangling and (not used) != (dangling & {"1", "true"} != set()):
            continue
        out.append(doc)
    return json_response({"Volumes": out, "Warnings": None})


async def create_volume(request: web.Request) -> web.Response:
    from bastion.engine.volumes import document

    body = await read_json(request, optional=True)
    driver = body.get("Driver") or "local"
    if driver != "local":
        raise ApiError(400, f"volume driver {driver!r} is not supported: bastion has local")
    if body.get("DriverOpts"):
        raise ApiError(400, "volume driver options are not supported")
    name = body.get("Name") or None
    labels = {str(k): str(v) for k, v in (body.get("Labels") or {}).items()}
    record = await in_engine(request, lambda e: e.create_volume(name, labels=labels))
    return json_response(document(record), 201)


async def inspect_volume(request: web.Request) -> web.Response:
    from bastion.engine.volumes import document

    name = request.match_info["name"]
    return json_response(document(await in_engine(request, lambda e: e.volume(name))))


async def delete_volume(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    await in_engine(request, lambda e: e.remove_volume(name))
    return web.Response(status=204)


async def prune_volumes(request: web.Request) -> web.Response:
    filters = query_filters(request)
    _check_filters(filters, {"all", "label"})
    if "label" in filters:
        raise ApiError(400, "volume prune's label filter is not supported yet")
    everything = bool(filters.get("all", set()) & {"1", "true"})
    removed = await in_engine(request, lambda e: e.prune_volumes(all=everything))
    return json_response(
        {"VolumesDeleted": list(removed) or None, "SpaceReclaimed": sum(removed.values())}
    )


# --- system df ------------------------------------------------------------------------------


async def system_df(request: web.Request) -> web.Response:
    """Docker's `/system/df`: the images, containers and volumes with their sizes."""
    from bastion.api.containers import summary
    from bastion.api.images import summary as image_summary
    from bastion.engine.operations import container_size, disk_usage
    from bastion.engine.volumes import document

    def run(engine: Engine) -> dict[str, Any]:
        import os

        containers = engine.containers(all=True)
        used = [c.image_id for c in containers]
        images = []
        layers: dict[str, int] = {}
        for image in engine.images():
            sizes = {d: disk_usage(engine.layers.path(d)) for d in image.diff_ids}
            layers.update(sizes)
            doc = image_summary(image)
            doc.update(
                Size=sum(sizes.values()), SharedSize=-1, Containers=used.count(image.image_id)
            )
            images.append(doc)
        boxes = []
        for record in containers:
            doc = summary(record)
            doc["SizeRw"] = container_size(os.path.join(engine.root, "containers", record.id))
            doc["SizeRootFs"] = doc["SizeRw"]
            boxes.append(doc)
        volumes = []
        for volume in engine.volume_list():
            doc = document(volume)
            doc["UsageData"] = {
                "Size": disk_usage(volume.mountpoint),
                "RefCount": len(engine.volumes.users(volume.name)),
            }
            volumes.append(doc)
        return {
            "LayersSize": sum(layers.values()),
            "Images": images,
            "Containers": boxes,
            "Volumes": volumes,
            "BuildCache": [],
            # moby's DiskUsage still carries the field (deprecated, always 0 since API 1.40):
            # clients compare the whole document (Podman's checks do)
            "BuilderSize": 0,
        }

    return json_response(await in_engine(request, run))
