"""A client of the Distribution API v2 (the OCI distribution spec): `RegistryClient`.

What it does, and why:
- Authentication follows the registry's 401 challenge: `Bearer` gets a token from the realm for
  the challenge's service and scope (with Basic credentials when there are some), `Basic`
  sends the credentials; tokens are kept per scope for the client's life.
- Manifests are asked for with the full Accept list (OCI and Docker indexes and manifests);
  a Docker schema 1 answer is refused. An index gives the manifest of the requested platform
  (`linux/amd64` by default).
- Every manifest and blob is hashed while it streams and must match its digest (and size)
  before it gets its content address in the layout (`BlobWriter`); blobs already in the layout
  are not fetched; layers are fetched by a few threads sharing one connection pool; a download
  that breaks off is resumed with a `Range` request.
- Redirects are followed by hand: one to another origin (blob storage) loses the
  `Authorization` header, so a token never leaks to a third party.
- A registry's JSON error body becomes one line: `HTTP 404: MANIFEST_UNKNOWN: manifest unknown`.
- TLS is verified, except when `tls_verify=False` or, by default, for a loopback registry
  (localhost, 127.0.0.0/8, ::1): then HTTPS without verification is tried first and plain HTTP
  after it, as Podman does for `--tls-verify=false`. Unverified HTTPS requests make urllib3
  emit `InsecureRequestWarning`; the CLI decides whether to show it.

`pull.py` and `push.py` use it to move whole images.
"""

from __future__ import annotations

import json
import ssl
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import urlencode, urljoin, urlsplit

import urllib3

from bastion.images.auth import Challenge, Credentials, find_credentials, parse_challenge
from bastion.images.documents import (
    MANIFEST_ACCEPT,
    Descriptor,
    document_type,
    sha256_digest,
)
from bastion.images.errors import (
    DigestError,
    ImageNotFoundError,
    RegistryAuthError,
    RegistryError,
    RegistryUnreachableError,
)
from bastion.images.reference import is_loopback

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from bastion.images.layout import Layout

DEFAULT_PLATFORM = "linux/amd64"
#: How many times one blob's download is resumed after breaking off.
RESUMES = 3
_CHUNK = 1 << 20
_MAX_MANIFEST = 4 << 20  # the distribution spec's limit for a manifest
MAX_ERROR_BODY = 64 << 10
_REDIRECTS = (301, 302, 303, 307, 308)
_MAX_REDIRECTS = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class PullProgress:
    """One step of one blob of a pull or a push, for a progress display. `state` is "present"
    (already in the layout, or in the registry for a push), "fetching" or "pushing" (`done` of
    `total` bytes so far) or "done". Reported from the fetching threads: the callback must be
    thread-safe."""

    digest: str
    total: int
    done: int
    state: str


class Cancelled(Exception):
    """A blob download stopped because its `cancel` event was set (another one failed)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchedManifest:
    data: bytes
    media_type: str
    digest: str


class RegistryClient:
    """One registry (`host[:port]`): connections, the HTTP/HTTPS choice and auth tokens.

    Thread-safe: `pull` fetches blobs from several threads through one client.
    """

    def __init__(
        self,
        host: str,
        *,
        credentials: Credentials | None = None,
        tls_verify: bool | None = None,
        auth_files: list[str] | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.host = host
        self.tls_verify = (not is_loopback(host)) if tls_verify is None else tls_verify
        self.credentials = credentials
        if credentials is None:
            self.credentials = find_credentials(host, auth_files)
        self._timeout = urllib3.Timeout(connect=10.0, read=timeout)
        self._pool = urllib3.PoolManager(
            num_pools=4, maxsize=8, retries=False, ssl_context=_tls_context(self.tls_verify)
        )
        self._scheme: str | None = "https" if self.tls_verify else None
        self._lock = threading.Lock()
        self._tokens: dict[str, str] = {}
        self._basic = False

    def close(self) -> None:
        self._pool.clear()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- the API -------------------------------------------------------------------------------

    def get_manifest(self, repository: str, reference: str) -> FetchedManifest:
        """The manifest or index `repository:reference` (a tag or a digest), verified."""
        where = f"{self.host}/{repository}"
        resp = self._request(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            scope=_pull_scope(repository),
            headers={"Accept": ", ".join(MANIFEST_ACCEPT)},
        )
        try:
            data = read_limited(resp, _MAX_MANIFEST, where)
        finally:
            resp.release_conn()
        if resp.status == 404:
            raise ImageNotFoundError(
                f"{where}:{reference} is not in the registry ({error_line(resp.status, data)})",
                where=where,
                hint="check the name and the tag",
            )
        if resp.status != 200:
            raise status_error(resp.status, data, where)
        digest = sha256_digest(data)
        announced = resp.headers.get("Docker-Content-Digest", "")
        if reference.startswith("sha256:") and digest != reference:
            raise DigestError(f"manifest {reference} hashes to {digest}", where=where)
        if announced.startswith("sha256:") and announced != digest:
            raise DigestError(f"manifest announced as {announced} hashes to {digest}", where=where)
        media_type = document_type(data, resp.headers.get("Content-Type"))
        return FetchedManifest(data=data, media_type=media_type, digest=digest)

    def fetch_blob(
        self,
        repository: str,
        blob: Descriptor,
        layout: Layout,
        progress: Callable[[PullProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        """Stream blob `blob` into `layout`, verifying its digest and size as it comes.

        A download that breaks off is resumed where it stopped (`Range: bytes=N-`), up to
        `RESUMES` times; a registry that answers the range with the whole blob starts over.
        Setting `cancel` stops it between two reads (`Cancelled`), keeping nothing.
        """
        where = f"{self.host}/{repository}"
        path = f"/v2/{repository}/blobs/{blob.digest}"
        broken = 0
        with layout.blob_writer(blob.digest, blob.size) as writer:
            while True:
                offset = writer.size
                headers = {"Range": f"bytes={offset}-"} if offset else {}
                resp = self._request("GET", path, scope=_pull_scope(repository), headers=headers)
                try:
                    if resp.status == 200 and offset:
                        writer.restart()  # the registry ignored the range
                    elif resp.status != 200 and not (resp.status == 206 and offset):
                        body = read_limited(resp, MAX_ERROR_BODY, where, truncate=True)
                        raise status_error(resp.status, body, f"{where} blob {blob.digest}")
                    elif resp.status == 206 and not _range_starts_at(resp, offset):
                        raise RegistryError(
                            f"asked for {blob.digest} from byte {offset}, the registry sent "
                            f"{resp.headers.get('Content-Range')!r}",
                            where=where,
                        )
                    try:
                        # read1: whatever has arrived, so a break loses nothing already read
                        while chunk := resp.read1(_CHUNK):
                            if cancel is not None and cancel.is_set():
                                raise Cancelled(blob.digest)
                            writer.write(chunk)
                            if progress is not None:
                                progress(progress_step(blob, writer.size, "fetching"))
                        break
                    except urllib3.exceptions.HTTPError as err:
                        broken += 1
                        if broken > RESUMES:
                            raise RegistryUnreachableError(
                                f"the download of {blob.digest} broke off {broken} times: {err}",
                                where=where,
                            ) from err
                except BaseException:
                    resp.close()  # a half-read answer must not go back to the pool
                    raise
                finally:
                    resp.release_conn()
            try:
                writer.commit()
            except DigestError as err:
                raise DigestError(
                    err.message,
                    where=where,
                    hint="the registry served corrupt or tampered data; nothing was kept",
                ) from err
        if progress is not None:
            progress(progress_step(blob, blob.size, "done"))

    def check_login(self) -> None:
        """What `login` checks, as `docker login`: GET /v2/ with the credentials (a token for
        no scope from a Bearer realm, or Basic); `RegistryAuthError` when they are refused."""
        resp = self._request("GET", "/v2/", scope="")
        try:
            body = read_limited(resp, MAX_ERROR_BODY, self.host, truncate=True)
        finally:
            resp.release_conn()
        if resp.status != 200:
            raise status_error(resp.status, body, self.host)

    # -- HTTP, auth and redirects --------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        scope: str,
        headers: dict[str, str] | None = None,
        body: bytes | BinaryIO | None = None,
    ) -> urllib3.BaseHTTPResponse:
        """`method` on `path` (under /v2/, or a full URL the registry gave, such as an upload
        location), authenticating on a 401 challenge and asking again once. Credentials go
        only to the registry's own origin."""
        base = self._base()
        url = path if path.startswith(("http://", "https://")) else f"{base}{path}"
        for attempt in (0, 1):
            sent = dict(headers or {})
            authorization = self._authorization(scope)
            if authorization and _origin(url) == _origin(base):
                sent["Authorization"] = authorization
            if attempt and body is not None and not isinstance(body, bytes):
                body.seek(0)
            resp = self._send(method, url, sent, body=body)
            if resp.status != 401:
                return resp
            challenge = parse_challenge(resp.headers.get("WWW-Authenticate"))
            body = read_limited(resp, MAX_ERROR_BODY, self.host, truncate=True)
            resp.release_conn()
            if attempt == 1 or challenge is None:
                who = f" as {self.credentials.username!r}" if self.credentials else ""
                raise RegistryAuthError(
                    f"{self.host} refused access{who}: {error_line(401, body)}",
                    where=self.host,
                    hint="check the credentials (bastion login, or the auth files)",
                )
            self._authenticate(challenge, scope)
        raise AssertionError("unreachable")

    def _authorization(self, scope: str) -> str | None:
        with self._lock:
            token = self._tokens.get(scope)
        if token:
            return f"Bearer {token}"
        if self._basic and self.credentials is not None:
            return self.credentials.basic()
        return None

    def _authenticate(self, challenge: Challenge, scope: str) -> None:
        if challenge.scheme == "basic":
            if self.credentials is None or not self.credentials.username:
                raise RegistryAuthError(
                    f"{self.host} asks for a user name and password",
                    where=self.host,
                    hint="log in first, or pass credentials",
                )
            self._basic = True
            return
        if challenge.scheme != "bearer" or "realm" not in challenge.params:
            raise RegistryAuthError(
                f"{self.host} asks for {challenge.scheme!r} authentication, which bastion "
                "does not speak",
                where=self.host,
            )
        self._fetch_token(challenge, scope)

    def _fetch_token(self, challenge: Challenge, scope: str) -> None:
        realm = challenge.params["realm"]
        # what this client will do (pull, or pull,push) and what the challenge names, if other
        # (none for `login`'s check of /v2/: the token then proves the credentials only)
        scopes = [s for s in [scope, challenge.params.get("scope")] if s]
        scopes = [s for i, s in enumerate(scopes) if s not in scopes[:i]]
        query = [("scope", s) for s in scopes]
        if challenge.params.get("service"):
            query.append(("service", challenge.params["service"]))
        headers = {}
        creds = self.credentials
        if creds is not None and creds.identity_token:
            # an identity token (`docker login` with a token) is an OAuth2 refresh token:
            # exchanged by POST, the distribution spec's token authentication with OAuth2
            form = [*query, ("grant_type", "refresh_token"), ("client_id", "bastion")]
            form.append(("refresh_token", creds.identity_token))
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            resp = self._send("POST", realm, headers, body=urlencode(form).encode())
        else:
            if creds is not None and creds.username:
                headers["Authorization"] = creds.basic()
            separator = "&" if "?" in realm else "?"
            resp = self._send("GET", f"{realm}{separator}{urlencode(query)}", headers)
        try:
            body = read_limited(resp, _MAX_MANIFEST, realm, truncate=True)
        finally:
            resp.release_conn()
        if resp.status in (401, 403):
            who = f" for {self.credentials.username!r}" if self.credentials else " (anonymous)"
            raise RegistryAuthError(
                f"the token server refused access{who}: {error_line(resp.status, body)}",
                where=realm,
                hint="check the credentials (bastion login, or the auth files)",
            )
        if resp.status != 200:
            raise status_error(resp.status, body, realm)
        try:
            doc = json.loads(body)
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError) as err:
            raise RegistryError(f"the token server answered no JSON: {err}", where=realm) from err
        if not isinstance(token, str) or not token:
            raise RegistryError("the token server answered no token", where=realm)
        with self._lock:
            self._tokens[scope] = token

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        *,
        body: bytes | BinaryIO | None = None,
    ) -> urllib3.BaseHTTPResponse:
        origin = _origin(url)
        for _ in range(_MAX_REDIRECTS + 1):
            try:
                resp = self._pool.request(
                    method,
                    url,
                    body=body,
                    headers=headers,
                    redirect=False,
                    retries=False,
                    preload_content=False,
                    timeout=self._timeout,
                )
            except urllib3.exceptions.HTTPError as err:
                raise RegistryUnreachableError(
                    f"cannot reach {urlsplit(url).netloc}: {_reason(err)}",
                    where=url,
                    hint="is the registry running, and is the address right?",
                ) from err
            location = resp.headers.get("Location")
            if resp.status not in _REDIRECTS or not location:
                return resp
            resp.drain_conn()
            resp.release_conn()
            url = urljoin(url, location)
            if _origin(url) != origin:  # never hand our credentials to another host
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        raise RegistryError(f"more than {_MAX_REDIRECTS} redirects", where=url)

    def _base(self) -> str:
        with self._lock:
            if self._scheme is None:
                self._scheme = self._pick_scheme()
            return f"{self._scheme}://{self.host}"

    def _pick_scheme(self) -> str:
        """HTTPS without verification if the registry speaks TLS, else plain HTTP."""
        try:
            resp = self._pool.request(
                "GET",
                f"https://{self.host}/v2/",
                redirect=False,
                retries=False,
                preload_content=False,
                timeout=self._timeout,
            )
        except (urllib3.exceptions.SSLError, urllib3.exceptions.ProtocolError):
            return "http"
        except urllib3.exceptions.HTTPError as err:
            raise RegistryUnreachableError(
                f"cannot reach {self.host}: {_reason(err)}",
                where=self.host,
                hint="is the registry running, and is the address right?",
            ) from err
        resp.drain_conn()
        resp.release_conn()
        return "https"


def _tls_context(verify: bool) -> ssl.SSLContext:
    """One TLS context per client. urllib3 would build one per connection and load the system's
    CA store into each (24 ms here), even for a connection that verifies nothing."""
    if verify:
        return ssl.create_default_context()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def error_line(status: int, body: bytes) -> str:
    """A registry's error answer as one line: the Distribution API's `errors` list
    (`CODE: message`), else the body's first line, else the HTTP status."""
    text = ""
    try:
        doc = json.loads(body)
        errors = doc.get("errors") if isinstance(doc, dict) else None
        if isinstance(errors, list) and errors:
            parts = []
            for err in errors:
                if isinstance(err, dict):
                    code, message = err.get("code", ""), err.get("message", "")
                    parts.append(f"{code}: {message}" if code and message else str(code or message))
            text = "; ".join(p for p in parts if p)
        elif isinstance(doc, dict) and isinstance(doc.get("details") or doc.get("message"), str):
            text = str(doc.get("details") or doc.get("message"))
    except (ValueError, UnicodeDecodeError):
        lines = body.decode(errors="replace").strip().splitlines()
        text = lines[0][:200] if lines else ""
    return f"HTTP {status}: {text}" if text else f"HTTP {status}"


def status_error(status: int, body: bytes, where: str) -> RegistryError:
    if status in (401, 403):
        return RegistryAuthError(f"access denied: {error_line(status, body)}", where=where)
    return RegistryError(error_line(status, body), where=where)


def read_limited(
    resp: urllib3.BaseHTTPResponse, limit: int, where: str, *, truncate: bool = False
) -> bytes:
    try:
        data = resp.read(limit + 1)
    except urllib3.exceptions.HTTPError as err:
        raise RegistryUnreachableError(f"the answer broke off: {err}", where=where) from err
    if len(data) > limit:
        if truncate:
            return data[:limit]
        raise RegistryError(f"the answer is larger than {limit} bytes", where=where)
    return data


def _range_starts_at(resp: urllib3.BaseHTTPResponse, offset: int) -> bool:
    """Whether a 206 answer's `Content-Range: bytes START-END/TOTAL` starts at `offset`."""
    value = resp.headers.get("Content-Range", "")
    unit, _, rest = value.partition(" ")
    return unit == "bytes" and rest.partition("-")[0].strip() == str(offset)


def _pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def progress_step(blob: Descriptor, done: int, state: str) -> PullProgress:
    return PullProgress(digest=blob.digest, total=blob.size, done=done, state=state)


def _reason(err: urllib3.exceptions.HTTPError) -> str:
    reason = getattr(err, "reason", None) or err
    text = str(reason)
    # urllib3 wraps the OS error: "<...NewConnection...>: Failed to establish a new connection:
    # [Errno 111] Connection refused": keep the part a person needs.
    return text.rpartition(": ")[2] if "Failed to establish" in text else text
