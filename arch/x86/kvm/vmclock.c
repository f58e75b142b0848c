// SPDX-License-Identifier: GPL-2.0-only
/*
 * KVM/x86 vmclock provider: the host's CLOCK_REALTIME, expressed in the
 * guest's TSC, for the generic core in virt/kvm/vmclock.c.
 *
 * The timekeeper notifier (pvclock_gtod_notify(), with tk_core.seq
 * write-held and IRQs off) stores a snapshot of the timekeeper in a
 * seqcount-protected global, O(1) whatever the number of VMs, and decides
 * whether the published line, time = time_sec + (counter - counter_value) *
 * period, is still good (kvm_vmclock_line_stale()).  Only if it is not does
 * it compute a new line, in the host TSC domain, and queue an irq_work,
 * which asks the generic core to republish all VMs from a workqueue
 * (kvm_vmclock_update_all()).  The per-VM work then calls
 * kvm_arch_vmclock_fill() in process context, which converts that line
 * into the guest's TSC domain with the vCPUs' TSC offset and scaling ratio.
 *
 * The update policy.  The timekeeper dithers its multiplier by one unit
 * around the rate NTP asks for (tick_len per cycle_interval), so mult
 * changes often while the clock follows the same long-run line.  The page
 * therefore publishes the NTP rate itself, and is rewritten only when
 *
 *  - the clock was set (settimeofday, ADJ_SETOFFSET, leap second, TAI
 *    offset change, resume), or the clocksource, its shift or tick, or the
 *    TSC's stability changed: at the next timekeeper update;
 *  - the line would differ from the timekeeper's CLOCK_REALTIME by more
 *    than vmclock_max_error_ns before the next update, judged at each
 *    update from the current difference, the dithering step (one unit of
 *    mult over one tick) and the drift of one second at the current NTP
 *    rate.  An ADJ_FREQUENCY change makes the drift large at once, so it
 *    costs one rewrite; small NTP slews are absorbed until they add up.
 *
 * vmclock_max_error_ns = 0 rewrites at every timekeeper update (for
 * comparison and debugging).
 */

#include <linux/clocksource_ids.h>
#include <linux/irq_work.h>
#include <linux/kvm_host.h>
#include <linux/math64.h>
#include <linux/moduleparam.h>
#include <linux/seqlock.h>
#include <linux/timekeeper_internal.h>
#include <linux/timex.h>
#include <kunit/visibility.h>
#include <asm/tsc.h>

#include "vmclock.h"
#include "x86.h"

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
 * @p: result, in the host TSC domain
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
	       old->vclock_mode != now->vclock_mode ||
	       old->cs_id != now->cs_id ||
	       old->tsc_unstable != now->tsc_unstable;
}

static bool kvm_vmclock_host_is_tsc(const struct kvm_vmclock_host *host)
{
	/*
	 * mult must convert TSC cycles: not the case for HVCLOCK, which
	 * counts Hyper-V reference time units.
	 */
	return host->vclock_mode == VDSO_CLOCKMODE_TSC &&
	       (host->cs_id == CSID_X86_TSC || host->cs_id == CSID_X86_TSC_EARLY) &&
	       !host->tsc_unstable && !check_tsc_unstable();
}

/**
 * kvm_vmclock_line_stale - the update policy
 * @old: the snapshot @line was computed from
 * @line: the published line, in the host TSC domain
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
 * snapshot and sets kvm_vmclock_line_idle: no TSC read, no arithmetic.  A
 * page published then computes its line from that snapshot, as the next
 * notifier call does before it judges the line.
 */
static seqcount_t kvm_vmclock_host_seq = SEQCNT_ZERO(kvm_vmclock_host_seq);
static struct kvm_vmclock_host kvm_vmclock_line_host;
static struct kvm_vmclock_params kvm_vmclock_line;
static bool kvm_vmclock_line_valid;
static bool kvm_vmclock_line_idle = true;

/* The line for a snapshot, if the host clock is the TSC and it is usable. */
static bool kvm_vmclock_compute_line(const struct kvm_vmclock_host *host,
				     struct kvm_vmclock_params *line)
{
	return kvm_vmclock_host_is_tsc(host) &&
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

/*
 * Called from pvclock_gtod_notify(): tk_core.lock held, tk_core.seq
 * write-held, IRQs off.  No timekeeping reads, no sleeping, no queue_work().
 * Serialised by tk_core.lock.
 */
void kvm_vmclock_gtod_notify(struct timekeeper *tk, bool was_set)
{
	struct kvm_vmclock_host now = {
		.cycle_last = tk->tkr_mono.cycle_last,
		.now = tk->tkr_mono.cycle_last,
		.xtime_sec = tk->xtime_sec,
		.xtime_nsec = tk->tkr_mono.xtime_nsec,
		.mult = tk->tkr_mono.mult,
		.shift = tk->tkr_mono.shift,
		.tick_len = tk->ntp_tick + tk->skew_delta * NTP_INTERVAL_FREQ,
		.cycle_interval = tk->cycle_interval,
		.tai_offset = tk->tai_offset,
		.vclock_mode = tk->tkr_mono.clock->vdso_clock_mode,
		.cs_id = tk->cs_id,
		.tsc_unstable = check_tsc_unstable(),
	};
	struct kvm_vmclock_params line;
	bool stale, valid;
	u64 tsc;

	if (!kvm_vmclock_in_use()) {
		write_seqcount_begin(&kvm_vmclock_host_seq);
		kvm_vmclock_line_host = now;
		kvm_vmclock_line_valid = false;
		kvm_vmclock_line_idle = true;
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
	 * Judge and anchor the line at the current TSC: the update may come
	 * late, or between ticks (ADJ_FREQUENCY), and the timekeeper's line
	 * from cycle_last at the new mult is only the host clock from now on.
	 */
	if (kvm_vmclock_host_is_tsc(&now)) {
		tsc = rdtsc_ordered();
		if ((s64)(tsc - now.cycle_last) > 0)
			now.now = tsc;
	}

	stale = was_set ||
		kvm_vmclock_host_changed(&kvm_vmclock_line_host, &now) ||
		(kvm_vmclock_line_valid &&
		 kvm_vmclock_line_stale(&kvm_vmclock_line_host,
					&kvm_vmclock_line, &now,
					READ_ONCE(vmclock_max_error_ns)));
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
	write_seqcount_end(&kvm_vmclock_host_seq);

	irq_work_queue(&kvm_vmclock_irq_work);
}

/* Vendor module exit, after the notifier was unregistered. */
void kvm_vmclock_x86_exit(void)
{
	irq_work_sync(&kvm_vmclock_irq_work);
	kvm_vmclock_cancel_update_all();
}

/*
 * The guest TSC domain: the TSC offset and scaling ratio shared by all
 * vCPUs.  False if there is no vCPU yet, the vCPUs disagree, or one of them
 * uses software catch-up (its TSC is not linear in the host's): because its
 * frequency is above the host's without TSC scaling (tsc_always_catchup),
 * or because the host TSC is unstable (tsc_catchup).
 */
static bool kvm_vmclock_guest_tsc(struct kvm *kvm, u64 *offset, u64 *ratio)
{
	struct kvm_vcpu *vcpu;
	unsigned long i;
	bool found = false;

	kvm_for_each_vcpu(i, vcpu, kvm) {
		u64 o = READ_ONCE(vcpu->arch.l1_tsc_offset);
		u64 r = READ_ONCE(vcpu->arch.l1_tsc_scaling_ratio);

		if (READ_ONCE(vcpu->arch.tsc_always_catchup) ||
		    READ_ONCE(vcpu->arch.tsc_catchup))
			return false;
		if (!found) {
			*offset = o;
			*ratio = r;
			found = true;
		} else if (o != *offset || r != *ratio) {
			return false;
		}
	}
	return found;
}

u32 kvm_arch_vmclock_modes(struct kvm *kvm)
{
	/* KVM can neither write the memory nor know the TSC of such VMs. */
	if (kvm && kvm->arch.has_protected_state)
		return 0;
	return BIT(KVM_VMCLOCK_MODE_AUTO) | BIT(KVM_VMCLOCK_MODE_USER);
}

int kvm_arch_vmclock_check(struct kvm *kvm, gpa_t gpa)
{
	struct kvm_vcpu *vcpu;
	unsigned long i;

	if (kvm->arch.has_protected_state)
		return -EOPNOTSUPP;

	kvm_for_each_vcpu(i, vcpu, kvm)
		if (vcpu->arch.guest_tsc_protected)
			return -EOPNOTSUPP;
	return 0;
}

/*
 * The current line and its snapshot; computed here from the idle snapshot
 * if the notifier has not done so yet.  Process context.
 */
static bool kvm_vmclock_read_line(struct kvm_vmclock_host *host,
				  struct kvm_vmclock_params *line)
{
	unsigned int seq;
	bool valid, idle;

	do {
		seq = read_seqcount_begin(&kvm_vmclock_host_seq);
		*host = kvm_vmclock_line_host;
		*line = kvm_vmclock_line;
		valid = kvm_vmclock_line_valid;
		idle = kvm_vmclock_line_idle;
	} while (read_seqcount_retry(&kvm_vmclock_host_seq, seq));

	if (idle)
		valid = kvm_vmclock_compute_line(host, line);
	/* check_tsc_unstable() again: the notifier may not have run yet. */
	return valid && kvm_vmclock_host_is_tsc(host);
}

/* Process context, kvm->vmclock.lock held. */
void kvm_arch_vmclock_fill(struct kvm *kvm, struct vmclock_abi *clk)
{
	struct kvm_vmclock_params h, g;
	struct kvm_vmclock_host host;
	u64 offset, ratio;
	bool valid;

	valid = kvm_vmclock_read_line(&host, &h);

	/* Constant from before the guest boots: ptp_vmclock probes once. */
	clk->counter_id = VMCLOCK_COUNTER_X86_TSC;
	clk->time_type = VMCLOCK_TIME_UTC;
	clk->clock_status = VMCLOCK_STATUS_UNRELIABLE;

	/* tai_offset_sec is UTC - TAI. 0 means nobody set the TAI offset. */
	if (host.tai_offset) {
		clk->flags = cpu_to_le64(VMCLOCK_FLAG_TAI_OFFSET_VALID);
		clk->tai_offset_sec = cpu_to_le16((u16)(s16)-host.tai_offset);
	}

	if (!valid || !kvm_vmclock_guest_tsc(kvm, &offset, &ratio))
		return;

	if (kvm_vmclock_guest_params(&h, offset, ratio,
				     kvm_caps.tsc_scaling_ratio_frac_bits, &g))
		return;

	clk->counter_value = cpu_to_le64(g.counter_value);
	clk->counter_period_frac_sec = cpu_to_le64(g.period_frac_sec);
	clk->counter_period_shift = g.period_shift;
	clk->time_sec = cpu_to_le64(g.time_sec);
	clk->time_frac_sec = cpu_to_le64(g.time_frac_sec);
	clk->clock_status = VMCLOCK_STATUS_SYNCHRONIZED;
}

/*
 * USER mode: @host is a validated clock in the host TSC domain.  Process
 * context, kvm->vmclock.lock held.  While the guest TSC domain is not
 * defined (see kvm_vmclock_guest_tsc()), and while KVM does not trust the
 * host TSC (the host clocksource left it, or it was marked unstable), the
 * page is UNRELIABLE, with no counter, period or time.
 */
int kvm_arch_vmclock_fill_user(struct kvm *kvm, const struct vmclock_abi *host,
			       struct vmclock_abi *clk)
{
	struct kvm_vmclock_params line;
	struct kvm_vmclock_host tk;
	u64 offset, ratio;

	if (host->counter_id != VMCLOCK_COUNTER_X86_TSC)
		return -EINVAL;

	kvm_vmclock_read_line(&tk, &line);
	if (kvm_vmclock_host_is_tsc(&tk) &&
	    kvm_vmclock_guest_tsc(kvm, &offset, &ratio))
		return kvm_vmclock_user_to_guest(host, offset, ratio,
						 kvm_caps.tsc_scaling_ratio_frac_bits,
						 clk) ? -EINVAL : 0;

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
