"""OCI capability names -> bit masks, and applying the five sets to the calling process.

Order matters (runc's finalizeNamespace and crun's libcrun_set_caps): the bounding set is cut
while we still hold CAP_SETPCAP; the user is switched with PR_SET_KEEPCAPS so the permitted set
survives setuid; then effective/permitted/inheritable are set, then the ambient set is raised.
"""

from __future__ import annotations

from bastion._sys import caps as _caps
from bastion.oci.vocabulary import CAPABILITIES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from bastion.oci.spec import LinuxCapabilities


def mask(names: Iterable[str]) -> int:
    """Bit mask of capability names (validated earlier by oci.validate)."""
    bits = 0
    for name in names:
        bits |= 1 << CAPABILITIES[name]
    return bits


def drop_bounding(caps: LinuxCapabilities) -> None:
    keep = mask(caps.bounding)
    for cap in range(_caps.last_cap() + 1):
        if not keep & (1 << cap) and _caps.bounding_has(cap):
            _caps.bounding_drop(cap)


def apply_sets(caps: LinuxCapabilities) -> None:
    """Set effective, permitted, inheritable, then the ambient set (after the user switch)."""
    last = (1 << (_caps.last_cap() + 1)) - 1
    # Capabilities this kernel does not know (a newer spec) are ignored, as runc does.
    _caps.capset(
        mask(caps.effective) & last, mask(caps.permitted) & last, mask(caps.inheritable) & last
    )
    _caps.ambient_clear()
    # capabilities(7): an ambient capability must be permitted and inheritable; runc 1.2 skips
    # the others (runc spec's default lists ambient caps without inheritable ones), so do we.
    allowed = mask(caps.permitted) & mask(caps.inheritable)
    for name in caps.ambient:
        cap = CAPABILITIES[name]
        if cap <= _caps.last_cap() and allowed & (1 << cap):
            _caps.ambient_raise(cap)
