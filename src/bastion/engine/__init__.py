"""The engine: images, containers and their monitors behind one Python API (`Engine`), which
the `bastion` CLI is a thin layer over (docs/engine.md).

Top of the library layers (docs/architecture.md): it may import runtime, images, (network),
oci, identity, errors, jsonio and _sys; only `cli` imports it. Not on bastion-runc's start-up
path. Names load on first use (PEP 562), so `bastion ps` does not import the registry client.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.engine.attach import Attachment
    from bastion.engine.builder import BuildOptions, BuildResult
    from bastion.engine.engine import DEFAULT_ROOT, Engine
    from bastion.engine.errors import (
        CommandError,
        ContainerStateError,
        CopyError,
        EngineError,
        ImageInUseError,
        InvalidOptionError,
        NameInUseError,
        NoSuchContainerError,
        NoSuchVolumeError,
        VolumeInUseError,
    )
    from bastion.engine.exec import ExecConfig, ExecSession
    from bastion.engine.metadata import ContainerRecord, ImageRecord
    from bastion.engine.monitor import LogLine
    from bastion.engine.restart import RestartPolicy
    from bastion.engine.spec import ContainerOptions
    from bastion.engine.volumes import VolumeRecord

__all__ = [
    "DEFAULT_ROOT",
    "Attachment",
    "BuildOptions",
    "BuildResult",
    "CommandError",
    "ContainerOptions",
    "ContainerRecord",
    "ContainerStateError",
    "CopyError",
    "Engine",
    "EngineError",
    "ExecConfig",
    "ExecSession",
    "ImageInUseError",
    "ImageRecord",
    "InvalidOptionError",
    "LogLine",
    "NameInUseError",
    "NoSuchContainerError",
    "NoSuchVolumeError",
    "RestartPolicy",
    "VolumeInUseError",
    "VolumeRecord",
]

_WHERE = {
    "Attachment": "bastion.engine.attach",
    "ExecConfig": "bastion.engine.exec",
    "ExecSession": "bastion.engine.exec",
    "RestartPolicy": "bastion.engine.restart",
    "DEFAULT_ROOT": "bastion.engine.engine",
    "Engine": "bastion.engine.engine",
    "CommandError": "bastion.engine.errors",
    "ContainerStateError": "bastion.engine.errors",
    "CopyError": "bastion.engine.errors",
    "EngineError": "bastion.engine.errors",
    "ImageInUseError": "bastion.engine.errors",
    "InvalidOptionError": "bastion.engine.errors",
    "NameInUseError": "bastion.engine.errors",
    "NoSuchContainerError": "bastion.engine.errors",
    "NoSuchVolumeError": "bastion.engine.errors",
    "VolumeInUseError": "bastion.engine.errors",
    "VolumeRecord": "bastion.engine.volumes",
    "ContainerRecord": "bastion.engine.metadata",
    "ImageRecord": "bastion.engine.metadata",
    "LogLine": "bastion.engine.monitor",
    "BuildOptions": "bastion.engine.builder",
    "BuildResult": "bastion.engine.builder",
    "ContainerOptions": "bastion.engine.spec",
}


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'bastion.engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
