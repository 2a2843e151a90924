"""Confinement a config asks for that this host cannot give: refused before any side effect.

Running a container less confined than its config says is worse than not running it (runc
refuses an AppArmor profile on a host without AppArmor too).
"""

from __future__ import annotations

import os

from bastion.oci.decode import SpecError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import Spec

_APPARMOR = "/sys/kernel/security/apparmor"


def check_host_support(spec: Spec) -> None:
    """Refuse what this host cannot enforce, rather than run the container less confined than
    asked (runc: "apparmor profile specified but AppArmor is not enabled")."""
    process = spec.process
    if process is not None and process.apparmor_profile and not os.path.isdir(_APPARMOR):
        raise SpecError(
            f"an AppArmor profile ({process.apparmor_profile!r}) is asked for, but AppArmor is "
            "not enabled on this host",
            where="process.apparmorProfile",
            hint="remove it, or run on a host with AppArmor",
            reference="apparmor-unavailable",
        )
    if process is not None and process.selinux_label:
        raise SpecError(
            "an SELinux label is asked for, but bastion does not support SELinux",
            where="process.selinuxLabel",
            hint="remove it",
            reference="selinux-unsupported",
        )
