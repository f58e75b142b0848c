// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for the KVM vmclock arithmetic.
 *
 * The clock computed by the helpers, read at a guest counter value the way
 * ptp_vmclock does, is compared with an exact reference computed here
 * independently with 128-bit integers and long division: the time at which
 * an ideal (unrounded) guest counter, offset + host counter * ratio /
 * 2^frac_bits, reaches that value, on the timekeeper's line
 * xtime + (host counter - cycle_last) * mult / 2^shift ns.
 */

#include <kunit/test.h>
#include <linux/math64.h>
#include <linux/module.h>
#include <linux/timex.h>
#include <linux/clocksource.h>
#include <uapi/linux/vmclock-abi.h>

#include "vmclock.h"

/* Bitwise long division of a 128-bit numerator by a 64-bit divisor. */
static u128 ref_div(u128 n, u64 d, u64 *rem)
{
	u128 q = 0, r = 0;
	int i;

	for (i = 127; i >= 0; i--) {
		r = (r << 1) | ((n >> i) & 1);
		if (r >= d) {
			r -= d;
			q |= (u128)1 << i;
		}
	}
	*rem = (u64)r;
	return q;
}

struct vmclock_case {
	const char *name;
	u64 cycle_last;
	u32 mult;
	u32 shift;
	u64 xtime_sec;
	u64 xtime_nsec;		/* in ns << shift */
	u64 offset;
	u64 ratio;
	unsigned int frac_bits;
	u64 span_ns;		/* how far to extrapolate */
};

/*
 * Exact time, in 2^-32 ns since the epoch, at guest counter value
 * @cg + @d, where @cg is the guest counter at the host reference rounded
 * down, and @low / 2^frac_bits the fraction lost by rounding.
 */
static u128 ref_time(const struct vmclock_case *c, u64 d, u64 low)
{
	u128 gdelta, q1, q2, ns_shifted;
	u64 rem1, rem2;

	/* Exact guest ticks since the reference, times 2^frac_bits. */
	gdelta = ((u128)d << c->frac_bits) - low;
	/* Host ticks: gdelta / ratio = q1 + rem1 / ratio. */
	q1 = ref_div(gdelta, c->ratio, &rem1);
	/* ns << shift: (q1 + rem1 / ratio) * mult */
	q2 = ref_div((u128)rem1 * c->mult, c->ratio, &rem2);
	ns_shifted = (u128)c->xtime_nsec + q1 * c->mult + q2;

	/* To 2^-32 ns; rem2 / ratio < 1 unit of 2^-shift ns is dropped. */
	if (c->shift <= 32)
		ns_shifted <<= 32 - c->shift;
	else
		ns_shifted >>= c->shift - 32;

	return ((u128)c->xtime_sec * NSEC_PER_SEC << 32) + ns_shifted;
}

static u128 page_time(u64 sec, u64 frac)
{
	return ((u128)sec * NSEC_PER_SEC << 32) +
	       (((u128)frac * NSEC_PER_SEC) >> 32);
}

static void check_case(struct kunit *test, const struct vmclock_case *c)
{
	struct kvm_vmclock_params h, g;
	u64 ticks_per_ns_q16, step, d, low, cg, sec, frac, err;
	u128 prod, exact, got, diff;
	int i;

	KUNIT_ASSERT_EQ(test, 0,
			kvm_vmclock_host_params(c->cycle_last, c->mult, c->shift,
						c->xtime_sec, c->xtime_nsec, &h));
	KUNIT_ASSERT_EQ(test, 0,
			kvm_vmclock_guest_params(&h, c->offset, c->ratio,
						 c->frac_bits, &g));

	/* Periods are normalised; shifts are sane. */
	KUNIT_EXPECT_TRUE(test, h.period_frac_sec >> 63);
	KUNIT_EXPECT_TRUE(test, g.period_frac_sec >> 63);
	KUNIT_EXPECT_LT(test, g.period_shift, 64);

	/* Guest counter at the reference, computed independently. */
	prod = (u128)c->cycle_last * c->ratio;
	low = (u64)(prod & (((u128)1 << c->frac_bits) - 1));
	cg = c->offset + (u64)(prod >> c->frac_bits);
	KUNIT_EXPECT_EQ(test, g.counter_value, cg);

	/*
	 * Guest ticks per ns, in 2^-16: (2^shift / mult) * ratio / 2^frac_bits.
	 * Only used to pick sample points, so the precision does not matter.
	 */
	ticks_per_ns_q16 = (u64)ref_div(((u128)c->ratio << (16 + c->shift)) >>
					 c->frac_bits, c->mult, &d);
	step = (u64)(((u128)c->span_ns * ticks_per_ns_q16) >> 16) / 64;

	for (i = 0; i <= 64; i++) {
		/* Sample points, plus a few odd ones near the reference. */
		d = i < 4 ? (u64)i * 7 + 1 : (u64)i * step + i;

		sec = kvm_vmclock_time_at(&g, cg + d, &frac);
		got = page_time(sec, frac);
		exact = ref_time(c, d, low);
		diff = got > exact ? got - exact : exact - got;
		err = diff >> 64 ? U64_MAX : (u64)diff;

		/* Within 1 ns, i.e. 2^32 units of 2^-32 ns. */
		KUNIT_EXPECT_LE_MSG(test, err, 1ULL << 32,
				    "%s: at +%llu ticks off by %llu/2^32 ns",
				    c->name, d, err);
		if (err > 1ULL << 32)
			break;
	}
}

#define DAY_NS (86400ULL * NSEC_PER_SEC)

/* A 3 GHz TSC: mult / 2^shift = 1/3 ns; realistic timekeeper state. */
#define TSC3G .cycle_last = 0x1234567890abcULL, .mult = 5592405, .shift = 24, \
	      .xtime_sec = 1767225600ULL, \
	      .xtime_nsec = (123456789ULL << 24) + 0xabcdef, .span_ns = DAY_NS

static void vmclock_identity_no_scaling(struct kunit *test)
{
	const struct vmclock_case c48 = { "identity F=48", TSC3G,
		.offset = 0, .ratio = 1ULL << 48, .frac_bits = 48 };
	const struct vmclock_case c32 = { "identity F=32", TSC3G,
		.offset = 0, .ratio = 1ULL << 32, .frac_bits = 32 };

	check_case(test, &c48);
	check_case(test, &c32);
}

static void vmclock_offset_wraps(struct kunit *test)
{
	/* The guest counter wraps past 2^64 within the day. */
	const struct vmclock_case c = { "offset wraps", TSC3G,
		.offset = -0x1234567890abcULL - 1000000ULL,
		.ratio = 1ULL << 48, .frac_bits = 48 };
	const struct vmclock_case neg = { "negative offset, F=32", TSC3G,
		.offset = -0x1234567890abcULL + 17,
		.ratio = 3ULL << 31, .frac_bits = 32 };

	check_case(test, &c);
	check_case(test, &neg);
}

static void vmclock_ratios_frac_bits_48(struct kunit *test)
{
	static const u64 ratios[] = {
		1ULL << 45,			/* 1/8 */
		(1ULL << 48) / 3,		/* ~1/3 */
		(1ULL << 48) - 12345,		/* just below 1 */
		(1ULL << 48) + 1,		/* just above 1 */
		3ULL << 47,			/* 1.5 */
		0x2aaaaaaaaaaaaULL,		/* ~2.67, odd bits */
		8ULL << 48,			/* 8 */
	};
	struct vmclock_case c = { "ratio F=48", TSC3G,
		.offset = 0xfedcba9876543210ULL, .frac_bits = 48 };
	int i;

	for (i = 0; i < ARRAY_SIZE(ratios); i++) {
		c.ratio = ratios[i];
		check_case(test, &c);
	}
}

static void vmclock_ratios_frac_bits_32(struct kunit *test)
{
	static const u64 ratios[] = {
		1ULL << 29,			/* 1/8 */
		(1ULL << 32) / 3,
		(1ULL << 32) - 1,
		(1ULL << 32) + 7,
		5ULL << 31,			/* 2.5 */
		8ULL << 32,			/* 8 */
	};
	struct vmclock_case c = { "ratio F=32", TSC3G,
		.offset = 0x8000000000000001ULL, .frac_bits = 32 };
	int i;

	for (i = 0; i < ARRAY_SIZE(ratios); i++) {
		c.ratio = ratios[i];
		check_case(test, &c);
	}
}

static void vmclock_other_tsc_frequencies(struct kunit *test)
{
	/* ~1 GHz with a different shift, and ~4.7 GHz, xtime_nsec near 1 s. */
	const struct vmclock_case slow = {
		"1GHz", .cycle_last = 987654321987ULL, .mult = 1ULL << 22,
		.shift = 22, .xtime_sec = 1000000000ULL,
		.xtime_nsec = (999999999ULL << 22) + 12345,
		.offset = 5, .ratio = 1ULL << 45, .frac_bits = 48,
		.span_ns = DAY_NS };
	const struct vmclock_case fast = {
		"4.7GHz", .cycle_last = -1ULL - 4700000000ULL, .mult = 3569841,
		.shift = 24, .xtime_sec = 1767225600ULL,
		.xtime_nsec = (999999999ULL << 24) + (1ULL << 24) - 1,
		.offset = 0, .ratio = 7ULL << 45, .frac_bits = 48,
		.span_ns = DAY_NS };
	/* xtime_nsec not normalised: more than a second of shifted ns. */
	const struct vmclock_case unnorm = {
		"xtime_nsec over 1s", .cycle_last = 1000, .mult = 5592405,
		.shift = 24, .xtime_sec = 100,
		.xtime_nsec = (2500000000ULL << 24) + 99,
		.offset = 0, .ratio = 1ULL << 48, .frac_bits = 48,
		.span_ns = DAY_NS };

	check_case(test, &slow);
	check_case(test, &fast);
	check_case(test, &unnorm);
}

static void vmclock_rejects_bad_params(struct kunit *test)
{
	struct kvm_vmclock_params h, g;

	KUNIT_EXPECT_EQ(test, -EINVAL,
			kvm_vmclock_host_params(0, 0, 24, 0, 0, &h));
	KUNIT_EXPECT_EQ(test, -EINVAL,
			kvm_vmclock_host_params(0, 5592405, 0, 0, 0, &h));
	KUNIT_ASSERT_EQ(test, 0,
			kvm_vmclock_host_params(0, 5592405, 24, 0, 0, &h));
	KUNIT_EXPECT_EQ(test, -EINVAL,
			kvm_vmclock_guest_params(&h, 0, 0, 48, &g));
	KUNIT_EXPECT_EQ(test, -EINVAL,
			kvm_vmclock_guest_params(&h, 0, 1, 64, &g));
}

/*
 * USER mode: a clock given in the host TSC domain, with error rates and the
 * other fields userspace sets, converted into the guest domain.
 */
/*
 * The TSC migration algorithm of devices/vcpu.rst (KVM_VCPU_TSC_SCALE) from
 * an unscaled 2.6 GHz host to a 2.1 GHz host, up for 10 days, that scales
 * the guest's TSC to 2.6 GHz: the guest's page there goes on from where the
 * source's left it, plus the time elapsed.  The algorithm without scaling
 * moves the guest's TSC by about 46 hours.
 */
static void vmclock_migration_scaled_hosts(struct kunit *test)
{
	const u64 khz = 2600000, khz_dst = 2100000, dt_ns = 300 * NSEC_PER_MSEC;
	const u64 tsc_src = 0x1234567890abcULL, ofs_src = -0x123456789ULL;
	const u64 tsc_dst = 10 * 86400ULL * khz_dst * 1000;
	u64 ratio_dst = mul_u64_u32_div(1ULL << 48, khz, khz_dst);
	u64 gtsc_src, gtsc_dst, ofs_dst, ofs_old, jump, sec, frac, sec2, frac2;
	struct kvm_vmclock_params h, g;
	u128 t_src, t_dst;
	s64 err;

	/* Source: its line, 2.6 GHz, at the host TSC of KVM_GET_CLOCK. */
	KUNIT_ASSERT_EQ(test, 0, kvm_vmclock_host_params(tsc_src, 6452775, 24,
							 1767225600ULL, 0, &h));
	KUNIT_ASSERT_EQ(test, 0, kvm_vmclock_guest_params(&h, ofs_src,
							  1ULL << 48, 48, &g));
	gtsc_src = tsc_src + ofs_src;
	sec = kvm_vmclock_time_at(&g, gtsc_src, &frac);

	/* Destination, dt_ns later: ofs_dst from its own ratio. */
	ofs_dst = gtsc_src + mul_u64_u32_div(dt_ns, khz, 1000000) -
		  mul_u64_u64_shr(tsc_dst, ratio_dst, 48);
	KUNIT_ASSERT_EQ(test, 0,
			kvm_vmclock_host_params(tsc_dst, 7989150, 24,
						1767225600ULL, dt_ns << 24, &h));
	KUNIT_ASSERT_EQ(test, 0, kvm_vmclock_guest_params(&h, ofs_dst,
							  ratio_dst, 48, &g));
	gtsc_dst = mul_u64_u64_shr(tsc_dst, ratio_dst, 48) + ofs_dst;
	sec2 = kvm_vmclock_time_at(&g, gtsc_dst, &frac2);

	/* Within 1 ns of dt_ns, in 2^-32 ns. */
	t_src = page_time(sec, frac);
	t_dst = page_time(sec2, frac2);
	err = (s64)(t_dst - t_src - ((u128)dt_ns << 32));
	KUNIT_EXPECT_LE(test, err < 0 ? -err : err, 1LL << 32);

	/* The offset as if the destination did not scale. */
	ofs_old = ofs_src + mul_u64_u32_div(dt_ns, khz, 1000000) + tsc_src - tsc_dst;
	jump = mul_u64_u64_shr(tsc_dst, ratio_dst, 48) + ofs_old - gtsc_dst;
	KUNIT_EXPECT_GT(test, div_u64(jump, khz * 1000), 45 * 3600ULL);
	KUNIT_EXPECT_LT(test, div_u64(jump, khz * 1000), 47 * 3600ULL);
}

static void vmclock_user_clock_ratios(struct kunit *test)
{
	static const struct {
		u64 ratio;
		unsigned int frac_bits;
	} r[] = {
		{ 1ULL << 48, 48 },		/* identity */
		{ 1ULL << 45, 48 },		/* 1/8 */
		{ (1ULL << 48) / 3, 48 },
		{ 3ULL << 47, 48 },		/* 1.5 */
		{ 8ULL << 48, 48 },		/* 8 */
		{ (1ULL << 32) + 7, 32 },
		{ 5ULL << 31, 32 },		/* 2.5 */
	};
	struct vmclock_case c = { "user clock", TSC3G,
		.offset = 0xfedcba9876543210ULL };
	u64 est_h, max_h, est_g, max_g, ph, pg;
	struct kvm_vmclock_params h, g;
	struct vmclock_abi uh, ug;
	int i;

	KUNIT_ASSERT_EQ(test, 0,
			kvm_vmclock_host_params(c.cycle_last, c.mult, c.shift,
						c.xtime_sec, c.xtime_nsec, &h));
	ph = h.period_frac_sec;
	est_h = ph / 1000000 + 3;	/* ~1 ppm */
	max_h = ph / 1000 + 1;		/* ~1000 ppm */

	memset(&uh, 0, sizeof(uh));
	uh.magic = cpu_to_le32(VMCLOCK_MAGIC);
	uh.size = cpu_to_le32(4096);
	uh.version = cpu_to_le16(1);
	uh.counter_id = VMCLOCK_COUNTER_X86_TSC;
	uh.time_type = VMCLOCK_TIME_TAI;
	uh.flags = cpu_to_le64(VMCLOCK_FLAG_TAI_OFFSET_VALID |
			       VMCLOCK_FLAG_PERIOD_ESTERROR_VALID |
			       VMCLOCK_FLAG_PERIOD_MAXERROR_VALID |
			       VMCLOCK_FLAG_TIME_ESTERROR_VALID |
			       VMCLOCK_FLAG_TIME_MAXERROR_VALID |
			       VMCLOCK_FLAG_TIME_MONOTONIC);
	uh.clock_status = VMCLOCK_STATUS_SYNCHRONIZED;
	uh.leap_indicator = VMCLOCK_LEAP_PRE_POS;
	uh.tai_offset_sec = cpu_to_le16((u16)-37);
	uh.counter_value = cpu_to_le64(h.counter_value);
	uh.counter_period_frac_sec = cpu_to_le64(ph);
	uh.counter_period_shift = h.period_shift;
	uh.counter_period_esterror_rate_frac_sec = cpu_to_le64(est_h);
	uh.counter_period_maxerror_rate_frac_sec = cpu_to_le64(max_h);
	uh.time_sec = cpu_to_le64(h.time_sec);
	uh.time_frac_sec = cpu_to_le64(h.time_frac_sec);
	uh.time_esterror_nanosec = cpu_to_le64(1234);
	uh.time_maxerror_nanosec = cpu_to_le64(56789);

	for (i = 0; i < ARRAY_SIZE(r); i++) {
		c.ratio = r[i].ratio;
		c.frac_bits = r[i].frac_bits;
		/* The line is the one check_case() checks against the exact time. */
		check_case(test, &c);
		KUNIT_ASSERT_EQ(test, 0,
				kvm_vmclock_guest_params(&h, c.offset, c.ratio,
							 c.frac_bits, &g));
		KUNIT_ASSERT_EQ(test, 0,
				kvm_vmclock_user_to_guest(&uh, c.offset, c.ratio,
							  c.frac_bits, &ug));
		KUNIT_EXPECT_EQ(test, le64_to_cpu(ug.counter_value), g.counter_value);
		KUNIT_EXPECT_EQ(test, le64_to_cpu(ug.counter_period_frac_sec),
				g.period_frac_sec);
		KUNIT_EXPECT_EQ(test, ug.counter_period_shift, g.period_shift);
		KUNIT_EXPECT_EQ(test, le64_to_cpu(ug.time_sec), g.time_sec);
		KUNIT_EXPECT_EQ(test, le64_to_cpu(ug.time_frac_sec), g.time_frac_sec);

		/* Everything else is copied. */
		KUNIT_EXPECT_EQ(test, ug.magic, uh.magic);
		KUNIT_EXPECT_EQ(test, ug.time_type, uh.time_type);
		KUNIT_EXPECT_EQ(test, ug.counter_id, uh.counter_id);
		KUNIT_EXPECT_EQ(test, ug.flags, uh.flags);
		KUNIT_EXPECT_EQ(test, ug.clock_status, uh.clock_status);
		KUNIT_EXPECT_EQ(test, ug.leap_indicator, uh.leap_indicator);
		KUNIT_EXPECT_EQ(test, ug.tai_offset_sec, uh.tai_offset_sec);
		KUNIT_EXPECT_EQ(test, ug.time_esterror_nanosec,
				uh.time_esterror_nanosec);
		KUNIT_EXPECT_EQ(test, ug.time_maxerror_nanosec,
				uh.time_maxerror_nanosec);

		/* Error rates keep their ratio to the period, rounded up. */
		pg = g.period_frac_sec;
		est_g = le64_to_cpu(ug.counter_period_esterror_rate_frac_sec);
		max_g = le64_to_cpu(ug.counter_period_maxerror_rate_frac_sec);
		KUNIT_EXPECT_TRUE(test, (u128)est_g * ph >= (u128)est_h * pg);
		KUNIT_EXPECT_TRUE(test, (u128)(est_g - 1) * ph < (u128)est_h * pg);
		KUNIT_EXPECT_TRUE(test, (u128)max_g * ph >= (u128)max_h * pg);
		KUNIT_EXPECT_TRUE(test, (u128)(max_g - 1) * ph < (u128)max_h * pg);
		if (c.ratio == 1ULL << c.frac_bits) {
			KUNIT_EXPECT_EQ(test, est_g, est_h);
			KUNIT_EXPECT_EQ(test, max_g, max_h);
		}
	}

	/* Rejected: shift 64, error rates above the period, unrepresentable. */
	ug = uh;
	ug.counter_period_shift = 64;
	KUNIT_EXPECT_NE(test, 0, kvm_vmclock_user_to_guest(&ug, 0, 1ULL << 48, 48, &ug));
	ug = uh;
	ug.counter_period_esterror_rate_frac_sec = cpu_to_le64(ph + 1);
	KUNIT_EXPECT_NE(test, 0, kvm_vmclock_user_to_guest(&ug, 0, 1ULL << 48, 48, &ug));
	ug = uh;
	ug.counter_period_maxerror_rate_frac_sec = cpu_to_le64(ph + 1);
	KUNIT_EXPECT_NE(test, 0, kvm_vmclock_user_to_guest(&ug, 0, 1ULL << 48, 48, &ug));
	ug = uh;
	ug.counter_period_frac_sec = cpu_to_le64(1);
	ug.counter_period_shift = 63;
	ug.counter_period_esterror_rate_frac_sec = 0;
	ug.counter_period_maxerror_rate_frac_sec = 0;
	/* 2^-127 s per host tick, 8 guest ticks per host tick: 2^-130 s. */
	KUNIT_EXPECT_NE(test, 0, kvm_vmclock_user_to_guest(&ug, 0, 8ULL << 48, 48, &ug));
}

/*
 * The update policy, against a simulated timekeeper that accumulates and
 * dithers its multiplier as kernel/time/timekeeping.c does (one tick per
 * step, ntp_error in ns << NTP_SCALE_SHIFT).
 */
struct sim_tk {
	struct kvm_vmclock_host h;
	s64 ntp_error;
	u32 base_mult;
};

#define SIM_TSC_HZ	2445404000ULL
#define SIM_SHIFT	23
#define SIM_MAX_ERR_NS	10

static void sim_init(struct sim_tk *tk, u64 tick_len)
{
	memset(tk, 0, sizeof(*tk));
	tk->h.cycle_last = 1000000000000ULL;
	tk->h.now = tk->h.cycle_last;
	tk->h.xtime_sec = 1700000000;
	tk->h.xtime_nsec = 123456789ULL << SIM_SHIFT;
	tk->h.shift = SIM_SHIFT;
	tk->h.cycle_interval = div64_u64(SIM_TSC_HZ, NTP_INTERVAL_FREQ);
	tk->h.tick_len = tick_len;
	/* The clocksource (any vclock_mode and cs_id) is the counter. */
	tk->h.counter_ok = true;
	tk->base_mult = div64_u64(tick_len >> (NTP_SCALE_SHIFT - SIM_SHIFT),
				  tk->h.cycle_interval);
	tk->h.mult = tk->base_mult;
}

/* One tick: accumulate at the current mult, then adjust to @tick_len. */
static void sim_tick(struct sim_tk *tk, u64 tick_len)
{
	u64 nsps = NSEC_PER_SEC << SIM_SHIFT;
	u64 interval = tk->h.cycle_interval * tk->h.mult;

	tk->h.cycle_last += tk->h.cycle_interval;
	tk->h.now = tk->h.cycle_last;
	tk->h.xtime_nsec += interval;
	while (tk->h.xtime_nsec >= nsps) {
		tk->h.xtime_nsec -= nsps;
		tk->h.xtime_sec++;
	}
	tk->ntp_error += tk->h.tick_len;
	tk->ntp_error -= interval << (NTP_SCALE_SHIFT - SIM_SHIFT);

	if (tick_len != tk->h.tick_len) {
		tk->h.tick_len = tick_len;
		tk->base_mult = div64_u64(tick_len >> (NTP_SCALE_SHIFT - SIM_SHIFT),
					  tk->h.cycle_interval);
	}
	tk->h.mult = tk->base_mult + (tk->ntp_error > 0);
}

/* |line - timekeeper| in 2^-32 ns at @d cycles after the last tick */
static u64 sim_error(const struct sim_tk *tk,
		     const struct kvm_vmclock_params *line, u64 d)
{
	u64 frac, sec = kvm_vmclock_time_at(line, tk->h.cycle_last + d, &frac);
	s128 l, h;

	l = (s128)(sec - tk->h.xtime_sec) * NSEC_PER_SEC << 32;
	l += ((u128)frac * NSEC_PER_SEC) >> 32;
	h = ((u128)(tk->h.xtime_nsec + d * tk->h.mult) << 32) >> SIM_SHIFT;
	return l > h ? l - h : h - l;
}

/*
 * Run @ticks ticks, republishing when the policy says so; return the number
 * of republications and check the bound just after and just before each
 * tick.
 */
static unsigned int sim_run(struct kunit *test, struct sim_tk *tk,
			    struct kvm_vmclock_host *old,
			    struct kvm_vmclock_params *line,
			    unsigned int ticks, u64 tick_len)
{
	u64 bound = (u64)SIM_MAX_ERR_NS << 32;
	unsigned int i, n = 0;

	for (i = 0; i < ticks; i++) {
		sim_tick(tk, tick_len);
		if (kvm_vmclock_line_stale(old, line, &tk->h, SIM_MAX_ERR_NS)) {
			KUNIT_ASSERT_EQ(test, 0, kvm_vmclock_host_line(&tk->h, line));
			*old = tk->h;
			n++;
		}
		KUNIT_ASSERT_LE(test, sim_error(tk, line, 0), bound);
		KUNIT_ASSERT_LE(test, sim_error(tk, line,
						tk->h.cycle_interval - 1), bound);
	}
	return n;
}

static void vmclock_policy_steady(struct kunit *test)
{
	u64 tick_len = (u64)NTP_INTERVAL_LENGTH << NTP_SCALE_SHIFT;
	struct kvm_vmclock_params line;
	struct kvm_vmclock_host old;
	struct sim_tk tk;
	unsigned int i;

	/* An NTP rate that mult cannot express: mult dithers. */
	sim_init(&tk, tick_len + 12345);
	for (i = 0; i < 100; i++)
		sim_tick(&tk, tk.h.tick_len);
	KUNIT_ASSERT_EQ(test, 0, kvm_vmclock_host_line(&tk.h, &line));
	old = tk.h;

	/* Ten seconds: mult changes, the line does not. */
	KUNIT_EXPECT_EQ(test, 0, sim_run(test, &tk, &old, &line,
					 10 * NTP_INTERVAL_FREQ,
					 tk.h.tick_len));

	/* 0 means the per-tick policy; frame changes are always stale. */
	KUNIT_EXPECT_TRUE(test, kvm_vmclock_line_stale(&old, &line, &tk.h, 0));
	tk.h.counter_ok = false;
	KUNIT_EXPECT_TRUE(test, kvm_vmclock_line_stale(&old, &line, &tk.h,
						       SIM_MAX_ERR_NS));
}

static void vmclock_policy_frequency_changes(struct kunit *test)
{
	u64 tick_len = (u64)NTP_INTERVAL_LENGTH << NTP_SCALE_SHIFT;
	struct kvm_vmclock_params line;
	struct kvm_vmclock_host old;
	struct sim_tk tk;
	unsigned int i, n;
	s64 ppb;

	sim_init(&tk, tick_len);
	KUNIT_ASSERT_EQ(test, 0, kvm_vmclock_host_line(&tk.h, &line));
	old = tk.h;

	/* Frequency changes of 1 ppb to 100 ppm, each held for 2 s. */
	for (i = 0, ppb = 1; ppb <= 100000; ppb *= 10, i++) {
		u64 t = tick_len + div_s64((s64)tick_len / 1000000 * ppb, 1000) *
			(i & 1 ? -1 : 1);

		n = sim_run(test, &tk, &old, &line, 2 * NTP_INTERVAL_FREQ, t);
		kunit_info(test, "%s%lld ppb: %u republications\n",
			   i & 1 ? "-" : "+", ppb, n);
		/* 1 ppb drifts 2 ns in 2 s: within the bound, nothing to do. */
		KUNIT_EXPECT_LE(test, n, ppb == 1 ? 0 : 2);
	}
}

/*
 * ADJ_FREQUENCY applies the new rate at once, between ticks
 * (timekeeping_advance(TK_ADV_FREQ)): mult changes and xtime_nsec is moved
 * so that the time now is continuous, while cycle_last stays at the last
 * tick.  If that tick is long ago (a late tick), a line anchored at
 * cycle_last would already be off now by the mult step over that time; it
 * must be anchored now.
 */
static void vmclock_policy_mid_tick_change(struct kunit *test)
{
	u64 tick_len = (u64)NTP_INTERVAL_LENGTH << NTP_SCALE_SHIFT;
	u64 late = SIM_TSC_HZ / 8;	/* 125 ms since the last tick */
	u64 bound = (u64)SIM_MAX_ERR_NS << 32;
	struct kvm_vmclock_params line;
	struct sim_tk tk;
	s64 dmult;
	int i;

	sim_init(&tk, tick_len + 12345);
	for (i = 0; i < 100; i++)
		sim_tick(&tk, tk.h.tick_len);

	/* +40 ppb, applied late into the tick */
	tk.h.tick_len += tick_len / 25000000;
	tk.base_mult = div64_u64(tk.h.tick_len >> (NTP_SCALE_SHIFT - SIM_SHIFT),
				 tk.h.cycle_interval);
	dmult = (s64)(tk.base_mult + 1) - tk.h.mult;
	tk.h.mult = tk.base_mult + 1;
	tk.h.xtime_nsec -= late * dmult;
	tk.h.now = tk.h.cycle_last + late;

	KUNIT_ASSERT_EQ(test, 0, kvm_vmclock_host_line(&tk.h, &line));
	KUNIT_EXPECT_EQ(test, line.counter_value, tk.h.now);
	KUNIT_EXPECT_LE(test, sim_error(&tk, &line, late), 1ULL << 32);
	KUNIT_EXPECT_LE(test, sim_error(&tk, &line,
					late + tk.h.cycle_interval), bound);
}

/*
 * The look-ahead's sign.  The line is 6 ns ahead of the host clock (e =
 * line - host = +6 ns), and NTP made the host faster by 5 ns per second
 * (a longer tick_len): in a second the difference is 1 ns, shrinking, so
 * the line is good.  6 ns behind, it grows to 11 ns in a second: stale.
 * One dithering step (cycle_interval >> shift, about 1.2 ns) is added in
 * both cases; the bound is 10 ns.
 */
static void vmclock_policy_lookahead_sign(struct kunit *test)
{
	u64 tick_len = (u64)NTP_INTERVAL_LENGTH << NTP_SCALE_SHIFT;
	struct kvm_vmclock_host old, now;
	struct kvm_vmclock_params line;
	struct sim_tk tk;

	sim_init(&tk, tick_len);
	KUNIT_ASSERT_EQ(test, 0, kvm_vmclock_host_line(&tk.h, &line));
	old = tk.h;

	now = tk.h;
	now.tick_len += (5ULL << NTP_SCALE_SHIFT) / NTP_INTERVAL_FREQ;
	KUNIT_EXPECT_FALSE(test, kvm_vmclock_line_stale(&old, &line, &now,
							SIM_MAX_ERR_NS));

	/* The host 6 ns behind the line: shrinking, not stale. */
	now.xtime_nsec = tk.h.xtime_nsec - (6ULL << SIM_SHIFT);
	KUNIT_EXPECT_FALSE(test, kvm_vmclock_line_stale(&old, &line, &now,
							SIM_MAX_ERR_NS));

	/* The host 6 ns ahead of the line: growing, stale. */
	now.xtime_nsec = tk.h.xtime_nsec + (6ULL << SIM_SHIFT);
	KUNIT_EXPECT_TRUE(test, kvm_vmclock_line_stale(&old, &line, &now,
						       SIM_MAX_ERR_NS));

	/* And the other way round for a slower host. */
	now.tick_len = tk.h.tick_len - (5ULL << NTP_SCALE_SHIFT) / NTP_INTERVAL_FREQ;
	KUNIT_EXPECT_FALSE(test, kvm_vmclock_line_stale(&old, &line, &now,
							SIM_MAX_ERR_NS));
	now.xtime_nsec = tk.h.xtime_nsec - (6ULL << SIM_SHIFT);
	KUNIT_EXPECT_TRUE(test, kvm_vmclock_line_stale(&old, &line, &now,
						       SIM_MAX_ERR_NS));
}

static struct kunit_case vmclock_test_cases[] = {
	KUNIT_CASE(vmclock_identity_no_scaling),
	KUNIT_CASE(vmclock_offset_wraps),
	KUNIT_CASE(vmclock_ratios_frac_bits_48),
	KUNIT_CASE(vmclock_ratios_frac_bits_32),
	KUNIT_CASE(vmclock_other_tsc_frequencies),
	KUNIT_CASE(vmclock_rejects_bad_params),
	KUNIT_CASE(vmclock_user_clock_ratios),
	KUNIT_CASE(vmclock_migration_scaled_hosts),
	KUNIT_CASE(vmclock_policy_steady),
	KUNIT_CASE(vmclock_policy_frequency_changes),
	KUNIT_CASE(vmclock_policy_mid_tick_change),
	KUNIT_CASE(vmclock_policy_lookahead_sign),
	{}
};

static struct kunit_suite vmclock_test_suite = {
	.name = "kvm_vmclock",
	.test_cases = vmclock_test_cases,
};

kunit_test_suite(vmclock_test_suite);

MODULE_DESCRIPTION("KUnit tests for the KVM vmclock arithmetic");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS("EXPORTED_FOR_KUNIT_TESTING");

/*
 * The host's NTP state in the page: clock_status, leap_indicator and the
 * error bounds.  The bounds are checked against a model of the kernel's
 * maximum error: M at the CLOCK_REALTIME second S, plus R at each second
 * boundary after S (second_overflow()), up to NTP_PHASE_LIMIT.
 */

/* 2^-64 s per second */
#define NTP_ONE_SEC	((u128)1 << 64)

/*
 * The page's deviation from the host's clock at vmclock_max_error_ns 10:
 * 10 ns, plus 1000 ppm (ADJ_FREQUENCY from -500 to +500 ppm) for 10 ms
 * until a rewrite is visible.
 */
#define NTP_PAGE_DEV_NS	(10 + 10000)

/* The host's maximum error at time @t (2^-64 s since the epoch), in ns */
static u64 ntp_host_maxerror_ns(const struct kvm_vmclock_ntp *ntp, u128 t)
{
	u64 sec = (u64)(t >> 64);
	u64 count = sec > ntp->xtime_sec ? sec - ntp->xtime_sec : 0;
	u64 us = ntp->maxerror_us + ntp->maxerror_rate_us * count;

	return min_t(u64, us, NTP_PHASE_LIMIT) * NSEC_PER_USEC;
}

/* The guest's bound at @d counter cycles after counter_value, in ns, rounded down */
static u64 ntp_guest_maxerror_ns(const struct vmclock_abi *clk,
				 const struct kvm_vmclock_params *line, u64 d)
{
	u128 e = ((u128)d * le64_to_cpu(clk->counter_period_maxerror_rate_frac_sec)) >>
		 line->period_shift;

	return le64_to_cpu(clk->time_maxerror_nanosec) +
	       (u64)(e >> 64) * NSEC_PER_SEC +
	       mul_u64_u64_shr((u64)e, NSEC_PER_SEC, 64);
}

/* The first counter delta at which the line's time reaches @t (not before T) */
static u64 ntp_delta_at(const struct kvm_vmclock_params *line, u128 t)
{
	u128 t0 = ((u128)line->time_sec << 64) | line->time_frac_sec;
	u128 q, n = (t - t0) << line->period_shift;
	u64 rem;

	q = ref_div(n, line->period_frac_sec, &rem);
	return (u64)q + !!rem;
}

/* Line time at counter delta @d, in 2^-64 s */
static u128 ntp_time_at(const struct kvm_vmclock_params *line, u64 d)
{
	u128 t0 = ((u128)line->time_sec << 64) | line->time_frac_sec;

	return t0 + (((u128)d * line->period_frac_sec) >> line->period_shift);
}

static void ntp_check_bound(struct kunit *test, const struct kvm_vmclock_ntp *ntp,
			    const struct kvm_vmclock_params *line,
			    const struct vmclock_abi *clk, u64 d, const char *what)
{
	u128 t = ntp_time_at(line, d);
	u64 host = ntp_host_maxerror_ns(ntp, t) + NTP_PAGE_DEV_NS;
	u64 guest = ntp_guest_maxerror_ns(clk, line, d);

	/* The page is read after the NTP state was taken, in second S */
	if ((u64)(t >> 64) < ntp->xtime_sec)
		return;

	/*
	 * Never below the host's plus the page's own deviation and, for a
	 * line anchored after S as KVM anchors it, not looser than one
	 * second's growth more.
	 */
	KUNIT_EXPECT_GE_MSG(test, guest, host, "%s: d=%llu", what, d);
	if (line->time_sec >= ntp->xtime_sec &&
	    host < (u64)NTP_PHASE_LIMIT * NSEC_PER_USEC)
		KUNIT_EXPECT_LE_MSG(test, guest,
				    host + ntp->maxerror_rate_us * NSEC_PER_USEC +
				    DIV_ROUND_UP(ntp->maxerror_rate_us * NTP_PAGE_DEV_NS,
						 USEC_PER_SEC) + 4,
				    "%s: d=%llu", what, d);
}

static void vmclock_ntp_maxerror_bound(struct kunit *test)
{
	/* counter frequencies (Hz) */
	static const u64 freqs[] = { 25000000, 1000000000, 2445381000ULL,
				     3700000000ULL, 10000000000ULL };
	/* line reference time minus S: seconds and fraction (2^-64 s) */
	static const struct { s64 sec; u64 frac; } refs[] = {
		{ 0, 0 }, { 0, 1ULL << 63 }, { 0, ~0ULL }, { 0, 12345 },
		{ 3, 0x9e3779b97f4a7c15ULL }, { 86400, 1ULL << 60 },
		{ -1, 1ULL << 62 }, { -5, 0 }, { -40000, 7 },
	};
	static const long maxerrs[] = { 0, 1, 1000, 123457, 15999000 };
	unsigned int i, j, k, b;

	for (i = 0; i < ARRAY_SIZE(freqs); i++) {
		struct kvm_vmclock_params line = { .counter_value = 0x123456789ULL };

		KUNIT_ASSERT_EQ(test, 0, kvm_vmclock_period(NSEC_PER_SEC, freqs[i],
							    0, &line));
		for (j = 0; j < ARRAY_SIZE(refs); j++) {
			for (k = 0; k < ARRAY_SIZE(maxerrs); k++) {
				struct kvm_vmclock_ntp ntp = {
					.status = 0,
					.state = TIME_OK,
					.esterror_us = 17,
					.maxerror_us = maxerrs[k],
					.maxerror_rate_us = MAXFREQ / NSEC_PER_USEC,
					.xtime_sec = 1800000000ULL,
				};
				struct vmclock_abi clk = {};
				u64 base, rate;
				u128 t0;

				line.time_sec = ntp.xtime_sec + refs[j].sec;
				line.time_frac_sec = refs[j].frac;
				kvm_vmclock_ntp_errors(&ntp, &line, 10, &clk);
				/* No period estimate: no claim of one */
				KUNIT_ASSERT_EQ(test, le64_to_cpu(clk.flags),
						(u64)(VMCLOCK_FLAG_TIME_ESTERROR_VALID |
						      VMCLOCK_FLAG_TIME_MAXERROR_VALID |
						      VMCLOCK_FLAG_PERIOD_MAXERROR_VALID));
				KUNIT_EXPECT_EQ(test, le64_to_cpu(clk.time_esterror_nanosec),
						17000ULL);
				rate = le64_to_cpu(clk.counter_period_esterror_rate_frac_sec);
				KUNIT_EXPECT_EQ(test, rate, 0ULL);

				/*
				 * At the reference, and right at and before
				 * each boundary after the later of T and S
				 */
				ntp_check_bound(test, &ntp, &line, &clk, 0, "reference");
				t0 = ((u128)line.time_sec << 64) | line.time_frac_sec;
				base = max(line.time_sec, ntp.xtime_sec);
				for (b = 1; b <= 2000; b += b < 4 ? 1 : 997) {
					u128 tb = ((u128)(base + b) << 64);
					u64 d = ntp_delta_at(&line, tb);

					ntp_check_bound(test, &ntp, &line, &clk, d,
							"at a boundary");
					if (d && tb - 1 > t0)
						ntp_check_bound(test, &ntp, &line, &clk,
								d - 1, "before a boundary");
				}
				/* A day and a week on */
				t0 = (u128)base << 64 | line.time_frac_sec;
				ntp_check_bound(test, &ntp, &line, &clk,
						ntp_delta_at(&line, t0 + 86400 * NTP_ONE_SEC),
						"a day on");
				ntp_check_bound(test, &ntp, &line, &clk,
						ntp_delta_at(&line, t0 + 604800 * NTP_ONE_SEC + 1),
						"a week on");
			}
		}
	}
}

/*
 * The maximum error's growth does not change the page: a second later,
 * with R more, the fields are the same (no republication per second).
 */
static void vmclock_ntp_growth_same_page(struct kunit *test)
{
	struct kvm_vmclock_params line = { .counter_value = 1 };
	struct kvm_vmclock_ntp ntp = {
		.maxerror_us = 2000,
		.maxerror_rate_us = MAXFREQ / NSEC_PER_USEC,
		.xtime_sec = 1800000000ULL,
	};
	struct vmclock_abi a = {}, b = {};
	int i;

	KUNIT_ASSERT_EQ(test, 0, kvm_vmclock_period(NSEC_PER_SEC, 2445381000ULL,
						    0, &line));
	line.time_sec = ntp.xtime_sec + 2;
	line.time_frac_sec = 1ULL << 62;
	kvm_vmclock_ntp_errors(&ntp, &line, 10, &a);
	for (i = 0; i < 5; i++) {
		ntp.maxerror_us += ntp.maxerror_rate_us;
		ntp.xtime_sec++;
		memset(&b, 0, sizeof(b));
		kvm_vmclock_ntp_errors(&ntp, &line, 10, &b);
		KUNIT_EXPECT_EQ(test, 0, memcmp(&a, &b, sizeof(a)));
	}
	/*
	 * 2 ms + 500 ppm of 2.25 s, + the page's deviation and 500 ppm of it
	 * rounded up, + 1 ns, + 1 ns of the fraction's rounding
	 */
	KUNIT_EXPECT_EQ(test, le64_to_cpu(a.time_maxerror_nanosec),
			2000000ULL + 1125000 + NTP_PAGE_DEV_NS + 6 + 1 + 1);
}

/* Growth is the same page; a write, a status or leap change is not. */
static void vmclock_ntp_same(struct kunit *test)
{
	struct kvm_vmclock_ntp a = {
		.esterror_us = 50,
		.maxerror_us = 2000,
		.maxerror_rate_us = 500,
		.xtime_sec = 1800000000ULL,
		.seq = 7,
		.was_synced = true,
	}, b;

	b = a;
	b.maxerror_us += 3 * 500;
	b.xtime_sec += 3;
	b.seq++;
	KUNIT_EXPECT_TRUE(test, kvm_vmclock_ntp_same(&a, &b));
	b.maxerror_us++;
	KUNIT_EXPECT_FALSE(test, kvm_vmclock_ntp_same(&a, &b));
	b = a;
	b.esterror_us = 51;
	KUNIT_EXPECT_FALSE(test, kvm_vmclock_ntp_same(&a, &b));
	b = a;
	b.status = STA_INS;
	KUNIT_EXPECT_FALSE(test, kvm_vmclock_ntp_same(&a, &b));
	/* TIME_OK -> TIME_INS with STA_INS: PRE_POS both */
	a.status = STA_INS;
	b = a;
	b.state = TIME_INS;
	KUNIT_EXPECT_TRUE(test, kvm_vmclock_ntp_same(&a, &b));
	b.state = TIME_OOP;
	KUNIT_EXPECT_FALSE(test, kvm_vmclock_ntp_same(&a, &b));
	/* Unsynchronized: the error fields are not published */
	a.status = STA_UNSYNC;
	b = a;
	b.maxerror_us = 16000000;
	b.esterror_us = 16000000;
	KUNIT_EXPECT_TRUE(test, kvm_vmclock_ntp_same(&a, &b));
	b.status = 0;
	KUNIT_EXPECT_FALSE(test, kvm_vmclock_ntp_same(&a, &b));
	b = a;
	a.was_synced = false;
	KUNIT_EXPECT_FALSE(test, kvm_vmclock_ntp_same(&a, &b));
}

static void vmclock_ntp_unsync_no_errors(struct kunit *test)
{
	struct kvm_vmclock_params line = { .period_frac_sec = 1ULL << 63 };
	struct kvm_vmclock_ntp ntp = {
		.status = STA_UNSYNC,
		.maxerror_us = 2000,
		.esterror_us = 20,
		.maxerror_rate_us = 500,
	};
	struct vmclock_abi clk = {}, zero = {};

	kvm_vmclock_ntp_errors(&ntp, &line, 10, &clk);
	KUNIT_EXPECT_EQ(test, 0, memcmp(&clk, &zero, sizeof(clk)));
}

static void vmclock_ntp_status(struct kunit *test)
{
	struct kvm_vmclock_ntp ntp = { .status = STA_UNSYNC };

	KUNIT_EXPECT_EQ(test, kvm_vmclock_ntp_status(&ntp), VMCLOCK_STATUS_UNKNOWN);
	ntp.was_synced = true;
	KUNIT_EXPECT_EQ(test, kvm_vmclock_ntp_status(&ntp), VMCLOCK_STATUS_FREERUNNING);
	ntp.status = 0;
	KUNIT_EXPECT_EQ(test, kvm_vmclock_ntp_status(&ntp), VMCLOCK_STATUS_SYNCHRONIZED);
	ntp.status = STA_INS;
	KUNIT_EXPECT_EQ(test, kvm_vmclock_ntp_status(&ntp), VMCLOCK_STATUS_SYNCHRONIZED);
}

static void vmclock_ntp_leap(struct kunit *test)
{
	static const struct { int state, status; u8 leap; } cases[] = {
		{ TIME_OK, 0, VMCLOCK_LEAP_NONE },
		{ TIME_OK, STA_UNSYNC, VMCLOCK_LEAP_NONE },
		{ TIME_OK, STA_INS, VMCLOCK_LEAP_PRE_POS },
		{ TIME_OK, STA_DEL, VMCLOCK_LEAP_PRE_NEG },
		{ TIME_INS, STA_INS, VMCLOCK_LEAP_PRE_POS },
		{ TIME_INS, STA_INS | STA_UNSYNC, VMCLOCK_LEAP_PRE_POS },
		{ TIME_INS, 0, VMCLOCK_LEAP_NONE },
		{ TIME_INS, STA_DEL, VMCLOCK_LEAP_NONE },
		{ TIME_DEL, STA_DEL, VMCLOCK_LEAP_PRE_NEG },
		{ TIME_DEL, 0, VMCLOCK_LEAP_NONE },
		{ TIME_DEL, STA_INS, VMCLOCK_LEAP_NONE },
		{ TIME_OOP, STA_INS, VMCLOCK_LEAP_POS },
		{ TIME_OOP, 0, VMCLOCK_LEAP_POS },
		{ TIME_WAIT, STA_INS, VMCLOCK_LEAP_POST_POS },
		{ TIME_WAIT, STA_DEL, VMCLOCK_LEAP_POST_NEG },
		{ TIME_WAIT, 0, VMCLOCK_LEAP_NONE },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct kvm_vmclock_ntp ntp = {
			.state = cases[i].state,
			.status = cases[i].status,
		};

		KUNIT_EXPECT_EQ_MSG(test, kvm_vmclock_ntp_leap(&ntp), cases[i].leap,
				    "state %d status %#x", cases[i].state,
				    cases[i].status);
	}
}

/*
 * The deviation the error bound adds: the policy's bound, plus a rate
 * change across the whole ADJ_FREQUENCY range during the rewrite budget.
 */
static void vmclock_ntp_deviation(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, kvm_vmclock_deviation_ns(10), (u64)NTP_PAGE_DEV_NS);
	KUNIT_EXPECT_EQ(test, kvm_vmclock_deviation_ns(0), 10000ULL);
	KUNIT_EXPECT_EQ(test, kvm_vmclock_deviation_ns(1000000), 1010000ULL);
}

static struct kunit_case vmclock_ntp_test_cases[] = {
	KUNIT_CASE(vmclock_ntp_deviation),
	KUNIT_CASE(vmclock_ntp_maxerror_bound),
	KUNIT_CASE(vmclock_ntp_growth_same_page),
	KUNIT_CASE(vmclock_ntp_same),
	KUNIT_CASE(vmclock_ntp_unsync_no_errors),
	KUNIT_CASE(vmclock_ntp_status),
	KUNIT_CASE(vmclock_ntp_leap),
	{}
};

static struct kunit_suite vmclock_ntp_test_suite = {
	.name = "kvm_vmclock_ntp",
	.test_cases = vmclock_ntp_test_cases,
};

kunit_test_suite(vmclock_ntp_test_suite);
