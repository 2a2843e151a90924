"""The isolation audit: a scorecard of how well a live container is isolated, read from the
kernel's view of its process rather than from its configuration.

`audit(pid)` reads the facts (`facts.py`: namespaces against the host's, user namespace mapping,
capability sets, seccomp mode and what its filters allow, no_new_privs, LSM label, mounts of
the root, kernel paths and host paths, device nodes, cgroup limits) and judges them (`checks.py`),
each finding with a severity and a fix. The engine's `bastion audit CONTAINER` and the runtime's
tests use it alike; it knows nothing of who started the process.

A sibling of `runtime`, `images`, `network` and `sensor` in the layers: it imports only `oci`,
`_sys` and itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bastion.audit.checks import SEVERITIES, Finding, check_all, rank
from bastion.audit.facts import ProcessFacts, read_facts

__all__ = ["SEVERITIES", "Finding", "ProcessFacts", "Report", "audit", "rank", "read_facts"]


@dataclass(frozen=True)
class Report:
    target: str  # what was audited: a container's name, or "pid N"
    pid: int
    findings: tuple[Finding, ...]

    @property
    def worst(self) -> str:
        return self.findings[0].severity if self.findings else "info"

    def at_least(self, severity: str) -> list[Finding]:
        return [f for f in self.findings if rank(f.severity) >= rank(severity)]

    def counts(self) -> dict[str, int]:
        return {s: sum(f.severity == s for f in self.findings) for s in SEVERITIES}

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "pid": self.pid,
            "worst": self.worst,
            "counts": self.counts(),
            "findings": [asdict(f) for f in self.findings],
        }


def audit(pid: int, *, target: str | None = None, seccomp: bool = True) -> Report:
    """The scorecard of process `pid` (a container's init), judged against the namespaces of
    the process that calls it (the host's, when the caller runs on the host)."""
    facts = read_facts(pid, seccomp=seccomp)
    return Report(target=target or f"pid {pid}", pid=pid, findings=tuple(check_all(facts)))
