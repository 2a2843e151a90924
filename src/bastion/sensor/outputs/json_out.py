"""Falco's JSON alert, one object per line.

The shape follows falco `formats.cpp` (``falco_formats::format_event``): keys ``hostname``,
``output`` (the full text line, time and priority prefix included), ``output_fields``,
``priority``, ``rule``, ``source``, ``tags``, ``time``; optional ``message`` (the rule output
alone, Falco's ``json_include_message_property``). Falco builds the object with nlohmann::json,
whose objects are sorted maps and whose compact dump has no spaces, so we sort keys and use
``,``/``:`` separators; non-ASCII text stays UTF-8 as nlohmann writes it. ``tags`` is a
``std::set``, so it is sorted too. ``time`` is RFC 3339 UTC with nanoseconds and ``Z``.
``output_fields`` holds the rule output's fields with their JSON types (None -> null, for
``<NA>``) plus the prefix's time field (``evt.time`` or ``evt.time.iso8601``) as the event's
time in ns, as libsinsp's JSON extraction gives it. bastion adds one key Falco has not:
``action``, what the sensor did (``killed-process``, ``paused-container``...), and only when it
did something, so an alert without enforcement is exactly Falco's object.
"""

from __future__ import annotations

import ipaddress
import json
import math
import socket

from bastion.sensor.outputs.alert import Alert
from bastion.sensor.outputs.text import text_line


def json_value(value: object) -> object:
    """`value` as a JSON-typed value: numbers, strings, booleans and null stay; sequences
    become arrays; bytes are decoded (invalid UTF-8 replaced, as Falco's dump does); anything
    else (addresses, enums) becomes its text."""
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or Infinity
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [json_value(v) for v in items]
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    return str(value)


def _fix_surrogates(text: str) -> str:
    # Paths decoded with surrogateescape would make the encoder emit lone surrogates, which is
    # not valid UTF-8; nlohmann replaces invalid bytes with U+FFFD, and so do we.
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a surrogate that surrogateescape did not make
        return text.encode("utf-8", "replace").decode("utf-8")


def alert_document(
    alert: Alert,
    *,
    iso: bool = False,
    hostname: str | None = None,
    include_output: bool = True,
    include_tags: bool = True,
    include_message: bool = False,
    include_output_fields: bool = True,
) -> dict[str, object]:
    """The alert as Falco's JSON object (a dict; `format_json` serialises it).

    `hostname` is used when the alert carries none (Falco takes ``FALCO_HOSTNAME`` or the
    host name once at start-up).
    """
    doc: dict[str, object] = {
        "hostname": alert.hostname or hostname or socket.gethostname(),
        "priority": alert.priority,
        "rule": alert.rule,
        "source": alert.source,
        "time": alert.time_iso,
    }
    if include_output:
        doc["output"] = text_line(alert, iso=iso)
    if include_tags:
        doc["tags"] = sorted(set(alert.tags))
    if include_message:
        doc["message"] = alert.output
    if include_output_fields:
        fields = {name: json_value(value) for name, value in alert.output_fields.items()}
        fields["evt.time.iso8601" if iso else "evt.time"] = alert.time_ns
        doc["output_fields"] = fields
    if alert.action:
        doc["action"] = alert.action
    return doc


class JsonFormat:
    """A `Render` for Falco's JSON alert line; options as Falco's ``json_include_*``."""

    def __init__(
        self,
        *,
        iso: bool = False,
        hostname: str | None = None,
        include_output: bool = True,
        include_tags: bool = True,
        include_message: bool = False,
        include_output_fields: bool = True,
    ) -> None:
        self.iso = iso
        self.hostname = hostname or socket.gethostname()
        self.include_output = include_output
        self.include_tags = include_tags
        self.include_message = include_message
        self.include_output_fields = include_output_fields

    def document(self, alert: Alert) -> dict[str, object]:
        return alert_document(
            alert,
            iso=self.iso,
            hostname=self.hostname,
            include_output=self.include_output,
            include_tags=self.include_tags,
            include_message=self.include_message,
            include_output_fields=self.include_output_fields,
        )

    def __call__(self, alert: Alert) -> str:
        return format_json(self.document(alert))


def format_json(doc: dict[str, object]) -> str:
    """Serialise like nlohmann's ``dump(-1)``: sorted keys, compact, UTF-8 kept."""
    text = json.dumps(
        doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return _fix_surrogates(text)
