"""Outputs: where alerts go (stdout text/JSON, file, syslog, webhook, Prometheus, SQLite).

Each destination is one module implementing the `Output` protocol (`emit`, `close`), with
`statistics()` counters; `factory.build_outputs` makes the set `bastion watch` asked for.
Imports only `bastion.errors` and the standard library (no `bastion.runtime`).
"""

from bastion.sensor.outputs.alert import PRIORITIES, Alert, Output, priority_rank

__all__ = ["PRIORITIES", "Alert", "Output", "priority_rank"]
