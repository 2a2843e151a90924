"""The engine verbs' shared parsing and Docker's renderings (`docker/go-units`)."""

from __future__ import annotations

import argparse

import pytest

from bastion.cli.front.engine_args import container_options, human_age, human_size
from bastion.cli.front.main import build_parser
from bastion.engine import InvalidOptionError


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0B"), (999, "999B"), (1000, "1kB"), (2_870_000, "2.87MB"), (1_234_567_890, "1.23GB")],
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.5, "Less than a second ago"),
        (1, "1 second ago"),
        (59, "59 seconds ago"),
        (90, "About a minute ago"),
        (600, "10 minutes ago"),
        (3600, "About an hour ago"),
        (5 * 3600, "5 hours ago"),
        (3 * 86400, "3 days ago"),
        (20 * 86400, "2 weeks ago"),
        (100 * 86400, "3 months ago"),
        (800 * 86400, "2 years ago"),
    ],
)
def test_human_age(seconds: float, text: str) -> None:
    assert human_age(1_000_000_000 - seconds, now=1_000_000_000) == text


def parse(*argv: str) -> argparse.Namespace:
    full = ["run", *argv]
    return build_parser(full).parse_args(full)


def test_run_flags_become_options() -> None:
    args = parse(
        "-d",
        "--rm",
        "-h",
        "box",
        "-m",
        "64m",
        "--pids-limit",
        "20",
        "-e",
        "A=1",
        "-e",
        "B",
        "-u",
        "1000:1000",
        "-w",
        "/srv",
        "--entrypoint",
        "",
        "--network",
        "host",
        "-l",
        "team=blue",
        "--name",
        "web",
        "IMAGE",
        "sh",
        "-c",
        "exit 3",
    )
    options = container_options(args)
    assert args.image == "IMAGE"
    assert options.command == ("sh", "-c", "exit 3")
    assert (options.hostname, options.memory, options.pids_limit) == ("box", 64 << 20, 20)
    assert (options.env, options.user, options.workdir) == (("A=1", "B"), "1000:1000", "/srv")
    assert (options.entrypoint, options.network, options.name) == ("", "host", "web")
    assert options.labels == {"team": "blue"}
    assert options.auto_remove and options.detach


def test_flags_after_the_image_belong_to_the_command() -> None:
    options = container_options(parse("IMAGE", "ls", "-h", "--rm"))
    assert options.command == ("ls", "-h", "--rm")
    assert options.hostname is None and not options.auto_remove


def test_no_command_keeps_the_images() -> None:
    assert container_options(parse("IMAGE")).command is None


def test_a_bad_memory_size_is_an_engine_error() -> None:
    with pytest.raises(InvalidOptionError) as caught:
        container_options(parse("-m", "12q", "IMAGE"))
    assert caught.value.exit_code == 125
