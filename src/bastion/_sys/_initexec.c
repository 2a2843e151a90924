/* bastion._sys._native's spawn_init: a container's init that runs no Python after the clone.
 *
 * Why: a forked Python init spends ~10 ms between clone3 and its exec on this kind of machine,
 * and `create` waits for all of it: ~600 copy-on-write page faults (Python writes a reference
 * count into every object it touches), the import of the init's modules, then each mount,
 * device and credential step at an interpreter's pace (docs/architecture.md, "The init in C").
 * runc's and crun's inits are compiled code. Here the parent, in Python, turns the config into
 * a *plan* (bastion/runtime/init/plan.py: every decision taken, every string formatted), and
 * `spawn_init` clones the init into its namespaces and cgroup; the child executes the plan's steps
 * with plain syscalls and execs the container's program, or reports the step that failed.
 *
 *   spawn_init(plan, flags, cgroup_fd, chan_fd, shared=False) -> (pid, born_in_cgroup2, handle)
 *       clone3 with `flags` (CLONE_NEW*), into the cgroup2 directory open at `cgroup_fd` unless
 *       it is -1 (retried without where the kernel refuses CLONE_INTO_CGROUP, as attach.py does);
 *       OSError when no child was made. `shared` (where SHARED_MEMORY is true): the child runs
 *       in the caller's memory (CLONE_VM) until it execs, see below; `handle` names that memory
 *       for init_left (0 without `shared`).
 *   init_left(handle, timeout) -> bool
 *       waits up to `timeout` seconds for the child of `handle` to have exec'd or died: True once
 *       it no longer runs in the caller's memory.
 *   spawn_regions() -> int
 *       how many children may still run in the caller's memory (their stacks are unmapped as
 *       soon as they have left it).
 *
 * The child never returns to Python: no fork hooks run (it is not a Python process any more,
 * as with _posixsubprocess's child), it calls no allocator and no stdio (the parent may have had
 * other threads holding their locks), and credentials change through raw syscalls (glibc's
 * wrappers would signal threads that only exist in the parent). A failed step sends
 *   {"type":"plan-error","op":N,"kind":K,"errno":E,"detail":D}
 * on the channel and exits 1: the parent knows step N and words the error exactly as the
 * Python init would (plan.py). The step codes and failure kinds below are plan.py's; a unit
 * test reads both files and compares them.
 *
 * Shared memory (posix_spawn's technique, without its vfork wait: the init outlives `create`).
 * A fork of the Python parent copies its page tables (~1.5 ms here) and then every page either
 * process writes before the init execs is copied on write (~330 faults in `create` after the
 * clone, ~4 us each on this kind of machine). With CLONE_VM the child runs in the parent's
 * memory instead, and so it must write nothing of the parent's: it runs on a stack of its own
 * (an mmap'd region that also holds a copy of the plan, as the parent may free its bytes), keeps
 * its state there (`struct child`, no static variable), and calls the kernel through `sc6`,
 * which never sets errno (glibc's errno is the parent thread's, in thread-local storage). The
 * parent blocks every signal around the clone and the child resets every handler before it
 * unblocks them: a Python handler run in the child would write into the parent. What stays
 * shared is the memory descriptor's own: the command line area (the title: the caller sets it,
 * runtime/init/shared_memory.py) and dumpability (the child's PR_SET_DUMPABLE applies to the
 * parent until it execs). CLONE_CHILD_CLEARTID makes the kernel zero a word in the region (and
 * wake its futex) when the child execs or dies: the region is then unmapped at the next call.
 * Offered on x86_64 only, where the clone trampoline and the system call instruction are
 * written here; elsewhere the child is a fork as before.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#define CLONE_INTO_CGROUP_FLAG 0x200000000ULL
#define RESOLVE_NO_MAGICLINKS_FLAG 0x02
#define RESOLVE_IN_ROOT_FLAG 0x10
#define CLOSE_RANGE_CLOEXEC_FLAG 4
#define LOCKED_FLAGS (MS_NOSUID | MS_NODEV | MS_NOEXEC)
#define PATH_BUF 4096
#define STACK_SIZE (1024 * 1024) /* the child's deepest use is ~100 KB: find_home, exec_program */

/* ------------------------------------------------------------------ system calls
 * Each returns its result or -errno, and leaves errno alone (see "Shared memory" above). */
#if defined(__x86_64__)
#define SHARED_MEMORY 1
static inline long sc6(long n, long a, long b, long c, long d, long e, long f) {
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "0"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
#else
#define SHARED_MEMORY 0
static long sc6(long n, long a, long b, long c, long d, long e, long f) {
    long ret = syscall(n, a, b, c, d, e, f); /* a fork's errno is its own */
    return ret == -1 ? -errno : ret;
}
#endif
#define SC(n, a, b, c, d, e, f)                                                                   \
    sc6((long)(n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

static long x_openat(int dir, const char *path, int flags, int mode) {
    return SC(SYS_openat, dir, path, flags, mode, 0, 0);
}
static long x_open(const char *path, int flags) { return x_openat(AT_FDCWD, path, flags, 0); }
static void x_close(int fd) { (void)SC(SYS_close, fd, 0, 0, 0, 0, 0); }
static long x_read(int fd, void *buf, size_t n) { return SC(SYS_read, fd, buf, n, 0, 0, 0); }
static long x_write(int fd, const void *buf, size_t n) { return SC(SYS_write, fd, buf, n, 0, 0, 0); }
static long x_mount(const char *src, const char *dst, const char *type, unsigned long flags,
                    const char *data) {
    return SC(SYS_mount, src, dst, type, flags, data, 0);
}
static long x_stat(const char *path, int nofollow, struct statx *st) {
    return SC(SYS_statx, AT_FDCWD, path, nofollow ? AT_SYMLINK_NOFOLLOW : 0, STATX_TYPE | STATX_MODE,
              st, 0);
}
/* the mount flags statvfs(3) reports in f_flag: the kernel's statfs f_flags has the same bits */
static long x_locked_flags(int fd, const char *path, unsigned long *flags) {
    struct statfs st;
    long rc = fd >= 0 ? SC(SYS_fstatfs, fd, &st, 0, 0, 0, 0) : SC(SYS_statfs, path, &st, 0, 0, 0, 0);
    *flags = rc == 0 ? ((unsigned long)st.f_flags & LOCKED_FLAGS) : 0;
    return rc;
}
static long x_prctl(long option, long a2, long a3) { return SC(SYS_prctl, option, a2, a3, 0, 0, 0); }
static long x_send(int fd, const void *buf, size_t n) {
    return SC(SYS_sendto, fd, buf, n, MSG_NOSIGNAL, 0, 0);
}
static void __attribute__((noreturn)) x_exit(int status) {
    for (;;)
        (void)SC(SYS_exit_group, status, 0, 0, 0, 0, 0);
}

/* the kernel's struct sigaction (rt_sigaction takes the mask's size: 8 bytes) */
struct k_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void *restorer;
    uint64_t mask;
};
static void x_default_signal(int sig) {
    struct k_sigaction dfl = {SIG_DFL, 0, NULL, 0};
    (void)SC(SYS_rt_sigaction, sig, &dfl, NULL, 8, 0, 0);
}

/* step codes (plan.py's Op) */
enum {
    OP_WRITE = 1,
    OP_PRCTL = 2,
    OP_TITLE = 3,
    OP_RECV_GO = 4,
    OP_UNSHARE = 5,
    OP_SETSID = 6,
    OP_BLOCKING = 7,
    OP_MOUNT = 8,
    OP_ROOT = 9,
    OP_MOUNT_IN_ROOT = 10,
    OP_MAKE = 11,
    OP_MOUNT_MADE = 12,
    OP_REMOUNT_IN_ROOT = 13,
    OP_SYMLINK_IN_ROOT = 14,
    OP_MKNOD_IN_ROOT = 15,
    OP_PIVOT = 16,
    OP_HOSTNAME = 17,
    OP_DOMAINNAME = 18,
    OP_MASK = 19,
    OP_READONLY = 20,
    OP_REMOUNT_RO = 21,
    OP_HOME = 22,
    OP_RLIMIT = 23,
    OP_BOUNDING = 24,
    OP_SWITCH_USER = 25,
    OP_UMASK = 26,
    OP_CHDIR = 27,
    OP_FIND_EXEC = 28,
    OP_CAPSET = 29,
    OP_AMBIENT = 30,
    OP_CLOEXEC_FROM = 31,
    OP_READY = 32,
    OP_WAIT_START = 33,
    OP_EXEC = 34,
    OP_SECCOMP = 35,
};

/* failure kinds (plan.py's Kind) */
enum {
    KIND_SYSCALL = 1,      /* the step's own syscall failed (errno) */
    KIND_FALLBACK = 2,     /* OP_WRITE: its fallback too; OP_SWITCH_USER: keepcaps */
    KIND_MAKE = 3,         /* making the mount point or directory failed (errno) */
    KIND_DANGLING = 4,     /* the path is a dangling symlink in the rootfs */
    KIND_BAD_NAME = 5,     /* the path cannot be created (no name, "." or "..") */
    KIND_NO_SOURCE = 6,    /* a bind mount's source does not exist */
    KIND_MOUNT = 7,        /* the mount itself failed (errno) */
    KIND_AFTER_MOUNT = 8,  /* a remount or propagation change after the mount failed (errno) */
    KIND_NOT_FOUND = 9,    /* OP_FIND_EXEC: no such file (a name with a slash) */
    KIND_NOT_RUNNABLE = 10,/* OP_FIND_EXEC: a directory, or not executable */
    KIND_NOT_IN_PATH = 11, /* OP_FIND_EXEC: nowhere in $PATH */
    KIND_PLAN = 12,        /* the plan itself is damaged */
};

/* The plan: 8-byte little-endian integers, and strings as a length, the bytes and a NUL. */
struct reader {
    const char *p, *end;
};

/* What the child keeps while it runs the plan: on its own stack, never in a static (the memory
 * may be the parent's). */
struct child {
    int chan, step, root, made, in_cgroup2, shared, has_home;
    int detail; /* the descriptor a failed mount targeted (its /proc/self/fd path) */
    char exec[PATH_BUF];
    char home[PATH_BUF];
};

static void put_int(char **out, long v) {
    char digits[24];
    int n = 0;
    unsigned long u = v < 0 ? -(unsigned long)v : (unsigned long)v;
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *(*out)++ = '-';
    while (n)
        *(*out)++ = digits[--n];
}

static void put_str(char **out, const char *s) {
    size_t n = strlen(s);
    memcpy(*out, s, n);
    *out += n;
}

/* `err` is an errno value (positive) */
static void __attribute__((noreturn)) fail(struct child *c, int kind, long err) {
    if (c->chan >= 0) {
        char msg[160], *o = msg;
        put_str(&o, "{\"type\":\"plan-error\",\"op\":");
        put_int(&o, c->step);
        put_str(&o, ",\"kind\":");
        put_int(&o, kind);
        put_str(&o, ",\"errno\":");
        put_int(&o, err);
        put_str(&o, ",\"detail\":");
        put_int(&o, c->detail);
        put_str(&o, "}");
        (void)x_send(c->chan, msg, (size_t)(o - msg));
    }
    x_exit(1);
}

/* fail with the errno of a call's negative result */
static long must(struct child *c, long rc) {
    if (rc < 0)
        fail(c, KIND_SYSCALL, -rc);
    return rc;
}

static uint64_t rd_u64(struct child *c, struct reader *r) {
    uint64_t v;
    if (r->end - r->p < 8)
        fail(c, KIND_PLAN, EINVAL);
    memcpy(&v, r->p, 8);
    r->p += 8;
    return v;
}

static long rd_int(struct child *c, struct reader *r) { return (long)rd_u64(c, r); }

static const char *rd_str(struct child *c, struct reader *r) {
    uint64_t n = rd_u64(c, r);
    if ((uint64_t)(r->end - r->p) < n + 1 || r->p[n] != '\0')
        fail(c, KIND_PLAN, EINVAL);
    const char *s = r->p;
    r->p += n + 1;
    return s;
}

/* "" stands for NULL (no source, no filesystem type, no data) */
static const char *opt(const char *s) { return *s ? s : NULL; }

static void fd_path(char *buf, int fd) {
    char *o = buf;
    put_str(&o, "/proc/self/fd/");
    put_int(&o, fd);
    *o = '\0';
}

static long open_in_root(struct child *c, const char *path, int flags) {
    struct {
        uint64_t flags, mode, resolve;
    } how = {(uint64_t)(flags | O_CLOEXEC), 0, RESOLVE_IN_ROOT_FLAG | RESOLVE_NO_MAGICLINKS_FLAG};
    while (*path == '/')
        path++;
    return SC(SYS_openat2, c->root, *path ? path : ".", &how, sizeof how, 0, 0);
}

static long make_missing(struct child *c, char *buf, int directory, int *kind);

/* the directory `buf` ("" is the root), made with its missing parents if absent */
static long make_dir(struct child *c, char *buf, int *kind) {
    long fd = open_in_root(c, *buf ? buf : "/", O_PATH);
    if (fd != -ENOENT) { /* there (fd >= 0), or a failure that is not absence */
        *kind = KIND_MAKE;
        return fd;
    }
    return make_missing(c, buf, 1, kind);
}

/* `buf` (no trailing slash) is absent: make it, and its missing parents as directories. `buf`
 * is cut at the last slash for the parent and restored after: one buffer for the whole
 * recursion, not one per level (the stack of a shared child is bounded). */
static long make_missing(struct child *c, char *buf, int directory, int *kind) {
    char *slash = strrchr(buf, '/');
    const char *name = slash ? slash + 1 : buf;
    if (!*name || !strcmp(name, ".") || !strcmp(name, "..")) {
        *kind = KIND_BAD_NAME;
        return -ENOENT;
    }
    long parent;
    if (slash) {
        char *cut = slash; /* the first slash of the run before the name */
        while (cut > buf && cut[-1] == '/')
            cut--;
        *cut = '\0';
        parent = make_dir(c, buf, kind);
        *cut = '/';
    } else {
        char root[1] = "";
        parent = make_dir(c, root, kind);
    }
    if (parent < 0)
        return parent;
    long rc;
    if (directory) {
        rc = SC(SYS_mkdirat, parent, name, 0755, 0, 0, 0);
    } else {
        rc = x_openat((int)parent, name, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (rc >= 0)
            x_close((int)rc);
    }
    x_close((int)parent);
    if (rc < 0 && rc != -EEXIST) {
        *kind = KIND_MAKE;
        return rc;
    }
    long fd = open_in_root(c, buf, O_PATH);
    if (fd < 0)
        *kind = fd == -ENOENT ? KIND_DANGLING : KIND_MAKE;
    return fd;
}

/* mountpoints.Root.make: open `path` inside the rootfs, creating it (and missing parents as
 * directories) if absent; an O_PATH descriptor, or -errno with the failure kind in *kind. */
static long make_in_root(struct child *c, const char *path, int directory, int *kind) {
    long fd = open_in_root(c, path, O_PATH);
    if (fd != -ENOENT) { /* there (fd >= 0), or a failure that is not absence */
        *kind = KIND_MAKE;
        return fd;
    }
    char buf[PATH_BUF];
    size_t n = strlen(path);
    if (n >= sizeof buf) {
        *kind = KIND_MAKE;
        return -ENAMETOOLONG;
    }
    memcpy(buf, path, n + 1);
    while (n > 0 && buf[n - 1] == '/')
        buf[--n] = '\0';
    return make_missing(c, buf, directory, kind);
}

static int must_make(struct child *c, const char *path, int directory) {
    int kind = 0;
    long fd = make_in_root(c, path, directory, &kind);
    if (fd < 0)
        fail(c, kind, -fd);
    return (int)fd;
}

static unsigned long locked_flags(int fd) {
    unsigned long flags;
    (void)x_locked_flags(fd, NULL, &flags);
    return flags;
}

/* rootfs._mount_one for a mount that is neither cgroup nor tmpcopyup */
static void mount_in_root(struct child *c, struct reader *r) {
    const char *dest = rd_str(c, r), *source = rd_str(c, r), *fstype = rd_str(c, r);
    unsigned long flags = (unsigned long)rd_u64(c, r), propagation = (unsigned long)rd_u64(c, r);
    const char *data = rd_str(c, r);
    int bind = (int)rd_int(c, r);
    const char *host = rd_str(c, r); /* where sysfs or mqueue falls back to a bind of the host's */
    char path[40];
    int directory = 1;
    long rc;
    if (bind) {
        struct statx st;
        flags |= MS_BIND;
        if ((rc = x_stat(source, 0, &st)) != 0)
            fail(c, KIND_NO_SOURCE, -rc);
        directory = S_ISDIR(st.stx_mode);
    }
    int target = must_make(c, dest, directory);
    fd_path(path, target);
    c->detail = target;
    if (bind) {
        if ((rc = x_mount(source, path, NULL, flags & (MS_BIND | MS_REC), NULL)) != 0)
            fail(c, KIND_MOUNT, -rc);
    } else if ((rc = x_mount(source, path, opt(fstype), flags & ~(unsigned long)MS_REMOUNT,
                             opt(data))) != 0) {
        if (!*host)
            fail(c, KIND_MOUNT, -rc);
        if ((rc = x_mount(host, path, NULL, MS_BIND | MS_REC, NULL)) != 0)
            fail(c, KIND_AFTER_MOUNT, -rc);
        flags |= MS_RDONLY | MS_BIND;
        bind = 1;
    }
    x_close(target);
    /* reopen: the old descriptor names the directory under the new mount */
    long top = open_in_root(c, dest, O_PATH);
    if (top < 0)
        fail(c, KIND_AFTER_MOUNT, -top);
    fd_path(path, (int)top);
    unsigned long extra = flags & ~(unsigned long)(MS_BIND | MS_REC | MS_REMOUNT);
    if (bind && extra &&
        (rc = x_mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | extra | locked_flags((int)top),
                      NULL)) != 0)
        fail(c, KIND_AFTER_MOUNT, -rc);
    if (propagation && (rc = x_mount(NULL, path, NULL, propagation, NULL)) != 0)
        fail(c, KIND_AFTER_MOUNT, -rc);
    x_close((int)top);
}

static void remount_in_root(struct child *c, struct reader *r) {
    const char *dest = rd_str(c, r);
    unsigned long flags = (unsigned long)rd_u64(c, r);
    const char *data = rd_str(c, r);
    int add_locked = (int)rd_int(c, r);
    char path[40];
    int top = (int)must(c, open_in_root(c, dest, O_PATH));
    fd_path(path, top);
    if (add_locked)
        flags |= locked_flags(top);
    must(c, x_mount(NULL, path, NULL, flags, opt(data)));
    x_close(top);
}

static void symlink_in_root(struct child *c, struct reader *r) {
    const char *dir = rd_str(c, r), *target = rd_str(c, r), *name = rd_str(c, r);
    int replace = (int)rd_int(c, r);
    const char *only_if = rd_str(c, r);
    if (*only_if) {
        long probe = open_in_root(c, only_if, O_PATH);
        if (probe < 0)
            return;
        x_close((int)probe);
    }
    int fd = must_make(c, dir, 1);
    long rc;
    if (replace && (rc = SC(SYS_unlinkat, fd, name, 0, 0, 0, 0)) != 0 && rc != -ENOENT)
        fail(c, KIND_SYSCALL, -rc);
    if ((rc = SC(SYS_symlinkat, target, fd, name, 0, 0, 0)) != 0 && rc != -EEXIST)
        fail(c, KIND_SYSCALL, -rc);
    x_close(fd);
}

/* devices._make_node outside a user namespace */
static void mknod_in_root(struct child *c, struct reader *r) {
    const char *dir = rd_str(c, r), *name = rd_str(c, r);
    mode_t mode = (mode_t)rd_u64(c, r);
    dev_t dev = (dev_t)rd_u64(c, r);
    uid_t uid = (uid_t)rd_u64(c, r);
    gid_t gid = (gid_t)rd_u64(c, r);
    char path[40];
    int parent = must_make(c, dir, 1);
    long rc = SC(SYS_unlinkat, parent, name, 0, 0, 0, 0);
    if (rc != 0 && rc != -ENOENT && rc != -EISDIR)
        fail(c, KIND_MAKE, -rc);
    must(c, SC(SYS_mknodat, parent, name, mode, dev, 0, 0));
    must(c, SC(SYS_fchownat, parent, name, uid, gid, AT_SYMLINK_NOFOLLOW, 0));
    int leaf = (int)must(c, x_openat(parent, name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0));
    fd_path(path, leaf);
    must(c, SC(SYS_fchmodat, AT_FDCWD, path, mode & 07777, 0, 0, 0));
    x_close(leaf);
    x_close(parent);
}

static void pivot(struct child *c, const char *rootfs) {
    x_close(c->root);
    c->root = -1;
    int old_root = (int)must(c, x_open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC));
    int new_root = (int)must(c, x_open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC));
    must(c, SC(SYS_fchdir, new_root, 0, 0, 0, 0, 0));
    must(c, SC(SYS_pivot_root, ".", ".", 0, 0, 0, 0));
    must(c, SC(SYS_fchdir, old_root, 0, 0, 0, 0, 0));
    must(c, x_mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL));
    must(c, SC(SYS_umount2, ".", MNT_DETACH, 0, 0, 0, 0));
    must(c, SC(SYS_chdir, "/", 0, 0, 0, 0, 0));
    x_close(old_root);
    x_close(new_root);
}

static void remount_ro(struct child *c, const char *path, int recursive) {
    unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY, locked;
    must(c, x_locked_flags(-1, path, &locked));
    flags |= locked;
    if (recursive)
        flags |= MS_REC;
    must(c, x_mount(NULL, path, NULL, flags, NULL));
}

static void mask(struct child *c, const char *path) {
    struct statx st;
    int is_dir = x_stat(path, 0, &st) == 0 && S_ISDIR(st.stx_mode);
    if (x_stat(path, 1, &st) != 0)
        return;
    must(c, is_dir ? x_mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL)
                   : x_mount("/dev/null", path, NULL, MS_BIND, NULL));
}

static void make_readonly(struct child *c, const char *path) {
    struct statx st;
    if (x_stat(path, 1, &st) != 0)
        return;
    must(c, x_mount(path, path, NULL, MS_BIND | MS_REC, NULL));
    remount_ro(c, path, 1);
}

/* process._home_of: the home directory of `uid` in the container's /etc/passwd, else "/" */
static void find_home(struct child *c, long uid) {
    char text[65536];
    strcpy(c->home, "/");
    c->has_home = 1;
    long fd = x_open("/etc/passwd", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    size_t len = 0;
    long n;
    while (len < sizeof text - 1 && (n = x_read((int)fd, text + len, sizeof text - 1 - len)) > 0)
        len += (size_t)n;
    x_close((int)fd);
    text[len] = '\0';
    char want[24], *o = want;
    put_int(&o, uid);
    *o = '\0';
    for (char *line = text; line && *line;) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *parts[7] = {0};
        int count = 0;
        for (char *p = line; count < 7;) {
            parts[count++] = p;
            char *colon = strchr(p, ':');
            if (!colon)
                break;
            *colon = '\0';
            p = colon + 1;
        }
        if (count >= 6 && !strcmp(parts[2], want)) {
            const char *home = *parts[5] ? parts[5] : "/";
            if (strlen(home) < sizeof c->home)
                strcpy(c->home, home);
            return;
        }
        line = next;
    }
}

/* os.path.join(a, b) for a relative b */
static int join(char *out, const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la + lb + 2 > PATH_BUF)
        return -1;
    memcpy(out, a, la);
    if (la && a[la - 1] != '/')
        out[la++] = '/';
    memcpy(out + la, b, lb + 1);
    return 0;
}

/* access(path, X_OK): the real ids' answer, as the Python init's os.access */
static long x_executable(const char *path) { return SC(SYS_faccessat, AT_FDCWD, path, X_OK, 0, 0, 0); }

/* process.find_executable after the user switch, so access() answers for the container's user */
static void find_exec(struct child *c, struct reader *r) {
    const char *name = rd_str(c, r), *given = rd_str(c, r), *path_var = rd_str(c, r);
    struct statx st;
    long rc;
    if (*given) { /* a name with a slash: `given` is it, joined to the cwd if relative */
        if ((rc = x_stat(given, 0, &st)) != 0)
            fail(c, KIND_NOT_FOUND, -rc);
        if (S_ISDIR(st.stx_mode) || x_executable(given) != 0)
            fail(c, KIND_NOT_RUNNABLE, EACCES);
        strcpy(c->exec, given);
        return;
    }
    for (const char *dir = path_var;;) {
        const char *colon = strchr(dir, ':');
        size_t n = colon ? (size_t)(colon - dir) : strlen(dir);
        char head[PATH_BUF];
        if (n < sizeof head) {
            memcpy(head, n ? dir : ".", n ? n : 1);
            head[n ? n : 1] = '\0';
            if (join(c->exec, head, name) == 0 && x_stat(c->exec, 0, &st) == 0 &&
                S_ISREG(st.stx_mode) && x_executable(c->exec) == 0)
                return;
        }
        if (!colon)
            break;
        dir = colon + 1;
    }
    fail(c, KIND_NOT_IN_PATH, ENOENT);
}

/* prctl.set_cmdline: /proc/<pid>/cmdline shows `title`, written over the argument area (only a
 * child with memory of its own: a shared one's area is the caller's, who wrote the title) */
static void set_title(const char *title) {
    char stat_text[2048];
    long fd = x_open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    long n = x_read((int)fd, stat_text, sizeof stat_text - 1);
    x_close((int)fd);
    if (n <= 0)
        return;
    stat_text[n] = '\0';
    char *p = strrchr(stat_text, ')');
    if (!p)
        return;
    /* after the ')': field 3 onwards; arg_start and arg_end are fields 48 and 49 */
    unsigned long values[2] = {0, 0};
    int field = 2;
    for (char *tok = p + 1; *tok && field < 49;) {
        while (*tok == ' ')
            tok++;
        field++;
        if (field >= 48) /* by hand: strtoul would consult the locale's tables */
            for (const char *d = tok; *d >= '0' && *d <= '9'; d++)
                values[field - 48] = values[field - 48] * 10 + (unsigned long)(*d - '0');
        while (*tok && *tok != ' ')
            tok++;
    }
    unsigned long start = values[0], end = values[1];
    if (end < start + 2)
        return;
    size_t size = end - start, len = strlen(title);
    if (len > size - 2)
        len = size - 2;
    char *area = (char *)start;
    memcpy(area, title, len);
    memset(area + len, 0, size - len - 1);
    area[size - 1] = ' ';
}

static void cap_set(struct child *c, uint64_t eff, uint64_t perm, uint64_t inh) {
    struct {
        uint32_t version;
        int pid;
    } header = {0x20080522, 0};
    struct {
        uint32_t effective, permitted, inheritable;
    } data[2] = {{(uint32_t)eff, (uint32_t)perm, (uint32_t)inh},
                 {(uint32_t)(eff >> 32), (uint32_t)(perm >> 32), (uint32_t)(inh >> 32)}};
    must(c, SC(SYS_capset, &header, data, 0, 0, 0, 0));
}

static void switch_user(struct child *c, struct reader *r) {
    long uid = rd_int(c, r), gid = rd_int(c, r), count = rd_int(c, r);
    gid_t groups[256];
    if (count < 0 || count > 256)
        fail(c, KIND_PLAN, EINVAL);
    for (long i = 0; i < count; i++)
        groups[i] = (gid_t)rd_u64(c, r);
    long rc = x_prctl(PR_SET_KEEPCAPS, 1, 0);
    if (rc != 0)
        fail(c, KIND_FALLBACK, -rc);
    long err = SC(SYS_setgroups, count, groups, 0, 0, 0, 0);
    if (err == 0)
        err = SC(SYS_setresgid, (gid_t)gid, (gid_t)gid, (gid_t)gid, 0, 0, 0);
    if (err == 0)
        err = SC(SYS_setresuid, (uid_t)uid, (uid_t)uid, (uid_t)uid, 0, 0, 0);
    rc = x_prctl(PR_SET_KEEPCAPS, 0, 0);
    if (rc != 0 && !err)
        fail(c, KIND_FALLBACK, -rc);
    if (err)
        fail(c, KIND_SYSCALL, -err);
}

static void write_file(struct child *c, struct reader *r) {
    const char *path = rd_str(c, r), *data = rd_str(c, r), *fallback = rd_str(c, r);
    long flags = rd_int(c, r), outside_cgroup2_only = rd_int(c, r);
    if (outside_cgroup2_only && c->in_cgroup2)
        return;
    size_t len = strlen(data);
    long fd = x_open(path, (int)flags), rc = fd;
    if (fd >= 0) {
        rc = x_write((int)fd, data, len);
        x_close((int)fd);
        if (rc >= 0)
            return;
    }
    if (!*fallback)
        fail(c, KIND_SYSCALL, -rc);
    fd = x_open(fallback, (int)flags);
    if (fd < 0)
        fail(c, KIND_FALLBACK, -fd);
    if ((rc = x_write((int)fd, data, len)) < 0)
        fail(c, KIND_FALLBACK, -rc);
    x_close((int)fd);
}

static void wait_start(int fd) {
    char byte;
    for (;;) {
        long n = x_read(fd, &byte, 1);
        if (n > 0)
            return;
        if (n != -EINTR)
            x_exit(1);
    }
}

static void __attribute__((noreturn)) exec_program(struct child *c, struct reader *r) {
    long argc = rd_int(c, r);
    const char *argv[1024];
    const char *envp[4096 + 2];
    if (argc < 1 || argc > 1023)
        fail(c, KIND_PLAN, EINVAL);
    for (long i = 0; i < argc; i++)
        argv[i] = rd_str(c, r);
    argv[argc] = NULL;
    long envc = rd_int(c, r);
    if (envc < 0 || envc > 4096)
        fail(c, KIND_PLAN, EINVAL);
    for (long i = 0; i < envc; i++)
        envp[i] = rd_str(c, r);
    char home[PATH_BUF + 8];
    if (c->has_home) {
        char *o = home;
        put_str(&o, "HOME=");
        put_str(&o, c->home);
        *o = '\0';
        envp[envc++] = home;
    }
    envp[envc] = NULL;
    /* Python's start-up ignores these two; runc's containers start with them at SIG_DFL */
    x_default_signal(SIGPIPE);
    x_default_signal(SIGXFSZ);
    long err = -SC(SYS_execve, c->exec, argv, envp, 0, 0, 0);
    const char *why = strerrordesc_np((int)err);
    char msg[PATH_BUF + 128], *o = msg;
    put_str(&o, "bastion-runc init: exec ");
    put_str(&o, c->exec);
    put_str(&o, ": ");
    put_str(&o, why ? why : "unknown error");
    put_str(&o, "\n");
    (void)x_write(2, msg, (size_t)(o - msg));
    x_exit(127);
}

static void __attribute__((noreturn)) run_plan(struct child *c, const char *plan, size_t size) {
    struct reader r = {plan, plan + size};
    char path[40];
    for (c->step = 0; r.p < r.end; c->step++) {
        long code = rd_int(c, &r);
        switch (code) {
        case OP_WRITE:
            write_file(c, &r);
            break;
        case OP_PRCTL: {
            long option = rd_int(c, &r), arg = rd_int(c, &r);
            must(c, x_prctl(option, arg, 0));
            break;
        }
        case OP_TITLE: {
            const char *title = rd_str(c, &r);
            if (!c->shared)
                set_title(title);
            break;
        }
        case OP_RECV_GO: {
            char buf[256];
            if (SC(SYS_recvfrom, c->chan, buf, sizeof buf, 0, NULL, NULL) <= 0)
                x_exit(1); /* the parent is gone: nothing to tell */
            break;
        }
        case OP_UNSHARE:
            must(c, SC(SYS_unshare, rd_int(c, &r), 0, 0, 0, 0, 0));
            break;
        case OP_SETSID:
            must(c, SC(SYS_setsid, 0, 0, 0, 0, 0, 0));
            break;
        case OP_BLOCKING: {
            int fd = (int)rd_int(c, &r);
            long fl = must(c, SC(SYS_fcntl, fd, F_GETFL, 0, 0, 0, 0));
            must(c, SC(SYS_fcntl, fd, F_SETFL, fl & ~O_NONBLOCK, 0, 0, 0));
            break;
        }
        case OP_MOUNT: {
            const char *source = rd_str(c, &r), *target = rd_str(c, &r), *fstype = rd_str(c, &r);
            unsigned long flags = (unsigned long)rd_u64(c, &r);
            const char *data = rd_str(c, &r);
            must(c, x_mount(opt(source), target, opt(fstype), flags, opt(data)));
            break;
        }
        case OP_ROOT:
            c->root = (int)must(c, x_open(rd_str(c, &r), O_PATH | O_DIRECTORY | O_CLOEXEC));
            break;
        case OP_MOUNT_IN_ROOT:
            mount_in_root(c, &r);
            break;
        case OP_MAKE: {
            const char *dest = rd_str(c, &r);
            int directory = (int)rd_int(c, &r), keep = (int)rd_int(c, &r);
            c->made = must_make(c, dest, directory);
            if (!keep) {
                x_close(c->made);
                c->made = -1;
            }
            break;
        }
        case OP_MOUNT_MADE: {
            const char *source = rd_str(c, &r), *fstype = rd_str(c, &r);
            unsigned long flags = (unsigned long)rd_u64(c, &r);
            const char *data = rd_str(c, &r);
            fd_path(path, c->made);
            long rc = x_mount(opt(source), path, opt(fstype), flags, opt(data));
            x_close(c->made);
            c->made = -1;
            must(c, rc);
            break;
        }
        case OP_REMOUNT_IN_ROOT:
            remount_in_root(c, &r);
            break;
        case OP_SYMLINK_IN_ROOT:
            symlink_in_root(c, &r);
            break;
        case OP_MKNOD_IN_ROOT:
            mknod_in_root(c, &r);
            break;
        case OP_PIVOT:
            pivot(c, rd_str(c, &r));
            break;
        case OP_HOSTNAME: {
            const char *name = rd_str(c, &r);
            must(c, SC(SYS_sethostname, name, strlen(name), 0, 0, 0, 0));
            break;
        }
        case OP_DOMAINNAME: {
            const char *name = rd_str(c, &r);
            must(c, SC(SYS_setdomainname, name, strlen(name), 0, 0, 0, 0));
            break;
        }
        case OP_MASK:
            mask(c, rd_str(c, &r));
            break;
        case OP_READONLY:
            make_readonly(c, rd_str(c, &r));
            break;
        case OP_REMOUNT_RO: {
            const char *target = rd_str(c, &r);
            remount_ro(c, target, (int)rd_int(c, &r));
            break;
        }
        case OP_HOME:
            find_home(c, rd_int(c, &r));
            break;
        case OP_RLIMIT: {
            long resource = rd_int(c, &r);
            struct {
                uint64_t soft, hard;
            } limit;
            limit.soft = rd_u64(c, &r);
            limit.hard = rd_u64(c, &r);
            must(c, SC(SYS_prlimit64, 0, (int)resource, &limit, NULL, 0, 0));
            break;
        }
        case OP_BOUNDING: {
            uint64_t keep = rd_u64(c, &r);
            long last = rd_int(c, &r);
            for (long cap = 0; cap <= last && cap < 64; cap++)
                if (!(keep & (1ULL << cap)) && x_prctl(PR_CAPBSET_READ, cap, 0) == 1)
                    must(c, x_prctl(PR_CAPBSET_DROP, cap, 0));
            break;
        }
        case OP_SWITCH_USER:
            switch_user(c, &r);
            break;
        case OP_UMASK:
            (void)SC(SYS_umask, rd_int(c, &r), 0, 0, 0, 0, 0);
            break;
        case OP_CHDIR:
            must(c, SC(SYS_chdir, rd_str(c, &r), 0, 0, 0, 0, 0));
            break;
        case OP_FIND_EXEC:
            find_exec(c, &r);
            break;
        case OP_CAPSET: {
            uint64_t eff = rd_u64(c, &r), perm = rd_u64(c, &r), inh = rd_u64(c, &r);
            cap_set(c, eff, perm, inh);
            break;
        }
        case OP_AMBIENT: {
            long count = rd_int(c, &r);
            must(c, SC(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0));
            for (long i = 0; i < count; i++)
                must(c, SC(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, rd_u64(c, &r), 0, 0, 0));
            break;
        }
        case OP_CLOEXEC_FROM: {
            long first = rd_int(c, &r);
            /* every descriptor the caller left open, but stdio and the preserved ones */
            if (SC(SYS_close_range, (unsigned)first, ~0U, CLOSE_RANGE_CLOEXEC_FLAG, 0, 0, 0) != 0)
                for (int fd = (int)first; fd < 65536; fd++)
                    (void)SC(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC, 0, 0, 0);
            for (int fd = 3; fd < first; fd++)
                (void)SC(SYS_fcntl, fd, F_SETFD, 0, 0, 0, 0);
            break;
        }
        case OP_READY:
            if (x_send(c->chan, "{\"type\":\"ready\"}", 16) != 16)
                x_exit(1);
            x_close(c->chan);
            c->chan = -1;
            break;
        case OP_WAIT_START:
            wait_start((int)rd_int(c, &r));
            break;
        case OP_SECCOMP: {
            /* a program as seccomp_export_bpf wrote it (runtime/seccomp.py compile_cached),
             * installed as libseccomp installs a filter without flags (_sys/seccomp.py) */
            const char *program = rd_str(c, &r);
            struct sock_fprog fprog;
            fprog.len = (unsigned short)(rd_u64(c, &r) / sizeof(struct sock_filter));
            fprog.filter = (struct sock_filter *)program;
            must(c, SC(SYS_prctl, PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0, 0));
            break;
        }
        case OP_EXEC:
            exec_program(c, &r);
        default:
            fail(c, KIND_PLAN, EINVAL);
        }
    }
    fail(c, KIND_PLAN, EINVAL); /* a plan ends with OP_EXEC */
}

/* ------------------------------------------------------------------ the clone */

/* What the parent hands the child: in the region (shared memory) or on the parent's stack (a
 * fork has its own copy of it). */
struct launch {
    volatile uint32_t left;   /* CLONE_CHILD_CLEARTID's word: 0 once the child left the memory */
    struct launch *next;      /* the caller's list of regions (touched by the parent only) */
    size_t length;            /* of the region, for munmap */
    uint64_t mask;            /* the signal mask to restore in the child */
    int chan, in_cgroup2, shared;
    const char *plan;
    size_t plan_size;
};

static void __attribute__((noreturn)) child_main(struct launch *l) {
    struct child c;
    c.chan = l->chan;
    c.step = 0;
    c.root = -1;
    c.made = -1;
    c.in_cgroup2 = l->in_cgroup2;
    c.shared = l->shared;
    c.has_home = 0;
    c.detail = -1;
    /* every handler back to SIG_DFL before any signal is let in: a caught signal would run the
     * Python parent's handler, in the parent's memory when it is shared (glibc's posix_spawn
     * does the same); what is ignored stays ignored, as exec keeps it */
    for (int sig = 1; sig <= 64; sig++) {
        struct k_sigaction old;
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        if (SC(SYS_rt_sigaction, sig, NULL, &old, 8, 0, 0) == 0 && old.handler != SIG_DFL &&
            old.handler != SIG_IGN)
            x_default_signal(sig);
    }
    (void)SC(SYS_rt_sigprocmask, SIG_SETMASK, &l->mask, NULL, 8, 0, 0);
    run_plan(&c, l->plan, l->plan_size);
}

/* struct clone_args up to `cgroup` (CLONE_ARGS_SIZE_VER2), as in linux/sched.h */
struct clone_args_v2 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
        set_tid_size, cgroup;
};

/* clone3 with `flags`, into the cgroup2 directory open at `cgroup_fd` unless it is -1, as fork
 * (SIGCHLD to the parent); also _native.clone3's */
long bastion_clone_into(uint64_t flags, int cgroup_fd) {
    struct clone_args_v2 ca;
    memset(&ca, 0, sizeof ca);
    ca.flags = flags;
    ca.exit_signal = SIGCHLD;
    if (cgroup_fd >= 0) {
        ca.flags |= CLONE_INTO_CGROUP_FLAG;
        ca.cgroup = (uint64_t)cgroup_fd;
    }
    return syscall(SYS_clone3, &ca, sizeof ca);
}

#if SHARED_MEMORY
/* clone3 into a stack of the child's own; the child calls child_main(l) there and never comes
 * back (glibc's clone() does this in assembly too). The pid, or -errno. */
static long clone3_onto_stack(struct clone_args_v2 *ca, struct launch *l) {
    register void (*entry)(struct launch *) __asm__("r12") = child_main;
    register struct launch *arg __asm__("r13") = l;
    long ret;
    __asm__ volatile("syscall\n\t"
                     "testq %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "xorl %%ebp, %%ebp\n\t" /* the outermost frame, for unwinders */
                     "movq %%r13, %%rdi\n\t"
                     "callq *%%r12\n\t"
                     "ud2\n"
                     "1:"
                     : "=a"(ret)
                     : "0"((long)SYS_clone3), "D"(ca), "S"(sizeof *ca), "r"(entry), "r"(arg)
                     : "rcx", "r11", "memory", "cc");
    return ret;
}

static struct launch *g_regions; /* the parent's: children that may still run in its memory */

/* unmap the regions of children that have exec'd or died; how many are left */
static long sweep_regions(void) {
    long left = 0;
    for (struct launch **at = &g_regions; *at;) {
        struct launch *l = *at;
        if (__atomic_load_n(&l->left, __ATOMIC_ACQUIRE) == 0) {
            *at = l->next;
            munmap(l, l->length);
        } else {
            at = &l->next;
            left++;
        }
    }
    return left;
}

/* the region of a shared child: the launch record and the plan's copy, a guard page, the stack */
static struct launch *new_region(const char *plan, size_t size) {
    long page = sysconf(_SC_PAGESIZE);
    size_t head = ((sizeof(struct launch) + size + (size_t)page - 1) / (size_t)page) * (size_t)page;
    size_t length = head + (size_t)page + STACK_SIZE;
    char *base = mmap(NULL, length, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED)
        return NULL;
    if (mprotect(base + head, (size_t)page, PROT_NONE) != 0) {
        int err = errno;
        munmap(base, length);
        errno = err;
        return NULL;
    }
    struct launch *l = (struct launch *)base;
    memset(l, 0, sizeof *l);
    l->left = 1;
    l->length = length;
    memcpy(base + sizeof *l, plan, size);
    l->plan = base + sizeof *l;
    l->plan_size = size;
    return l;
}
#endif

/* clone the child of `l` (its stack in the region when shared); the pid, or -errno */
static long clone_child(struct launch *l, uint64_t flags, int cgroup_fd) {
#if SHARED_MEMORY
    if (l->shared) {
        struct clone_args_v2 ca;
        memset(&ca, 0, sizeof ca);
        ca.flags = flags | CLONE_VM | CLONE_CHILD_CLEARTID;
        ca.child_tid = (uint64_t)(uintptr_t)&l->left;
        ca.exit_signal = SIGCHLD;
        ca.stack = (uint64_t)(uintptr_t)((char *)l + l->length - STACK_SIZE);
        ca.stack_size = STACK_SIZE;
        if (cgroup_fd >= 0) {
            ca.flags |= CLONE_INTO_CGROUP_FLAG;
            ca.cgroup = (uint64_t)cgroup_fd;
        }
        return clone3_onto_stack(&ca, l);
    }
#endif
    long pid = bastion_clone_into(flags, cgroup_fd);
    if (pid == 0)
        child_main(l);
    return pid == -1 ? -errno : pid;
}

PyObject *bastion_spawn_init(PyObject *Py_UNUSED(self), PyObject *args) {
    const char *plan;
    Py_ssize_t size;
    unsigned long long flags;
    int cgroup_fd, chan_fd, shared = 0;
    if (!PyArg_ParseTuple(args, "y#Kii|p", &plan, &size, &flags, &cgroup_fd, &chan_fd, &shared))
        return NULL;
    struct launch on_stack, *l = &on_stack;
    memset(l, 0, sizeof *l);
    l->plan = plan;
    l->plan_size = (size_t)size;
#if SHARED_MEMORY
    (void)sweep_regions();
    if (shared && (l = new_region(plan, (size_t)size)) == NULL)
        return PyErr_SetFromErrno(PyExc_OSError);
#else
    if (shared) {
        PyErr_SetString(PyExc_ValueError, "spawn_init: no shared memory here (SHARED_MEMORY)");
        return NULL;
    }
#endif
    l->chan = chan_fd;
    l->shared = shared;
    l->in_cgroup2 = cgroup_fd >= 0;
    /* no signal between the clone and the child's reset of its handlers (child_main) */
    uint64_t all = ~0ULL, before = 0;
    (void)SC(SYS_rt_sigprocmask, SIG_SETMASK, &all, &before, 8, 0, 0);
    l->mask = before;
    long pid = clone_child(l, flags, cgroup_fd);
    if (l->in_cgroup2 && (pid == -ENOSYS || pid == -E2BIG || pid == -EINVAL ||
                          pid == -EOPNOTSUPP || pid == -EPERM)) {
        l->in_cgroup2 = 0; /* no CLONE_INTO_CGROUP here: the plan's cgroup.procs step joins it */
        pid = clone_child(l, flags, -1);
    }
    (void)SC(SYS_rt_sigprocmask, SIG_SETMASK, &before, NULL, 8, 0, 0);
    if (pid < 0) {
#if SHARED_MEMORY
        if (shared)
            munmap(l, l->length);
#endif
        errno = (int)-pid;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    unsigned long long handle = 0;
#if SHARED_MEMORY
    if (shared) {
        l->next = g_regions;
        g_regions = l;
        handle = (unsigned long long)(uintptr_t)l;
    }
#endif
    return Py_BuildValue("(liK)", pid, l->in_cgroup2, handle);
}

PyObject *bastion_init_left(PyObject *Py_UNUSED(self), PyObject *args) {
    unsigned long long handle;
    double timeout;
    if (!PyArg_ParseTuple(args, "Kd", &handle, &timeout))
        return NULL;
#if SHARED_MEMORY
    struct launch *l = g_regions;
    while (l && (unsigned long long)(uintptr_t)l != handle) /* only a region of ours is read */
        l = l->next;
    if (l == NULL) /* unknown, or already unmapped: its child had left */
        Py_RETURN_TRUE;
    struct timespec now, end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += (time_t)timeout;
    end.tv_nsec += (long)((timeout - (double)(time_t)timeout) * 1e9);
    if (end.tv_nsec >= 1000000000L) {
        end.tv_sec++;
        end.tv_nsec -= 1000000000L;
    }
    uint32_t word;
    Py_BEGIN_ALLOW_THREADS
    while ((word = __atomic_load_n(&l->left, __ATOMIC_ACQUIRE)) != 0) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        struct timespec rest = {end.tv_sec - now.tv_sec, end.tv_nsec - now.tv_nsec};
        if (rest.tv_nsec < 0) {
            rest.tv_sec--;
            rest.tv_nsec += 1000000000L;
        }
        if (rest.tv_sec < 0)
            break;
        (void)syscall(SYS_futex, &l->left, FUTEX_WAIT, word, &rest, NULL, 0);
    }
    Py_END_ALLOW_THREADS
    if (word != 0)
        Py_RETURN_FALSE;
    (void)sweep_regions();
    Py_RETURN_TRUE;
#else
    (void)handle;
    (void)timeout;
    Py_RETURN_TRUE;
#endif
}

PyObject *bastion_spawn_regions(PyObject *Py_UNUSED(self), PyObject *Py_UNUSED(args)) {
#if SHARED_MEMORY
    return PyLong_FromLong(sweep_regions());
#else
    return PyLong_FromLong(0);
#endif
}

/* whether spawn_init offers `shared` here */
int bastion_shared_memory(void) { return SHARED_MEMORY; }
