// SPDX-License-Identifier: GPL-2.0-only
/*
 * The vmclock update policy and the host's timekeeping: KVM must follow a
 * switch of the host clocksource away from the TSC and back, a change of
 * the TAI offset and a step of CLOCK_REALTIME; a host clock that is not
 * adjusted must not rewrite the page, and frequency changes must be
 * followed within the bound kvm.vmclock_max_error_ns promises; the
 * kvm_vmclock_update tracepoint reports each write.
 *
 * These tests change the time of the whole machine: they run only with
 * VMCLOCK_TEST_HOST_TIME=1 (the bench VM sets it), but steady_no_rewrites
 * and tracepoint, which only watch.
 *
 * vm_after_exit: a host clock change after the VM's process exited (its
 * fd passed on) writes nothing into the freed guest memory.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/timex.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <asm/barrier.h>
#include <linux/vmclock-abi.h>

#include "kvm_test_harness.h"
#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"
#include "vmclock.h"

#define CLOCKSOURCE_DIR		"/sys/devices/system/clocksource/clocksource0/"

/* Changes host-wide time state: restored from the parent on any exit. */
FIXTURE(host_time) {
	struct vmclock_vm v;
	char orig_cs[64];
	bool cs_changed;
	int orig_tai;
	bool tai_changed;
	long orig_freq;
	bool freq_changed;
	long stepped_us;	/* net ADJ_SETOFFSET applied */
};

/* Step the host's CLOCK_REALTIME by @us (ADJ_SETOFFSET). */
static void step_clock(long us)
{
	struct timex tx = { .modes = ADJ_SETOFFSET | ADJ_MICRO };

	tx.time.tv_sec = us / 1000000;
	tx.time.tv_usec = us % 1000000;
	if (tx.time.tv_usec < 0) {
		tx.time.tv_sec--;
		tx.time.tv_usec += 1000000;
	}
	TEST_ASSERT(adjtimex(&tx) >= 0, "adjtimex(ADJ_SETOFFSET, %ld us) errno %d",
		    us, errno);
}

static bool write_clocksource(const char *name)
{
	int fd = open(CLOCKSOURCE_DIR "current_clocksource", O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return false;
	n = write(fd, name, strlen(name));
	close(fd);
	return n == strlen(name);
}

static void read_sysfs_str(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");

	buf[0] = '\0';
	if (!f)
		return;
	if (!fgets(buf, size, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

static void set_tai(int tai)
{
	struct timex tx = { .modes = ADJ_TAI, .constant = tai };

	TEST_ASSERT(adjtimex(&tx) >= 0, "adjtimex(ADJ_TAI, %d) errno %d",
		    tai, errno);
}

FIXTURE_SETUP(host_time)
{
	vmclock_vm_create(&self->v, 1);
}

/*
 * Tests that step the host clock, switch its clocksource, set its TAI
 * offset or change its frequency change the whole machine: they run only
 * when asked (the bench sets VMCLOCK_TEST_HOST_TIME=1).
 */
#define HOST_TIME_ENV	"VMCLOCK_TEST_HOST_TIME"
#define HOST_TIME_SKIP	"changes the host's time for the whole machine: set " \
			HOST_TIME_ENV "=1 to run it"

static bool host_changes_allowed(void)
{
	const char *e = getenv(HOST_TIME_ENV);

	return e && !strcmp(e, "1");
}

FIXTURE_TEARDOWN_PARENT(host_time)
{
	struct timex tx = { .modes = ADJ_TAI };

	if (self->cs_changed && !write_clocksource(self->orig_cs))
		ksft_print_msg("FAILED to restore clocksource %s\n", self->orig_cs);
	if (self->tai_changed) {
		tx.constant = self->orig_tai;
		if (adjtimex(&tx) < 0)
			ksft_print_msg("FAILED to restore TAI offset %d\n",
				       self->orig_tai);
	}
	if (self->freq_changed) {
		tx.modes = ADJ_FREQUENCY;
		tx.freq = self->orig_freq;
		if (adjtimex(&tx) < 0)
			ksft_print_msg("FAILED to restore frequency %ld\n",
				       self->orig_freq);
	}
	if (self->stepped_us)
		step_clock(-self->stepped_us);
}

TEST_F(host_time, clocksource)
{
	char avail[256], cur[64], *tok, *save = NULL, other[64] = "";
	struct vmclock_vm user;
	struct vmclock_abi h;
	u64 updates, user_updates;
	struct tsc_xform x, ux;

	if (!host_changes_allowed())
		SKIP(return, "%s " HOST_TIME_SKIP, "switching the clocksource");
	if (geteuid())
		SKIP(return, "switching the clocksource needs root");

	read_sysfs_str(CLOCKSOURCE_DIR "current_clocksource", cur, sizeof(cur));
	if (strcmp(cur, "tsc"))
		SKIP(return, "current clocksource is %s, not tsc", cur);
	read_sysfs_str(CLOCKSOURCE_DIR "available_clocksource", avail,
		       sizeof(avail));
	for (tok = strtok_r(avail, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save)) {
		if (strcmp(tok, "tsc") && strcmp(tok, "tsc-early")) {
			snprintf(other, sizeof(other), "%s", tok);
			break;
		}
	}
	if (!other[0])
		SKIP(return, "no clocksource other than tsc available");

	vmclock_vm_enable(&self->v, &x);
	updates = vmclock_updates(self->v.vm);
	/* And a USER clock: KVM no longer trusts the TSC it is given in. */
	vmclock_vm_create(&user, 1);
	vmclock_user_clock_now(user.vm, &h);
	vmclock_user_set(user.vm, 0, 0, &h);
	vmclock_wait_status(user.page, false, "USER before the switch");
	user_updates = vmclock_updates(user.vm);

	snprintf(self->orig_cs, sizeof(self->orig_cs), "%s", cur);
	self->cs_changed = true;
	TEST_ASSERT(write_clocksource(other), "cannot select %s", other);
	read_sysfs_str(CLOCKSOURCE_DIR "current_clocksource", cur, sizeof(cur));
	TEST_ASSERT(!strcmp(cur, other), "clocksource %s, wanted %s", cur, other);
	vmclock_wait_status(self->v.page, true, other);
	vmclock_wait_status(user.page, true, "USER after the switch");
	/* One rewrite to unreliable, then none while the TSC is not used. */
	usleep(200 * 1000);
	updates = vmclock_updates(self->v.vm) - updates;
	TEST_ASSERT(updates == 1, "%lu rewrites after switching to %s, want 1",
		    (unsigned long)updates, other);
	user_updates = vmclock_updates(user.vm) - user_updates;
	TEST_ASSERT(user_updates == 1,
		    "USER: %lu rewrites after switching to %s, want 1",
		    (unsigned long)user_updates, other);

	TEST_ASSERT(write_clocksource(self->orig_cs), "cannot restore %s",
		    self->orig_cs);
	read_sysfs_str(CLOCKSOURCE_DIR "current_clocksource", cur, sizeof(cur));
	TEST_ASSERT(!strcmp(cur, self->orig_cs), "clocksource %s after restore",
		    cur);
	self->cs_changed = false;
	vmclock_wait_status(self->v.page, false, "tsc again");
	vmclock_wait_status(user.page, false, "USER: tsc again");
	vmclock_tsc_xform_get(user.vcpu[0], &ux);
	vmclock_assert_user_exact(&h, user.page, &ux, false, "USER: tsc again");
	kvm_vm_free(user.vm);
	vmclock_kvmclock_refresh(self->v.vm);
	vmclock_wait_accurate(self->v.vm, self->v.page, &x, -1, "tsc again");
	vmclock_run_accuracy(self->v.vm, self->v.page, &x, ACCURACY_SHORT_NS,
			     ACCURACY_SHORT_SAMPLES, false, "tsc again");
}

static void wait_tai(const struct vmclock_abi *page, int tai)
{
	u64 start = vmclock_now_ns();
	struct vmclock_abi clk;

	for (;;) {
		vmclock_page_read(page, &clk);
		/* ADJ_TAI is a claim, 0 included */
		if ((clk.flags & VMCLOCK_FLAG_TAI_OFFSET_VALID) &&
		    (s16)clk.tai_offset_sec == -tai)
			break;
		TEST_ASSERT(vmclock_now_ns() - start < UPDATE_TIMEOUT_NS,
			    "host told TAI %d: page flags 0x%lx tai_offset_sec %d after 1 s",
			    tai, (unsigned long)clk.flags,
			    (s16)clk.tai_offset_sec);
		usleep(1000);
	}
	ksft_print_msg("TAI offset %d published after %lu us\n", tai,
		       (unsigned long)((vmclock_now_ns() - start) / 1000));
}

TEST_F(host_time, tai_offset)
{
	struct tsc_xform x;
	int tai;

	if (!host_changes_allowed())
		SKIP(return, "%s " HOST_TIME_SKIP, "ADJ_TAI");
	if (geteuid())
		SKIP(return, "setting the TAI offset needs root");

	vmclock_vm_enable(&self->v, &x);
	self->orig_tai = vmclock_host_tai_offset();
	tai = self->orig_tai == 37 ? 36 : 37;

	self->tai_changed = true;
	set_tai(tai);
	wait_tai(self->v.page, tai);
	vmclock_run_accuracy(self->v.vm, self->v.page, &x, ACCURACY_SHORT_NS / 4,
			     ACCURACY_SHORT_SAMPLES / 4, false, "TAI changed");

	/* Told 0: a claim that TAI is UTC, not "unknown" */
	set_tai(0);
	wait_tai(self->v.page, 0);

	set_tai(self->orig_tai);
	self->tai_changed = false;
	wait_tai(self->v.page, self->orig_tai);
}

/* Rewrites of the page so far (KVM_GET_STATS_FD) */
/* Skip when something other than this test steers the host clock. */
static bool host_clock_steered(void)
{
	struct timex tx = { .modes = 0 };

	TEST_ASSERT(adjtimex(&tx) >= 0, "adjtimex() errno %d", errno);
	return tx.offset || (tx.status & (STA_PLL | STA_FLL | STA_PPSFREQ));
}

#define STEADY_NS		(5 * NSEC_PER_SEC)
#define STEADY_SAMPLES		20000
#define FREQ_CHANGES		10

/*
 * The frequency alternates between +20 and -20 ppb around the original one:
 * each change moves the clock's rate by 40 ppb (the first by 20), 20 to 40
 * ns/s, more than the page may drift, so KVM must rewrite it at once.
 * Until it has, after the tick that applies a change, the page drifts from
 * CLOCK_REALTIME at the rate change: 40 ppb for 50 ms (a loaded TCG bench)
 * is 2 ns, within the bound.
 */
#define FREQ_STEP_SCALED_PPM	(65536 / 50)

/*
 * The bound api.rst states: vmclock_max_error_ns, plus the rate change
 * times the time KVM takes to rewrite the page after the tick that applies
 * it (40 ppb for 50 ms: 2 ns).
 */
#define FREQ_REWRITE_SLACK_NS	2

/*
 * With nothing changing the host's timing factors, the page is written
 * once by KVM_SET_VMCLOCK and then never again, although the timekeeper
 * dithers its multiplier: the published line stays within the bound.
 */
TEST_F_TIMEOUT(host_time, steady_no_rewrites, 60)
{
	struct tsc_xform x;
	u64 before, after;

	if (!vmclock_param())
		SKIP(return, "kvm.vmclock_max_error_ns is 0: per-tick policy");
	if (host_clock_steered())
		SKIP(return, "an NTP daemon steers the host clock");

	vmclock_vm_enable(&self->v, &x);
	before = vmclock_updates(self->v.vm);
	TEST_ASSERT(before >= 1, "vmclock_updates %lu after KVM_SET_VMCLOCK",
		    (unsigned long)before);

	/* Busy sampling: the CPU keeps ticking, the accuracy is checked. */
	vmclock_run_accuracy(self->v.vm, self->v.page, &x, STEADY_NS, STEADY_SAMPLES,
			     false, "steady");
	after = vmclock_updates(self->v.vm);
	ksft_print_msg("steady: vmclock_updates %lu -> %lu in 5 s\n",
		       (unsigned long)before, (unsigned long)after);
	TEST_ASSERT(after == before,
		    "%lu rewrites in 5 s of steady state",
		    (unsigned long)(after - before));
}

/*
 * Each ADJ_FREQUENCY change costs one rewrite (two at most, if the change
 * lands while the previous one is still being published), and the page
 * stays within the bound throughout.
 */
TEST_F_TIMEOUT(host_time, frequency_changes, 90)
{
	struct timex tx = { .modes = 0 };
	u64 before, after;
	struct tsc_xform x;
	long step;
	int i;

	if (!host_changes_allowed())
		SKIP(return, "%s " HOST_TIME_SKIP, "ADJ_FREQUENCY");
	if (geteuid())
		SKIP(return, "ADJ_FREQUENCY needs root");
	if (!vmclock_param())
		SKIP(return, "kvm.vmclock_max_error_ns is 0: per-tick policy");
	if (host_clock_steered())
		SKIP(return, "an NTP daemon steers the host clock");

	TEST_ASSERT(adjtimex(&tx) >= 0, "adjtimex() errno %d", errno);
	self->orig_freq = tx.freq;
	vmclock_vm_enable(&self->v, &x);
	vmclock_dither_slack_ns = FREQ_REWRITE_SLACK_NS;
	vmclock_run_accuracy(self->v.vm, self->v.page, &x, ACCURACY_SHORT_NS / 4,
			     ACCURACY_SHORT_SAMPLES / 4, false, "before");

	for (i = 0; i < FREQ_CHANGES; i++) {
		step = FREQ_STEP_SCALED_PPM * (i & 1 ? -1 : 1);
		before = vmclock_updates(self->v.vm);

		tx.modes = ADJ_FREQUENCY;
		tx.freq = self->orig_freq + step;
		self->freq_changed = true;
		TEST_ASSERT(adjtimex(&tx) >= 0, "ADJ_FREQUENCY errno %d", errno);

		vmclock_run_accuracy(self->v.vm, self->v.page, &x, ACCURACY_SHORT_NS,
				     ACCURACY_SHORT_SAMPLES, false, "frequency change");
		after = vmclock_updates(self->v.vm);
		ksft_print_msg("frequency %+ld ppb: %lu rewrites, longest gap %lu ms\n",
			       step * 1000 / 65536,
			       (unsigned long)(after - before),
			       (unsigned long)(vmclock_sample_gap_max_ns / 1000000));
		TEST_ASSERT(after - before >= 1 && after - before <= 2,
			    "frequency change %d: %lu rewrites, want 1 or 2",
			    i, (unsigned long)(after - before));
	}

	tx.modes = ADJ_FREQUENCY;
	tx.freq = self->orig_freq;
	TEST_ASSERT(adjtimex(&tx) >= 0, "ADJ_FREQUENCY errno %d", errno);
	self->freq_changed = false;
}

/*
 * A step of the host clock (ADJ_SETOFFSET, as settimeofday) is one
 * immediate rewrite: the page follows the step exactly, and then stays.
 */
TEST_F_TIMEOUT(host_time, clock_step, 60)
{
	static const long steps_us[] = { 1000, -1000, 250000, -250000 };
	struct vmclock_abi clk;
	struct tsc_xform x;
	u64 before, t0;
	int i;

	if (!host_changes_allowed())
		SKIP(return, "%s " HOST_TIME_SKIP, "ADJ_SETOFFSET");
	if (geteuid())
		SKIP(return, "ADJ_SETOFFSET needs root");
	if (!vmclock_param())
		SKIP(return, "kvm.vmclock_max_error_ns is 0: per-tick policy");
	if (host_clock_steered())
		SKIP(return, "an NTP daemon steers the host clock");

	vmclock_vm_enable(&self->v, &x);
	for (i = 0; i < ARRAY_SIZE(steps_us); i++) {
		vmclock_page_read(self->v.page, &clk);
		before = vmclock_updates(self->v.vm);
		t0 = vmclock_now_ns();
		step_clock(steps_us[i]);
		self->stepped_us += steps_us[i];
		vmclock_wait_accurate(self->v.vm, self->v.page, &x, clk.seq_count,
				      "after the step");
		ksft_print_msg("step %+ld us: page rewritten within %lu us\n",
			       steps_us[i],
			       (unsigned long)((vmclock_now_ns() - t0) / 1000));
		vmclock_run_accuracy(self->v.vm, self->v.page, &x, ACCURACY_SHORT_NS,
				     ACCURACY_SHORT_SAMPLES, false, "after the step");
		TEST_ASSERT(vmclock_updates(self->v.vm) - before == 1,
			    "step %+ld us: %lu rewrites, want 1", steps_us[i],
			    (unsigned long)(vmclock_updates(self->v.vm) - before));
	}
}

#define TRACEFS			"/sys/kernel/tracing/"
#define TRACE_EVENT_DIR		TRACEFS "events/kvm/kvm_vmclock_update/"

static bool write_str(const char *path, const char *str)
{
	int fd = open(path, O_WRONLY | O_TRUNC);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, str, strlen(str)) == (ssize_t)strlen(str);
	close(fd);
	return ok;
}

/*
 * The kvm_vmclock_update tracepoint fires once per write of the page, with
 * what was written: as many events as vmclock_updates counts, the last one
 * matching the page.
 */
TEST(tracepoint)
{
	unsigned long gpa, counter = 0, sec = 0, frac = 0;
	unsigned int seq = 0, status = 0;
	u64 updates, events = 0;
	struct vmclock_vm v;
	struct tsc_xform x;
	struct vmclock_abi clk;
	char line[512], *p;
	FILE *f;

	if (access(TRACE_EVENT_DIR "enable", W_OK))
		SKIP(return, "no writable %senable (tracefs, CONFIG_EVENT_TRACING)",
		     TRACE_EVENT_DIR);

	TEST_ASSERT(write_str(TRACEFS "trace", ""), "cannot clear the trace");
	TEST_ASSERT(write_str(TRACE_EVENT_DIR "enable", "1"),
		    "cannot enable the event");

	vmclock_vm_create(&v, 1);
	vmclock_vm_enable(&v, &x);
	vmclock_set(v.vm, KVM_VMCLOCK_MODE_AUTO, VMCLOCK_GPA);
	updates = vmclock_updates(v.vm);
	vmclock_page_read(v.page, &clk);

	TEST_ASSERT(write_str(TRACE_EVENT_DIR "enable", "0"),
		    "cannot disable the event");
	f = fopen(TRACEFS "trace", "r");
	TEST_ASSERT(f, "cannot read the trace");
	while (fgets(line, sizeof(line), f)) {
		p = strstr(line, "kvm_vmclock_update: ");
		if (!p)
			continue;
		TEST_ASSERT(sscanf(p,
				   "kvm_vmclock_update: gpa 0x%lx seq %u status %u counter %lu time %lu.%lx",
				   &gpa, &seq, &status, &counter, &sec, &frac) == 6,
			    "cannot parse: %s", p);
		if (gpa != VMCLOCK_GPA)
			continue;	/* another VM of this host */
		events++;
	}
	fclose(f);
	kvm_vm_free(v.vm);

	ksft_print_msg("%lu events, vmclock_updates %lu; last: seq %u status %u counter 0x%lx\n",
		       (unsigned long)events, (unsigned long)updates, seq,
		       status, counter);
	TEST_ASSERT(events == updates, "%lu events for %lu updates",
		    (unsigned long)events, (unsigned long)updates);
	TEST_ASSERT(seq == clk.seq_count && status == clk.clock_status &&
		    counter == clk.counter_value && sec == clk.time_sec &&
		    frac == clk.time_frac_sec,
		    "last event (seq %u) does not match the page (seq %u)",
		    seq, clk.seq_count);
}

/* Send @fds over @sock (SCM_RIGHTS), or receive them. */
static void fds_send(int sock, const int *fds, int n)
{
	char data = 0, buf[CMSG_SPACE(2 * sizeof(int))] = {};
	struct iovec iov = { .iov_base = &data, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = buf, .msg_controllen = CMSG_SPACE(n * sizeof(int)),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	TEST_ASSERT(sendmsg(sock, &msg, 0) == 1, "sendmsg errno %d", errno);
}

static void fds_recv(int sock, int *fds, int n)
{
	char data, buf[CMSG_SPACE(2 * sizeof(int))] = {};
	struct iovec iov = { .iov_base = &data, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = buf, .msg_controllen = CMSG_SPACE(n * sizeof(int)),
	};
	struct cmsghdr *c;

	TEST_ASSERT(recvmsg(sock, &msg, 0) == 1, "recvmsg errno %d", errno);
	c = CMSG_FIRSTHDR(&msg);
	TEST_ASSERT(c && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(n * sizeof(int)), "no fds received");
	memcpy(fds, CMSG_DATA(c), n * sizeof(int));
}

/*
 * The VM outlives the memory of the process that made it: that process
 * passed the VM's fd on and exited, which freed the guest's memory, the
 * page's too, without an MMU notifier invalidation (exit_mmap() releases
 * the notifiers first).  A change of the host clock must then not write
 * the page: a write from KVM's work would land in freed memory (a KASAN
 * report on a debug kernel).
 */
TEST_F_TIMEOUT(host_time, vm_after_exit, 60)
{
	struct kvm_binary_stats stats = {};
	struct timex tx = { .modes = 0 };
	u64 before, after;
	int sv[2], fds[2], status;
	pid_t pid;

	if (!host_changes_allowed())
		SKIP(return, "%s " HOST_TIME_SKIP, "ADJ_FREQUENCY");
	if (geteuid())
		SKIP(return, "ADJ_FREQUENCY needs root");
	if (host_clock_steered())
		SKIP(return, "an NTP daemon steers the host clock");

	TEST_ASSERT(!socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), "socketpair");
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (!pid) {
		struct vmclock_vm v;

		vmclock_vm_create(&v, 1);
		vmclock_set(v.vm, KVM_VMCLOCK_MODE_AUTO, VMCLOCK_GPA);
		fds[0] = v.vm->fd;
		fds[1] = vm_get_stats_fd(v.vm);
		fds_send(sv[1], fds, 2);
		_exit(0);
	}
	fds_recv(sv[0], fds, 2);
	TEST_ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    !WEXITSTATUS(status), "child status 0x%x", status);

	stats.fd = fds[1];
	read_stats_header(stats.fd, &stats.header);
	stats.desc = read_stats_descriptors(stats.fd, &stats.header);
	kvm_get_stat(&stats, "vmclock_updates", &before, 1);

	TEST_ASSERT(adjtimex(&tx) >= 0, "adjtimex() errno %d", errno);
	self->orig_freq = tx.freq;
	tx.modes = ADJ_FREQUENCY;
	tx.freq = self->orig_freq + FREQ_STEP_SCALED_PPM;
	self->freq_changed = true;
	TEST_ASSERT(adjtimex(&tx) >= 0, "ADJ_FREQUENCY errno %d", errno);
	usleep(500 * 1000);
	tx.freq = self->orig_freq;
	TEST_ASSERT(adjtimex(&tx) >= 0, "ADJ_FREQUENCY errno %d", errno);
	self->freq_changed = false;
	usleep(500 * 1000);
	kvm_get_stat(&stats, "vmclock_updates", &after, 1);

	ksft_print_msg("exited process, 2 frequency changes: vmclock_updates %lu -> %lu\n",
		       (unsigned long)before, (unsigned long)after);
	free(stats.desc);
	close(fds[1]);
	close(fds[0]);
	close(sv[0]);
	close(sv[1]);
	TEST_ASSERT(after == before,
		    "%lu writes of a page in freed memory",
		    (unsigned long)(after - before));
}

int main(int argc, char *argv[])
{
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_VMCLOCK));
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_ADJUST_CLOCK) & KVM_CLOCK_REALTIME);
	TEST_REQUIRE(sys_clocksource_is_based_on_tsc());

	return test_harness_run(argc, argv);
}
