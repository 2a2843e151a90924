"""`pull`: an image from a registry into the layout (and, if asked, its layers unpacked).

The manifest (through an index, for the requested platform) comes first, then the config and
the layers the layout lacks, over a few threads sharing one `RegistryClient`; the first blob
that fails stops the others. The image is tagged last, so a failed pull leaves no image and no
temporary file, only blobs that were complete and verified (content-addressed, reused by the
next pull). The pull holds `layout.writing()` throughout, so garbage collection waits for it.
"""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

from bastion.images.documents import (
    INDEX_TYPES,
    Descriptor,
    Platform,
    parse_index,
    parse_manifest,
)
from bastion.images.errors import ImageError, ManifestError
from bastion.images.reference import Reference
from bastion.images.registry import (
    DEFAULT_PLATFORM,
    Cancelled,
    PullProgress,
    RegistryClient,
    progress_step,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from bastion.images.auth import Credentials
    from bastion.images.layers import LayerStore
    from bastion.images.layout import Image, Layout
    from bastion.images.mirrors import Mirror


def pull(
    reference: str | Reference,
    layout: Layout,
    *,
    platform: str | Platform = DEFAULT_PLATFORM,
    credentials: Credentials | None = None,
    tls_verify: bool | None = None,
    layers: LayerStore | None = None,
    concurrency: int = 4,
    progress: Callable[[PullProgress], None] | None = None,
    auth_files: list[str] | None = None,
    mirrors: Sequence[Mirror] = (),
) -> Image:
    """Pull `reference` into `layout` and tag it with its full name (`str(Reference)`).

    `mirrors` (`mirrors.configured`) are asked first, in order, for the same repository; the
    first that serves the image wins, and the registry itself is asked last. A mirror's failure
    (unreachable, no such image, a bad answer) moves on to the next: the error raised is the
    registry's own.

    With `layers`, every layer is also unpacked (and its diff id checked) before the tag, so a
    corrupt or hostile layer leaves no image. Errors: `ImageNotFoundError`, `DigestError`,
    `RegistryAuthError`, `RegistryUnreachableError`, `ManifestError`, `RegistryError` and
    the unpack's errors; after any of them the layout has no new name and no temporary file.
    """
    ref = reference if isinstance(reference, Reference) else Reference.parse(reference)
    wanted = platform if isinstance(platform, Platform) else Platform.parse(platform)
    with layout.writing():
        for mirror in mirrors:
            try:
                return _pull(
                    ref,
                    mirror.host,
                    layout,
                    wanted,
                    None,  # the registry's credentials are not the mirror's: its auth files'
                    mirror.tls_verify,
                    layers,
                    concurrency,
                    progress,
                    auth_files,
                )
            except ImageError:
                continue
        return _pull(
            ref,
            ref.api_host,
            layout,
            wanted,
            credentials,
            tls_verify,
            layers,
            concurrency,
            progress,
            auth_files,
        )


def _pull(
    ref: Reference,
    host: str,
    layout: Layout,
    wanted: Platform,
    credentials: Credentials | None,
    tls_verify: bool | None,
    layers: LayerStore | None,
    concurrency: int,
    progress: Callable[[PullProgress], None] | None,
    auth_files: list[str] | None,
) -> Image:
    with RegistryClient(
        host, credentials=credentials, tls_verify=tls_verify, auth_files=auth_files
    ) as client:
        fetched = client.get_manifest(ref.repository, ref.manifest_reference)
        chosen_platform = None
        if fetched.media_type in INDEX_TYPES:
            chosen = parse_index(fetched.data).select(wanted)
            chosen_platform = chosen.platform
            fetched = client.get_manifest(ref.repository, chosen.digest)
            if fetched.media_type in INDEX_TYPES:
                raise ManifestError(f"{ref}: an index inside an index is not supported")
        manifest = parse_manifest(fetched.data)
        unique = {d.digest: d for d in (manifest.config, *manifest.layers)}
        _fetch_all(client, ref.repository, list(unique.values()), layout, concurrency, progress)
    descriptor = Descriptor(
        media_type=fetched.media_type,
        digest=layout.put_blob(fetched.data, fetched.digest),
        size=len(fetched.data),
        platform=chosen_platform,
    )
    name = str(ref)
    image = layout.read_image(descriptor, name)
    if layers is not None:
        layers.ensure_image(layout, image)
    layout.tag(name, descriptor)
    return layout.image(name)


def _fetch_all(
    client: RegistryClient,
    repository: str,
    blobs: list[Descriptor],
    layout: Layout,
    concurrency: int,
    progress: Callable[[PullProgress], None] | None,
) -> None:
    todo = []
    for blob in blobs:
        if layout.has_blob(blob.digest):
            if progress is not None:
                progress(progress_step(blob, blob.size, "present"))
        else:
            todo.append(blob)
    if not todo:
        return
    cancel = threading.Event()  # the first failure stops the other downloads
    with ThreadPoolExecutor(
        max_workers=max(1, min(concurrency, len(todo))), thread_name_prefix="bastion-pull"
    ) as pool:
        futures = [
            pool.submit(client.fetch_blob, repository, b, layout, progress, cancel) for b in todo
        ]
        try:
            _, pending = wait(futures, return_when=FIRST_EXCEPTION)
        finally:  # an error, or KeyboardInterrupt in this thread
            cancel.set()
        for future in pending:
            future.cancel()
    failures = [f.exception() for f in futures if not f.cancelled()]
    errors = [e for e in failures if e is not None]
    for error in errors:
        if not isinstance(error, Cancelled):
            raise error
    if errors:
        raise errors[0]
