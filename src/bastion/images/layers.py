"""The layer store: each layer unpacked once, in a directory of its own, shared by every image
and container that uses it.

A layer lives at `<root>/sha256/<diff-id hex>/`, keyed by its diff id (the digest of the
uncompressed tar) rather than its chain id: an overlay layer is self-contained (a whiteout is a
marker the overlay reads, not a change applied to the layer below), so the same diff under two
different parents is the same directory. `chain_ids()` in `documents.py` gives the chain ids
for the engine's records.

A layer is unpacked into `<root>/tmp/<random>/`, its diff id checked against the image config,
and only then renamed into place: a directory under `sha256/` is always a complete, verified
layer. Two processes unpacking the same layer race harmlessly: the first rename wins and the
loser removes its copy.
"""

from __future__ import annotations

import errno
import fcntl
import os

from bastion._sys.tree import remove_tree
from bastion.images.documents import check_digest
from bastion.images.errors import LayerDigestError, LayoutError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.images.documents import Descriptor
    from bastion.images.layout import Image, Layout


class LayerStore:
    """Unpacked layers under `root` (made if missing)."""

    def __init__(self, root: str, *, keep_setid: bool = False) -> None:
        self.root = os.path.abspath(root)
        self.keep_setid = keep_setid
        self._layers = os.path.join(self.root, "sha256")
        self._tmp = os.path.join(self.root, "tmp")
        os.makedirs(self._layers, exist_ok=True)
        os.makedirs(self._tmp, exist_ok=True)

    def path(self, diff_id: str) -> str:
        """The directory of layer `diff_id` (an overlay lowerdir); it may not exist yet."""
        return os.path.join(self._layers, check_digest(diff_id).removeprefix("sha256:"))

    def has(self, diff_id: str) -> bool:
        return os.path.isdir(self.path(diff_id))

    def diff_ids(self) -> list[str]:
        return sorted("sha256:" + name for name in os.listdir(self._layers))

    def ensure(self, layout: Layout, blob: Descriptor, diff_id: str) -> str:
        """The directory of the layer whose compressed blob is `blob` in `layout`, unpacking it
        first if no image has brought it yet. Raises `LayerDigestError` if the blob does not
        unpack to `diff_id`, and the unpack's own errors for a hostile or corrupt layer."""
        final = self.path(diff_id)
        if os.path.isdir(final):
            return final
        # imported here: `bastion run` of an unpacked image needs neither (tarfile, ctypes: ~5 ms)
        import tempfile

        from bastion.images.unpack import unpack_layer

        work = tempfile.mkdtemp(dir=self._tmp, prefix="layer-")
        # held while unpacking, so `prune` tells a live unpack from a killed one's leftovers
        busy = os.open(work, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(busy, fcntl.LOCK_EX)
        try:
            os.chmod(work, 0o755)
            with layout.open_blob(blob.digest) as source:
                result = unpack_layer(source, work, keep_setid=self.keep_setid)
            if result.diff_id != diff_id:
                raise LayerDigestError(
                    f"layer {blob.digest} unpacks to {result.diff_id}, the config says {diff_id}",
                    where=layout.root,
                    hint="the image is corrupt: remove it and pull it again",
                )
            try:
                os.rename(work, final)
            except OSError as err:
                if err.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                remove_tree(work)  # another process unpacked it first
        except BaseException:
            remove_tree(work, ignore_errors=True)
            raise
        finally:
            os.close(busy)
        return final

    def ensure_image(self, layout: Layout, image: Image) -> list[str]:
        """Every layer of `image` unpacked; their directories, bottom layer first."""
        diff_ids = image.config.diff_ids
        if len(diff_ids) != len(image.layers):
            raise LayoutError(
                f"{image.name}: layers and diff ids differ in number", where=layout.root
            )
        return [
            self.ensure(layout, blob, d) for blob, d in zip(image.layers, diff_ids, strict=True)
        ]

    def lowerdirs(self, image: Image) -> list[str]:
        """The overlay lower directories of `image`, top layer first (overlayfs's order);
        every layer must be in the store (`ensure_image`)."""
        paths = [self.path(d) for d in reversed(image.config.diff_ids)]
        missing = [p for p in paths if not os.path.isdir(p)]
        if missing:
            raise LayoutError(
                f"{image.name}: {len(missing)} layers are not unpacked", where=self.root
            )
        return paths

    def prune(self, in_use: set[str]) -> list[str]:
        """Remove every layer whose diff id is not in `in_use` (the engine passes the diff ids
        of its images), and what killed unpacks left in `tmp/` (an unpack in progress holds a
        lock on its directory); returns the diff ids removed. The caller keeps new images from
        appearing meanwhile (the engine's lock)."""
        removed = [d for d in self.diff_ids() if d not in in_use]
        for diff_id in removed:
            self.remove(diff_id)
        for name in os.listdir(self._tmp):
            path = os.path.join(self._tmp, name)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # an unpack in progress
            finally:
                os.close(fd)
            remove_tree(path, ignore_errors=True)
        return removed

    def remove(self, diff_id: str) -> None:
        """Remove one layer (the engine checks no image or container still uses it)."""
        path = self.path(diff_id)
        import tempfile

        doomed = tempfile.mkdtemp(dir=self._tmp, prefix="remove-")
        try:
            os.rename(path, os.path.join(doomed, "layer"))  # gone from sha256/ at once
        except FileNotFoundError:
            pass
        finally:
            remove_tree(doomed)
