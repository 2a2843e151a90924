"""The cgroup v1 manager (legacy and hybrid hosts) and one module per v1 controller."""
