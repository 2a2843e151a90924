"""The eBPF probe: bastion.bpf.c (CO-RE), its build, its libbpf loader, its ring-buffer reader
and the decoder from its records to `Event`s (record format: bastion_record.h).

It must not import bastion.runtime; libbpf is reached only through bastion._sys.bpf.
"""

from bastion.sensor.probe.build import ProbeBuildError, build_probe
from bastion.sensor.probe.decode import Decoder, RecordError
from bastion.sensor.probe.loader import (
    KillPlan,
    OpenFilter,
    Probe,
    ProbeDrops,
    ProbeError,
    ProbeLoadError,
    ProbeStatistics,
)
from bastion.sensor.probe.ringbuf import RingBuffer

__all__ = [
    "Decoder",
    "KillPlan",
    "OpenFilter",
    "Probe",
    "ProbeBuildError",
    "ProbeDrops",
    "ProbeError",
    "ProbeLoadError",
    "ProbeStatistics",
    "RecordError",
    "RingBuffer",
    "build_probe",
]
