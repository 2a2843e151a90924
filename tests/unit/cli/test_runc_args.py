"""bastion-runc's option parser: urfave/cli conventions runc's callers rely on."""

from __future__ import annotations

import pytest

from bastion.cli.runc.args import Option, UsageError, parse

OPTIONS = [
    Option("--bundle,-b", "str", "."),
    Option("--detach,-d", "bool"),
    Option("--preserve-fds", "int", 0),
    Option("--env,-e", "str", repeat=True),
]


@pytest.mark.parametrize(
    "argv",
    [
        ["--bundle", "/b", "-d", "--preserve-fds", "2", "id"],
        ["--bundle=/b", "--detach", "--preserve-fds=2", "id"],
        ["-b", "/b", "id", "-d", "--preserve-fds", "2"],
        ["-b/b", "-d=true", "-preserve-fds", "2", "id"],
    ],
)
def test_forms(argv: list[str]) -> None:
    values, positional = parse(argv, OPTIONS)
    assert values == {"bundle": "/b", "detach": True, "preserve_fds": 2, "env": []}
    assert positional == ["id"]


def test_defaults_repeat_and_double_dash() -> None:
    values, positional = parse(["-e", "A=1", "--env", "B=2", "--", "-x"], OPTIONS)
    assert values["env"] == ["A=1", "B=2"]
    assert values["bundle"] == "."
    assert positional == ["-x"]


def test_stop_at_positional_leaves_the_rest() -> None:
    values, rest = parse(["-d", "create", "--bundle", "x"], OPTIONS, stop_at_positional=True)
    assert values["detach"] is True
    assert rest == ["create", "--bundle", "x"]


@pytest.mark.parametrize(
    "argv", [["--nope"], ["--bundle"], ["--preserve-fds", "two"], ["--detach=maybe"]]
)
def test_errors(argv: list[str]) -> None:
    with pytest.raises(UsageError) as err:
        parse(argv, OPTIONS)
    assert err.value.reference == "usage"
