"""The registry client's pieces that need no registry: references, auth files, challenges, error
lines, and redirects (against two small HTTP servers on 127.0.0.1, no root needed)."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import ssl
import subprocess
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
import urllib3

from bastion.images.auth import Credentials, find_credentials, parse_challenge
from bastion.images.documents import Descriptor
from bastion.images.errors import (
    CredentialsError,
    ImageNotFoundError,
    ReferenceFormatError,
    RegistryError,
    RegistryUnreachableError,
)
from bastion.images.layout import Layout
from bastion.images.pull import pull
from bastion.images.reference import Reference, is_loopback
from bastion.images.registry import RegistryClient, error_line

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("busybox", "docker.io", "library/busybox", "latest", None),
        ("user/app:1.0", "docker.io", "user/app", "1.0", None),
        ("127.0.0.1:5000/busybox", "127.0.0.1:5000", "busybox", "latest", None),
        ("localhost/a/b:t", "localhost", "a/b", "t", None),
        ("quay.io/org/app@sha256:" + "a" * 64, "quay.io", "org/app", None, "sha256:" + "a" * 64),
        ("r.example:443/x:y@sha256:" + "b" * 64, "r.example:443", "x", "y", "sha256:" + "b" * 64),
    ],
)
def test_references(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = Reference.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )
    assert Reference.parse(str(ref)) == ref


@pytest.mark.parametrize("bad", ["UPPER/case", "a//b", "x:", "x@sha256:12", "host:5000/a:b:c", ""])
def test_bad_references(bad: str) -> None:
    with pytest.raises(ReferenceFormatError):
        Reference.parse(bad)


def test_docker_hub_api_host_and_loopback() -> None:
    assert Reference.parse("busybox").api_host == "registry-1.docker.io"
    assert [is_loopback(h) for h in ("127.0.0.1:5000", "localhost", "[::1]:5000", "10.0.0.1")] == [
        True,
        True,
        True,
        False,
    ]


def _auth(user: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_credentials_from_files_in_order(tmp_path: Path) -> None:
    podman = tmp_path / "auth.json"
    docker = tmp_path / "config.json"
    podman.write_text(json.dumps({"auths": {"reg.example": _auth("p", "pw1")}}))
    docker.write_text(
        json.dumps(
            {
                "auths": {
                    "https://reg.example": _auth("d", "pw2"),
                    "https://other.example/v1/": {"username": "o", "password": "pw3"},
                    "https://index.docker.io/v1/": _auth("hub", "pw4"),
                }
            }
        )
    )
    files = [str(tmp_path / "missing.json"), str(podman), str(docker)]
    assert find_credentials("reg.example", files) == Credentials("p", "pw1")
    assert find_credentials("other.example", files) == Credentials("o", "pw3")
    assert find_credentials("docker.io", files) == Credentials("hub", "pw4")
    # what pull asks for: Docker Hub's API host
    assert find_credentials(Reference.parse("busybox").api_host, files) == Credentials("hub", "pw4")
    assert find_credentials("nowhere.example", files) is None
    assert "pw1" not in repr(find_credentials("reg.example", files))


def test_bad_auth_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "auth.json"
    bad.write_text(json.dumps({"auths": {"r.example": {"auth": "!!!not base64"}}}))
    with pytest.raises(CredentialsError) as caught:
        find_credentials("r.example", [str(bad)])
    assert caught.value.where == str(bad)


def test_challenges() -> None:
    c = parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:a/b:pull,push"'
    )
    assert c is not None and c.scheme == "bearer"
    assert c.params == {
        "realm": "https://auth.example/token",
        "service": "registry.example",
        "scope": "repository:a/b:pull,push",
    }
    basic = parse_challenge('Basic realm="Registry Realm"')
    assert basic is not None and (basic.scheme, basic.params) == (
        "basic",
        {"realm": "Registry Realm"},
    )
    assert parse_challenge(None) is None


def test_error_lines() -> None:
    body = json.dumps(
        {
            "errors": [
                {"code": "MANIFEST_UNKNOWN", "message": "manifest unknown", "detail": {"x": 1}},
                {"code": "DENIED", "message": "no"},
            ]
        }
    ).encode()
    assert error_line(404, body) == "HTTP 404: MANIFEST_UNKNOWN: manifest unknown; DENIED: no"
    assert error_line(502, b"<html>\nBad gateway\n</html>") == "HTTP 502: <html>"
    assert error_line(500, b"") == "HTTP 500"


class _Recorder(http.server.BaseHTTPRequestHandler):
    routes: dict[str, Any]
    seen: list[tuple[str, str | None]]

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization")))
        status, headers, body = self.routes.get(self.path, (404, {}, b"{}"))
        if callable(status):
            status, headers, body = status(self)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve(routes: dict[str, Any]) -> tuple[http.server.ThreadingHTTPServer, list[Any]]:
    seen: list[tuple[str, str | None]] = []
    handler = type("Handler", (_Recorder,), {"routes": routes, "seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


@pytest.fixture
def servers() -> Iterator[tuple[dict[str, Any], dict[str, Any], int, int, list[Any], list[Any]]]:
    front_routes: dict[str, Any] = {}
    storage_routes: dict[str, Any] = {}
    front, front_seen = _serve(front_routes)
    storage, storage_seen = _serve(storage_routes)
    try:
        yield (
            front_routes,
            storage_routes,
            front.server_address[1],
            storage.server_address[1],
            front_seen,
            storage_seen,
        )
    finally:
        for server in (front, storage):
            server.shutdown()
            server.server_close()


BLOB = b"layer bytes" * 100
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()


def test_redirect_to_another_host_drops_authorization(
    servers: tuple[dict[str, Any], dict[str, Any], int, int, list[Any], list[Any]],
    tmp_path: Path,
) -> None:
    front_routes, storage_routes, front_port, storage_port, front_seen, storage_seen = servers

    def guarded(location: str) -> Any:
        def answer(req: http.server.BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
            if not req.headers.get("Authorization"):
                return 401, {"WWW-Authenticate": 'Basic realm="test"'}, b"{}"
            return 307, {"Location": location}, b""

        return answer

    front_routes[f"/v2/far/blobs/{DIGEST}"] = (
        guarded(f"http://127.0.0.1:{storage_port}/s/{DIGEST}"),
        {},
        b"",
    )
    front_routes[f"/v2/near/blobs/{DIGEST}"] = (guarded(f"/local/{DIGEST}"), {}, b"")
    front_routes[f"/local/{DIGEST}"] = (200, {}, BLOB)
    storage_routes[f"/s/{DIGEST}"] = (200, {}, BLOB)

    layout = Layout(str(tmp_path / "l"))
    blob = Descriptor(media_type="application/octet-stream", digest=DIGEST, size=len(BLOB))
    creds = Credentials("user", "password")
    with RegistryClient(f"127.0.0.1:{front_port}", credentials=creds) as client:
        client.fetch_blob("far", blob, layout)
        assert layout.read_blob(DIGEST) == BLOB
        layout.remove_blob(DIGEST)
        client.fetch_blob("near", blob, layout)
    assert storage_seen == [(f"/s/{DIGEST}", None)]  # the other host never saw the password
    assert (f"/local/{DIGEST}", creds.basic()) in front_seen  # the same host still does
    assert layout.read_blob(DIGEST) == BLOB


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[int]:
    """A TLS-only HTTP server on 127.0.0.1 with a self-signed certificate."""
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    missing = json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]})
    server, _ = _serve({"/v2/": (200, {}, b"{}"), "/v2/r/manifests/t": (404, {}, missing.encode())})
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_tls_is_verified_when_asked(tls_server: int) -> None:
    with (
        RegistryClient(f"127.0.0.1:{tls_server}", tls_verify=True) as client,
        pytest.raises(RegistryUnreachableError) as caught,
    ):
        client.get_manifest("r", "t")
    assert "CERTIFICATE_VERIFY_FAILED" in caught.value.message


def test_loopback_registry_speaks_unverified_https_when_it_has_tls(tls_server: int) -> None:
    with (
        RegistryClient(f"127.0.0.1:{tls_server}") as client,
        pytest.warns(urllib3.exceptions.InsecureRequestWarning),
        pytest.raises(ImageNotFoundError) as caught,
    ):
        client.get_manifest("r", "t")
    assert "MANIFEST_UNKNOWN" in caught.value.message  # the TLS-only server answered


class _Flaky(http.server.BaseHTTPRequestHandler):
    """Serves BLOB but breaks off the first `breaks` answers halfway; honours Range unless
    `ranges` is False."""

    breaks = 1
    ranges = True
    seen: list[str | None]

    def do_GET(self) -> None:
        if self.path == "/v2/":
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        asked = self.headers.get("Range")
        self.seen.append(asked)
        start = int(asked[6:-1]) if asked and self.ranges else 0
        body = BLOB[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(BLOB) - 1}/{len(BLOB)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if len(self.seen) <= self.breaks:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _flaky(breaks: int, ranges: bool) -> tuple[http.server.ThreadingHTTPServer, list[Any]]:
    seen: list[str | None] = []
    handler = type("Handler", (_Flaky,), {"breaks": breaks, "ranges": ranges, "seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


@pytest.mark.parametrize("ranges", [True, False], ids=["resumed", "restarted"])
def test_broken_download_is_resumed(tmp_path: Path, ranges: bool) -> None:
    server, seen = _flaky(breaks=2, ranges=ranges)
    try:
        layout = Layout(str(tmp_path))
        blob = Descriptor(media_type="application/octet-stream", digest=DIGEST, size=len(BLOB))
        with RegistryClient(f"127.0.0.1:{server.server_address[1]}") as client:
            client.fetch_blob("r", blob, layout)
    finally:
        server.shutdown()
        server.server_close()
    assert layout.read_blob(DIGEST) == BLOB
    half, quarter = len(BLOB) // 2, len(BLOB) // 2 + (len(BLOB) - len(BLOB) // 2) // 2
    assert seen == (
        [None, f"bytes={half}-", f"bytes={quarter}-"]
        if ranges
        else [None, f"bytes={half}-", f"bytes={half}-"]
    )
    assert os.listdir(tmp_path / "tmp") == []


def test_download_that_keeps_breaking_is_a_clear_error(tmp_path: Path) -> None:
    server, seen = _flaky(breaks=100, ranges=True)
    try:
        layout = Layout(str(tmp_path))
        blob = Descriptor(media_type="application/octet-stream", digest=DIGEST, size=len(BLOB))
        with (
            RegistryClient(f"127.0.0.1:{server.server_address[1]}") as client,
            pytest.raises(RegistryUnreachableError) as caught,
        ):
            client.fetch_blob("r", blob, layout)
    finally:
        server.shutdown()
        server.server_close()
    assert "broke off 4 times" in caught.value.message
    assert len(seen) == 4
    assert not layout.has_blob(DIGEST) and os.listdir(tmp_path / "tmp") == []


SLOW = b"z" * (16 << 20)
SLOW_DIGEST = "sha256:" + hashlib.sha256(SLOW).hexdigest()


class _SlowRegistry(http.server.BaseHTTPRequestHandler):
    """A registry with one image of two layers: one missing (404), one sent slowly; it counts
    the bytes of the slow one that went out before the client hung up."""

    documents: dict[str, bytes]
    sent: list[int]

    def do_GET(self) -> None:
        if self.path == f"/v2/r/blobs/{SLOW_DIGEST}":
            self.send_response(200)
            self.send_header("Content-Length", str(len(SLOW)))
            self.end_headers()
            sent = 0
            try:
                for start in range(0, len(SLOW), 64 << 10):
                    self.wfile.write(SLOW[start : start + (64 << 10)])
                    self.wfile.flush()
                    sent += 64 << 10
                    time.sleep(0.005)
            except OSError:
                pass
            self.sent.append(sent)
            return
        body = self.documents.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_first_failure_stops_the_other_downloads(tmp_path: Path) -> None:
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"diff_ids": []}})
    missing = "sha256:" + hashlib.sha256(b"never served").hexdigest()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + hashlib.sha256(config.encode()).hexdigest(),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": SLOW_DIGEST,
                    "size": len(SLOW),
                },
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": missing,
                    "size": 12,
                },
            ],
        }
    )
    config_digest = "sha256:" + hashlib.sha256(config.encode()).hexdigest()
    documents = {
        "/v2/": b"{}",
        "/v2/r/manifests/latest": manifest.encode(),
        f"/v2/r/blobs/{config_digest}": config.encode(),
    }
    sent: list[int] = []
    handler = type("Handler", (_SlowRegistry,), {"documents": documents, "sent": sent})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    layout = Layout(str(tmp_path))
    try:
        with pytest.raises(RegistryError) as caught:
            pull(f"127.0.0.1:{server.server_address[1]}/r", layout)
        assert caught.value.reference == "registry-error" and "HTTP 404" in caught.value.message
        deadline = time.monotonic() + 30
        while not sent and time.monotonic() < deadline:  # the handler notices the hang-up
            time.sleep(0.01)
    finally:
        server.shutdown()
        server.server_close()
    assert sent and sent[0] < len(SLOW)  # stopped, not downloaded to the end
    assert not layout.has_blob(SLOW_DIGEST) and os.listdir(tmp_path / "tmp") == []
