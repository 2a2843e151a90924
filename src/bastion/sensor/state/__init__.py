"""State tables: threads, file descriptors, containers, users, built from /proc and events."""
