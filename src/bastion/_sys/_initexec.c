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
 *   spawn_init(plan, flags, cgroup_fd, chan_fd) -> (pid, born_in_cgroup2)
 *       clone3 with `flags` (CLONE_NEW*), into the cgroup2 directory open at `cgroup_fd` unless
 *       it is -1 (retried without where the kernel refuses CLONE_INTO_CGROUP, as attach.py does);
 *       OSError when no child was made.
 *
 * The child never returns to Python: no fork hooks run (it is not a Python process any more,
 * as with _posixsubprocess's child), it calls no allocator and no stdio (the parent may have had
 * other threads holding their locks), and credentials change through raw syscalls (glibc's
 * wrappers would signal threads that only exist in the parent). A failed step sends
 *   {"type":"plan-error","op":N,"kind":K,"errno":E,"detail":D}
 * on the channel and exits 1: the parent knows step N and words the error exactly as the
 * Python init would (plan.py). The step codes and failure kinds below are plan.py's; a unit
 * test reads both files and compares them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
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

static int g_chan = -1;
static int g_step = 0;
static int g_detail = -1; /* the descriptor a failed mount targeted (its /proc/self/fd path) */
static int g_root = -1;
static int g_made = -1;
static int g_in_cgroup2 = 0;
static char g_exec[PATH_BUF];
static char g_home[PATH_BUF];
static int g_has_home = 0;

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

static void __attribute__((noreturn)) fail(int kind, int err) {
    if (g_chan >= 0) {
        char msg[160], *o = msg;
        put_str(&o, "{\"type\":\"plan-error\",\"op\":");
        put_int(&o, g_step);
        put_str(&o, ",\"kind\":");
        put_int(&o, kind);
        put_str(&o, ",\"errno\":");
        put_int(&o, err);
        put_str(&o, ",\"detail\":");
        put_int(&o, g_detail);
        put_str(&o, "}");
        (void)send(g_chan, msg, (size_t)(o - msg), MSG_NOSIGNAL);
    }
    _exit(1);
}

static uint64_t rd_u64(struct reader *r) {
    uint64_t v;
    if (r->end - r->p < 8)
        fail(KIND_PLAN, EINVAL);
    memcpy(&v, r->p, 8);
    r->p += 8;
    return v;
}

static long rd_int(struct reader *r) { return (long)rd_u64(r); }

static const char *rd_str(struct reader *r) {
    uint64_t n = rd_u64(r);
    if ((uint64_t)(r->end - r->p) < n + 1 || r->p[n] != '\0')
        fail(KIND_PLAN, EINVAL);
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

static int open_in_root(const char *path, int flags) {
    struct {
        uint64_t flags, mode, resolve;
    } how = {(uint64_t)(flags | O_CLOEXEC), 0, RESOLVE_IN_ROOT_FLAG | RESOLVE_NO_MAGICLINKS_FLAG};
    while (*path == '/')
        path++;
    return (int)syscall(SYS_openat2, g_root, *path ? path : ".", &how, sizeof how);
}

/* mountpoints.Root.make: open `path` inside the rootfs, creating it (and missing parents as
 * directories) if absent; an O_PATH descriptor, or -1 with the failure kind in *kind. */
static int make_in_root(const char *path, int directory, int *kind) {
    int fd = open_in_root(path, O_PATH);
    if (fd >= 0 || errno != ENOENT) {
        *kind = KIND_MAKE;
        return fd;
    }
    char buf[PATH_BUF];
    size_t n = strlen(path);
    if (n >= sizeof buf) {
        errno = ENAMETOOLONG;
        *kind = KIND_MAKE;
        return -1;
    }
    memcpy(buf, path, n + 1);
    while (n > 0 && buf[n - 1] == '/')
        buf[--n] = '\0';
    char *slash = strrchr(buf, '/');
    const char *name = slash ? slash + 1 : buf;
    if (!*name || !strcmp(name, ".") || !strcmp(name, "..")) {
        *kind = KIND_BAD_NAME;
        return -1;
    }
    int parent;
    if (slash) {
        *slash = '\0';
        parent = make_in_root(*buf ? buf : "/", 1, kind);
    } else {
        parent = make_in_root("/", 1, kind);
    }
    if (parent < 0)
        return -1;
    int rc;
    if (directory) {
        rc = mkdirat(parent, name, 0755);
    } else {
        rc = openat(parent, name, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (rc >= 0)
            close(rc);
    }
    int err = errno;
    close(parent);
    if (rc < 0 && err != EEXIST) {
        errno = err;
        *kind = KIND_MAKE;
        return -1;
    }
    fd = open_in_root(path, O_PATH);
    if (fd < 0) {
        *kind = errno == ENOENT ? KIND_DANGLING : KIND_MAKE;
        return -1;
    }
    return fd;
}

static int must_make(const char *path, int directory) {
    int kind = 0;
    int fd = make_in_root(path, directory, &kind);
    if (fd < 0)
        fail(kind, errno);
    return fd;
}

static unsigned long locked_flags(int fd) {
    struct statvfs st;
    return fstatvfs(fd, &st) == 0 ? (st.f_flag & LOCKED_FLAGS) : 0;
}

/* rootfs._mount_one for a mount that is neither cgroup nor tmpcopyup */
static void mount_in_root(struct reader *r) {
    const char *dest = rd_str(r), *source = rd_str(r), *fstype = rd_str(r);
    unsigned long flags = (unsigned long)rd_u64(r), propagation = (unsigned long)rd_u64(r);
    const char *data = rd_str(r);
    int bind = (int)rd_int(r);
    const char *host = rd_str(r); /* where sysfs or mqueue falls back to a bind of the host's */
    char path[40];
    int directory = 1;
    if (bind) {
        struct stat st;
        flags |= MS_BIND;
        if (stat(source, &st) != 0)
            fail(KIND_NO_SOURCE, errno);
        directory = S_ISDIR(st.st_mode);
    }
    int kind = 0;
    int target = make_in_root(dest, directory, &kind);
    if (target < 0)
        fail(kind, errno);
    fd_path(path, target);
    g_detail = target;
    if (bind) {
        if (mount(source, path, NULL, flags & (MS_BIND | MS_REC), NULL) != 0)
            fail(KIND_MOUNT, errno);
    } else if (mount(source, path, opt(fstype), flags & ~(unsigned long)MS_REMOUNT, opt(data)) != 0) {
        int err = errno;
        if (!*host)
            fail(KIND_MOUNT, err);
        if (mount(host, path, NULL, MS_BIND | MS_REC, NULL) != 0)
            fail(KIND_AFTER_MOUNT, errno);
        flags |= MS_RDONLY | MS_BIND;
        bind = 1;
    }
    close(target);
    /* reopen: the old descriptor names the directory under the new mount */
    int top = open_in_root(dest, O_PATH);
    if (top < 0)
        fail(KIND_AFTER_MOUNT, errno);
    fd_path(path, top);
    unsigned long extra = flags & ~(unsigned long)(MS_BIND | MS_REC | MS_REMOUNT);
    if (bind && extra &&
        mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | extra | locked_flags(top), NULL) != 0)
        fail(KIND_AFTER_MOUNT, errno);
    if (propagation && mount(NULL, path, NULL, propagation, NULL) != 0)
        fail(KIND_AFTER_MOUNT, errno);
    close(top);
}

static void remount_in_root(struct reader *r) {
    const char *dest = rd_str(r);
    unsigned long flags = (unsigned long)rd_u64(r);
    const char *data = rd_str(r);
    int add_locked = (int)rd_int(r);
    char path[40];
    int top = open_in_root(dest, O_PATH);
    if (top < 0)
        fail(KIND_SYSCALL, errno);
    fd_path(path, top);
    if (add_locked)
        flags |= locked_flags(top);
    if (mount(NULL, path, NULL, flags, opt(data)) != 0)
        fail(KIND_SYSCALL, errno);
    close(top);
}

static void symlink_in_root(struct reader *r) {
    const char *dir = rd_str(r), *target = rd_str(r), *name = rd_str(r);
    int replace = (int)rd_int(r);
    const char *only_if = rd_str(r);
    if (*only_if) {
        int probe = open_in_root(only_if, O_PATH);
        if (probe < 0)
            return;
        close(probe);
    }
    int fd = must_make(dir, 1);
    if (replace && unlinkat(fd, name, 0) != 0 && errno != ENOENT)
        fail(KIND_SYSCALL, errno);
    if (symlinkat(target, fd, name) != 0 && errno != EEXIST)
        fail(KIND_SYSCALL, errno);
    close(fd);
}

/* devices._make_node outside a user namespace */
static void mknod_in_root(struct reader *r) {
    const char *dir = rd_str(r), *name = rd_str(r);
    mode_t mode = (mode_t)rd_u64(r);
    dev_t dev = (dev_t)rd_u64(r);
    uid_t uid = (uid_t)rd_u64(r);
    gid_t gid = (gid_t)rd_u64(r);
    char path[40];
    int parent = must_make(dir, 1);
    if (unlinkat(parent, name, 0) != 0 && errno != ENOENT && errno != EISDIR)
        fail(KIND_MAKE, errno);
    if (mknodat(parent, name, mode, dev) != 0)
        fail(KIND_SYSCALL, errno);
    if (fchownat(parent, name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
        fail(KIND_SYSCALL, errno);
    int leaf = openat(parent, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (leaf < 0)
        fail(KIND_SYSCALL, errno);
    fd_path(path, leaf);
    if (chmod(path, mode & 07777) != 0)
        fail(KIND_SYSCALL, errno);
    close(leaf);
    close(parent);
}

static void pivot(const char *rootfs) {
    close(g_root);
    g_root = -1;
    int old_root = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    int new_root = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (old_root < 0 || new_root < 0 || fchdir(new_root) != 0 ||
        syscall(SYS_pivot_root, ".", ".") != 0 || fchdir(old_root) != 0 ||
        mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) != 0 || umount2(".", MNT_DETACH) != 0 ||
        chdir("/") != 0)
        fail(KIND_SYSCALL, errno);
    close(old_root);
    close(new_root);
}

static void remount_ro(const char *path, int recursive) {
    struct statvfs st;
    unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY;
    if (statvfs(path, &st) != 0)
        fail(KIND_SYSCALL, errno);
    flags |= st.f_flag & LOCKED_FLAGS;
    if (recursive)
        flags |= MS_REC;
    if (mount(NULL, path, NULL, flags, NULL) != 0)
        fail(KIND_SYSCALL, errno);
}

static void mask(const char *path) {
    struct stat st;
    int is_dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    if (lstat(path, &st) != 0)
        return;
    int rc = is_dir ? mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL)
                    : mount("/dev/null", path, NULL, MS_BIND, NULL);
    if (rc != 0)
        fail(KIND_SYSCALL, errno);
}

static void make_readonly(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) != 0)
        fail(KIND_SYSCALL, errno);
    remount_ro(path, 1);
}

/* process._home_of: the home directory of `uid` in the container's /etc/passwd, else "/" */
static void find_home(long uid) {
    static char text[65536];
    strcpy(g_home, "/");
    g_has_home = 1;
    int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    size_t len = 0;
    ssize_t n;
    while (len < sizeof text - 1 && (n = read(fd, text + len, sizeof text - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
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
            if (strlen(home) < sizeof g_home)
                strcpy(g_home, home);
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

/* process.find_executable after the user switch, so access() answers for the container's user */
static void find_exec(struct reader *r) {
    const char *name = rd_str(r), *given = rd_str(r), *path_var = rd_str(r);
    struct stat st;
    if (*given) { /* a name with a slash: `given` is it, joined to the cwd if relative */
        if (stat(given, &st) != 0)
            fail(KIND_NOT_FOUND, errno);
        if (S_ISDIR(st.st_mode) || access(given, X_OK) != 0)
            fail(KIND_NOT_RUNNABLE, EACCES);
        strcpy(g_exec, given);
        return;
    }
    for (const char *dir = path_var;;) {
        const char *colon = strchr(dir, ':');
        size_t n = colon ? (size_t)(colon - dir) : strlen(dir);
        char head[PATH_BUF];
        if (n < sizeof head) {
            memcpy(head, n ? dir : ".", n ? n : 1);
            head[n ? n : 1] = '\0';
            if (join(g_exec, head, name) == 0 && stat(g_exec, &st) == 0 && S_ISREG(st.st_mode) &&
                access(g_exec, X_OK) == 0)
                return;
        }
        if (!colon)
            break;
        dir = colon + 1;
    }
    fail(KIND_NOT_IN_PATH, ENOENT);
}

/* prctl.set_cmdline: /proc/<pid>/cmdline shows `title`, written over the argument area */
static void set_title(const char *title) {
    char stat_text[2048];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, stat_text, sizeof stat_text - 1);
    close(fd);
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

static void cap_set(uint64_t eff, uint64_t perm, uint64_t inh) {
    struct {
        uint32_t version;
        int pid;
    } header = {0x20080522, 0};
    struct {
        uint32_t effective, permitted, inheritable;
    } data[2] = {{(uint32_t)eff, (uint32_t)perm, (uint32_t)inh},
                 {(uint32_t)(eff >> 32), (uint32_t)(perm >> 32), (uint32_t)(inh >> 32)}};
    if (syscall(SYS_capset, &header, data) != 0)
        fail(KIND_SYSCALL, errno);
}

static void switch_user(struct reader *r) {
    long uid = rd_int(r), gid = rd_int(r), count = rd_int(r);
    gid_t groups[256];
    if (count < 0 || count > 256)
        fail(KIND_PLAN, EINVAL);
    for (long i = 0; i < count; i++)
        groups[i] = (gid_t)rd_u64(r);
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
        fail(KIND_FALLBACK, errno);
    int err = 0;
    if (syscall(SYS_setgroups, (size_t)count, groups) != 0 ||
        syscall(SYS_setresgid, (gid_t)gid, (gid_t)gid, (gid_t)gid) != 0 ||
        syscall(SYS_setresuid, (uid_t)uid, (uid_t)uid, (uid_t)uid) != 0)
        err = errno;
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0 && !err)
        fail(KIND_FALLBACK, errno);
    if (err)
        fail(KIND_SYSCALL, err);
}

static void write_file(struct reader *r) {
    const char *path = rd_str(r), *data = rd_str(r), *fallback = rd_str(r);
    long flags = rd_int(r), outside_cgroup2_only = rd_int(r);
    if (outside_cgroup2_only && g_in_cgroup2)
        return;
    size_t len = strlen(data);
    int fd = open(path, (int)flags);
    if (fd >= 0) {
        ssize_t n = write(fd, data, len);
        int err = errno;
        close(fd);
        if (n >= 0)
            return;
        errno = err;
    }
    if (!*fallback)
        fail(KIND_SYSCALL, errno);
    fd = open(fallback, (int)flags);
    if (fd < 0)
        fail(KIND_FALLBACK, errno);
    if (write(fd, data, len) < 0)
        fail(KIND_FALLBACK, errno);
    close(fd);
}

static void wait_start(int fd) {
    char byte;
    for (;;) {
        ssize_t n = read(fd, &byte, 1);
        if (n > 0)
            return;
        if (n < 0 && errno != EINTR)
            _exit(1);
    }
}

static void __attribute__((noreturn)) exec_program(struct reader *r) {
    long argc = rd_int(r);
    const char *argv[1024];
    const char *envp[4096 + 2];
    if (argc < 1 || argc > 1023)
        fail(KIND_PLAN, EINVAL);
    for (long i = 0; i < argc; i++)
        argv[i] = rd_str(r);
    argv[argc] = NULL;
    long envc = rd_int(r);
    if (envc < 0 || envc > 4096)
        fail(KIND_PLAN, EINVAL);
    for (long i = 0; i < envc; i++)
        envp[i] = rd_str(r);
    static char home[PATH_BUF + 8];
    if (g_has_home) {
        char *o = home;
        put_str(&o, "HOME=");
        put_str(&o, g_home);
        *o = '\0';
        envp[envc++] = home;
    }
    envp[envc] = NULL;
    /* Python's start-up ignores these two; runc's containers start with them at SIG_DFL */
    signal(SIGPIPE, SIG_DFL);
    signal(SIGXFSZ, SIG_DFL);
    execve(g_exec, (char *const *)argv, (char *const *)envp);
    int err = errno;
    char msg[PATH_BUF + 128], *o = msg;
    put_str(&o, "bastion-runc init: exec ");
    put_str(&o, g_exec);
    put_str(&o, ": ");
    put_str(&o, strerrordesc_np(err) ? strerrordesc_np(err) : "unknown error");
    put_str(&o, "\n");
    (void)write(2, msg, (size_t)(o - msg));
    _exit(127);
}

static void __attribute__((noreturn)) run_plan(const char *plan, size_t size) {
    struct reader r = {plan, plan + size};
    char path[40];
    for (g_step = 0; r.p < r.end; g_step++) {
        long code = rd_int(&r);
        switch (code) {
        case OP_WRITE:
            write_file(&r);
            break;
        case OP_PRCTL: {
            long option = rd_int(&r), arg = rd_int(&r);
            if (prctl((int)option, (unsigned long)arg, 0, 0, 0) != 0)
                fail(KIND_SYSCALL, errno);
            break;
        }
        case OP_TITLE:
            set_title(rd_str(&r));
            break;
        case OP_RECV_GO: {
            char buf[256];
            if (recv(g_chan, buf, sizeof buf, 0) <= 0)
                _exit(1); /* the parent is gone: nothing to tell */
            break;
        }
        case OP_UNSHARE:
            if (unshare((int)rd_int(&r)) != 0)
                fail(KIND_SYSCALL, errno);
            break;
        case OP_SETSID:
            if (setsid() < 0)
                fail(KIND_SYSCALL, errno);
            break;
        case OP_BLOCKING: {
            int fd = (int)rd_int(&r), fl = fcntl(fd, F_GETFL);
            if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
                fail(KIND_SYSCALL, errno);
            break;
        }
        case OP_MOUNT: {
            const char *source = rd_str(&r), *target = rd_str(&r), *fstype = rd_str(&r);
            unsigned long flags = (unsigned long)rd_u64(&r);
            const char *data = rd_str(&r);
            if (mount(opt(source), target, opt(fstype), flags, opt(data)) != 0)
                fail(KIND_SYSCALL, errno);
            break;
        }
        case OP_ROOT:
            g_root = open(rd_str(&r), O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (g_root < 0)
                fail(KIND_SYSCALL, errno);
            break;
        case OP_MOUNT_IN_ROOT:
            mount_in_root(&r);
            break;
        case OP_MAKE: {
            const char *dest = rd_str(&r);
            int directory = (int)rd_int(&r), keep = (int)rd_int(&r);
            g_made = must_make(dest, directory);
            if (!keep) {
                close(g_made);
                g_made = -1;
            }
            break;
        }
        case OP_MOUNT_MADE: {
            const char *source = rd_str(&r), *fstype = rd_str(&r);
            unsigned long flags = (unsigned long)rd_u64(&r);
            const char *data = rd_str(&r);
            fd_path(path, g_made);
            int rc = mount(opt(source), path, opt(fstype), flags, opt(data));
            int err = errno;
            close(g_made);
            g_made = -1;
            if (rc != 0)
                fail(KIND_SYSCALL, err);
            break;
        }
        case OP_REMOUNT_IN_ROOT:
            remount_in_root(&r);
            break;
        case OP_SYMLINK_IN_ROOT:
            symlink_in_root(&r);
            break;
        case OP_MKNOD_IN_ROOT:
            mknod_in_root(&r);
            break;
        case OP_PIVOT:
            pivot(rd_str(&r));
            break;
        case OP_HOSTNAME: {
            const char *name = rd_str(&r);
            if (sethostname(name, strlen(name)) != 0)
                fail(KIND_SYSCALL, errno);
            break;
        }
        case OP_DOMAINNAME: {
            const char *name = rd_str(&r);
            if (setdomainname(name, strlen(name)) != 0)
                fail(KIND_SYSCALL, errno);
            break;
        }
        case OP_MASK:
            mask(rd_str(&r));
            break;
        case OP_READONLY:
            make_readonly(rd_str(&r));
            break;
        case OP_REMOUNT_RO: {
            const char *target = rd_str(&r);
            remount_ro(target, (int)rd_int(&r));
            break;
        }
        case OP_HOME:
            find_home(rd_int(&r));
            break;
        case OP_RLIMIT: {
            long resource = rd_int(&r);
            struct {
                uint64_t soft, hard;
            } limit;
            limit.soft = rd_u64(&r);
            limit.hard = rd_u64(&r);
            if (syscall(SYS_prlimit64, 0, (int)resource, &limit, NULL) != 0)
                fail(KIND_SYSCALL, errno);
            break;
        }
        case OP_BOUNDING: {
            uint64_t keep = rd_u64(&r);
            long last = rd_int(&r);
            for (long cap = 0; cap <= last && cap < 64; cap++)
                if (!(keep & (1ULL << cap)) && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 &&
                    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
                    fail(KIND_SYSCALL, errno);
            break;
        }
        case OP_SWITCH_USER:
            switch_user(&r);
            break;
        case OP_UMASK:
            umask((mode_t)rd_int(&r));
            break;
        case OP_CHDIR:
            if (chdir(rd_str(&r)) != 0)
                fail(KIND_SYSCALL, errno);
            break;
        case OP_FIND_EXEC:
            find_exec(&r);
            break;
        case OP_CAPSET: {
            uint64_t eff = rd_u64(&r), perm = rd_u64(&r), inh = rd_u64(&r);
            cap_set(eff, perm, inh);
            break;
        }
        case OP_AMBIENT: {
            long count = rd_int(&r);
            if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
                fail(KIND_SYSCALL, errno);
            for (long i = 0; i < count; i++)
                if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, rd_u64(&r), 0, 0) != 0)
                    fail(KIND_SYSCALL, errno);
            break;
        }
        case OP_CLOEXEC_FROM: {
            long first = rd_int(&r);
            /* every descriptor the caller left open, but stdio and the preserved ones */
            if (syscall(SYS_close_range, (unsigned)first, ~0U, CLOSE_RANGE_CLOEXEC_FLAG) != 0)
                for (int fd = (int)first; fd < 65536; fd++)
                    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
            for (int fd = 3; fd < first; fd++)
                (void)fcntl(fd, F_SETFD, 0);
            break;
        }
        case OP_READY:
            if (send(g_chan, "{\"type\":\"ready\"}", 16, MSG_NOSIGNAL) != 16)
                _exit(1);
            close(g_chan);
            g_chan = -1;
            break;
        case OP_WAIT_START:
            wait_start((int)rd_int(&r));
            break;
        case OP_SECCOMP: {
            /* a program as seccomp_export_bpf wrote it (runtime/seccomp.py compile_cached),
             * installed as libseccomp installs a filter without flags (_sys/seccomp.py) */
            const char *program = rd_str(&r);
            struct sock_fprog fprog;
            fprog.len = (unsigned short)(rd_u64(&r) / sizeof(struct sock_filter));
            fprog.filter = (struct sock_filter *)program;
            if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) != 0)
                fail(KIND_SYSCALL, errno);
            break;
        }
        case OP_EXEC:
            exec_program(&r);
        default:
            fail(KIND_PLAN, EINVAL);
        }
    }
    fail(KIND_PLAN, EINVAL); /* a plan ends with OP_EXEC */
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

PyObject *bastion_spawn_init(PyObject *Py_UNUSED(self), PyObject *args) {
    const char *plan;
    Py_ssize_t size;
    unsigned long long flags;
    int cgroup_fd, chan_fd;
    if (!PyArg_ParseTuple(args, "y#Kii", &plan, &size, &flags, &cgroup_fd, &chan_fd))
        return NULL;
    int in_cgroup2 = cgroup_fd >= 0;
    long pid = bastion_clone_into(flags, cgroup_fd);
    if (pid == -1 && in_cgroup2 &&
        (errno == ENOSYS || errno == E2BIG || errno == EINVAL || errno == EOPNOTSUPP ||
         errno == EPERM)) {
        in_cgroup2 = 0; /* no CLONE_INTO_CGROUP here: the plan's cgroup.procs step joins it */
        pid = bastion_clone_into(flags, -1);
    }
    if (pid == 0) {
        g_chan = chan_fd;
        g_in_cgroup2 = in_cgroup2;
        run_plan(plan, (size_t)size);
    }
    if (pid == -1)
        return PyErr_SetFromErrno(PyExc_OSError);
    return Py_BuildValue("(li)", pid, in_cgroup2);
}
