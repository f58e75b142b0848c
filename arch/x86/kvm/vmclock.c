// SPDX-License-Identifier: GPL-2.0-only
/*
 * KVM/x86 vmclock provider: the host's CLOCK_REALTIME, expressed in the
 * guest's TSC, for the generic core in virt/kvm/vmclock.c.
 *
 * The timekeeper notifier (pvclock_gtod_notify(), with tk_core.seq
 * write-held and IRQs off) stores a snapshot of the timekeeper's
 * (cycle_last, CLOCK_REALTIME, mult/shift) in a seqcount-protected global,
 * O(1) whatever the number of VMs, and queues an irq_work only when
 * something that is published changed.  The irq_work asks the generic core
 * to republish all VMs (kvm_vmclock_update_all()), from a workqueue.  The
 * per-VM work then calls kvm_arch_vmclock_fill() in process context, which
 * converts the snapshot into the guest's TSC domain with the reference
 * vCPU's TSC offset and scaling ratio.
 */

#include <linux/clocksource_ids.h>
#include <linux/irq_work.h>
#include <linux/kvm_host.h>
#include <linux/math64.h>
#include <linux/seqlock.h>
#include <linux/timekeeper_internal.h>
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
	unsigned int t;
	u64 sec, q;

	if (!mult || !shift || shift > 63)
		return -EINVAL;

	/* Normalise so that xtime_nsec < NSEC_PER_SEC << shift. */
	sec = div64_u64(xtime_nsec >> shift, NSEC_PER_SEC);
	xtime_sec += sec;
	xtime_nsec -= (sec * NSEC_PER_SEC) << shift;

	/* mult / (1e9 * 2^shift) seconds per tick = q * 2^-(t + shift) */
	t = vmclock_div_normalize(mult, NSEC_PER_SEC, &q);
	if (t + shift < 64 || t + shift - 64 > 63)
		return -ERANGE;

	p->counter_value = cycle_last;
	p->period_frac_sec = q;
	p->period_shift = t + shift - 64;
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

/* Host timekeeper snapshot, written by the notifier under kvm_vmclock_host_seq */
struct kvm_vmclock_host {
	u64 cycle_last;
	u64 xtime_sec;
	u64 xtime_nsec;
	u32 mult;
	u32 shift;
	s32 tai_offset;
	int vclock_mode;
	enum clocksource_ids cs_id;
	bool tsc_unstable;
};

static seqcount_t kvm_vmclock_host_seq = SEQCNT_ZERO(kvm_vmclock_host_seq);
static struct kvm_vmclock_host kvm_vmclock_host;
/* The snapshot at the last queued update; only used by the notifier. */
static struct kvm_vmclock_host kvm_vmclock_host_queued;

static void kvm_vmclock_irq_work_fn(struct irq_work *w)
{
	kvm_vmclock_update_all();
}

static DEFINE_IRQ_WORK(kvm_vmclock_irq_work, kvm_vmclock_irq_work_fn);

/*
 * The update policy: does the published clock need to be rewritten?  As
 * long as mult and shift do not change, the timekeeper keeps advancing on
 * the same line, so the published (counter, time, period) stays exact.
 * Steps (was_set: settimeofday, leap seconds, TAI offset and clocksource
 * changes, resume) and anything feeding the reliability check must be
 * forwarded.
 */
static bool kvm_vmclock_host_needs_update(const struct kvm_vmclock_host *old,
					  const struct kvm_vmclock_host *new,
					  bool was_set)
{
	return was_set || old->mult != new->mult || old->shift != new->shift ||
	       old->tai_offset != new->tai_offset ||
	       old->vclock_mode != new->vclock_mode ||
	       old->cs_id != new->cs_id ||
	       old->tsc_unstable != new->tsc_unstable;
}

/*
 * Called from pvclock_gtod_notify(): tk_core.lock held, tk_core.seq
 * write-held, IRQs off.  No timekeeping reads, no sleeping, no queue_work().
 * Serialised by tk_core.lock.
 */
void kvm_vmclock_gtod_notify(struct timekeeper *tk, bool was_set)
{
	struct kvm_vmclock_host now = {
		.cycle_last = tk->tkr_mono.cycle_last,
		.xtime_sec = tk->xtime_sec,
		.xtime_nsec = tk->tkr_mono.xtime_nsec,
		.mult = tk->tkr_mono.mult,
		.shift = tk->tkr_mono.shift,
		.tai_offset = tk->tai_offset,
		.vclock_mode = tk->tkr_mono.clock->vdso_clock_mode,
		.cs_id = tk->cs_id,
		.tsc_unstable = check_tsc_unstable(),
	};

	write_seqcount_begin(&kvm_vmclock_host_seq);
	kvm_vmclock_host = now;
	write_seqcount_end(&kvm_vmclock_host_seq);

	if (kvm_vmclock_host_needs_update(&kvm_vmclock_host_queued, &now,
					  was_set)) {
		kvm_vmclock_host_queued = now;
		irq_work_queue(&kvm_vmclock_irq_work);
	}
}

/* Vendor module exit, after the notifier was unregistered. */
void kvm_vmclock_x86_exit(void)
{
	irq_work_sync(&kvm_vmclock_irq_work);
	kvm_vmclock_cancel_update_all();
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

/*
 * The guest TSC domain: the TSC offset and scaling ratio shared by all
 * vCPUs.  False if there is no vCPU yet, the vCPUs disagree, or one of them
 * uses software catch-up (its TSC is not linear in the host's).
 */
static bool kvm_vmclock_guest_tsc(struct kvm *kvm, u64 *offset, u64 *ratio)
{
	struct kvm_vcpu *vcpu;
	unsigned long i;
	bool found = false;

	kvm_for_each_vcpu(i, vcpu, kvm) {
		u64 o = READ_ONCE(vcpu->arch.l1_tsc_offset);
		u64 r = READ_ONCE(vcpu->arch.l1_tsc_scaling_ratio);

		if (READ_ONCE(vcpu->arch.tsc_always_catchup))
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
	return BIT(KVM_VMCLOCK_MODE_AUTO);
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

/* Process context, kvm->vmclock.lock held. */
void kvm_arch_vmclock_fill(struct kvm *kvm, struct vmclock_abi *clk)
{
	struct kvm_vmclock_params h, g;
	struct kvm_vmclock_host host;
	u64 offset, ratio;
	unsigned int seq;

	do {
		seq = read_seqcount_begin(&kvm_vmclock_host_seq);
		host = kvm_vmclock_host;
	} while (read_seqcount_retry(&kvm_vmclock_host_seq, seq));

	/* Constant from before the guest boots: ptp_vmclock probes once. */
	clk->counter_id = VMCLOCK_COUNTER_X86_TSC;
	clk->time_type = VMCLOCK_TIME_UTC;
	clk->clock_status = VMCLOCK_STATUS_UNRELIABLE;

	/* tai_offset_sec is UTC - TAI. 0 means nobody set the TAI offset. */
	if (host.tai_offset) {
		clk->flags = cpu_to_le64(VMCLOCK_FLAG_TAI_OFFSET_VALID);
		clk->tai_offset_sec = cpu_to_le16((u16)(s16)-host.tai_offset);
	}

	if (!kvm_vmclock_host_is_tsc(&host) ||
	    !kvm_vmclock_guest_tsc(kvm, &offset, &ratio))
		return;

	if (kvm_vmclock_host_params(host.cycle_last, host.mult, host.shift,
				    host.xtime_sec, host.xtime_nsec, &h) ||
	    kvm_vmclock_guest_params(&h, offset, ratio,
				     kvm_caps.tsc_scaling_ratio_frac_bits, &g))
		return;

	clk->counter_value = cpu_to_le64(g.counter_value);
	clk->counter_period_frac_sec = cpu_to_le64(g.period_frac_sec);
	clk->counter_period_shift = g.period_shift;
	clk->time_sec = cpu_to_le64(g.time_sec);
	clk->time_frac_sec = cpu_to_le64(g.time_frac_sec);
	clk->clock_status = VMCLOCK_STATUS_SYNCHRONIZED;
}
