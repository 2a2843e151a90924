"""Reading Falco/sysdig .scap capture files: the block layer (`open_scap`) and typed events
(`iter_events`, decoded after libscap's event table in `scap_events`)."""

from bastion.sensor.capture.scap import (
    BLOCK_TYPES,
    Block,
    FdList,
    InterfaceList,
    ProcessList,
    RawEvent,
    ScapFile,
    ScapStats,
    SectionHeader,
    UnknownBlock,
    UserList,
    open_scap,
)
from bastion.sensor.capture.scap_blocks import (
    FdInfo,
    Group,
    Interface,
    MachineInfo,
    NotScapError,
    ScapFormatError,
    ThreadInfo,
    User,
)
from bastion.sensor.capture.scap_decode import decode_event, iter_events
from bastion.sensor.capture.scap_events import (
    EVENTS as SCAP_EVENTS,
)
from bastion.sensor.capture.scap_events import (
    SYSCALL_NAMES,
    ScapEventInfo,
    ScapParamSpec,
)

__all__ = [
    "BLOCK_TYPES",
    "SCAP_EVENTS",
    "SYSCALL_NAMES",
    "Block",
    "FdInfo",
    "FdList",
    "Group",
    "Interface",
    "InterfaceList",
    "MachineInfo",
    "NotScapError",
    "ProcessList",
    "RawEvent",
    "ScapEventInfo",
    "ScapFile",
    "ScapFormatError",
    "ScapParamSpec",
    "ScapStats",
    "SectionHeader",
    "ThreadInfo",
    "UnknownBlock",
    "User",
    "UserList",
    "decode_event",
    "iter_events",
    "open_scap",
]
