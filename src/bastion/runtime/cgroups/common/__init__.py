"""What the v1 and v2 drivers share: controllers that read and write the same files on both
(pids, rdma), the shared half of others (huge page limits), and the cgroup2 core (freezer, killer, subtree_control, `unified` keys) that the v2 driver uses
and the v1 driver uses too on the unified hierarchy of a hybrid host. It imports neither
driver, and the drivers do not import each other (an import-linter contract)."""
