"""A container's root filesystem: an overlay whose lower layers are the image's unpacked layers
(shared, read-only) and whose upper and work directories are the container's own.

The overlay is built with the new mount API (`bastion._sys.fsmount`): one `lowerdir+` per layer
instead of one `lowerdir=a:b:c` string, which mount(2) limits to a page (4096 bytes: about 40
layer paths of this store), so images with hundreds of layers mount; overlayfs itself stacks at
most 500 lower layers. `lowerdir+` needs Linux 6.8.

`ContainerFilesystem(dir)` keeps `<dir>/upper`, `<dir>/work` and `<dir>/merged`; the engine
points the runtime's `root.path` at `merged`.

A `volatile` overlay (for a container whose changes are thrown away: `run --rm`, as Podman does)
omits every sync of the upper filesystem, the one at unmount included: unmounting a plain
overlay syncs the whole filesystem the upper directory is on (`ovl_sync_fs`), which waits for
every other writer's dirty data and a disk flush. The kernel marks such a work directory
(`work/work/incompat/volatile`) and refuses to mount it again, since after a crash the upper
directory may be incomplete; `ContainerFilesystem.unmount` removes the mark after a clean
unmount (no crash happened: the kernel documents this as the case where it may go).
"""

from __future__ import annotations

import contextlib
import errno
import os

from bastion._sys import fsmount
from bastion._sys.mount import MNT_DETACH, umount2
from bastion._sys.tree import remove_tree
from bastion.images.errors import OverlayError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

#: overlayfs's OVL_MAX_STACK: the most lower layers one overlay can stack.
MAX_LOWER_LAYERS = 500
#: The directory under the work directory by which overlayfs marks a volatile mount, and the
#: file in it (Documentation/filesystems/overlayfs.rst, "Volatile mount").
VOLATILE_MARK = ("work", "incompat", "volatile")
VOLATILE_DIRTY = "dirty"


def mount_overlay(
    lowerdirs: Sequence[str],
    target: str,
    *,
    upper: str | None = None,
    work: str | None = None,
    readonly: bool = False,
    volatile: bool = False,
) -> None:
    """Mount an overlay at `target`: `lowerdirs` top layer first (overlayfs's order, as
    `LayerStore.lowerdirs` returns them), and `upper`/`work` for a writable one (both or
    neither; without them the overlay is read-only). `volatile`: no sync of the upper
    directory, ever (see the module's docstring)."""
    if not lowerdirs:
        raise OverlayError("an overlay needs at least one lower layer", where=target)
    if len(lowerdirs) > MAX_LOWER_LAYERS:
        raise OverlayError(
            f"{len(lowerdirs)} layers: overlayfs stacks at most {MAX_LOWER_LAYERS}",
            where=target,
            hint="squash the image",
        )
    if (upper is None) != (work is None):
        raise OverlayError("upper and work directories go together", where=target)
    context = _open_context(target)
    try:
        step = "lowerdir+"
        try:
            for lower in lowerdirs:
                fsmount.fsconfig_string(context, "lowerdir+", lower)
            if upper is not None and work is not None:
                step = "upperdir"
                fsmount.fsconfig_string(context, "upperdir", upper)
                step = "workdir"
                fsmount.fsconfig_string(context, "workdir", work)
                if volatile:
                    step = "volatile"
                    fsmount.fsconfig_flag(context, "volatile")
            step = "create"
            fsmount.fsconfig_create(context)
            step = "fsmount"
            attrs = fsmount.MOUNT_ATTR_RDONLY if readonly or upper is None else 0
            mount_fd = fsmount.fsmount(context, attrs)
        except OSError as err:
            detail = "; ".join(fsmount.read_messages(context)) or err.strerror
            hint = None
            if work is not None and os.path.isdir(os.path.join(work, *VOLATILE_MARK)):
                # what a volatile overlay leaves when the host stopped while it was mounted
                hint = "the host stopped while its container ran: remove the container"
            raise OverlayError(f"overlay {step} failed: {detail}", where=target, hint=hint) from err
        try:
            fsmount.move_mount(mount_fd, target)
        except OSError as err:
            raise OverlayError(
                f"attaching the overlay failed: {err.strerror}", where=target
            ) from err
        finally:
            os.close(mount_fd)
    finally:
        os.close(context)


def _open_context(target: str) -> int:
    try:
        return fsmount.fsopen("overlay")
    except OSError as err:
        raise OverlayError(
            f"cannot open an overlay context: {err.strerror}",
            where=target,
            hint="overlays need root (CAP_SYS_ADMIN) and the overlay module",
        ) from err


def unmount_overlay(target: str, *, lazy: bool = False) -> None:
    """Unmount the overlay at `target`; `lazy` detaches it even while something still uses it."""
    try:
        umount2(target, MNT_DETACH if lazy else 0)
    except OSError as err:
        raise OverlayError(f"unmounting the overlay failed: {err.strerror}", where=target) from err


class ContainerFilesystem:
    """The writable root of one container under `directory`: `upper/`, `work/`, `merged/`."""

    def __init__(self, directory: str) -> None:
        self.directory = os.path.abspath(directory)
        self.upper = os.path.join(self.directory, "upper")
        self.work = os.path.join(self.directory, "work")
        self.merged = os.path.join(self.directory, "merged")

    def mount(
        self, lowerdirs: Sequence[str], *, readonly: bool = False, volatile: bool = False
    ) -> str:
        """Make the directories (if needed) and mount the overlay; returns `merged`. A second
        mount over a mounted one is refused (it would hide the first). `volatile`: for changes
        that are thrown away (see the module's docstring)."""
        os.makedirs(os.path.dirname(self.directory), exist_ok=True)
        if os.path.isdir(self.merged) and self.is_mounted():
            raise OverlayError("the container's overlay is already mounted", where=self.merged)
        for path in (self.directory, self.upper, self.work, self.merged):
            with contextlib.suppress(FileExistsError):
                os.mkdir(path, 0o700 if path == self.directory else 0o755)
        mount_overlay(
            lowerdirs,
            self.merged,
            upper=self.upper,
            work=self.work,
            readonly=readonly,
            volatile=volatile,
        )
        return self.merged

    def is_mounted(self) -> bool:
        return os.path.ismount(self.merged)

    def unmount(self, *, lazy: bool = False) -> None:
        """Unmount `merged` if it is mounted (safe to call again). After a clean unmount a
        volatile overlay's mark goes, so that the next `mount` (a `start` again) is accepted;
        a lazy one may still be in use, and keeps it."""
        if self.is_mounted():
            unmount_overlay(self.merged, lazy=lazy)
            if not lazy:
                self._forget_volatile()

    def _forget_volatile(self) -> None:
        mark = os.path.join(self.work, *VOLATILE_MARK)
        try:
            os.unlink(os.path.join(mark, VOLATILE_DIRTY))
        except FileNotFoundError:
            return  # not a volatile overlay (or its mark went already)
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(mark)

    def remove(self) -> None:
        """Unmount if needed and delete every directory (the container's changes are lost)."""
        self.unmount()
        try:
            remove_tree(self.directory)
        except OSError as err:
            if err.errno == errno.EBUSY:
                raise OverlayError("the overlay is still in use", where=self.merged) from err
            raise
