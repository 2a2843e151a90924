"""What the v1 and v2 drivers share: controllers that read and write the same files on both
(cpuset values, pids, rdma), the halves of others (huge page limits, the memory usage check,
how the spec's block I/O settings read),
and the cgroup2 core (freezer, killer, subtree_control, `unified` keys) that the v2 driver uses
and the v1 driver uses too on the unified hierarchy of a hybrid host. It imports neither
driver, and the drivers do not import each other (an import-linter contract)."""
