/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef __ARCH_X86_KVM_VMCLOCK_H
#define __ARCH_X86_KVM_VMCLOCK_H

#include <linux/types.h>

struct timekeeper;
struct kvm_vcpu;

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

#if IS_ENABLED(CONFIG_KUNIT)
int kvm_vmclock_host_params(u64 cycle_last, u32 mult, u32 shift,
			    u64 xtime_sec, u64 xtime_nsec,
			    struct kvm_vmclock_params *p);
int kvm_vmclock_guest_params(const struct kvm_vmclock_params *h, u64 offset,
			     u64 ratio, unsigned int frac_bits,
			     struct kvm_vmclock_params *g);
u64 kvm_vmclock_time_at(const struct kvm_vmclock_params *p, u64 counter,
			u64 *frac_sec);
#endif

#ifdef CONFIG_KVM_VMCLOCK
void kvm_vmclock_gtod_notify(struct timekeeper *tk, bool was_set);
void kvm_vmclock_x86_exit(void);
#else
static inline void kvm_vmclock_gtod_notify(struct timekeeper *tk, bool was_set) {}
static inline void kvm_vmclock_x86_exit(void) {}
#endif

#endif /* __ARCH_X86_KVM_VMCLOCK_H */
