/* bst-helper: in-container checks that busybox cannot do, for bastion's integration tests.
 *
 * Built with `gcc -static -O2` into <rootfs>/usr/bin/bst-helper by bastion_testing/rootfs.py.
 * Every subcommand prints machine-readable `key=value` pairs, space-separated, one record a
 * line (parsed by bastion_testing.helper.parse). stdout is unbuffered so that a process killed
 * by the kernel (OOM, pids limit) has already printed its progress.
 * Exit status: 0 done, 1 the check itself failed, 2 usage.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void print_errno(const char *prefix, int err) {
    const char *name = err ? strerrorname_np(err) : "0";
    printf("%serrno=%d errname=%s\n", prefix, err, name ? name : "?");
}

static double now(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_for(double seconds) {
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int cat_file(const char *path) {
    FILE *f = fopen(path, "r");
    char line[4096];
    if (!f) {
        print_errno("open_failed=1 ", errno);
        return 1;
    }
    while (fgets(line, sizeof line, f))
        fputs(line, stdout);
    fclose(f);
    return 0;
}

/* alloc MiB: malloc and touch every page; print progress every 4 MiB. */
static int cmd_alloc(long mib) {
    long page = sysconf(_SC_PAGESIZE);
    size_t size = (size_t)mib << 20;
    char *mem = malloc(size);
    if (!mem) {
        print_errno("alloc=failed ", errno);
        return 1;
    }
    for (size_t off = 0; off < size; off += (size_t)page) {
        mem[off] = 1;
        if ((off + (size_t)page) % (4 << 20) == 0)
            printf("touched_mib=%zu\n", (off + (size_t)page) >> 20);
    }
    printf("alloc=ok mib=%ld\n", mib);
    return 0;
}

/* fork N [SECONDS]: try N forks, each child sleeps SECONDS (5); report, then reap. */
static int cmd_fork(long n, double seconds) {
    long forked = 0, failed = 0;
    int last_errno = 0;
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            sleep_for(seconds);
            _exit(0);
        }
        if (pid < 0) {
            failed++;
            last_errno = errno;
        } else {
            forked++;
        }
    }
    printf("forked=%ld failed=%ld ", forked, failed);
    print_errno("", last_errno);
    while (wait(NULL) > 0)
        ;
    return 0;
}

/* spin SECONDS: burn CPU for SECONDS of wall time; report wall and own CPU time. */
static int cmd_spin(double seconds) {
    double start = now(CLOCK_MONOTONIC), cpu0 = now(CLOCK_PROCESS_CPUTIME_ID);
    volatile unsigned long x = 0;
    while (now(CLOCK_MONOTONIC) - start < seconds)
        for (int i = 0; i < 10000; i++)
            x++;
    printf("wall=%.3f cpu=%.3f\n", now(CLOCK_MONOTONIC) - start,
           now(CLOCK_PROCESS_CPUTIME_ID) - cpu0);
    return 0;
}

/* caps: the five capability sets (hex, as /proc shows them) and NoNewPrivs. */
static int cmd_caps(void) {
    static const char *keys[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs"};
    FILE *f = fopen("/proc/self/status", "r");
    char line[512];
    int first = 1;
    if (!f) {
        print_errno("open_failed=1 ", errno);
        return 1;
    }
    while (fgets(line, sizeof line, f)) {
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
            size_t len = strlen(keys[k]);
            if (strncmp(line, keys[k], len) == 0 && line[len] == ':') {
                char *value = line + len + 1;
                value += strspn(value, " \t");
                value[strcspn(value, "\n")] = '\0';
                printf("%s%s=%s", first ? "" : " ", keys[k], value);
                first = 0;
            }
        }
    }
    printf("\n");
    fclose(f);
    return 0;
}

/* ids: real and effective uid/gid, supplementary groups, umask. */
static int cmd_ids(void) {
    gid_t groups[NGROUPS_MAX];
    int n = getgroups(NGROUPS_MAX, groups);
    mode_t mask = umask(0);
    umask(mask);
    printf("uid=%u euid=%u gid=%u egid=%u groups=", getuid(), geteuid(), getgid(), getegid());
    for (int i = 0; i < n; i++)
        printf("%s%u", i ? "," : "", groups[i]);
    printf(" umask=%04o\n", (unsigned)mask);
    return 0;
}

/* rlimits: RLIMIT_<NAME>=soft:hard for all 16; unlimited is 18446744073709551615 as in OCI. */
static int cmd_rlimits(void) {
    static const char *names[] = {"CPU",    "FSIZE",   "DATA",       "STACK",  "CORE",   "RSS",
                                  "NPROC",  "NOFILE",  "MEMLOCK",    "AS",     "LOCKS",  "SIGPENDING",
                                  "MSGQUEUE", "NICE",  "RTPRIO",     "RTTIME"};
    for (int r = 0; r < 16; r++) {
        struct rlimit rl;
        if (getrlimit(r, &rl) != 0) {
            printf("RLIMIT_%s=? ", names[r]);
            print_errno("", errno);
            continue;
        }
        printf("RLIMIT_%s=%llu:%llu\n", names[r], (unsigned long long)rl.rlim_cur,
               (unsigned long long)rl.rlim_max);
    }
    return 0;
}

/* fds: every open fd (except the one reading the directory) and what it points to. */
static int cmd_fds(void) {
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *e;
    if (!dir) {
        print_errno("open_failed=1 ", errno);
        return 1;
    }
    while ((e = readdir(dir))) {
        char target[PATH_MAX];
        ssize_t len;
        if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(dir))
            continue;
        len = readlinkat(dirfd(dir), e->d_name, target, sizeof target - 1);
        target[len < 0 ? 0 : len] = '\0';
        printf("fd=%s target=%s\n", e->d_name, target);
    }
    closedir(dir);
    return 0;
}

static int cmd_cwd(void) {
    char buf[PATH_MAX];
    if (!getcwd(buf, sizeof buf)) {
        print_errno("cwd=? ", errno);
        return 1;
    }
    printf("cwd=%s\n", buf);
    return 0;
}

/* exe-write PID: the /proc/PID/exe overwrite attack (CVE-2019-5736). opened=1 means vulnerable. */
static int cmd_exe_write(const char *pid) {
    char path[64];
    int fd;
    snprintf(path, sizeof path, "/proc/%s/exe", pid);
    fd = open(path, O_WRONLY);
    if (fd >= 0) {
        close(fd);
        printf("opened=1 errno=0 errname=0\n");
        return 0;
    }
    print_errno("opened=0 ", errno);
    return 0;
}

static int cmd_sleep(double seconds) {
    sleep_for(seconds);
    printf("slept=%.3f\n", seconds);
    return 0;
}

/* memfd-exec ARGS...: copy this program into an anonymous memfd and fexecve it with ARGS
 * (argv[0] "bst-memfd"): a fileless execution, as droppers do. Prints only on failure. */
static int cmd_memfd_exec(char **args) {
    int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    int mem = memfd_create("bst-payload", 0);
    struct stat st;
    if (self < 0 || mem < 0 || fstat(self, &st) != 0) {
        print_errno("memfd_exec=failed ", errno);
        return 1;
    }
    for (off_t done = 0; done < st.st_size;) {
        ssize_t n = sendfile(mem, self, NULL, (size_t)(st.st_size - done));
        if (n <= 0) {
            print_errno("memfd_exec=failed ", n < 0 ? errno : EIO);
            return 1;
        }
        done += n;
    }
    args[-1] = "bst-memfd"; /* argv[0] of the new image, in place of "memfd-exec" */
    fexecve(mem, args - 1, (char *const[]){NULL});
    print_errno("memfd_exec=failed ", errno);
    return 1;
}

/* ptrace-child: fork a child that waits, PTRACE_ATTACH to it, detach, kill and reap it. */
static int cmd_ptrace_child(void) {
    pid_t child = fork();
    int status, attached, err;
    if (child == 0) {
        pause();
        _exit(0);
    }
    if (child < 0) {
        print_errno("ptrace=failed ", errno);
        return 1;
    }
    attached = ptrace(PTRACE_ATTACH, child, NULL, NULL) == 0;
    err = attached ? 0 : errno;
    if (attached) {
        waitpid(child, &status, 0);
        ptrace(PTRACE_DETACH, child, NULL, NULL);
    }
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    printf("attached=%d target=%d ", attached, child);
    print_errno("", err);
    return attached ? 0 : 1;
}

/* setuid UID: setuid(UID) (from a setuid-root copy this is the escalation to full root). */
static int cmd_setuid(long uid) {
    int ok = setuid((uid_t)uid) == 0;
    int err = ok ? 0 : errno;
    printf("setuid=%d uid=%u euid=%u ", ok, getuid(), geteuid());
    print_errno("", err);
    return ok ? 0 : 1;
}

/* finit-module: finit_module() on /dev/null: refused without CAP_SYS_MODULE, but attempted. */
static int cmd_finit_module(void) {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    long res = syscall(SYS_finit_module, fd, "", 0);
    print_errno(res == 0 ? "loaded=1 " : "loaded=0 ", res == 0 ? 0 : errno);
    return 0;
}

/* unshare user|mount: unshare(CLONE_NEWUSER) (allowed unprivileged) or CLONE_NEWNS (needs
 * CAP_SYS_ADMIN, so a failed attempt in a default container). */
static int cmd_unshare(const char *what) {
    int flags = !strcmp(what, "user") ? CLONE_NEWUSER : !strcmp(what, "mount") ? CLONE_NEWNS : 0;
    int ok;
    if (!flags)
        return 2;
    ok = unshare(flags) == 0;
    print_errno(ok ? "unshared=1 " : "unshared=0 ", ok ? 0 : errno);
    return 0;
}

static int usage(void) {
    fputs("usage: bst-helper alloc MiB | fork N [SECONDS] | spin SECONDS | caps | ids | rlimits\n"
          "                  | fds | cwd | exe-write PID | mounts | pid | sleep SECONDS\n"
          "                  | comm | memfd-exec ARGS... | ptrace-child | setuid UID | finit-module\n"
          "                  | unshare user|mount\n",
          stderr);
    return 2;
}

int main(int argc, char **argv) {
    const char *cmd = argc > 1 ? argv[1] : "";
    const char *arg = argc > 2 ? argv[2] : NULL;
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(cmd, "caps"))
        return cmd_caps();
    if (!strcmp(cmd, "ids"))
        return cmd_ids();
    if (!strcmp(cmd, "rlimits"))
        return cmd_rlimits();
    if (!strcmp(cmd, "fds"))
        return cmd_fds();
    if (!strcmp(cmd, "cwd"))
        return cmd_cwd();
    if (!strcmp(cmd, "mounts"))
        return cat_file("/proc/self/mountinfo");
    if (!strcmp(cmd, "pid")) {
        printf("pid=%d ppid=%d\n", getpid(), getppid());
        return 0;
    }
    if (!strcmp(cmd, "comm")) /* the kernel's name of this process (what proc.name shows) */
        return cat_file("/proc/self/comm") ? 1 : 0;
    if (!strcmp(cmd, "ptrace-child"))
        return cmd_ptrace_child();
    if (!strcmp(cmd, "finit-module"))
        return cmd_finit_module();
    if (!arg)
        return usage();
    if (!strcmp(cmd, "memfd-exec"))
        return cmd_memfd_exec(argv + 2);
    if (!strcmp(cmd, "setuid"))
        return cmd_setuid(atol(arg));
    if (!strcmp(cmd, "unshare"))
        return cmd_unshare(arg);
    if (!strcmp(cmd, "alloc"))
        return cmd_alloc(atol(arg));
    if (!strcmp(cmd, "fork"))
        return cmd_fork(atol(arg), argc > 3 ? atof(argv[3]) : 5.0);
    if (!strcmp(cmd, "spin"))
        return cmd_spin(atof(arg));
    if (!strcmp(cmd, "exe-write"))
        return cmd_exe_write(arg);
    if (!strcmp(cmd, "sleep"))
        return cmd_sleep(atof(arg));
    return usage();
}
