"""`POST /containers/{id}/update`: `docker update` and docker-py's `container.update()`, over
`Engine.update` (engine/container_update.py). The body is moby's UpdateConfig: the resources
(`Memory`, `MemorySwap`, `NanoCpus`, `CpuShares`, `CpuQuota`, `CpuPeriod`, `CpusetCpus`,
`PidsLimit`) and `RestartPolicy`; a field absent, null or 0 is left as it is (as moby reads
it). The answer is `{"Warnings": [...]}`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from bastion.api.bodies import read_json
from bastion.api.errors import ApiError
from bastion.api.server import add, in_engine
from bastion.api.system import json_response

if TYPE_CHECKING:
    from bastion.engine.container_update import ResourceUpdate

#: UpdateConfig's integer fields and the `ResourceUpdate` field each sets
_NUMBERS = {
    "Memory": "memory",
    "MemorySwap": "memory_swap",
    "NanoCpus": "nano_cpus",
    "CpuShares": "cpu_shares",
    "CpuQuota": "cpu_quota",
    "CpuPeriod": "cpu_period",
    "PidsLimit": "pids_limit",
}


def register(app: web.Application) -> None:
    add(app, "POST", "/containers/{id}/update", update)


def change_of(body: dict[str, Any]) -> ResourceUpdate:
    """The `ResourceUpdate` of an UpdateConfig body; a 400 naming a field of the wrong type."""
    from bastion.engine.container_update import ResourceUpdate

    fields: dict[str, Any] = {}
    for key, field in _NUMBERS.items():
        value = body.get(key)
        if value is None or value == 0:
            continue
        if type(value) is not int:
            raise ApiError(400, f"invalid {key}: {value!r} is not an integer")
        fields[field] = value
    cpuset = body.get("CpusetCpus")
    if cpuset:
        if not isinstance(cpuset, str):
            raise ApiError(400, f"invalid CpusetCpus: {cpuset!r} is not a string")
        fields["cpuset_cpus"] = cpuset
    policy = body.get("RestartPolicy")
    if policy:
        if not isinstance(policy, dict):
            raise ApiError(400, "invalid RestartPolicy: not an object")
        name = policy.get("Name") or ""
        count = policy.get("MaximumRetryCount") or 0
        if name:  # moby: an empty Name leaves the policy as it is
            fields["restart"] = f"{name}:{count}" if name == "on-failure" and count else name
    return ResourceUpdate(**fields)


async def update(request: web.Request) -> web.Response:
    ident = request.match_info["id"]
    change = change_of(await read_json(request, optional=True))
    warnings = await in_engine(request, lambda e: e.update(ident, change))
    return json_response({"Warnings": warnings})
