// SPDX-License-Identifier: GPL-2.0
// GENERATED from src/bastion/sensor/events/schema.py by
// `python -m bastion.sensor.probe.header`: do not edit by hand.
// BST_EVT_<NAME>: the event code in a record header; BST_NPARAMS_<NAME>: how many
// parameters (length slots) its record carries; BST_WRITE_<NAME>: the statements that
// write them, in schema.py's order (in scope: rp, and ret and a for syscall events).
// BST_SYSCALL_EVENTS: BST_CASE(NAME) for every event a syscall's exit produces.
// BST_OPEN_FILTER_EVENTS: BST_OPEN_CASE(NAME, path, flags) for the opens the
// kernel-side open filter may keep (sensor/kernel_filter.py), path and flags the C
// expressions of the user path pointer and the open flags (in scope: a);
// BST_CLOSE_FILTER_EVENTS: BST_CLOSE_CASE(NAME, fd) for the closes it may keep, fd
// the C expression of the closed fd (in scope: a), so it is checked before the record.
#ifndef BASTION_EVENTS_H
#define BASTION_EVENTS_H

#define BST_EVT_EXECVE 1
#define BST_NPARAMS_EXECVE 20
#define BST_EVT_EXECVEAT 2
#define BST_NPARAMS_EXECVEAT 22
#define BST_EVT_CLONE 3
#define BST_NPARAMS_CLONE 13
#define BST_EVT_PROCEXIT 4
#define BST_NPARAMS_PROCEXIT 5
#define BST_EVT_OPEN 5
#define BST_NPARAMS_OPEN 6
#define BST_EVT_OPENAT 6
#define BST_NPARAMS_OPENAT 7
#define BST_EVT_OPENAT2 7
#define BST_NPARAMS_OPENAT2 8
#define BST_EVT_CREAT 8
#define BST_NPARAMS_CREAT 5
#define BST_EVT_CLOSE 9
#define BST_NPARAMS_CLOSE 2
#define BST_EVT_DUP 10
#define BST_NPARAMS_DUP 2
#define BST_EVT_DUP2 11
#define BST_NPARAMS_DUP2 3
#define BST_EVT_DUP3 12
#define BST_NPARAMS_DUP3 4
#define BST_EVT_UNLINK 13
#define BST_NPARAMS_UNLINK 2
#define BST_EVT_UNLINKAT 14
#define BST_NPARAMS_UNLINKAT 4
#define BST_EVT_RENAME 15
#define BST_NPARAMS_RENAME 3
#define BST_EVT_RENAMEAT 16
#define BST_NPARAMS_RENAMEAT 5
#define BST_EVT_RENAMEAT2 17
#define BST_NPARAMS_RENAMEAT2 6
#define BST_EVT_MKDIR 18
#define BST_NPARAMS_MKDIR 3
#define BST_EVT_MKDIRAT 19
#define BST_NPARAMS_MKDIRAT 4
#define BST_EVT_RMDIR 20
#define BST_NPARAMS_RMDIR 2
#define BST_EVT_SYMLINK 21
#define BST_NPARAMS_SYMLINK 3
#define BST_EVT_SYMLINKAT 22
#define BST_NPARAMS_SYMLINKAT 4
#define BST_EVT_LINK 23
#define BST_NPARAMS_LINK 3
#define BST_EVT_LINKAT 24
#define BST_NPARAMS_LINKAT 6
#define BST_EVT_CHMOD 25
#define BST_NPARAMS_CHMOD 3
#define BST_EVT_FCHMOD 26
#define BST_NPARAMS_FCHMOD 3
#define BST_EVT_FCHMODAT 27
#define BST_NPARAMS_FCHMODAT 4
#define BST_EVT_CHOWN 28
#define BST_NPARAMS_CHOWN 4
#define BST_EVT_LCHOWN 29
#define BST_NPARAMS_LCHOWN 4
#define BST_EVT_FCHOWN 30
#define BST_NPARAMS_FCHOWN 4
#define BST_EVT_FCHOWNAT 31
#define BST_NPARAMS_FCHOWNAT 6
#define BST_EVT_CHDIR 32
#define BST_NPARAMS_CHDIR 2
#define BST_EVT_FCHDIR 33
#define BST_NPARAMS_FCHDIR 2
#define BST_EVT_CHROOT 34
#define BST_NPARAMS_CHROOT 2
#define BST_EVT_PIVOT_ROOT 35
#define BST_NPARAMS_PIVOT_ROOT 3
#define BST_EVT_MEMFD_CREATE 36
#define BST_NPARAMS_MEMFD_CREATE 3
#define BST_EVT_PIPE 37
#define BST_NPARAMS_PIPE 4
#define BST_EVT_PIPE2 38
#define BST_NPARAMS_PIPE2 5
#define BST_EVT_SOCKET 39
#define BST_NPARAMS_SOCKET 4
#define BST_EVT_CONNECT 40
#define BST_NPARAMS_CONNECT 4
#define BST_EVT_ACCEPT 41
#define BST_NPARAMS_ACCEPT 5
#define BST_EVT_ACCEPT4 42
#define BST_NPARAMS_ACCEPT4 6
#define BST_EVT_BIND 43
#define BST_NPARAMS_BIND 3
#define BST_EVT_LISTEN 44
#define BST_NPARAMS_LISTEN 3
#define BST_EVT_SENDTO 45
#define BST_NPARAMS_SENDTO 5
#define BST_EVT_SENDMSG 46
#define BST_NPARAMS_SENDMSG 5
#define BST_EVT_RECVFROM 47
#define BST_NPARAMS_RECVFROM 5
#define BST_EVT_RECVMSG 48
#define BST_NPARAMS_RECVMSG 5
#define BST_EVT_SETUID 49
#define BST_NPARAMS_SETUID 2
#define BST_EVT_SETGID 50
#define BST_NPARAMS_SETGID 2
#define BST_EVT_SETRESUID 51
#define BST_NPARAMS_SETRESUID 4
#define BST_EVT_SETRESGID 52
#define BST_NPARAMS_SETRESGID 4
#define BST_EVT_CAPSET 53
#define BST_NPARAMS_CAPSET 4
#define BST_EVT_PTRACE 54
#define BST_NPARAMS_PTRACE 5
#define BST_EVT_INIT_MODULE 55
#define BST_NPARAMS_INIT_MODULE 4
#define BST_EVT_FINIT_MODULE 56
#define BST_NPARAMS_FINIT_MODULE 4
#define BST_EVT_MOUNT 57
#define BST_NPARAMS_MOUNT 5
#define BST_EVT_UMOUNT2 58
#define BST_NPARAMS_UMOUNT2 3
#define BST_EVT_UNSHARE 59
#define BST_NPARAMS_UNSHARE 2
#define BST_EVT_SETNS 60
#define BST_NPARAMS_SETNS 3
#define BST_EVT_BPF 61
#define BST_NPARAMS_BPF 2
#define BST_EVT_KILL 62
#define BST_NPARAMS_KILL 3
#define BST_EVT_PRCTL 63
#define BST_NPARAMS_PRCTL 4
#define BST_EVT_READ 64
#define BST_NPARAMS_READ 4
#define BST_EVT_WRITE 65
#define BST_NPARAMS_WRITE 4
#define BST_EVT_FCHMODAT2 66
#define BST_NPARAMS_FCHMODAT2 5

#define BST_EVT_MAX 67

#define BST_WRITE_EXECVE \
	p_s64(rp, ret); \
	p_exec_common(rp, ret, a->a[1], a->a[2]); \
	p_exec_filename(rp, ret, a->a[0]); \
	do {} while (0)
#define BST_WRITE_EXECVEAT \
	p_s64(rp, ret); \
	p_exec_common(rp, ret, a->a[2], a->a[3]); \
	p_s64(rp, (int)a->a[0]); \
	p_ustr(rp, a->a[1]); \
	p_u32(rp, a->a[4]); \
	do {} while (0)
#define BST_WRITE_CLONE \
	p_s64(rp, 0); \
	p_mm_argv(rp); \
	p_s64(rp, tid); \
	p_s64(rp, tgid); \
	p_s64(rp, BPF_CORE_READ(child, real_parent, pid)); \
	p_path(rp, 0); \
	p_comm(rp); \
	p_u32(rp, flags); \
	p_u32(rp, BPF_CORE_READ(child, cred, uid.val)); \
	p_u32(rp, BPF_CORE_READ(child, cred, gid.val)); \
	p_s64(rp, bst_ns_nr(BPF_CORE_READ(child, thread_pid))); \
	p_s64(rp, bst_ns_nr(BPF_CORE_READ(child, group_leader, thread_pid))); \
	do {} while (0)
#define BST_WRITE_PROCEXIT \
	p_s64(rp, code); \
	p_s64(rp, (code >> 8) & 0xff); \
	p_u8(rp, code & 0x7f); \
	p_u8(rp, (code & 0x80) ? 1 : 0); \
	p_none(rp); \
	do {} while (0)
#define BST_WRITE_OPEN \
	p_s64(rp, ret); \
	p_ustr(rp, a->a[0]); \
	p_u32(rp, a->a[1]); \
	p_u32(rp, a->a[2]); \
	p_dev_ino(rp, ret); \
	do {} while (0)
#define BST_WRITE_OPENAT \
	p_s64(rp, ret); \
	p_s64(rp, (int)a->a[0]); \
	p_ustr(rp, a->a[1]); \
	p_u32(rp, a->a[2]); \
	p_u32(rp, a->a[3]); \
	p_dev_ino(rp, ret); \
	do {} while (0)
#define BST_WRITE_OPENAT2 \
	p_s64(rp, ret); \
	p_s64(rp, (int)a->a[0]); \
	p_ustr(rp, a->a[1]); \
	p_open_how(rp, a->a[2]); \
	p_dev_ino(rp, ret); \
	do {} while (0)
#define BST_WRITE_CREAT \
	p_s64(rp, ret); \
	p_ustr(rp, a->a[0]); \
	p_u32(rp, a->a[1]); \
	p_dev_ino(rp, ret); \
	do {} while (0)
#define BST_WRITE_CLOSE \
	p_s64(rp, ret); \
	p_s64(rp, (int)a->a[0]); \
	do {} while (0)
#define BST_WRITE_DUP \
	p_s64(rp, ret); \
	p_s64(rp, (int)a->a[0]); \
	do {} while (0)
#define BST_WRITE_DUP2 \
	p_s64(rp, ret); \
	p_s64(rp, (int)a->a[0]); \
	p_s64(rp, (int)a->a[1]); \
	do {} while (0)
#define BST_WRITE_DUP3 \
	p_s64(rp, ret); \
	p_s64(rp, (int)a->a[0]); \
	p_s64(rp, (int)a->a[1]); \
	p_u32(rp, a->a[2]); \
	do {} while (0)
#define BST_WRITE_UNLINK \
	p_s64(rp, ret); \
	p_ustr(rp, a->a[0]); \
	do {} while (0)
#define BST_WRITE_UNLINKAT \
	p_s64(rp, ret); \
	p_s64(rp, (int)a->a[0]); \
	p_ustr(rp, a->a[1]); \
	p_u32(rp, a->a[2]); \
	do {} while (0)
#define BST_WRITE_RENAME \
	p_s64(rp, ret); \
	p_ustr(rp, a->a[0]); \
	p_ustr(rp, a->a[1]); \
	do {} while (0)
#define BST_WRITE_RENAMEAT \
	p_s64(rp, ret); \
	p_s64(rp, (int)a->a[0]); \
	p_ustr(rp, a->a[1]); \
	p_s64(rp, (int)a->a[2]); \
	p_ustr(rp, a->a[3]); \
	do {} while (0)
#define BST_WRITE_RENAMEAT2 \
	p_s64(rp, ret); \
	p_s64(rp, (int)a->a[0]); \
	p_ustr(rp, a->a[1]); \
	p_s64(rp, (int)a->a[2]); \
	p_ustr(rp, a->a[3]); \
	p_u32(rp, a->a[4]); \
	do {} while (0)
#define BST_WRITE_MKDIR \
	p_s64(rp, ret); \
	p_ustr(rp, a->a[0]); \
	p_u32(rp, a->a[1]); \
	do {} while (0)
#define BST_WRITE_MKDIRAT \
	p_s64(rp, ret); \
	p_s64(rp, (int)a->a[0]); \
	p_ustr(rp, a->a[1]); \
	p_u32(rp, a->a[2]); \
	do {} while (0)
#define BST_WRITE_RMDIR \
	p_s64(rp, ret); \
	p_ustr(rp, a->a[0]); \
	do {} while (0)
#define BST_WRITE_SYMLINK \
	p_s64(rp, ret); \
	p_ustr(rp, a->a[0]); \
	p_ustr(rp, a->a[1]); \
	do {} while (0)
#define BST_WRITE_SYMLINKAT \
	p_s64(rp, ret); \
	p_ustr(rp, a->a[0]); \
	p_s64(rp, (int)a->a[1]); \
	p_ustr(rp, a->a[2]); \
	do {} while (0)
#define BST_WRITE_LINK \
	p_s64(rp, ret); \
	p_ustr(rp, a->a[0]); \
	p_ustr(rp, a->a[1]); \
	do {} while (0)
#define BST_WRITE_LINKAT \
	p_s64(rp, ret); \
	p_s64(rp, (int)a->a[0]); \
	p_ustr(rp, a->a[1]); \
	p_s64(rp, (int)a->a[2]); \
	p_ustr(rp, a->a[3]); \
	p_u32(rp, a->a[4]); \
	do {} while (0)
#define BST_WRITE_CHMOD \
	p_s64(rp, ret); \
	p_ustr(rp, a->a[0]); \
	p_u32(rp, a->a[1]); \
	do {} while (0)
#define BST_WRITE_FCHMOD \
	p_s64(rp, ret); \
	p_s64(rp, (int)a->a[0]); \
	p_u32(rp, a->a[1]); \
	do {} while (0)
#define BST_WRITE_FCHMODAT \
	p_s64(rp, ret); \
	p_s64(rp, (int)a->a[0]); \
	p_ustr(rp, a->a[1]); \
	p_u32(rp, a->a[2]); \
	do {} while (0)
#define BST_WRITE_CHOWN \
	p_s64(rp, ret); \
	p_ustr(rp, a->a[0]); \
	p_u32(rp, a->a[1]); \
	p_u32(rp, a->a[2]); \
	do {} while (0)
#define BST_WRITE_LCHOWN \
	p_s64(rp, ret); \
	p_ustr(rp, a->a[0]); \
	p_u32(rp, a->a[1]); \
	p_u32(rp, a->a[2]); \
	do {} while (0)
#define BST_WRITE_FCHOWN \
	p_s64(rp, ret); \
	p_s64(rp, (int)a->a[0]); \
	p_u32(rp, a->a[1]); \
	p_u32(rp, a->a[2]); \
	do {} while (0)
#define BST_WRITE_FCHOWNAT \
	p_s64(rp, ret); \
	p_s64(rp, (int)a->a[0]); \
	p_ustr(rp, a->a[1]); \
	p_u32(rp, a->a[2]); \
	p_u32(rp, a->a[3]); \
	p_u32(rp, a->a[4]); \
	do {} while (0)
#define BST_WRITE_CHDIR \
	p_s64(rp, ret); \
	p_ustr(rp, a->a[0]); \
	do {} while (0)
#define BST_WRITE_FCHDIR \
	p_s64(rp, ret); \
	p_s64(rp, (int)a->a[0]); \
	do {} while (0)
#define BST_WRITE_CHROOT \
	p_s64(rp, ret); \
	p_ustr(rp, a->a[0]); \
	do {} while (0)
#define BST_WRITE_PIVOT_ROOT \
	p_s64(rp, ret); \
	p_ustr(rp, a->a[0]); \
	p_ustr(rp, a->a[1]); \
	do {} while (0)
#define BST_WRITE_MEMFD_CREATE \
	p_s64(rp, ret); \
	p_ustr(rp, a->a[0]); \
	p_u32(rp, a->a[1]); \
	do {} while (0)
#define BST_WRITE_PIPE \
	p_s64(rp, ret); \
	p_pipe_fds(rp, ret, a->a[0]); \
	do {} while (0)
#define BST_WRITE_PIPE2 \
	p_s64(rp, ret); \
	p_pipe_fds(rp, ret, a->a[0]); \
	p_u32(rp, a->a[1]); \
	do {} while (0)
#define BST_WRITE_SOCKET \
	p_s64(rp, ret); \
	p_u32(rp, a->a[0]); \
	p_u32(rp, a->a[1]); \
	p_u32(rp, a->a[2]); \
	do {} while (0)
#define BST_WRITE_CONNECT \
	p_s64(rp, ret); \
	p_tuple(rp, (int)a->a[0], 0, 0); \
	p_s64(rp, (int)a->a[0]); \
	p_ubytes(rp, a->a[1], a->a[2] > BST_SOCKADDR_MAX ? BST_SOCKADDR_MAX : a->a[2]); \
	do {} while (0)
#define BST_WRITE_ACCEPT \
	p_s64(rp, ret); \
	p_tuple(rp, ret, 1, 0); \
	p_accept_queue(rp, (int)a->a[0]); \
	do {} while (0)
#define BST_WRITE_ACCEPT4 \
	p_s64(rp, ret); \
	p_tuple(rp, ret, 1, 0); \
	p_accept_queue(rp, (int)a->a[0]); \
	p_s32(rp, a->a[3]); \
	do {} while (0)
#define BST_WRITE_BIND \
	p_s64(rp, ret); \
	p_ubytes(rp, a->a[1], a->a[2] > BST_SOCKADDR_MAX ? BST_SOCKADDR_MAX : a->a[2]); \
	p_s64(rp, (int)a->a[0]); \
	do {} while (0)
#define BST_WRITE_LISTEN \
	p_s64(rp, ret); \
	p_s64(rp, (int)a->a[0]); \
	p_s32(rp, a->a[1]); \
	do {} while (0)
#define BST_WRITE_SENDTO \
	p_s64(rp, ret); \
	p_snap(rp, a->a[1], a->a[2]); \
	p_s64(rp, (int)a->a[0]); \
	p_u32(rp, a->a[2]); \
	p_tuple(rp, (int)a->a[0], 0, a->a[4]); \
	do {} while (0)
#define BST_WRITE_SENDMSG \
	p_s64(rp, ret); \
	p_sendmsg(rp, (int)a->a[0], a->a[1]); \
	do {} while (0)
#define BST_WRITE_RECVFROM \
	p_s64(rp, ret); \
	p_snap(rp, a->a[1], ret); \
	p_tuple(rp, (int)a->a[0], 0, ret >= 0 ? a->a[4] : 0); \
	p_s64(rp, (int)a->a[0]); \
	p_u32(rp, a->a[2]); \
	do {} while (0)
#define BST_WRITE_RECVMSG \
	p_s64(rp, ret); \
	p_recvmsg(rp, ret, (int)a->a[0], a->a[1]); \
	do {} while (0)
#define BST_WRITE_SETUID \
	p_s64(rp, ret); \
	p_u32(rp, a->a[0]); \
	do {} while (0)
#define BST_WRITE_SETGID \
	p_s64(rp, ret); \
	p_u32(rp, a->a[0]); \
	do {} while (0)
#define BST_WRITE_SETRESUID \
	p_s64(rp, ret); \
	p_u32(rp, a->a[0]); \
	p_u32(rp, a->a[1]); \
	p_u32(rp, a->a[2]); \
	do {} while (0)
#define BST_WRITE_SETRESGID \
	p_s64(rp, ret); \
	p_u32(rp, a->a[0]); \
	p_u32(rp, a->a[1]); \
	p_u32(rp, a->a[2]); \
	do {} while (0)
#define BST_WRITE_CAPSET \
	p_s64(rp, ret); \
	p_caps(rp); \
	do {} while (0)
#define BST_WRITE_PTRACE \
	p_s64(rp, ret); \
	p_u64(rp, a->a[2]); \
	p_u64(rp, a->a[3]); \
	p_u16(rp, a->a[0]); \
	p_s64(rp, (int)a->a[1]); \
	do {} while (0)
#define BST_WRITE_INIT_MODULE \
	p_s64(rp, ret); \
	p_snap(rp, a->a[0], a->a[1]); \
	p_u64(rp, a->a[1]); \
	p_ustr(rp, a->a[2]); \
	do {} while (0)
#define BST_WRITE_FINIT_MODULE \
	p_s64(rp, ret); \
	p_s64(rp, (int)a->a[0]); \
	p_ustr(rp, a->a[1]); \
	p_u32(rp, a->a[2]); \
	do {} while (0)
#define BST_WRITE_MOUNT \
	p_s64(rp, ret); \
	p_ustr(rp, a->a[0]); \
	p_ustr(rp, a->a[1]); \
	p_ustr(rp, a->a[2]); \
	p_u32(rp, a->a[3]); \
	do {} while (0)
#define BST_WRITE_UMOUNT2 \
	p_s64(rp, ret); \
	p_ustr(rp, a->a[0]); \
	p_u32(rp, a->a[1]); \
	do {} while (0)
#define BST_WRITE_UNSHARE \
	p_s64(rp, ret); \
	p_u32(rp, a->a[0]); \
	do {} while (0)
#define BST_WRITE_SETNS \
	p_s64(rp, ret); \
	p_s64(rp, (int)a->a[0]); \
	p_u32(rp, a->a[1]); \
	do {} while (0)
#define BST_WRITE_BPF \
	p_s64(rp, ret); \
	p_s64(rp, (int)a->a[0]); \
	do {} while (0)
#define BST_WRITE_KILL \
	p_s64(rp, ret); \
	p_s64(rp, (int)a->a[0]); \
	p_u8(rp, a->a[1]); \
	do {} while (0)
#define BST_WRITE_PRCTL \
	p_s64(rp, ret); \
	p_u32(rp, a->a[0]); \
	(a->a[0] == BST_PR_SET_NAME || a->a[0] == BST_PR_GET_NAME) ? p_ustr(rp, a->a[1]) : p_none(rp); \
	p_s64(rp, a->a[1]); \
	do {} while (0)
#define BST_WRITE_READ \
	p_s64(rp, ret); \
	p_snap(rp, a->a[1], ret); \
	p_s64(rp, (int)a->a[0]); \
	p_u32(rp, a->a[2]); \
	do {} while (0)
#define BST_WRITE_WRITE \
	p_s64(rp, ret); \
	p_snap(rp, a->a[1], a->a[2]); \
	p_s64(rp, (int)a->a[0]); \
	p_u32(rp, a->a[2]); \
	do {} while (0)
#define BST_WRITE_FCHMODAT2 \
	p_s64(rp, ret); \
	p_s64(rp, (int)a->a[0]); \
	p_ustr(rp, a->a[1]); \
	p_u32(rp, a->a[2]); \
	p_u32(rp, a->a[3]); \
	do {} while (0)

#define BST_SYSCALL_EVENTS \
	BST_CASE(EXECVE) \
	BST_CASE(EXECVEAT) \
	BST_CASE(OPEN) \
	BST_CASE(OPENAT) \
	BST_CASE(OPENAT2) \
	BST_CASE(CREAT) \
	BST_CASE(CLOSE) \
	BST_CASE(DUP) \
	BST_CASE(DUP2) \
	BST_CASE(DUP3) \
	BST_CASE(UNLINK) \
	BST_CASE(UNLINKAT) \
	BST_CASE(RENAME) \
	BST_CASE(RENAMEAT) \
	BST_CASE(RENAMEAT2) \
	BST_CASE(MKDIR) \
	BST_CASE(MKDIRAT) \
	BST_CASE(RMDIR) \
	BST_CASE(SYMLINK) \
	BST_CASE(SYMLINKAT) \
	BST_CASE(LINK) \
	BST_CASE(LINKAT) \
	BST_CASE(CHMOD) \
	BST_CASE(FCHMOD) \
	BST_CASE(FCHMODAT) \
	BST_CASE(CHOWN) \
	BST_CASE(LCHOWN) \
	BST_CASE(FCHOWN) \
	BST_CASE(FCHOWNAT) \
	BST_CASE(CHDIR) \
	BST_CASE(FCHDIR) \
	BST_CASE(CHROOT) \
	BST_CASE(PIVOT_ROOT) \
	BST_CASE(MEMFD_CREATE) \
	BST_CASE(PIPE) \
	BST_CASE(PIPE2) \
	BST_CASE(SOCKET) \
	BST_CASE(CONNECT) \
	BST_CASE(ACCEPT) \
	BST_CASE(ACCEPT4) \
	BST_CASE(BIND) \
	BST_CASE(LISTEN) \
	BST_CASE(SENDTO) \
	BST_CASE(SENDMSG) \
	BST_CASE(RECVFROM) \
	BST_CASE(RECVMSG) \
	BST_CASE(SETUID) \
	BST_CASE(SETGID) \
	BST_CASE(SETRESUID) \
	BST_CASE(SETRESGID) \
	BST_CASE(CAPSET) \
	BST_CASE(PTRACE) \
	BST_CASE(INIT_MODULE) \
	BST_CASE(FINIT_MODULE) \
	BST_CASE(MOUNT) \
	BST_CASE(UMOUNT2) \
	BST_CASE(UNSHARE) \
	BST_CASE(SETNS) \
	BST_CASE(BPF) \
	BST_CASE(KILL) \
	BST_CASE(PRCTL) \
	BST_CASE(READ) \
	BST_CASE(WRITE) \
	BST_CASE(FCHMODAT2) \
	/* end of BST_SYSCALL_EVENTS */

#define BST_OPEN_FILTER_EVENTS \
	BST_OPEN_CASE(OPEN, a->a[0], (__u32)a->a[1]) \
	BST_OPEN_CASE(OPENAT, a->a[1], (__u32)a->a[2]) \
	BST_OPEN_CASE(OPENAT2, a->a[1], bst_how_flags(a->a[2])) \
	/* end of BST_OPEN_FILTER_EVENTS */

#define BST_CLOSE_FILTER_EVENTS \
	BST_CLOSE_CASE(CLOSE, (int)a->a[0]) \
	/* end of BST_CLOSE_FILTER_EVENTS */

#endif
