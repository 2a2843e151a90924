// SPDX-License-Identifier: GPL-2.0
// The overhead floors of bench/sensor_overhead.py, three tp_btf sys_exit programs (the hook
// bastion's probe dispatches from); the bench attaches one at a time.
// - bst_bench_exit, empty (the floor: "any syscall-exit hook costs this much"): the
//   price of being attached to every system call at all (the trampoline, the tracepoint's
//   static key). Whatever the probe costs beyond it is its own work.
// - bst_bench_record, the least a sensor that sends each captured event can do: for the
//   workloads' captured calls (open, openat, close) one 40-byte record, the fields of the
//   header every bastion record starts with (bastion_record.h: boot-time stamp, cgroup id,
//   result, thread and process ids, CPU) and no parameter, copied into a ring with
//   BPF_RB_NO_WAKEUP as the probe's bulk ring is; bench/sensor_worker.py --floor-object
//   drains it (one copy out, no decoding). What the probe costs beyond this is its
//   parameters (the path, flags, device and inode), its dispatch and its decoding reader.
// - bst_bench_record_path, the same record with the one parameter no rule on files can do
//   without: an open's path as the caller passed it (fd.name is made from it), read from the
//   caller's memory after the header (at most BENCH_PATH bytes), as the probe reads it.
// Needs no vmlinux.h: the kernel fields read (pt_regs: the syscall number, the first two
// arguments) are declared below and relocated against the running kernel's BTF (CO-RE).
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define BENCH_NR_OPEN 2 // x86_64 syscall numbers of the captured calls the workloads make
#define BENCH_NR_CLOSE 3
#define BENCH_NR_OPENAT 257
#define BENCH_PATH 256

struct pt_regs {
	unsigned long si;
	unsigned long di;
	unsigned long orig_ax;
} __attribute__((preserve_access_index));

struct bench_rec { // bastion_record.h's struct bst_hdr, field for field
	__u64 ts;
	__u64 cgroup_id;
	__s64 ret;
	__u32 tid;
	__u32 tgid;
	__u16 code;
	__u16 cpu;
	__u16 nparams;
	__u16 size;
};

struct bench_path_rec {
	struct bench_rec h;
	char path[BENCH_PATH];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); // the worker sets it to the probe's ring size before load
} bst_bench_ring SEC(".maps");

// [0] records the ring had no room for, per CPU: the worker reports them beside what it read
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bst_bench_dropped SEC(".maps");

SEC("tp_btf/sys_exit")
int bst_bench_exit(__u64 *ctx)
{
	return 0;
}

// The header of both records; 0 when the call is not one the workloads capture.
static __always_inline int bench_header(__u64 *ctx, struct bench_rec *r, unsigned long nr)
{
	__u64 pid_tgid;

	if (nr != BENCH_NR_OPENAT && nr != BENCH_NR_CLOSE && nr != BENCH_NR_OPEN)
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	r->ts = bpf_ktime_get_boot_ns();
	r->cgroup_id = bpf_get_current_cgroup_id();
	r->ret = (__s64)ctx[1];
	r->tid = (__u32)pid_tgid;
	r->tgid = pid_tgid >> 32;
	r->code = nr;
	r->cpu = bpf_get_smp_processor_id();
	r->nparams = 0;
	r->size = sizeof(*r);
	return 1;
}

static __always_inline void bench_output(void *r, __u64 size)
{
	__u64 *dropped;
	__u32 zero = 0;

	if (bpf_ringbuf_output(&bst_bench_ring, r, size, BPF_RB_NO_WAKEUP)) {
		dropped = bpf_map_lookup_elem(&bst_bench_dropped, &zero);
		if (dropped)
			*dropped += 1;
	}
}

SEC("tp_btf/sys_exit")
int bst_bench_record(__u64 *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx[0];
	struct bench_rec r;

	if (bench_header(ctx, &r, regs->orig_ax))
		bench_output(&r, sizeof(r));
	return 0;
}

SEC("tp_btf/sys_exit")
int bst_bench_record_path(__u64 *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx[0];
	unsigned long nr = regs->orig_ax;
	struct bench_path_rec r;
	long len = 0;

	if (!bench_header(ctx, &r.h, nr))
		return 0;
	if (nr != BENCH_NR_CLOSE) {
		const char *path = (const char *)(nr == BENCH_NR_OPEN ? regs->di : regs->si);

		len = bpf_probe_read_user_str(r.path, sizeof(r.path), path);
		if (len < 0)
			len = 0;
		r.h.nparams = 1;
	}
	if (len > BENCH_PATH) // bounds the size for the verifier
		len = BENCH_PATH;
	r.h.size = sizeof(r.h) + len;
	bench_output(&r, sizeof(r.h) + len);
	return 0;
}
