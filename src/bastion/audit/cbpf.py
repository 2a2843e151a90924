"""Run a seccomp BPF program on a syscall, as the kernel would.

The audit runs the filters it reads from a live process (`bastion._sys.ptrace`) on every syscall
number to count what they allow; the runtime's tests check the filters libseccomp compiles by
their effect the same way, whatever the libseccomp version that generated the program and
however it laid the program out (its readable PFC export changed between 2.5 and 2.6). The
interpreter covers classic BPF as the kernel's `seccomp_check_filter` admits it: loads from
`struct seccomp_data`, the scratch memory, ALU and jumps on constants or X, `ret`. A test holds
it to the kernel's own verdicts (tests/unit/runtime/test_seccomp.py).
"""

from __future__ import annotations

import struct

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6];
_DATA = struct.Struct("<iIQ6Q")
_INSN = struct.Struct("<HBBI")  # struct sock_filter: code, jt, jf, k
_M32 = 0xFFFFFFFF

# audit arches (linux/audit.h) and the x32 syscall bit (asm/unistd.h)
AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCH_AARCH64 = 0xC00000B7
X32_SYSCALL_BIT = 0x40000000

# seccomp return values (linux/seccomp.h)
RET_KILL_PROCESS = 0x80000000
RET_KILL_THREAD = 0x00000000
RET_TRAP = 0x00030000
RET_ERRNO = 0x00050000
RET_USER_NOTIF = 0x7FC00000
RET_TRACE = 0x7FF00000
RET_LOG = 0x7FFC0000
RET_ALLOW = 0x7FFF0000
RET_ACTION_FULL = 0xFFFF0000  # the action bits of a return value (the rest is its data)

# The kernel runs every filter and keeps the action that comes first here (seccomp.c)
_PRECEDENCE = (
    RET_KILL_PROCESS,
    RET_KILL_THREAD,
    RET_TRAP,
    RET_ERRNO,
    RET_USER_NOTIF,
    RET_TRACE,
    RET_LOG,
    RET_ALLOW,
)


def instructions(program: bytes) -> list[tuple[int, int, int, int]]:
    return [_INSN.unpack_from(program, i) for i in range(0, len(program), _INSN.size)]


def run(
    program: bytes,
    nr: int,
    *args: int,
    arch: int = AUDIT_ARCH_X86_64,
    ip: int = 0,
) -> int:
    """The SECCOMP_RET_* value `program` returns for syscall `nr` with `args` on `arch`."""
    full = [*args, 0, 0, 0, 0, 0, 0][:6]
    data = _DATA.pack(nr, arch, ip, *(a & (2**64 - 1) for a in full))
    code = instructions(program)
    a = x = 0
    mem = [0] * 16
    pc = 0
    for _ in range(4096):  # the kernel caps a program at 4096 instructions and has no loops
        op, jt, jf, k = code[pc]
        pc += 1
        cls = op & 0x07
        if cls == 0x00:  # BPF_LD
            mode = op & 0xE0
            if mode == 0x20:  # ABS, 32-bit words only in seccomp
                a = struct.unpack_from("<I", data, k)[0]
            elif mode == 0x00:  # IMM
                a = k
            elif mode == 0x60:  # MEM
                a = mem[k]
            elif mode == 0x80:  # LEN
                a = _DATA.size
            else:
                raise ValueError(f"unsupported load 0x{op:x}")
        elif cls == 0x01:  # BPF_LDX
            mode = op & 0xE0
            x = k if mode == 0x00 else mem[k] if mode == 0x60 else _DATA.size
        elif cls == 0x02:  # BPF_ST
            mem[k] = a
        elif cls == 0x03:  # BPF_STX
            mem[k] = x
        elif cls == 0x04:  # BPF_ALU
            operand = x if op & 0x08 else k
            a = _alu(op & 0xF0, a, operand)
        elif cls == 0x05:  # BPF_JMP
            kind = op & 0xF0
            if kind == 0x00:  # JA
                pc += k
                continue
            operand = x if op & 0x08 else k
            taken = {
                0x10: a == operand,
                0x20: a > operand,
                0x30: a >= operand,
                0x40: bool(a & operand),
            }[kind]
            pc += jt if taken else jf
        elif cls == 0x06:  # BPF_RET
            return a if op & 0x18 == 0x10 else k
        elif cls == 0x07:  # BPF_MISC
            if op & 0xF8 == 0x00:  # TAX
                x = a
            else:  # TXA
                a = x
    raise ValueError("the seccomp program did not return")


def _alu(kind: int, a: int, k: int) -> int:
    if kind == 0x80:  # NEG
        return -a & _M32
    result = {
        0x00: lambda: a + k,
        0x10: lambda: a - k,
        0x20: lambda: a * k,
        0x30: lambda: a // k,
        0x40: lambda: a | k,
        0x50: lambda: a & k,
        0x60: lambda: a << k,
        0x70: lambda: a >> k,
        0x90: lambda: a % k,
        0xA0: lambda: a ^ k,
    }[kind]()
    return result & _M32


def run_all(programs: list[bytes], nr: int, *args: int, arch: int = AUDIT_ARCH_X86_64) -> int:
    """The return value a stack of filters gives for syscall `nr`: each program runs and the
    one whose action has the highest precedence wins (an unknown action counts as kill)."""
    best: int | None = None
    rank = len(_PRECEDENCE)
    for program in programs:
        value = run(program, nr, *args, arch=arch)
        action = value & RET_ACTION_FULL
        this = _PRECEDENCE.index(action) if action in _PRECEDENCE else 0
        if best is None or this < rank:
            best, rank = value, this
    return RET_ALLOW if best is None else best
