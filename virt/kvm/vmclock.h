/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef __KVM_VMCLOCK_INTERNAL_H
#define __KVM_VMCLOCK_INTERNAL_H

#include <linux/clocksource_ids.h>
#include <linux/types.h>

/*
 * The clock of the vmclock provider (virt/kvm/vmclock_clock.c), for the
 * page code (virt/kvm/vmclock.c) and the KUnit tests.
 */

struct kvm;
struct vmclock_abi;

/**
 * struct kvm_vmclock_params - a linear clock in vmclock_abi units
 * @counter_value: counter value at the reference time
 * @period_frac_sec: counter period, in 2^-(64 + @period_shift) seconds
 * @period_shift: see @period_frac_sec
 * @time_sec: reference time, seconds
 * @time_frac_sec: reference time, fraction of a second in 2^-64 seconds
 */
struct kvm_vmclock_params {
	u64 counter_value;
	u64 period_frac_sec;
	u8 period_shift;
	u64 time_sec;
	u64 time_frac_sec;
};

/**
 * struct kvm_vmclock_host - what the vmclock provider needs of the timekeeper
 * @cycle_last: counter value of the last timekeeper update
 * @now: counter value when the snapshot was taken, not before @cycle_last
 *	 (later than it when the update comes late, or between ticks from
 *	 adjtimex)
 * @xtime_sec: CLOCK_REALTIME seconds at @cycle_last
 * @xtime_nsec: CLOCK_REALTIME nanoseconds at @cycle_last, shifted by @shift
 * @mult: current multiplier (dithered by one around the NTP rate)
 * @shift: clocksource shift
 * @tick_len: NTP length of one tick (@cycle_interval counter cycles), in
 *	      ns << NTP_SCALE_SHIFT, including the slew: the long-run rate
 * @cycle_interval: counter cycles per tick
 * @tai_offset: TAI - UTC, seconds
 * @tai_set: adjtimex(ADJ_TAI) set @tai_offset since boot (0 included)
 * @vclock_mode: the clocksource's vDSO mode
 * @cs_id: the clocksource's ID
 * @counter_ok: the clocksource was the architecture's counter, and stable,
 *		when the snapshot was taken (kvm_arch_vmclock_host_counter())
 */
struct kvm_vmclock_host {
	u64 cycle_last;
	u64 now;
	u64 xtime_sec;
	u64 xtime_nsec;
	u32 mult;
	u32 shift;
	u64 tick_len;
	u64 cycle_interval;
	s32 tai_offset;
	bool tai_set;
	int vclock_mode;
	enum clocksource_ids cs_id;
	bool counter_ok;
};

/**
 * struct kvm_vmclock_ntp - the host's NTP state, as the page publishes it
 * @status: the STA_UNSYNC, STA_INS and STA_DEL bits of NTP's status
 * @state: the leap second state (TIME_OK, TIME_INS, TIME_DEL, TIME_OOP,
 *	   TIME_WAIT)
 * @esterror_us: estimated error, microseconds
 * @maxerror_us: maximum error in the CLOCK_REALTIME second @xtime_sec,
 *		 microseconds
 * @maxerror_rate_us: microseconds the kernel adds to the maximum error at
 *		      each second boundary after @xtime_sec
 * @xtime_sec: see @maxerror_us
 * @seq: timekeeping's ntp_seq: changes with all of the above but the
 *	 growth of the maximum error
 * @was_synced: the host clock was synchronized (STA_UNSYNC clear) at some
 *		time since boot (timekeeping's history)
 */
struct kvm_vmclock_ntp {
	int status;
	int state;
	long esterror_us;
	long maxerror_us;
	long maxerror_rate_us;
	u64 xtime_sec;
	u32 seq;
	bool was_synced;
};

#if IS_ENABLED(CONFIG_KUNIT)
u8 kvm_vmclock_ntp_status(const struct kvm_vmclock_ntp *ntp);
u8 kvm_vmclock_ntp_leap(const struct kvm_vmclock_ntp *ntp);
bool kvm_vmclock_ntp_same(const struct kvm_vmclock_ntp *old,
			  const struct kvm_vmclock_ntp *now);
u64 kvm_vmclock_deviation_ns(u32 max_error_ns);
void kvm_vmclock_ntp_errors(const struct kvm_vmclock_ntp *ntp,
			    const struct kvm_vmclock_params *line,
			    u32 max_error_ns, struct vmclock_abi *clk);
int kvm_vmclock_period(u64 num, u64 den, unsigned int shift,
		       struct kvm_vmclock_params *p);
int kvm_vmclock_host_line(const struct kvm_vmclock_host *host,
			  struct kvm_vmclock_params *p);
bool kvm_vmclock_line_stale(const struct kvm_vmclock_host *old,
			    const struct kvm_vmclock_params *line,
			    const struct kvm_vmclock_host *now,
			    u32 max_error_ns);
int kvm_vmclock_host_params(u64 cycle_last, u32 mult, u32 shift,
			    u64 xtime_sec, u64 xtime_nsec,
			    struct kvm_vmclock_params *p);
int kvm_vmclock_guest_params(const struct kvm_vmclock_params *h, u64 offset,
			     u64 ratio, unsigned int frac_bits,
			     struct kvm_vmclock_params *g);
u64 kvm_vmclock_time_at(const struct kvm_vmclock_params *p, u64 counter,
			u64 *frac_sec);
int kvm_vmclock_user_to_guest(const struct vmclock_abi *h, u64 offset,
			      u64 ratio, unsigned int frac_bits,
			      struct vmclock_abi *g);
#endif

void kvm_vmclock_fill_auto(struct kvm *kvm, struct vmclock_abi *clk);
int kvm_vmclock_fill_user(struct kvm *kvm, const struct vmclock_abi *host,
			  struct vmclock_abi *clk);

#endif /* __KVM_VMCLOCK_INTERNAL_H */
