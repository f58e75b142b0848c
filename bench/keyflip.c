// SPDX-License-Identifier: GPL-2.0-only
/*
 * Issue 26's minimal reproducer (bench tooling, not part of the series), without KVM:
 * the kernel patches its own text each time a static key flips (text_poke_bp(): an
 * int3 on each site, then the new bytes, with sync_core() IPIs between the steps).
 * Enabling and disabling the sched_switch tracepoint flips a key whose site is in
 * __schedule(), as KVM's VM creation and destruction flip preempt_notifier_key in
 * the same function. Two pairs of processes ping-pong a byte over pipes, so that
 * both CPUs run __schedule() all the time while it is patched.
 *   keyflip N     N flips (each on, then off); prints progress every 200
 * A kernel that executes a stale int3 dies with "Oops: int3" in __schedule.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define ENABLE "/sys/kernel/tracing/events/sched/sched_switch/enable"

static void pingpong(void)
{
	int a[2], b[2];
	char c = 0;

	if (pipe(a) || pipe(b))
		exit(1);
	if (fork() == 0) {
		for (;;)
			if (read(a[0], &c, 1) != 1 || write(b[1], &c, 1) != 1)
				exit(1);
	}
	for (;;)
		if (write(a[1], &c, 1) != 1 || read(b[0], &c, 1) != 1)
			exit(1);
}

static void set(int fd, const char *v)
{
	if (pwrite(fd, v, 1, 0) != 1) {
		perror(ENABLE);
		kill(0, SIGKILL);
	}
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000, i;
	time_t t0 = time(NULL);
	int fd, p;

	setvbuf(stdout, NULL, _IOLBF, 0);
	fd = open(ENABLE, O_WRONLY);
	if (fd < 0) {
		perror(ENABLE);
		return 4;
	}
	for (p = 0; p < 2; p++)
		if (fork() == 0)
			pingpong();
	for (i = 1; i <= n; i++) {
		set(fd, "1");
		set(fd, "0");
		if (i % 200 == 0 || i == n)
			printf("keyflip: %ld/%ld flips after %ld s\n", i, n, (long)(time(NULL) - t0));
	}
	signal(SIGTERM, SIG_IGN);
	kill(0, SIGTERM);
	return 0;
}
