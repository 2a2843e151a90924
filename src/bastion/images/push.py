"""`push`: an image of the layout to a registry, with the Distribution API's monolithic upload.

Each blob the registry does not have yet (a HEAD answers 404) is uploaded in one request: POST
`/v2/<repo>/blobs/uploads/` opens an upload session, one PUT to its location with `?digest=`
sends the whole blob. The manifest goes last (PUT `/v2/<repo>/manifests/<tag>`), so the registry
never names an image whose blobs are missing; the registry's `Docker-Content-Digest` must be the
manifest's own digest. Authentication, TLS and redirects are `RegistryClient`'s, with the scope
`repository:<repo>:pull,push`.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from bastion.images.documents import sha256_digest
from bastion.images.errors import DigestError, LayoutError, RegistryError
from bastion.images.reference import Reference
from bastion.images.registry import (
    MAX_ERROR_BODY,
    PullProgress,
    RegistryClient,
    progress_step,
    read_limited,
    status_error,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from bastion.images.auth import Credentials
    from bastion.images.documents import Descriptor
    from bastion.images.layout import Layout


def push(
    layout: Layout,
    name: str,
    destination: str | Reference | None = None,
    *,
    credentials: Credentials | None = None,
    tls_verify: bool | None = None,
    progress: Callable[[PullProgress], None] | None = None,
    auth_files: list[str] | None = None,
) -> str:
    """Push the image `name` of `layout` to `destination` (default: `name` itself, which is a
    full reference for pulled images). Returns the manifest digest the registry now holds."""
    image = layout.image(name)
    ref = (
        destination if isinstance(destination, Reference) else Reference.parse(destination or name)
    )
    scope = f"repository:{ref.repository}:pull,push"
    manifest = layout.read_blob(image.digest)
    with RegistryClient(
        ref.api_host, credentials=credentials, tls_verify=tls_verify, auth_files=auth_files
    ) as client:
        unique = {d.digest: d for d in (image.manifest.config, *image.layers)}
        for blob in unique.values():
            _upload(client, ref.repository, scope, blob, layout, progress)
        target = ref.tag or image.digest
        resp = client._request(  # friend access: the client's auth and redirects
            "PUT",
            f"/v2/{ref.repository}/manifests/{target}",
            scope=scope,
            headers={"Content-Type": image.descriptor.media_type},
            body=manifest,
        )
        try:
            body = read_limited(resp, MAX_ERROR_BODY, client.host, truncate=True)
        finally:
            resp.release_conn()
        where = f"{client.host}/{ref.repository}"
        if resp.status not in (200, 201):
            raise status_error(resp.status, body, f"{where} manifest")
        digest = sha256_digest(manifest)
        stored = resp.headers.get("Docker-Content-Digest", digest)
        if stored != digest:
            raise DigestError(f"the registry stored the manifest {digest} as {stored}", where=where)
    return digest


def _upload(
    client: RegistryClient,
    repository: str,
    scope: str,
    blob: Descriptor,
    layout: Layout,
    progress: Callable[[PullProgress], None] | None,
) -> None:
    where = f"{client.host}/{repository}"
    path = f"/v2/{repository}/blobs/{blob.digest}"
    head = client._request("HEAD", path, scope=scope)
    head.drain_conn()  # ends the (empty) answer, so the connection can be used again
    head.release_conn()
    if head.status == 200:
        if progress is not None:
            progress(
                PullProgress(digest=blob.digest, total=blob.size, done=blob.size, state="present")
            )
        return
    if head.status != 404:
        raise status_error(head.status, b"", f"{where} blob {blob.digest}")
    start = client._request("POST", f"/v2/{repository}/blobs/uploads/", scope=scope, body=b"")
    try:
        body = read_limited(start, MAX_ERROR_BODY, where, truncate=True)
    finally:
        start.release_conn()
    location = start.headers.get("Location")
    if start.status != 202 or not location:
        if start.status == 202:
            raise RegistryError("the registry opened an upload without a location", where=where)
        raise status_error(start.status, body, f"{where} upload")
    url = urljoin(f"{client._base()}/v2/{repository}/blobs/uploads/", location)
    url += ("&" if "?" in url else "?") + f"digest={blob.digest}"
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(blob.size)}
    with _open_reporting(layout, blob, progress) as data:
        done = client._request("PUT", url, scope=scope, headers=headers, body=data)
    try:
        body = read_limited(done, MAX_ERROR_BODY, where, truncate=True)
    finally:
        done.release_conn()
    if done.status != 201:
        raise status_error(done.status, body, f"{where} blob {blob.digest}")
    if progress is not None:
        progress(progress_step(blob, blob.size, "done"))


class _Reporting(io.FileIO):
    """A blob file that reports each read to `progress` ("pushing", bytes sent so far): the
    HTTP client reads the body in blocks as it sends it."""

    def __init__(
        self, path: str, blob: Descriptor, progress: Callable[[PullProgress], None] | None
    ) -> None:
        super().__init__(path, "rb")
        self._blob = blob
        self._progress = progress

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        if self._progress is not None and data:
            self._progress(progress_step(self._blob, self.tell(), "pushing"))
        return data or b""


def _open_reporting(
    layout: Layout, blob: Descriptor, progress: Callable[[PullProgress], None] | None
) -> _Reporting:
    try:
        return _Reporting(layout.blob_path(blob.digest), blob, progress)
    except FileNotFoundError as err:
        raise LayoutError(
            f"blob {blob.digest} is missing", where=layout.root, reference="blob-missing"
        ) from err
