"""Containers from identity records and cgroup paths; users from passwd files; /proc/net
parsing; a .scap file's process list as initial state."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bastion.identity import IDENTITY_FILE, ContainerIdentity
from bastion.sensor.capture.scap_blocks import FdInfo, Group, ThreadInfo, User
from bastion.sensor.events.model import Event
from bastion.sensor.state import HOST_CONTAINER, Container, ContainerTable, SensorState, Thread
from bastion.sensor.state.cgroups import engine_container
from bastion.sensor.state.model import FdType
from bastion.sensor.state.procnet import read_sockets
from bastion.sensor.state.users import UserTable, parse_group, parse_passwd
from bastion_testing import shared_data

HEX = "0123456789abcdef" * 4
OTHER = "fedcba9876543210" * 4


@pytest.mark.parametrize(
    ("path", "want"),
    [
        (f"/docker/{HEX}", ("docker", HEX)),
        (f"/system.slice/docker-{HEX}.scope", ("docker", HEX)),
        (
            f"/system.slice/containerd.service/kubepods-x/cri-containerd-{HEX}.scope",
            ("containerd", HEX),
        ),
        (f"/kubepods/besteffort/pod1234-5678/{HEX}", ("containerd", HEX)),
        (f"/kubepods.slice/kubepods-burstable.slice/crio-{HEX}.scope", ("cri-o", HEX)),
        (f"/machine.slice/libpod-{HEX}.scope", ("podman", HEX)),
        (f"/libpod_parent/libpod-{HEX}", ("podman", HEX)),
        (f"/libpod_parent/libpod-{HEX}/ctr", ("podman", HEX)),
        (f"/docker/{OTHER}/docker/{HEX}", ("docker", HEX)),  # nested: the innermost wins
        ("/user.slice/user-0.slice/session-1.scope", None),
        (f"/system.slice/libpod-conmon-{HEX}.scope", None),
        (f"/random/{HEX}", None),
        ("/", None),
    ],
)
def test_engine_container(path: str, want: tuple[str, str] | None) -> None:
    assert engine_container(path) == want


def write_identity(root: Path, identity: ContainerIdentity) -> None:
    directory = root / identity.id
    directory.mkdir(parents=True)
    (directory / IDENTITY_FILE).write_text(json.dumps(identity.to_dict()))


def make_identity(cid: str, cgid: int, pid: int = 0) -> ContainerIdentity:
    return ContainerIdentity(
        id=cid,
        name=f"{cid}-name",
        image="busybox:1",
        labels={"bastion.label.app": "web"},
        cgroup_path=f"/bastion/{cid}",
        cgroup_ids=(cgid,),
        pid=pid,
        start_time=100,
    )


def test_identity_scan_and_lookups(tmp_path: Path) -> None:
    write_identity(tmp_path, make_identity("c1", 5001, pid=42))
    (tmp_path / "half-made").mkdir()  # no identity.json yet: skipped
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / IDENTITY_FILE).write_text("{not json")
    table = ContainerTable((str(tmp_path), str(tmp_path / "missing")), proc_root="/p")
    assert table.refresh() == 1
    found = table.by_cgroup_id(5001)
    assert found is not None and found is table.by_id("c1")
    assert (found.name, found.kind, found.image, found.labels) == (
        "c1-name",
        "bastion",
        "busybox:1",
        {"bastion.label.app": "web"},
    )
    assert found.rootfs == "/p/42/root"
    assert table.by_cgroups((("memory", "/bastion/c1"),)) is found


def test_unknown_cgroup_id_rescans_rate_limited_unless_a_container_came(tmp_path: Path) -> None:
    now = [0.0]
    table = ContainerTable((str(tmp_path),), rescan_interval=1.0, clock=lambda: now[0])
    assert table.find_cgroup_id(7) is None
    scans = table.scans
    assert table.find_cgroup_id(8) is None  # a host cgroup: nothing new, no rescan
    assert table.scans == scans
    (tmp_path / "late").mkdir()  # a container being created: its record comes next
    assert table.find_cgroup_id(7) is None and table.scans == scans + 1
    (tmp_path / "late" / IDENTITY_FILE).write_text(json.dumps(make_identity("late", 7).to_dict()))
    found = table.find_cgroup_id(7)  # the awaited record is there: at once, in the interval
    assert found is not None and found.id == "late" and table.scans == scans + 2
    now[0] = 1.5
    assert table.find_cgroup_id(8) is None and table.scans == scans + 3  # the interval passed


def test_refresh_drops_deleted_containers_after_a_grace(tmp_path: Path) -> None:
    from bastion.sensor.state.containers import GONE_GRACE

    now = [0.0]
    write_identity(tmp_path, make_identity("gone", 9))
    table = ContainerTable((str(tmp_path),), clock=lambda: now[0])
    table.refresh()
    os.remove(tmp_path / "gone" / IDENTITY_FILE)
    os.rmdir(tmp_path / "gone")
    table.refresh()
    found = table.by_cgroup_id(9)  # its last events are still to come
    assert found is not None and found.id == "gone"
    now[0] = GONE_GRACE + 1
    table.refresh()
    assert table.by_id("gone") is None and table.by_cgroup_id(9) is None


def test_the_watch_reads_a_record_before_its_container_is_deleted(tmp_path: Path) -> None:
    """A container that lives less than the sensor's lag: created, its record written, and
    deleted before any lookup; the watch read the record as it landed (no scan saw it)."""
    import time

    table = ContainerTable((str(tmp_path),))
    table.refresh()
    scans = table.scans
    table.watch_identities()
    try:
        write_identity(tmp_path, make_identity("brief", 11))
        deadline = time.monotonic() + 30  # the effect is awaited, not timed
        while not table.absorb():
            assert time.monotonic() < deadline, "the watch never read the record"
            time.sleep(0.01)
        assert table.scans == scans  # no scan: the watch's doing
        os.remove(tmp_path / "brief" / IDENTITY_FILE)
        os.rmdir(tmp_path / "brief")
        table.refresh()
        found = table.find_cgroup_id(11)
        assert found is not None and found.id == "brief" and found.name == "brief-name"
    finally:
        table.close()


def test_engine_containers_are_added_once(tmp_path: Path) -> None:
    table = ContainerTable((str(tmp_path),))
    paths = (("cpu", f"/docker/{HEX}"), ("memory", f"/docker/{HEX}"))
    first = table.by_cgroups(paths)
    assert first is not None and first.kind == "docker" and first.short_id == HEX[:12]
    assert table.by_cgroups(paths) is first and len(table) == 1
    assert table.by_cgroups((("cpu", "/user.slice"),)) is None


def test_state_places_threads_by_cgroup_id_and_path(tmp_path: Path) -> None:
    run = tmp_path / "run"
    write_identity(run, make_identity("c2", 6001))
    s = SensorState(runtime_roots=(str(run),), proc_root=str(tmp_path / "proc"))
    s.seed_from_scap([], [])
    e = Event(
        num=1, ts=1, cpu=0, tid=50, pid=50, type="read", dir="<", category="IO_read",
        params={}, specs={}, res=0, cgroup_id=6001,
    )  # fmt: skip
    s.apply(e)
    assert e.thread is not None and s.container_of(e.thread).name == "c2-name"
    crio = s.add_thread(Thread(tid=60, pid=60, cgroups=(("pids", f"/kubepods/crio-{HEX}.scope"),)))
    s._place(crio)
    assert s.container_of(crio).kind == "cri-o"
    host = s.add_thread(Thread(tid=70, pid=70))
    assert s.container_of(host) is HOST_CONTAINER


PASSWD = """root:x:0:0:root:/root:/bin/bash
# comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
broken line
bad:x:notanumber:1::/:/bin/sh
app:x:1000:1000:App,,,:/home/app:/bin/sh
dup:x:1000:5::/x:/bin/false
"""
GROUP = "root:x:0:\nwheel:x:10:app,root\nbad:x:zz:\nshort\n"


def test_parse_passwd_and_group() -> None:
    users = parse_passwd(PASSWD)
    assert sorted(users) == [0, 1, 1000]
    assert users[1000].name == "app" and users[1000].home == "/home/app"
    assert users[1000].shell == "/bin/sh" and users[1000].gid == 1000
    groups = parse_group(GROUP)
    assert {g: v.name for g, v in groups.items()} == {0: "root", 10: "wheel"}


def test_users_per_container(tmp_path: Path) -> None:
    host, rootfs = tmp_path / "host", tmp_path / "ctr"
    for root, text in ((host, PASSWD), (rootfs, "nobody:x:65534:65534::/:/bin/false\n")):
        (root / "etc").mkdir(parents=True)
        (root / "etc" / "passwd").write_text(text)
        (root / "etc" / "group").write_text("nogroup:x:65534:\n")
    table = UserTable(str(host))
    ctr = Container(id="c", name="c", kind="bastion", rootfs=str(rootfs))
    assert table.user(1000) is not None and table.user(65534) is None
    found = table.user(65534, ctr)
    assert found is not None and found.name == "nobody"
    assert table.user(0, ctr) is None  # the container has no root entry: <NA>, not the host's
    group = table.group(65534, ctr)
    assert group is not None and group.name == "nogroup"
    assert table.loads == 2
    no_root = Container(id="d", name="d", kind="docker")
    assert table.user(0, no_root) is None


def test_read_sockets(tmp_path: Path) -> None:
    tail = " 00000000:00000000 00:00000000 00000000 0 0 {} 1"
    (tmp_path / "tcp").write_text(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt uid ...\n"
        "   0: 0100007F:1F90 00000000:0000 0A" + tail.format(111) + "\n"
        "   1: 0100007F:1F90 0900000A:15B3 01" + tail.format(112) + "\n"
        "   2: 0100007F:9C40 0900000A:01BB 01" + tail.format(113) + "\n"
    )
    (tmp_path / "tcp6").write_text(
        "  sl  local_address                         remote_address                        st\n"
        "   0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A"
        " 00000000:00000000 00:00000000 00000000     0        0 114 1\n"
    )
    (tmp_path / "unix").write_text(
        "Num       RefCount Protocol Flags    Type St Inode Path\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 115 /run/sock\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 116\n"
    )
    found = read_sockets(str(tmp_path))
    assert found[111].name == "127.0.0.1:8080" and found[111].is_server
    assert found[112].name == "10.0.0.9:5555->127.0.0.1:8080" and found[112].is_server
    assert found[113].name == "127.0.0.1:40000->10.0.0.9:443" and not found[113].is_server
    assert found[114].type == FdType.IPV6 and found[114].name == "::1:80"
    assert found[115].name == "/run/sock" and found[116].type == FdType.UNIX


def test_seed_from_scap(tmp_path: Path) -> None:
    def info(tid: int, pid: int, ptid: int, comm: str, cgroups: tuple[str, ...] = ()) -> ThreadInfo:
        return ThreadInfo(
            tid=tid, pid=pid, ptid=ptid, sid=1, vpgid=1, comm=comm, exe=comm,
            exepath=f"/bin/{comm}", args=("-x",), cwd="/", fdlimit=1024, flags=0, uid=0,
            gid=0, vmsize_kb=0, vmrss_kb=0, vmswap_kb=0, pfmajor=0, pfminor=0, env=(),
            vtid=-1, vpid=-1, cgroups=cgroups, root="/", pidns_init_start_ts=0, tty=0,
            loginuid=0xFFFFFFFF, exe_writable=False, cap_inheritable=0, cap_permitted=0,
            cap_effective=0,
        )  # fmt: skip

    s = SensorState(proc_root=str(tmp_path))
    added = s.seed_from_scap(
        [
            info(1, 1, 0, "init"),
            info(20, 20, 1, "nginx", (f"cpu=/docker/{HEX}",)),
            info(21, 20, 1, "nginx"),
        ],
        [
            FdInfo(tid=20, fd=3, ino=1, type=5, sip="0.0.0.0", sport=80, l4proto=2),
            FdInfo(
                tid=20, fd=4, ino=2, type=3, sip="10.0.0.1", sport=80, dip="10.0.0.2", dport=999,
                l4proto=2,
            ),
            FdInfo(tid=20, fd=5, ino=3, type=16, name="/var/log/x", open_flags=3),
        ],
        [User(uid=0, gid=0, name="root", home="/root", shell="/bin/sh")],
        [Group(gid=0, name="root")],
    )  # fmt: skip
    assert added == 3 and not s.live
    nginx, worker = s.process(20), s.threads.get(21)
    assert nginx is not None and worker is not None
    assert worker.fds is nginx.fds and nginx.fds[3].name == "0.0.0.0:80" and nginx.fds[3].is_server
    assert nginx.fds[4].name == "10.0.0.1:80->10.0.0.2:999" and nginx.fds[4].l4proto == "tcp"
    assert nginx.fds[5].type == FdType.FILE and nginx.loginuid == -1
    assert s.container_of(nginx).id == HEX and s.container_of(nginx).kind == "docker"
    assert [t.comm for t in s.ancestors(worker)] == ["init"]
    root = s.users.user(0)
    assert root is not None and root.shell == "/bin/sh"


CAPTURES = shared_data.shared_path(*shared_data.CAPTURES)


@shared_data.needs(*shared_data.CAPTURES)
@pytest.mark.parametrize("name", ["open-multiple-files.scap", "psp_run_as_user_0_container.scap"])
def test_seed_from_a_real_capture(name: str) -> None:
    from bastion.sensor.capture.scap import FdList, ProcessList, UserList, open_scap

    threads: list[ThreadInfo] = []
    fd_lists: dict[int, int] = {}
    fds: list[FdInfo] = []
    users: list[User] = []
    for block in open_scap(CAPTURES / name).blocks():
        if isinstance(block, ProcessList):
            threads.extend(block.threads)
        elif isinstance(block, FdList):
            fds.extend(block.fds)
            fd_lists[block.tid] = len({f.fd for f in block.fds})
        elif isinstance(block, UserList):
            users.extend(block.users)
    s = SensorState(runtime_roots=())
    assert s.seed_from_scap(threads, fds, users) == len(threads)
    for info in threads:
        thread = s.threads.get(info.tid)
        main = s.process(info.pid)
        assert thread is not None and main is not None and thread.fds is main.fds
        if info.tid == info.pid:
            assert len(thread.fds) == fd_lists.get(info.tid, 0)
        in_docker = any(engine_container(c.partition("=")[2]) for c in info.cgroups)
        assert (s.container_of(thread).kind == "docker") == in_docker
    named = {u.uid: u.name for u in users}
    for uid, user_name in named.items():
        found = s.users.user(uid)
        assert found is not None and found.name == user_name


def _meta(kind: str, **params: object) -> Event:
    return Event(
        num=1, ts=1, cpu=0, tid=2**64 - 1, pid=0, type=kind, dir=">", category="internal",
        params=params, specs={},
    )  # fmt: skip


def test_capture_container_events_describe_the_container(tmp_path: Path) -> None:
    """A capture's ``container`` event (libsinsp's JSON) names the container its cgroup is
    found in, whether the cgroup was met before or after it; the event itself reads that
    container through a thread of no process (tid -1, not in the thread table)."""
    s = SensorState(runtime_roots=(), proc_root=str(tmp_path))
    s.seed_from_scap([], [])
    before = s.add_thread(Thread(tid=60, pid=60, cgroups=(("cpu", f"/docker/{HEX}"),)))
    s._place(before)
    doc = {
        "container": {
            "id": HEX[:12], "name": "hopeful_taussig", "type": 0, "image": "nginx",
            "imageid": "f68d", "imagerepo": "nginx", "imagetag": "latest",
            "imagedigest": "sha256:96fb", "privileged": False, "labels": {"a": "b"},
        }
    }  # fmt: skip
    e = _meta("container", json=json.dumps(doc))
    s.apply(e)
    assert e.thread is not None and e.thread.tid == -1 and s.threads.get(2**64 - 1) is None
    assert s.container_of(e.thread).id == HEX
    c = s.container_of(before)
    assert (c.id, c.name, c.kind, c.image, c.image_id) == (
        HEX,
        "hopeful_taussig",
        "docker",
        "nginx",
        "f68d",
    )
    assert (c.image_repo, c.image_tag, c.image_digest) == ("nginx", "latest", "sha256:96fb")
    assert c.labels == {"a": "b"} and c.privileged is False
    other = "b" * 64
    s.apply(_meta("container", json=json.dumps({"container": {"id": other[:12], "name": "late"}})))
    after = s.add_thread(Thread(tid=61, pid=61, cgroups=(("cpu", f"/docker/{other}"),)))
    s._place(after)
    assert s.container_of(after).name == "late"
    s.apply(_meta("container", json="{not json"))  # a damaged record changes nothing
    assert s.container_of(after).name == "late"


def test_capture_user_events_fill_the_user_table(tmp_path: Path) -> None:
    s = SensorState(runtime_roots=(), proc_root=str(tmp_path), host_root=str(tmp_path))
    s.seed_from_scap([], [])
    s.apply(_meta("useradded", uid=113, gid=46, name="usbmux", home="/var/lib/usbmux",
                  shell="/usr/sbin/nologin", container_id=""))  # fmt: skip
    s.apply(_meta("groupadded", gid=46, name="plugdev", container_id=""))
    user = s.users.user(113)
    assert user is not None and (user.name, user.home) == ("usbmux", "/var/lib/usbmux")
    group = s.users.group(46)
    assert group is not None and group.name == "plugdev"
