"""The pure parts behind the API's newer endpoints: the `filters` parameter in both of
Docker's forms, the archive's Go file modes and its unpacking (nothing lands outside the
scratch directory, a later member never writes through an earlier symlink), `diff`'s kinds,
the stats document's shape and the exec instance's document."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import time
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest
from aiohttp.test_utils import make_mocked_request

from bastion.api.bodies import query_filters, query_time
from bastion.api.container_ops import stats_document
from bastion.api.errors import ApiError
from bastion.engine.archive import _unpack, go_mode
from bastion.engine.changes import ADDED, CHANGED, changes
from bastion.engine.errors import CopyError
from bastion.engine.operations import ContainerStats

if TYPE_CHECKING:
    from pathlib import Path


def _filters(text: str) -> dict[str, set[str]]:
    return query_filters(make_mocked_request("GET", f"/containers/json?filters={quote(text)}"))


def test_filters_in_both_forms() -> None:
    assert _filters('{"label": ["a=1", "b"]}') == {"label": {"a=1", "b"}}
    assert _filters('{"label": {"a=1": true, "b": false}}') == {"label": {"a=1"}}
    assert query_filters(make_mocked_request("GET", "/containers/json")) == {}
    for bad in ("{oops", '["a"]', '{"k": 3}'):
        with pytest.raises(ApiError) as caught:
            _filters(bad)
        assert caught.value.status == 400


def test_go_modes() -> None:
    assert go_mode(stat.S_IFDIR | 0o755) == (1 << 31) | 0o755
    assert go_mode(stat.S_IFLNK | 0o777) == (1 << 27) | 0o777
    assert go_mode(stat.S_IFREG | 0o4755) == (1 << 23) | 0o755
    assert go_mode(stat.S_IFREG | 0o644) == 0o644


def _tar(*members: tuple[tarfile.TarInfo, bytes]) -> io.BytesIO:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for info, content in members:
            info.size = len(content) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(content) if info.isreg() else None)
    data.seek(0)
    return data


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o644
    return info


def test_unpacking_stays_inside(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    archive = _tar((_member("d/f"), b"ok"), (_member("./top"), b"t"))
    assert _unpack(archive, str(scratch)) == {"d", "top"}
    assert (scratch / "d" / "f").read_bytes() == b"ok"
    climbing = _tar((_member("../escape"), b"x"))
    with pytest.raises(CopyError, match=r"leaves it \(\.\.\)"):
        _unpack(climbing, str(scratch))
    through_link = _tar((_member("l", tarfile.SYMTYPE, str(outside)), b""), (_member("l/x"), b"x"))
    with pytest.raises(CopyError, match="leaves it"):
        _unpack(through_link, str(scratch))
    # a file of the same name replaces the symlink instead of writing through it
    target = outside / "victim"
    target.write_bytes(b"safe")
    replaced = _tar(
        (_member("v", tarfile.SYMTYPE, str(target)), b""), (_member("v"), b"overwritten")
    )
    _unpack(replaced, str(scratch))
    assert target.read_bytes() == b"safe" and (scratch / "v").read_bytes() == b"overwritten"
    assert not os.path.exists(tmp_path / "escape") and os.listdir(outside) == ["victim"]
    with pytest.raises(CopyError, match="cannot be read"):
        _unpack(io.BytesIO(b"not a tar at all" * 64), str(scratch))


def test_diff_kinds(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    (lower / "etc").mkdir(parents=True)
    (lower / "etc" / "hosts").write_text("a")
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "hosts").write_text("b")
    (upper / "etc" / "new").write_text("c")
    (upper / "tmp").mkdir()
    assert changes(str(upper), [str(lower)]) == [
        ("/etc", CHANGED),
        ("/etc/hosts", CHANGED),
        ("/etc/new", ADDED),
        ("/tmp", ADDED),
    ]


def test_the_stats_document() -> None:
    before = ContainerStats("c" * 64, "web", 1.0, 1_000, 10, None, 1, None)
    now = ContainerStats("c" * 64, "web", 2.0, 501_000, 20, 64 << 20, 2, 100)
    doc = stats_document(now, before, 4_000_000, 2_000_000, 2, 8 << 30, 100.0, 99.0)
    assert doc["name"] == "/web" and doc["id"] == "c" * 64
    assert doc["cpu_stats"]["cpu_usage"]["total_usage"] == 501_000
    assert doc["precpu_stats"]["cpu_usage"]["total_usage"] == 1_000
    assert doc["cpu_stats"]["system_cpu_usage"] - doc["precpu_stats"]["system_cpu_usage"] == (
        2_000_000
    )
    assert doc["memory_stats"] == {"usage": 20, "limit": 64 << 20, "stats": {}}
    assert doc["pids_stats"] == {"current": 2, "limit": 100}
    first = stats_document(before, None, 2_000_000, 0, 2, 8 << 30, 99.0, None)
    assert first["memory_stats"]["limit"] == 8 << 30  # no cgroup limit: the host's memory
    assert first["precpu_stats"]["cpu_usage"]["total_usage"] == 0
    assert first["preread"] == "0001-01-01T00:00:00Z"


def test_the_exec_instance_document() -> None:
    from bastion.api.exec import Instance
    from bastion.engine import ExecConfig

    instance = Instance(
        "e" * 64, "c" * 64, ExecConfig(("sh", "-c", "exit 3"), tty=True), True, True, False
    )
    doc = instance.document()
    assert doc["ProcessConfig"] == {
        "tty": True,
        "entrypoint": "sh",
        "arguments": ["-c", "exit 3"],
        "privileged": False,
        "user": "",
    }
    assert (doc["Running"], doc["ExitCode"], doc["OpenStdin"], doc["OpenStderr"]) == (
        False,
        None,
        True,
        False,
    )


def test_detach_keys() -> None:
    from bastion.api.attach import detach_keys

    def keys(query: str) -> bytes:
        return detach_keys(make_mocked_request("POST", f"/containers/x/attach{query}"))

    assert keys("") == b"\x10\x11"
    assert keys("?detachKeys=ctrl-a,x,ctrl-@") == b"\x01x\x00"
    with pytest.raises(ApiError, match="invalid detachKeys"):
        keys("?detachKeys=ctrl-")


async def _routes_refuse_bad_input_before_the_engine() -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from bastion.api.server import EngineFactory, make_app

    # an engine root that does not exist: every answer below comes before any engine call
    app = make_app(EngineFactory("/nonexistent-bst-test", "/nonexistent-bst-test", "/x"))
    async with TestClient(TestServer(app)) as client:
        for method, path, body, status, words in (
            ("GET", "/v1.41/exec/nope/json", b"", 404, "No such exec instance: nope"),
            ("POST", "/v1.41/exec/nope/start", b"{}", 404, "No such exec instance"),
            ("POST", "/v1.41/networks/create", b"{oops", 400, "invalid JSON body"),
            (
                "POST",
                "/v1.41/networks/create",
                b'{"Name": "n", "Driver": "overlay"}',
                400,
                "network driver 'overlay' is not supported",
            ),
            ("POST", "/v1.41/volumes/create", b'{"Driver": "nfs"}', 400, "volume driver"),
            ("GET", "/v1.41/containers/json?filters=%7Bbad", b"", 400, "invalid filters"),
            (
                "GET",
                "/v1.41/volumes?filters=%7B%22colour%22%3A%5B%5D%7D",
                b"",
                400,
                "invalid filter 'colour'",
            ),
            ("POST", "/v1.41/containers/x/resize?h=tall", b"", 400, "invalid value for 'h'"),
            ("GET", "/v1.41/containers/x/archive", b"", 400, "the path parameter is required"),
        ):
            answer = await client.request(method, path, data=body)
            message = (await answer.json())["message"]
            assert (answer.status, words in message) == (status, True), (path, message)


def test_routes_refuse_bad_input_before_the_engine() -> None:
    import asyncio

    asyncio.run(_routes_refuse_bad_input_before_the_engine())


def _time_of(text: str) -> float | None:
    return query_time(make_mocked_request("GET", f"/events?since={quote(text)}"), "since")


def test_since_and_until_as_moby_reads_them() -> None:
    # Unix seconds, RFC 3339, and Go durations counted back from now (Podman's apiv2 sends
    # `since=30s`; moby's timetypes.GetTimestamp takes them too).
    assert _time_of("1700000000.5") == 1700000000.5
    assert _time_of("2023-11-14T22:13:20Z") == 1700000000.0
    now = time.time()
    for text, span in (("30s", 30.0), ("1h30m", 5400.0), ("1.5m", 90.0), ("250ms", 0.25)):
        value = _time_of(text)
        assert value is not None and abs((now - value) - span) < 5, (text, value)
    assert _time_of("") is None
    with pytest.raises(ApiError, match="RFC 3339"):
        _time_of("yesterday")
    with pytest.raises(ApiError):
        _time_of("30x")
