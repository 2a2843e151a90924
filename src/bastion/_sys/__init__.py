"""The one ctypes layer: thin, errno-checked wrappers over Linux syscalls (docs/conventions.md §5).

Every wrapper raises `OSError(errno, message, path)` naming what it tried. Nothing else in bastion
imports `ctypes`. This package must not import any other bastion package.
"""
