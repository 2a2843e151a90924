"""`$BASTION_PROBE_OBJECT`: a probe object built elsewhere (the sensor's container image ships
one) is used as is, and a wrong path is a clear error rather than a build attempt."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.sensor.probe.build import PREBUILT_ENV, ProbeBuildError, build_probe


def test_a_prebuilt_object_is_used_and_nothing_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    obj = tmp_path / "bastion.bpf.o"
    obj.write_bytes(b"\x7fELF")
    monkeypatch.setenv(PREBUILT_ENV, str(obj))
    cache = tmp_path / "cache"
    assert build_probe(str(cache)) == str(obj)
    assert not cache.exists()


def test_a_missing_prebuilt_object_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PREBUILT_ENV, str(tmp_path / "nothing.o"))
    with pytest.raises(ProbeBuildError, match="no such file"):
        build_probe(str(tmp_path / "cache"))
