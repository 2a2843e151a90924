"""A real registry for the image tests: Debian's `docker-registry` (the Distribution registry)
on 127.0.0.1 with private storage, optionally behind token auth served by `TokenServer`, and
`skopeo` to push images into it.

`start_registry(workdir)` picks a free port, writes a config, starts the registry and waits for
`/v2/` to answer; `RunningRegistry.stop()` ends it by its pid. `TokenServer` is a small token
service (the `auth: token` protocol): it checks Basic credentials and issues RS256 JWTs signed
with a key and self-signed certificate that it makes with `openssl`; the registry trusts that
certificate (`rootcertbundle`) and the token names it in its `x5c` header.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

REGISTRY = "/usr/bin/docker-registry"
SKOPEO = "/usr/bin/skopeo"
SERVICE = "bastion-test-registry"
ISSUER = "bastion-test-issuer"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenServer:
    """Issues registry tokens to `users` (name -> password) by GET with Basic auth, and to the
    holders of `refresh_tokens` (token -> user) by an OAuth2 POST; anyone else gets 401."""

    workdir: str
    users: dict[str, str]
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    requests: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.key = os.path.join(self.workdir, "token.key")
        self.cert = os.path.join(self.workdir, "token.crt")
        subprocess.run(
            [
                *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
                *("-keyout", self.key, "-out", self.cert, "-subj", "/CN=bastion-test-token"),
            ],
            check=True,
            capture_output=True,
        )
        der = subprocess.run(
            ["openssl", "x509", "-in", self.cert, "-outform", "DER"],
            check=True,
            capture_output=True,
        ).stdout
        self._x5c = base64.b64encode(der).decode()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server._answer(self)

            def do_POST(self) -> None:
                server._answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}/token"

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(5)

    def _answer(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        pairs = urllib.parse.parse_qsl(urllib.parse.urlsplit(handler.path).query)
        if handler.command == "POST":
            length = int(handler.headers.get("Content-Length", "0"))
            pairs += urllib.parse.parse_qsl(handler.rfile.read(length).decode())
        query = dict(pairs)
        # a client may ask for several scopes (one `scope` parameter each): joined by spaces
        query["scope"] = " ".join(v for k, v in pairs if k == "scope")
        if handler.command == "POST":
            user = self.refresh_tokens.get(query.get("refresh_token", ""))
        else:
            user = self._user(handler.headers.get("Authorization", ""))
        self.requests.append({"user": user or "", **query})
        if user is None:
            body = {"errors": [{"code": "UNAUTHORIZED", "message": "bad or missing credentials"}]}
            self._send(handler, 401, body)
            return
        access = []
        for scope in filter(None, query.get("scope", "").split(" ")):
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        self._send(handler, 200, {"token": self._token(user, access), "expires_in": 300})

    def _user(self, header: str) -> str | None:
        if not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user if self.users.get(user) == password else None

    def _token(self, user: str, access: list[dict[str, Any]]) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        claims = {
            "iss": ISSUER,
            "sub": user,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        signature = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", self.key],
            input=signing_input.encode(),
            check=True,
            capture_output=True,
        ).stdout
        return f"{signing_input}.{_b64url(signature)}"

    @staticmethod
    def _send(handler: http.server.BaseHTTPRequestHandler, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


@dataclass
class RunningRegistry:
    host: str
    storage: str
    workdir: str
    process: subprocess.Popen[bytes]

    def blob_data_path(self, digest: str) -> str:
        hexdigest = digest.removeprefix("sha256:")
        return os.path.join(
            self.storage, "docker/registry/v2/blobs/sha256", hexdigest[:2], hexdigest, "data"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def log(self) -> str:
        with open(os.path.join(self.workdir, "registry.log"), errors="replace") as f:
            return f.read()


def htpasswd_file(workdir: str, users: dict[str, str]) -> str:
    """An htpasswd file with bcrypt hashes (the only kind the registry reads), made by libcrypt
    through Python's `crypt` in a child (the module is deprecated: its warning stays there)."""
    script = (
        "import crypt, json, sys\n"
        "for user, pw in json.load(sys.stdin).items():\n"
        "    print(f'{user}:{crypt.crypt(pw, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))}')\n"
    )
    lines = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script],
        input=json.dumps(users),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = os.path.join(workdir, "htpasswd")
    with open(path, "w") as f:
        f.write(lines)
    return path


def start_registry(
    workdir: str, *, token: TokenServer | None = None, basic: dict[str, str] | None = None
) -> RunningRegistry:
    """Start a registry storing under `workdir/storage`, open, behind `token` auth or behind
    Basic auth for the `basic` users; stop it with `.stop()`."""
    port = free_port()
    storage = os.path.join(workdir, "storage")
    os.makedirs(storage, exist_ok=True)
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": storage}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": uuid.uuid4().hex},
    }
    if token is not None:
        config["auth"] = {
            "token": {
                "realm": token.realm,
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": token.cert,
            }
        }
    if basic is not None:
        config["auth"] = {
            "htpasswd": {"realm": "bastion-test", "path": htpasswd_file(workdir, basic)}
        }
    path = os.path.join(workdir, "config.yml")
    with open(path, "w") as f:
        json.dump(config, f)  # JSON is YAML
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    with open(os.path.join(workdir, "registry.log"), "wb") as log:
        process = subprocess.Popen(
            [REGISTRY, "serve", path], stdout=log, stderr=subprocess.STDOUT, env=env
        )
    registry = RunningRegistry(f"127.0.0.1:{port}", storage, workdir, process)
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"http://{registry.host}/v2/", timeout=2).close()
            return registry
        except urllib.error.HTTPError:  # 401 behind token auth: it answers
            return registry
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                registry.stop()
                raise RuntimeError(f"docker-registry did not start:\n{registry.log()}") from None
            time.sleep(0.05)


def skopeo_copy(src: str, dest: str, *args: str, workdir: str) -> None:
    """`skopeo copy` with a private accept-anything policy and no TLS for loopback."""
    policy = os.path.join(workdir, "policy.json")
    if not os.path.exists(policy):
        with open(policy, "w") as f:
            json.dump({"default": [{"type": "insecureAcceptAnything"}]}, f)
    cmd = [SKOPEO, "--policy", policy, "copy", "--quiet", *args, src, dest]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {result.stderr}")


@contextlib.contextmanager
def private_dir(prefix: str) -> Iterator[str]:
    """A temporary directory removed afterwards (fixtures own and remove their dirs)."""
    path = tempfile.mkdtemp(prefix=prefix)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
