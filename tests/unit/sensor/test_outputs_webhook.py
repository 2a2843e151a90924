"""The webhook output against real HTTP(S) receivers on 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bastion.sensor.outputs.alert import Alert
from bastion.sensor.outputs.errors import OutputConfigError
from bastion.sensor.outputs.webhook import WebhookOutput


@dataclass
class Receiver:
    """What the receiver saw, and how it answers (statuses in turn, the last one repeats)."""

    port: int = 0
    statuses: list[int] = field(default_factory=lambda: [200])
    gate: threading.Event = field(default_factory=threading.Event)
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}/falco?x=1"


@contextmanager
def serve(receiver: Receiver, context: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            receiver.gate.wait(10)
            with receiver.lock:
                receiver.requests.append((self.path, dict(self.headers), body))
                index = min(len(receiver.requests), len(receiver.statuses)) - 1
                status = receiver.statuses[index]
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    receiver.port = server.server_address[1]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield receiver
    finally:
        receiver.gate.set()
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    rec.gate.set()
    with serve(rec) as served:
        yield served


def alert(n: int) -> Alert:
    return Alert(
        time_ns=1_700_000_000_000_000_000 + n,
        rule="Write below etc",
        priority="Error",
        output=f"File below /etc opened for writing (n={n})",
        output_fields={"fd.name": "/etc/shadow", "proc.pid": n, "container.id": None},
        tags=("filesystem", "T1098"),
        hostname="bst-test-host",
    )


def wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


def test_webhook_posts_falcos_json_body(receiver: Receiver) -> None:
    out = WebhookOutput(receiver.url())
    out.emit(alert(1))
    out.emit(alert(2))
    out.close()
    assert out.statistics().emitted == 2
    assert len(receiver.requests) == 2
    path, headers, body = receiver.requests[0]
    assert path == "/falco?x=1"
    assert headers["Content-Type"] == "application/json"
    doc = json.loads(body)
    assert sorted(doc) == [
        "hostname",
        "output",
        "output_fields",
        "priority",
        "rule",
        "source",
        "tags",
        "time",
    ]
    assert doc["rule"] == "Write below etc"
    assert doc["priority"] == "Error"
    assert doc["hostname"] == "bst-test-host"
    assert doc["time"] == "2023-11-14T22:13:20.000000001Z"
    assert doc["tags"] == ["T1098", "filesystem"]
    assert doc["output_fields"]["container.id"] is None
    assert doc["output_fields"]["proc.pid"] == 1
    assert doc["output"].endswith(": Error File below /etc opened for writing (n=1)")


def test_slow_receiver_never_blocks_emit_and_drops_are_counted() -> None:
    rec = Receiver()  # gate closed: the receiver holds every request
    with serve(rec) as served:
        out = WebhookOutput(served.url(), queue_size=5, timeout=30)
        try:
            out.emit(alert(0))
            wait_for(lambda: out.pending == 0)  # the sender took it and is now stuck

            # The gate stays closed until the 1000 emits are done: a blocking emit would wait
            # for the receiver forever, so the emitting thread would still be alive (the join's
            # timeout only keeps a broken build from hanging the run; it measures no speed).
            def emit_all() -> None:
                for n in range(1, 1001):
                    out.emit(alert(n))

            emitter = threading.Thread(target=emit_all)
            emitter.start()
            emitter.join(timeout=60)
            assert not emitter.is_alive(), "emit blocked on a stuck receiver"
            assert not served.gate.is_set()
            assert out.statistics().dropped == 1000 - 5
            served.gate.set()
        finally:
            out.close(timeout=10)
        stats = out.statistics()
        assert (stats.emitted, stats.dropped, stats.failed) == (6, 995, 0)
        assert len(served.requests) == 6


def test_server_errors_are_retried_a_bounded_number_of_times(receiver: Receiver) -> None:
    receiver.statuses = [503, 500, 200]
    out = WebhookOutput(receiver.url(), retries=2, backoff=0.01)
    out.emit(alert(1))
    out.close()
    assert len(receiver.requests) == 3
    assert out.statistics().emitted == 1

    receiver.requests.clear()
    receiver.statuses = [500]
    out = WebhookOutput(receiver.url(), retries=2, backoff=0.01)
    out.emit(alert(2))
    out.close()
    assert len(receiver.requests) == 3  # 1 + 2 retries, then given up
    stats = out.statistics()
    assert (stats.emitted, stats.failed) == (0, 1)


def test_client_errors_are_not_retried(receiver: Receiver) -> None:
    receiver.statuses = [400]
    out = WebhookOutput(receiver.url(), retries=3, backoff=0.01)
    out.emit(alert(1))
    out.close()
    assert len(receiver.requests) == 1
    assert out.statistics().failed == 1


def test_unreachable_receiver_is_counted() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = WebhookOutput(f"http://127.0.0.1:{port}/", retries=1, backoff=0.01, timeout=2)
    out.emit(alert(1))
    out.close()
    stats = out.statistics()
    assert (stats.emitted, stats.failed) == (0, 1)


def test_close_gives_up_on_a_hung_receiver_and_counts_the_rest() -> None:
    rec = Receiver()
    with serve(rec) as served:
        out = WebhookOutput(served.url(), timeout=0.5, retries=0, queue_size=10)
        for n in range(4):
            out.emit(alert(n))
        start = time.monotonic()
        out.close(timeout=0.2)
        assert time.monotonic() - start < 3
        assert not any(t.name == "bastion-webhook" and t.is_alive() for t in threading.enumerate())
        stats = out.statistics()
        assert stats.emitted == 0
        assert stats.failed + stats.dropped == 4


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "http:///nohost", "not a url", "https//x"])
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(OutputConfigError) as info:
        WebhookOutput(url)
    assert info.value.reference == "output-config"


@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=bst-test", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_https_verifies_against_the_given_ca(tls_pair: tuple[Path, Path]) -> None:
    cert, key = tls_pair
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    rec = Receiver()
    rec.gate.set()
    with serve(rec, context) as served:
        trusted = WebhookOutput(served.url("https"), ca_file=str(cert))
        trusted.emit(alert(1))
        trusted.close()
        untrusted = WebhookOutput(served.url("https"), retries=0)  # system CAs only
        untrusted.emit(alert(2))
        untrusted.close()
        assert trusted.statistics().emitted == 1
        assert untrusted.statistics().failed == 1
        assert len(served.requests) == 1
        assert json.loads(served.requests[0][2])["output_fields"]["proc.pid"] == 1
