// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmclock_guest: the end-to-end test's program in the nested (level 2)
 * Linux guest.  Static, plain C: no test library.
 *
 * It looks at what the unmodified guest driver (drivers/ptp/ptp_vmclock.c)
 * made of QEMU's ACPI VMCLOCK device, and answers the level 1 host's
 * requests on a serial line (argv[1], raw mode), one line per request, so
 * that the host can take its CLOCK_REALTIME just before each request and
 * just after each answer.  It reports facts; the host judges them.
 *
 * Requests:  'p'  read the PHC (clock_gettime on its clockid) and the TSC
 *            'x'  PTP_SYS_OFFSET_PRECISE
 *            'e'  PTP_SYS_OFFSET_EXTENDED
 *            'w'  watch /dev/vmclock0 for a new disruption_marker or
 *                 vm_generation_counter (the host's migration or snapshot
 *                 signal), then read the PHC
 *            'q'  quit
 * Each answer also carries a snapshot of the page mapped from
 * /dev/vmclock0, read with the seq_count protocol.
 *
 * The measurement of request k is also bracketed by two OUTs (bytes, through
 * /dev/port) to port IO_PORT, of 2k and 2k + 1 (mod 256): the level 1 host
 * timestamps the vCPU exits they cause (bench/e2e/vmclock_shim.c), a much
 * tighter window than the serial line's.  (Not ioperm() and OUT from user
 * space: under the bench's nested SVM, emulated by TCG, such an OUT faults.)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <linux/ptp_clock.h>
#include <linux/vmclock-abi.h>

#define FD_TO_CLOCKID(fd)	((~(clockid_t)(fd) << 3) | 3)
#define SEQ_WAIT_NS		100000000ULL	/* give up on an odd seq_count */
#define IO_PORT			0x4f0
#define WATCH_NS		20000000000ULL	/* 'w' gives up after 20 s */
#define POLL_MS			10000	/* poll()'s timeout: it should not wait */

static int ser = -1;
static int io_fd = -1;
static uint32_t io_seq;

static void io_mark(uint32_t v)
{
	uint8_t b = v;

	if (io_fd >= 0 && pwrite(io_fd, &b, 1, IO_PORT) != 1)
		io_fd = -1;
}

static void say(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(ser, buf, n) != n)
		exit(2);
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* A consistent copy of the page's fields that the test looks at. */
struct snap {
	uint32_t seq;
	uint64_t marker;
	uint8_t status;
	unsigned int odd;	/* odd seq_count values met on the way */
	int ok;			/* 0: seq_count stayed odd for SEQ_WAIT_NS */
};

static void page_snap(const volatile struct vmclock_abi *clk, struct snap *s)
{
	uint64_t deadline = mono_ns() + SEQ_WAIT_NS;
	uint32_t seq;

	s->odd = 0;
	for (;;) {
		seq = clk->seq_count;
		__sync_synchronize();
		s->marker = clk->disruption_marker;
		s->status = clk->clock_status;
		__sync_synchronize();
		if (!(seq & 1) && seq == clk->seq_count) {
			s->seq = seq;
			s->ok = 1;
			return;
		}
		s->odd += seq & 1;
		if (mono_ns() > deadline) {
			s->seq = seq;
			s->ok = 0;
			return;
		}
	}
}

static void say_snap(const volatile struct vmclock_abi *clk)
{
	struct snap s;

	if (!clk) {
		say("SNAP none");
		return;
	}
	page_snap(clk, &s);
	say("SNAP ok %d seq %u odd %u marker %llu status %u", s.ok, s.seq,
	    s.odd, (unsigned long long)s.marker, s.status);
}

/* The PTP clock that the vmclock driver registered (its name is "vmclockN"). */
static int find_ptp(char *dev, size_t len, char *name, size_t nlen)
{
	struct dirent *d;
	DIR *dir = opendir("/sys/class/ptp");
	int found = 0;

	if (!dir)
		return 0;
	while (!found && (d = readdir(dir))) {
		char path[300];
		FILE *f;

		if (strncmp(d->d_name, "ptp", 3))
			continue;
		snprintf(path, sizeof(path), "/sys/class/ptp/%s/clock_name",
			 d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(name, nlen, f)) {
			name[strcspn(name, "\n")] = 0;
			if (!strncmp(name, "vmclock", 7)) {
				snprintf(dev, len, "/dev/%s", d->d_name);
				found = 1;
			}
		}
		fclose(f);
	}
	closedir(dir);
	return found;
}

/* The driver's and the ACPI core's view of the device: kernel log and iomem. */
static void report_kernel(void)
{
	char line[256], *buf, *p, *nl;
	FILE *f;
	int n;

	n = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
	buf = n > 0 ? malloc(n + 1) : NULL;
	if (buf) {
		n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, n);
		buf[n > 0 ? n : 0] = 0;
		for (p = buf; p && *p; p = nl) {
			nl = strchr(p, '\n');
			if (nl)
				*nl++ = 0;
			if (strstr(p, "vmclock") || strstr(p, "AMZNC10C") ||
			    strstr(p, "clocksource"))
				say("KLOG %s", p);
		}
		free(buf);
	}

	/* The ACPI platform device's resource comes from the _CRS. */
	f = fopen("/proc/iomem", "r");
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long start, end;

		if (strstr(line, "AMZNC10C") &&
		    sscanf(line, " %llx-%llx", &start, &end) == 2)
			say("IOMEM 0x%llx 0x%llx", start, end);
	}
	if (f)
		fclose(f);

	f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource",
		  "r");
	if (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		say("CLOCKSOURCE %s", line);
	}
	if (f)
		fclose(f);
}

static void raw_mode(int fd)
{
	struct termios t;

	if (tcgetattr(fd, &t))
		return;
	cfmakeraw(&t);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	tcsetattr(fd, TCSANOW, &t);
}

static void ptp_time(const char *what, const struct ptp_clock_time *t)
{
	say("%s %lld %u", what, (long long)t->sec, t->nsec);
}

/* The fields of the page that 'w' watches, as read() of /dev/vmclock0 gives them. */
struct view {
	int rc;
	uint64_t marker, gen, flags;
	uint32_t seq;
	uint8_t status;
};

/* read() from offset 0: the driver copies the page with the seq_count protocol. */
static void view_read(int fd, struct view *v)
{
	struct vmclock_abi abi;
	ssize_t n = pread(fd, &abi, sizeof(abi), 0);

	v->rc = n == sizeof(abi) ? 0 : n < 0 ? -errno : -EIO;
	v->marker = abi.disruption_marker;
	v->gen = abi.vm_generation_counter;
	v->flags = abi.flags;
	v->seq = abi.seq_count;
	v->status = abi.clock_status;
}

static void say_view(const char *what, const struct view *v, const char *more)
{
	say("%s rc %d marker %llu gen %llu seq %u flags 0x%llx status %u %s",
	    what, v->rc, (unsigned long long)v->marker,
	    (unsigned long long)v->gen, v->seq, (unsigned long long)v->flags,
	    v->status, more);
}

/* One PHC reading between two port I/O marks (2k, 2k + 1): 0 or -errno. */
static int phc_read(uint32_t k, int pfd, clockid_t clkid, struct timespec *ts,
		    uint64_t *tsc)
{
	int r;

	io_mark(2 * k);
	r = pfd < 0 ? -ENODEV : clock_gettime(clkid, ts) ? -errno : 0;
	*tsc = rdtsc();
	io_mark(2 * k + 1);
	return r;
}

static void say_phc(int r, const struct timespec *ts, uint64_t tsc, uint32_t k)
{
	if (r)
		say("PHC rc %d", r);
	else
		say("PHC rc 0 %lld %ld tsc %llu", (long long)ts->tv_sec,
		    ts->tv_nsec, (unsigned long long)tsc);
	say("IO %u", k);
}

/*
 * 'w': what a guest daemon does to learn of a migration or a snapshot
 * restore.  poll() on /dev/vmclock0 sleeps until the device notifies, but
 * only if the page has VMCLOCK_FLAG_NOTIFICATION_PRESENT; without it the
 * driver returns POLLHUP at once ("no notifications: re-read").  So: poll(),
 * then read(), until disruption_marker or vm_generation_counter changes.
 * WATCH (the values before, the first poll()) tells the host to bump;
 * CHANGED the values after, then the PHC reading as for 'p', bracketed by
 * OUTs 2k (the change seen) and 2k + 1.
 */
static void watch(uint32_t k, int pfd, clockid_t clkid)
{
	unsigned int polls = 0, hups = 0, reads = 0, timeout = 0;
	struct pollfd p = { .events = POLLIN };
	struct view old, now;
	uint64_t t, deadline;
	struct timespec ts;
	char more[160];
	uint64_t tsc;
	int pr, r;

	p.fd = open("/dev/vmclock0", O_RDONLY);
	if (p.fd < 0) {
		say("WATCH rc %d", -errno);
		return;
	}
	view_read(p.fd, &old);
	t = mono_ns();
	pr = poll(&p, 1, POLL_MS);
	t = mono_ns() - t;
	snprintf(more, sizeof(more), "poll %d revents 0x%x poll_us %llu", pr,
		 p.revents, (unsigned long long)(t / 1000));
	say_view("WATCH", &old, more);

	t = mono_ns();
	deadline = t + WATCH_NS;
	for (;;) {
		p.revents = 0;
		polls++;
		if (poll(&p, 1, POLL_MS) == 1 && p.revents == POLLHUP)
			hups++;
		reads++;
		view_read(p.fd, &now);
		if (now.rc || now.marker != old.marker || now.gen != old.gen)
			break;
		if (mono_ns() > deadline) {
			timeout = 1;
			break;
		}
		usleep(1000);
	}
	r = phc_read(k, pfd, clkid, &ts, &tsc);
	t = mono_ns() - t;
	snprintf(more, sizeof(more), "polls %u hup %u reads %u wait_us %llu timeout %u",
		 polls, hups, reads, (unsigned long long)(t / 1000), timeout);
	say_view("CHANGED", &now, more);
	say_phc(r, &ts, tsc, k);
	close(p.fd);
}

int main(int argc, char **argv)
{
	const volatile struct vmclock_abi *clk = NULL;
	char ptpdev[300], ptpname[64];
	int vfd, pfd = -1;
	clockid_t clkid = 0;
	char c;

	if (argc < 2)
		return 2;
	ser = open(argv[1], O_RDWR | O_NOCTTY);
	if (ser < 0)
		return 2;
	raw_mode(ser);

	report_kernel();
	io_fd = open("/dev/port", O_WRONLY);
	say("IOPORT %d", io_fd >= 0 ? 0 : errno);

	vfd = open("/dev/vmclock0", O_RDONLY);
	if (vfd < 0) {
		say("VMCLOCK0 none errno %d", errno);
	} else {
		void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, vfd, 0);

		if (p == MAP_FAILED) {
			say("VMCLOCK0 mmap errno %d", errno);
		} else {
			clk = p;
			say("VMCLOCK0 magic 0x%x size %u version %u counter_id %u time_type %u flags 0x%llx tai_offset %d status %u",
			    clk->magic, clk->size, clk->version,
			    clk->counter_id, clk->time_type,
			    (unsigned long long)clk->flags,
			    (int16_t)clk->tai_offset_sec, clk->clock_status);
		}
	}

	if (find_ptp(ptpdev, sizeof(ptpdev), ptpname, sizeof(ptpname))) {
		pfd = open(ptpdev, O_RDONLY);
		clkid = FD_TO_CLOCKID(pfd);
		say("PTP %s %s fd %d", ptpdev, ptpname, pfd);
	} else {
		say("PTP none");
	}
	say_snap(clk);
	say("READY");

	while (read(ser, &c, 1) == 1) {
		uint32_t k = io_seq++;

		if (c == 'p') {
			struct timespec ts;
			uint64_t tsc;
			int r;

			r = phc_read(k, pfd, clkid, &ts, &tsc);
			say_phc(r, &ts, tsc, k);
			say_snap(clk);
		} else if (c == 'x') {
			struct ptp_sys_offset_precise xp;
			int r;

			memset(&xp, 0, sizeof(xp));
			io_mark(2 * k);
			r = pfd < 0 ? -ENODEV :
			    ioctl(pfd, PTP_SYS_OFFSET_PRECISE, &xp) ? -errno : 0;
			io_mark(2 * k + 1);
			say("XPRECISE rc %d", r);
			if (!r) {
				ptp_time("XDEVICE", &xp.device);
				ptp_time("XREALTIME", &xp.sys_realtime);
				ptp_time("XMONORAW", &xp.sys_monoraw);
			}
			say("IO %u", k);
			say_snap(clk);
		} else if (c == 'e') {
			struct ptp_sys_offset_extended xe;
			int r;

			memset(&xe, 0, sizeof(xe));
			xe.n_samples = 1;
			xe.clockid = CLOCK_REALTIME;
			io_mark(2 * k);
			r = pfd < 0 ? -ENODEV :
			    ioctl(pfd, PTP_SYS_OFFSET_EXTENDED, &xe) ? -errno : 0;
			io_mark(2 * k + 1);
			say("XEXTENDED rc %d", r);
			if (!r) {
				ptp_time("XPRE", &xe.ts[0][0]);
				ptp_time("XDEVICE", &xe.ts[0][1]);
				ptp_time("XPOST", &xe.ts[0][2]);
			}
			say("IO %u", k);
			say_snap(clk);
		} else if (c == 'w') {
			watch(k, pfd, clkid);
			say_snap(clk);
		} else if (c == 'q') {
			say("BYE");
			break;
		}
	}
	return 0;
}
