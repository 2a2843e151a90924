"""The API's optional trace (api/trace.py): one line per request and step, only when asked."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bastion.api import trace

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def test_lines_name_the_time_kind_container_and_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "api.trace"
    monkeypatch.setattr(trace, "_path", str(path))
    assert trace.enabled()
    cid = "0123456789abcdef" * 4
    trace.record("in", cid, "POST /v1.41/containers/x/start")
    trace.mark(cid, "process-started")
    trace.record("out", None, "HEAD /_ping 200")
    rows = [line.split(" ", 3) for line in path.read_text().splitlines()]
    assert [row[1:] for row in rows] == [
        ["in", cid[:12], "POST /v1.41/containers/x/start"],
        ["mark", cid[:12], "process-started"],
        ["out", "-", "HEAD /_ping 200"],
    ]
    times = [int(row[0]) for row in rows]
    assert times == sorted(times)


def test_off_it_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trace, "_path", None)
    monkeypatch.chdir(tmp_path)
    assert not trace.enabled()
    trace.mark("abc", "removed")
    assert list(tmp_path.iterdir()) == []
