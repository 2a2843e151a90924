"""A mount's `options`, split the way runc splits them: flags, propagation, filesystem data.

Apart from rootfs.py so that the parent can read them for the compiled init's plan (plan.py)
without importing the Python init's modules.
"""

from __future__ import annotations

from bastion.oci.vocabulary import MOUNT_OPTIONS, PROPAGATION_OPTIONS


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
