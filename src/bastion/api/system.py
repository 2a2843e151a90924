"""`/_ping`, `/version`, `/info`: what clients ask first.

`_ping` answers `OK` with the headers clients negotiate on: `API-Version`, `OSType`, `Server`,
`Builder-Version: 1` (the classic builder: BuildKit, "2", must not be advertised, or the docker
CLI tries to speak it), `Docker-Experimental: false`.
"""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bastion import __version__, jsonio
from bastion.api import versions
from bastion.api.server import add, in_engine

if TYPE_CHECKING:
    from bastion.engine import Engine


def register(app: web.Application) -> None:
    add(app, "GET", "/_ping", ping)
    add(app, "HEAD", "/_ping", ping)
    add(app, "GET", "/version", version)
    add(app, "GET", "/info", info)


def json_response(doc: object, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=jsonio.dumps(doc, compact=True).encode(),  # as dockerd's: no spaces
        content_type="application/json",
    )


def _headers() -> dict[str, str]:
    return {
        "API-Version": versions.API_VERSION,
        "OSType": "linux",
        "Server": f"bastion/{__version__} (linux)",
        "Builder-Version": "1",
        "Docker-Experimental": "false",
        "Cache-Control": "no-cache, no-store, must-revalidate",
        "Pragma": "no-cache",
    }


async def ping(request: web.Request) -> web.Response:
    # aiohttp sends a HEAD's headers (Content-Length too) without the body
    return web.Response(body=b"OK", content_type="text/plain", headers=_headers())


def _version_doc() -> dict[str, Any]:
    kernel = platform.release()
    details = {
        "ApiVersion": versions.API_VERSION,
        "MinAPIVersion": versions.MIN_API_VERSION,
        "Os": "linux",
        "Arch": "amd64",
        "KernelVersion": kernel,
        "GitCommit": "",
        "GoVersion": "",
        "BuildTime": "",
        "Experimental": "false",
    }
    return {
        "Platform": {"Name": f"bastion {__version__}"},
        "Components": [{"Name": "Engine", "Version": __version__, "Details": details}],
        "Version": __version__,
        "ApiVersion": versions.API_VERSION,
        "MinAPIVersion": versions.MIN_API_VERSION,
        "GitCommit": "",
        "GoVersion": "",
        "Os": "linux",
        "Arch": "amd64",
        "KernelVersion": kernel,
        "BuildTime": "",
    }


async def version(request: web.Request) -> web.Response:
    return json_response(_version_doc(), 200)


async def info(request: web.Request) -> web.Response:
    """The engine's `info` (engine/system.py), with the keys Docker's clients expect."""

    def gather(engine: Engine) -> dict[str, Any]:
        doc = engine.info()
        doc.update(
            ID="",
            OSType="linux",
            Runtimes={"bastion-runc": {"path": engine.runtime}},
            SecurityOptions=["name=seccomp,profile=default"],
            IndexServerAddress="https://index.docker.io/v1/",
            RegistryConfig={"IndexConfigs": {}, "Mirrors": []},
            Plugins={"Volume": ["local"], "Network": ["bridge", "host", "none"], "Log": []},
            LoggingDriver="k8s-file",
            Labels=[],
            Warnings=None,
        )
        return doc

    return json_response(await in_engine(request, gather))
