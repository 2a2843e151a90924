"""bastion_testing: the test tooling shared by bastion's test suites.

- `rootfs`: the cached busybox root filesystem (the test image), built once from Debian's
  busybox-static package, with the static helper program at `/usr/bin/bst-helper`.
- `helper`: that helper program: its source, how it is compiled, and a parser for its output.
- `bundle`: OCI bundles made from the test image (`make_bundle`, `edit`).
- `leaks`: what tests may leave on the host (mounts, cgroups, processes, netns, links) and how
  to tell what a test session left behind.
- `runc`: driving `bastion-runc` from tests, and one container's leftovers.
- `schemas`: the official runtime-spec JSON schemas as a test oracle.
- `clients`: Podman and containerd set up in private temporary roots, driving bastion-runc.
- `plugin`: the pytest plugin (fixtures, the `privileged` skip, the session leak check),
  loaded by tests/conftest.py.

This package is test code: it may import anything, and nothing in `src/` may import it.
"""
