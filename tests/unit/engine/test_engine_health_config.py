"""The health check's configuration: Go durations, the `--health-*` flags as Docker's CLI reads
them, the merge over the image's HEALTHCHECK as the daemon does it, and Docker's checks."""

from __future__ import annotations

import pytest

from bastion.engine.errors import InvalidOptionError
from bastion.engine.health_config import (
    active,
    duration_ns,
    from_flags,
    merge,
    status_suffix,
)

S = 1_000_000_000


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("30s", 30 * S),
        ("1m30s", 90 * S),
        ("1.5s", 3 * S // 2),
        ("500ms", S // 2),
        ("2h", 7200 * S),
        ("10us", 10_000),
        ("7ns", 7),
        ("-1s", -S),
    ],
)
def test_go_durations(text: str, ns: int) -> None:
    assert duration_ns(text) == ns


@pytest.mark.parametrize("text", ["", "30", "s", "1x", "1.2.3s", "soon", "1s2", "."])
def test_not_durations(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        duration_ns(text)


def flags(**given: object) -> dict[str, object] | None:
    values: dict[str, object] = {
        "cmd": None,
        "interval": None,
        "timeout": None,
        "start_period": None,
        "retries": None,
        "disabled": False,
    }
    values.update(given)
    return from_flags(**values)  # type: ignore[arg-type]


def test_no_flag_leaves_the_image_check() -> None:
    assert flags() is None


def test_the_flags_as_docker_cli_builds_them() -> None:
    assert flags(cmd="curl -f localhost", interval="5s", retries=2) == {
        "Test": ["CMD-SHELL", "curl -f localhost"],
        "Interval": 5 * S,
        "Timeout": 0,
        "StartPeriod": 0,
        "Retries": 2,
    }
    # a duration alone: the image's command, this interval
    assert flags(interval="1s") == {
        "Test": [],
        "Interval": S,
        "Timeout": 0,
        "StartPeriod": 0,
        "Retries": 0,
    }
    assert flags(disabled=True) == {"Test": ["NONE"]}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"disabled": True, "cmd": "true"}, "--no-healthcheck conflicts with --health-\\* options"),
        ({"interval": "-1s"}, "--health-interval cannot be negative"),
        ({"retries": -1}, "--health-retries cannot be negative"),
        ({"start_period": "later"}, "invalid --health-start-period 'later'"),
    ],
)
def test_bad_flags(given: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidOptionError, match=message):
        flags(**given)


IMAGE = {"Test": ["CMD", "check"], "Interval": 10 * S, "Timeout": 3 * S, "Retries": 4}


def test_merge_takes_the_image_fields_the_user_left_zero() -> None:
    assert merge(None, IMAGE) == IMAGE
    assert merge(None, None) is None
    user = {"Test": [], "Interval": S, "Timeout": 0, "StartPeriod": 0, "Retries": 0}
    assert merge(user, IMAGE) == {**IMAGE, "Interval": S, "StartPeriod": 0}
    replaced = merge({"Test": ["CMD-SHELL", "true"], "Retries": 1}, IMAGE)
    assert replaced == {**IMAGE, "Test": ["CMD-SHELL", "true"], "Retries": 1}
    assert merge({"Test": ["NONE"]}, IMAGE)["Test"] == ["NONE"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ({"Test": ["SHELL", "x"]}, "unknown health check type 'SHELL'"),
        ({"Test": ["CMD"]}, "has no command"),
        ({"Test": "true"}, "must be a list of strings"),
        ({"Test": ["CMD", "x"], "Interval": 500}, "Interval in Healthcheck cannot be less"),
        ({"Test": ["CMD", "x"], "Timeout": -5}, "Timeout in Healthcheck cannot be less"),
        ({"Test": ["CMD", "x"], "Retries": -1}, "Retries in Healthcheck cannot be negative"),
    ],
)
def test_docker_refuses_these(check: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidOptionError, match=message):
        merge(check, None)


def test_active() -> None:
    assert active({"Test": ["CMD", "x"]})
    assert not active({"Test": ["NONE"]})
    assert not active({"Test": []})
    assert not active(None)


def test_status_words() -> None:
    assert status_suffix("starting") == " (health: starting)"
    assert status_suffix("healthy") == " (healthy)"
    assert status_suffix("unhealthy") == " (unhealthy)"
    assert status_suffix(None) == ""
