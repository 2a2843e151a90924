"""`update`'s checks and translations (engine/container_update.py): moby's rules on a change
against what the container has, the LinuxResources document the runtime gets, the record's
config and inspect's HostConfig; and the API's reading of an UpdateConfig body (api/update.py)."""

from __future__ import annotations

import pytest

from bastion.api.errors import ApiError
from bastion.api.update import change_of
from bastion.engine.container_update import ResourceUpdate, config_with, resources_of
from bastion.engine.errors import InvalidOptionError
from bastion.engine.metadata import ContainerRecord
from bastion_testing.records import container_record

MB = 1024 * 1024


def _record(**config: object) -> ContainerRecord:
    return container_record(status="running", config=dict(config))


def test_the_runtime_gets_only_what_changes() -> None:
    change = ResourceUpdate(memory=96 * MB, memory_swap=192 * MB, nano_cpus=5 * 10**8)
    assert resources_of(change, {}) == {
        "memory": {"limit": 96 * MB, "swap": 192 * MB},
        "cpu": {"period": 100_000, "quota": 50_000},
    }
    assert resources_of(ResourceUpdate(), {}) == {}
    # shares clamped as at create; 0 CPUs and a pids limit <= 0 lift the limits
    assert resources_of(ResourceUpdate(cpu_shares=1, nano_cpus=0, pids_limit=0), {}) == {
        "cpu": {"period": 100_000, "quota": -1, "shares": 2},
        "pids": {"limit": -1},
    }
    quota = resources_of(ResourceUpdate(cpu_quota=25_000, cpu_period=50_000), {})
    assert quota == {"cpu": {"quota": 25_000, "period": 50_000}}


@pytest.mark.parametrize(
    ("change", "host"),
    [
        (ResourceUpdate(memory=MB), {}),  # under 6 MB
        (ResourceUpdate(memory=300 * MB), {"Memory": 64 * MB, "MemorySwap": 128 * MB}),
        (ResourceUpdate(memory_swap=128 * MB), {}),  # swap without any memory limit
        (ResourceUpdate(memory=64 * MB, memory_swap=32 * MB), {}),
        (ResourceUpdate(nano_cpus=10**9, cpu_quota=1000), {}),
        (ResourceUpdate(nano_cpus=10**9), {"CpuQuota": 1000}),
        (ResourceUpdate(cpu_period=50_000), {"NanoCpus": 10**9}),
        (ResourceUpdate(nano_cpus=1000), {}),  # under 0.01 CPU
        (ResourceUpdate(cpuset_cpus="0-100000"), {}),
        (ResourceUpdate(cpuset_cpus="one"), {}),
    ],
)
def test_moby_refuses_these(change: ResourceUpdate, host: dict[str, object]) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        resources_of(change, host)
    assert caught.value.reference == "engine-invalid-option"


def test_memory_within_the_swap_set_and_unlimited_swap_are_fine() -> None:
    host = {"Memory": 64 * MB, "MemorySwap": 128 * MB}
    assert resources_of(ResourceUpdate(memory=100 * MB), host) == {"memory": {"limit": 100 * MB}}
    unlimited = resources_of(ResourceUpdate(memory=300 * MB, memory_swap=-1), host)
    assert unlimited == {"memory": {"limit": 300 * MB, "swap": -1}}


def test_the_record_keeps_what_inspect_shows() -> None:
    record = _record(memory=64 * MB, pids_limit=10, restart={"Name": "no"})
    host = {"Memory": 64 * MB, "Privileged": False}
    change = ResourceUpdate(
        memory=80 * MB, nano_cpus=10**9, cpuset_cpus="0", pids_limit=-1, restart="on-failure:3"
    )
    config = config_with(record, change, dict(host))
    assert config["memory"] == 80 * MB and config["pids_limit"] == 0
    assert config["restart"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert config["host_config"] == {
        "Memory": 80 * MB,
        "Privileged": False,
        "NanoCpus": 10**9,
        "CpusetCpus": "0",
    }
    assert record.config["memory"] == 64 * MB  # the record itself is not changed


def test_no_restart_policy_for_a_container_that_removes_itself() -> None:
    record = _record(auto_remove=True)
    with pytest.raises(InvalidOptionError):
        config_with(record, ResourceUpdate(restart="always"), {})
    assert config_with(record, ResourceUpdate(restart="no"), {})["restart"]["Name"] == "no"


def test_the_api_reads_mobys_update_config() -> None:
    body = {
        "Memory": 80 * MB,
        "MemorySwap": 0,  # 0: unchanged, as moby reads it
        "NanoCpus": None,
        "CpuShares": 512,
        "CpusetCpus": "",
        "PidsLimit": -1,
        "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2},
        "BlkioWeight": 0,
    }
    assert change_of(body) == ResourceUpdate(
        memory=80 * MB, cpu_shares=512, pids_limit=-1, restart="on-failure:2"
    )
    assert change_of({"RestartPolicy": {"Name": ""}}) == ResourceUpdate()
    assert change_of({"RestartPolicy": {"Name": "always"}}).restart == "always"
    for bad in ({"Memory": "80m"}, {"CpusetCpus": 3}, {"RestartPolicy": "always"}):
        with pytest.raises(ApiError) as caught:
            change_of(bad)
        assert caught.value.status == 400
