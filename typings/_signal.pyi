# The C module behind `signal`: bastion-runc imports it directly (`signal` pulls in `enum`).
from collections.abc import Callable
from types import FrameType

SIGRTMIN: int
SIGRTMAX: int
SIGKILL: int
SIGTERM: int
SIGINT: int
SIGHUP: int
SIGQUIT: int
SIGUSR1: int
SIGUSR2: int
SIGWINCH: int
SIGCHLD: int

def signal(signalnum: int, handler: Callable[[int, FrameType | None], object] | int) -> object: ...
def __getattr__(name: str) -> int: ...
