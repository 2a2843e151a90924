// SPDX-License-Identifier: GPL-2.0
// The overhead floor of bench/sensor_overhead.py: an empty tp_btf sys_exit program, the hook
// bastion's probe dispatches from (the floor: "any syscall-exit hook costs this much").
// Whatever the probe costs beyond it is its own work; what it costs is the price of being
// attached to every system call at all (the trampoline, the tracepoint's static key). Needs no
// vmlinux.h: the program never reads its arguments.
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sys_exit")
int bst_bench_exit(__u64 *ctx)
{
	return 0;
}
