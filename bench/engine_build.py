"""`bastion build` side by side with `podman build` (buildah, runc) of the same Dockerfile.

    .venv/bin/python bench/engine_build.py [--runs N]

Both engines (bench/engine_run.py's `engines`: private roots, the busybox test image pulled
from a loopback registry) build a three-step Dockerfile over that image (COPY a file, RUN a
shell command that writes a file, ENV) in rounds whose order is rotated (bench/timing.py):
- `--no-cache`: every step runs (a RUN container, two layers made);
- cached: the same build again, every step a cache hit.
Both RUN steps with `--network none`. The CPU column is every process of the build (the CLI,
the runtime, the RUN container: the bench is a child subreaper). Prints medians, p90s and the
paired ratios bastion/podman. Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "helpers")
)

from bench.engine_run import TreeLocal, engines, ratios
from bench.timing import Row, Spawner, Step, report, run_rounds

DOCKERFILE = """FROM {image}
COPY payload /payload
RUN sha256sum /payload > /payload.sum && echo built > /built
ENV BUILT=1
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()
    with engines() as (bastion, podman, image), tempfile.TemporaryDirectory() as tmp:
        context = os.path.join(tmp, "context")
        os.mkdir(context)
        with open(os.path.join(context, "Dockerfile"), "w") as f:
            f.write(DOCKERFILE.format(image=image))
        with open(os.path.join(context, "payload"), "wb") as payload:
            payload.write(os.urandom(1 << 20))
        spawner = Spawner(os.path.join(tmp, "stderr"), 120)
        local = TreeLocal(spawner)

        def row(name: str, argv: list[str], shown: str) -> Row:
            return Row(name, shown, lambda: local.measure([Step(argv)]))

        try:
            for label, flags in (("--no-cache", ["--no-cache"]), ("cached", [])):
                common = [*flags, "--network", "none", "-q"]
                rows = [
                    row(
                        f"bastion build {label}",
                        [*bastion, "build", *common, "-t", "b:1", context],
                        f"bastion build {label} --network none -t b:1 DIR",
                    ),
                    row(
                        f"podman build {label}",
                        [*podman, "build", *common, "--pull=never", "-t", "p:1", context],
                        f"podman build {label} --network none --pull=never -t p:1 DIR",
                    ),
                ]
                run_rounds(label, rows, args.runs, args.warmup)
                report(label, f"build {label} (CPU: every process of the build)", rows)
                ratios(rows)
        finally:
            spawner.close()


if __name__ == "__main__":
    main()
