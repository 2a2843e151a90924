// The sensor benches' workloads, compiled at run time by bench/sensor_common.py (never committed
// as a binary). Each mode times only its own loop (CLOCK_MONOTONIC around it), so process start
// and the caller's bookkeeping stay out of the figure; it prints the loop's nanoseconds, then
// the CPU time the process spent in it (user + system, BPF programs on its syscalls included):
// on a shared machine, time the workload waited for its CPU is in the first, not the second.
//
//   sensor_workload getppid N            N getppid() system calls (raw syscall: no libc cache)
//   sensor_workload openclose N PATH     N openat(PATH, O_RDONLY) + close pairs
//   sensor_workload rate OPS SECONDS PATH   openat+close pairs at OPS pairs/s for SECONDS,
//                                        paced every 256 pairs; prints "<ns> <pairs done>"
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void open_close(const char *path)
{
	int fd = openat(AT_FDCWD, path, O_RDONLY);
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "getppid") == 0) {
		long n = atol(argv[2]);
		long long t0 = now_ns(), c0 = cpu_ns();
		for (long i = 0; i < n; i++)
			syscall(SYS_getppid);
		printf("%lld %lld\n", now_ns() - t0, cpu_ns() - c0);
		return 0;
	}
	if (argc >= 4 && strcmp(argv[1], "openclose") == 0) {
		long n = atol(argv[2]);
		long long t0 = now_ns(), c0 = cpu_ns();
		for (long i = 0; i < n; i++)
			open_close(argv[3]);
		printf("%lld %lld\n", now_ns() - t0, cpu_ns() - c0);
		return 0;
	}
	if (argc >= 5 && strcmp(argv[1], "rate") == 0) {
		double ops = atof(argv[2]);
		long long span = (long long)(atof(argv[3]) * 1e9);
		long long t0 = now_ns(), done = 0, t;
		while ((t = now_ns()) - t0 < span) {
			long long due = (long long)((double)(t - t0) * ops / 1e9);
			if (done >= due) {
				struct timespec nap = {0, 200000}; // 0.2 ms: ahead of schedule
				nanosleep(&nap, NULL);
				continue;
			}
			for (int i = 0; i < 256; i++)
				open_close(argv[4]);
			done += 256;
		}
		printf("%lld %lld\n", now_ns() - t0, done);
		return 0;
	}
	fprintf(stderr, "usage: %s getppid N | openclose N PATH | rate OPS SECONDS PATH\n", argv[0]);
	return 2;
}
