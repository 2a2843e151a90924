"""Outputs: where alerts go (stdout text/JSON, file, syslog, webhook, Prometheus, SQLite)."""

from bastion.sensor.outputs.alert import PRIORITIES, Alert, Output

__all__ = ["PRIORITIES", "Alert", "Output"]
