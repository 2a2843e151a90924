"""Pod start and exec latency through Kubernetes' CRI: the `bastion` handler (bastion-runc under
containerd's runc shim) beside the `runc` handler, in one private containerd, same pod specs.

    .venv/bin/python bench/k8s_pod_start.py [--runs N]

The containerd is the tests' CRI rig (tests/helpers/bastion_testing/cri.py: private root, state
and socket, a CNI bridge on a free subnet, our pause image). Each round, in an order rotated
round by round, each handler:
- starts a pod: RunPodSandbox + CreateContainer + StartContainer of one busybox container
  (`sleep 300`), timed from the first call to StartContainer's answer;
- runs `ExecSync true` in it (timed);
- then the pod is stopped and removed (not timed).
Prints medians, p90s and the paired ratios bastion/runc. Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "helpers"))

from bastion_testing import bundle as _bundle  # noqa: E402
from bastion_testing import cri as _cri  # noqa: E402
from bastion_testing.engine import free_subnet  # noqa: E402
from bastion_testing.rootfs import busybox_rootfs  # noqa: E402


def one_pod(rig: _cri.CriRig, handler: str, index: int) -> tuple[float, float]:
    """(pod start seconds, exec seconds) for one pod of `handler`."""
    config = rig.pod_config(f"bench-{handler}-{index}")
    started = time.perf_counter()
    pod = rig.pod(config, handler)
    try:
        cid = rig.container(pod, config, "app", ["sleep", "300"])
        pod_start = time.perf_counter() - started
        started = time.perf_counter()
        code, _, err = rig.exec(cid, "true")
        exec_time = time.perf_counter() - started
        if code != 0:
            raise SystemExit(f"exec in the {handler} pod failed ({code}): {err}")
    finally:
        rig.remove_pod(pod)
    return pod_start, exec_time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()
    why = _cri.missing()
    if why:
        raise SystemExit(f"k8s_pod_start: {why}")
    name = _bundle.new_name("bst-test-bench-")
    workdir = tempfile.mkdtemp(prefix=f"{name}-cri-", dir="/tmp")
    runc = os.path.join(ROOT, ".venv", "bin", "bastion-runc")
    rig = _cri.CriRig(workdir, runc, name, free_subnet(), f"{_bundle.CGROUP_PARENT}/{name}")
    starts: dict[str, list[float]] = {h: [] for h in _cri.HANDLERS}
    execs: dict[str, list[float]] = {h: [] for h in _cri.HANDLERS}
    try:
        rig.start(busybox_rootfs())
        for round_ in range(args.warmup + args.runs):
            shift = round_ % len(_cri.HANDLERS)  # the order rotated round by round
            for handler in _cri.HANDLERS[shift:] + _cri.HANDLERS[:shift]:
                pod_start, exec_time = one_pod(rig, handler, round_)
                if round_ >= args.warmup:
                    starts[handler].append(pod_start)
                    execs[handler].append(exec_time)
    finally:
        problems = rig.close()
        if problems:
            print("clean-up left:\n" + "\n".join(problems), file=sys.stderr)
    print(f"load average: {os.getloadavg()[0]:.2f}, {args.runs} rounds")
    for label, table in (("pod start (RunPodSandbox+create+start)", starts), ("exec", execs)):
        print(f"\n{label}")
        for handler in _cri.HANDLERS:
            values = sorted(table[handler])
            p90 = values[int(0.9 * (len(values) - 1))]
            print(
                f"  {handler:8} median {statistics.median(values) * 1e3:7.1f} ms"
                f"  p90 {p90 * 1e3:7.1f} ms"
            )
        ratios = [b / r for b, r in zip(table["bastion"], table["runc"], strict=True)]
        print(f"  bastion/runc paired ratio: median {statistics.median(ratios):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
