// SPDX-License-Identifier: GPL-2.0-only
/*
 * What the host's NTP knows, in an AUTO mode vmclock page: clock_status
 * from STA_UNSYNC, the error bounds from adjtimex()'s esterror and
 * maxerror (with the maximum error's growth published as a rate, not as
 * a rewrite per second), and the leap indicator across a leap second,
 * inserted and deleted, with the page following the host's step.
 *
 * All of these change the host's time state for the whole machine: they
 * run only with VMCLOCK_TEST_HOST_TIME=1 (the bench sets it), as root, and
 * restore the host's NTP status, error estimates, TAI offset and time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "vmclock.h"

#define PAGE_GPA	0xc0000000ULL
#define PAGE_SLOT	10
/* kvm.vmclock_max_error_ns (10), plus 1 for rounding the page down to ns */
#define MAX_ERROR_NS	11
/* The longest the page may lag an adjtimex() write, or a leap step */
#define MAX_LAG_MS	500
/* The kernel grows maxerror by this each second (MAXFREQ, 500 ppm) */
#define MAXERR_RATE_US	500

#define HOST_TIME_ENV	"VMCLOCK_TEST_HOST_TIME"

/* The flags KVM sets with the error fields (no period estimate) */
#define ERROR_FLAGS	(VMCLOCK_FLAG_TIME_ESTERROR_VALID |		\
			 VMCLOCK_FLAG_TIME_MAXERROR_VALID |		\
			 VMCLOCK_FLAG_PERIOD_MAXERROR_VALID)

/*
 * The page's own deviation from the host's clock, which its maximum error
 * adds (vmclock.rst): kvm.vmclock_max_error_ns, plus 10 ms of a rate
 * change over the whole ADJ_FREQUENCY range (1000 ppm).
 */
#define PAGE_DEV_NS	(vmclock_max_error_ns() + 10000ULL)

static void guest_code(void)
{
	GUEST_DONE();
}

static bool host_changes_allowed(void)
{
	const char *e = getenv(HOST_TIME_ENV);

	return e && !strcmp(e, "1");
}

static void host_adjtimex(struct timex *tx)
{
	int r = adjtimex(tx);

	TEST_ASSERT(r >= 0, "adjtimex(modes 0x%x) failed: errno %d",
		    tx->modes, errno);
}

/* Set the host's NTP status (STA_* but the read-only bits) */
static void host_set_status(int status)
{
	struct timex tx = { .modes = ADJ_STATUS, .status = status };

	host_adjtimex(&tx);
}

static u64 mono_ns(void)
{
	return vmclock_now_ns();
}

static u64 real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void set_real_ns(u64 ns)
{
	struct timespec ts = {
		.tv_sec = ns / 1000000000ULL,
		.tv_nsec = ns % 1000000000ULL,
	};

	TEST_ASSERT(!clock_settime(CLOCK_REALTIME, &ts),
		    "clock_settime failed: errno %d", errno);
}

FIXTURE(ntp) {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	struct vmclock_abi *page;
	u64 tsc_offset;
	/* The host's state before the test, restored by the parent */
	struct timex orig;
	u64 orig_real_ns, orig_mono_ns;
	bool saved, stepped, tai_changed, freq_changed;
};

FIXTURE_SETUP(ntp)
{
	struct kvm_vmclock vc = {
		.mode = KVM_VMCLOCK_MODE_AUTO, .gpa = PAGE_GPA,
	};

	if (!host_changes_allowed())
		SKIP(return, "changes the host's NTP state and time for the whole machine: set "
		     HOST_TIME_ENV "=1 to run it");
	if (geteuid())
		SKIP(return, "adjtimex() and clock_settime() need root");
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_VMCLOCK) & BIT(KVM_VMCLOCK_MODE_AUTO));

	self->orig.modes = 0;
	host_adjtimex(&self->orig);
	self->orig_real_ns = real_ns();
	self->orig_mono_ns = mono_ns();
	self->saved = true;

	self->vm = vm_create_with_one_vcpu(&self->vcpu, guest_code);
	vm_userspace_mem_region_add(self->vm, VM_MEM_SRC_ANONYMOUS, PAGE_GPA,
				    PAGE_SLOT, 1, 0);
	self->page = addr_gpa2hva(self->vm, PAGE_GPA);
	vmclock_kvmclock_refresh(self->vm);
	self->tsc_offset = vmclock_tsc_offset(self->vcpu);
	vm_ioctl(self->vm, KVM_SET_VMCLOCK, &vc);
}

/*
 * In the parent, also after a failed assertion (the VM goes with the
 * child).  Time first: clock_settime() clears the NTP state.
 */
FIXTURE_TEARDOWN_PARENT(ntp)
{
	struct timex tx = { .modes = 0 };

	if (!self->saved)
		return;
	/* ADJ_TAI only if needed: it makes the offset a claim, 0 included */
	if (adjtimex(&tx) >= 0 && tx.tai != self->orig.tai)
		self->tai_changed = true;
	tx.modes = ADJ_STATUS | ADJ_ESTERROR | ADJ_MAXERROR;
	if (self->tai_changed)
		tx.modes |= ADJ_TAI;
	if (self->freq_changed)
		tx.modes |= ADJ_FREQUENCY;
	tx.freq = self->orig.freq;
	if (self->stepped) {
		struct timespec ts;
		u64 ns = self->orig_real_ns + (mono_ns() - self->orig_mono_ns);

		ts.tv_sec = ns / 1000000000ULL;
		ts.tv_nsec = ns % 1000000000ULL;
		if (clock_settime(CLOCK_REALTIME, &ts))
			ksft_print_msg("FAILED to restore CLOCK_REALTIME\n");
	}
	tx.status = self->orig.status & ~(STA_INS | STA_DEL);
	tx.esterror = self->orig.esterror;
	tx.maxerror = self->orig.maxerror;
	tx.constant = self->orig.tai;
	if (adjtimex(&tx) < 0)
		ksft_print_msg("FAILED to restore the NTP state\n");
	/* Only now: clearing a leap flag first ends TIME_WAIT */
	tx.modes = ADJ_STATUS;
	tx.status = self->orig.status;
	if (adjtimex(&tx) < 0)
		ksft_print_msg("FAILED to restore the NTP status 0x%x\n",
			       self->orig.status);
}

/* Wait until the page's seq_count moves from @seq; returns ms waited */
static double wait_rewrite(const struct vmclock_abi *page, u32 seq,
			   struct vmclock_abi *clk, const char *what)
{
	u64 start = mono_ns(), now;

	for (;;) {
		vmclock_page_read(page, clk);
		now = mono_ns();
		if (clk->seq_count != seq)
			return (now - start) / 1e6;
		TEST_ASSERT(now - start < MAX_LAG_MS * 1000000ULL,
			    "%s: page not rewritten within %d ms", what,
			    MAX_LAG_MS);
		usleep(100);
	}
}

/* Rewrites of the page (the statistic) over @ms, then */
static u64 settle(struct kvm_vm *vm, u64 since, int ms)
{
	usleep(ms * 1000);
	return vmclock_updates(vm) - since;
}

/* The guest's maximum error at guest counter @counter, in ns (rounded down) */
static u64 guest_maxerror_ns(const struct vmclock_abi *c, u64 counter)
{
	unsigned __int128 e = (unsigned __int128)(counter - c->counter_value) *
			      c->counter_period_maxerror_rate_frac_sec;

	e >>= c->counter_period_shift;
	return c->time_maxerror_nanosec + (u64)(e >> 64) * 1000000000ULL +
	       (u64)(((unsigned __int128)(u64)e * 1000000000ULL) >> 64);
}

static void check_errors(struct __test_metadata *_metadata,
			 const struct vmclock_abi *c, long esterror_us,
			 long maxerror_us)
{
	unsigned __int128 want = (unsigned __int128)c->counter_period_frac_sec *
				 MAXERR_RATE_US;
	unsigned __int128 got = (unsigned __int128)
				c->counter_period_maxerror_rate_frac_sec * 1000000;

	TEST_ASSERT_EQ(c->clock_status, VMCLOCK_STATUS_SYNCHRONIZED);
	TEST_ASSERT((c->flags & ERROR_FLAGS) == ERROR_FLAGS,
		    "flags 0x%lx: not all error flags", (unsigned long)c->flags);
	TEST_ASSERT(!(c->flags & VMCLOCK_FLAG_PERIOD_ESTERROR_VALID),
		    "flags 0x%lx: a period estimate claimed, of %lu",
		    (unsigned long)c->flags,
		    (unsigned long)c->counter_period_esterror_rate_frac_sec);
	TEST_ASSERT_EQ(c->time_esterror_nanosec, esterror_us * 1000ULL);
	TEST_ASSERT_EQ(c->counter_period_esterror_rate_frac_sec, 0);
	/* 500 ppm of the period, rounded up */
	TEST_ASSERT(got >= want && got < want + 1000000,
		    "maxerror rate %lu for a period of %lu: not 500 ppm of it",
		    (unsigned long)c->counter_period_maxerror_rate_frac_sec,
		    (unsigned long)c->counter_period_frac_sec);
	/*
	 * M + the page's deviation + 500 ppm of the time since the start of
	 * the second adjtimex() wrote it in (up to a second, plus the lag).
	 */
	TEST_ASSERT(c->time_maxerror_nanosec >= maxerror_us * 1000ULL + PAGE_DEV_NS &&
		    c->time_maxerror_nanosec <= maxerror_us * 1000ULL +
		    PAGE_DEV_NS + MAXERR_RATE_US * 1000ULL * 2,
		    "time_maxerror_nanosec %lu for maxerror %ld us",
		    (unsigned long)c->time_maxerror_nanosec, maxerror_us);
}

/*
 * adjtimex() makes the host synchronized with error estimates: the page
 * carries them at once (adjtimex() notifies KVM, not the next tick), with
 * their flags, SYNCHRONIZED, in one rewrite; the maximum error's growth
 * makes no rewrite, and the guest's bound stays above the host's; an
 * unchanged write makes none; STA_UNSYNC makes it FREERUNNING, in one.
 */
TEST_F(ntp, sync_and_errors)
{
	struct timex tx = {
		.modes = ADJ_STATUS | ADJ_ESTERROR | ADJ_MAXERROR,
		.status = 0, .esterror = 123, .maxerror = 4567,
	};
	struct vmclock_abi c, c2;
	struct kvm_clock_data data;
	u64 updates, n_sync, n_growth, n_same, n_unsync;
	double lag_sync, lag_unsync, res_ms;
	struct timespec res;
	u64 guest, host;
	int i;

	clock_getres(CLOCK_REALTIME_COARSE, &res);
	res_ms = res.tv_nsec / 1e6;

	/* Start unsynchronized */
	host_set_status(STA_UNSYNC);
	usleep(50 * 1000);
	vmclock_page_read(self->page, &c);
	TEST_ASSERT(c.clock_status == VMCLOCK_STATUS_FREERUNNING ||
		    c.clock_status == VMCLOCK_STATUS_UNKNOWN,
		    "unsynchronized host: status %u", c.clock_status);
	TEST_ASSERT(!(c.flags & ERROR_FLAGS) && !c.time_maxerror_nanosec &&
		    !c.time_esterror_nanosec &&
		    !c.counter_period_maxerror_rate_frac_sec,
		    "unsynchronized host: error fields published (flags 0x%lx)",
		    (unsigned long)c.flags);

	/* Synchronized, with error estimates */
	updates = vmclock_updates(self->vm);
	host_adjtimex(&tx);
	lag_sync = wait_rewrite(self->page, c.seq_count, &c, "synchronized");
	check_errors(_metadata, &c, 123, 4567);
	n_sync = settle(self->vm, updates, 100);

	/* 2.5 s of growth: no rewrite, and the guest's bound above the host's */
	updates = vmclock_updates(self->vm);
	for (i = 0; i < 25; i++) {
		usleep(100 * 1000);
		tx.modes = 0;
		host_adjtimex(&tx);
		vmclock_get_clock(self->vm, &data);
		vmclock_page_read(self->page, &c2);
		guest = guest_maxerror_ns(&c2, data.host_tsc + self->tsc_offset);
		host = tx.maxerror * 1000ULL;
		TEST_ASSERT(guest >= host + PAGE_DEV_NS,
			    "guest maximum error %lu ns below the host's %lu ns + the page's deviation",
			    (unsigned long)guest, (unsigned long)host);
		TEST_ASSERT(guest <= host + PAGE_DEV_NS + MAXERR_RATE_US * 1000ULL + 1000000,
			    "guest maximum error %lu ns far above the host's %lu ns",
			    (unsigned long)guest, (unsigned long)host);
	}
	TEST_ASSERT(tx.maxerror >= 4567 + 2 * MAXERR_RATE_US,
		    "host maxerror %ld us after 2.5 s: did it not grow?",
		    tx.maxerror);
	n_growth = vmclock_updates(self->vm) - updates;
	TEST_ASSERT(!memcmp(&c, &c2, sizeof(c)),
		    "the page changed while only the maximum error grew");

	/* The same esterror again: nothing changes */
	updates = vmclock_updates(self->vm);
	tx.modes = ADJ_ESTERROR;
	tx.esterror = 123;
	host_adjtimex(&tx);
	n_same = settle(self->vm, updates, 100);

	/* Unsynchronized: FREERUNNING, no error fields */
	updates = vmclock_updates(self->vm);
	host_set_status(STA_UNSYNC);
	lag_unsync = wait_rewrite(self->page, c.seq_count, &c, "unsynchronized");
	TEST_ASSERT_EQ(c.clock_status, VMCLOCK_STATUS_FREERUNNING);
	TEST_ASSERT(!(c.flags & ERROR_FLAGS) && !c.time_maxerror_nanosec &&
		    !c.time_esterror_nanosec,
		    "FREERUNNING page with error fields (flags 0x%lx)",
		    (unsigned long)c.flags);
	n_unsync = settle(self->vm, updates, 100);

	ksft_print_msg("rewrites per adjtimex() change: synchronize with errors %lu\n",
		       (unsigned long)n_sync);
	ksft_print_msg("  (page %.2f ms after adjtimex() returned; a tick is %.1f ms)\n",
		       lag_sync, res_ms);
	ksft_print_msg("rewrites per adjtimex() change: 2.5 s of maxerror growth %lu\n",
		       (unsigned long)n_growth);
	ksft_print_msg("rewrites per adjtimex() change: unchanged esterror %lu\n",
		       (unsigned long)n_same);
	ksft_print_msg("rewrites per adjtimex() change: STA_UNSYNC %lu (page after %.2f ms)\n",
		       (unsigned long)n_unsync, lag_unsync);
	TEST_ASSERT(n_sync == 1, "%lu rewrites for one adjtimex(), want 1",
		    (unsigned long)n_sync);
	TEST_ASSERT(n_growth == 0, "%lu rewrites while maxerror grew, want 0",
		    (unsigned long)n_growth);
	TEST_ASSERT(n_same == 0, "%lu rewrites for an unchanged write, want 0",
		    (unsigned long)n_same);
	TEST_ASSERT(n_unsync == 1, "%lu rewrites for STA_UNSYNC, want 1",
		    (unsigned long)n_unsync);
}

/*
 * The bound holds: at every reading, through changes of the host's rate by
 * +-500 ppm, the page's time is within its maximum error minus the host's
 * of the host's CLOCK_REALTIME (the guest's true error is at most the
 * page's, whatever the host's own error is).  Judged at the tightest
 * moment: right after the next second boundary, where the host's maximum
 * error grows by 500 us at once and the page's has grown linearly.
 */
TEST_F(ntp, bound_holds)
{
	static const long ppm[] = { 500, -500, 0, 500, 0 };
	struct timex tx = {
		.modes = ADJ_STATUS | ADJ_ESTERROR | ADJ_MAXERROR,
		.status = 0, .esterror = 100, .maxerror = 1000,
	};
	struct vmclock_abi before, after;
	struct kvm_clock_data data;
	u64 pairs = 0, end, counter, guest, host, to_next;
	s64 dev, margin, dev_max = 0, slack_min = INT64_MAX;
	unsigned int i;
	long m0;

	host_adjtimex(&tx);
	usleep(100 * 1000);
	vmclock_page_read(self->page, &before);
	TEST_ASSERT_EQ(before.clock_status, VMCLOCK_STATUS_SYNCHRONIZED);
	self->freq_changed = true;
	for (i = 0; i < ARRAY_SIZE(ppm); i++) {
		tx.modes = ADJ_FREQUENCY;
		tx.freq = self->orig.freq + ppm[i] * 65536;
		host_adjtimex(&tx);
		end = mono_ns() + 300 * 1000000ULL;
		while (mono_ns() < end) {
			tx.modes = 0;
			host_adjtimex(&tx);
			m0 = tx.maxerror;
			vmclock_page_read(self->page, &before);
			vmclock_get_clock(self->vm, &data);
			vmclock_page_read(self->page, &after);
			host_adjtimex(&tx);
			/* one page, and no growth of the host's meanwhile */
			if (memcmp(&before, &after, sizeof(before)) ||
			    tx.maxerror != m0)
				continue;
			pairs++;
			counter = data.host_tsc + self->tsc_offset;
			dev = (s64)(vmclock_ns_at(&before, counter) - data.realtime);
			dev = dev < 0 ? -dev : dev;
			guest = guest_maxerror_ns(&before, counter);
			host = m0 * 1000ULL;
			to_next = 1000000000ULL - data.realtime % 1000000000ULL;
			margin = (s64)(guest + MAXERR_RATE_US * to_next / 1000000ULL) -
				 (s64)(host + MAXERR_RATE_US * 1000ULL);
			TEST_ASSERT(dev <= margin,
				    "%+ld ppm: |page - CLOCK_REALTIME| %ld ns, but the page's maximum error exceeds the host's by only %ld ns after the next second boundary (page %lu ns, host %lu ns now)",
				    ppm[i], (long)dev, (long)margin,
				    (unsigned long)guest, (unsigned long)host);
			dev_max = max(dev_max, dev);
			slack_min = min(slack_min, margin - dev);
		}
	}
	ksft_print_msg("+-500 ppm: %lu pairs, |page - realtime| <= %ld ns, %ld ns below bound\n",
		       (unsigned long)pairs, (long)dev_max, (long)slack_min);
	TEST_ASSERT(pairs > 1000, "only %lu pairs", (unsigned long)pairs);
}

struct leap_run {
	u64 pairs;
	/* Distinct leap indicators, in order */
	u8 leaps[8];
	int nleaps;
	/* Pairs outside the bound: how many, when (monotonic ns), how far */
	u64 bad;
	u64 bad_first, bad_last;
	s64 bad_min, bad_max;
	bool bad_ended;
	bool split;
	s64 good_max;
	s16 tai_before, tai_after;
	/* Pairs whose page claims a TAI offset */
	u64 tai_claims;
	u64 updates;
	/* TAI at the first pair of the page after the step, from both pages */
	s64 tai_jump_ns;
	bool tai_checked;
	/* From the last pair on the page before the step to the first after */
	u64 last_old, gap_ns;
};

static s64 tai_ns_at(const struct vmclock_abi *c, u64 counter)
{
	return (s64)vmclock_ns_at(c, counter) - (s16)c->tai_offset_sec * 1000000000LL;
}

/*
 * KVM_GET_CLOCK pairs from just after 23:59:58 UTC until @secs seconds
 * later, each between two equal copies of the page.
 */
static void leap_pairs(struct __test_metadata *_metadata, struct kvm_vm *vm,
		       const struct vmclock_abi *page, u64 tsc_offset, int secs,
		       struct leap_run *r)
{
	struct vmclock_abi before, after, prev = {};
	u64 end = mono_ns() + secs * 1000000000ULL, t, counter;
	struct kvm_clock_data data;
	u64 updates = vmclock_updates(vm);
	bool have_prev = false;
	s64 err;

	memset(r, 0, sizeof(*r));
	r->bad_min = INT64_MAX;
	r->bad_max = INT64_MIN;
	while ((t = mono_ns()) < end) {
		vmclock_page_read(page, &before);
		vmclock_get_clock(vm, &data);
		vmclock_page_read(page, &after);
		if (memcmp(&before, &after, sizeof(before)))
			continue;
		r->pairs++;
		counter = data.host_tsc + tsc_offset;
		TEST_ASSERT(vmclock_status_reliable(before.clock_status),
			    "page status %u across the leap second",
			    before.clock_status);

		if (!r->nleaps || r->leaps[r->nleaps - 1] != before.leap_indicator) {
			TEST_ASSERT(r->nleaps < (int)ARRAY_SIZE(r->leaps),
				    "leap indicator changed too often");
			r->leaps[r->nleaps++] = before.leap_indicator;
		}
		if (before.flags & VMCLOCK_FLAG_TAI_OFFSET_VALID)
			r->tai_claims++;
		if (!have_prev)
			r->tai_before = (s16)before.tai_offset_sec;
		r->tai_after = (s16)before.tai_offset_sec;

		/* The TAI time of the new page against the old one's */
		if (have_prev && !r->tai_checked &&
		    prev.tai_offset_sec != before.tai_offset_sec) {
			r->tai_jump_ns = tai_ns_at(&before, counter) -
					 tai_ns_at(&prev, counter);
			r->tai_checked = true;
			r->gap_ns = t - r->last_old;
		}
		if (!r->tai_checked)
			r->last_old = t;
		prev = before;
		have_prev = true;

		err = (s64)(vmclock_ns_at(&before, counter) - data.realtime);
		if (err < -MAX_ERROR_NS || err > MAX_ERROR_NS) {
			if (r->bad_ended)
				r->split = true;
			if (!r->bad++)
				r->bad_first = t;
			r->bad_last = t;
			r->bad_min = min(r->bad_min, err);
			r->bad_max = max(r->bad_max, err);
		} else {
			if (r->bad)
				r->bad_ended = true;
			r->good_max = max(r->good_max, err < 0 ? -err : err);
		}
	}
	r->updates = vmclock_updates(vm) - updates;
}

/* Synchronize the host without a leap second, and wait for TIME_OK */
static void wait_time_ok(const char *what)
{
	struct timex tx = {
		.modes = ADJ_STATUS | ADJ_ESTERROR | ADJ_MAXERROR,
		.esterror = 100, .maxerror = 1000,
	};
	u64 start = mono_ns();
	int state;

	host_adjtimex(&tx);
	for (;;) {
		tx.modes = 0;
		state = adjtimex(&tx);
		if (state == TIME_OK)
			return;
		TEST_ASSERT(mono_ns() - start < 3000000000ULL,
			    "%s: leap second state %d, not TIME_OK, after 3 s",
			    what, state);
		usleep(10 * 1000);
	}
}

/* Wait until the page's leap indicator is @leap */
static void wait_leap(const struct vmclock_abi *page, u8 leap, const char *what)
{
	u64 start = mono_ns();
	struct vmclock_abi c;

	for (;;) {
		vmclock_page_read(page, &c);
		if (c.leap_indicator == leap)
			return;
		TEST_ASSERT(mono_ns() - start < MAX_LAG_MS * 1000000ULL,
			    "%s: leap indicator %u, not %u, after %d ms", what,
			    c.leap_indicator, leap, MAX_LAG_MS);
		usleep(100);
	}
}

static const char *leap_name(u8 l)
{
	static const char * const names[] = {
		"NONE", "PRE_POS", "PRE_NEG", "POS", "POST_POS", "POST_NEG",
	};

	return l < ARRAY_SIZE(names) ? names[l] : "?";
}

/*
 * Set the host to @start seconds before midnight UTC with a leap second
 * armed (@sta), and read the page across midnight: the leap indicator
 * goes @want[], the page
 * follows the step (page - CLOCK_REALTIME within the bound on every pair
 * but in one window right after the step, which is measured), and the TAI
 * offset changes by @dtai while TAI time is continuous.  With @tai -1 the
 * host's TAI offset is left unset: the kernel moves it by @dtai
 * all the same, and no page may claim an offset.
 */
static void leap_test(struct __test_metadata *_metadata, struct kvm_vm *vm,
		      const struct vmclock_abi *page, u64 tsc_offset,
		      bool *stepped, bool *tai_changed, int tai, int start,
		      int sta, const u8 *want, int nwant, int dtai, s64 step_ns,
		      const char *what)
{
	struct timex tx = { .modes = ADJ_TAI, .constant = tai };
	u64 now = real_ns(), midnight;
	int host_tai;
	struct leap_run r;
	double window_ms;
	char seq[96] = "";
	int i;

	/*
	 * A known TAI offset, and the leap second state machine back in
	 * TIME_OK: after a leap second it stays in TIME_WAIT until a second
	 * boundary passes with STA_INS and STA_DEL clear.
	 */
	if (tai >= 0) {
		*tai_changed = true;
		host_adjtimex(&tx);
	}
	wait_time_ok(what);
	midnight = (now / 1000000000ULL / 86400 + 1) * 86400;
	*stepped = true;
	set_real_ns((midnight - start) * 1000000000ULL);
	/*
	 * After the step (clock_settime() cleared the NTP state): armed, and
	 * synchronized with error estimates, as an NTP daemon leaves it (with
	 * maxerror at its limit the kernel would set STA_UNSYNC again at the
	 * next second).
	 */
	tx.modes = ADJ_STATUS | ADJ_ESTERROR | ADJ_MAXERROR;
	tx.status = sta;
	tx.esterror = 100;
	tx.maxerror = 1000;
	host_adjtimex(&tx);
	wait_leap(page, want[0], what);

	leap_pairs(_metadata, vm, page, tsc_offset, 4, &r);
	tx.modes = 0;
	host_adjtimex(&tx);
	host_tai = tx.tai;

	for (i = 0; i < r.nleaps; i++)
		snprintf(seq + strlen(seq), sizeof(seq) - strlen(seq), "%s%s",
			 i ? " " : "", leap_name(r.leaps[i]));
	window_ms = r.bad ? (r.bad_last - r.bad_first) / 1e6 : 0;
	ksft_print_msg("%s: %lu pairs over 4 s, %lu rewrites, leap indicator %s\n",
		       what, (unsigned long)r.pairs, (unsigned long)r.updates, seq);
	ksft_print_msg("%s: page's TAI offset %d -> %d s (in %lu of %lu pairs); host's %d s%s\n",
		       what, -r.tai_before, -r.tai_after,
		       (unsigned long)r.tai_claims, (unsigned long)r.pairs,
		       host_tai, tai < 0 ? " (never set)" : "");
	ksft_print_msg("%s: TAI of the new page - the old's at one TSC: %ld ns\n",
		       what, (long)r.tai_jump_ns);
	ksft_print_msg("%s: step window %.3f ms, %lu pairs, page - realtime in [%ld, %ld] ns\n",
		       what, window_ms, (unsigned long)r.bad,
		       r.bad ? (long)r.bad_min : 0, r.bad ? (long)r.bad_max : 0);
	ksft_print_msg("%s: elsewhere |page - CLOCK_REALTIME| <= %ld ns\n", what,
		       (long)r.good_max);
	ksft_print_msg("%s: no pair for %.3f ms across the step and the rewrite\n",
		       what, r.gap_ns / 1e6);

	TEST_ASSERT(r.pairs > 1000, "only %lu pairs", (unsigned long)r.pairs);
	TEST_ASSERT(r.nleaps == nwant && !memcmp(r.leaps, want, nwant),
		    "leap indicator went %s", seq);
	/* One rewrite per change: the step (with the TAI offset), POST_POS */
	TEST_ASSERT(r.updates == (u64)nwant - 1,
		    "%lu rewrites across the leap second, want %d",
		    (unsigned long)r.updates, nwant - 1);
	if (tai < 0) {
		TEST_ASSERT(!r.tai_claims,
			    "the host was never told its TAI offset (%d s now, by the kernel's leap second), yet %lu pages claimed %d -> %d s",
			    host_tai, (unsigned long)r.tai_claims,
			    -r.tai_before, -r.tai_after);
	} else {
		TEST_ASSERT(r.tai_claims == r.pairs,
			    "TAI offset claimed in %lu of %lu pairs",
			    (unsigned long)r.tai_claims, (unsigned long)r.pairs);
		TEST_ASSERT(-r.tai_after == -r.tai_before + dtai,
			    "TAI offset %d -> %d, want a change of %d",
			    -r.tai_before, -r.tai_after, dtai);
		TEST_ASSERT(r.tai_checked && r.tai_jump_ns >= -2 * MAX_ERROR_NS &&
			    r.tai_jump_ns <= 2 * MAX_ERROR_NS,
			    "TAI time jumps by %ld ns at the step",
			    (long)r.tai_jump_ns);
	}
	/* The step itself: the page lags it, in one window, by the step */
	TEST_ASSERT(!r.split, "page - CLOCK_REALTIME out of bound in two windows");
	TEST_ASSERT(window_ms < MAX_LAG_MS, "step window of %.3f ms", window_ms);
	if (r.bad)
		TEST_ASSERT(r.bad_min >= step_ns - 1000000 &&
			    r.bad_max <= step_ns + 1000000,
			    "page - realtime in [%ld, %ld] ns in the window, not the %ld ns step",
			    (long)r.bad_min, (long)r.bad_max, (long)step_ns);
}

/*
 * A host never told its TAI offset (no ADJ_TAI since boot, as ntpd without
 * a leap file): the kernel still applies a leap second to its offset, 0 ->
 * 1 -> 0 here, and no page may claim an offset before or after.  Runs
 * only on such a host: before any test that sets the offset (the bench
 * runs this file first, and this test before the other leap tests).
 */
TEST_F(ntp, leap_tai_unset)
{
	static const u8 ins[] = {
		VMCLOCK_LEAP_PRE_POS, VMCLOCK_LEAP_POS, VMCLOCK_LEAP_POST_POS,
	};
	static const u8 del[] = {
		VMCLOCK_LEAP_PRE_NEG, VMCLOCK_LEAP_POST_NEG,
	};
	struct vmclock_abi c;

	vmclock_page_read(self->page, &c);
	if (self->orig.tai || (c.flags & VMCLOCK_FLAG_TAI_OFFSET_VALID))
		SKIP(return, "host told its TAI offset in this boot (%d s, page flags 0x%lx)",
		     self->orig.tai, (unsigned long)c.flags);

	leap_test(_metadata, self->vm, self->page, self->tsc_offset,
		  &self->stepped, &self->tai_changed, -1, 2, STA_INS, ins,
		  ARRAY_SIZE(ins), 1, 1000000000LL, "inserted leap second, TAI offset never set");
	leap_test(_metadata, self->vm, self->page, self->tsc_offset,
		  &self->stepped, &self->tai_changed, -1, 3, STA_DEL, del,
		  ARRAY_SIZE(del), -1, -1000000000LL, "deleted leap second, TAI offset never set");
}

/*
 * STA_INS at 23:59:58: PRE_POS, then POS during the inserted second
 * (CLOCK_REALTIME repeats 23:59:59 after midnight), then POST_POS; TAI -
 * UTC grows by one.
 */
TEST_F(ntp, leap_insert)
{
	static const u8 want[] = {
		VMCLOCK_LEAP_PRE_POS, VMCLOCK_LEAP_POS, VMCLOCK_LEAP_POST_POS,
	};

	leap_test(_metadata, self->vm, self->page, self->tsc_offset,
		  &self->stepped, &self->tai_changed, 37, 2, STA_INS, want,
		  ARRAY_SIZE(want), 1, 1000000000LL, "inserted leap second");
}

/*
 * STA_DEL: PRE_NEG, then POST_NEG (23:59:59 skipped); TAI - UTC shrinks
 * by one.  At 23:59:57, not 58: the kernel arms a leap second at the next
 * second boundary, for the end of that day, and the boundary of 23:59:59
 * is the deleted second itself.
 */
TEST_F(ntp, leap_delete)
{
	static const u8 want[] = {
		VMCLOCK_LEAP_PRE_NEG, VMCLOCK_LEAP_POST_NEG,
	};

	leap_test(_metadata, self->vm, self->page, self->tsc_offset,
		  &self->stepped, &self->tai_changed, 37, 3, STA_DEL, want,
		  ARRAY_SIZE(want), -1, -1000000000LL, "deleted leap second");
}

TEST_HARNESS_MAIN
