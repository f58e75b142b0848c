// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmclock_e2e: end to end with a real VMM and a real guest kernel.
 *
 * Runs in the bench VM (level 1: the patched kernel and its KVM).  Boots a
 * nested Linux guest (level 2: the same kernel image, a small initramfs)
 * under QEMU 10 with QEMU's ACPI vmclock device ("-device vmclock").  QEMU
 * does not know KVM_SET_VMCLOCK: bench/e2e/vmclock_shim.c, preloaded into
 * QEMU, calls it at QEMU's first KVM_RUN with the address of QEMU's page.
 * The unmodified guest driver (drivers/ptp/ptp_vmclock.c) then probes the
 * ACPI device, maps the page that KVM fills and registers /dev/vmclock0 and
 * a PTP clock.  bench/e2e/vmclock_guest.c in the guest answers requests on
 * the guest's second serial line; this program takes CLOCK_REALTIME just
 * before each request and just after each answer and checks that the
 * guest's PHC time (TAI, converted to UTC with the offset the page
 * declares) lies in between.  A tighter window too: the guest brackets
 * each measurement with two OUTs to a port, whose vCPU exits the shim
 * timestamps with CLOCK_REALTIME; the PHC time must lie in between as well.
 *
 * First (not with --demo), a control run: the same guest without
 * KVM_SET_VMCLOCK must get no PTP clock from QEMU's own page.
 *
 * Last, the migration and snapshot signals: while the guest polls and
 * reads /dev/vmclock0, the shim (on a command of this program) calls
 * KVM_SET_VMCLOCK on QEMU's VM with KVM_VMCLOCK_FLAG_BUMP_DISRUPTION,
 * _BUMP_VM_GENERATION or both; the guest must read exactly the counters
 * KVM had before and then one more, its poll() must return POLLHUP at once
 * (no notification channel: QEMU 10's device has none, and no eventfd is
 * attached), and its PHC must still be right.  --demo: the first only.
 *
 * Bench setup: the driver registers a PTP clock only for a page that gives
 * TAI, or UTC with a valid TAI offset, and KVM declares the offset only when
 * the host has one: if the host's TAI offset is 0, it is set to 37 s
 * (adjtimex ADJ_TAI) for the test, and put back at the end.
 *
 * Built with the KVM selftests' library (bench/selftests.sh); bench
 * tooling, not part of the series.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timex.h>
#include <sys/wait.h>

#include <linux/vmclock-abi.h>

#include "kvm_util.h"
#include "kselftest.h"

#define E2E_DIR		"/e2e"
#define E2E_QEMU	E2E_DIR "/qemu/usr/bin/qemu-system-x86_64"
#define E2E_SERIAL	"/tmp/e2e-ttyS1"
#define E2E_SHIM_LOG	"/tmp/e2e-shim.log"
#define E2E_TAI_OFFSET	37
#define BOOT_TIMEOUT_MS	300000
#define REPLY_TIMEOUT_MS 30000

static bool demo;

struct l2 {
	pid_t pid;
	int con;		/* QEMU's stdout and stderr: ttyS0, the console */
	int ser_in;		/* requests to the guest's ttyS1 */
	int ser_out;		/* answers from it */
	char conbuf[4096];
	size_t conlen;
	char serbuf[4096];
	size_t serlen;
	int console_lines;
	u64 t_start, t_console;	/* ms: QEMU started, first console line */
	int io;			/* the shim's timestamps of the guest's OUTs */
	int ctl;		/* commands to the shim: bump the counters */
	struct shim_io_stamp {
		u64 value;
		u64 realtime_ns;
	} stamps[256];
	int nstamps;
};

/*
 * The host's windows around one guest measurement: CLOCK_REALTIME before the
 * request and after the answer on the serial line, and (if found) at the
 * vCPU exits of the OUTs that bracket it in the guest.
 */
struct window {
	u64 before, after;
	bool io;
	u64 io_before, io_after;
};

/* What the guest reported before READY */
struct facts {
	bool ready, vmclock0, ptp, magic_ok;
	unsigned int size, version, counter_id, time_type, status;
	unsigned long long flags, iomem_start, iomem_end;
	int tai_offset;
	char clocksource[32];
	bool driver_ptp_line;
};

struct snap {
	bool valid;
	int ok;
	unsigned int seq, odd, status;
	unsigned long long marker;
};

static u64 realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static u64 mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *utc_str(u64 ns, char *buf, size_t len)
{
	time_t s = ns / NSEC_PER_SEC;
	struct tm tm;
	size_t n;

	gmtime_r(&s, &tm);
	n = strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%09llu", (unsigned long long)(ns % NSEC_PER_SEC));
	return buf;
}

/* Forward complete console lines, as TAP comments. */
static void l2_console(struct l2 *l, bool flush)
{
	char *nl;

	while ((nl = memchr(l->conbuf, '\n', l->conlen)) ||
	       (flush && l->conlen) || l->conlen == sizeof(l->conbuf)) {
		size_t n = nl ? (size_t)(nl - l->conbuf) : l->conlen;
		size_t i, j;

		for (i = 0, j = 0; i < n; i++)
			if (l->conbuf[i] != '\r')
				l->conbuf[j++] = l->conbuf[i];
		printf("# L2: %.*s\n", (int)j, l->conbuf);
		if (!l->console_lines++)
			l->t_console = mono_ms();
		n += nl ? 1 : 0;
		memmove(l->conbuf, l->conbuf + n, l->conlen - n);
		l->conlen -= n;
	}
	fflush(stdout);
}

/*
 * The guest's next line on the serial line, and the host's CLOCK_REALTIME
 * when it was complete.  Forwards the console meanwhile.  False on timeout
 * or when QEMU is gone.
 */
static bool l2_line(struct l2 *l, char *line, size_t len, int timeout_ms,
		    u64 *when)
{
	u64 deadline = mono_ms() + timeout_ms;

	for (;;) {
		char *nl = memchr(l->serbuf, '\n', l->serlen);
		struct pollfd pfd[2] = {
			{ .fd = l->con, .events = POLLIN },
			{ .fd = l->ser_out, .events = POLLIN },
		};
		ssize_t n;
		int left;

		if (nl) {
			size_t k = nl - l->serbuf, i, j;

			for (i = 0, j = 0; i < k && j < len - 1; i++)
				if (l->serbuf[i] != '\r')
					line[j++] = l->serbuf[i];
			line[j] = 0;
			memmove(l->serbuf, nl + 1, l->serlen - k - 1);
			l->serlen -= k + 1;
			return true;
		}
		left = deadline - mono_ms();
		if (left <= 0)
			return false;
		if (poll(pfd, 2, left) < 0 && errno != EINTR)
			return false;
		if (pfd[1].revents & POLLIN) {
			n = read(l->ser_out, l->serbuf + l->serlen,
				 sizeof(l->serbuf) - l->serlen);
			if (when)
				*when = realtime_ns();
			if (n > 0)
				l->serlen += n;
			if (l->serlen == sizeof(l->serbuf))
				l->serlen = 0;	/* garbage: no line end */
		}
		if (pfd[0].revents & (POLLIN | POLLHUP)) {
			n = read(l->con, l->conbuf + l->conlen,
				 sizeof(l->conbuf) - l->conlen);
			if (n > 0) {
				l->conlen += n;
				l2_console(l, false);
			} else if (!(pfd[1].revents & POLLIN)) {
				/* QEMU closed its output: it exited. */
				l2_console(l, true);
				return false;
			}
		}
	}
}

static bool l2_start(struct l2 *l, bool set_vmclock)
{
	char *const argv[] = {
		E2E_QEMU, "-L", E2E_DIR "/qemu/usr/share/qemu",
		"-L", E2E_DIR "/qemu/usr/share/seabios",
		"-accel", "kvm", "-cpu", "qemu64", "-m", "256", "-smp", "1",
		"-nodefaults", "-display", "none", "-vga", "none",
		"-no-reboot", "-serial", "stdio",
		"-serial", "pipe:" E2E_SERIAL, "-device", "vmclock",
		"-kernel", E2E_DIR "/bzImage", "-initrd", E2E_DIR "/l2.gz",
		"-append", "console=ttyS0 loglevel=5 panic=-1 oops=panic printk.time=1 kunit.enable=0",
		NULL,
	};
	int out[2], io[2], ctl[2];
	char iofd[16], ctlfd[16];

	memset(l, 0, sizeof(*l));
	unlink(E2E_SERIAL ".in");
	unlink(E2E_SERIAL ".out");
	unlink(E2E_SHIM_LOG);
	if (mkfifo(E2E_SERIAL ".in", 0600) || mkfifo(E2E_SERIAL ".out", 0600) ||
	    pipe2(out, O_CLOEXEC) || pipe2(io, O_CLOEXEC) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl))
		return false;
	/* Read-write: opening never blocks, and QEMU opens them the same way. */
	l->ser_in = open(E2E_SERIAL ".in", O_RDWR | O_CLOEXEC);
	l->ser_out = open(E2E_SERIAL ".out", O_RDWR | O_CLOEXEC);
	if (l->ser_in < 0 || l->ser_out < 0)
		return false;

	fflush(stdout);
	l->t_start = mono_ms();
	l->pid = fork();
	if (l->pid < 0)
		return false;
	if (!l->pid) {
		int null = open("/dev/null", O_RDONLY);

		dup2(null, 0);
		dup2(out[1], 1);
		dup2(out[1], 2);
		setenv("LD_PRELOAD", E2E_DIR "/vmclock_shim.so", 1);
		setenv("VMCLOCK_SHIM_LOG", E2E_SHIM_LOG, 1);
		setenv("VMCLOCK_SHIM", set_vmclock ? "on" : "off", 1);
		/* QEMU 10's own modules only (it has none here). */
		setenv("QEMU_MODULE_DIR", E2E_DIR "/qemu/modules", 1);
		/* The timing port's stamps (bench/e2e/vmclock_shim.c) */
		fcntl(io[1], F_SETFD, 0);
		snprintf(iofd, sizeof(iofd), "%d", io[1]);
		setenv("VMCLOCK_SHIM_IO_FD", iofd, 1);
		/* The migration and snapshot signals, on command */
		fcntl(ctl[1], F_SETFD, 0);
		snprintf(ctlfd, sizeof(ctlfd), "%d", ctl[1]);
		setenv("VMCLOCK_SHIM_CTL_FD", ctlfd, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	close(out[1]);
	close(io[1]);
	close(ctl[1]);
	l->con = out[0];
	l->io = io[0];
	l->ctl = ctl[0];
	return true;
}

/* Wait for QEMU to exit; its status, or -1 after timeout_ms (then killed). */
static int l2_wait(struct l2 *l, int timeout_ms)
{
	u64 deadline = mono_ms() + timeout_ms;
	int status;
	char line[512];

	/* Drain the console until QEMU closes it. */
	while (l2_line(l, line, sizeof(line), deadline - mono_ms(), NULL))
		;
	for (;;) {
		pid_t r = waitpid(l->pid, &status, WNOHANG);

		if (r == l->pid)
			break;
		if (mono_ms() > deadline) {
			kill(l->pid, SIGKILL);
			waitpid(l->pid, &status, 0);
			status = -1;
			break;
		}
		usleep(10000);
	}
	close(l->con);
	close(l->io);
	close(l->ctl);
	close(l->ser_in);
	close(l->ser_out);
	return status == -1 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static bool parse_snap(const char *line, struct snap *s)
{
	s->valid = sscanf(line, "SNAP ok %d seq %u odd %u marker %llu status %u",
			  &s->ok, &s->seq, &s->odd, &s->marker, &s->status) == 5;
	return s->valid;
}

/* Boot messages until READY: what the guest and its driver made of the device. */
static bool l2_facts(struct l2 *l, struct facts *f, struct snap *s)
{
	char line[512];

	memset(f, 0, sizeof(*f));
	while (l2_line(l, line, sizeof(line), BOOT_TIMEOUT_MS, NULL)) {
		unsigned int magic;

		ksft_print_msg("guest: %s\n", line);
		if (!strcmp(line, "READY")) {
			f->ready = true;
			return true;
		}
		if (sscanf(line, "VMCLOCK0 magic 0x%x size %u version %u counter_id %u time_type %u flags 0x%llx tai_offset %d status %u",
			   &magic, &f->size, &f->version, &f->counter_id,
			   &f->time_type, &f->flags, &f->tai_offset,
			   &f->status) == 8) {
			f->vmclock0 = true;
			f->magic_ok = magic == VMCLOCK_MAGIC;
		}
		if (!strncmp(line, "PTP /dev/ptp", 12))
			f->ptp = true;
		sscanf(line, "IOMEM 0x%llx 0x%llx", &f->iomem_start, &f->iomem_end);
		sscanf(line, "CLOCKSOURCE %31s", f->clocksource);
		if (strstr(line, "KLOG") && strstr(line, "registered miscdev, PTP"))
			f->driver_ptp_line = true;
		parse_snap(line, s);
	}
	return false;
}

/* The shim's stamp of the OUT of @value, waiting up to a second for it. */
static bool l2_stamp(struct l2 *l, u64 value, u64 *ns)
{
	u64 deadline = mono_ms() + 1000;
	int i;

	for (;;) {
		struct pollfd pfd = { .fd = l->io, .events = POLLIN };
		ssize_t n;

		for (i = 0; i < l->nstamps; i++) {
			if (l->stamps[i].value == value) {
				*ns = l->stamps[i].realtime_ns;
				return true;
			}
		}
		if (mono_ms() > deadline || poll(&pfd, 1, 100) < 0)
			return false;
		if (!(pfd.revents & POLLIN))
			continue;
		if (l->nstamps == ARRAY_SIZE(l->stamps))
			l->nstamps = 0;
		n = read(l->io, &l->stamps[l->nstamps], sizeof(l->stamps[0]));
		if (n != sizeof(l->stamps[0]))
			return false;
		l->nstamps++;
	}
}

/* Forget the timing port's earlier stamps: values repeat after 128 requests. */
static void l2_stamps_reset(struct l2 *l)
{
	for (;;) {
		struct pollfd pfd = { .fd = l->io, .events = POLLIN };

		if (poll(&pfd, 1, 0) != 1 ||
		    read(l->io, l->stamps, sizeof(l->stamps[0])) <= 0)
			break;
	}
	l->nstamps = 0;
}

/*
 * One request; its answer's lines, but the last two (IO, SNAP), go to
 * @lines (up to @n); the windows around the measurement to @w.
 */
static int l2_request(struct l2 *l, char cmd, struct window *w,
		      char lines[][512], int n, struct snap *s)
{
	char line[512];
	unsigned int k;
	int i = 0;

	memset(w, 0, sizeof(*w));
	l2_stamps_reset(l);
	w->before = realtime_ns();
	if (write(l->ser_in, &cmd, 1) != 1)
		return -1;
	while (l2_line(l, line, sizeof(line), REPLY_TIMEOUT_MS,
		       i == 0 ? &w->after : NULL)) {
		if (parse_snap(line, s))
			return i;
		if (sscanf(line, "IO %u", &k) == 1) {
			w->io = l2_stamp(l, (2 * k) & 0xff, &w->io_before) &&
				l2_stamp(l, (2 * k + 1) & 0xff, &w->io_after);
			continue;
		}
		if (i < n)
			snprintf(lines[i++], 512, "%s", line);
	}
	return -1;
}

/* The host's TAI offset, set to E2E_TAI_OFFSET if 0. Returns the original. */
static int host_tai_setup(void)
{
	struct timex tx = { .modes = 0 };
	int tai;

	TEST_ASSERT(adjtimex(&tx) >= 0, "adjtimex: %s", strerror(errno));
	tai = tx.tai;
	if (tai) {
		ksft_print_msg("host TAI offset %d s (already set)\n", tai);
		return tai;
	}
	tx = (struct timex){ .modes = ADJ_TAI, .constant = E2E_TAI_OFFSET };
	TEST_ASSERT(adjtimex(&tx) >= 0, "adjtimex(ADJ_TAI): %s", strerror(errno));
	ksft_print_msg("bench setup: the host's TAI offset was 0; set to %d s (adjtimex ADJ_TAI), so that KVM's page declares it (VMCLOCK_FLAG_TAI_OFFSET_VALID), without which ptp_vmclock registers no PTP clock for a UTC page\n",
		       E2E_TAI_OFFSET);
	return 0;
}

static void host_tai_restore(int tai)
{
	struct timex tx = { .modes = ADJ_TAI, .constant = tai };

	if (!tai && adjtimex(&tx) >= 0)
		ksft_print_msg("bench setup: host TAI offset put back to 0\n");
}

/*
 * Change the host clock's frequency by @ppm (0: back to @orig): the
 * timekeeper's multiplier changes, and KVM must republish the page.
 */
static long host_freq(long orig, long ppm)
{
	struct timex tx = { .modes = ADJ_FREQUENCY, .freq = orig + ppm * 65536 };

	TEST_ASSERT(adjtimex(&tx) >= 0, "adjtimex(ADJ_FREQUENCY): %s", strerror(errno));
	return tx.freq;
}

static long host_freq_now(void)
{
	struct timex tx = { .modes = 0 };

	TEST_ASSERT(adjtimex(&tx) >= 0, "adjtimex: %s", strerror(errno));
	return tx.freq;
}

static void shim_line(char *buf, size_t len)
{
	FILE *f = fopen(E2E_SHIM_LOG, "r");

	buf[0] = 0;
	if (f) {
		if (!fgets(buf, len, f))
			buf[0] = 0;
		buf[strcspn(buf, "\n")] = 0;
		fclose(f);
	}
}

/* Control: QEMU's page alone (no KVM_SET_VMCLOCK) gives no PTP clock. */
static void control_run(void)
{
	struct facts f;
	struct snap s = {};
	struct l2 l;
	char shim[512];
	bool booted;

	ksft_print_msg("control run: nested guest under QEMU 10, KVM_SET_VMCLOCK not called\n");
	if (!l2_start(&l, false)) {
		ksft_test_result_fail("control: QEMU's page alone: could not start QEMU\n");
		return;
	}
	booted = l2_facts(&l, &f, &s);
	if (booted && write(l.ser_in, "q", 1) != 1)
		booted = false;
	l2_wait(&l, booted ? 60000 : 1000);
	shim_line(shim, sizeof(shim));
	ksft_print_msg("%s\n", shim);
	ksft_test_result(booted && f.vmclock0 && f.magic_ok && !f.ptp &&
			 strstr(shim, "not called"),
			 "control: QEMU's own page (no KVM_SET_VMCLOCK): the driver maps it (/dev/vmclock0) but registers no PTP clock\n");
}

/*
 * The host's CLOCK_REALTIME at the guest's reading lies in [before, after],
 * so the PHC's offset from it lies in [guest - after, guest - before].
 * Inside both windows or not.
 */
static bool check_reading(const char *what, const struct window *w, u64 guest,
			  unsigned long long tsc)
{
	bool in_serial = w->before <= guest && guest <= w->after;
	bool in_io = w->io && w->io_before <= guest && guest <= w->io_after;
	char g[40];

	ksft_print_msg("%s guest PHC %s UTC | serial: host window %.3f ms, offset PHC - host in [%+.3f, %+.3f] ms",
		       what, utc_str(guest, g, sizeof(g)), (w->after - w->before) / 1e6,
		       ((s64)guest - (s64)w->after) / 1e6,
		       ((s64)guest - (s64)w->before) / 1e6);
	if (w->io)
		printf(" | port I/O exits: window %.3f ms, offset in [%+.3f, %+.3f] ms",
		       (w->io_after - w->io_before) / 1e6,
		       ((s64)guest - (s64)w->io_after) / 1e6,
		       ((s64)guest - (s64)w->io_before) / 1e6);
	else
		printf(" | port I/O exits: no stamps");
	printf(": %s", in_serial && in_io ? "inside" : "OUTSIDE");
	if (tsc)
		printf(" (guest TSC %llu)", tsc);
	printf("\n");
	return in_serial && in_io;
}

/* A reported time, TAI, in UTC ns with the page's offset (UTC - TAI). */
static u64 tai_to_utc(long long sec, long nsec, int tai_offset)
{
	return (sec + tai_offset) * NSEC_PER_SEC + nsec;
}

static bool check_snap(const struct snap *s, struct snap *first, int *bad)
{
	if (!s->valid || !s->ok || (s->seq & 1) || s->status != VMCLOCK_STATUS_SYNCHRONIZED ||
	    (first->valid && ((s32)(s->seq - first->seq) < 0 || s->marker != first->marker))) {
		(*bad)++;
		return false;
	}
	if (!first->valid)
		*first = *s;
	return true;
}

/*
 * The migration and snapshot signals.  The counters and flags as KVM
 * (KVM_GET_VMCLOCK, through the shim) or the guest (read() of
 * /dev/vmclock0) saw them.
 */
struct counters {
	bool valid;
	int rc;
	unsigned long long marker, gen, flags;
	unsigned int seq, status;
};

/* One bump of the counters by the VMM stand-in, while the guest runs. */
struct bump {
	bool ok;
	u64 t0, t1;		/* CLOCK_REALTIME around KVM_SET_VMCLOCK */
	struct counters before, after;
	char text[512];
};

/* The guest's 'w' request around one bump */
struct watch {
	bool ok;		/* every answer line came, in order */
	struct counters old, now;
	int poll_rc;
	unsigned int revents, poll_us, polls, hups, reads, timeout;
	unsigned long long wait_us;
	struct bump bump;
	struct window w;	/* around the PHC reading after the change */
	bool phc_in;
	u64 t_report;		/* CLOCK_REALTIME when CHANGED arrived */
	struct snap snap;
};

static bool parse_counters(const char *p, struct counters *c)
{
	c->valid = p && sscanf(p, "marker %llu gen %llu seq %u flags 0x%llx status %u",
			       &c->marker, &c->gen, &c->seq, &c->flags,
			       &c->status) == 5;
	return c->valid;
}

/* "WHAT rc R marker M gen G seq S flags 0xF status X REST": REST to @rest */
static bool parse_view(const char *line, const char *what, struct counters *c,
		       const char **rest)
{
	size_t len = strlen(what);
	int n = 0;

	memset(c, 0, sizeof(*c));
	if (strncmp(line, what, len) ||
	    sscanf(line + len, " rc %d %n", &c->rc, &n) != 1 || !n ||
	    !parse_counters(line + len + n, c))
		return false;
	*rest = strstr(line + len + n, " status ");
	if (*rest)
		*rest = strchr(*rest + 8, ' ');
	return *rest;
}

/* A command to the shim's control thread (bench/e2e/vmclock_shim.c) */
static bool shim_command(struct l2 *l, const char *cmd, struct bump *b)
{
	struct pollfd pfd = { .fd = l->ctl, .events = POLLIN };
	unsigned long long t0, t1;
	char *p;
	ssize_t n;

	memset(b, 0, sizeof(*b));
	n = -1;
	if (write(l->ctl, cmd, strlen(cmd)) >= 0 && poll(&pfd, 1, 10000) == 1)
		n = read(l->ctl, b->text, sizeof(b->text) - 1);
	if (n <= 0) {
		snprintf(b->text, sizeof(b->text), "no answer from the shim");
		return false;
	}
	b->text[n] = 0;
	if (sscanf(b->text, "ok set %llu %llu", &t0, &t1) != 2)
		return false;
	b->t0 = t0;
	b->t1 = t1;
	p = strstr(b->text, " before ");
	parse_counters(p ? p + 8 : NULL, &b->before);
	p = strstr(b->text, " after ");
	parse_counters(p ? p + 7 : NULL, &b->after);
	b->ok = b->before.valid && b->after.valid;
	return b->ok;
}

static bool l2_next(struct l2 *l, char *line, size_t len)
{
	if (!l2_line(l, line, len, REPLY_TIMEOUT_MS, NULL))
		return false;
	ksft_print_msg("guest: %s\n", line);
	return true;
}

/*
 * The guest watches /dev/vmclock0 (poll(), read()); once it has the values
 * before, the VMM stand-in sends @cmd to KVM; the guest reports the values it
 * then reads, and a PHC reading right after it saw them.
 */
static void watch_run(struct l2 *l, const struct facts *f, const char *name,
		      const char *cmd, struct watch *r)
{
	long long sec, tsc;
	const char *rest;
	char line[512];
	unsigned int k;
	long nsec;

	memset(r, 0, sizeof(*r));
	l2_stamps_reset(l);
	r->w.before = realtime_ns();
	if (write(l->ser_in, "w", 1) != 1 || !l2_next(l, line, sizeof(line)))
		return;
	if (!parse_view(line, "WATCH", &r->old, &rest) ||
	    sscanf(rest, " poll %d revents 0x%x poll_us %u", &r->poll_rc,
		   &r->revents, &r->poll_us) != 3)
		return;

	/* The guest is polling and reading: the VMM's signal, now. */
	shim_command(l, cmd, &r->bump);
	ksft_print_msg("VMM stand-in: \"%s\": %s\n", cmd, r->bump.text);

	/* Whether or not it came, the guest answers within 20 s. */
	if (!l2_next(l, line, sizeof(line)))
		return;
	r->t_report = realtime_ns();
	if (!parse_view(line, "CHANGED", &r->now, &rest) ||
	    sscanf(rest, " polls %u hup %u reads %u wait_us %llu timeout %u",
		   &r->polls, &r->hups, &r->reads, &r->wait_us,
		   &r->timeout) != 5)
		return;
	if (!l2_next(l, line, sizeof(line)))
		return;
	r->w.after = realtime_ns();
	if (sscanf(line, "PHC rc 0 %lld %ld tsc %lld", &sec, &nsec, &tsc) != 3)
		return;
	if (!l2_next(l, line, sizeof(line)) || sscanf(line, "IO %u", &k) != 1)
		return;
	r->w.io = l2_stamp(l, (2 * k) & 0xff, &r->w.io_before) &&
		  l2_stamp(l, (2 * k + 1) & 0xff, &r->w.io_after);
	if (!l2_next(l, line, sizeof(line)) || !parse_snap(line, &r->snap))
		return;
	r->phc_in = check_reading(name, &r->w, tai_to_utc(sec, nsec, f->tai_offset),
				  tsc);
	r->ok = true;

	ksft_print_msg("%s disruption_marker %llu -> %llu, vm_generation_counter %llu -> %llu (KVM: %llu -> %llu, %llu -> %llu), seq_count %u -> %u, flags 0x%llx\n",
		       name, r->old.marker, r->now.marker, r->old.gen, r->now.gen,
		       r->bump.before.marker, r->bump.after.marker,
		       r->bump.before.gen, r->bump.after.gen, r->old.seq,
		       r->now.seq, r->now.flags);
	ksft_print_msg("%s KVM_SET_VMCLOCK took %.3f ms; from its start the guest saw the change after %.3f ms (its OUT's vCPU exit) and its report arrived after %.3f ms (serial); guest: %u poll() (%u POLLHUP), %u read(), first poll() %u us\n",
		       name, (r->bump.t1 - r->bump.t0) / 1e6,
		       r->w.io ? ((s64)r->w.io_before - (s64)r->bump.t0) / 1e6 : -1.0,
		       ((s64)r->t_report - (s64)r->bump.t0) / 1e6, r->polls,
		       r->hups, r->reads, r->poll_us);
}

/*
 * What every signal must show: KVM took the bump, the guest read() the
 * values KVM had before and then exactly @dmarker and @dgen more (those of
 * KVM after), through a driver that says it gets no notification, with the
 * page still synchronized and announcing the generation counter, and the
 * PHC inside the host's windows right after.
 */
static bool watch_ok(const struct watch *r, int dmarker, int dgen)
{
	const struct counters *o = &r->old, *n = &r->now;
	const struct bump *b = &r->bump;
	u64 want = VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT;

	return r->ok && b->ok && !o->rc && !n->rc && !r->timeout &&
	       b->after.marker == b->before.marker + dmarker &&
	       b->after.gen == b->before.gen + dgen &&
	       o->marker == b->before.marker && o->gen == b->before.gen &&
	       n->marker == o->marker + dmarker && n->gen == o->gen + dgen &&
	       n->marker == b->after.marker && n->gen == b->after.gen &&
	       !(n->seq & 1) && n->seq != o->seq &&
	       n->status == VMCLOCK_STATUS_SYNCHRONIZED &&
	       (o->flags & want) && (n->flags & want) &&
	       !(n->flags & VMCLOCK_FLAG_NOTIFICATION_PRESENT) &&
	       r->snap.valid && r->snap.ok && r->snap.marker == n->marker &&
	       r->snap.status == VMCLOCK_STATUS_SYNCHRONIZED && r->phc_in;
}

/* No notification channel: poll() must say so at once, every time. */
static bool watch_pollhup(const struct watch *r)
{
	return r->ok && !r->old.rc && r->poll_rc == 1 && r->revents == POLLHUP &&
	       !(r->old.flags & VMCLOCK_FLAG_NOTIFICATION_PRESENT) &&
	       r->polls && r->hups == r->polls;
}

static void signals_run(struct l2 *l, const struct facts *f, bool booted)
{
	struct watch mig = {}, snap = {}, restore = {};
	unsigned int polls, hups, us;

	if (booted)
		watch_run(l, f, "[migration]", "bump disruption", &mig);
	if (booted && !demo)
		watch_run(l, f, "[snapshot]", "bump generation", &snap);
	if (booted && !demo)
		watch_run(l, f, "[restore]", "bump disruption generation",
			  &restore);

	polls = mig.polls + snap.polls + restore.polls;
	hups = mig.hups + snap.hups + restore.hups;
	us = max(mig.poll_us, max(snap.poll_us, restore.poll_us));
	ksft_test_result(watch_pollhup(&mig) &&
			 (demo || (watch_pollhup(&snap) && watch_pollhup(&restore))),
			 "guest: no notification channel (QEMU 10's device has no ACPI Notify; no eventfd attached): page without VMCLOCK_FLAG_NOTIFICATION_PRESENT, poll() on /dev/vmclock0 returns POLLHUP at once (first poll() up to %u us), every time (%u of %u)\n",
			 us, hups, polls);
	ksft_test_result(watch_ok(&mig, 1, 0),
			 "live migration signal: KVM_SET_VMCLOCK BUMP_DISRUPTION on QEMU's VM while the guest runs; the guest's read() of /dev/vmclock0 sees disruption_marker %llu -> %llu, generation unchanged, PHC inside the host's windows after\n",
			 mig.old.marker, mig.now.marker);
	if (demo)
		return;
	ksft_test_result(watch_ok(&snap, 0, 1),
			 "snapshot signal: KVM_SET_VMCLOCK BUMP_VM_GENERATION; the guest reads vm_generation_counter %llu -> %llu (VM_GEN_COUNTER_PRESENT), marker unchanged, PHC inside the host's windows after\n",
			 snap.old.gen, snap.now.gen);
	ksft_test_result(watch_ok(&restore, 1, 1),
			 "snapshot restore signal (api.rst: both bumps): the guest reads disruption_marker %llu -> %llu and vm_generation_counter %llu -> %llu in one update, PHC inside the host's windows after\n",
			 restore.old.marker, restore.now.marker, restore.old.gen,
			 restore.now.gen);
}

static void main_run(void)
{
	int readings = demo ? 5 : 10, in = 0, n, bad_snap = 0, status;
	unsigned int seq_first = 0, seq_last = 0;
	struct snap s = {}, first = {}, last = {};
	unsigned long long gpa = 0;
	char lines[6][512], shim[512], what[16], *p;
	u64 t0, io_max = 0;
	struct window w;
	long freq = host_freq_now();
	struct facts f = {};
	struct l2 l;
	bool started, booted, ok;
	int i;

	ksft_print_msg("nested guest under QEMU 10 with -device vmclock, KVM_SET_VMCLOCK by the preloaded stand-in\n");
	t0 = mono_ms();
	started = l2_start(&l, true);
	if (!started)
		ksft_print_msg("could not start QEMU\n");
	booted = started && l2_facts(&l, &f, &s);
	ksft_print_msg("nested guest ready after %llu ms (its first console line after %llu ms: firmware and kernel loading)\n",
		       (unsigned long long)(mono_ms() - t0),
		       (unsigned long long)(l.t_console - l.t_start));

	shim_line(shim, sizeof(shim));
	ksft_print_msg("%s\n", shim);
	p = strstr(shim, "KVM_SET_VMCLOCK gpa 0x");
	if (p && strstr(shim, ": ok;"))
		gpa = strtoull(p + strlen("KVM_SET_VMCLOCK gpa "), NULL, 16);
	ksft_test_result(gpa, "VMM stand-in: KVM_SET_VMCLOCK on QEMU's VM, at its vmclock page, before the first KVM_RUN\n");
	ksft_test_result(booted && gpa && f.iomem_start == gpa &&
			 f.iomem_end == gpa + 4095,
			 "guest: the device's page (ACPI _CRS, /proc/iomem 0x%llx) is the one KVM fills (0x%llx)\n",
			 f.iomem_start, gpa);
	ksft_test_result(booted && f.vmclock0 && f.ptp && f.driver_ptp_line,
			 "guest: ptp_vmclock registered /dev/vmclock0 and a PTP clock from the KVM-filled page\n");
	ksft_test_result(booted && f.vmclock0 && f.magic_ok && f.size == 4096 &&
			 f.version == 1 && f.counter_id == VMCLOCK_COUNTER_X86_TSC &&
			 f.time_type == VMCLOCK_TIME_UTC &&
			 (f.flags & VMCLOCK_FLAG_TAI_OFFSET_VALID) &&
			 f.tai_offset == -E2E_TAI_OFFSET &&
			 f.status == VMCLOCK_STATUS_SYNCHRONIZED,
			 "guest: mmap of /dev/vmclock0: magic, size 4096, version 1, TSC, UTC, TAI offset %d s, synchronized\n",
			 f.tai_offset);
	if (booted)
		check_snap(&s, &first, &bad_snap);

	for (i = 0; booted && i < readings; i++) {
		long long sec, tsc;
		long nsec;
		u64 g;

		if (i && demo)
			sleep(1);
		else if (i)
			usleep(200000);
		if (i == readings / 2) {
			host_freq(freq, 100);
			ksft_print_msg("bench: host clock frequency +100 ppm (adjtimex ADJ_FREQUENCY): KVM must republish the page\n");
		}
		n = l2_request(&l, 'p', &w, lines, 6, &s);
		if (n < 1 || sscanf(lines[0], "PHC rc 0 %lld %ld tsc %lld",
				    &sec, &nsec, &tsc) != 3) {
			ksft_print_msg("[%d] no PHC reading: %s\n", i + 1,
				       n < 1 ? "no answer" : lines[0]);
			continue;
		}
		g = tai_to_utc(sec, nsec, f.tai_offset);
		snprintf(what, sizeof(what), "[%d]", i + 1);
		in += check_reading(what, &w, g, tsc);
		if (w.io && w.io_after - w.io_before > io_max)
			io_max = w.io_after - w.io_before;
		check_snap(&s, &first, &bad_snap);
	}
	ksft_test_result(booted && in == readings,
			 "PHC readings (TAI to UTC with the page's offset) inside the host's CLOCK_REALTIME windows: %d of %d (port I/O windows up to %.3f ms)\n",
			 in, readings, io_max / 1e6);

	ok = false;
	if (booted) {
		long long sec;
		long nsec;

		n = l2_request(&l, 'x', &w, lines, 6, &s);
		for (i = 0; i < n; i++)
			ksft_print_msg("guest: %s\n", lines[i]);
		if (n >= 2 && !strcmp(lines[0], "XPRECISE rc 0") &&
		    sscanf(lines[1], "XDEVICE %lld %ld", &sec, &nsec) == 2) {
			u64 g = tai_to_utc(sec, nsec, f.tai_offset);

			ok = check_reading("[PRECISE]", &w, g, 0);
			if (sscanf(lines[2], "XREALTIME %lld %ld", &sec, &nsec) == 2)
				ksft_print_msg("the guest's own CLOCK_REALTIME in that cross timestamp: %+.6f s from the PHC's UTC (set from the RTC at boot, not disciplined)\n",
					       ((s64)(sec * NSEC_PER_SEC + nsec) - (s64)g) / 1e9);
		}
		check_snap(&s, &first, &bad_snap);
	}
	ksft_test_result(ok, "PTP_SYS_OFFSET_PRECISE: the cross timestamp succeeds, its PHC time inside the host's window\n");

	ok = false;
	if (booted) {
		long long sec;
		long nsec;

		n = l2_request(&l, 'e', &w, lines, 6, &s);
		for (i = 0; i < n; i++)
			ksft_print_msg("guest: %s\n", lines[i]);
		if (n >= 3 && !strcmp(lines[0], "XEXTENDED rc 0") &&
		    sscanf(lines[2], "XDEVICE %lld %ld", &sec, &nsec) == 2) {
			u64 g = tai_to_utc(sec, nsec, f.tai_offset);

			ok = check_reading("[EXTENDED]", &w, g, 0);
		}
		last = s;
		check_snap(&s, &first, &bad_snap);
	}
	ksft_test_result(ok, "PTP_SYS_OFFSET_EXTENDED succeeds, its PHC time inside the host's window\n");

	host_freq(freq, 0);
	seq_first = first.seq;
	seq_last = last.seq;
	ksft_print_msg("page as the guest saw it: seq_count %u to %u, disruption_marker %llu, %d inconsistent snapshot(s)\n",
		       seq_first, seq_last, first.marker, bad_snap);
	ksft_test_result(booted && first.valid && last.valid && !bad_snap &&
			 seq_first >= 2 && (s32)(seq_last - seq_first) > 0,
			 "guest page: seq_count even, advancing when the host's frequency changed (%u to %u), disruption marker unchanged, status synchronized\n",
			 seq_first, seq_last);

	signals_run(&l, &f, booted);

	if (booted && write(l.ser_in, "q", 1) != 1)
		booted = false;
	status = started ? l2_wait(&l, booted ? 60000 : 1000) : -1;
	ksft_print_msg("nested guest: %d console lines, QEMU exit status %d, %llu ms in all\n",
		       l.console_lines, status, (unsigned long long)(mono_ms() - t0));
	ksft_test_result(booted && status == 0, "nested guest powered off, QEMU exited 0\n");
}

int main(int argc, char *argv[])
{
	int tai;

	demo = argc > 1 && !strcmp(argv[1], "--demo");
	ksft_print_header();
	ksft_set_plan(demo ? 11 : 14);

	if (access(E2E_QEMU, X_OK) || access(E2E_DIR "/l2.gz", R_OK) ||
	    access(E2E_DIR "/bzImage", R_OK) || access(E2E_DIR "/vmclock_shim.so", R_OK))
		ksft_exit_fail_msg("the bench VM has no QEMU 10, nested guest or shim in " E2E_DIR "\n");
	/* The feature itself: no capability is a failure, not a skip. */
	if (!kvm_has_cap(KVM_CAP_VMCLOCK))
		ksft_exit_fail_msg("KVM_CAP_VMCLOCK not reported\n");

	tai = host_tai_setup();
	if (!demo)
		control_run();
	main_run();
	host_tai_restore(tai);
	ksft_finished();
}
