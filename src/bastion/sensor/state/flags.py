"""The flag encodings the state tables read from event parameters.

Events carry Falco's portable encodings (libscap ``PPM_*`` bits, as in
``driver/ppm_events_public.h``), not the kernel's raw values, so one reader serves .scap
replay and the live probe alike. Socket domains and types keep Linux's numbers
(``PPM_AF_*`` equal ``AF_*`` for the families handled here).
"""

from __future__ import annotations

# open/openat/openat2 `flags` (Falco's `file_flags` table).
O_DIRECTORY = 1 << 10
O_CLOEXEC = 1 << 12
O_TMPFILE = 1 << 13

# clone/fork/vfork/clone3 `flags` (Falco's `clone_flags` table).
CLONE_FILES = 1 << 0
CLONE_FS = 1 << 1
CLONE_THREAD = 1 << 13
CLONE_VM = 1 << 15

# The directory fd meaning "relative to the cwd" (AT_FDCWD), as the probe and libscap report it.
AT_FDCWD = -100

# socket() `domain`.
AF_UNIX = 1
AF_INET = 2
AF_INET6 = 10
AF_NETLINK = 16

# socket() `type` (low 4 bits; SOCK_NONBLOCK/SOCK_CLOEXEC ride above them).
SOCK_TYPE_MASK = 0xF
SOCK_STREAM = 1
SOCK_DGRAM = 2
SOCK_RAW = 3

IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ICMPV6 = 58
