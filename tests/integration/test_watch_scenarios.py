"""Attack-like actions inside engine containers (`bastion run --watch`, bastion's default rules):
each raises its rule with the container's name and image; benign work raises none.

One sensor service serves the module (started by the first `run --watch`); every scenario is a
container of its own, named after it, so an alert is matched to its scenario by
`container.name`. The outbound scenario's destination is an "upstream" host this module makes:
a network namespace behind a veth, with an address of 198.18.0.0/15 (RFC 2544's benchmarking
range: outside the private ranges the rule allows, and never routed beyond this machine),
reached from the rig's bridge through its NAT.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from bastion_testing.engine import Bastion, stored_alerts, watched_engine_rig
from bastion_testing.helper import PATH_IN_ROOTFS as HELPER
from bastion_testing.rootfs import REPO

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.privileged, pytest.mark.bpf]

UPSTREAM_PORT = 8000


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with watched_engine_rig(busybox_rootfs, prefix="bst-test-scen-") as b:
        yield b


def alerts(bastion: Bastion, name: str) -> list[dict[str, object]]:
    return stored_alerts(bastion, "--container", name)


def run_watched(bastion: Bastion, name: str, *argv: str) -> None:
    result = bastion("run", "--watch", "--rm", "--name", name, bastion.image, *argv)
    assert result.returncode in (0, 1, 2), result.stderr  # some scenarios fail by design


def await_rule(bastion: Bastion, name: str, rule: str) -> dict[str, object]:
    """The first alert of `rule` for container `name` (awaited: the sensor evaluates a little
    behind the kernel), with the container's name and image filled."""
    deadline = time.monotonic() + 60  # the alert is awaited, not timed (a loaded host lags)
    while not (found := [a for a in alerts(bastion, name) if a["rule"] == rule]):
        assert time.monotonic() < deadline, f"no {rule!r}: {alerts(bastion, name)}"
        time.sleep(0.2)
    fields = found[0]["output_fields"]
    assert isinstance(fields, dict) and fields["container.name"] == name
    if "container.image" in fields:
        assert fields["container.image"] == bastion.image
    return found[0]


SCENARIOS = {
    # a program that is not a shell starts one (an exploited service's injected command):
    # busybox awk's system() runs `/bin/sh -c`
    "shell": ("Shell Spawned in Container", ("awk", 'BEGIN { system("id > /dev/null") }')),
    "bin-write": ("Write Below Binary Directory", ("sh", "-c", "echo x > /usr/bin/dropper")),
    "package-manager": (
        "Package Manager in Container",
        ("sh", "-c", "cp /bin/busybox /tmp/apt-get && /tmp/apt-get install nmap; true"),
    ),
    "memfd-exec": ("Fileless Execution in Container", (HELPER, "memfd-exec", "/bin/true")),
    "ptrace": ("Ptrace in Container", (HELPER, "ptrace-child")),
    "module-load": ("Kernel Module Loaded from Container", (HELPER, "finit-module")),
    # a default container has no CAP_SYS_ADMIN: the kernel refuses, the attempt is the signal
    "mount": ("Mount Attempt in Container", ("mount", "-t", "tmpfs", "none", "/mnt")),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_an_attack_raises_its_rule_named(bastion: Bastion, scenario: str) -> None:
    rule, argv = SCENARIOS[scenario]
    name = f"scen-{scenario}"
    run_watched(bastion, name, *argv)
    await_rule(bastion, name, rule)


def test_a_shell_exec_d_into_a_container_raises_the_shell_rule(bastion: Bastion) -> None:
    """`bastion exec NAME sh`: the shell's parent is the runtime, not a shell of the
    container's (someone is running commands in it)."""
    name = "scen-exec-shell"
    bastion.ok("run", "-d", "--watch", "--name", name, bastion.image, "sleep", "300")
    try:
        assert bastion.ok("exec", name, "sh", "-c", "echo in") == "in\n"
        alert = await_rule(bastion, name, "Shell Spawned in Container")
    finally:
        bastion.ok("rm", "-f", name)
    fields = alert["output_fields"]
    assert isinstance(fields, dict) and fields["proc.cmdline"] == "sh -c echo in"


def free_public_subnet() -> ipaddress.IPv4Network:
    """A /24 of 198.18.0.0/15 that no host route (another session's upstream) overlaps."""
    from bastion.network.plumbing import host_routes

    taken = [route for route, _ in host_routes() if route.version == 4]
    pool = ipaddress.IPv4Network("198.18.0.0/15")
    for _ in range(64):
        subnet = ipaddress.IPv4Network(
            (int(pool.network_address) + 256 * secrets.randbelow(512), 24)
        )
        if not any(subnet.overlaps(other) for other in taken):
            return subnet
    raise RuntimeError("no free /24 in 198.18.0.0/15")


@pytest.fixture
def upstream(bastion: Bastion) -> Iterator[tuple[str, str]]:
    """(namespace, address) of a host on a veth of its own, listening on UPSTREAM_PORT for one
    connection, which it answers with "hello"."""
    namespace = f"bst-test-up-{secrets.token_hex(3)}"
    near, far = f"{bastion.network_prefix}u0", f"{bastion.network_prefix}u1"
    subnet = free_public_subnet()
    host_ip, far_ip = str(subnet.network_address + 1), str(subnet.network_address + 2)
    steps = [
        ["ip", "netns", "add", namespace],
        ["ip", "link", "add", near, "type", "veth", "peer", "name", far],
        ["ip", "link", "set", far, "netns", namespace],
        ["ip", "addr", "add", f"{host_ip}/24", "dev", near],
        ["ip", "link", "set", near, "up"],
        ["ip", "-n", namespace, "addr", "add", f"{far_ip}/24", "dev", far],
        ["ip", "-n", namespace, "link", "set", far, "up"],
        ["ip", "-n", namespace, "route", "add", "default", "via", host_ip],
    ]
    serve = (
        "import socket\n"
        f"s=socket.create_server(({far_ip!r},{UPSTREAM_PORT}));s.settimeout(60)\n"
        "print('ready',flush=True)\n"
        "c,_=s.accept();c.sendall(b'hello\\n');c.close()\n"
    )
    server: subprocess.Popen[str] | None = None
    try:
        for step in steps:
            subprocess.run(step, check=True, capture_output=True)
        server = subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, "-S", "-c", serve],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None and server.stdout.readline() == "ready\n"
        yield namespace, far_ip
    finally:
        if server is not None:
            server.kill()
            server.communicate()  # reaped, its pipe closed
        subprocess.run(["ip", "link", "del", near], capture_output=True)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)


def test_an_outbound_connection_raises_its_rule(
    bastion: Bastion, upstream: tuple[str, str]
) -> None:
    _, far_ip = upstream
    name = "scen-outbound"
    result = bastion(
        "run", "--watch", "--rm", "--name", name, bastion.image,
        "nc", "-w", "5", far_ip, str(UPSTREAM_PORT),
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (0, "hello\n"), result.stderr  # it got out
    alert = await_rule(bastion, name, "Unexpected Outbound Connection from Container")
    fields = alert["output_fields"]
    assert isinstance(fields, dict)
    assert str(fields["fd.name"]).endswith(f"->{far_ip}:{UPSTREAM_PORT}")


#: A small build job: sources written, "compiled" by a generator script run by a new shell
#: (`sh gen.sh`) into scripts that run by their shebang and by `sh`, their output checked.
BUILD = """
set -e
mkdir -p /tmp/build && cd /tmp/build
cat > gen.sh <<'EOF'
for i in 1 2 3; do
  printf '#!/bin/sh\\necho "unit %s built"\\n' "$i" > unit$i.sh
  chmod +x unit$i.sh
done
EOF
sh gen.sh
./unit1.sh > out.txt
for f in unit2.sh unit3.sh; do sh "$f" >> out.txt; done
[ "$(wc -l < out.txt)" -eq 3 ]
"""

#: A web server answering requests (on the container's loopback).
WEB = """
set -e
mkdir -p /tmp/www && echo hello > /tmp/www/index.html
httpd -p 127.0.0.1:8080 -h /tmp/www
for i in 1 2 3; do wget -q -O - http://127.0.0.1:8080/index.html | grep -q hello; done
"""

#: A shell script doing file work, run by a new shell.
FILES = """
set -e
mkdir -p /tmp/work
cat > /tmp/work/tidy.sh <<'EOF'
cd /tmp/work
for i in 1 2 3 4 5; do echo "line $i" > "f$i.txt"; done
cat f*.txt | sort -r > all.txt
tar -cf files.tar f*.txt && rm f*.txt && tar -xf files.tar
sed -i 's/line/row/' all.txt && grep -c row all.txt > count.txt
EOF
sh /tmp/work/tidy.sh
[ "$(cat /tmp/work/count.txt)" = 5 ]
"""

BENIGN = {"build": BUILD, "web": WEB, "files": FILES}


def assert_quiet(bastion: Bastion, names: list[str]) -> None:
    """None of `names` raised an alert: a marker scenario runs last (an attack, so it does
    raise one), and once its alert is stored the sensor has evaluated everything before it."""
    marker = f"scen-marker-{secrets.token_hex(2)}"
    run_watched(bastion, marker, "awk", 'BEGIN { system("true") }')
    await_rule(bastion, marker, "Shell Spawned in Container")
    assert {name: alerts(bastion, name) for name in names} == {name: [] for name in names}


def test_benign_work_raises_nothing(bastion: Bastion) -> None:
    names = []
    for job, script in BENIGN.items():
        name = f"scen-benign-{job}"
        result = bastion(
            "run", "--watch", "--rm", "--name", name, bastion.image, "sh", "-c", script
        )
        assert result.returncode == 0, (job, result.stdout, result.stderr)  # the job did its work
        names.append(name)
    assert_quiet(bastion, names)


#: The Debian image's apt reading its package lists and status offline: queries, not changes.
APT_QUERIES = "apt-get check && apt-get -s install bash && apt-cache policy bash > /dev/null"


@pytest.mark.slow
def test_apt_get_reading_its_lists_offline_raises_nothing(bastion: Bastion) -> None:
    """The Debian test image (`scripts/images debian`, cached in .cache/images/, built from
    apt's mirror when missing) imported into the rig's engine."""
    if subprocess.run(["which", "mmdebstrap"], capture_output=True).returncode != 0:
        pytest.skip("mmdebstrap is not installed (scripts/setup installs it)")
    built = subprocess.run(
        [os.path.join(REPO, "scripts", "images"), "debian", "--root", bastion.root],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    name = "scen-benign-apt"
    result = bastion(
        "run", "--watch", "--rm", "--name", name, "--network", "none",
        "localhost/debian:bookworm", "sh", "-c", APT_QUERIES,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr  # the queries did their work
    assert "bash is already the newest version" in result.stdout
    assert_quiet(bastion, [name])
