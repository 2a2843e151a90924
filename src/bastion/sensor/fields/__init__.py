"""Falco's event fields over bastion's events and state, and Falco's output formatting.

One module per field class (`evt`, `proc` for proc.* and thread.*, `fd`, `user` for user.*
and group.*, `container` for container.* and k8s.*); `registry.FieldRegistry` is the rules
compiler's `FieldTable`; `format.compile_output` renders a rule's output string. Must not import
``bastion.runtime`` (the sensor shares only ``bastion.identity`` with it).
"""

from bastion.sensor.fields.format import OutputFormat, OutputFormatError, compile_output
from bastion.sensor.fields.model import AnyOf, ArgKind, FieldDef, StateView
from bastion.sensor.fields.registry import ALL_FIELDS, BY_NAME, FieldRegistry

__all__ = [
    "ALL_FIELDS",
    "BY_NAME",
    "AnyOf",
    "ArgKind",
    "FieldDef",
    "FieldRegistry",
    "OutputFormat",
    "OutputFormatError",
    "StateView",
    "compile_output",
]
