"""What the in-kernel kill's compiler derives from rule sets (`bastion.sensor.kernel_kill`), the
decoder's mark of a kernel-killed event, and how the enforcer records it."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from bastion.sensor.actions import Enforcer, parse_actions
from bastion.sensor.assemble import load_rules, new_state
from bastion.sensor.defaults import DEFAULT_RULES
from bastion.sensor.events.schema import BY_NAME
from bastion.sensor.kernel_kill import KernelKill, KillArming, compile_kill
from bastion.sensor.outputs.alert import Alert
from bastion.sensor.probe.decode import CPU_KILLED, HEADER, Decoder
from bastion.sensor.state.model import Container, Thread

SPAWN = "evt.type in (execve, execveat) and evt.dir = < and evt.res = SUCCESS"


def derive(
    tmp_path: Path,
    *rules: tuple[str, str, str],
    matching: str = "first",
    flags: tuple[str, ...] = (),
) -> KernelKill:
    """The kill plan for rules given as (name, condition, action)."""
    text = "- list: shells\n  items: [sh, bash]\n" + "".join(
        f'- rule: {name}\n  desc: d\n  condition: {cond}\n  output: "%proc.name"\n'
        f"  priority: WARNING\n  action: [{action}]\n"
        for name, cond, action in rules
    )
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    loaded = load_rules([str(path)], new_state("/nonexistent"), rule_matching=matching)
    return compile_kill(loaded.engine, loaded.ruleset, parse_actions(flags).actions_for)


def test_an_exec_of_a_named_process_in_a_container_is_decided(tmp_path: Path) -> None:
    cond = f"{SPAWN} and container.id != host and proc.name in (shells, bst-x)"
    kill = derive(tmp_path, ("r", cond, "kill_process"))
    assert kill.by_rule == {"r": ("sh", "bash", "bst-x")}
    assert kill.comms["sh"] == frozenset({"execve", "execveat"})
    plan = kill.plan()
    assert plan is not None and dict(plan.comms)["bst-x"] == frozenset({"execve", "execveat"})


def test_only_the_event_types_the_rule_names(tmp_path: Path) -> None:
    kill = derive(tmp_path, ("r", "evt.type = execve and proc.name = sh", "kill_process"))
    assert kill.comms == {"sh": frozenset({"execve"})}


@pytest.mark.parametrize(
    ("cond", "why"),
    [
        # a field the kernel does not know: never taken as true
        (f"{SPAWN} and proc.name = sh and proc.pname = bash", "reads more than the kernel"),
        # an exec's flags (EXE_WRITABLE...) are not known without the event
        (f"{SPAWN} and proc.name = sh and not evt.arg.flags contains EXE_WRITABLE", "reads more"),
        # a failed exec is not killed: the result must be the kernel's
        ("evt.type = execve and evt.res != SUCCESS and proc.name = sh", "reads more"),
        # the host is never the kernel's to decide
        (f"{SPAWN} and container.id = host and proc.name = sh", "reads more"),
        ("evt.type = openat and proc.name = sh", "not an exec rule"),
        (f"{SPAWN} and proc.name startswith sh", "names no process"),
        # longer than a comm: no process has that name
        (f"{SPAWN} and proc.name = this-name-is-too-long", "names no process"),
    ],
)
def test_what_the_kernel_cannot_decide_stays_in_user_space(
    tmp_path: Path, cond: str, why: str
) -> None:
    kill = derive(tmp_path, ("r", cond, "kill_process"))
    assert kill.comms == {} and kill.plan() is None
    assert why in kill.left["r"]


def test_exceptions_and_negations_are_part_of_the_condition(tmp_path: Path) -> None:
    cond = f"{SPAWN} and proc.name in (shells) and not proc.name = bash"
    kill = derive(tmp_path, ("r", cond, "kill_process"))
    assert kill.by_rule == {"r": ("sh",)}


def test_only_kill_process_rules_or_the_command_lines(tmp_path: Path) -> None:
    cond = f"{SPAWN} and proc.name = sh"
    assert derive(tmp_path, ("r", cond, "alert")).comms == {}
    assert derive(tmp_path, ("r", cond, "kill_container")).comms == {}
    assert derive(tmp_path, ("r", cond, "alert"), flags=("kill_process=rule:r",)).comms
    assert derive(tmp_path, ("r", cond, "alert"), flags=("kill_process=warning",)).comms


def test_an_earlier_rule_that_may_match_first_keeps_the_kill_in_user_space(
    tmp_path: Path,
) -> None:
    kill_rule = ("k", f"{SPAWN} and proc.name in (sh, bash)", "kill_process")
    maybe = ("first", f"{SPAWN} and proc.name = sh and proc.pname = x", "alert")
    never = ("other", f"{SPAWN} and proc.name = zsh", "alert")
    kill = derive(tmp_path, maybe, never, kill_rule)
    assert kill.by_rule == {"k": ("bash",)}  # sh may be taken by 'first'
    # with rule_matching: all, every matching rule acts
    assert derive(tmp_path, maybe, kill_rule, matching="all").by_rule == {"k": ("sh", "bash")}
    # an earlier rule that kills too changes nothing
    killer = ("first", maybe[1], "kill_process")
    assert derive(tmp_path, killer, kill_rule).by_rule["k"] == ("sh", "bash")


def test_the_default_rules_with_kill_on_warning(tmp_path: Path) -> None:
    rules = load_rules([str(DEFAULT_RULES)], new_state("/nonexistent"))
    kill = compile_kill(rules.engine, rules.ruleset, parse_actions([], "warning").actions_for)
    # whatever is decided names only processes a comm can hold
    assert all(0 < len(name.encode()) < 16 for name in kill.comms)
    assert set(kill.by_rule) | set(kill.left) <= {r.name for r in rules.engine.rules}


def _exec_record(cpu: int) -> bytes:
    spec = BY_NAME["execve"]
    n = len(spec.params)
    lengths = struct.pack(f"<{n}H", 8, *([0] * (n - 1)))
    body = lengths + struct.pack("<q", 0)
    size = HEADER.size + len(body)
    return HEADER.pack(1, 7, 0, 10, 10, spec.code, cpu, n, size) + body


def test_the_decoder_reads_the_kernel_kill_mark() -> None:
    plain, killed = Decoder(boot_epoch=0).decode([_exec_record(1), _exec_record(1 | CPU_KILLED)])
    assert (plain.cpu, plain.kernel_killed) == (1, False)
    assert (killed.cpu, killed.kernel_killed) == (1, True)


def test_the_enforcer_records_a_kernel_kill_without_signalling() -> None:
    (event,) = Decoder(boot_epoch=0).decode([_exec_record(CPU_KILLED)])
    # pid 1 is never signalled: the kill was the kernel's
    event.thread = Thread(tid=1, pid=1, container_id="c" * 64)
    enforcer = Enforcer(parse_actions([], "warning"), ())

    class Rule:
        name = "r"
        rank = 4
        definition = type("D", (), {"actions": ()})()

    alert = Alert(time_ns=0, rule="r", priority="Warning", output="o")
    assert enforcer(Rule(), event, alert) == "killed-process (kernel)"  # type: ignore[arg-type]
    assert (enforcer.killed, enforcer.killed_in_kernel, enforcer.failed) == (1, 1, 0)


def test_a_container_is_armed_once_its_init_is_its_own_and_disarmed_when_gone() -> None:
    state = new_state("/nonexistent")
    armed: list[int] = []
    disarmed: list[int] = []
    arming = KillArming(state, armed.extend, disarmed.extend)
    cid = "a" * 64
    state.containers.add(Container(id=cid, name="c", kind="bastion", cgroup_id=77, init_pid=500))
    state.containers.add(Container(id="b" * 64, name="d", kind="docker", cgroup_id=78))
    init = state.add_thread(Thread(tid=500, pid=500, setup_of=cid))  # the runtime's set-up
    arming.sync()
    assert armed == []  # hooks may still run in the cgroup: the state calls them host software
    init.setup_of, init.container_id = "", cid  # its exec: the container's own process
    arming.sync()
    arming.sync()
    assert armed == [77]  # once; a docker container is never armed (no init the state knows)
    state.containers.remove(cid)
    arming.sync()
    assert disarmed == [77] and arming.armed == {}
