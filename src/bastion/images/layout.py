"""An OCI image layout on disk (image-spec image-layout.md): `oci-layout`, `index.json` and
content-addressed `blobs/sha256/<hex>`.

Invariants, so that a crash or a failed pull never leaves a half image:
- a blob is written to `tmp/` while it is hashed, and renamed to `blobs/sha256/<hex>` only once
  its digest (and size, when known) checks out: a path under `blobs/` always holds its content;
- `index.json` is rewritten whole (temp file + rename) under an flock of the layout directory,
  so concurrent writers serialise and readers see the old or the new index;
- an image exists when, and only when, `index.json` names its manifest: a pull tags last.

Images are named in `index.json` by the `org.opencontainers.image.ref.name` annotation; bastion
puts the full reference there (`127.0.0.1:5000/busybox:latest`), so one layout holds images
from several repositories. The layout can be read by `skopeo` as `oci:<dir>:<name>`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os

from bastion import jsonio
from bastion._record import record
from bastion.images.documents import (
    INDEX_TYPES,
    OCI_INDEX,
    REF_NAME,
    Descriptor,
    ImageConfig,
    Manifest,
    check_digest,
    document_type,
    parse_config,
    parse_index,
    parse_manifest,
)
from bastion.images.errors import DigestError, ImageNotFoundError, LayoutError, ManifestError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import TracebackType
    from typing import BinaryIO

LAYOUT_VERSION = "1.0.0"


@record
class Image:
    """An image of a layout: its name, the descriptor `index.json` holds, its manifest and its
    config. `layers` are the manifest's layer descriptors, bottom first."""

    name: str
    descriptor: Descriptor
    manifest: Manifest
    config: ImageConfig

    @property
    def digest(self) -> str:
        """The manifest digest: the image's identity (`image@sha256:...`)."""
        return self.descriptor.digest

    @property
    def layers(self) -> tuple[Descriptor, ...]:
        return self.manifest.layers

    @property
    def compressed_size(self) -> int:
        """Bytes of its blobs as stored: manifest, config and layers (what a pull moves)."""
        return self.descriptor.size + self.manifest.config.size + sum(d.size for d in self.layers)


class Layout:
    """The OCI image layout at `root` (made if missing)."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self._blobs = os.path.join(self.root, "blobs", "sha256")
        self._tmp = os.path.join(self.root, "tmp")
        os.makedirs(self._blobs, exist_ok=True)
        os.makedirs(self._tmp, exist_ok=True)
        marker = os.path.join(self.root, "oci-layout")
        if not os.path.exists(marker):
            _write_atomic(marker, jsonio.dumps({"imageLayoutVersion": LAYOUT_VERSION}).encode())
        if not os.path.exists(os.path.join(self.root, "index.json")):
            with self._locked():
                if not os.path.exists(os.path.join(self.root, "index.json")):
                    self._write_index([])

    # -- blobs ---------------------------------------------------------------------------------

    def blob_path(self, digest: str) -> str:
        return os.path.join(self._blobs, check_digest(digest).removeprefix("sha256:"))

    def has_blob(self, digest: str) -> bool:
        return os.path.isfile(self.blob_path(digest))

    def open_blob(self, digest: str) -> BinaryIO:
        try:
            return open(self.blob_path(digest), "rb")
        except FileNotFoundError as err:
            raise LayoutError(
                f"blob {digest} is missing", where=self.root, reference="blob-missing"
            ) from err

    def read_blob(self, digest: str) -> bytes:
        with self.open_blob(digest) as blob:
            return blob.read()

    def blob_writer(self, digest: str | None = None, size: int | None = None) -> BlobWriter:
        """A writer whose `commit()` checks the content against `digest`/`size` (when given)
        and only then puts it at its content address."""
        return BlobWriter(self, digest, size)

    def put_blob(self, data: bytes, digest: str | None = None) -> str:
        with self.blob_writer(digest, len(data)) as writer:
            writer.write(data)
            return writer.commit()

    def blobs(self) -> list[str]:
        return sorted("sha256:" + name for name in os.listdir(self._blobs))

    def remove_blob(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.blob_path(digest))

    def referenced_blobs(self) -> set[str]:
        """Every blob reachable from `index.json`: manifests (through nested indexes), their
        configs and layers. A listed blob that is missing is skipped, not an error."""
        seen: set[str] = set()
        todo = [d.digest for d in self.index()]
        while todo:
            digest = todo.pop()
            if digest in seen or not self.has_blob(digest):
                continue
            seen.add(digest)
            data = self.read_blob(digest)
            try:
                kind = document_type(data)
            except ManifestError:
                continue  # a config or a layer: a leaf
            if kind in INDEX_TYPES:
                todo.extend(d.digest for d in parse_index(data).manifests)
            else:
                manifest = parse_manifest(data)
                seen.add(manifest.config.digest)
                seen.update(d.digest for d in manifest.layers)
        return seen

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Held (shared) by every writer that adds blobs and tags them later, such as `pull`:
        `collect_garbage` waits for them, so it never removes a blob about to be tagged."""
        fd = os.open(self._tmp, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    def collect_garbage(self) -> list[str]:
        """Remove the blobs no tagged image reaches (after `untag`), and temporary files left
        by a killed writer; returns the digests removed. Waits for writers (`writing`)."""
        fd = os.open(self._tmp, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with self._locked():
                keep = self.referenced_blobs()
            removed = [d for d in self.blobs() if d not in keep]
            for digest in removed:
                self.remove_blob(digest)
            for name in os.listdir(self._tmp):  # no writer holds the lock: all are stale
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self._tmp, name))
        finally:
            os.close(fd)
        return removed

    # -- index.json ----------------------------------------------------------------------------

    def index(self) -> list[Descriptor]:
        path = os.path.join(self.root, "index.json")
        try:
            with open(path, "rb") as f:
                return list(parse_index(f.read()).manifests)
        except FileNotFoundError as err:
            raise LayoutError("index.json is missing", where=self.root) from err
        except Exception as err:
            if isinstance(err, LayoutError):
                raise
            raise LayoutError(f"index.json is unreadable: {err}", where=path) from err

    def names(self) -> dict[str, Descriptor]:
        """Every tagged image: name -> manifest descriptor."""
        return {d.annotations[REF_NAME]: d for d in self.index() if REF_NAME in d.annotations}

    def tag(self, name: str, descriptor: Descriptor) -> None:
        """Name `descriptor` (a manifest already in the blobs) `name`, replacing an older one."""
        if not self.has_blob(descriptor.digest):
            raise LayoutError(
                f"cannot tag {name}: blob {descriptor.digest} is missing", where=self.root
            )
        entry = Descriptor(
            media_type=descriptor.media_type,
            digest=descriptor.digest,
            size=descriptor.size,
            annotations={**descriptor.annotations, REF_NAME: name},
            platform=descriptor.platform,
        )
        with self._locked():
            kept = [d for d in self.index() if d.annotations.get(REF_NAME) != name]
            self._write_index([*kept, entry])

    def untag(self, name: str) -> Descriptor:
        with self._locked():
            entries = self.index()
            found = [d for d in entries if d.annotations.get(REF_NAME) == name]
            if not found:
                raise _not_found(name, self.root)
            self._write_index([d for d in entries if d.annotations.get(REF_NAME) != name])
        return found[0]

    def resolve(self, name: str) -> Descriptor:
        try:
            return self.names()[name]
        except KeyError:
            raise _not_found(name, self.root) from None

    def image(self, name: str) -> Image:
        """The image tagged `name`, its manifest and config read from the blobs."""
        return self.read_image(self.resolve(name), name)

    def read_image(self, desc: Descriptor, name: str) -> Image:
        """The image whose manifest `desc` names (tagged or not), called `name`."""
        data = self.read_blob(desc.digest)
        if document_type(data, desc.media_type) in INDEX_TYPES:
            raise LayoutError(
                f"{name} names an image index, not a single-platform manifest", where=self.root
            )
        manifest = parse_manifest(data)
        config = parse_config(self.read_blob(manifest.config.digest))
        if len(config.diff_ids) != len(manifest.layers):
            raise LayoutError(
                f"{name}: the config lists {len(config.diff_ids)} diff ids for "
                f"{len(manifest.layers)} layers",
                where=self.root,
            )
        return Image(name=name, descriptor=desc, manifest=manifest, config=config)

    def _write_index(self, manifests: list[Descriptor]) -> None:
        doc = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [d.to_json() for d in manifests],
        }
        _write_atomic(os.path.join(self.root, "index.json"), jsonio.dumps(doc, indent=1).encode())

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


class BlobWriter:
    """Streams one blob into the layout's `tmp/`, hashing as it goes (see `Layout.blob_writer`).

    Use as a context manager: leaving it without `commit()` (or with an exception) removes the
    temporary file, so nothing unverified is ever kept.
    """

    def __init__(self, layout: Layout, digest: str | None, size: int | None) -> None:
        self.layout = layout
        self.expected = None if digest is None else check_digest(digest)
        self.expected_size = size
        self.size = 0
        # imported here, as below: reading an image (`bastion run`) needs neither (~3 ms)
        import hashlib
        import tempfile

        self._hash = hashlib.sha256()
        fd, self._path = tempfile.mkstemp(dir=layout._tmp, prefix="blob-")
        self._file = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.expected_size is not None and self.size > self.expected_size:
            raise DigestError(
                f"blob {self.expected} is larger than the {self.expected_size} bytes announced",
                where=self.layout.root,
            )
        self._hash.update(data)
        self._file.write(data)

    def restart(self) -> None:
        """Forget what was written (a download that starts over)."""
        self._file.seek(0)
        self._file.truncate()
        import hashlib

        self._hash = hashlib.sha256()
        self.size = 0

    def commit(self) -> str:
        """Verify and publish the blob; returns its digest."""
        self._file.close()
        digest = "sha256:" + self._hash.hexdigest()
        if self.expected is not None and digest != self.expected:
            raise DigestError(
                f"content of blob {self.expected} hashes to {digest}",
                where=self.layout.root,
                hint="the registry or the file served corrupt data; pull again",
            )
        if self.expected_size is not None and self.size != self.expected_size:
            raise DigestError(
                f"blob {digest} has {self.size} bytes, {self.expected_size} were announced",
                where=self.layout.root,
            )
        os.chmod(self._path, 0o644)
        os.rename(self._path, self.layout.blob_path(digest))
        self._path = ""
        return digest

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        if self._path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)
            self._path = ""

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.abort()


def _not_found(name: str, root: str) -> ImageNotFoundError:
    return ImageNotFoundError(f"no image named {name}", where=root, hint="pull it first")


def _write_atomic(path: str, data: bytes) -> None:
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=f".{os.path.basename(path)}-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
