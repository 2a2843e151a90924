"""Property: any `linux.seccomp` JSON either compiles or raises SpecError with a path, never more.

Random seccomp objects (valid and invalid names, actions, operators, indexes, errnos, arches,
flags, wrong JSON types) go through the whole chain `create` uses: decode_spec → validate_spec →
check_seccomp → compile_filter: whatever the one validator lets through compiles (compile_filter
trusts it) or is refused for what only this libseccomp knows. Nothing is loaded, so no root is
needed.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bastion import jsonio
from bastion.oci import SpecError, decode_spec, validate_spec
from bastion.oci.vocabulary import (
    SECCOMP_ACTIONS,
    SECCOMP_ARCHITECTURES,
    SECCOMP_FLAGS,
    SECCOMP_OPERATORS,
)
from bastion.runtime import seccomp

FUZZ = settings(
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ACTIONS = st.sampled_from([*SECCOMP_ACTIONS, "SCMP_ACT_ERRNO", "SCMP_ACT_ALLOW", "SCMP_ACT_NOPE"])
BAD_ACTIONS = st.sampled_from(["SCMP_ACT_NOPE", "ALLOW", "", "scmp_act_allow"])
NAMES = st.one_of(
    st.sampled_from(
        ["mkdir", "mkdirat", "write", "read", "getpid", "_llseek", "socketcall", "clone3", "mseal"]
    ),
    st.sampled_from(["kill", "personality", "socket", "ptrace", "clone", "openat", "ioctl"]),
    st.sampled_from(["bst_no_such_call", "", "1st", "a b", "Mkdir", "x" * 70, "é"]),
    st.text(max_size=8),
)
UINTS = st.one_of(
    st.sampled_from([0, 1, 5, 6, 7, 38, 4095, 65535, 65536, 2**31, 2**32 - 1, 2**32, 2**64 - 1]),
    st.integers(min_value=0, max_value=2**64 - 1),
    st.integers(min_value=-2, max_value=2**64 + 1),
)
JUNK = st.one_of(
    st.none(), st.booleans(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=4)
)


def seccomp_objects(junk: bool) -> st.SearchStrategy[dict[str, Any]]:
    """linux.seccomp objects; with `junk`, about one value in five has the wrong JSON type."""

    def typed(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(valid, valid, valid, valid, JUNK) if junk else valid

    uints = UINTS if junk else st.sampled_from([0, 1, 13, 38, 4095, 65535, 65536, 2**32 - 1])
    actions = st.one_of(ACTIONS, BAD_ACTIONS) if junk else ACTIONS
    args = st.fixed_dictionaries(
        {
            "index": typed(st.integers(min_value=0, max_value=7)),
            "value": UINTS if junk else st.sampled_from([0, 1, 8, 2114060288, 2**64 - 1]),
            "op": typed(st.sampled_from([*SECCOMP_OPERATORS, "SCMP_CMP_XX"])),
        },
        optional={"valueTwo": UINTS if junk else st.sampled_from([0, 1, 2**32])},
    )
    syscalls = st.fixed_dictionaries(
        {
            "names": typed(st.lists(NAMES, min_size=1, max_size=4)),
            "action": typed(actions),
        },
        optional={"errnoRet": typed(uints), "args": typed(st.lists(args, max_size=4))},
    )
    return st.fixed_dictionaries(
        {"defaultAction": typed(actions)},
        optional={
            "defaultErrnoRet": typed(uints),
            "architectures": st.lists(
                st.sampled_from([*SECCOMP_ARCHITECTURES, "SCMP_ARCH_NATIVE", "x86_64"]),
                max_size=3,
            ),
            "flags": st.lists(
                st.sampled_from([*SECCOMP_FLAGS, "SECCOMP_FILTER_FLAG_X"]), max_size=2
            ),
            "listenerPath": st.sampled_from(["/run/agent.sock", ""]),
            "listenerMetadata": st.text(max_size=4),
            "syscalls": typed(st.lists(syscalls, max_size=6)),
        },
    )


@FUZZ
@given(seccomp_objects(junk=False))
def test_well_typed_seccomp_objects_compile_or_raise_spec_error(obj: dict[str, Any]) -> None:
    compiles_or_spec_error(obj)


@FUZZ
@given(seccomp_objects(junk=True))
def test_any_seccomp_object_compiles_or_raises_spec_error(obj: dict[str, Any]) -> None:
    compiles_or_spec_error(obj)


def compiles_or_spec_error(obj: dict[str, Any]) -> None:
    config = {"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "linux": {"seccomp": obj}}
    rejected: SpecError | None = None
    try:
        spec = decode_spec(jsonio.dumps(config))
        validate_spec(spec)
        seccomp.check_seccomp(spec)
    except SpecError as exc:
        rejected = exc
    if rejected is not None:
        assert rejected.where is not None and rejected.where.startswith("linux.seccomp")
        event(f"rejected: {rejected.reference}")
        return
    assert spec.linux is not None and spec.linux.seccomp is not None
    try:
        flt = seccomp.compile_filter(spec.linux.seccomp)
    except SpecError as exc:
        rejected = exc
    if rejected is not None:
        # What only libseccomp knows: arches and flags this version lacks, byte-order mixes.
        assert rejected.where is not None
        assert rejected.where.startswith(("linux.seccomp.architectures", "linux.seccomp.flags"))
        event("compile refused: " + rejected.where.split("[")[0])
        return
    try:
        assert flt.export_bpf()
        event("compiled")
    finally:
        flt.release()
