"""The cgroup v2 manager (unified hosts) and one module per v2 controller or core feature."""
