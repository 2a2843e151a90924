"""The eBPF probe: bastion.bpf.c (CO-RE), its build, its libbpf loader and its ring-buffer reader.

It must not import bastion.runtime; libbpf is reached only through bastion._sys.bpf.
"""

from bastion.sensor.probe.build import ProbeBuildError, build_probe
from bastion.sensor.probe.loader import Probe, ProbeStatistics
from bastion.sensor.probe.ringbuf import ExecEvent, RingBuffer

__all__ = ["ExecEvent", "Probe", "ProbeBuildError", "ProbeStatistics", "RingBuffer", "build_probe"]
