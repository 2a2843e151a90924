"""`bastion.images.pull` beside `skopeo copy docker://... oci:...` from a loopback registry.

Starts Debian's docker-registry on 127.0.0.1 (private storage, removed at the end), pushes two
images into it with skopeo: the busybox test image (one layer, ~1 MB compressed) and a 5-layer
image of incompressible data (`--big-mb`, 100 MB by default, gzip level 1). Then, round by round
and alternating which goes first, each tool copies each image into a fresh, empty OCI layout, as a
separate process (so interpreter start-up counts for bastion as the binary's does for skopeo).
Also times `pull()` inside this process (imports done: what the engine pays once started).
Reports the median wall time of each and the ratio to skopeo. Needs root only for nothing;
run from the repository: `.venv/bin/python bench/images_pull.py --runs 5`.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "helpers"))
sys.path.insert(0, os.path.join(REPO, "src"))

from bastion.images import Layout, pull  # noqa: E402
from bastion_testing import layers as test_layers  # noqa: E402
from bastion_testing.registry import SKOPEO, skopeo_copy, start_registry  # noqa: E402
from bastion_testing.rootfs import busybox_rootfs  # noqa: E402

PULL = "import sys; from bastion.images import Layout, pull; pull(sys.argv[1], Layout(sys.argv[2]))"


def big_layers(total_mb: int, count: int = 5) -> list[bytes]:
    """`count` layer tars of random (incompressible) files, `total_mb` in all."""
    out = []
    for n in range(count):
        size = total_mb * (1 << 20) // count
        out.append(test_layers.make_tar([test_layers.file(f"data/layer{n}.bin", os.urandom(size))]))
    return out


def timed(cmd: list[str] | tuple[str, str]) -> float:
    start = time.perf_counter()
    if isinstance(cmd, tuple):  # in this process: what the engine pays once started
        pull(cmd[0], Layout(cmd[1]))
    else:
        subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--big-mb", type=int, default=100)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="bastion-bench-pull-")
    registry = None
    try:
        source = os.path.join(work, "source")
        test_layers.write_oci_image(
            source, "busybox", [test_layers.tar_directory(busybox_rootfs())]
        )
        saved = test_layers.compress
        test_layers.compress = lambda data, how: gzip.compress(data, compresslevel=1, mtime=0)
        try:
            test_layers.write_oci_image(source, "big", big_layers(args.big_mb))
        finally:
            test_layers.compress = saved
        registry = start_registry(os.path.join(work, "registry"))
        for name in ("busybox", "big"):
            skopeo_copy(
                f"oci:{source}:{name}",
                f"docker://{registry.host}/{name}:latest",
                "--dest-tls-verify=false",
                workdir=work,
            )
        policy = os.path.join(work, "policy.json")
        python = os.path.join(REPO, ".venv", "bin", "python")
        results: dict[tuple[str, str], list[float]] = {}
        for run in range(args.runs):
            for name in ("busybox", "big"):
                ref = f"{registry.host}/{name}:latest"
                tools: dict[str, Callable[[str], list[str] | tuple[str, str]]] = {
                    "bastion": lambda d, ref=ref: [python, "-c", PULL, ref, d],
                    "in-process": lambda d, ref=ref: (ref, d),
                    "skopeo": lambda d, ref=ref, name=name: [
                        *(SKOPEO, "--policy", policy, "copy", "--quiet"),
                        *("--src-tls-verify=false", f"docker://{ref}", f"oci:{d}:{name}"),
                    ],
                }
                order = list(tools) if run % 2 == 0 else list(reversed(tools))
                for tool in order:
                    dest = os.path.join(work, f"dest-{tool}")
                    shutil.rmtree(dest, ignore_errors=True)
                    results.setdefault((name, tool), []).append(timed(tools[tool](dest)))
                    shutil.rmtree(dest, ignore_errors=True)
        print(
            f"{'image':10} {'bastion s':>10} {'skopeo s':>10} {'ratio':>6} "
            f"{'in-process s':>13} {'ratio':>6}  (medians of {args.runs} runs)"
        )
        for name in ("busybox", "big"):
            ours = statistics.median(results[(name, "bastion")])
            inproc = statistics.median(results[(name, "in-process")])
            theirs = statistics.median(results[(name, "skopeo")])
            print(
                f"{name:10} {ours:10.3f} {theirs:10.3f} {ours / theirs:6.2f} "
                f"{inproc:13.3f} {inproc / theirs:6.2f}"
            )
    finally:
        if registry is not None:
            registry.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
