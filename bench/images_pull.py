"""`bastion.images.pull` beside `skopeo copy docker://... oci:...` from a loopback registry.

Starts Debian's docker-registry on 127.0.0.1 (private storage, removed at the end), pushes two
images into it with skopeo: the busybox test image (one layer, ~1 MB compressed) and a 5-layer
image of incompressible data (`--big-mb`, 100 MB by default, gzip level 1). Then, round by round
and alternating which goes first, each tool copies each image into a fresh, empty OCI layout, as a
separate process (so interpreter start-up counts for bastion as the binary's does for skopeo).
Also times `pull()` inside this process (imports done: what the engine pays once started), a
pull that also unpacks the layers (`layers=LayerStore`), and `podman pull` into a private
storage (which unpacks too; `--no-podman` leaves it out). Reports medians and ratios to skopeo.
As root (the unpack makes whiteouts and owners), from the repository:
`.venv/bin/python bench/images_pull.py --runs 5`.
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


PULL_UNPACK = (
    "import sys; from bastion.images import LayerStore, Layout, pull; "
    "pull(sys.argv[1], Layout(sys.argv[2] + '/layout'), layers=LayerStore(sys.argv[2] + '/layers'))"
)
#: (what is timed, how it is cleaned up): a command, or a (reference, dir) pair for in-process
Step = tuple[list[str] | tuple[str, str], list[str] | None]


def timed(cmd: list[str] | tuple[str, str]) -> float:
    start = time.perf_counter()
    if isinstance(cmd, tuple):  # in this process: what the engine pays once started
        pull(cmd[0], Layout(cmd[1]))
    else:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip()}")
    return time.perf_counter() - start


def step(tool: str, ref: str, name: str, dest: str, python: str, policy: str) -> Step:
    """What `tool` runs to copy `ref` into `dest`, and what cleans up after it."""
    if tool == "bastion":
        return [python, "-c", PULL, ref, dest], None
    if tool == "bastion+unpack":
        return [python, "-c", PULL_UNPACK, ref, dest], None
    if tool == "in-process":
        return (ref, dest), None
    if tool == "skopeo":
        return [
            *(SKOPEO, "--policy", policy, "copy", "--quiet"),
            *("--src-tls-verify=false", f"docker://{ref}", f"oci:{dest}:{name}"),
        ], None
    # podman refuses a runroot longer than 50 characters: it goes in a short dir of /tmp
    runroot = os.path.join("/tmp", f"bst-pr-{os.path.basename(dest)[-12:]}")
    podman = [
        *("podman", "--root", f"{dest}/root", "--runroot", runroot),
        *("--storage-driver", "overlay"),
    ]
    return [*podman, "pull", "-q", "--tls-verify=false", f"docker://{ref}"], [
        *("sh", "-c", '"$@"; rm -rf "$0"', runroot, *podman, "system", "reset", "-f"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--big-mb", type=int, default=100)
    parser.add_argument("--no-podman", action="store_true", help="leave podman pull out")
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

                tools = ["bastion", "bastion+unpack", "in-process", "skopeo"]
                if shutil.which("podman") and not args.no_podman:
                    tools.append("podman pull")
                order = list(tools) if run % 2 == 0 else list(reversed(tools))
                for tool in order:
                    dest = os.path.join(work, f"dest-{run}-{tool.replace(' ', '-')}")
                    command, cleanup = step(tool, ref, name, dest, python, policy)
                    results.setdefault((name, tool), []).append(timed(command))
                    if cleanup is not None:
                        subprocess.run(cleanup, capture_output=True, check=False)
                    shutil.rmtree(dest, ignore_errors=True)
        tools_seen = [t for (n, t) in results if n == "busybox"]
        print(f"medians of {args.runs} runs, seconds (ratio to skopeo copy)")
        print(f"{'':16}" + "".join(f"{name:>18}" for name in ("busybox", "big")))
        for tool in tools_seen:
            row = f"{tool:16}"
            for name in ("busybox", "big"):
                ours = statistics.median(results[(name, tool)])
                theirs = statistics.median(results[(name, "skopeo")])
                row += f"{ours:11.3f} ({ours / theirs:4.2f})"
            print(row)
    finally:
        if registry is not None:
            registry.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
