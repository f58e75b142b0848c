// SPDX-License-Identifier: GPL-2.0-only
/*
 * KVM vmclock provider, the clock: the host's CLOCK_REALTIME, expressed in
 * the guest's counter, for the page that virt/kvm/vmclock.c publishes.
 *
 * This is the architecture-independent part of the clock: the arithmetic,
 * the update policy, the host's NTP state and the assembly of the page.
 * The architecture only says which counter the guest reads and how it
 * derives from the host's (kvm_arch_vmclock_guest_counter()), whether the
 * host clocksource is that counter (kvm_arch_vmclock_host_counter()), and
 * reads it (kvm_arch_vmclock_read_counter()); it calls
 * kvm_vmclock_timekeeper_update() from its pvclock_gtod notifier.
 *
 * The timekeeper notifier (with tk_core.seq write-held and IRQs off)
 * stores a snapshot of the timekeeper, taken with
 * timekeeping_get_pv_state() (struct timekeeper is not read here), in a
 * seqcount-protected global, O(1) whatever the number of VMs, and decides
 * whether the published line, time = time_sec + (counter - counter_value) *
 * period, is still good (kvm_vmclock_line_stale()).  Only if it is not does
 * it compute a new line, in the host counter domain, and queue an
 * irq_work, which asks the generic core to republish all VMs from a
 * workqueue (kvm_vmclock_update_all()).  The per-VM work or a vCPU then
 * fills the page (kvm_vmclock_fill_auto()), which converts that line into
 * the guest's counter domain with the offset and scaling ratio the
 * architecture gives.
 *
 * The update policy.  The timekeeper dithers its multiplier by one unit
 * around the rate NTP asks for (tick_len per cycle_interval), so mult
 * changes often while the clock follows the same long-run line.  The page
 * therefore publishes the NTP rate itself, and is rewritten only when
 *
 *  - the clock was set (settimeofday, ADJ_SETOFFSET, leap second, TAI
 *    offset change, resume), or the clocksource, its shift or tick, or the
 *    counter's stability changed: at the next timekeeper update;
 *  - the line would differ from the timekeeper's CLOCK_REALTIME by more
 *    than vmclock_max_error_ns before the next update, judged at each
 *    update from the current difference, the dithering step (one unit of
 *    mult over one tick) and the drift of one second at the current NTP
 *    rate.  An ADJ_FREQUENCY change makes the drift large at once, so it
 *    costs one rewrite; small NTP slews are absorbed until they add up.
 *
 * vmclock_max_error_ns = 0 rewrites at every timekeeper update (for
 * comparison and debugging).
 *
 * The host's NTP state gives the page its clock_status (SYNCHRONIZED while
 * the host clock is synchronized, FREERUNNING once it no longer is,
 * UNKNOWN if it never was), its error bounds and its leap_indicator (see
 * kvm_vmclock_ntp_status(), kvm_vmclock_ntp_errors() and
 * kvm_vmclock_ntp_leap()).  The notifier stores it, without moving the
 * line, when timekeeping's ntp_seq says that adjtimex() or the leap second
 * state machine changed it: one republication per change.  The kernel's
 * growth of the maximum error (500 us at each second) does not change
 * ntp_seq: the page states it as the period's maximum error rate instead
 * of being rewritten every second.
 */

#include <linux/irq_work.h>
#include <linux/kvm_host.h>
#include <linux/math64.h>
#include <linux/moduleparam.h>
#include <linux/pvclock_gtod.h>
#include <linux/seqlock.h>
#include <linux/timex.h>
#include <kunit/visibility.h>

#include "vmclock.h"

/*
 * Pure arithmetic helpers.  No global state: they are what the KUnit test
 * exercises.
 */

/*
 * Return t such that *@q = floor(@a * 2^t / @d) is in [2^63, 2^64).
 * @a and @d must not be zero.
 */
static unsigned int vmclock_div_normalize(u64 a, u64 d, u64 *q)
{
	unsigned int la = fls64(a), ld = fls64(d);
	u64 an = a << (64 - la);	/* a * 2^(64 - la), top bit set */
	u64 b = 1ULL << (ld - 1);
	u128 rem;
	u64 r;

	/*
	 * an * 2^(ld - 1) / d is in [2^62, 2^64) because d is in
	 * [2^(ld - 1), 2^ld): no overflow (#DE) in the division.
	 */
	r = mul_u64_u64_div_u64(an, b, d);
	if (r >> 63) {
		*q = r;
		return 63 - la + ld;
	}

	/* One more bit: floor(2x) = 2 floor(x) + (2 * remainder >= d). */
	rem = (u128)an * b - (u128)r * d;
	*q = (r << 1) | (2 * rem >= d);
	return 64 - la + ld;
}

/**
 * kvm_vmclock_period - a counter period in vmclock units
 * @num: numerator
 * @den: denominator, in ns
 * @shift: the period is @num / (@den * 2^@shift) ns
 * @p: result: @p->period_frac_sec and @p->period_shift are set
 *
 * Rounded down, normalised to [2^63, 2^64).
 *
 * Return: 0, or -EINVAL / -ERANGE for unusable parameters.
 */
VISIBLE_IF_KUNIT int kvm_vmclock_period(u64 num, u64 den, unsigned int shift,
					struct kvm_vmclock_params *p)
{
	unsigned int t;
	u64 d, q;

	if (!num || !den || check_mul_overflow(den, (u64)NSEC_PER_SEC, &d))
		return -EINVAL;

	/* num / (den * 1e9 * 2^shift) s per cycle = q * 2^-(t + shift) */
	t = vmclock_div_normalize(num, d, &q);
	if (t + shift < 64 || t + shift - 64 > 63)
		return -ERANGE;

	p->period_frac_sec = q;
	p->period_shift = t + shift - 64;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_vmclock_period);

/**
 * kvm_vmclock_host_params - a timekeeper reading in vmclock units
 * @cycle_last: counter value of the reading (tkr_mono.cycle_last)
 * @mult: timekeeper multiplier (tkr_mono.mult)
 * @shift: timekeeper shift (tkr_mono.shift), 1 to 63
 * @xtime_sec: CLOCK_REALTIME seconds at @cycle_last
 * @xtime_nsec: CLOCK_REALTIME nanoseconds at @cycle_last, shifted by @shift
 * @p: result, in the counter domain of @cycle_last
 *
 * The time is exact to 2^-64 s (rounded down); the period is normalised
 * to [2^63, 2^64) (rounded down).
 *
 * Return: 0, or -EINVAL / -ERANGE for unusable parameters.
 */
VISIBLE_IF_KUNIT int kvm_vmclock_host_params(u64 cycle_last, u32 mult,
					     u32 shift, u64 xtime_sec,
					     u64 xtime_nsec,
					     struct kvm_vmclock_params *p)
{
	u64 sec;
	int r;

	if (!mult || !shift || shift > 63)
		return -EINVAL;

	/* Normalise so that xtime_nsec < NSEC_PER_SEC << shift. */
	sec = div64_u64(xtime_nsec >> shift, NSEC_PER_SEC);
	xtime_sec += sec;
	xtime_nsec -= (sec * NSEC_PER_SEC) << shift;

	/* mult / 2^shift ns per cycle */
	r = kvm_vmclock_period(mult, 1, shift, p);
	if (r)
		return r;

	p->counter_value = cycle_last;
	p->time_sec = xtime_sec;
	p->time_frac_sec = mul_u64_u64_div_u64(xtime_nsec, 1ULL << (64 - shift),
					       NSEC_PER_SEC);
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_vmclock_host_params);

/**
 * kvm_vmclock_guest_params - convert a clock to a scaled and offset counter
 * @h: clock in the host counter domain
 * @offset: guest counter = @offset + host counter * @ratio / 2^@frac_bits
 * @ratio: scaling ratio, fixed point with @frac_bits fractional bits
 * @frac_bits: 0 to 63
 * @g: result, in the guest counter domain
 *
 * The guest counter value of the reference point is rounded down, as the
 * hardware does, and the reference time is moved back by the fraction of
 * a guest tick lost, so that the result describes the exact linear
 * function of the guest counter.
 *
 * Return: 0, or -EINVAL / -ERANGE for unusable parameters.
 */
VISIBLE_IF_KUNIT int kvm_vmclock_guest_params(const struct kvm_vmclock_params *h,
					      u64 offset, u64 ratio,
					      unsigned int frac_bits,
					      struct kvm_vmclock_params *g)
{
	unsigned int t, shift;
	u64 low, q, corr;
	u128 prod;

	if (!ratio || frac_bits > 63 || !h->period_frac_sec)
		return -EINVAL;

	*g = *h;
	if (ratio == 1ULL << frac_bits) {
		g->counter_value = h->counter_value + offset;
		return 0;
	}

	prod = (u128)h->counter_value * ratio;
	g->counter_value = offset + (u64)(prod >> frac_bits);
	low = (u64)prod & ((1ULL << frac_bits) - 1);

	/* period_h * 2^frac_bits / ratio = q * 2^-t * 2^frac_bits */
	t = vmclock_div_normalize(h->period_frac_sec, ratio, &q);
	if (h->period_shift + t < frac_bits ||
	    h->period_shift + t - frac_bits > 63)
		return -ERANGE;
	shift = h->period_shift + t - frac_bits;

	g->period_frac_sec = q;
	g->period_shift = shift;

	/*
	 * The exact guest counter at the reference time is counter_value +
	 * low / 2^frac_bits: the time at counter_value is earlier by that
	 * fraction of a period, i.e. low * q * 2^-(frac_bits + shift) in
	 * 2^-64 s (less than a period, so less than 2^64).
	 */
	if (frac_bits + shift < 128) {
		corr = (u64)(((u128)low * q) >> (frac_bits + shift));
		if (g->time_frac_sec < corr)
			g->time_sec--;
		g->time_frac_sec -= corr;
	}
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_vmclock_guest_params);

/*
 * An error rate of a period, in the units of the period: keep its ratio to
 * the period when the period changes from @from to @to, rounded up.
 * @rate <= @from, so the result is at most @to.
 */
static u64 vmclock_scale_rate(u64 rate, u64 from, u64 to)
{
	u64 q = mul_u64_u64_div_u64(rate, to, from);

	if ((u128)q * from < (u128)rate * to)
		q++;
	return q;
}

/**
 * kvm_vmclock_user_to_guest - convert a userspace clock to the guest domain
 * @h: the clock, with counter_value and the counter period (and its error
 *     rates) in the host counter domain
 * @offset: guest counter = @offset + host counter * @ratio / 2^@frac_bits
 * @ratio: scaling ratio, fixed point with @frac_bits fractional bits
 * @frac_bits: 0 to 63
 * @g: result: @h with counter_value, time, period, its shift and its
 *     error rates in the guest counter domain; all other fields copied
 *
 * The time and period are converted by kvm_vmclock_guest_params(); the
 * error rates keep their ratio to the period (rounded up).
 *
 * Return: 0, or -EINVAL / -ERANGE if @h cannot be expressed in the guest
 * domain (zero period, shift above 63 before or after the conversion, error
 * rate above the period).
 */
VISIBLE_IF_KUNIT int kvm_vmclock_user_to_guest(const struct vmclock_abi *h,
					       u64 offset, u64 ratio,
					       unsigned int frac_bits,
					       struct vmclock_abi *g)
{
	struct kvm_vmclock_params hp = {
		.counter_value = le64_to_cpu(h->counter_value),
		.period_frac_sec = le64_to_cpu(h->counter_period_frac_sec),
		.period_shift = h->counter_period_shift,
		.time_sec = le64_to_cpu(h->time_sec),
		.time_frac_sec = le64_to_cpu(h->time_frac_sec),
	};
	u64 est = le64_to_cpu(h->counter_period_esterror_rate_frac_sec);
	u64 max = le64_to_cpu(h->counter_period_maxerror_rate_frac_sec);
	struct kvm_vmclock_params gp;
	int r;

	if (hp.period_shift > 63 || est > hp.period_frac_sec ||
	    max > hp.period_frac_sec)
		return -EINVAL;

	r = kvm_vmclock_guest_params(&hp, offset, ratio, frac_bits, &gp);
	if (r)
		return r;

	*g = *h;
	g->counter_value = cpu_to_le64(gp.counter_value);
	g->counter_period_frac_sec = cpu_to_le64(gp.period_frac_sec);
	g->counter_period_shift = gp.period_shift;
	g->time_sec = cpu_to_le64(gp.time_sec);
	g->time_frac_sec = cpu_to_le64(gp.time_frac_sec);
	g->counter_period_esterror_rate_frac_sec =
		cpu_to_le64(vmclock_scale_rate(est, hp.period_frac_sec,
					       gp.period_frac_sec));
	g->counter_period_maxerror_rate_frac_sec =
		cpu_to_le64(vmclock_scale_rate(max, hp.period_frac_sec,
					       gp.period_frac_sec));
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_vmclock_user_to_guest);

/**
 * kvm_vmclock_time_at - time of a clock at a counter value
 * @p: the clock
 * @counter: counter value, not before @p->counter_value (modulo 2^64)
 * @frac_sec: result, fraction of a second in 2^-64 s
 *
 * Computes as drivers/ptp/ptp_vmclock.c does.
 *
 * Return: seconds.
 */
VISIBLE_IF_KUNIT u64 kvm_vmclock_time_at(const struct kvm_vmclock_params *p,
					 u64 counter, u64 *frac_sec)
{
	u128 res = (u128)(counter - p->counter_value) * p->period_frac_sec;

	res >>= p->period_shift;
	res += p->time_frac_sec;
	*frac_sec = (u64)res;
	return p->time_sec + (u64)(res >> 64);
}
EXPORT_SYMBOL_IF_KUNIT(kvm_vmclock_time_at);

/**
 * kvm_vmclock_host_line - the line to publish for a timekeeper snapshot
 * @host: the snapshot
 * @p: result, in the host counter domain
 *
 * The reference point is the timekeeper's CLOCK_REALTIME at @host->now (on
 * the timekeeper's current line: from @host->cycle_last at mult), where the
 * published line and the host clock then meet, and the period is the NTP
 * rate, @host->tick_len per @host->cycle_interval, or mult if that cannot
 * be used.
 *
 * Return: 0, or -EINVAL / -ERANGE for unusable parameters.
 */
VISIBLE_IF_KUNIT int kvm_vmclock_host_line(const struct kvm_vmclock_host *host,
					   struct kvm_vmclock_params *p)
{
	struct kvm_vmclock_params rate;
	int r;

	r = kvm_vmclock_host_params(host->cycle_last, host->mult, host->shift,
				    host->xtime_sec, host->xtime_nsec, p);
	if (r)
		return r;

	/* Move the reference point to now, on the timekeeper's line. */
	if (host->now != host->cycle_last) {
		p->time_sec = kvm_vmclock_time_at(p, host->now,
						  &p->time_frac_sec);
		p->counter_value = host->now;
	}

	if (!kvm_vmclock_period(host->tick_len, host->cycle_interval,
				NTP_SCALE_SHIFT, &rate)) {
		p->period_frac_sec = rate.period_frac_sec;
		p->period_shift = rate.period_shift;
	}
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_vmclock_host_line);

/**
 * kvm_vmclock_ntp_status - clock_status for the host's NTP state
 * @ntp: the NTP state
 *
 * Return: VMCLOCK_STATUS_SYNCHRONIZED while the host clock is synchronized
 * (STA_UNSYNC clear), VMCLOCK_STATUS_FREERUNNING if it was and no longer
 * is, VMCLOCK_STATUS_UNKNOWN if it never was since the host booted.
 */
VISIBLE_IF_KUNIT u8 kvm_vmclock_ntp_status(const struct kvm_vmclock_ntp *ntp)
{
	if (!(ntp->status & STA_UNSYNC))
		return VMCLOCK_STATUS_SYNCHRONIZED;
	return ntp->was_synced ? VMCLOCK_STATUS_FREERUNNING :
				 VMCLOCK_STATUS_UNKNOWN;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_vmclock_ntp_status);

/**
 * kvm_vmclock_ntp_leap - leap_indicator for the host's NTP state
 * @ntp: the NTP state
 *
 * A leap second is armed with STA_INS or STA_DEL (NTP daemons do so on the
 * last day of a month; the kernel applies it at the end of that UTC day):
 * PRE_POS or PRE_NEG, until the kernel steps the clock at midnight.  While
 * the inserted second runs (TIME_OOP: CLOCK_REALTIME repeats 23:59:59),
 * POS.  After it (TIME_WAIT, until the daemon clears the flag), POST_POS
 * or POST_NEG.  NONE otherwise.
 *
 * Return: a VMCLOCK_LEAP_* value.
 */
VISIBLE_IF_KUNIT u8 kvm_vmclock_ntp_leap(const struct kvm_vmclock_ntp *ntp)
{
	switch (ntp->state) {
	case TIME_OOP:
		return VMCLOCK_LEAP_POS;
	case TIME_WAIT:
		if (ntp->status & STA_INS)
			return VMCLOCK_LEAP_POST_POS;
		if (ntp->status & STA_DEL)
			return VMCLOCK_LEAP_POST_NEG;
		return VMCLOCK_LEAP_NONE;
	case TIME_OK:
	case TIME_INS:
	case TIME_DEL:
		/* TIME_INS / TIME_DEL without their flag: back to TIME_OK. */
		if (ntp->status & STA_INS && ntp->state != TIME_DEL)
			return VMCLOCK_LEAP_PRE_POS;
		if (ntp->status & STA_DEL && ntp->state != TIME_INS)
			return VMCLOCK_LEAP_PRE_NEG;
		return VMCLOCK_LEAP_NONE;
	default:
		return VMCLOCK_LEAP_NONE;
	}
}
EXPORT_SYMBOL_IF_KUNIT(kvm_vmclock_ntp_leap);

/* The largest |time - @ntp->xtime_sec| the error arithmetic takes */
#define VMCLOCK_NTP_MAX_SEC	((s64)U32_MAX)

/**
 * kvm_vmclock_ntp_same - whether two NTP states give the same page
 * @old: the state the page was computed from
 * @now: a later state
 *
 * Same status, leap indicator and estimated error and, while
 * synchronized, the same maximum error function of time: @now's maximum
 * error is @old's grown by the rate for each second since (the kernel's
 * growth, which the page states as a rate).
 *
 * Return: true if a page computed from @now says the same as one computed
 * from @old.
 */
VISIBLE_IF_KUNIT bool kvm_vmclock_ntp_same(const struct kvm_vmclock_ntp *old,
					   const struct kvm_vmclock_ntp *now)
{
	if (kvm_vmclock_ntp_status(old) != kvm_vmclock_ntp_status(now) ||
	    kvm_vmclock_ntp_leap(old) != kvm_vmclock_ntp_leap(now))
		return false;
	if (now->status & STA_UNSYNC)
		return true;
	return old->esterror_us == now->esterror_us &&
	       old->maxerror_rate_us == now->maxerror_rate_us &&
	       now->xtime_sec >= old->xtime_sec &&
	       now->xtime_sec - old->xtime_sec <= VMCLOCK_NTP_MAX_SEC &&
	       now->maxerror_us - old->maxerror_us ==
	       (s64)(now->xtime_sec - old->xtime_sec) * old->maxerror_rate_us;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_vmclock_ntp_same);

/*
 * A rewrite that the host's rate made necessary is visible within this
 * (the page's own error bound counts on it).
 */
#define VMCLOCK_REWRITE_NS	(10 * NSEC_PER_MSEC)

/**
 * kvm_vmclock_deviation_ns - bound on |page - host CLOCK_REALTIME|
 * @max_error_ns: the update policy's bound (vmclock_max_error_ns)
 *
 * The policy keeps the page within @max_error_ns of the host's clock at
 * the host's current rate.  When the rate changes, by up to 2 * MAXFREQ
 * (the range of ADJ_FREQUENCY), the page drifts at that rate until its
 * rewrite is visible, which takes up to VMCLOCK_REWRITE_NS.
 *
 * Return: the bound, in ns.
 */
VISIBLE_IF_KUNIT u64 kvm_vmclock_deviation_ns(u32 max_error_ns)
{
	return max_error_ns +
	       DIV_ROUND_UP_ULL(VMCLOCK_REWRITE_NS * 2 * MAXFREQ, NSEC_PER_SEC);
}
EXPORT_SYMBOL_IF_KUNIT(kvm_vmclock_deviation_ns);

/**
 * kvm_vmclock_ntp_errors - the error fields of a page
 * @ntp: the NTP state
 * @line: the page's clock (time at counter_value, and the period)
 * @max_error_ns: the update policy's bound (vmclock_max_error_ns)
 * @clk: result: time_esterror_nanosec, time_maxerror_nanosec, the period
 *	 maximum error rate and their VALID flags (or'ed into @clk->flags);
 *	 left alone unless the host clock is synchronized
 *
 * The host's maximum error at time t is at most M + R * (t - S): M =
 * @ntp->maxerror_us, R = @ntp->maxerror_rate_us per second (MAXFREQ, the
 * frequency tolerance adjtimex() reports), S = @ntp->xtime_sec, because
 * the kernel adds R once per second boundary after S, when it processes
 * it (later, not earlier).  The page differs from the host's clock by up
 * to D (kvm_vmclock_deviation_ns()), so a guest's error is at most D plus
 * the host's at a time up to D away.  The page states that as a linear
 * bound from its reference time T (time_sec, time_frac_sec at
 * counter_value):
 *
 *	time_maxerror_nanosec = M + R * (T - S) + D + R * D + 1 ns
 *
 * rounded up (and not below the margin: T may be before S when the line
 * is older than the NTP state), and counter_period_maxerror_rate_frac_sec
 * = R * period, rounded up: the period's maximum error at the kernel's
 * frequency tolerance.  A guest's bound at any later counter value,
 * time_maxerror_nanosec + (counter - counter_value) * rate, is not below
 * the host's plus D.  The 1 ns is for the rounding.  The estimated error
 * is the host's, which the kernel keeps between adjtimex() calls; the
 * period has no estimate, so its flag stays clear.
 */
VISIBLE_IF_KUNIT void kvm_vmclock_ntp_errors(const struct kvm_vmclock_ntp *ntp,
					     const struct kvm_vmclock_params *line,
					     u32 max_error_ns,
					     struct vmclock_abi *clk)
{
	u64 rate = clamp_t(long, ntp->maxerror_rate_us, 0, USEC_PER_SEC);
	u64 est = clamp_t(long, ntp->esterror_us, 0, INT_MAX);
	u64 max = clamp_t(long, ntp->maxerror_us, 0, INT_MAX);
	s64 dsec = clamp_t(s64, (s64)(line->time_sec - ntp->xtime_sec),
			   -VMCLOCK_NTP_MAX_SEC, VMCLOCK_NTP_MAX_SEC);
	u64 dev = kvm_vmclock_deviation_ns(max_error_ns);
	u64 frac_ns, margin, prate;
	s64 bound;
	u128 p;

	if (ntp->status & STA_UNSYNC)
		return;

	/* R * (T - S) in ns, rounded up: whole seconds, then the fraction */
	frac_ns = mul_u64_u64_shr(line->time_frac_sec, NSEC_PER_SEC, 64) + 1;
	bound = (s64)max * NSEC_PER_USEC + dsec * (s64)(rate * NSEC_PER_USEC) +
		(s64)DIV_ROUND_UP_ULL(rate * frac_ns, USEC_PER_SEC);
	margin = dev + DIV_ROUND_UP_ULL(rate * dev, USEC_PER_SEC) + 1;

	/* R * period, rounded up; R is at most one second per second */
	p = (u128)line->period_frac_sec * rate;
	prate = mul_u64_u64_div_u64(line->period_frac_sec, rate, USEC_PER_SEC);
	if ((u128)prate * USEC_PER_SEC < p)
		prate++;

	clk->time_esterror_nanosec = cpu_to_le64(est * NSEC_PER_USEC);
	clk->time_maxerror_nanosec = cpu_to_le64(max_t(s64, bound, 0) + margin);
	clk->counter_period_maxerror_rate_frac_sec = cpu_to_le64(prate);
	clk->flags |= cpu_to_le64(VMCLOCK_FLAG_TIME_ESTERROR_VALID |
				  VMCLOCK_FLAG_TIME_MAXERROR_VALID |
				  VMCLOCK_FLAG_PERIOD_MAXERROR_VALID);
}
EXPORT_SYMBOL_IF_KUNIT(kvm_vmclock_ntp_errors);

/* Sub-nanosecond unit of the policy's arithmetic: 2^-16 ns */
#define VMCLOCK_ERR_SHIFT	16
/* Beyond this (in 2^-16 ns), the difference is not worth computing exactly */
#define VMCLOCK_ERR_HUGE	((s64)NSEC_PER_SEC << VMCLOCK_ERR_SHIFT)

/*
 * Published line minus the timekeeper's CLOCK_REALTIME at @now->now, in
 * 2^-16 ns, saturated to +-VMCLOCK_ERR_HUGE.  @now->now is not before the
 * line's reference point, which is a snapshot's now.  Called at every
 * timekeeper update, so without a division: the timekeeper's clock is
 * xtime_sec s + (xtime_nsec + (now - cycle_last) * mult) >> shift ns, and
 * the line's fraction of a second converts to ns with one multiplication.
 */
static s64 vmclock_line_error(const struct kvm_vmclock_params *line,
			      const struct kvm_vmclock_host *now)
{
	u64 delta = now->now - now->cycle_last;
	u64 lsec, lfrac;
	u128 host, page;
	s128 err;

	if ((s64)(now->now - line->counter_value) < 0 || (s64)delta < 0)
		return VMCLOCK_ERR_HUGE;

	/* Both in 2^-16 ns since the epoch */
	host = (u128)delta * now->mult + now->xtime_nsec;
	host = (host << VMCLOCK_ERR_SHIFT) >> now->shift;
	host += ((u128)now->xtime_sec * NSEC_PER_SEC) << VMCLOCK_ERR_SHIFT;

	lsec = kvm_vmclock_time_at(line, now->now, &lfrac);
	page = ((u128)lsec * NSEC_PER_SEC) << VMCLOCK_ERR_SHIFT;
	page += mul_u64_u64_shr(lfrac, NSEC_PER_SEC << VMCLOCK_ERR_SHIFT, 64);

	err = (s128)(page - host);
	return clamp_t(s128, err, -VMCLOCK_ERR_HUGE, VMCLOCK_ERR_HUGE);
}

/* Changes that always need a republication: the line's frame changed. */
static bool kvm_vmclock_host_changed(const struct kvm_vmclock_host *old,
				     const struct kvm_vmclock_host *now)
{
	return old->shift != now->shift ||
	       old->cycle_interval != now->cycle_interval ||
	       old->tai_offset != now->tai_offset ||
	       old->tai_set != now->tai_set ||
	       old->vclock_mode != now->vclock_mode ||
	       old->cs_id != now->cs_id ||
	       old->counter_ok != now->counter_ok;
}

/*
 * The line can be computed from the snapshot: the host clocksource was
 * the architecture's counter, and stable, when it was taken, and still is.
 */
static bool kvm_vmclock_host_is_counter(const struct kvm_vmclock_host *host)
{
	return host->counter_ok &&
	       kvm_arch_vmclock_host_counter(host->vclock_mode, host->cs_id);
}

/**
 * kvm_vmclock_line_stale - the update policy
 * @old: the snapshot @line was computed from
 * @line: the published line, in the host counter domain
 * @now: the current snapshot
 * @max_error_ns: bound on |line - CLOCK_REALTIME|; 0: always stale
 *
 * O(1), no locks, no timekeeping reads: called from the timekeeper
 * notifier.  Between two timekeeper updates the timekeeper's clock moves
 * linearly at mult, which differs from the NTP rate by at most one unit
 * plus the change of the NTP rate since @old, so the difference to the
 * line is at most
 *
 *	max(|e|, |e - drift|) + cycle_interval * 2^-shift ns
 *
 * where e is the difference now (line minus host) and drift how much
 * faster the host clock runs than the line in one second (at least a
 * tick): the NTP rate's change since @old.  A longer tick_len makes the
 * host faster, so the difference shrinks by drift when e and drift have
 * the same sign, and grows when they do not.  The line is stale when that
 * exceeds @max_error_ns.
 *
 * Return: true if the line must be recomputed and republished.
 */
VISIBLE_IF_KUNIT bool kvm_vmclock_line_stale(const struct kvm_vmclock_host *old,
					     const struct kvm_vmclock_params *line,
					     const struct kvm_vmclock_host *now,
					     u32 max_error_ns)
{
	s64 e, drift, step, lim, bound = (s64)max_error_ns << VMCLOCK_ERR_SHIFT;
	s64 dtick = now->tick_len - old->tick_len;

	if (!max_error_ns || kvm_vmclock_host_changed(old, now))
		return true;

	/* A drift of more than 2^21 ns (~2 ms) per second: stale. */
	lim = (1LL << (NTP_SCALE_SHIFT + 21)) / NTP_INTERVAL_FREQ;
	if (dtick > lim || dtick < -lim)
		return true;

	/* dtick is in ns << NTP_SCALE_SHIFT per tick; host minus line, per s */
	drift = (dtick * NTP_INTERVAL_FREQ) >> (NTP_SCALE_SHIFT - VMCLOCK_ERR_SHIFT);
	/* One unit of mult over one tick, rounded up */
	step = (((u128)now->cycle_interval << VMCLOCK_ERR_SHIFT) +
		(1ULL << now->shift) - 1) >> now->shift;
	e = vmclock_line_error(line, now);

	return max(abs(e), abs(e - drift)) + step > bound;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_vmclock_line_stale);

/*
 * Written by the notifier under kvm_vmclock_host_seq: the line to publish,
 * the snapshot it was computed from, and whether it is usable.  While no
 * VM has a page (kvm_vmclock_in_use()), the notifier only stores the
 * snapshot and sets kvm_vmclock_line_idle: no counter read, no arithmetic.
 * A page published then computes its line from that snapshot, as the next
 * notifier call does before it judges the line.
 */
static seqcount_t kvm_vmclock_host_seq = SEQCNT_ZERO(kvm_vmclock_host_seq);
static struct kvm_vmclock_host kvm_vmclock_line_host;
static struct kvm_vmclock_params kvm_vmclock_line;
static bool kvm_vmclock_line_valid;
static bool kvm_vmclock_line_idle = true;
/*
 * The host's NTP state, under kvm_vmclock_host_seq too: stored when its
 * ntp_seq changes (and while idle), without touching the line.
 */
static struct kvm_vmclock_ntp kvm_vmclock_ntp;

/* The line for a snapshot, if the host clock is the counter and usable. */
static bool kvm_vmclock_compute_line(const struct kvm_vmclock_host *host,
				     struct kvm_vmclock_params *line)
{
	return kvm_vmclock_host_is_counter(host) &&
	       !kvm_vmclock_host_line(host, line);
}

static u32 __read_mostly vmclock_max_error_ns = 10;
module_param(vmclock_max_error_ns, uint, 0644);
MODULE_PARM_DESC(vmclock_max_error_ns,
		 "vmclock automatic mode: republish when the page could differ from CLOCK_REALTIME by more (ns); 0: at every timekeeper update");

static void kvm_vmclock_irq_work_fn(struct irq_work *w)
{
	kvm_vmclock_update_all();
}

static DEFINE_IRQ_WORK(kvm_vmclock_irq_work, kvm_vmclock_irq_work_fn);

/**
 * kvm_vmclock_timekeeper_update - the host timekeeper was updated
 * @tk: the timekeeper passed to the architecture's pvclock_gtod notifier
 *	(only handed to timekeeping_get_pv_state())
 * @was_set: the notifier's action: the clock was set
 *
 * Called from the architecture's pvclock_gtod notifier: tk_core.lock held,
 * tk_core.seq write-held, IRQs off.  No timekeeping reads, no sleeping,
 * no queue_work().  Serialised by tk_core.lock.
 */
void kvm_vmclock_timekeeper_update(struct timekeeper *tk, bool was_set)
{
	struct timekeeping_pv_state st;
	struct kvm_vmclock_host now;
	struct kvm_vmclock_params line;
	struct kvm_vmclock_ntp ntp;
	bool stale, ntp_changed, valid;
	u64 counter;

	timekeeping_get_pv_state(tk, &st);
	ntp = (struct kvm_vmclock_ntp) {
		.status = st.ntp_status,
		.state = st.ntp_state,
		.esterror_us = st.ntp_esterror,
		.maxerror_us = st.ntp_maxerror,
		.maxerror_rate_us = st.ntp_maxerror_rate,
		.xtime_sec = st.xtime_sec,
		.seq = st.ntp_seq,
		.was_synced = st.ntp_was_synced,
	};
	now = (struct kvm_vmclock_host) {
		.cycle_last = st.cycle_last,
		.now = st.cycle_last,
		.xtime_sec = st.xtime_sec,
		.xtime_nsec = st.xtime_nsec,
		.mult = st.mult,
		.shift = st.shift,
		.tick_len = st.ntp_tick_len,
		.cycle_interval = st.cycle_interval,
		.tai_offset = st.tai_offset,
		.tai_set = st.tai_offset_set,
		.vclock_mode = st.vdso_clock_mode,
		.cs_id = st.cs_id,
		.counter_ok = kvm_arch_vmclock_host_counter(st.vdso_clock_mode,
							    st.cs_id),
	};

	if (!kvm_vmclock_in_use()) {
		write_seqcount_begin(&kvm_vmclock_host_seq);
		kvm_vmclock_line_host = now;
		kvm_vmclock_line_valid = false;
		kvm_vmclock_line_idle = true;
		kvm_vmclock_ntp = ntp;
		write_seqcount_end(&kvm_vmclock_host_seq);
		return;
	}

	/*
	 * The first call since a page was published: adopt the line that
	 * the page computed from the idle snapshot, then judge it.
	 */
	if (kvm_vmclock_line_idle) {
		valid = kvm_vmclock_compute_line(&kvm_vmclock_line_host, &line);
		write_seqcount_begin(&kvm_vmclock_host_seq);
		if (valid)
			kvm_vmclock_line = line;
		kvm_vmclock_line_valid = valid;
		kvm_vmclock_line_idle = false;
		write_seqcount_end(&kvm_vmclock_host_seq);
	}

	/*
	 * Judge and anchor the line at the current counter: the update may
	 * come late, or between ticks (ADJ_FREQUENCY), and the timekeeper's
	 * line from cycle_last at the new mult is only the host clock from
	 * now on.
	 */
	if (kvm_vmclock_host_is_counter(&now)) {
		counter = kvm_arch_vmclock_read_counter();
		if ((s64)(counter - now.cycle_last) > 0)
			now.now = counter;
	}

	stale = was_set ||
		kvm_vmclock_host_changed(&kvm_vmclock_line_host, &now) ||
		(kvm_vmclock_line_valid &&
		 kvm_vmclock_line_stale(&kvm_vmclock_line_host,
					&kvm_vmclock_line, &now,
					READ_ONCE(vmclock_max_error_ns)));
	/*
	 * NTP's status, leap state or error estimates were written (not only
	 * the maximum error's growth, which the page states as a rate).  If
	 * the page would say something else, republish it, with the line
	 * anchored now, so that the maximum error is stated from the same
	 * second as the host's.  If not (TIME_OK -> TIME_INS, an unchanged
	 * write), only store the state.
	 */
	ntp_changed = ntp.seq != kvm_vmclock_ntp.seq;
	if (ntp_changed && !stale &&
	    kvm_vmclock_ntp_same(&kvm_vmclock_ntp, &ntp)) {
		write_seqcount_begin(&kvm_vmclock_host_seq);
		kvm_vmclock_ntp = ntp;
		write_seqcount_end(&kvm_vmclock_host_seq);
		return;
	}
	stale |= ntp_changed;
	if (!stale)
		return;

	/*
	 * Without a usable line the page says unreliable, and only a step or
	 * a change of the clocksource is worth another try.
	 */
	valid = kvm_vmclock_compute_line(&now, &line);

	write_seqcount_begin(&kvm_vmclock_host_seq);
	kvm_vmclock_line_host = now;
	if (valid)
		kvm_vmclock_line = line;
	kvm_vmclock_line_valid = valid;
	kvm_vmclock_ntp = ntp;
	write_seqcount_end(&kvm_vmclock_host_seq);

	irq_work_queue(&kvm_vmclock_irq_work);
}

/**
 * kvm_vmclock_timekeeper_exit - stop the work the notifier queues
 *
 * For the architecture's module exit, after it unregistered the
 * pvclock_gtod notifier that calls kvm_vmclock_timekeeper_update(), and
 * after all VMs are gone.
 */
void kvm_vmclock_timekeeper_exit(void)
{
	irq_work_sync(&kvm_vmclock_irq_work);
	kvm_vmclock_cancel_update_all();
}

/*
 * The current line and its snapshot; computed here from the idle snapshot
 * if the notifier has not done so yet.  Any context.
 */
static bool kvm_vmclock_read_line(struct kvm_vmclock_host *host,
				  struct kvm_vmclock_params *line,
				  struct kvm_vmclock_ntp *ntp)
{
	unsigned int seq;
	bool valid, idle;

	do {
		seq = read_seqcount_begin(&kvm_vmclock_host_seq);
		*host = kvm_vmclock_line_host;
		*line = kvm_vmclock_line;
		*ntp = kvm_vmclock_ntp;
		valid = kvm_vmclock_line_valid;
		idle = kvm_vmclock_line_idle;
	} while (read_seqcount_retry(&kvm_vmclock_host_seq, seq));

	if (idle)
		valid = kvm_vmclock_compute_line(host, line);
	/* Ask the architecture again: the notifier may not have run yet. */
	return valid && kvm_vmclock_host_is_counter(host);
}

/**
 * kvm_vmclock_fill_auto - the clock of an AUTO page
 * @kvm: the VM
 * @clk: result: everything but magic, size, version, seq_count,
 *	 disruption_marker, vm_generation_counter and the flags the VMM
 *	 sets, which the caller sets; zeroed by the caller
 *
 * The host's CLOCK_REALTIME in the guest's counter domain, or UNRELIABLE,
 * with no counter value, period or time, while the host clocksource is
 * not the counter or the guest's counter is not defined (see
 * kvm_arch_vmclock_guest_counter()).  kvm->vmclock.page_lock held: does
 * not sleep.
 */
void kvm_vmclock_fill_auto(struct kvm *kvm, struct vmclock_abi *clk)
{
	struct kvm_vmclock_params h, g;
	struct kvm_vmclock_host host;
	struct kvm_vmclock_counter c;
	struct kvm_vmclock_ntp ntp;
	bool valid, guest;

	valid = kvm_vmclock_read_line(&host, &h, &ntp);
	guest = kvm_arch_vmclock_guest_counter(kvm, &c);

	/* Constant from before the guest boots: ptp_vmclock probes once. */
	clk->counter_id = c.counter_id;
	clk->time_type = VMCLOCK_TIME_UTC;
	clk->clock_status = VMCLOCK_STATUS_UNRELIABLE;

	/* UTC - TAI; not the kernel's own leap steps of an offset never set */
	if (host.tai_set) {
		clk->flags = cpu_to_le64(VMCLOCK_FLAG_TAI_OFFSET_VALID);
		clk->tai_offset_sec = cpu_to_le16((u16)(s16)-host.tai_offset);
	}
	/* What the host's NTP knows of leap seconds, also while unreliable */
	clk->leap_indicator = kvm_vmclock_ntp_leap(&ntp);

	if (!valid || !guest)
		return;

	if (kvm_vmclock_guest_params(&h, c.offset, c.ratio, c.frac_bits, &g))
		return;

	clk->counter_value = cpu_to_le64(g.counter_value);
	clk->counter_period_frac_sec = cpu_to_le64(g.period_frac_sec);
	clk->counter_period_shift = g.period_shift;
	clk->time_sec = cpu_to_le64(g.time_sec);
	clk->time_frac_sec = cpu_to_le64(g.time_frac_sec);
	clk->clock_status = kvm_vmclock_ntp_status(&ntp);
	kvm_vmclock_ntp_errors(&ntp, &g, READ_ONCE(vmclock_max_error_ns), clk);
}

/**
 * kvm_vmclock_fill_user - the clock of a USER page
 * @kvm: the VM
 * @host: the clock given by the VMM, in the host counter domain, whose
 *	  generic fields were validated
 * @clk: result: @host in the guest's counter domain
 *
 * While the guest's counter is not defined (see
 * kvm_arch_vmclock_guest_counter()), and while KVM does not trust the
 * host counter (the host clocksource left it, or it was marked unstable),
 * the page is UNRELIABLE, with no counter, period or time.
 * kvm->vmclock.page_lock held: does not sleep.
 *
 * Return: 0, or -EINVAL if @host is not for the guest's counter or cannot
 * be expressed in its domain.
 */
int kvm_vmclock_fill_user(struct kvm *kvm, const struct vmclock_abi *host,
			  struct vmclock_abi *clk)
{
	struct kvm_vmclock_params line;
	struct kvm_vmclock_counter c;
	struct kvm_vmclock_host tk;
	struct kvm_vmclock_ntp ntp;
	bool guest;

	guest = kvm_arch_vmclock_guest_counter(kvm, &c);
	if (host->counter_id != c.counter_id)
		return -EINVAL;

	kvm_vmclock_read_line(&tk, &line, &ntp);
	if (kvm_vmclock_host_is_counter(&tk) && guest)
		return kvm_vmclock_user_to_guest(host, c.offset, c.ratio,
						 c.frac_bits, clk) ? -EINVAL : 0;

	*clk = *host;
	clk->clock_status = VMCLOCK_STATUS_UNRELIABLE;
	clk->counter_value = 0;
	clk->counter_period_frac_sec = 0;
	clk->counter_period_shift = 0;
	clk->counter_period_esterror_rate_frac_sec = 0;
	clk->counter_period_maxerror_rate_frac_sec = 0;
	clk->time_sec = 0;
	clk->time_frac_sec = 0;
	clk->flags &= cpu_to_le64(~(u64)(VMCLOCK_FLAG_PERIOD_ESTERROR_VALID |
					 VMCLOCK_FLAG_PERIOD_MAXERROR_VALID));
	return 0;
}
