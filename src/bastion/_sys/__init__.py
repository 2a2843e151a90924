"""The one syscall layer: thin, errno-checked wrappers over Linux syscalls (docs/conventions.md §5).

Every wrapper raises `OSError(errno, message, path)` naming what it tried. Raw syscalls go through
the small C extension `_native` (built by scripts/setup), else through ctypes (`libc.py`); nothing
else in bastion imports `ctypes`. This package must not import any other bastion package.
"""
