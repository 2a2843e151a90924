"""`bastion image COMMAND`: each command parses as its top-level verb does and runs that verb's
code; `inspect` and `prune` are the group's own."""

from __future__ import annotations

import argparse

import pytest

from bastion.cli.front.commands import image, images, load, rmi, save
from bastion.cli.front.main import build_parser


def parse(*argv: str) -> argparse.Namespace:
    return build_parser(list(argv)).parse_args(list(argv))


@pytest.mark.parametrize(
    ("argv", "runs"),
    [
        (["image", "ls", "-q"], images.run),
        (["image", "list"], images.run),
        (["image", "rm", "-f", "x"], rmi.run),
        (["image", "save", "-o", "f.tar", "--format", "oci-archive", "x"], save.run),
        (["image", "load", "-i", "f.tar"], load.run),
    ],
)
def test_a_command_runs_its_verb(argv: list[str], runs: object) -> None:
    args = parse(*argv)
    assert args.func is image.run
    assert args.image_run is runs


def test_prune_and_inspect_are_the_groups_own() -> None:
    args = parse("image", "prune", "-a")
    assert args.all is True
    assert args.image_run.__module__ == image.__name__
    args = parse("image", "inspect", "a", "b")
    assert args.images == ["a", "b"]


def test_save_refuses_an_unknown_format() -> None:
    with pytest.raises(SystemExit):
        parse("save", "--format", "tgz", "x")
