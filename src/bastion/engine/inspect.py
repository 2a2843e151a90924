"""`inspect`'s document: Docker's field names (`docker inspect`, API ContainerJSON) for what the
engine has. Times are RFC 3339 in UTC; Docker's zero time when something has not happened."""

from __future__ import annotations

import datetime
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from bastion.engine.metadata import ContainerRecord

ZERO_TIME = "0001-01-01T00:00:00Z"


def rfc3339(stamp: float | None) -> str:
    if not stamp:
        return ZERO_TIME
    moment = datetime.datetime.fromtimestamp(stamp, tz=datetime.UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def container_document(record: ContainerRecord, directory: str) -> dict[str, Any]:
    config = record.config
    args = list(config.get("args", ()))
    running = record.status == "running"
    return {
        "Id": record.id,
        "Created": rfc3339(record.created),
        "Path": args[0] if args else "",
        "Args": args[1:],
        "State": {
            "Status": record.status,
            "Running": running,
            "Paused": False,
            "Restarting": record.status == "restarting",
            "OOMKilled": record.oom_killed,
            "Dead": False,
            "Pid": record.pid if running else 0,
            "ExitCode": record.exit_code or 0,
            "Error": "",
            "StartedAt": rfc3339(record.started),
            "FinishedAt": rfc3339(record.finished),
        },
        "Image": record.image_id,
        "Name": "/" + record.name,
        "RestartCount": record.restart_count,
        "LogPath": os.path.join(directory, "ctr.log"),
        "Config": {
            "Hostname": config.get("hostname", ""),
            "User": config.get("user", ""),
            "Env": list(config.get("env", ())),
            "Cmd": list(config.get("cmd", ())),
            "Entrypoint": list(config.get("entrypoint", ())) or None,
            "WorkingDir": config.get("cwd", ""),
            "Image": record.image,
            "Labels": dict(config.get("labels", {})),
            "Volumes": {
                m["destination"]: {} for m in config.get("mounts", ()) if m.get("anonymous")
            }
            or None,
            "StopSignal": config.get("stop_signal", "SIGTERM"),
            "Tty": bool(config.get("tty", False)),
            "OpenStdin": bool(config.get("interactive", False)),
            "AttachStdin": bool(config.get("interactive", False)),
        },
        "HostConfig": {
            "Memory": config.get("memory", 0),
            "PidsLimit": config.get("pids_limit", 0) or None,
            "NetworkMode": config.get("network", "none"),
            "AutoRemove": bool(config.get("auto_remove", False)),
            # conmon writes the k8s-file format; clients (docker-py) only check that the
            # driver is one whose logs they can read back, which Docker's json-file is
            "LogConfig": {"Type": "json-file", "Config": {}},
            # the HostConfig flags as saved at create (engine/host_config.py inspect_fields)
            **config.get("host_config", {}),
            "RestartPolicy": dict(config.get("restart") or {"Name": "no", "MaximumRetryCount": 0}),
        },
        "GraphDriver": {
            "Name": "overlay",
            "Data": {
                "LowerDir": ":".join(config.get("lowerdirs", ())),
                "UpperDir": os.path.join(directory, "fs", "upper"),
                "WorkDir": os.path.join(directory, "fs", "work"),
                "MergedDir": os.path.join(directory, "fs", "merged"),
            },
        },
        "Mounts": mount_points(config.get("mounts", ())),
        "RepoDigests": [f"{record.image.rsplit(':', 1)[0]}@{record.image_digest}"],
    }


def mount_points(mounts: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Docker's `Mounts` (MountPoint): volumes and binds, and `--mount type=tmpfs` (a `--tmpfs`
    shows only in HostConfig.Tmpfs, as in Docker)."""
    out = []
    for mount in mounts:
        if mount.get("flag") == "--tmpfs":
            continue
        point: dict[str, Any] = {"Type": mount["type"]}
        if mount["type"] == "volume":
            point["Name"] = mount["name"]
        point["Source"] = "" if mount["type"] == "tmpfs" else mount["source"]
        point["Destination"] = mount["destination"]
        if mount["type"] == "volume":
            point["Driver"] = "local"
        point["Mode"] = "ro" if mount["read_only"] else ""
        point["RW"] = not mount["read_only"]
        point["Propagation"] = mount.get("propagation", "")
        out.append(point)
    return out
