"""Reading Falco/sysdig .scap capture files (the block layer; typed events come later)."""

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
    ScapFormatError,
    ThreadInfo,
    User,
)

__all__ = [
    "BLOCK_TYPES",
    "Block",
    "FdInfo",
    "FdList",
    "Group",
    "Interface",
    "InterfaceList",
    "MachineInfo",
    "ProcessList",
    "RawEvent",
    "ScapFile",
    "ScapFormatError",
    "ScapStats",
    "SectionHeader",
    "ThreadInfo",
    "UnknownBlock",
    "User",
    "UserList",
    "open_scap",
]
