// SPDX-License-Identifier: GPL-2.0
// The overhead floor of bench/sensor_overhead.py: an empty tp_btf sys_enter + sys_exit pair.
// Whatever bastion's probe costs beyond these two empty programs is its own work; what they
// cost is the price of being attached to every system call at all (the trampoline, the
// tracepoint's static key). Needs no vmlinux.h: the programs never read their arguments.
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sys_enter")
int bst_bench_enter(__u64 *ctx)
{
	return 0;
}

SEC("tp_btf/sys_exit")
int bst_bench_exit(__u64 *ctx)
{
	return 0;
}
