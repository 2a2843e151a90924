"""One testcontainers-python session against the Docker API named by $DOCKER_HOST, run as a
process of its own by tests/integration/test_testcontainers.py (testcontainers reads its
configuration, Ryuk's included, from the environment at import, and its reaper is one per
process).

`python -m bastion_testing.testcontainers_scenario IMAGE MODE` starts a `DockerContainer` of
IMAGE serving a line on port 8080 (busybox `nc`), waits for its log line, reads the line
through the published port and prints a JSON record (id, host, port, what it read). MODE
`stop` leaves the `with` block (testcontainers stops and removes the container); `leave`
ends the process at once, the container still running: the reaper's case.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time

SERVE = "echo listening; while true; do echo hello-from-container | nc -l -p 8080; done"


def read_line(host: str, port: int) -> str:
    for _ in range(100):
        try:
            with socket.create_connection((host, port), timeout=5) as conn:
                data = conn.recv(100)
            if data:
                return data.decode()
        except OSError:
            pass
        time.sleep(0.1)  # the server loop between two connections
    return ""


def main() -> None:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    image, mode = sys.argv[1], sys.argv[2]
    container = (
        DockerContainer(image)
        .with_command(["sh", "-c", SERVE])
        .with_exposed_ports(8080)
        .waiting_for(LogMessageWaitStrategy("listening").with_startup_timeout(30))
    )
    with container:
        host, port = container.get_container_host_ip(), int(container.get_exposed_port(8080))
        record = {
            "id": container.get_container_id(),
            "host": host,
            "port": port,
            "read": read_line(host, port),
        }
        print(json.dumps(record), flush=True)
        if mode == "leave":
            os._exit(0)  # no stop, no atexit: as a test process that was killed


if __name__ == "__main__":
    main()
