"""OCI bundles for tests: `config.json` plus a private copy of the test image.

`make_bundle(tmp_dir, args=[...])` starts from `bastion.oci.defaults.default_spec()` (the document
`runc spec` writes) and sets what tests need: no terminal, the given process args, a read-only
root at `rootfs`, a unique hostname and a cgroup under `/bastion-test/`. Further changes are
keyword arguments naming a JSON path, either dotted (`**{"process.cwd": "/tmp"}`) or with `__`
(`linux__resources__pids={"limit": 8}`); see `edit`.

The rootfs is a real directory (`cp -a --reflink=auto` of the cached image, ~3 MB), never a
symlink or a bind mount: a runtime must see an ordinary directory, and a test may change its copy.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import subprocess
from typing import TYPE_CHECKING, Any

from bastion_testing import rootfs as _rootfs

if TYPE_CHECKING:
    from collections.abc import Sequence

#: Prefix of every name a test makes on the host (containers, cgroups, hostnames, netns, links).
NAME_PREFIX = "bst-test-"
#: This test process's token, in every name `new_name` makes: `bst-test-<SESSION>-<random>`.
#: It lets the leak check tell this session's leftovers from those of a test session running at
#: the same time on the same host (developers share machines); see `leaks.new_since`.
SESSION = secrets.token_hex(2)
#: Parent of the test containers' cgroups (an absolute cgroupsPath, so never under our own cgroup).
CGROUP_PARENT = "/bastion-test"


class _Delete:
    def __repr__(self) -> str:
        return "DELETE"


#: Pass as a value to `edit` (or `make_bundle`) to remove a key.
DELETE: Any = _Delete()


def new_name(prefix: str = NAME_PREFIX) -> str:
    """A fresh name like `bst-test-1a2b-3c4d5e6f` (prefix, session, random) for a container,
    cgroup, hostname or directory."""
    return f"{prefix}{SESSION}-{secrets.token_hex(4)}"


def make_bundle(
    tmp_dir: str | os.PathLike[str],
    *,
    args: Sequence[str],
    rootfs: str | None = None,
    readonly: bool = True,
    spec: dict[str, Any] | None = None,
    **edits: Any,
) -> str:
    """Write a bundle in a new directory under `tmp_dir` and return its path.

    `rootfs` is a directory to copy as the bundle's rootfs (default: the busybox test image);
    `spec` a config to start from (default: `default_spec()`); `edits` map JSON paths to values.
    """
    name = new_name()
    bundle = os.path.join(os.fspath(tmp_dir), f"bundle-{name}")
    os.mkdir(bundle)
    source = rootfs if rootfs is not None else _rootfs.busybox_rootfs()
    # `cp -a` keeps modes, owners, symlinks and the image's setuid-free state; reflink when the
    # filesystem can, a plain copy otherwise.
    subprocess.run(
        ["cp", "-a", "--reflink=auto", "--no-target-directory", source, f"{bundle}/rootfs"],
        check=True,
        capture_output=True,
    )
    if spec is None:
        from bastion.oci.defaults import default_spec

        spec = default_spec()
    config = copy.deepcopy(spec)
    edit(config, "process.terminal", False)
    edit(config, "process.args", list(args))
    edit(config, "root", {"path": "rootfs", "readonly": readonly})
    edit(config, "hostname", name)
    edit(config, "linux.cgroupsPath", f"{CGROUP_PARENT}/{name}")
    for key, value in edits.items():
        edit(config, key.replace("__", "."), value)
    write_config(bundle, config)
    return bundle


def read_config(bundle: str) -> dict[str, Any]:
    with open(os.path.join(bundle, "config.json")) as f:
        config: dict[str, Any] = json.load(f)
    return config


def write_config(bundle: str, config: dict[str, Any]) -> None:
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")


def edit(config: dict[str, Any], path: str, value: Any) -> None:
    """Set `config[a][b]...` for the dotted `path` "a.b...", making missing objects on the way.

    A segment that is a number indexes a list (`"process.args.0"`, `"mounts.-1.options"`); the
    value `DELETE` removes the key (or list item) instead, quietly if it is absent.
    """
    *parents, last = path.split(".")
    node: Any = config
    for i, key in enumerate(parents):
        if isinstance(node, list):
            node = node[int(key)]
        else:
            if key not in node:
                if value is DELETE:
                    return
                node[key] = {}
            node = node[key]
        if not isinstance(node, (dict, list)):
            raise TypeError(
                f"{'.'.join(parents[: i + 1])} is a {type(node).__name__}, not an object"
            )
    if isinstance(node, list):
        index = int(last)
        if value is DELETE:
            del node[index]
        else:
            node[index] = value
    elif value is DELETE:
        node.pop(last, None)
    else:
        node[last] = value
