"""A mount's `options`, split the way runc splits them: flags, propagation, filesystem data.

Apart from rootfs.py so that the parent can read them for the compiled init's plan (plan.py)
without importing the Python init's modules.
"""

from __future__ import annotations

from bastion._sys.mount import MS_REC, MS_SHARED, MS_SLAVE, MS_UNBINDABLE
from bastion.oci.vocabulary import MOUNT_OPTIONS, PROPAGATION_OPTIONS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import Spec


def parse_options(options: tuple[str, ...]) -> tuple[int, int, str]:
    """(mount flags, propagation flags, data) from a mount's options, as runc parses them."""
    flags = 0
    propagation = 0
    data: list[str] = []
    for option in options:
        if option in MOUNT_OPTIONS:
            set_bits, clear_bits = MOUNT_OPTIONS[option]
            flags = (flags | set_bits) & ~clear_bits
        elif option in PROPAGATION_OPTIONS:
            propagation |= PROPAGATION_OPTIONS[option]
        else:
            data.append(option)
    return flags, propagation, ",".join(data)


def root_propagation(spec: Spec) -> tuple[int, bool]:
    """(the propagation flags of the container's /, whether they are set only once the rootfs is
    the root): runc's default rslave. Shared and unbindable roots are set up from a slave copy
    and get their propagation late: an unbindable / could not even be bind-mounted onto itself."""
    linux = spec.linux
    propagation = PROPAGATION_OPTIONS.get(
        (linux.rootfs_propagation if linux else None) or "rslave", MS_SLAVE | MS_REC
    )
    return propagation, bool(propagation & (MS_SHARED | MS_UNBINDABLE))
