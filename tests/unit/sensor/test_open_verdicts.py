"""The verdicts kept per opened file (bastion/sensor/open_verdicts.py): an open whose key was
judged "no rule can match" skips its matcher, and nothing else changes: the same rules hit
every event as without the verdicts, whatever the process, the flags or the path as passed."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from bastion.sensor import open_verdicts
from bastion.sensor.assemble import load_rules
from bastion.sensor.defaults import rules_files
from bastion.sensor.events.model import Direction, Event
from bastion.sensor.open_verdicts import OpenVerdicts
from bastion.sensor.pipeline import Pipeline
from bastion.sensor.probe import accel
from bastion.sensor.probe.accel import ACCEL_ENV
from bastion.sensor.replay import open_replay
from bastion.sensor.rules import load_rules_files
from bastion.sensor.rules.engine import RuleEngine
from bastion.sensor.state import SensorState
from bastion.sensor.state.model import FdType, Thread
from bastion_testing import falco_verdicts, shared_data

RULES = """
- rule: shadow read by a stranger
  desc: the process decides, not the file alone
  condition: evt.type = openat and fd.name = /etc/shadow and not proc.name in (good)
  output: "shadow (%proc.name)"
  priority: WARNING
- rule: write below /srv
  desc: the flags decide
  condition: evt.type = openat and evt.is_open_write = true and fd.name startswith /srv/
  output: "write (%fd.name)"
  priority: WARNING
- rule: relative open of notes
  desc: the path as passed decides
  condition: evt.type = openat and fd.nameraw = notes
  output: "relative (%fd.nameraw)"
  priority: WARNING
- rule: exec-able file created
  desc: the mode decides
  condition: evt.type = openat and evt.is_open_exec = true and fd.directory = /opt
  output: "exec (%fd.name)"
  priority: WARNING
- rule: directory opened
  desc: the fd's type decides
  condition: evt.type = openat and fd.typechar = d and fd.name = /srv
  output: "dir (%fd.name)"
  priority: WARNING
"""

O_RDONLY, O_WRONLY, O_CREAT, O_DIRECTORY = 1, 2, 1 << 2, 1 << 10  # Falco's flag bits


@pytest.fixture(params=["compiled", "python"])
def front(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test twice: the key looked up by the compiled front (probe/accel.c `OpenGuard`),
    and by the Python wrapper alone (``BASTION_SENSOR_ACCEL=0``)."""
    if request.param == "python":
        monkeypatch.setenv(ACCEL_ENV, "0")
    elif accel.load() is None:
        pytest.skip("the sensor's compiled extension is not built (scripts/setup builds it)")
    return str(request.param)


class Ticks:
    """A clock that moves a second each time it is read: the judgement budget never binds."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def setup(tmp_path: Path, clock: Ticks | None = None) -> tuple[Pipeline, OpenVerdicts, SensorState]:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    state = SensorState(runtime_roots=(), proc_root="/nonexistent", host_root="/nonexistent")
    state.live = False
    state.add_thread(Thread(tid=100, pid=100, comm="good", cwd="/srv"))
    state.add_thread(Thread(tid=200, pid=200, comm="evil", cwd="/srv"))
    engine = load_rules([str(path)], state, rule_matching="all").engine
    verdicts = OpenVerdicts(engine, clock=clock or Ticks())
    engine.wrap_matchers(verdicts.wrap)
    return Pipeline(engine=engine, state=state, hostname="t"), verdicts, state


def opens(
    tid: int, name: str, flags: int = O_RDONLY, raw: str | None = None, mode: int = 0
) -> Iterator[Event]:
    """An openat exit of `name` (passed as `raw`) returning fd 3, and its close."""
    params = {"fd": 3, "dirfd": -100, "name": raw or name, "flags": flags, "mode": mode}
    yield Event(1, 10, 0, tid, tid, "openat", Direction.EXIT, "file", params, {}, 3, 0)
    yield Event(1, 11, 0, tid, tid, "close", Direction.EXIT, "file", {"fd": 3}, {}, 0, 0)


def rules_hit(pipeline: Pipeline, events: Iterator[Event]) -> list[str]:
    return [a.rule for a in pipeline.feed(list(events))]


def test_a_repeated_open_no_rule_can_match_skips_the_rules(front: str, tmp_path: Path) -> None:
    pipeline, verdicts, _ = setup(tmp_path)
    assert rules_hit(pipeline, itertools.chain(*(opens(100, "/dev/null") for _ in range(5)))) == []
    assert verdicts.judged == 1  # on its second sighting
    assert verdicts.skipped == 4  # that one and the three after it
    assert verdicts.skipped_compiled == (3 if front == "compiled" else 0)


def test_a_file_seen_once_is_not_judged(front: str, tmp_path: Path) -> None:
    pipeline, verdicts, _ = setup(tmp_path)
    rules_hit(pipeline, itertools.chain(*(opens(100, f"/tmp/f{i}") for i in range(50))))
    assert verdicts.judged == 0


def test_the_process_still_decides_when_the_file_alone_does_not(front: str, tmp_path: Path) -> None:
    pipeline, verdicts, _ = setup(tmp_path)
    quiet = itertools.chain(*(opens(100, "/etc/shadow") for _ in range(4)))
    assert rules_hit(pipeline, quiet) == []
    assert verdicts.judged == 1 and verdicts.skipped == 0  # judged: "may match"
    assert rules_hit(pipeline, opens(200, "/etc/shadow")) == ["shadow read by a stranger"]


def test_the_flags_are_part_of_the_key(front: str, tmp_path: Path) -> None:
    pipeline, verdicts, _ = setup(tmp_path)
    reads = itertools.chain(*(opens(100, "/srv/data") for _ in range(4)))
    assert rules_hit(pipeline, reads) == []
    assert verdicts.skipped == 3
    writes = opens(100, "/srv/data", O_WRONLY)
    assert rules_hit(pipeline, writes) == ["write below /srv"]


def test_the_path_as_passed_is_part_of_the_key(front: str, tmp_path: Path) -> None:
    pipeline, verdicts, _ = setup(tmp_path)
    absolute = itertools.chain(*(opens(100, "/srv/notes") for _ in range(4)))
    assert rules_hit(pipeline, absolute) == []
    assert verdicts.skipped == 3
    assert rules_hit(pipeline, opens(100, "/srv/notes", raw="notes")) == ["relative open of notes"]


def test_the_mode_is_part_of_the_key(front: str, tmp_path: Path) -> None:
    pipeline, verdicts, _ = setup(tmp_path)
    plain = itertools.chain(*(opens(100, "/opt/tool", O_WRONLY | O_CREAT) for _ in range(4)))
    assert rules_hit(pipeline, plain) == []
    assert verdicts.skipped == 3
    executable = opens(100, "/opt/tool", O_WRONLY | O_CREAT, mode=0o755)
    assert rules_hit(pipeline, executable) == ["exec-able file created"]


def test_the_fd_type_is_part_of_the_key(front: str, tmp_path: Path) -> None:
    pipeline, verdicts, state = setup(tmp_path)
    files = itertools.chain(*(opens(100, "/srv") for _ in range(4)))
    assert rules_hit(pipeline, files) == []
    assert verdicts.skipped == 3
    # the same open, its fd a directory (the state decides the type; here it is set by hand,
    # so that nothing else of the event differs)
    event = next(opens(100, "/srv"))
    state.apply(event)
    assert event.fd is not None
    event.fd.type = FdType.DIRECTORY
    assert [r.name for r in pipeline.engine.match(event)] == ["directory opened"]


def test_judgements_are_rationed_by_the_clock(
    front: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(open_verdicts, "MAX_JUDGED_PER_SECOND", 3)
    pipeline, verdicts, _ = setup(tmp_path)
    verdicts.clock = lambda: 5.0
    twice = itertools.chain(*(opens(100, f"/tmp/f{i}") for i in range(10) for _ in range(2)))
    rules_hit(pipeline, twice)
    assert verdicts.judged == 3  # the rest wait for the next second
    verdicts.clock = lambda: 6.5
    rules_hit(pipeline, itertools.chain(*(opens(100, f"/tmp/f{i}") for i in range(10))))
    assert verdicts.judged == 6


def test_the_keys_kept_are_bounded(
    front: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(open_verdicts, "MAX_KEYS", 4)
    pipeline, verdicts, _ = setup(tmp_path)
    twice = itertools.chain(*(opens(100, f"/tmp/f{i}") for i in range(6) for _ in range(2)))
    rules_hit(pipeline, twice)
    assert verdicts.judged == 6
    # the table was emptied on the fifth key: the first is judged again
    rules_hit(pipeline, itertools.chain(*(opens(100, "/tmp/f0") for _ in range(2))))
    assert verdicts.judged == 7


def test_the_environment_switch_leaves_the_matchers_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    state = SensorState(runtime_roots=(), proc_root="/nonexistent", host_root="/nonexistent")
    monkeypatch.setenv(open_verdicts.VERDICTS_ENV, "0")
    assert load_rules([str(path)], state).engine._wrap is None
    monkeypatch.delenv(open_verdicts.VERDICTS_ENV)
    assert load_rules([str(path)], state).engine._wrap is not None


# --- Falco's stable rules and bastion's, on random opens and on Falco's captures ---------------

CAPTURES = ("falco", "captures")
FLAG_CHOICES = (
    1,
    1,
    1,
    2,
    3,
    2 | 4,
    2 | 4 | 256,
    1 | 1024,
    2 | 8,
    1 | 64,
    2 | 4 | 8192,
    2 | 4 | 16384,
)
MODES = (0, 0, 0o644, 0o755, 0o700)


def falco_files(tmp_path: Path, extras: bool = True) -> list[str]:
    """Falco's stable rules and bastion's, and (`extras`) a rule per macro and bare rule
    condition of theirs (true verdicts come from these, but few opens can skip them:
    ``open_read`` alone matches any read)."""
    return falco_verdicts.with_every_macro(tmp_path) if extras else falco_verdicts.stable_rules()


def words(files: list[str]) -> tuple[list[str], list[str]]:
    """Paths and process names drawn from the rules' own lists, and a few of nobody's."""
    ruleset = load_rules_files(files)
    items = [i for lst in ruleset.lists.values() for i in lst.items if i and " " not in i]
    paths = [i for i in items if i.startswith("/")]
    names = [i for i in items if not i.startswith("/") and "/" not in i]
    paths += [f"/etc/{n}" for n in names[:40]] + ["/dev/null", "/tmp/x", "/proc/self/status"]
    paths += ["/root/.ssh/id_rsa", "/etc/shadow", "/usr/lib/libc.so.6", "/bin/sh", "/var/log/x"]
    return paths, [*names, "bash", "sh", "python3", "sshd", "nobody-knows"]


def random_opens(rng: random.Random, paths: list[str], names: list[str], n: int) -> Iterator[Event]:
    pool_paths = rng.sample(paths, min(60, len(paths)))
    tids = list(range(1000, 1012))
    for i in range(n):
        tid = rng.choice(tids)
        path = rng.choice(pool_paths)
        raw = path if rng.random() < 0.8 else path.rsplit("/", 1)[-1] or path
        res = 5 if rng.random() < 0.95 else -2
        params: dict[str, object] = {
            "fd": res,
            "dirfd": -100,
            "name": raw,
            "flags": rng.choice(FLAG_CHOICES),
            "mode": rng.choice(MODES),
        }
        yield Event(
            1, 100 + 2 * i, 0, tid, tid, "openat", Direction.EXIT, "file", params, {}, res, 0
        )
        if res >= 0:
            close: dict[str, object] = {"fd": res}
            yield Event(
                1, 101 + 2 * i, 0, tid, tid, "close", Direction.EXIT, "file", close, {}, 0, 0
            )


@shared_data.needs(*shared_data.FALCO_RULES)
@pytest.mark.parametrize("extras", [True, False], ids=["every-macro", "stable"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_opens_meet_the_same_rules_with_and_without_verdicts(
    seed: int, extras: bool, front: str, tmp_path: Path
) -> None:
    rng = random.Random(seed)
    files = falco_files(tmp_path, extras)
    paths, names = words(files)
    state = SensorState(runtime_roots=(), proc_root="/nonexistent", host_root="/nonexistent")
    state.live = False
    for tid in range(1000, 1012):  # processes of the rules' own names, users, directories
        comm = rng.choice(names)
        state.add_thread(
            Thread(
                tid=tid,
                pid=tid,
                comm=comm[:15],
                exe=f"/usr/bin/{comm}",
                exepath=f"/usr/bin/{comm}",
                args=(rng.choice(names),),
                cwd=rng.choice(["/", "/etc", "/root", "/tmp", "/usr/lib"]),
                uid=rng.choice([0, 0, 1000]),
            )
        )
    with_verdicts, judge = engine_with(files, state, True)
    without, _ = engine_with(files, state, False)
    hits = 0
    for event in random_opens(rng, paths, names, 6000):
        state.apply(event)
        got = [rule.name for rule in with_verdicts.match(event)]
        assert got == [rule.name for rule in without.match(event)], event
        hits += len(got)
    assert judge.judged > 50
    if extras:
        assert hits > 1000  # true verdicts compared
    else:
        assert judge.skipped > 1000  # opens that skipped their rules compared


def engine_with(
    files: list[str], state: SensorState, verdicts: bool
) -> tuple[RuleEngine, OpenVerdicts]:
    engine = load_rules(files, state, rule_matching="all").engine
    judge = OpenVerdicts(engine, clock=Ticks())
    engine.wrap_matchers(judge.wrap if verdicts else None)
    return engine, judge


@shared_data.needs(*CAPTURES)
@shared_data.needs(*shared_data.FALCO_RULES)
def test_every_capture_event_meets_the_same_rules_with_and_without_verdicts(front: str) -> None:
    files = [str(shared_data.shared_path(*shared_data.FALCO_RULES)), *rules_files(None)]
    events = skipped = 0
    for capture in sorted(shared_data.shared_path(*CAPTURES).glob("*.scap")):
        state = SensorState(runtime_roots=(), proc_root="/nonexistent", host_root="/nonexistent")
        state.live = False
        with_verdicts, judge = engine_with(files, state, True)
        without, _ = engine_with(files, state, False)
        for event in open_replay(str(capture), state):
            state.apply(event)
            got = [rule.name for rule in with_verdicts.match(event)]
            assert got == [rule.name for rule in without.match(event)], (capture.name, event)
            events += 1
        skipped += judge.skipped
    assert events > 10_000
    assert skipped > 0  # the comparison met skipped opens


@shared_data.needs(*CAPTURES)
@shared_data.needs(*shared_data.FALCO_RULES)
def test_a_watch_reports_the_opens_judged_by_file(monkeypatch: pytest.MonkeyPatch) -> None:
    from bastion.sensor.session import WatchSettings, run_watch

    capture = shared_data.shared_path(*CAPTURES) / "curl_google.scap"
    rules = (str(shared_data.shared_path(*shared_data.FALCO_RULES)), *rules_files(None))
    settings = WatchSettings(runtime_root="/nonexistent", rules=rules, replay=str(capture))
    report = run_watch(settings, warn=lambda _: None)
    assert report["opens judged by file"] > 0  # its libraries and certificates, opened again
    monkeypatch.setenv(open_verdicts.VERDICTS_ENV, "0")
    assert "opens judged by file" not in run_watch(settings, warn=lambda _: None)
