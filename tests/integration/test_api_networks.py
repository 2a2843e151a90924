"""Networks, volumes and `system df` through the Docker API, driven by the docker 20.10 CLI
and docker-py: two containers on a user network reaching each other by name, a published port
reached on 127.0.0.1, connect/disconnect, prune; volumes made, used, listed, refused while
used, pruned. The service runs with the rig's network prefix and subnet, and the user networks
take free test subnets: nothing outside the test's names is made."""

from __future__ import annotations

import ipaddress
import json
import urllib.request
from typing import TYPE_CHECKING

import pytest

from bastion_testing.api_service import Service, serving
from bastion_testing.engine import Bastion, engine_rig, free_subnet

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [
    pytest.mark.privileged,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

HTTPD = "echo served > /tmp/index.html; exec httpd -f -p 80 -h /tmp"


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with engine_rig(busybox_rootfs, prefix="bst-test-apin-") as b:
        yield b


@pytest.fixture(scope="module")
def service(bastion: Bastion) -> Iterator[Service]:
    with serving(bastion) as s:
        yield s


@pytest.fixture
def clean(bastion: Bastion) -> Iterator[None]:
    yield
    for cid in bastion("ps", "-a", "-q").stdout.split():
        bastion("rm", "-f", cid)


def _ok(service: Service, *args: str, timeout: float = 60) -> str:
    result = service.docker(*args, timeout=timeout)
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout


def test_two_containers_by_name_and_a_published_port(
    service: Service, bastion: Bastion, clean: None
) -> None:
    subnet = free_subnet()
    net = _ok(service, "network", "create", "--subnet", subnet, "--label", "t=1", "bst-apin-a")
    net = net.strip()
    try:
        shown = json.loads(_ok(service, "network", "inspect", "bst-apin-a"))[0]
        assert shown["Id"] == net and shown["IPAM"]["Config"][0]["Subnet"] == subnet
        names = _ok(service, "network", "ls", "--filter", "label=t=1", "--format", "{{.Name}}")
        assert names.split() == ["bst-apin-a"]
        _ok(
            service,
            "run",
            "-d",
            "--network",
            "bst-apin-a",
            "--name",
            "bst-apin-web",
            bastion.image,
            "sh",
            "-c",
            HTTPD,
        )
        fetched = _ok(
            service,
            "run",
            "--rm",
            "--network",
            "bst-apin-a",
            bastion.image,
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6 7 8 9 10; do"
            " wget -q -O - http://bst-apin-web/index.html && exit 0; sleep 0.5; done; exit 1",
        )
        assert fetched == "served\n"
        members = json.loads(_ok(service, "network", "inspect", "bst-apin-a"))[0]["Containers"]
        assert [m["Name"] for m in members.values()] == ["bst-apin-web"]
        # the list carries each container's networks, as testcontainers reads them
        listed = service.client().api.containers(filters={"name": "bst-apin-web"})
        (address,) = [n["IPAddress"] for n in listed[0]["NetworkSettings"]["Networks"].values()]
        assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet)
        # connect/disconnect a second network
        _ok(service, "network", "create", "--subnet", free_subnet((subnet,)), "bst-apin-b")
        _ok(service, "network", "connect", "bst-apin-b", "bst-apin-web")
        attached = _ok(
            service, "inspect", "-f", "{{json .NetworkSettings.Networks}}", "bst-apin-web"
        )
        assert set(json.loads(attached)) == {"bst-apin-a", "bst-apin-b"}
        _ok(service, "network", "disconnect", "bst-apin-b", "bst-apin-web")
        attached = _ok(
            service, "inspect", "-f", "{{json .NetworkSettings.Networks}}", "bst-apin-web"
        )
        assert set(json.loads(attached)) == {"bst-apin-a"}
        busy = service.docker("network", "rm", "bst-apin-a")
        assert busy.returncode == 1 and "bst-apin-web" in busy.stderr, busy
        # a published port on 127.0.0.1, its host port a string in inspect
        cid = _ok(service, "run", "-d", "-p", "127.0.0.1::80", bastion.image, "sh", "-c", HTTPD)
        ports = json.loads(
            _ok(service, "inspect", "-f", "{{json .NetworkSettings.Ports}}", cid.strip())
        )
        binding = ports["80/tcp"][0]
        assert binding["HostIp"] == "127.0.0.1" and isinstance(binding["HostPort"], str)
        listed = _ok(service, "ps", "--filter", f"id={cid.strip()}", "--format", "{{.Ports}}")
        assert listed.strip() == f"127.0.0.1:{binding['HostPort']}->80/tcp"
        url = f"http://127.0.0.1:{binding['HostPort']}/index.html"
        for _ in range(20):
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    assert answer.read() == b"served\n"
                    break
            except OSError:
                import time

                time.sleep(0.25)
        else:
            raise AssertionError(f"{url} never answered")
    finally:
        for cid in bastion("ps", "-a", "-q").stdout.split():
            bastion("rm", "-f", cid)
    pruned = _ok(service, "network", "prune", "-f")
    assert "bst-apin-a" in pruned and "bst-apin-b" in pruned
    assert _ok(service, "network", "ls", "--format", "{{.Name}}").split() == ["bridge"]


def test_volumes_and_system_df(service: Service, bastion: Bastion, clean: None) -> None:
    _ok(service, "volume", "create", "--label", "k=v", "bst-apin-vol")
    doc = json.loads(_ok(service, "volume", "inspect", "bst-apin-vol"))[0]
    assert doc["Labels"] == {"k": "v"} and doc["Driver"] == "local"
    _ok(
        service,
        "run",
        "--name",
        "bst-apin-writer",
        "-v",
        "bst-apin-vol:/data",
        bastion.image,
        "sh",
        "-c",
        "echo kept > /data/f",
    )
    out = _ok(service, "run", "--rm", "-v", "bst-apin-vol:/data", bastion.image, "cat", "/data/f")
    assert out == "kept\n"
    mounts = json.loads(_ok(service, "inspect", "-f", "{{json .Mounts}}", "bst-apin-writer"))
    assert mounts[0]["Name"] == "bst-apin-vol" and mounts[0]["Destination"] == "/data"
    assert _ok(service, "volume", "ls", "-q", "--filter", "label=k=v").split() == ["bst-apin-vol"]
    used = service.docker("volume", "rm", "bst-apin-vol")
    assert used.returncode == 1 and "bst-apin-writer" in used.stderr, used
    df = _ok(service, "system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}")
    # "TYPE TOTAL ACTIVE": the type has a space in it ("Local Volumes")
    rows = {line.rsplit(" ", 2)[0]: line.rsplit(" ", 2)[1] for line in df.splitlines()}
    assert rows["Local Volumes"] == "1" and rows["Containers"] == "1", df
    client = service.client()
    try:
        made = client.volumes.create("bst-apin-py", labels={"py": "1"})
        assert made.attrs["Labels"] == {"py": "1"}
        assert {v.name for v in client.volumes.list()} == {"bst-apin-vol", "bst-apin-py"}
        assert client.volumes.list(filters={"dangling": True})[0].name == "bst-apin-py"
    finally:
        client.close()
    _ok(service, "rm", "bst-apin-writer")
    pruned = _ok(service, "volume", "prune", "-f", "--filter", "all=true")
    assert "bst-apin-vol" in pruned and "bst-apin-py" in pruned
    missing = service.docker("volume", "inspect", "bst-apin-vol")
    assert missing.returncode == 1 and "no such volume" in missing.stderr.lower()
