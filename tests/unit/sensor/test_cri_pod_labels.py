"""Pod labels from the CRI socket (sensor/state/cri.py) when nothing answers there: no labels,
and the socket is not asked again for every pod. The answering case is in
tests/integration/test_k8s_cri.py (a real containerd's CRI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.sensor.state import cri


def test_no_socket_means_no_pod_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cri.CRI_SOCKET_ENV, raising=False)
    monkeypatch.setattr(cri, "DEFAULT_SOCKETS", ("/nonexistent/bst-test-cri.sock",))
    assert cri.socket_path() is None
    pods = cri.PodLabels()
    assert pods.get("f" * 64) == {}


def test_a_socket_nobody_serves_is_given_up_after_one_try(tmp_path: Path) -> None:
    pods = cri.PodLabels(str(tmp_path / "bst-test-cri.sock"))  # no listener
    assert pods.get("a" * 64) == {}
    assert pods._off  # the next pods do not wait for the timeout again
    assert pods.get("b" * 64) == {}
    pods.close()


def test_the_environment_names_the_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cri.CRI_SOCKET_ENV, "/run/bst-test/cri.sock")
    assert cri.socket_path() == "/run/bst-test/cri.sock"
