// SPDX-License-Identifier: GPL-2.0
// bastion's probe: CO-RE, compiled by build.py against a vmlinux.h that bpftool generates from
// the running kernel's BTF (.cache/probe/vmlinux.h). The record layout below is mirrored by
// ringbuf.py's struct.Struct (EXEC_RECORD); change both together.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

#define BST_EVENT_EXEC 1
#define BST_COMM_LEN 16
#define BST_PATH_LEN 256

enum bst_counter {
	BST_CTR_PRODUCED = 0,
	BST_CTR_DROPPED_RESERVE = 1,
	BST_CTR_MAX = 2,
};

// 8-byte aligned, no implicit padding: 4 x u32 + 2 x u64 + 16 + 256 = 304 bytes.
struct bst_exec_record {
	__u32 type;
	__u32 pid;   // host tgid
	__u32 tid;   // host tid
	__u32 ppid;  // host tgid of real_parent
	__u64 ts_ns; // bpf_ktime_get_ns (CLOCK_MONOTONIC)
	__u64 cgroup_id;
	char comm[BST_COMM_LEN];
	char filename[BST_PATH_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} bst_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BST_CTR_MAX);
	__type(key, __u32);
	__type(value, __u64);
} bst_counters SEC(".maps");

static __always_inline void bst_count(__u32 which)
{
	__u64 *value = bpf_map_lookup_elem(&bst_counters, &which);
	if (value)
		*value += 1; // per-CPU slot: no atomic needed
}

// sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
SEC("tp_btf/sched_process_exec")
int BPF_PROG(bst_sched_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct bst_exec_record *rec;
	__u64 pid_tgid;

	rec = bpf_ringbuf_reserve(&bst_events, sizeof(*rec), 0);
	if (!rec) {
		bst_count(BST_CTR_DROPPED_RESERVE);
		return 0;
	}
	pid_tgid = bpf_get_current_pid_tgid();
	rec->type = BST_EVENT_EXEC;
	rec->pid = pid_tgid >> 32;
	rec->tid = (__u32)pid_tgid;
	rec->ppid = BPF_CORE_READ(p, real_parent, tgid);
	rec->ts_ns = bpf_ktime_get_ns();
	rec->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(rec->comm, sizeof(rec->comm));
	if (bpf_probe_read_kernel_str(rec->filename, sizeof(rec->filename),
				      BPF_CORE_READ(bprm, filename)) < 0)
		rec->filename[0] = '\0';
	bpf_ringbuf_submit(rec, 0);
	bst_count(BST_CTR_PRODUCED);
	return 0;
}
