"""The live probe's event table as documentation: `docs/events.md` and `bastion events --list`.

Generated from `schema.py`, so the docs cannot drift from what the probe emits; a unit test
compares docs/events.md with `markdown()`. Regenerate with
`python -m bastion.sensor.events.docs > docs/events.md`.
"""

from __future__ import annotations

from bastion.sensor.events.model import EventFlag
from bastion.sensor.events.schema import EVENTS, EventSpec


def _params(spec: EventSpec) -> str:
    return ", ".join(
        f"`{p.name}` {p.type}" + (f" ({p.flags})" if p.flags else "") for p in spec.params
    )


def markdown() -> str:
    lines = [
        "# Events of bastion's live probe",
        "",
        "Generated from `src/bastion/sensor/events/schema.py` by",
        "`python -m bastion.sensor.events.docs`; do not edit by hand. Every event is an exit event",
        "(`evt.dir = <`) carrying the enter side's arguments too, under Falco's event and",
        "parameter names, so Falco's fields (`evt.arg.NAME`, `evt.rawarg.NAME`, `fd.*`...) read",
        "them unchanged. Flags and enums carry Falco's encodings (`evt.arg.flags` renders",
        "`O_RDONLY|O_CLOEXEC`). Opt-in events are captured only when asked for (`--events`).",
        "Flags are libs' `EF_*` (`USES_FD`: `fd.*` fields read the fd the event names;",
        "`CREATES_FD`: the result is a new fd; `DESTROYS_FD`: the call closes it; `UNPAIRED`: no",
        "enter side); the state column names the handler that updates the state tables for it.",
        "The loss column is the event's class under load (`loss_class`): `critical` events",
        "(process lifecycle, credentials, namespaces, modules) travel in the probe's second",
        "ring and are the last the spill area gives up; the drop alert counts each class.",
        "`bastion events --decoder-source TYPE` prints the Python source of the decoder built",
        "for an event (`bastion.sensor.probe.decode.decoder_source`).",
        "",
        "| code | event | category | loss | flags | state | syscalls | parameters |",
        "|---:|---|---|---|---|---|---|---|",
    ]
    for spec in EVENTS:
        calls = ", ".join(spec.syscalls) or "(scheduler)"
        name = spec.name if spec.default else f"{spec.name} (opt-in)"
        flags = EventFlag.text(spec.flags).replace("|", ", ")
        handler = f"`{spec.handler}`" if spec.handler else ""
        lines.append(
            f"| {spec.code} | `{name}` | {spec.category} | {spec.loss_class} | {flags} "
            f"| {handler} | {calls} "
            f"| {_params(spec)} |"
        )
    return "\n".join(lines) + "\n"


def text() -> str:
    """One event per line, for a terminal."""
    width = max(len(s.name) for s in EVENTS)
    out = []
    for spec in EVENTS:
        params = " ".join(f"{p.name}:{p.type}" for p in spec.params)
        extra = "" if spec.default else "  (opt-in)"
        out.append(f"{spec.code:>3} {spec.name:<{width}} {spec.category:<9} {params}{extra}")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(markdown())
