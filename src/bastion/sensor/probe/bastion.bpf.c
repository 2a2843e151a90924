// SPDX-License-Identifier: GPL-2.0
// bastion's probe: CO-RE, compiled by build.py against a vmlinux.h that bpftool generates from
// the running kernel's BTF (.cache/probe/vmlinux.h). Record format: bastion_record.h.
//
// Programs:
//   bst_sys_exit    tp_btf/sys_exit: the dispatcher. syscall id -> event code through
//                   bst_interesting (0: skipped at once), cgroup and failed filters, one record;
//                   the arguments come from the saved user registers, which x86_64 keeps
//                   intact to the exit (no sys_enter program: it cost every syscall a second
//                   program run and every captured one a hash-map insert and delete)
//   bst_fork        tp_btf/sched_process_fork -> clone (the child's view, as Falco's child event)
//   bst_exit        tp_btf/sched_process_exit -> procexit
//   bst_exec        tp_btf/sched_process_exec: keeps bprm->filename for the execve exit event
//                   (a successful execve's registers belong to the new image: its event reads
//                   argv from the new mm and the filename kept here)
// Records are written into a per-CPU scratch buffer, then copied with bpf_ringbuf_output. The
// bulk ring (bst_events) submits with BPF_RB_NO_WAKEUP: the reader polls it on a short timer,
// so no open or read pays for a wakeup. The critical ring (bst_critical: exec, exit, setuid...)
// submits with the kernel's adaptive wakeup (flags 0): it wakes an epoll waiter only when the
// reader has caught up (the record is the first one past the consumer position), so an exec
// reaches the rules at once when the sensor is idle and a burst of them costs one wakeup.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "bastion_events.h"
#include "bastion_record.h"

char LICENSE[] SEC("license") = "GPL";

#define BST_NR_MAX 512        // syscalls.py NR_MAX
#ifndef BST_RB_FLAGS          // -DBST_RB_FLAGS=0 builds the wake-per-record variant (measuring)
#define BST_RB_FLAGS BPF_RB_NO_WAKEUP
#endif
#ifndef BST_RB_CRITICAL_FLAGS // the critical ring: adaptive wakeup (see above)
#define BST_RB_CRITICAL_FLAGS 0
#endif
#define BST_HALF 16384        // the most one record may take
#define BST_MASK (BST_HALF - 1)
#define BST_PATH_MAX 4096
#define BST_PATH_MASK (BST_PATH_MAX - 1)
#define BST_ARG_MAX 1024      // one argv/env string read from a user array
#define BST_ARGV_MAX 4096     // all of argv (or env) in one record
#define BST_ARGV_COUNT 32     // strings read from a user argv array (failed execve)
#define BST_PATH_DEPTH 40     // dentries walked for a path
#define BST_NAME_MAX 255

#define BST_S_IFMT 00170000
#define BST_S_IFSOCK 0140000
#define BST_AF_UNIX 1
#define BST_AF_INET 2
#define BST_AF_INET6 10
#define BST_CLONE_VM 0x00000100
#define BST_CLONE_FS 0x00000200
#define BST_CLONE_FILES 0x00000400
#define BST_CLONE_THREAD 0x00010000
#define BST_PR_SET_NAME 15
#define BST_PR_GET_NAME 16

struct bst_args {
	__u64 a[6];
};

struct bst_scratch {
	__u8 b[BST_HALF * 2]; // twice the record limit: a masked offset plus one read stays inside
};

struct bst_pathbuf {
	char b[BST_PATH_MAX * 2];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); // user space resizes it before load
} bst_events SEC(".maps");

// The second ring: events of the critical class (bst_class), so a flood of bulk events that
// fills bst_events cannot take the process lifecycle and credential changes with it.
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); // user space resizes it before load
} bst_critical SEC(".maps");

// event code -> BST_CLASS_* (events/schema.py's loss class), filled by user space.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BST_EVT_MAX);
	__type(key, __u32);
	__type(value, __u32);
} bst_class SEC(".maps");

// Records lost to a full ring, by event code and by cgroup id: what the drop alert names.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BST_EVT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} bst_drops_code SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u64);
} bst_drops_cgroup SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BST_CTR_MAX);
	__type(key, __u32);
	__type(value, __u64);
} bst_counters SEC(".maps");

// syscall number -> event code (0: not captured); filled from events/schema.py by user space.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BST_NR_MAX);
	__type(key, __u32);
	__type(value, __u32);
} bst_interesting SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bst_config);
} bst_config SEC(".maps");

// 1 while a critical record went into bst_critical without a wakeup (the in-kernel kill's
// exec): the kernel's adaptive wakeup fires only for the first record past the reader's
// position, so every record after it would wait for the reader's timer; the next critical
// record forces the wakeup instead (the killed task's own exit, once it has exited).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} bst_unwoken SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} bst_cgroups SEC(".maps");

// The open filter's path classes (bastion_record.h), filled by user space from the rules.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BST_FILTER_ENTRIES);
	__type(key, __u32);
	__type(value, struct bst_open_path);
} bst_open_paths SEC(".maps");

// Events the filter kept back, by the entry of bst_open_paths that matched (the reason), and
// closes of the fds of those opens (BST_FILTER_CLOSES).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BST_FILTER_ENTRIES + 1);
	__type(key, __u32);
	__type(value, __u64);
} bst_filtered SEC(".maps");

// The fds whose open was kept back, one bit per fd below BST_FD_MARKS, in the storage of the
// process's thread-group leader: one lookup and one atomic bit operation where a hash of
// (tgid, fd) took an insert per open and a lookup and a delete per close (most of a kept-back
// open+close pair's cost). The storage dies with the leader, so no later process inherits
// its marks; a mark lost (an fd above the bitmap, a leader replaced by exec) only means the
// close is sent.
#define BST_FD_MARKS 1024
struct bst_fd_marks {
	__u64 w[BST_FD_MARKS / 64];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct bst_fd_marks);
} bst_open_fds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct bst_pathbuf);
} bst_exec_filename SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bst_scratch);
} bst_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bst_pathbuf);
} bst_pathbuf SEC(".maps");

// The record being built in the per-CPU scratch buffer: off is the next data byte, idx the next
// parameter's length slot. The parameter writers are global BPF functions (not static): the
// verifier checks each once instead of at each of the dispatcher's hundreds of call sites.
struct bst_rec {
	__u32 off;
	__u32 idx;
};

static __always_inline __u8 *bst_buf(void)
{
	__u32 zero = 0;
	struct bst_scratch *s = bpf_map_lookup_elem(&bst_scratch, &zero);
	return s ? s->b : NULL;
}

static __always_inline void bst_count(__u32 which)
{
	__u64 *value = bpf_map_lookup_elem(&bst_counters, &which);
	if (value)
		*value += 1; // per-CPU slot: no atomic needed
}

static __always_inline int bst_cgroup_skipped(void)
{
	__u32 zero = 0;
	__u64 cgid;
	struct bst_config *cfg = bpf_map_lookup_elem(&bst_config, &zero);
	if (!cfg || !cfg->cgroup_filter)
		return 0;
	cgid = bpf_get_current_cgroup_id(); // only paid when the filter is on
	if (bpf_map_lookup_elem(&bst_cgroups, &cgid))
		return 0;
	bst_count(BST_CTR_SKIPPED_CGROUP);
	return 1;
}

static __always_inline int bst_failed_skipped(long ret)
{
	__u32 zero = 0;
	struct bst_config *cfg = bpf_map_lookup_elem(&bst_config, &zero);
	if (!cfg || !cfg->drop_failed || ret >= 0)
		return 0;
	bst_count(BST_CTR_SKIPPED_FAILED);
	return 1;
}

// The current process's fd marks (created when `create`), or NULL.
static __always_inline struct bst_fd_marks *bst_marks(int create)
{
	struct task_struct *task = bpf_get_current_task_btf();

	return bpf_task_storage_get(&bst_open_fds, task->group_leader, 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

// 1 when the current fd table may be shared with another process (clone with CLONE_FILES
// but not CLONE_THREAD): that process's opens and closes of the same numbers would not touch
// our marks, so such a table's opens are not marked and its closes are sent. More references
// than threads (a passing /proc reader's included) only errs toward sending.
static __always_inline int bst_files_shared(void)
{
	struct task_struct *task = bpf_get_current_task_btf();

	return task->files->count.counter > task->signal->nr_threads;
}

// A sent event returned `fd` (or made it): whatever mark its number had is stale. Forgetting a
// mark is always safe (its close is then sent), so any non-negative result clears one.
static __always_inline void bst_forget_fd(long fd)
{
	__u32 zero = 0;
	struct bst_config *cfg = bpf_map_lookup_elem(&bst_config, &zero);
	struct bst_fd_marks *marks;

	if (!cfg || !cfg->close_filter || fd < 0 || fd >= BST_FD_MARKS)
		return;
	marks = bst_marks(0);
	if (marks)
		__sync_fetch_and_and(&marks->w[(fd >> 6) & (BST_FD_MARKS / 64 - 1)],
				     ~(1ULL << (fd & 63)));
}

// Start a record of `nparams` parameters for the current task.
__noinline int bst_begin(struct bst_rec *r, __u32 code, __u32 nparams, long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u8 *b = bst_buf();
	struct bst_hdr *h;

	if (!b || !r)
		return -1;
	h = (struct bst_hdr *)b;
	h->ts = bpf_ktime_get_boot_ns();
	h->cgroup_id = bpf_get_current_cgroup_id();
	h->ret = ret;
	h->tid = (__u32)pid_tgid;
	h->tgid = pid_tgid >> 32;
	h->code = code;
	h->cpu = bpf_get_smp_processor_id();
	h->nparams = nparams;
	r->off = BST_HDR_SIZE + 2 * (nparams & (BST_MAX_PARAMS - 1));
	r->idx = 0;
	return 0;
}

static __always_inline void bst_len(__u8 *b, struct bst_rec *r, __u32 len)
{
	if (r->idx < BST_MAX_PARAMS)
		*(__u16 *)&b[(BST_HDR_SIZE + 2 * r->idx) & BST_MASK] = len;
	r->idx++;
	r->off += len;
}

// A record the ring had no room for: counted in total, by event code and by cgroup.
static __always_inline void bst_dropped(__u32 code, __u64 cgroup_id)
{
	__u64 one = 1, *n;

	bst_count(BST_CTR_DROPPED_RING);
	n = bpf_map_lookup_elem(&bst_drops_code, &code);
	if (n)
		*n += 1; // per-CPU slot
	n = bpf_map_lookup_elem(&bst_drops_cgroup, &cgroup_id);
	if (!n && !bpf_map_update_elem(&bst_drops_cgroup, &cgroup_id, &one, BPF_NOEXIST))
		return;
	if (!n) // another CPU inserted it first
		n = bpf_map_lookup_elem(&bst_drops_cgroup, &cgroup_id);
	if (n)
		__sync_fetch_and_add(n, 1);
}

__noinline int bst_submit(struct bst_rec *r)
{
	__u8 *b = bst_buf();
	__u32 size, code, *klass, zero = 0;
	long err;

	if (!b || !r)
		return 0;
	size = r->off;
	if (size >= BST_HALF)
		return 0;
	((struct bst_hdr *)b)->size = size;
	barrier_var(size);
	size &= BST_HALF - 1;
	bst_count(BST_CTR_PRODUCED); // every record built, so produced == read + dropped
	code = ((struct bst_hdr *)b)->code;
	klass = bpf_map_lookup_elem(&bst_class, &code);
	if (klass && *klass == BST_CLASS_CRITICAL) {
		__u64 flags = BST_RB_CRITICAL_FLAGS;
		__u32 *unwoken = bpf_map_lookup_elem(&bst_unwoken, &zero);

		// a task this probe just SIGKILLed wakes no one: the woken reader would preempt
		// the task's exit (0.03 -> 0.3 ms to kill); the next critical record wakes it
		if (((struct bst_hdr *)b)->cpu & BST_CPU_KILLED) {
			flags = BPF_RB_NO_WAKEUP;
			if (unwoken)
				*unwoken = 1;
		} else if (unwoken && *unwoken) {
			flags = BPF_RB_FORCE_WAKEUP;
			*unwoken = 0;
		}
		err = bpf_ringbuf_output(&bst_critical, b, size, flags);
	} else
		err = bpf_ringbuf_output(&bst_events, b, size, BST_RB_FLAGS);
	if (err)
		bst_dropped(code, ((struct bst_hdr *)b)->cgroup_id);
	return 0;
}

// An integer parameter of `size` bytes (1, 2, 4 or 8), little endian.
__noinline int p_int(struct bst_rec *r, __u64 v, __u32 size)
{
	__u8 *b = bst_buf();
	__u32 at;

	if (!b || !r)
		return 0;
	if (r->off + 8 > BST_HALF) {
		bst_len(b, r, 0);
		return 0;
	}
	at = r->off & BST_MASK;
	switch (size) {
	case 1:
		b[at] = v;
		break;
	case 2:
		*(__u16 *)&b[at] = v;
		break;
	case 4:
		*(__u32 *)&b[at] = v;
		break;
	default:
		size = 8;
		*(__u64 *)&b[at] = v;
	}
	bst_len(b, r, size);
	return 0;
}

#define p_s64(r, v) p_int(r, (__u64)(__s64)(v), 8)
#define p_u64(r, v) p_int(r, (__u64)(v), 8)
#define p_u32(r, v) p_int(r, (__u32)(v), 4)
#define p_s32(r, v) p_int(r, (__u32)(__s32)(v), 4)
#define p_u16(r, v) p_int(r, (__u16)(v), 2)
#define p_u8(r, v) p_int(r, (__u8)(v), 1)

__noinline int p_none(struct bst_rec *r)
{
	__u8 *b = bst_buf();

	if (b && r)
		bst_len(b, r, 0);
	return 0;
}

__noinline int p_ustr(struct bst_rec *r, __u64 ptr)
{
	__u8 *b = bst_buf();
	long n;

	if (!b || !r)
		return 0;
	if (!ptr || r->off + BST_PATH_MAX > BST_HALF) {
		bst_len(b, r, 0);
		return 0;
	}
	n = bpf_probe_read_user_str(&b[r->off & BST_MASK], BST_PATH_MAX, (void *)ptr);
	bst_len(b, r, n > 0 ? n : 0);
	return 0;
}

static __always_inline int p_kstr(struct bst_rec *r, const void *ptr)
{
	__u8 *b = bst_buf();
	long n;

	if (!b || !r)
		return 0;
	if (!ptr || r->off + BST_PATH_MAX > BST_HALF) {
		bst_len(b, r, 0);
		return 0;
	}
	n = bpf_probe_read_kernel_str(&b[r->off & BST_MASK], BST_PATH_MAX, ptr);
	bst_len(b, r, n > 0 ? n : 0);
	return 0;
}

// The current task's comm (a new child's is its parent's until it execs or renames itself).
__noinline int p_comm(struct bst_rec *r)
{
	__u8 *b = bst_buf();
	long n;

	if (!b || !r)
		return 0;
	if (r->off + 16 > BST_HALF) {
		bst_len(b, r, 0);
		return 0;
	}
	if (bpf_get_current_comm(&b[r->off & BST_MASK], 16)) {
		bst_len(b, r, 0);
		return 0;
	}
	// The comm's length with its NUL: the string read onto itself returns it.
	n = bpf_probe_read_kernel_str(&b[r->off & BST_MASK], 16, &b[r->off & BST_MASK]);
	bst_len(b, r, n > 0 ? n : 0);
	return 0;
}

// At most BST_PATH_MAX - 1 bytes of user memory.
__noinline int p_ubytes(struct bst_rec *r, __u64 ptr, __u64 len)
{
	__u8 *b = bst_buf();

	if (!b || !r)
		return 0;
	if (!ptr || r->off + BST_PATH_MAX > BST_HALF) {
		bst_len(b, r, 0);
		return 0;
	}
	if (len > BST_PATH_MAX - 1)
		len = BST_PATH_MAX - 1;
	if (len == 0 ||
	    bpf_probe_read_user(&b[r->off & BST_MASK], len & BST_PATH_MASK, (void *)ptr)) {
		bst_len(b, r, 0);
		return 0;
	}
	bst_len(b, r, len & BST_PATH_MASK);
	return 0;
}

// A data snapshot: at most BST_SNAPLEN bytes (a negative length, e.g. an errno, is none).
#define p_snap(r, ptr, len) \
	p_ubytes(r, (__u64)(ptr), (long)(len) < 0 ? 0 : ((long)(len) > BST_SNAPLEN ? BST_SNAPLEN : (len)))

// ------------------------------------------------------------------------ task helpers

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
// `ptr` as a read-only BTF pointer of `type` (libbpf's bpf_core_cast, which Debian 12's libbpf
// lacks): fields are then read with plain, fault-safe loads.
#define bst_cast(ptr, type) ((type *)bpf_rdonly_cast((ptr), bpf_core_type_id_kernel(type)))

#define BST_FD_SLOTS (1 << 20) // the kernel's fs.nr_open ceiling: an fd is below it

static __always_inline struct file *bst_fd_file(long fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt;
	struct file *file = NULL;

	if (fd < 0)
		return NULL;
	// task is a trusted BTF pointer: these are fault-safe plain loads, not helper calls
	// (six bpf_probe_read_kernel calls before, a third of an openat record's cost)
	fdt = task->files->fdt;
	if (!fdt || (unsigned long)fd >= fdt->max_fds)
		return NULL;
	// the fd array as untrusted read-only memory (bpf_rdonly_cast to void): its slot is then
	// a fault-safe plain load too, not a bpf_probe_read_kernel call
	file = ((struct file **)bpf_rdonly_cast(fdt->fd, 0))[fd & (BST_FD_SLOTS - 1)];
	return file;
}

static __always_inline __u32 bst_encode_dev(dev_t dev)
{
	__u32 major = dev >> 20, minor = dev & ((1U << 20) - 1);
	return (minor & 0xff) | (major << 8) | ((minor & ~0xffU) << 12);
}

// 2 parameters: dev and ino of the file behind a new fd (open-family events).
__noinline int p_dev_ino(struct bst_rec *r, long fd)
{
	struct file *file = bst_fd_file(fd);
	struct inode *inode;

	if (!r)
		return 0;
	if (!file) {
		p_none(r);
		p_none(r);
		return 0;
	}
	// the fd table gave a plain pointer: cast it to a BTF one (the verifier turns the kfunc
	// into a move) so the loads below are fault-safe plain loads, not three helper calls
	inode = bst_cast(file, struct file)->f_inode;
	p_u32(r, bst_encode_dev(inode->i_sb->s_dev));
	p_u64(r, inode->i_ino);
	return 0;
}

__noinline __u64 bst_fd_ino(long fd)
{
	struct file *file = bst_fd_file(fd);
	return file ? BPF_CORE_READ(file, f_inode, i_ino) : 0;
}

static __always_inline struct sock *bst_fd_sock(long fd)
{
	struct file *file = bst_fd_file(fd);
	struct socket *sock;
	umode_t mode;

	if (!file)
		return NULL;
	mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & BST_S_IFMT) != BST_S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	return sock ? BPF_CORE_READ(sock, sk) : NULL;
}

// A unix socket's bound path, NUL-terminated, at record offset `at`; returns its length.
static __always_inline __u32 bst_unix_path(__u8 *b, __u32 at, struct sock *sk)
{
	struct unix_sock *us = (struct unix_sock *)sk;
	struct unix_address *addr = sk ? BPF_CORE_READ(us, addr) : NULL;
	char *path;
	char first = 0;
	long n;

	if (!addr) {
		b[at & BST_MASK] = 0;
		return 1;
	}
	path = (char *)addr + bpf_core_field_offset(struct unix_address, name) +
	       bpf_core_field_offset(struct sockaddr_un, sun_path);
	bpf_probe_read_kernel(&first, 1, path);
	if (!first) { // an abstract name: Falco prints it with a leading '@'
		b[at & BST_MASK] = '@';
		n = bpf_probe_read_kernel_str(&b[(at + 1) & BST_MASK], 108, path + 1);
		return n > 0 ? n + 1 : 2;
	}
	n = bpf_probe_read_kernel_str(&b[at & BST_MASK], 108, path);
	return n > 0 ? n : 1;
}

// SOCKTUPLE of the socket behind `fd`; `peer_first` for accept; `uaddr` (sendto/recvfrom's
// user sockaddr, or 0) names the remote end of an unconnected datagram socket.
__noinline int p_tuple(struct bst_rec *r, long fd, int peer_first, __u64 uaddr)
{
	struct sockaddr_in6 ua = {};
	__u8 *b = bst_buf();
	struct sock *sk = bst_fd_sock(fd);
	__u32 at, n;
	__u16 family, lport, rport;

	if (!b || !r)
		return 0;
	if (!sk || r->off + 512 > BST_HALF) {
		bst_len(b, r, 0);
		return 0;
	}
	at = r->off;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	b[at & BST_MASK] = family;
	lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (uaddr && bpf_probe_read_user(&ua, sizeof(ua), (void *)uaddr))
		uaddr = 0;
	if (uaddr && ua.sin6_family != family)
		uaddr = 0;
	if (uaddr)
		rport = bpf_ntohs(ua.sin6_port); // sin_port and sin6_port share their offset
	if (family == BST_AF_INET) {
		__u32 laddr = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 raddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		if (uaddr)
			raddr = ((struct sockaddr_in *)&ua)->sin_addr.s_addr;
		*(__u32 *)&b[(at + 1) & BST_MASK] = peer_first ? raddr : laddr;
		*(__u16 *)&b[(at + 5) & BST_MASK] = peer_first ? rport : lport;
		*(__u32 *)&b[(at + 7) & BST_MASK] = peer_first ? laddr : raddr;
		*(__u16 *)&b[(at + 11) & BST_MASK] = peer_first ? lport : rport;
		bst_len(b, r, 13);
		return 0;
	}
	if (family == BST_AF_INET6) {
		__u32 lo = peer_first ? 18 : 0, po = peer_first ? 0 : 18;
		BPF_CORE_READ_INTO((struct in6_addr *)&b[(at + 1 + lo) & BST_MASK], sk,
				   __sk_common.skc_v6_rcv_saddr);
		if (uaddr)
			__builtin_memcpy(&b[(at + 1 + po) & BST_MASK], &ua.sin6_addr, 16);
		else
			BPF_CORE_READ_INTO((struct in6_addr *)&b[(at + 1 + po) & BST_MASK], sk,
					   __sk_common.skc_v6_daddr);
		*(__u16 *)&b[(at + 17 + lo) & BST_MASK] = lport;
		*(__u16 *)&b[(at + 17 + po) & BST_MASK] = rport;
		bst_len(b, r, 37);
		return 0;
	}
	if (family == BST_AF_UNIX) {
		struct sock *peer = BPF_CORE_READ((struct unix_sock *)sk, peer);
		n = 1;
		n += bst_unix_path(b, at + n, peer_first ? peer : sk) & 255;
		n += bst_unix_path(b, at + n, peer_first ? sk : peer) & 255;
		bst_len(b, r, n);
		return 0;
	}
	bst_len(b, r, 1); // another family: just the family byte
	return 0;
}

// The path of a dentry on a mount as seen from the current task's root: names are written
// backwards into the per-CPU path buffer, then copied into the record. (bpf_d_path is not
// allowed from tracepoints.) The walk runs under bpf_loop so the verifier checks one step.
struct bst_walk {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	__u32 pos;
};

static long bst_path_step(__u32 index, void *data)
{
	struct bst_walk *w = data;
	__u32 zero = 0, len, pos = w->pos;
	struct bst_pathbuf *pb = bpf_map_lookup_elem(&bst_pathbuf, &zero);
	struct dentry *parent;
	struct qstr name;
	struct dentry *dentry = w->dentry;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;

	if (!pb)
		return 1;
	if (dentry == w->root_dentry && vfsmnt == w->root_mnt)
		return 1;
	if (dentry == BPF_CORE_READ(vfsmnt, mnt_root)) {
		struct mount *up = BPF_CORE_READ(mnt, mnt_parent);
		if (up == mnt)
			return 1; // the top of the mount tree
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = up;
		w->vfsmnt = &up->mnt;
		return 0;
	}
	parent = BPF_CORE_READ(dentry, d_parent);
	// a dentry that is its own parent but not a mount's root is a pseudo file (a memfd, a
	// pipe): its name is still written, so an exec from a memfd reads "/memfd:NAME"
	name = BPF_CORE_READ(dentry, d_name);
	len = name.len;
	if (len > BST_NAME_MAX)
		len = BST_NAME_MAX;
	if (pos > BST_PATH_MAX - 1 || pos < len + 1)
		return 1;
	pos -= len;
	bpf_probe_read_kernel(&pb->b[pos & BST_PATH_MASK], len & BST_NAME_MAX, name.name);
	pos -= 1;
	pb->b[pos & BST_PATH_MASK] = '/';
	w->pos = pos;
	w->dentry = parent;
	return parent == dentry;
}

// which: 0 = the cwd, 1 = the executable (mm->exe_file).
__noinline int p_path(struct bst_rec *r, int which)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 zero = 0, len, pos;
	struct bst_pathbuf *pb = bpf_map_lookup_elem(&bst_pathbuf, &zero);
	__u8 *b = bst_buf();
	struct bst_walk w = {};

	if (!b || !r)
		return 0;
	if (which) {
		struct file *exe = BPF_CORE_READ(task, mm, exe_file);
		if (exe) {
			w.dentry = BPF_CORE_READ(exe, f_path.dentry);
			w.vfsmnt = BPF_CORE_READ(exe, f_path.mnt);
		}
	} else {
		w.dentry = BPF_CORE_READ(task, fs, pwd.dentry);
		w.vfsmnt = BPF_CORE_READ(task, fs, pwd.mnt);
	}
	if (!pb || !w.dentry || r->off + BST_PATH_MAX > BST_HALF) {
		bst_len(b, r, 0);
		return 0;
	}
	w.mnt = container_of(w.vfsmnt, struct mount, mnt);
	w.root_dentry = BPF_CORE_READ(task, fs, root.dentry);
	w.root_mnt = BPF_CORE_READ(task, fs, root.mnt);
	w.pos = BST_PATH_MAX - 1;
	pb->b[BST_PATH_MAX - 1] = 0;
	bpf_loop(BST_PATH_DEPTH, bst_path_step, &w, 0);
	pos = w.pos;
	if (pos >= BST_PATH_MAX - 1) {
		pos = BST_PATH_MAX - 2;
		pb->b[pos & BST_PATH_MASK] = '/';
	}
	len = BST_PATH_MAX - pos;
	if (bpf_probe_read_kernel(&b[r->off & BST_MASK], len & BST_PATH_MASK,
				  &pb->b[pos & BST_PATH_MASK])) {
		bst_len(b, r, 0);
		return 0;
	}
	bst_len(b, r, len & BST_PATH_MASK);
	return 0;
}

// 2 parameters: exe (argv[0]) and args (argv[1:]) from the current mm: arg_start..arg_end.
__noinline int p_mm_argv(struct bst_rec *r)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 start = BPF_CORE_READ(task, mm, arg_start);
	__u64 end = BPF_CORE_READ(task, mm, arg_end);
	__u8 *b = bst_buf();
	long n;

	if (!b || !r)
		return 0;
	if (!start || end <= start || r->off + BST_PATH_MAX > BST_HALF) {
		bst_len(b, r, 0);
		bst_len(b, r, 0);
		return 0;
	}
	n = bpf_probe_read_user_str(&b[r->off & BST_MASK], BST_PATH_MAX, (void *)start);
	if (n <= 0) {
		bst_len(b, r, 0);
		bst_len(b, r, 0);
		return 0;
	}
	bst_len(b, r, n);
	p_ubytes(r, start + n, end - start - n);
	return 0;
}

__noinline int p_mm_env(struct bst_rec *r)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 start = BPF_CORE_READ(task, mm, env_start);
	__u64 end = BPF_CORE_READ(task, mm, env_end);

	if (!r)
		return 0;
	if (!start || end <= start)
		return p_none(r);
	return p_ubytes(r, start, end - start);
}

// Strings of a user `char *const[]` (a failed execve's argv/envp), from index `first`,
// appended at record offset `base` (one bpf_loop step per string).
struct bst_strings {
	__u64 array;
	__u32 base;
	__u32 sub;
	__u32 first;
};

static long bst_strings_step(__u32 i, void *data)
{
	struct bst_strings *st = data;
	__u8 *b = bst_buf();
	__u64 ptr = 0;
	long n;

	if (!b)
		return 1;
	if (bpf_probe_read_user(&ptr, sizeof(ptr), (void *)(st->array + 8 * i)) || !ptr)
		return 1;
	if (i < st->first)
		return 0;
	if (st->sub > BST_ARGV_MAX)
		return 1;
	n = bpf_probe_read_user_str(&b[(st->base + st->sub) & BST_MASK], BST_ARG_MAX, (void *)ptr);
	if (n <= 0)
		return 1;
	st->sub += n;
	return 0;
}

__noinline int p_user_strings(struct bst_rec *r, __u64 array, int first)
{
	struct bst_strings st = {.array = array, .sub = 0, .first = first};
	__u8 *b = bst_buf();

	if (!b || !r)
		return 0;
	if (!array || r->off + BST_ARGV_MAX + BST_ARG_MAX > BST_HALF) {
		bst_len(b, r, 0);
		return 0;
	}
	st.base = r->off;
	bpf_loop(BST_ARGV_COUNT, bst_strings_step, &st, 0);
	bst_len(b, r, st.sub & (BST_HALF - 1));
	return 0;
}

static __always_inline __u64 bst_cap(const kernel_cap_t *cap)
{
	__u64 v = 0;
	bpf_probe_read_kernel(&v, sizeof(v), cap);
	return v;
}

// 3 parameters: the current task's inheritable, permitted and effective capability sets.
__noinline int p_caps(struct bst_rec *r)
{
	struct task_struct *task = bpf_get_current_task_btf();
	const struct cred *cred = BPF_CORE_READ(task, cred);

	if (!r)
		return 0;
	p_u64(r, bst_cap(&cred->cap_inheritable));
	p_u64(r, bst_cap(&cred->cap_permitted));
	p_u64(r, bst_cap(&cred->cap_effective));
	return 0;
}

// 17 parameters: everything an execve/execveat exit carries after res, up to trusted_exepath
// (schema.py's _exec_common).
// A successful exec reads the new image (mm args/env, exe_file); a failed one the caller's
// argv/envp, still mapped.
// The caller's controlling terminal as /proc/PID/stat's tty_nr encodes it (the kernel's
// new_encode_dev of the tty's device), 0 for none: what Falco's `proc.tty` is, so rules about
// interactive shells ("Terminal shell in container") see a terminal from the exec on.
static __always_inline __u32 bst_tty(struct task_struct *task)
{
	struct tty_struct *tty = BPF_CORE_READ(task, signal, tty);
	__u32 major, minor;

	if (!tty)
		return 0;
	major = BPF_CORE_READ(tty, driver, major);
	minor = BPF_CORE_READ(tty, driver, minor_start) + BPF_CORE_READ(tty, index);
	return (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);
}

__noinline int p_exec_common(struct bst_rec *r, long ret, __u64 argv, __u64 envp)
{
	struct task_struct *task = bpf_get_current_task_btf();
	const struct cred *cred = BPF_CORE_READ(task, cred);
	__u64 ptr = 0;

	if (!r)
		return 0;
	if (ret == 0) {
		p_mm_argv(r);
	} else {
		if (argv && !bpf_probe_read_user(&ptr, sizeof(ptr), (void *)argv))
			p_ustr(r, ptr);
		else
			p_none(r);
		p_user_strings(r, argv, 1);
	}
	p_s64(r, BPF_CORE_READ(task, pid));
	p_s64(r, BPF_CORE_READ(task, tgid));
	p_s64(r, BPF_CORE_READ(task, real_parent, pid));
	p_path(r, 0);
	p_comm(r);
	if (ret == 0)
		p_mm_env(r);
	else
		p_user_strings(r, envp, 0);
	if (bpf_core_field_exists(task->loginuid))
		p_u32(r, BPF_CORE_READ(task, loginuid.val));
	else
		p_none(r);
	p_u32(r, BPF_CORE_READ(cred, uid.val));
	p_u32(r, BPF_CORE_READ(cred, gid.val));
	p_u32(r, BPF_CORE_READ(cred, euid.val));
	p_u32(r, BPF_CORE_READ(cred, egid.val));
	p_caps(r);
	if (ret == 0)
		p_path(r, 1);
	else
		p_none(r);
	p_u32(r, bst_tty(task));
	return 0;
}

// execve's `filename`: what sched_process_exec saved (success) or the caller's string.
__noinline int p_exec_filename(struct bst_rec *r, long ret, __u64 user_ptr)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct bst_pathbuf *saved;

	if (!r)
		return 0;
	if (ret != 0)
		return p_ustr(r, user_ptr);
	saved = bpf_map_lookup_elem(&bst_exec_filename, &tid);
	if (!saved)
		return p_none(r);
	p_kstr(r, saved->b);
	bpf_map_delete_elem(&bst_exec_filename, &tid);
	return 0;
}

// 3 parameters: openat2's flags, mode and resolve, from the caller's struct open_how.
__noinline int p_open_how(struct bst_rec *r, __u64 uhow)
{
	struct open_how how = {};

	if (!r)
		return 0;
	if (bpf_probe_read_user(&how, sizeof(how), (void *)uhow)) {
		p_none(r);
		p_none(r);
		return p_none(r);
	}
	p_u32(r, how.flags);
	p_u32(r, how.mode);
	p_u32(r, how.resolve);
	return 0;
}

// 3 parameters: pipe/pipe2's two new fds and the pipe's inode.
__noinline int p_pipe_fds(struct bst_rec *r, long ret, __u64 ufds)
{
	int fds[2] = {-1, -1};

	if (!r)
		return 0;
	if (ret != 0 || bpf_probe_read_user(fds, sizeof(fds), (void *)ufds)) {
		p_none(r);
		p_none(r);
		return p_none(r);
	}
	p_s64(r, fds[0]);
	p_s64(r, fds[1]);
	p_u64(r, bst_fd_ino(fds[0]));
	bst_forget_fd(fds[0]);
	bst_forget_fd(fds[1]);
	return 0;
}

// 3 parameters: accept's queuepct, queuelen and queuemax of the listening socket `fd`.
__noinline int p_accept_queue(struct bst_rec *r, long fd)
{
	struct sock *lsk = bst_fd_sock(fd);
	__u32 qlen = lsk ? BPF_CORE_READ(lsk, sk_ack_backlog) : 0;
	__u32 qmax = lsk ? BPF_CORE_READ(lsk, sk_max_ack_backlog) : 0;

	if (!r)
		return 0;
	p_u8(r, qmax ? (__u8)(qlen * 100 / qmax) : 0);
	p_u32(r, qlen);
	p_u32(r, qmax);
	return 0;
}

// The first iovec and the destination of a user msghdr.
static __always_inline void bst_read_msg(__u64 umsg, struct user_msghdr *msg, struct iovec *iov)
{
	if (umsg && !bpf_probe_read_user(msg, sizeof(*msg), (void *)umsg) && msg->msg_iovlen)
		bpf_probe_read_user(iov, sizeof(*iov), msg->msg_iov);
}

// 4 parameters: sendmsg's data, fd, size and tuple.
__noinline int p_sendmsg(struct bst_rec *r, long fd, __u64 umsg)
{
	struct user_msghdr msg = {};
	struct iovec iov = {};

	if (!r)
		return 0;
	bst_read_msg(umsg, &msg, &iov);
	p_snap(r, (__u64)iov.iov_base, iov.iov_len);
	p_s64(r, fd);
	p_u32(r, iov.iov_len);
	p_tuple(r, fd, 0, (__u64)msg.msg_name);
	return 0;
}

// 4 parameters: recvmsg's size, data, tuple and fd.
__noinline int p_recvmsg(struct bst_rec *r, long ret, long fd, __u64 umsg)
{
	struct user_msghdr msg = {};
	struct iovec iov = {};

	if (!r)
		return 0;
	bst_read_msg(umsg, &msg, &iov);
	p_u32(r, ret > 0 ? ret : 0);
	p_snap(r, (__u64)iov.iov_base, ret < (long)iov.iov_len ? ret : iov.iov_len);
	p_tuple(r, fd, 0, (__u64)msg.msg_name);
	p_s64(r, fd);
	return 0;
}

// ------------------------------------------------------------------------ the open filter

#define BST_S_IFREG 0100000
#define BST_S_IFCHR 0020000
#define BST_NSFS_MAGIC 0x6e736673
#define BST_PIDFS_MAGIC 0x50494446
#define BST_ANON_INODE_FS_MAGIC 0x09041934

// A kept-back record: counted as produced (produced == read + dropped + filtered), as filtered,
// and by its reason (bst_filtered's slot).
static __always_inline void bst_filtered_as(__u32 slot)
{
	__u64 *count = bpf_map_lookup_elem(&bst_filtered, &slot);

	bst_count(BST_CTR_PRODUCED);
	bst_count(BST_CTR_FILTERED);
	if (count)
		*count += 1; // per-CPU slot
}

#define BST_ONES 0x0101010101010101ULL
#define BST_HIGHS 0x8080808080808080ULL
#define BST_DOTS 0x2e2e2e2e2e2e2e2eULL   // '.' in every byte
#define BST_SLASHES 0x2f2f2f2f2f2f2f2fULL // '/' in every byte
#define BST_PATH_WORDS (BST_FILTER_PATH_MAX / 8)
#define BST_PREFIX_WORDS (BST_FILTER_PREFIX_MAX / 8)
#define BST_OPEN_DENY_ALL 0xffffffffU // flags that no open filter lets through

// The high bit of each byte of v that is zero. A byte just above a zero byte may be flagged
// too (the borrow): callers only use the flags to refuse, so a false flag only sends an event.
static __always_inline __u64 bst_zero_bytes(__u64 v)
{
	return (v - BST_ONES) & ~v & BST_HIGHS;
}

// Word `w` of the path `p` of `n` bytes (no NUL), the bytes past its end zeroed: the scan and
// the compare read eight bytes a step, not one (a bpf_loop callback per byte and per entry was
// most of a kept-back open's cost). Little endian: byte 0 is the low byte.
static __always_inline __u64 bst_path_word(const char *p, __u32 n, __u32 w)
{
	__u64 v = *(const __u64 *)&p[(8 * w) & BST_PATH_MASK];
	__u32 left = n - 8 * w; // > 0: the callers stop at the path's end

	return left >= 8 ? v : v & ((1ULL << (8 * left)) - 1);
}

// 1 when the path holds "/." or "..": a '.' whose previous byte is '/' or '.'.
static __always_inline int bst_has_dots(const char *p, __u32 n)
{
	__u64 v, prev, before = 0;
	__u32 w;

	for (w = 0; w < BST_PATH_WORDS; w++) {
		if (8 * w >= n)
			break;
		v = bst_path_word(p, n, w);
		prev = (v << 8) | (before >> 56); // each byte's predecessor
		if (bst_zero_bytes(v ^ BST_DOTS) &
		    (bst_zero_bytes(prev ^ BST_SLASHES) | bst_zero_bytes(prev ^ BST_DOTS)))
			return 1;
		before = v;
	}
	return 0;
}

// The entry of bst_open_paths the path equals (exact) or lies under, + 1; 0 for none. Entries
// are zero-padded (loader.py), so whole words compare.
static __always_inline __u32 bst_class_of(const char *p, __u32 n, __u32 entries)
{
	struct bst_open_path *entry;
	__u32 e, w, key, len;
	__u64 mask;

	for (e = 0; e < BST_FILTER_ENTRIES; e++) {
		if (e >= entries)
			break;
		key = e;
		entry = bpf_map_lookup_elem(&bst_open_paths, &key); // an array: inlined
		if (!entry)
			break;
		len = entry->len;
		if (len == 0 || len > BST_FILTER_PREFIX_MAX || (entry->exact ? n != len : n <= len))
			continue;
		for (w = 0; w < BST_PREFIX_WORDS; w++) {
			if (8 * w >= len)
				return e + 1;
			mask = len - 8 * w >= 8 ? ~0ULL : (1ULL << (8 * (len - 8 * w))) - 1;
			if ((*(const __u64 *)&p[(8 * w) & BST_PATH_MASK] ^ ((__u64 *)entry->s)[w]) & mask)
				break;
		}
		if (w == BST_PREFIX_WORDS)
			return e + 1;
	}
	return 0;
}

// openat2's flags, from the caller's struct open_how (0: unreadable, never kept back).
static __always_inline __u32 bst_how_flags(__u64 uhow)
{
	__u64 flags = 0;

	if (bpf_probe_read_user(&flags, sizeof(flags), (void *)uhow))
		return BST_OPEN_DENY_ALL;
	return flags;
}

// 1 when the open that returned `ret`, of the user path at `upath` with `flags`, is one the
// open filter keeps back: it is then counted as produced and filtered, by the entry that
// matched, and not sent. Run before the open's record is built: a kept-back open costs one
// read of its path into the per-CPU path buffer, not a record.
__noinline int bst_open_filtered(__u64 upath, __u32 flags, long ret)
{
	__u32 zero = 0, found;
	struct bst_config *cfg = bpf_map_lookup_elem(&bst_config, &zero);
	struct bst_pathbuf *pb;
	struct file *file;
	struct inode *inode;
	unsigned long magic;
	umode_t mode;
	long len;

	if (!cfg || !cfg->open_paths || ret < 0 || (flags & cfg->open_deny))
		return 0;
	pb = bpf_map_lookup_elem(&bst_pathbuf, &zero);
	if (!pb)
		return 0;
	// one byte more than the longest path compared: a longer one reads as too long
	len = bpf_probe_read_user_str(pb->b, BST_FILTER_PATH_MAX + 1, (void *)upath);
	if (len < 2 || len > BST_FILTER_PATH_MAX || pb->b[0] != '/')
		return 0;
	// no "/." (hidden names, ".", "..") and no ".." anywhere: the path cannot leave its class
	// once folded, and checks on text holding either cannot match it (kernel_filter.FORBIDDEN)
	if (bst_has_dots(pb->b, len - 1))
		return 0;
	// a directory is the base of later *at paths and fchdir, so it is always sent; so is a
	// namespace or pidfd file reopened by path (what setns takes), or any anonymous inode
	file = bst_fd_file(ret);
	if (!file)
		return 0;
	inode = bst_cast(file, struct file)->f_inode;
	mode = inode->i_mode & BST_S_IFMT;
	if (mode != BST_S_IFREG && mode != BST_S_IFCHR)
		return 0;
	magic = inode->i_sb->s_magic;
	if (magic == BST_NSFS_MAGIC || magic == BST_PIDFS_MAGIC || magic == BST_ANON_INODE_FS_MAGIC)
		return 0;
	found = bst_class_of(pb->b, len - 1, cfg->open_paths);
	if (!found)
		return 0;
	bst_filtered_as(found - 1);
	if (cfg->close_filter && ret < BST_FD_MARKS && !bst_files_shared()) {
		struct bst_fd_marks *marks = bst_marks(1);

		if (marks)
			__sync_fetch_and_or(&marks->w[(ret >> 6) & (BST_FD_MARKS / 64 - 1)],
					    1ULL << (ret & 63));
	}
	return 1;
}

// 1 when closing `fd` closes an fd whose open was kept back (its mark is then cleared): run
// before the close's record is built, so a kept-back close costs no record.
__noinline int bst_close_filtered(long fd)
{
	__u32 zero = 0;
	struct bst_config *cfg = bpf_map_lookup_elem(&bst_config, &zero);
	struct bst_fd_marks *marks;
	__u64 bit, old;

	if (!cfg || !cfg->close_filter || fd < 0 || fd >= BST_FD_MARKS)
		return 0;
	marks = bst_marks(0);
	if (!marks)
		return 0;
	bit = 1ULL << (fd & 63);
	old = __sync_fetch_and_and(&marks->w[(fd >> 6) & (BST_FD_MARKS / 64 - 1)], ~bit);
	if (!(old & bit) || bst_files_shared())
		return 0;
	bst_filtered_as(BST_FILTER_CLOSES);
	return 1;
}


// ------------------------------------------------------------------------ the in-kernel kill
// Its own maps and one call from bst_emit (bastion_record.h says what it decides). Only execs
// are judged: exec is rare, so the lookups cost nothing on the hot path.

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} bst_kill_cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct bst_kill_comm);
	__type(value, __u32);
} bst_kill_comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BST_KILLS_MAX);
	__type(key, __u32);
	__type(value, __u64);
} bst_kills SEC(".maps");

static __always_inline void bst_kill_count(__u32 which)
{
	__u64 *value = bpf_map_lookup_elem(&bst_kills, &which);
	if (value)
		*value += 1; // per-CPU slot
}

// The exec just written into the record: SIGKILL the current process when the kill plan says
// so, and mark the record. The signal is delivered on the way back to user space, so the new
// image never runs an instruction.
__noinline int bst_kill_exec(__u32 code, long ret)
{
	struct bst_kill_comm key = {};
	__u64 cgid;
	__u32 *bits, bit;
	__u8 *b;

	if (ret != 0)
		return 0;
	if (code == BST_EVT_EXECVE)
		bit = BST_KILL_EXECVE;
	else if (code == BST_EVT_EXECVEAT)
		bit = BST_KILL_EXECVEAT;
	else
		return 0;
	cgid = bpf_get_current_cgroup_id();
	if (!bpf_map_lookup_elem(&bst_kill_cgroups, &cgid))
		return 0;
	if (bpf_get_current_comm(key.comm, sizeof(key.comm)))
		return 0;
	bits = bpf_map_lookup_elem(&bst_kill_comms, &key);
	if (!bits || !(*bits & bit))
		return 0;
	if (bpf_send_signal(9)) {
		bst_kill_count(BST_KILLS_REFUSED);
		return 0; // user space still sees the event and acts on it
	}
	bst_kill_count(BST_KILLS_DONE);
	b = bst_buf();
	if (b)
		((struct bst_hdr *)b)->cpu |= BST_CPU_KILLED;
	return 1;
}

// ------------------------------------------------------------------------ programs

// One record per captured syscall exit. The cases and each event's writes are generated from
// the event table into bastion_events.h (BST_SYSCALL_EVENTS, BST_WRITE_<NAME>): only the
// helpers they call are written here.
static __noinline int bst_emit(__u32 code, long ret, struct bst_args *a)
{
	struct bst_rec r = {};
	struct bst_rec *rp = &r;

	// the kernel filter first: what it keeps back costs no record
#define BST_OPEN_CASE(NAME, PATH, FLAGS)                      \
	case BST_EVT_##NAME:                                  \
		if (bst_open_filtered(PATH, FLAGS, ret))      \
			return 0;                             \
		break;
#define BST_CLOSE_CASE(NAME, FD)                   \
	case BST_EVT_##NAME:                       \
		if (bst_close_filtered(FD))        \
			return 0;                  \
		break;
	switch (code) {
		BST_OPEN_FILTER_EVENTS
		BST_CLOSE_FILTER_EVENTS
	default:
		break;
	}
#undef BST_OPEN_CASE
#undef BST_CLOSE_CASE

#define BST_CASE(NAME)                                                           \
	case BST_EVT_##NAME:                                                     \
		if (bst_begin(rp, BST_EVT_##NAME, BST_NPARAMS_##NAME, ret))    \
			return 0;                                                \
		BST_WRITE_##NAME;                                                \
		break;
	switch (code) {
		BST_SYSCALL_EVENTS
	default:
		return 0;
	}
#undef BST_CASE
	bst_kill_exec(code, ret);
	bst_forget_fd(ret);
	bst_submit(rp);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(bst_sys_exit, struct pt_regs *regs, long ret)
{
	// tp_btf: `regs` is a trusted BTF pointer, so these are plain loads, not helper calls.
	// On x86_64 the syscall's arguments are still in the saved user registers at exit (only
	// ax holds the result); a successful execve is the exception, and its event reads the
	// new image (argv from the new mm, the filename kept by sched_process_exec) instead.
	__u32 nr = regs->orig_ax, code;
	__u32 *codep;
	struct bst_args args;

	if (nr >= BST_NR_MAX)
		return 0;
	codep = bpf_map_lookup_elem(&bst_interesting, &nr); // an array: inlined, no call
	if (!codep || !*codep) {
		bst_count(BST_CTR_SKIPPED_SYSCALL);
		return 0;
	}
	code = *codep;
	if (bst_cgroup_skipped() || bst_failed_skipped(ret))
		return 0;
	args.a[0] = regs->di;
	args.a[1] = regs->si;
	args.a[2] = regs->dx;
	args.a[3] = regs->r10;
	args.a[4] = regs->r8;
	args.a[5] = regs->r9;
	bst_emit(code, ret, &args);
	return 0;
}

// sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm):
// the only place bprm->filename (the path as the caller passed it) is still readable.
SEC("tp_btf/sched_process_exec")
int BPF_PROG(bst_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 zero = 0, tid = (__u32)bpf_get_current_pid_tgid();
	struct bst_pathbuf *pb = bpf_map_lookup_elem(&bst_pathbuf, &zero);

	if (!pb)
		return 0;
	if (bpf_probe_read_kernel_str(pb->b, BST_PATH_MAX, BPF_CORE_READ(bprm, filename)) <= 0)
		return 0;
	bpf_map_update_elem(&bst_exec_filename, &tid, pb, BPF_ANY);
	return 0;
}

// A pid as its own (innermost) pid namespace numbers it: Falco's vtid/vpid.
static __always_inline __s64 bst_ns_nr(struct pid *pid)
{
	struct upid upid = {};
	unsigned int level;

	if (!pid)
		return 0;
	level = BPF_CORE_READ(pid, level);
	if (bpf_probe_read_kernel(&upid, sizeof(upid), &pid->numbers[level & 31]))
		return 0;
	return upid.nr;
}

// sched_process_fork(struct task_struct *parent, struct task_struct *child), run by the
// parent: the record is the child's view (Falco's child-side clone exit: res 0, tid/pid the
// child's), read from the parent, whose memory, cwd, comm and creds the child shares or copies.
SEC("tp_btf/sched_process_fork")
int BPF_PROG(bst_fork, struct task_struct *parent, struct task_struct *child)
{
	struct bst_rec r;
	struct bst_rec *rp = &r;
	struct bst_hdr *h;
	__u8 *b;
	__u32 flags = 0, tid = BPF_CORE_READ(child, pid), tgid = BPF_CORE_READ(child, tgid);

	if (bst_cgroup_skipped())
		return 0;
	if (bst_begin(&r, BST_EVT_CLONE, BST_NPARAMS_CLONE, 0))
		return 0;
	b = bst_buf();
	if (!b)
		return 0;
	h = (struct bst_hdr *)b;
	h->tid = tid;
	h->tgid = tgid;
	if (tgid == (__u32)BPF_CORE_READ(parent, tgid))
		flags |= BST_CLONE_THREAD;
	if (BPF_CORE_READ(child, mm) == BPF_CORE_READ(parent, mm))
		flags |= BST_CLONE_VM;
	if (BPF_CORE_READ(child, fs) == BPF_CORE_READ(parent, fs))
		flags |= BST_CLONE_FS;
	if (BPF_CORE_READ(child, files) == BPF_CORE_READ(parent, files))
		flags |= BST_CLONE_FILES;
	BST_WRITE_CLONE;
	bst_submit(rp);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(bst_exit, struct task_struct *p)
{
	struct bst_rec r;
	struct bst_rec *rp = &r;
	int code = BPF_CORE_READ(p, exit_code);

	if (bst_cgroup_skipped())
		return 0;
	if (bst_begin(&r, BST_EVT_PROCEXIT, BST_NPARAMS_PROCEXIT, 0))
		return 0;
	BST_WRITE_PROCEXIT;
	bst_submit(rp);
	return 0;
}
