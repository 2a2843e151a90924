"""The API's pure parts: version negotiation messages, stdcopy framing, the create body's
translation into the engine's options, and the app's routes (aiohttp's test client, no socket,
no engine call)."""

from __future__ import annotations

import struct

import pytest

from bastion.api import streams, versions
from bastion.api.containers import AUTO_REMOVE_LABEL, options_from_body


def test_versions_too_new_too_old_and_fine() -> None:
    assert versions.check(None) is None and versions.check("1.41") is None
    assert versions.check("1.24") is None
    assert versions.check("1.50") == (
        "client version 1.50 is too new. Maximum supported API version is 1.41"
    )
    old = versions.check("1.12")
    assert old is not None and old.startswith("client version 1.12 is too old.")


def test_stdcopy_frames() -> None:
    frame = streams.frame(streams.STDERR, b"oops\n")
    stream, length = struct.unpack(">BxxxI", frame[:8])
    assert (stream, length, frame[8:]) == (2, 5, b"oops\n")


def test_a_create_body_becomes_the_clis_options() -> None:
    body = {
        "Image": "busybox",
        "Entrypoint": ["/bin/sh", "-c"],
        "Cmd": ["echo hi"],
        "Env": ["A=1"],
        "Tty": True,
        "OpenStdin": True,
        "Labels": {"team": "x"},
        "HostConfig": {
            "AutoRemove": True,
            "Binds": ["/srv:/data:ro"],
            "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
            "NanoCpus": 500_000_000,
            "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
            "Ulimits": [{"Name": "nofile", "Soft": 100, "Hard": 200}],
            "NetworkMode": "default",
        },
    }
    options = options_from_body(body, "web")
    # Entrypoint + Cmd run as Docker runs them: /bin/sh -c "echo hi", the array kept whole
    assert (options.entrypoint, options.entrypoint_args) == ("/bin/sh", ("-c",))
    assert options.command == ("echo hi",)
    assert options.labels == {"team": "x", AUTO_REMOVE_LABEL: "1"}
    assert not options.auto_remove and options.detach  # the server removes it, not conmon
    assert options.volumes == ("/srv:/data:ro",) and options.publish == ("8080:80/tcp",)
    assert options.cpus == 0.5 and options.restart == "on-failure:3"
    assert options.ulimits == ("nofile=100:200",) and options.network == "bridge"
    assert options.tty and options.interactive and options.name == "web"


@pytest.mark.parametrize("entrypoint", [[], ""])
def test_an_empty_entrypoint_clears_the_images(entrypoint: object) -> None:
    options = options_from_body({"Image": "x", "Entrypoint": entrypoint, "Cmd": ["ls"]}, None)
    assert (options.entrypoint, options.command) == ("", ("ls",))


async def _ping_and_errors() -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from bastion.api.server import EngineFactory, make_app

    app = make_app(EngineFactory("/nonexistent-bst-test", "/nonexistent-bst-test", "/x"))
    async with TestClient(TestServer(app)) as client:
        ping = await client.get("/v1.41/_ping")
        assert (ping.status, await ping.text()) == (200, "OK")
        assert ping.headers["API-Version"] == "1.41" and ping.headers["Builder-Version"] == "1"
        head = await client.head("/_ping")
        assert head.status == 200 and head.headers["OSType"] == "linux"
        too_new = await client.get("/v1.99/version")
        assert too_new.status == 400
        assert (await too_new.json())["message"].startswith("client version 1.99 is too new")
        version = await (await client.get("/version")).json()
        assert (version["ApiVersion"], version["MinAPIVersion"]) == ("1.41", "1.24")
        bad = await client.post("/containers/create", data=b"{not json")
        assert bad.status == 400 and "message" in await bad.json()
        missing = await client.get("/nothing/here")
        assert missing.status == 404 and "message" in await missing.json()


def test_ping_version_and_errors() -> None:
    import asyncio

    asyncio.run(_ping_and_errors())
