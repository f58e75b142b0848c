// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmclock_guest: the end-to-end test's program in the nested (level 2)
 * Linux guest.  Static, plain C: no test library.
 *
 * It looks at what the guest driver (drivers/ptp/ptp_vmclock.c) made of
 * QEMU's ACPI VMCLOCK device, and answers the level 1 host's
 * requests on a serial line (argv[1], raw mode), so that the host can take
 * its CLOCK_REALTIME just before each request and just after each answer.
 * It reports facts; the host judges them.
 *
 * Requests are lines "C ID": a command letter and a number.  The guest
 * answers each ID once: during a live migration the host may send a
 * request again to the destination's serial line when it does not know
 * whether the source's guest got it.
 *   p  read the PHC (clock_gettime on its clockid), then CLOCK_REALTIME
 *   x  PTP_SYS_OFFSET_PRECISE          e  PTP_SYS_OFFSET_EXTENDED
 *   a  arm the watchers (below): forget what they saw, from now on
 *   A  the same, and the reader waits 30 ms between its page snapshot and
 *      its PHC reading, for E2E_BREAK=slowread (a stop lands there)
 *   s  what the watchers saw since 'a'
 *   k  the kernel log's clocksource lines (a TSC marked unstable)
 *   c  start chronyd (refclock PHC on the vmclock PTP clock), if present
 *   t  chronyc tracking and sources
 *   l  record the PHC for LEAP_REC_NS (7 s) as fast as it reads, with
 *      CLOCK_MONOTONIC_RAW around each reading, and the page's TAI offset
 *      and leap indicator: for a leap second that the host inserts or
 *      deletes meanwhile (see leap_record())
 *   B  read the PHC back to back from now on (burst()); b: stop, and say
 *      how many calls succeeded, failed with ETIMEDOUT, or otherwise
 *   F  ptp_vmclock's clock following on (its module parameter); f: off
 *   O  CLOCK_REALTIME against the page's UTC at the same counter reading
 *      (PTP_SYS_OFFSET_PRECISE), in ns
 *   S  set CLOCK_REALTIME 1 s back (a clock that went wrong unnoticed)
 *   W  watch that offset every ms through the next disruption
 *      (follow_watch()); w: stop, and say what it saw
 *   q  quit
 *   R  reset the guest 300 ms later (reboot(2)), for E2E_BREAK=reset
 * Each answer ends with "SNAP ...", a snapshot of the page mapped from
 * /dev/vmclock0 (seq_count protocol), then "END ID".
 *
 * Two watcher processes run all the time, on a shared page:
 *  - the reader reads the page and the PHC every 2 ms: it counts readings
 *    and failures, seq_count going back, marker and generation changes,
 *    and the gap before the first reading of a new marker (a migration's
 *    downtime) with the marker on either side of it;
 *  - the poller waits in poll() on /dev/vmclock0 (which sleeps only if the
 *    page has VMCLOCK_FLAG_NOTIFICATION_PRESENT, the device notifies) and
 *    stamps with the PHC each wake that finds new counters or a change of
 *    the DISRUPTION_SOON and DISRUPTION_IMMINENT flags.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
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
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/ptp_clock.h>
#include <linux/vmclock-abi.h>

#define FD_TO_CLOCKID(fd)	((~(clockid_t)(fd) << 3) | 3)
#define SEQ_WAIT_NS		100000000ULL	/* give up on an odd seq_count */

static int ser = -1;
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

static uint64_t raw_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* A consistent copy of the page's fields that the test looks at. */
struct snap {
	uint32_t seq;
	uint64_t marker, gen, flags;
	uint8_t status, leap;
	int16_t tai;
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
		s->gen = clk->vm_generation_counter;
		s->flags = clk->flags;
		s->status = clk->clock_status;
		s->tai = (int16_t)clk->tai_offset_sec;
		s->leap = clk->leap_indicator;
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
	say("SNAP ok %d seq %u odd %u marker %llu gen %llu status %u tai %d leap %u flags 0x%llx",
	    s.ok, s.seq, s.odd, (unsigned long long)s.marker,
	    (unsigned long long)s.gen, s.status, s.tai, s.leap,
	    (unsigned long long)s.flags);
}

/* The PTP clock whose name starts with @want ("vmclock": the vmclock driver's). */
static int find_ptp(const char *want, char *dev, size_t len, char *name,
		    size_t nlen)
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
			if (!strncmp(name, want, strlen(want))) {
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
			    strstr(p, "clocksource") || strstr(p, "unstable"))
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

static const volatile struct vmclock_abi *clk;
static clockid_t clkid;
static int pfd = -1;
static char ptpdev[300];

static uint64_t ts_ns(const struct timespec *ts)
{
	return ts->tv_sec * 1000000000ULL + ts->tv_nsec;
}

/* The PHC's time in ns (TAI), or 0 with *err set. */
static uint64_t phc_ns(int *err)
{
	struct timespec ts;

	*err = 0;
	if (pfd < 0) {
		*err = ENODEV;
		return 0;
	}
	if (clock_gettime(clkid, &ts)) {
		*err = errno;
		return 0;
	}
	return ts_ns(&ts);
}

/* What the watchers saw since the last 'a', on a page shared with them. */
#define WAKES 64
/* a VMM's advance warning of a disruption */
#define WARN_FLAGS	(VMCLOCK_FLAG_DISRUPTION_SOON | VMCLOCK_FLAG_DISRUPTION_IMMINENT)
struct watch {
	volatile uint32_t arm;		/* the parent bumps it to reset */
	/* hyper_reader(): ptp_kvm's clock, one KVM_HC_CLOCK_PAIRING a read */
	uint64_t kvm_reads, kvm_fails;
	int kvm_err;
	/* burst(): the PHC read back to back */
	uint64_t burst_calls, burst_timedout, burst_fails, burst_caught;
	int burst_err;
	/* follow_watch(): the first marker change it saw since 'W' */
	uint64_t fw_marker, fw_lat_ns;
	int64_t fw_first, fw_after;
	int fw_state;	/* 0 none, 1 seen, 2 within 10 us */
	/* the reader */
	volatile uint32_t armed;	/* the arm it has reset for */
	uint64_t reads, fails, timedout;
	int last_err;
	uint32_t seq_first, seq_last, seq_back, odd_pages;
	uint64_t marker_first, marker_last, gen_first, gen_last;
	uint32_t marker_changes, gen_changes;
	uint64_t prev_start;		/* CLOCK_MONOTONIC before the last snapshot */
	uint32_t slow;			/* 'A': 30 ms after each snapshot */
	uint64_t prev_marker;
	uint64_t gap_ns, gap_marker_before, gap_marker_after;
	uint64_t gap_end_phc;		/* PHC (TAI) of the reading after it */
	uint64_t stale_after_gap;	/* readings of the pre-gap marker after it */
	uint32_t marker_changes_seen;	/* the gap above is recorded */
	/* the poller */
	volatile uint32_t parmed;
	int notif;			/* -1 unknown, 0 POLLHUP (none), 1 sleeps */
	uint64_t polls, wakes;
	uint32_t nwake;
	struct {
		uint64_t phc_ns;	/* TAI */
		uint64_t marker, gen, flags;
		uint32_t seq;
		int err;
	} wake[WAKES];			/* wakes that saw new counters or warnings */
};
static struct watch *wt;

static void reader(void)
{
	for (;;) {
		uint64_t start, now, t;
		struct snap s;
		int err;

		if (wt->armed != wt->arm) {
			uint32_t a = wt->arm;

			wt->reads = wt->fails = wt->timedout = 0;
			wt->last_err = 0;
			wt->seq_back = wt->odd_pages = 0;
			wt->marker_changes = wt->gen_changes = 0;
			wt->gap_ns = 0;
			wt->stale_after_gap = 0;
			wt->marker_changes_seen = 0;
			wt->prev_start = 0;
			wt->armed = a;
		}
		start = mono_ns();
		page_snap(clk, &s);
		while (wt->slow && mono_ns() - start < 30000000)
			;
		t = phc_ns(&err);
		now = mono_ns();
		if (!s.ok) {
			wt->odd_pages++;
			goto next;
		}
		if (!wt->reads) {
			wt->seq_first = wt->seq_last = s.seq;
			wt->marker_first = wt->marker_last = s.marker;
			wt->gen_first = wt->gen_last = s.gen;
			wt->gap_marker_before = wt->gap_marker_after = s.marker;
		}
		if ((int32_t)(s.seq - wt->seq_last) < 0)
			wt->seq_back++;
		if (s.marker != wt->marker_last)
			wt->marker_changes++;
		if (s.gen != wt->gen_last)
			wt->gen_changes++;
		/*
		 * The gap before the first reading with a new marker: on a
		 * correct destination the stop falls between the two
		 * snapshots, so from before the last one to after this one
		 * the gap holds the downtime, even when the stop came after
		 * the last snapshot but before its PHC reading ended.  (Not
		 * the longest gap: under load a reading on the source can wait
		 * longer.)
		 */
		if (wt->prev_start && wt->reads && !wt->marker_changes_seen &&
		    s.marker != wt->prev_marker) {
			wt->marker_changes_seen = 1;
			wt->gap_ns = now - wt->prev_start;
			wt->gap_marker_before = wt->prev_marker;
			wt->gap_marker_after = s.marker;
			wt->gap_end_phc = err ? 0 : t;
			wt->stale_after_gap = 0;
		}
		if (wt->reads && s.marker == wt->gap_marker_before &&
		    wt->gap_marker_after != wt->gap_marker_before)
			wt->stale_after_gap++;
		wt->seq_last = s.seq;
		wt->marker_last = s.marker;
		wt->gen_last = s.gen;
		wt->prev_marker = s.marker;
		wt->reads++;
		if (err == ETIMEDOUT) {
			/*
			 * ptp_vmclock's retry deadline (100 ms of guest time)
			 * expires when the guest stops between its two reads
			 * of seq_count and finds a new page on resume.
			 */
			wt->timedout++;
		} else if (err) {
			wt->fails++;
			wt->last_err = err;
		}
		wt->prev_start = start;
next:
		__sync_synchronize();
		usleep(2000);
	}
}

static void poller(void)
{
	struct pollfd p = { .events = POLLIN };
	struct vmclock_abi abi;
	uint64_t marker = 0, gen = 0, warn = 0;

	p.fd = open("/dev/vmclock0", O_RDONLY);
	if (p.fd < 0) {
		wt->notif = 0;
		return;
	}
	for (;;) {
		int err, r;
		uint64_t t;

		if (wt->parmed != wt->arm) {
			wt->polls = wt->wakes = 0;
			wt->nwake = 0;
			wt->parmed = wt->arm;
		}
		/* read() updates what the open file has seen (its seq_count) */
		if (pread(p.fd, &abi, sizeof(abi), 0) != sizeof(abi))
			return;
		if (!wt->polls) {
			marker = abi.disruption_marker;
			gen = abi.vm_generation_counter;
			warn = abi.flags & WARN_FLAGS;
		}
		wt->polls++;
		p.revents = 0;
		r = poll(&p, 1, 1000);
		t = phc_ns(&err);
		if (r == 1 && p.revents == POLLHUP) {
			wt->notif = 0;
			return;
		}
		wt->notif = 1;
		if (r != 1 || !(p.revents & POLLIN))
			continue;
		wt->wakes++;
		if (pread(p.fd, &abi, sizeof(abi), 0) != sizeof(abi))
			return;
		if ((abi.disruption_marker != marker ||
		     abi.vm_generation_counter != gen ||
		     (abi.flags & WARN_FLAGS) != warn) && wt->nwake < WAKES) {
			wt->wake[wt->nwake].phc_ns = t;
			wt->wake[wt->nwake].err = err;
			wt->wake[wt->nwake].marker = abi.disruption_marker;
			wt->wake[wt->nwake].gen = abi.vm_generation_counter;
			wt->wake[wt->nwake].flags = abi.flags;
			wt->wake[wt->nwake].seq = abi.seq_count;
			wt->nwake++;
			marker = abi.disruption_marker;
			gen = abi.vm_generation_counter;
			warn = abi.flags & WARN_FLAGS;
		}
		__sync_synchronize();
	}
}

static pid_t spawn(void (*fn)(void))
{
	pid_t pid = fork();

	if (!pid) {
		fn();
		_exit(0);
	}
	return pid;
}

static void say_phc(void)
{
	struct timespec ts, rt;
	int r = 0;

	if (pfd < 0)
		r = -ENODEV;
	else if (clock_gettime(clkid, &ts))
		r = -errno;
	clock_gettime(CLOCK_REALTIME, &rt);
	if (r)
		say("PHC rc %d rt %lld %ld", r, (long long)rt.tv_sec, rt.tv_nsec);
	else
		say("PHC rc 0 %lld %ld rt %lld %ld", (long long)ts.tv_sec,
		    ts.tv_nsec, (long long)rt.tv_sec, rt.tv_nsec);
}

static void say_watch(void)
{
	uint32_t i;

	say("WATCH armed %d reads %llu fails %llu timedout %llu err %d seq %u %u back %u odd %u marker %llu %llu changes %u gen %llu %llu changes %u gap_us %llu gap_marker %llu %llu stale %llu gap_end %llu",
	    wt->armed == wt->arm, (unsigned long long)wt->reads,
	    (unsigned long long)wt->fails, (unsigned long long)wt->timedout,
	    wt->last_err, wt->seq_first,
	    wt->seq_last, wt->seq_back, wt->odd_pages,
	    (unsigned long long)wt->marker_first,
	    (unsigned long long)wt->marker_last, wt->marker_changes,
	    (unsigned long long)wt->gen_first,
	    (unsigned long long)wt->gen_last, wt->gen_changes,
	    (unsigned long long)(wt->gap_ns / 1000),
	    (unsigned long long)wt->gap_marker_before,
	    (unsigned long long)wt->gap_marker_after,
	    (unsigned long long)wt->stale_after_gap,
	    (unsigned long long)wt->gap_end_phc);
	say("POLLER notif %d polls %llu wakes %llu changes %u", wt->notif,
	    (unsigned long long)wt->polls, (unsigned long long)wt->wakes,
	    wt->nwake);
	for (i = 0; i < wt->nwake && i < WAKES; i++)
		say("WAKE %u err %d phc %llu marker %llu gen %llu seq %u flags 0x%llx",
		    i, wt->wake[i].err, (unsigned long long)wt->wake[i].phc_ns,
		    (unsigned long long)wt->wake[i].marker,
		    (unsigned long long)wt->wake[i].gen, wt->wake[i].seq,
		    (unsigned long long)wt->wake[i].flags);
}

/* Lines of a command's output, as "WHAT line" */
static void say_cmd(const char *what, const char *cmd)
{
	char line[512];
	FILE *f = popen(cmd, "r");

	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		say("%s %s", what, line);
	}
	if (f)
		say("%s exit %d", what, pclose(f));
}

/*
 * chronyd from Debian's package, if the initramfs has it: its only source
 * is the vmclock PTP clock (TAI: the page's offset turns it into UTC).
 * makestep 0.001 -1: it steps the clock whenever it is more than 1 ms
 * off.  On the bench the guest's kvm-clock runs up to about 1000 ppm off
 * (the bench VM's KVM takes the guest TSC rate from its early TSC
 * calibration, which TCG makes imprecise), and chronyd's frequency
 * correction for it also scales the jump of a restore: 20 s then cost
 * some 20 ms, which a slew would take minutes to remove.
 */
/* chronyd with the PHC @dev (@offset s from UTC) as its refclock */
static void chrony_start(const char *dev, int offset)
{
	char conf[512];
	FILE *f;

	if (access("/usr/sbin/chronyd", X_OK) || !dev) {
		say("CHRONY none");
		return;
	}
	mkdir("/run", 0755);
	mkdir("/run/chrony", 0750);
	mkdir("/var", 0755);
	mkdir("/var/lib", 0755);
	mkdir("/var/lib/chrony", 0755);
	mkdir("/var/log", 0755);
	mkdir("/var/log/chrony", 0755);
	if (symlink("/run", "/var/run") && errno != EEXIST)
		say("CHRONY /var/run errno %d", errno);
	f = fopen("/etc/chrony.conf", "w");
	if (!f) {
		say("CHRONY conf errno %d", errno);
		return;
	}
	snprintf(conf, sizeof(conf),
		 "refclock PHC %s poll 0 dpoll -2 offset %d precision 1e-9\n"
		 "makestep 0.001 -1\n"
		 "port 0\n"
		 "cmdport 0\n"
		 "log tracking refclocks\n"
		 "logdir /var/log/chrony\n", dev, offset);
	fputs(conf, f);
	fclose(f);
	say_cmd("CHRONY", "/usr/sbin/chronyd -u root -f /etc/chrony.conf -l /var/log/chrony/chronyd.log </dev/null >/var/log/chrony/start.log 2>&1; r=$?; cat /var/log/chrony/start.log; exit $r");
}

/*
 * 'h': hypercall load, as a guest that uses ptp_kvm has it: chronyd with
 * ptp_kvm's clock as its refclock (4 reads a second), and a reader of that
 * clock every 50 ms.
 */
static char kvmdev[300];

static void hyper_reader(void)
{
	int fd = open(kvmdev, O_RDONLY);

	for (;;) {
		struct timespec ts;

		if (fd < 0 || clock_gettime(FD_TO_CLOCKID(fd), &ts)) {
			wt->kvm_fails++;
			wt->kvm_err = fd < 0 ? ENODEV : errno;
		} else {
			wt->kvm_reads++;
		}
		usleep(50000);
	}
}

/*
 * 'B': the PHC read back to back (PTP_SYS_OFFSET_EXTENDED, 25 samples a
 * call) at nice 19, until 'b', so that a stop of the guest most likely
 * lands inside ptp_vmclock's retry loop, between its two reads of
 * seq_count. A call that took over 100 ms had a stop inside it (caught).
 */
static void burst(void)
{
	struct ptp_sys_offset_extended xe;
	uint64_t t0;
	int r;

	setpriority(PRIO_PROCESS, 0, 19);
	for (;;) {
		memset(&xe, 0, sizeof(xe));
		xe.n_samples = 25;
		t0 = mono_ns();
		r = ioctl(pfd, PTP_SYS_OFFSET_EXTENDED, &xe);
		if (mono_ns() - t0 > 100000000)
			wt->burst_caught++;
		if (!r) {
			wt->burst_calls++;
		} else if (errno == ETIMEDOUT) {
			wt->burst_timedout++;
		} else {
			wt->burst_fails++;
			wt->burst_err = errno;
		}
	}
}

static pid_t burst_pid;

/* Stop a child of spawn(), if it runs */
static void reap(pid_t *pid)
{
	if (*pid) {
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
		*pid = 0;
	}
}

static int64_t precise_offset(int *rc)
{
	struct ptp_sys_offset_precise xp;

	memset(&xp, 0, sizeof(xp));
	*rc = pfd < 0 || !clk ? -ENODEV :
	      ioctl(pfd, PTP_SYS_OFFSET_PRECISE, &xp) ? -errno : 0;
	if (*rc)
		return 0;
	return (int64_t)(xp.sys_realtime.sec - xp.device.sec -
			 (int16_t)clk->tai_offset_sec) * 1000000000LL +
	       (int64_t)xp.sys_realtime.nsec - xp.device.nsec;
}

/*
 * 'W': CLOCK_REALTIME against the page every ms, from now on: at the first
 * disruption marker change, the offset of its first reading and how long
 * until the clock is within 10 us of the page ('w' stops and says).
 */
static void follow_watch(void)
{
	uint64_t marker = clk->disruption_marker, seen = 0;
	int64_t off;
	int rc;

	for (;; usleep(1000)) {
		off = precise_offset(&rc);
		if (rc)
			continue;
		if (!wt->fw_state && clk->disruption_marker != marker) {
			seen = mono_ns();
			wt->fw_marker = clk->disruption_marker;
			wt->fw_first = off;
			wt->fw_state = 1;
		}
		if (wt->fw_state == 1 && llabs(off) <= 10000) {
			wt->fw_lat_ns = mono_ns() - seen;
			wt->fw_after = off;
			wt->fw_state = 2;
		}
	}
}

static pid_t follow_pid;

static void hyper_start(void)
{
	char name[64];

	if (!find_ptp("KVM", kvmdev, sizeof(kvmdev), name, sizeof(name))) {
		say("HYPER none");
		chrony_start(NULL, 0);
		return;
	}
	say("HYPER %s %s", kvmdev, name);
	spawn(hyper_reader);
	chrony_start(kvmdev, 0);
}

/*
 * 'l': the PHC (TAI) read in a loop for LEAP_REC_NS, each reading between
 * two of CLOCK_MONOTONIC_RAW (b, a), which no leap second or clock step
 * moves.  Between two readings the PHC must advance by what the raw clock
 * did, [b - a', a - b'] of the two windows, give or take the two clocks'
 * rate difference: each pair's excess over its window is reported (the
 * largest, and the largest beyond LEAP_SLACK_NS + LEAP_SLACK_PPM of the
 * interval), with readings that went back, that failed, and each change
 * of the page's (TAI offset, leap indicator) with the PHC time of the
 * first reading that saw it.  A TAI offset that the page does not change
 * at the step shows as a 1 s jump (back for an inserted second).
 */
#define LEAP_REC_NS	7000000000ULL
#define LEAP_SLACK_NS	50000		/* scheduling noise of the raw clock's reads */
#define LEAP_SLACK_PPM	2000		/* the guest's raw clock runs up to ~1000 ppm off */
#define LEAP_STATES	8

static void leap_record(void)
{
	struct {
		int16_t tai;
		uint8_t leap;
		uint64_t phc, read;
	} st[LEAP_STATES];
	uint64_t start = raw_ns(), reads = 0, fails = 0, back = 0, odd = 0;
	uint64_t prev_phc = 0, prev_b = 0, prev_a = 0, worst_dt = 0;
	uint64_t first = 0, last = 0, max_dt = 0, lost = 0;
	int64_t worst = INT64_MIN, max_excess = INT64_MIN, worst_excess = 0;
	unsigned int nst = 0, i;
	int last_err = 0;

	if (!clk || pfd < 0) {
		say("LEAP none");
		return;
	}
	while (raw_ns() - start < LEAP_REC_NS) {
		uint64_t b, a, t;
		struct snap s;
		int err;

		page_snap(clk, &s);
		b = raw_ns();
		t = phc_ns(&err);
		a = raw_ns();
		if (!s.ok) {
			odd++;
			continue;
		}
		if (err) {
			fails++;
			last_err = err;
			prev_phc = 0;
			continue;
		}
		if (!nst || st[nst - 1].tai != s.tai ||
		    st[nst - 1].leap != s.leap) {
			if (nst < LEAP_STATES) {
				st[nst].tai = s.tai;
				st[nst].leap = s.leap;
				st[nst].phc = t;
				st[nst].read = reads;
				nst++;
			} else {
				lost++;
			}
		}
		if (prev_phc) {
			int64_t d = (int64_t)(t - prev_phc);
			int64_t lo = (int64_t)(b - prev_a);
			int64_t hi = (int64_t)(a - prev_b);
			int64_t excess = d - hi > lo - d ? d - hi : lo - d;
			int64_t over = excess - LEAP_SLACK_NS -
				       hi / (1000000 / LEAP_SLACK_PPM);

			if (t < prev_phc)
				back++;
			if (excess > max_excess)
				max_excess = excess;
			if (over > worst) {
				worst = over;
				worst_excess = excess;
				worst_dt = hi;
			}
			if ((uint64_t)hi > max_dt)
				max_dt = hi;
		}
		if (!reads)
			first = t;
		last = t;
		reads++;
		prev_phc = t;
		prev_b = b;
		prev_a = a;
	}
	say("LEAP reads %llu fails %llu err %d back %llu odd %llu max_excess_ns %lld worst_over_ns %lld worst_excess_ns %lld worst_dt_ns %llu max_dt_ns %llu first %llu last %llu states %u lost %llu",
	    (unsigned long long)reads, (unsigned long long)fails, last_err,
	    (unsigned long long)back, (unsigned long long)odd,
	    (long long)max_excess, (long long)worst, (long long)worst_excess,
	    (unsigned long long)worst_dt, (unsigned long long)max_dt,
	    (unsigned long long)first, (unsigned long long)last, nst,
	    (unsigned long long)lost);
	for (i = 0; i < nst; i++)
		say("LEAPSTATE %u tai %d leap %u phc %llu read %llu", i,
		    st[i].tai, st[i].leap, (unsigned long long)st[i].phc,
		    (unsigned long long)st[i].read);
}

static bool handle(char c, unsigned long id)
{
	if (c == 'p') {
		say_phc();
	} else if (c == 'x') {
		struct ptp_sys_offset_precise xp;
		int r;

		memset(&xp, 0, sizeof(xp));
		r = pfd < 0 ? -ENODEV :
		    ioctl(pfd, PTP_SYS_OFFSET_PRECISE, &xp) ? -errno : 0;
		say("XPRECISE rc %d", r);
		if (!r) {
			ptp_time("XDEVICE", &xp.device);
			ptp_time("XREALTIME", &xp.sys_realtime);
			ptp_time("XMONORAW", &xp.sys_monoraw);
		}
	} else if (c == 'e') {
		struct ptp_sys_offset_extended xe;
		int r;

		memset(&xe, 0, sizeof(xe));
		xe.n_samples = 1;
		xe.clockid = CLOCK_REALTIME;
		r = pfd < 0 ? -ENODEV :
		    ioctl(pfd, PTP_SYS_OFFSET_EXTENDED, &xe) ? -errno : 0;
		say("XEXTENDED rc %d", r);
		if (!r) {
			ptp_time("XPRE", &xe.ts[0][0]);
			ptp_time("XDEVICE", &xe.ts[0][1]);
			ptp_time("XPOST", &xe.ts[0][2]);
		}
	} else if (c == 'a' || c == 'A') {
		uint64_t deadline = mono_ns() + 3000000000ULL;

		wt->slow = c == 'A';
		wt->arm++;
		__sync_synchronize();
		/* the reader resets at once, the poller within its 1 s poll() */
		while ((wt->armed != wt->arm ||
			(wt->notif && wt->parmed != wt->arm)) &&
		       mono_ns() < deadline)
			usleep(1000);
		say("ARMED %d", wt->armed == wt->arm);
	} else if (c == 's') {
		say_watch();
	} else if (c == 'k') {
		report_kernel();
	} else if (c == 'c') {
		if (pfd >= 0 && clk)
			chrony_start(ptpdev, (int16_t)clk->tai_offset_sec);
		else
			chrony_start(NULL, 0);
	} else if (c == 'h') {
		hyper_start();
	} else if (c == 'H') {
		say("HYPER reads %llu fails %llu err %d",
		    (unsigned long long)wt->kvm_reads,
		    (unsigned long long)wt->kvm_fails, wt->kvm_err);
	} else if (c == 't') {
		say_cmd("TRACKING", "/usr/bin/chronyc -n -c tracking 2>&1");
		say_cmd("SOURCES", "/usr/bin/chronyc -n -c sources 2>&1");
		say_cmd("REFLOG", "tail -n 3 /var/log/chrony/refclocks.log /var/log/chrony/chronyd.log 2>&1");
	} else if (c == 'B' && pfd >= 0 && !burst_pid) {
		wt->burst_calls = wt->burst_timedout = wt->burst_fails = 0;
		wt->burst_caught = 0;
		wt->burst_err = 0;
		burst_pid = spawn(burst);
	} else if (c == 'b') {
		reap(&burst_pid);
		say("BURST calls %llu timedout %llu fails %llu err %d caught %llu",
		    (unsigned long long)wt->burst_calls,
		    (unsigned long long)wt->burst_timedout,
		    (unsigned long long)wt->burst_fails, wt->burst_err,
		    (unsigned long long)wt->burst_caught);
	} else if (c == 'F' || c == 'f') {
		int fd = open("/sys/module/ptp_vmclock/parameters/follow", O_WRONLY);
		int r = fd < 0 ? -errno : write(fd, c == 'F' ? "1" : "0", 1) == 1 ? 0 : -errno;

		if (fd >= 0)
			close(fd);
		say("FOLLOW %s rc %d", c == 'F' ? "on" : "off", r);
	} else if (c == 'O') {
		int r;
		long long off = precise_offset(&r);

		say("OFFSET rc %d ns %lld", r, off);
	} else if (c == 'S') {
		struct timespec ts;
		int r;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec--;
		r = clock_settime(CLOCK_REALTIME, &ts) ? -errno : 0;
		say("SKEW rc %d", r);
	} else if (c == 'W' && pfd >= 0 && clk && !follow_pid) {
		wt->fw_state = 0;
		wt->fw_marker = wt->fw_lat_ns = 0;
		wt->fw_first = wt->fw_after = 0;
		follow_pid = spawn(follow_watch);
	} else if (c == 'w') {
		reap(&follow_pid);
		say("FOLLOWW state %d marker %llu first %lld lat_us %llu after %lld",
		    wt->fw_state, (unsigned long long)wt->fw_marker,
		    (long long)wt->fw_first,
		    (unsigned long long)wt->fw_lat_ns / 1000,
		    (long long)wt->fw_after);
	} else if (c == 'l') {
		leap_record();
	} else if (c == 'q') {
		say("BYE");
	} else if (c == 'R' && !fork()) {
		usleep(300000);
		reboot(RB_AUTOBOOT);
		_exit(1);
	}
	say_snap(clk);
	say("END %lu", id);
	return c != 'q';
}

int main(int argc, char **argv)
{
	char ptpname[64], line[128];
	unsigned long last_id = 0;
	pid_t readers[2] = { -1, -1 };
	size_t len = 0;
	int vfd;
	char c;

	if (argc < 2)
		return 2;
	ser = open(argv[1], O_RDWR | O_NOCTTY);
	if (ser < 0)
		return 2;
	raw_mode(ser);

	report_kernel();
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

	if (find_ptp("vmclock", ptpdev, sizeof(ptpdev), ptpname, sizeof(ptpname))) {
		pfd = open(ptpdev, O_RDONLY);
		clkid = FD_TO_CLOCKID(pfd);
		say("PTP %s %s fd %d", ptpdev, ptpname, pfd);
	} else {
		say("PTP none");
	}
	wt = mmap(NULL, sizeof(*wt), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (wt == MAP_FAILED)
		return 2;
	wt->notif = -1;
	if (clk) {
		readers[0] = spawn(reader);
		readers[1] = spawn(poller);
	}
	say_snap(clk);
	say("READY");

	while (read(ser, &c, 1) == 1) {
		unsigned long id;
		char cmd;

		if (c != '\n' && c != '\r') {
			if (len < sizeof(line) - 1)
				line[len++] = c;
			continue;
		}
		line[len] = 0;
		len = 0;
		if (sscanf(line, "%c %lu", &cmd, &id) != 2)
			continue;
		/* Sent again to a migration's destination: answered once. */
		if (id <= last_id)
			continue;
		last_id = id;
		if (!handle(cmd, id))
			break;
	}
	for (int i = 0; i < 2; i++)
		if (readers[i] > 0)
			kill(readers[i], SIGTERM);
	return 0;
}
