"""Falco's ``syscall_event_drops`` keys set bastion's in-band drop alert (sensor/config.py)."""

from __future__ import annotations

import pytest

from bastion.sensor.config import ConfigError, drop_settings
from bastion.sensor.drops import DropAlertSettings


def test_no_keys_keep_the_default_alert() -> None:
    assert drop_settings({}) == DropAlertSettings()


def test_actions_without_alert_turn_the_drop_alert_off() -> None:
    assert drop_settings({"actions": ["log"]}).enabled is False
    assert drop_settings({"actions": ["log", "alert"]}).enabled is True


def test_rate_is_alerts_per_second() -> None:
    # Falco's default: one alert every 30 s (rate 0.03333).
    assert drop_settings({"rate": 0.03333}).interval_s == pytest.approx(30.0, rel=1e-3)
    assert drop_settings({"rate": 2}).interval_s == 0.5


@pytest.mark.parametrize(
    "drops", [{"actions": "alert"}, {"rate": "fast"}, {"rate": -1}, {"rate": True}]
)
def test_wrong_types_are_refused_with_the_key(drops: dict[str, object]) -> None:
    with pytest.raises(ConfigError) as caught:
        drop_settings(drops)
    assert caught.value.reference == "watch-config"
    assert "syscall_event_drops." + next(iter(drops)) in str(caught.value)
