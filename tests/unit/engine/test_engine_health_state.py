"""The health state's rules (engine/health.py `next_state`, Docker's daemon/health.go): a pass
makes it healthy, failures count once out of the start period and make it unhealthy at
`Retries`, the Log keeps the last five results."""

from __future__ import annotations

from typing import Any

from bastion.engine.health import MAX_LOG_ENTRIES, next_state

S = 1_000_000_000
STARTING: dict[str, Any] = {"Status": "starting", "FailingStreak": 0, "Log": []}


def result(code: int) -> dict[str, Any]:
    return {"Start": "s", "End": "e", "ExitCode": code, "Output": ""}


def test_a_pass_is_healthy_and_clears_the_streak() -> None:
    failing = {"Status": "healthy", "FailingStreak": 2, "Log": []}
    after = next_state(failing, {"Retries": 3}, result(0), since_start=100)
    assert (after["Status"], after["FailingStreak"]) == ("healthy", 0)


def test_failures_make_it_unhealthy_at_retries() -> None:
    check = {"Retries": 2}
    once = next_state(STARTING, check, result(1), since_start=100)
    assert (once["Status"], once["FailingStreak"]) == ("starting", 1)
    twice = next_state(once, check, result(1), since_start=101)
    assert (twice["Status"], twice["FailingStreak"]) == ("unhealthy", 2)


def test_the_default_retries_are_three() -> None:
    state = STARTING
    for _ in range(2):
        state = next_state(state, {}, result(1), since_start=100)
    assert state["Status"] == "starting"
    assert next_state(state, {}, result(1), since_start=100)["Status"] == "unhealthy"


def test_failures_in_the_start_period_do_not_count_while_starting() -> None:
    check = {"StartPeriod": 60 * S, "Retries": 1}
    early = next_state(STARTING, check, result(1), since_start=5)
    assert (early["Status"], early["FailingStreak"]) == ("starting", 0)
    late = next_state(early, check, result(1), since_start=61)
    assert late["Status"] == "unhealthy"
    # once healthy, the start period no longer shields a failure
    healthy = next_state(STARTING, check, result(0), since_start=1)
    assert next_state(healthy, check, result(1), since_start=2)["Status"] == "unhealthy"


def test_the_log_keeps_the_last_five() -> None:
    state = STARTING
    for code in range(8):
        state = next_state(state, {"Retries": 100}, result(code), since_start=100)
    assert [e["ExitCode"] for e in state["Log"]] == [3, 4, 5, 6, 7]
    assert len(state["Log"]) == MAX_LOG_ENTRIES
