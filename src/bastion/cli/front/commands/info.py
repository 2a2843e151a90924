"""`bastion info [--format json]`: the engine's facts as `docker info` shows them (containers
running, paused and stopped, images, root, runtime, cgroups, kernel), and what the sensor
reads (bastion-runc's state directory and the containers in it)."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "show what bastion sees on this host"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import binary_size, open_engine

    with open_engine(args) as engine:
        facts = engine.info()
    if args.format == "json":
        sys.stdout.write(json.dumps(facts, indent=2) + "\n")
        return 0
    lines = [
        ("Containers", facts["Containers"]),
        (" Running", facts["ContainersRunning"]),
        (" Paused", facts["ContainersPaused"]),
        (" Stopped", facts["ContainersStopped"]),
        ("Images", facts["Images"]),
        ("Server Version", facts["ServerVersion"]),
        ("Storage Driver", facts["Driver"]),
        ("Cgroup Driver", facts["CgroupDriver"]),
        ("Cgroup Version", f"{facts['CgroupVersion']} ({facts['CgroupLayout']})"),
        ("Cgroup Parent", facts["CgroupParent"]),
        ("Default Runtime", f"{facts['DefaultRuntime']} ({facts['Runtime']})"),
        ("Kernel Version", facts["KernelVersion"]),
        ("Operating System", facts["OperatingSystem"]),
        ("Architecture", facts["Architecture"]),
        ("CPUs", facts["NCPU"]),
        ("Total Memory", binary_size(facts["MemTotal"])),
        ("Name", facts["Name"]),
        ("Root Dir", facts["DockerRootDir"]),
        ("Python", facts["Python"]),
        # what the sensor reads: bastion-runc's state, every container's identity.json
        ("Runtime Root", facts["RuntimeRoot"]),
        ("Runtime Containers", facts["RuntimeContainers"]),
    ]
    for key, value in lines:
        sys.stdout.write(f"{key}: {value}\n")
    return 0
