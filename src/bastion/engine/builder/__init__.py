"""`bastion build`: the classic Dockerfile builder (docs/engine.md, "Building images").

`dockerfile` reads the file, `context` the build context and its `.dockerignore`, `steps`
runs the steps (`rootfs_copy` for COPY/ADD, `run_step` for RUN) and `images.commit` makes
their layers.
"""

from __future__ import annotations

from bastion.engine.builder.state import BuildOptions, BuildResult
from bastion.engine.builder.steps import Builder

__all__ = ["BuildOptions", "BuildResult", "Builder"]
