/* bastion-runc's compiled front: `start` and `delete` of a plain container without Python.
 *
 * scripts/setup builds this into .venv/bin/bastion-runc (rebuilt when this file is newer than
 * the binary; never committed), with the path of the Python launcher it execs baked in
 * (BASTION_LAUNCHER, .venv/libexec/bastion-runc: executed by its `#!` line, so that the kernel
 * names the process after it, "bastion-runc", as before the front). Why: a Python process costs ~5.5 ms of CPU here before it
 * runs a line (runc's whole `start` is ~4 ms), so the lean Python path (bastion/cli/runc/lean.py)
 * cannot bring create -> start -> delete to runc's (docs/architecture.md, "The
 * create-start-delete cycle"). Everything else execs the Python launcher with the same
 * arguments, in the same process: every other verb and option, a container that is not plain,
 * every refusal and every error before the point of no return. The Python path stays
 * the reference; its messages and exit codes are runc's.
 *
 * What it handles: `[--root DIR] [--log FILE] [--log-format text|json] start|delete ID` (each
 * global option also as `--name=value` and Go's `-name`), and `delete --force ID` (`-f`,
 * `-force`) as `delete ID`: with the init gone the flag changes nothing, and a live init goes
 * to the Python path, which kills it; for a container whose `create` wrote
 * the plain record `<root>/<id>/plain` (bastion/runtime/lean.py, `plain_record`: written only
 * for a finished create with no poststart or poststop hook, its mounts in its own namespace, a
 * cgroup this create made and whose directories it recorded; state.json is never rewritten
 * after it). `start` needs the init alive, thawed and waiting on its exec fifo; `delete` needs
 * the init gone, every cgroup directory removable and no parent-cgroup registry in the root
 * (the Python path handles that). They then do what runtime/lean.py does, in its order, under
 * the container's lock. A `delete` that finds a directory busy after removing others hands on
 * to the Python path, which finds those gone and kills what is left, as its own removal does.
 * An OS error past the point of no return is reported as the Python path reports one
 * (`error[os-error]: ...`, exit status 1, the --log line). BASTION_TEST_NO_LEAN=1 in the
 * environment forces the Python full path, as for lean.py. One difference on purpose: it asks
 * that state.json exists, not that it decodes, so a state.json damaged by hand after create
 * (which the Python path refuses, `corrupt-state`) does not stop a plain container's start or
 * delete; nothing of bastion-runc writes state.json after the plain record.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef BASTION_LAUNCHER
#error "build with -DBASTION_LAUNCHER=... (scripts/setup does)"
#endif

#define PLAIN_MAGIC "bastion-plain 1"
#define MAX_DIRS 64
#define GONE_KEEP 60.0        /* runtime/lean.py */
#define GONE_PRUNE_EVERY 10.0 /* runtime/lean.py */

static char **g_argv;
static int g_lock = -1;
static const char *g_log;
static const char *g_log_format = "text";

/* Hand the call to the Python launcher: same process, same arguments. */
static void __attribute__((noreturn)) full_path(void)
{
    if (g_lock >= 0)
        close(g_lock); /* drops the flock before the Python path takes it */
    static char *alone[] = {BASTION_LAUNCHER, NULL};
    char **args = g_argv[0] != NULL ? g_argv : alone; /* argc 0: no argv[0] to replace */
    args[0] = BASTION_LAUNCHER;
    execv(BASTION_LAUNCHER, args);
    fprintf(stderr, "bastion-runc: cannot run %s: %s\n", BASTION_LAUNCHER, strerror(errno));
    _exit(1);
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* An OSError past the point of no return, as cli/runc/main.py's report_os_error renders it
 * (Python's `[Errno N] text: 'path'`), then exit 1 (ExitCode.FAILURE). */
static void __attribute__((noreturn)) os_error(int err, const char *path)
{
    char msg[PATH_MAX + 256];
    if (path != NULL)
        snprintf(msg, sizeof msg, "error[os-error]: [Errno %d] %s: '%s'", err, strerror(err), path);
    else
        snprintf(msg, sizeof msg, "error[os-error]: [Errno %d] %s", err, strerror(err));
    if (g_log != NULL && *g_log) {
        int fd = open(g_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        FILE *f = fd >= 0 ? fdopen(fd, "a") : NULL;
        if (f != NULL) {
            char now[32];
            time_t t = time(NULL);
            struct tm tm;
            strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
            if (strcmp(g_log_format, "json") == 0) {
                fputs("{\"level\": \"error\", \"msg\": ", f);
                json_string(f, msg);
                fprintf(f, ", \"time\": \"%s\", \"reference\": \"os-error\"}\n", now);
            } else {
                fprintf(f, "time=\"%s\" level=error msg=\"%s\"\n", now, msg);
            }
            fclose(f);
        } else if (fd >= 0) {
            close(fd);
        }
    }
    fprintf(stderr, "%s\n", msg);
    _exit(1);
}

/* A path into `out` (PATH_MAX bytes); one too long is an OS error (ENAMETOOLONG). */
static void __attribute__((format(printf, 2, 3))) pathf(char *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, PATH_MAX, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= PATH_MAX)
        os_error(ENAMETOOLONG, out);
}

static int valid_id(const char *id)
{
    size_t n = strlen(id);
    return n > 0 && n <= 1024 && id[0] != '.' && strchr(id, '/') == NULL;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The plain record create wrote: pid, its start time, the freezer file ("" without a
 * freezer), the cgroup path, then the cgroup's directory in every hierarchy, one a line. */
struct plain {
    char buf[65536];
    long long pid, pid_start;
    const char *freezer, *cgroup_path;
    const char *dirs[MAX_DIRS];
    int ndirs;
};

static int read_plain(const char *path, struct plain *p)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, p->buf, sizeof p->buf - 1);
    close(fd);
    if (n <= 0 || (size_t)n == sizeof p->buf - 1 || p->buf[n - 1] != '\n')
        return 0;
    p->buf[n] = '\0';
    char *lines[MAX_DIRS + 5], *s = p->buf;
    int count = 0;
    for (; *s && count < MAX_DIRS + 5; count++) { /* the buffer ends with a newline */
        char *end = strchr(s, '\n');
        *end = '\0';
        lines[count] = s;
        s = end + 1;
    }
    if (*s || count < 6 || strcmp(lines[0], PLAIN_MAGIC) != 0)
        return 0; /* more directories than it can hold (plain_record writes none such) */
    char *end;
    errno = 0;
    p->pid = strtoll(lines[1], &end, 10);
    if (errno || *end || p->pid <= 0)
        return 0;
    p->pid_start = strtoll(lines[2], &end, 10);
    if (errno || *end || p->pid_start < 0)
        return 0;
    p->freezer = lines[3];
    p->cgroup_path = lines[4];
    p->ndirs = count - 5;
    for (int i = 0; i < p->ndirs; i++)
        p->dirs[i] = lines[i + 5];
    return 1;
}

/* _sys/proc.py's is_alive: `pid` runs, is not a zombie, and started at `start`. */
static int is_alive(long long pid, long long start)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%lld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ')
        return 0;
    p += 2; /* field 3, the state */
    if (*p == 'Z' || *p == 'X')
        return 0;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (p == NULL)
            return 0;
        p++;
    }
    return strtoll(p, NULL, 10) == start;
}

/* lean.py's recorded_frozen: 0 thawed, 1 frozen or undecided (the Python path then asks). */
static int frozen_or_unknown(const char *freezer)
{
    char buf[64];
    if (!*freezer)
        return 0;
    int fd = open(freezer, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno != ENOENT; /* a cgroup without the file is thawed */
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0)
        return 1;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    buf[n] = '\0';
    return !(strcmp(buf, "THAWED") == 0 || strcmp(buf, "0") == 0);
}

static void take_lock(const char *dir)
{
    char path[PATH_MAX];
    pathf(path, "%s/lock", dir);
    g_lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (g_lock < 0 || flock(g_lock, LOCK_EX) != 0)
        full_path();
}

static int start(const char *dir, struct plain *p)
{
    char fifo[PATH_MAX];
    take_lock(dir);
    if (!is_alive(p->pid, p->pid_start) || frozen_or_unknown(p->freezer))
        full_path();
    pathf(fifo, "%s/exec.fifo", dir);
    if (!exists(fifo))
        full_path(); /* running: the Python path refuses */
    int fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        full_path(); /* ENXIO: the init died; the Python path says so */
    /* lean.py's release_init: one byte, then the fifo goes (the container is running) */
    if (write(fd, "0", 1) != 1) {
        int err = errno;
        close(fd);
        os_error(err, NULL);
    }
    close(fd);
    if (unlink(fifo) != 0)
        os_error(errno, fifo);
    return 0;
}

/* lean.py's remove_tree: rm -r without following symlinks; exits through os_error. */
static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL) {
        if (errno == ENOENT)
            return;
        os_error(errno, path);
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char child[PATH_MAX];
        struct stat st;
        pathf(child, "%s/%s", path, e->d_name);
        if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(child);
        else if (unlink(child) != 0 && errno != ENOENT)
            os_error(errno, child);
    }
    closedir(d);
    if (rmdir(path) != 0 && errno != ENOENT)
        os_error(errno, path);
}

static double seconds(struct timespec ts)
{
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* lean.py's prune_gone: drop the records kept longer than GONE_KEEP, at most every
 * GONE_PRUNE_EVERY seconds. */
static void prune_gone(const char *gone, struct timespec now)
{
    char mark[PATH_MAX];
    struct stat st;
    struct timespec times[2] = {now, now};
    pathf(mark, "%s/.pruned", gone);
    if (stat(mark, &st) == 0) {
        if (seconds(now) - seconds(st.st_mtim) < GONE_PRUNE_EVERY)
            return;
    } else if (errno != ENOENT) {
        return;
    }
    int fd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    close(fd);
    if (utimensat(AT_FDCWD, mark, times, 0) != 0)
        return;
    DIR *d = opendir(gone);
    if (d == NULL)
        os_error(errno, gone);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[PATH_MAX];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            strcmp(e->d_name, ".pruned") == 0)
            continue;
        pathf(path, "%s/%s", gone, e->d_name);
        if (stat(path, &st) == 0 && seconds(now) - seconds(st.st_mtim) > GONE_KEEP)
            unlink(path);
    }
    closedir(d);
}

/* lean.py's keep_identity: identity.json to <root>/.gone/<id>.json, dated now. */
static void keep_identity(const char *root, const char *id)
{
    char gone[PATH_MAX], kept[PATH_MAX], record[PATH_MAX];
    struct timespec now;
    pathf(gone, "%s/.gone", root);
    pathf(kept, "%s/%s.json", gone, id);
    pathf(record, "%s/%s/identity.json", root, id);
    if (rename(record, kept) != 0) {
        if (!exists(record))
            return;
        if (mkdir(gone, 0711) != 0 && errno != EEXIST)
            return;
        if (rename(record, kept) != 0)
            return;
    }
    clock_gettime(CLOCK_REALTIME, &now);
    struct timespec times[2] = {now, now};
    if (utimensat(AT_FDCWD, kept, times, 0) != 0)
        os_error(errno, kept);
    prune_gone(gone, now);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* cgroup_parents.py's remove_empty, with the mounts create recorded (lean.py's
 * recorded_mounts): under the registry's lock, rmdir the cgroup's ancestors, deepest first, up
 * to the shallowest one the registry names, in every hierarchy, stopping at the first one
 * still in use; then forget the recorded parents that are gone. */
static void remove_empty_parents(const char *registry, struct plain *p)
{
    static char text[65536], mount_buf[MAX_DIRS][PATH_MAX];
    const char *mounts[MAX_DIRS], *recorded[1024], *left[1024];
    int nmounts = 0, nrecorded = 0, nleft = 0;
    size_t plen = strlen(p->cgroup_path);
    for (int i = 0; i < p->ndirs; i++) {
        size_t dlen = strlen(p->dirs[i]);
        if (dlen < plen || strcmp(p->dirs[i] + dlen - plen, p->cgroup_path) != 0)
            full_path(); /* not what plain_record writes */
        memcpy(mount_buf[i], p->dirs[i], dlen - plen);
        mount_buf[i][dlen - plen] = '\0';
        int seen = 0;
        for (int j = 0; j < nmounts; j++)
            seen |= strcmp(mounts[j], mount_buf[i]) == 0;
        if (!seen)
            mounts[nmounts++] = mount_buf[i];
    }
    qsort(mounts, (size_t)nmounts, sizeof mounts[0], by_name);
    int fd;
    for (;;) { /* _open_locked(create=False): one unlinked meanwhile is opened anew */
        struct stat st;
        fd = open(registry, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT)
                return;
            os_error(errno, registry);
        }
        if (flock(fd, LOCK_EX) != 0)
            os_error(errno, registry);
        if (fstat(fd, &st) != 0)
            os_error(errno, registry);
        if (st.st_nlink)
            break;
        close(fd);
    }
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, text + len, sizeof text - 1 - len);
        if (n < 0)
            os_error(errno, NULL);
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == sizeof text - 1)
            os_error(EFBIG, registry);
    }
    text[len] = '\0';
    for (char *s = text; *s;) {
        char *end = strchr(s, '\n');
        if (end != NULL)
            *end = '\0';
        if (*s && nrecorded < 1024)
            recorded[nrecorded++] = s;
        if (end == NULL)
            break;
        s = end + 1;
    }
    const char *top = NULL;
    for (int i = 0; i < nrecorded; i++) {
        size_t tlen = strlen(recorded[i]);
        if (strncmp(p->cgroup_path, recorded[i], tlen) == 0 && p->cgroup_path[tlen] == '/' &&
            (top == NULL || tlen < strlen(top)))
            top = recorded[i];
    }
    if (top != NULL) {
        char current[PATH_MAX], path[PATH_MAX];
        size_t tlen = strlen(top);
        pathf(current, "%s", p->cgroup_path);
        for (size_t n = strlen(current); n > 1 && current[n - 1] == '/'; n--)
            current[n - 1] = '\0';
        for (;;) {
            char *slash = strrchr(current, '/');
            if (slash == NULL)
                break;
            *slash = '\0'; /* the parent */
            if (!(strcmp(current, top) == 0 ||
                  (strncmp(current, top, tlen) == 0 && current[tlen] == '/')))
                break;
            int busy = 0;
            for (int m = 0; m < nmounts && !busy; m++) {
                pathf(path, "%s%s", mounts[m], current);
                busy = rmdir(path) != 0 && errno != ENOENT;
            }
            if (busy)
                break;
        }
    }
    for (int i = 0; i < nrecorded; i++) {
        char path[PATH_MAX];
        int found = 0;
        for (int m = 0; m < nmounts && !found; m++) {
            pathf(path, "%s%s", mounts[m], recorded[i]);
            found = is_dir(path);
        }
        if (found)
            left[nleft++] = recorded[i];
    }
    if (nleft == 0) {
        if (unlink(registry) != 0)
            os_error(errno, registry);
    } else if (nleft != nrecorded) {
        if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
            os_error(errno, NULL);
        for (int i = 0; i < nleft; i++)
            if (dprintf(fd, "%s\n", left[i]) < 0)
                os_error(errno, NULL);
    }
    close(fd);
}

static int delete(const char *root, const char *id, const char *dir, struct plain *p)
{
    char registry[PATH_MAX];
    take_lock(dir);
    if (is_alive(p->pid, p->pid_start))
        full_path(); /* created (runc kills it), running or paused: the Python path */
    for (int i = 0; i < p->ndirs; i++)
        if (rmdir(p->dirs[i]) != 0 && errno != ENOENT)
            full_path(); /* EBUSY: a process or a child cgroup; it kills and retries */
    pathf(registry, "%s/.cgroup-parents", root);
    if (exists(registry))
        remove_empty_parents(registry, p);
    /* a killed create's temp dirs, `.creating-<id>.<pid>` (lean.py's stale_reservations) */
    DIR *d = opendir(root);
    if (d == NULL && errno != ENOENT)
        full_path();
    if (d != NULL) {
        char prefix[PATH_MAX];
        pathf(prefix, ".creating-%s.", id);
        size_t n = strlen(prefix);
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strncmp(e->d_name, prefix, n) == 0) {
                char stale[PATH_MAX];
                pathf(stale, "%s/%s", root, e->d_name);
                remove_tree(stale);
            }
        }
        closedir(d);
    }
    keep_identity(root, id);
    remove_tree(dir);
    return 0;
}

static int is_force_flag(const char *arg)
{
    return strcmp(arg, "--force") == 0 || strcmp(arg, "-force") == 0 || strcmp(arg, "-f") == 0;
}

int main(int argc, char **argv)
{
    const char *root = "/run/bastion"; /* bastion.identity.DEFAULT_STATE_ROOT */
    int i = 1;
    g_argv = argv;
    const char *no_lean = getenv("BASTION_TEST_NO_LEAN");
    if (no_lean != NULL && *no_lean)
        full_path();
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *arg = argv[i], *eq = strchr(arg, '='), *value;
        size_t name = eq ? (size_t)(eq - arg) : strlen(arg);
        const char **into;
        if (name == 6 && strncmp(arg, "--root", 6) == 0)
            into = &root;
        else if (name == 5 && strncmp(arg, "-root", 5) == 0)
            into = &root;
        else if (name == 5 && strncmp(arg, "--log", 5) == 0)
            into = &g_log;
        else if (name == 4 && strncmp(arg, "-log", 4) == 0)
            into = &g_log;
        else if (name == 12 && strncmp(arg, "--log-format", 12) == 0)
            into = &g_log_format;
        else if (name == 11 && strncmp(arg, "-log-format", 11) == 0)
            into = &g_log_format;
        else
            full_path();
        if (eq != NULL) {
            value = eq + 1;
        } else {
            if (++i == argc)
                full_path();
            value = argv[i];
        }
        *into = value;
    }
    /* `delete --force ID` (runc's -f, Go's -force too): what Podman calls for every
     * container it removes. For a stopped container the flag changes nothing (the init is
     * gone: nothing to kill), and delete() hands a live init to the Python path, which kills */
    int force = argc - i == 3 && strcmp(argv[i], "delete") == 0 && is_force_flag(argv[i + 1]);
    if (argc - i != 2 + force)
        full_path();
    const char *verb = argv[i], *id = argv[i + 1 + force]; /* argv stays whole: full_path's */
    if (id[0] == '-' || !valid_id(id) || !*root)
        full_path();
    if (strcmp(g_log_format, "text") != 0 && strcmp(g_log_format, "json") != 0)
        full_path();
    int is_start = strcmp(verb, "start") == 0;
    if (!is_start && strcmp(verb, "delete") != 0)
        full_path();
    char dir[PATH_MAX], record[PATH_MAX];
    static struct plain p;
    if (strlen(root) + strlen(id) >= PATH_MAX - 64)
        full_path();
    pathf(dir, "%s/%s", root, id);
    pathf(record, "%s/state.json", dir);
    if (!exists(record)) /* as store.open_existing: no state.json, no container */
        full_path();
    pathf(record, "%s/plain", dir);
    if (!read_plain(record, &p))
        full_path();
    int code = is_start ? start(dir, &p) : delete(root, id, dir, &p);
    close(g_lock);
    return code;
}
