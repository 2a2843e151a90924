"""`bastion` builds every verb's parser on each call: that must not import the sensor's heavy
parts (state tables, outputs with their HTTP server, the probe), only the verb that runs does."""

from __future__ import annotations

import subprocess
import sys

HEAVY = (
    "bastion.sensor.state.sensor_state",
    "bastion.sensor.outputs.factory",
    "bastion.sensor.probe.loader",
    "bastion.sensor.rules.compiler",
    "http.server",
    "sqlite3",
)


def test_parser_building_stays_light() -> None:
    code = (
        "import sys\n"
        "from bastion.cli.front.main import build_parser\n"
        "build_parser()\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    assert "bastion.cli.front.commands.watch" in loaded  # the parser really was built
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_a_named_verb_imports_only_its_module() -> None:
    code = (
        "import sys\n"
        "from bastion.cli.front.main import build_parser\n"
        "build_parser(['--root', '/x', 'ps', '-a']).parse_args(['--root', '/x', 'ps', '-a'])\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = {m for m in out.stdout.split() if m.startswith("bastion.cli.front.commands.")}
    assert loaded == {"bastion.cli.front.commands.ps"}
