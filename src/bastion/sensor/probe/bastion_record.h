// SPDX-License-Identifier: GPL-2.0
// The probe's record format, the maps user space sets, and the counters it reads.
// probe/decode.py mirrors this file (HEADER, per-type widths); change both together.
//
// One ring-buffer record = one exit event (Falco's exit event with the enter arguments merged):
//
//   struct bst_hdr (40 bytes, little endian)
//   __u16 len[nparams]            one length per parameter, in events/schema.py's order
//   data                          the parameters' bytes, back to back, no padding
//
// len == 0 means "absent/unreadable": the decoder leaves the parameter out of Event.params.
// Per parameter type (schema.py's ParamType):
//   ERRNO FD PID INT64            __s64            UINT64                 __u64
//   UID GID UINT32 MODE FLAGS32   __u32            INT32                  __s32
//   ENUMFLAGS32                   __u32            UINT16 FLAGS16         __u16
//   UINT8 SIGTYPE                 __u8
//   CHARBUF FSPATH FSRELPATH      the bytes and their terminating NUL
//   CHARBUFARRAY                  NUL-terminated strings back to back (argv[1:], env)
//   BYTEBUF                       raw bytes (a snapshot of at most BST_SNAPLEN bytes)
//   SOCKADDR                      the raw struct sockaddr the caller passed (<= 128 bytes)
//   SOCKTUPLE                     __u8 family, then
//                                   AF_INET:  saddr[4] __u16 sport daddr[4] __u16 dport
//                                   AF_INET6: saddr[16] __u16 sport daddr[16] __u16 dport
//                                   AF_UNIX:  source path NUL, dest path NUL
//                                 addresses in network order, ports in host order;
//                                 source is the caller's side except for accept, where (as
//                                 in Falco) source is the connecting peer.
// Flags are the kernel's raw values (O_*, CLONE_*...); the decoder turns the ones Falco
// renders through its own tables (file_flags, clone_flags) into Falco's PPM_* bits.
#ifndef BASTION_RECORD_H
#define BASTION_RECORD_H

struct bst_hdr {
	__u64 ts;        // bpf_ktime_get_boot_ns(): CLOCK_BOOTTIME ns (decoder adds the boot epoch)
	__u64 cgroup_id; // bpf_get_current_cgroup_id(): the cgroup v2 inode number
	__s64 ret;       // the syscall's return value (0 for clone and procexit)
	__u32 tid;       // host thread id (for clone: the new thread's)
	__u32 tgid;      // host thread-group id
	__u16 code;      // BST_EVT_* (bastion_events.h)
	__u16 cpu;       // the CPU; BST_CPU_KILLED set: the probe SIGKILLed the task (in-kernel kill)
	__u16 nparams;
	__u16 size;      // the whole record: header + lengths + data
};

#define BST_HDR_SIZE 40
#define BST_MAX_PARAMS 32   // len[] slots the builder can address (execveat has 21)
#define BST_SNAPLEN 80      // bytes of data kept for read/write/send/recv (Falco's default)
#define BST_SOCKADDR_MAX 128

// bst_config[0], set by user space (Probe.set_cgroups, drop_failed, open_paths).
struct bst_config {
	__u32 cgroup_filter; // 1: emit only events whose cgroup id is in bst_cgroups
	__u32 drop_failed;   // 1: skip syscalls that returned a negative errno
	__u32 open_paths;    // entries of bst_open_paths in use (0: the open filter is off)
	__u32 open_deny;     // raw open flags that make an open ineligible for the open filter
	__u32 close_filter;  // 1: the close of an fd whose open was kept back is kept back too
	__u32 pad;
};

// The kernel-side open filter (sensor/kernel_filter.py derives it from the rules): a
// successful read-only open of a regular file or character device (not on nsfs, pidfs or the
// anonymous-inode fs) whose absolute path holds no "/." and no "..", is at most
// BST_FILTER_PATH_MAX bytes with its NUL, and equals (exact) or extends (a prefix) one entry
// is counted, not sent. With close_filter,
// the fd is remembered (bst_open_fds) and its close is kept back too; any fd number a sent
// event returns is forgotten first, so only the close of the very fd kept back is.
#define BST_FILTER_ENTRIES 16
#define BST_FILTER_PREFIX_MAX 64
#define BST_FILTER_PATH_MAX 256
#define BST_FILTER_CLOSES BST_FILTER_ENTRIES // bst_filtered's slot for closes
struct bst_open_path {
	__u32 len;   // bytes of s in use (no NUL)
	__u32 exact; // 1: the path itself; 0: paths under it (s ends with '/')
	char s[BST_FILTER_PREFIX_MAX];
};

// The in-kernel kill (sensor/kernel_kill.py compiles it from the rules whose action is
// kill_process): a successful execve/execveat, in a cgroup of bst_kill_cgroups (a container
// whose own process has started: user space arms it), whose new comm is a key of
// bst_kill_comms with the event's bit (BST_KILL_EXECVE/EXECVEAT) set, gets SIGKILL from
// bpf_send_signal before it returns to user space; its record carries BST_CPU_KILLED in `cpu`.
// bst_kills counts the kills done (BST_KILLS_DONE) and the signals the kernel refused.
#define BST_CPU_KILLED 0x8000
#define BST_KILL_EXECVE 1
#define BST_KILL_EXECVEAT 2
#define BST_COMM_LEN 16
struct bst_kill_comm {
	char comm[BST_COMM_LEN]; // zero-padded, as bpf_get_current_comm writes it
};
enum bst_kill_counter {
	BST_KILLS_DONE = 0,
	BST_KILLS_REFUSED = 1,
	BST_KILLS_MAX = 2,
};

enum bst_counter {
	BST_CTR_PRODUCED = 0,        // records built (written, dropped or filtered)
	BST_CTR_DROPPED_RING = 1,    // records lost: the ring buffer was full
	BST_CTR_SKIPPED_SYSCALL = 2, // syscall exits not in bst_interesting
	BST_CTR_SKIPPED_CGROUP = 3,  // events from cgroups outside bst_cgroups
	BST_CTR_SKIPPED_FAILED = 4,  // failed syscalls (drop_failed)
	BST_CTR_FILTERED = 5,        // records built but kept back by the kernel filter
	BST_CTR_MAX = 6,
};

// bst_class[code]: which ring an event goes to (events/schema.py's EventSpec.loss_class).
enum bst_class {
	BST_CLASS_BULK = 0,     // bst_events
	BST_CLASS_CRITICAL = 1, // bst_critical: process lifecycle, credentials, modules
};

#endif
