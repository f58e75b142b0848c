/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers for tests of the vmclock page KVM publishes (KVM_SET_VMCLOCK):
 * reading it with the seq_count protocol, computing its time exactly as
 * drivers/ptp/ptp_vmclock.c does, and comparing it with KVM_GET_CLOCK.
 */
#ifndef SELFTEST_KVM_VMCLOCK_H
#define SELFTEST_KVM_VMCLOCK_H

#include <string.h>
#include <time.h>

#include <asm/barrier.h>
#include <linux/vmclock-abi.h>

#include "kvm_util.h"
#include "test_util.h"

#define VMCLOCK_PAGE_SIZE	4096ULL

/* The vmclock_abi flags a VMM sets in kvm_vmclock.clock_flags */
#define VMCLOCK_VMM_FLAGS	(VMCLOCK_FLAG_DISRUPTION_SOON |		\
				 VMCLOCK_FLAG_DISRUPTION_IMMINENT |	\
				 VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT)

/* What KVM_GET_VMCLOCK returns in flags: its output is KVM_SET_VMCLOCK input. */
#define VMCLOCK_GET_FLAGS	(KVM_VMCLOCK_FLAG_SET_DISRUPTION |	\
				 KVM_VMCLOCK_FLAG_SET_VM_GENERATION |	\
				 KVM_VMCLOCK_FLAG_SET_SEQ_COUNT)

/* Exactly the arithmetic of ptp_vmclock's vmclock_get_crosststamp(). */
static inline u64 vmclock_time_at(const struct vmclock_abi *clk, u64 counter,
				  u64 *sec)
{
	unsigned __int128 res;
	u64 delta = counter - clk->counter_value;

	res = (unsigned __int128)delta * clk->counter_period_frac_sec;
	res >>= clk->counter_period_shift;
	res += clk->time_frac_sec;
	*sec = (u64)(res >> 64) + clk->time_sec;
	return (u64)res;
}

/* The page's time at @counter, in ns since the epoch (rounded down) */
static inline u64 vmclock_ns_at(const struct vmclock_abi *clk, u64 counter)
{
	u64 sec, frac = vmclock_time_at(clk, counter, &sec);

	return sec * 1000000000ULL +
	       (u64)(((unsigned __int128)frac * 1000000000ULL) >> 64);
}

/*
 * A clock a guest may use: in AUTO mode SYNCHRONIZED, FREERUNNING or
 * UNKNOWN follow the host's NTP status (UNKNOWN: never synchronized).
 */
static inline bool vmclock_status_reliable(u8 status)
{
	return status == VMCLOCK_STATUS_SYNCHRONIZED ||
	       status == VMCLOCK_STATUS_FREERUNNING ||
	       status == VMCLOCK_STATUS_UNKNOWN;
}

static inline u64 vmclock_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/*
 * A seq_count-consistent copy of @page, from the host; fails the test if
 * seq_count does not settle within 100 ms.
 */
static inline void vmclock_page_read(const struct vmclock_abi *page,
				     struct vmclock_abi *copy)
{
	u64 deadline = vmclock_now_ns() + 100000000ULL;
	u32 seq;

	for (;;) {
		seq = READ_ONCE(page->seq_count) & ~1u;
		/* Pairs with the write barrier after KVM's odd seq. */
		smp_rmb();
		memcpy(copy, page, sizeof(*copy));
		/* Pairs with the write barrier before KVM's even seq. */
		smp_rmb();
		if (READ_ONCE(page->seq_count) == seq) {
			copy->seq_count = seq;
			return;
		}
		TEST_ASSERT(vmclock_now_ns() < deadline,
			    "seq_count 0x%x did not settle within 100 ms",
			    READ_ONCE(page->seq_count));
	}
}

/*
 * Re-evaluate the master clock (as kvm_clock_test does): KVM_GET_CLOCK
 * gives a (host TSC, realtime) pair only with it.
 */
static inline void vmclock_kvmclock_refresh(struct kvm_vm *vm)
{
	struct kvm_clock_data data = {};
	struct kvm_clock_data set = {};

	vm_ioctl(vm, KVM_GET_CLOCK, &data);
	set.clock = data.clock;
	vm_ioctl(vm, KVM_SET_CLOCK, &set);
}

/* KVM_GET_CLOCK with the host TSC and CLOCK_REALTIME */
static inline void vmclock_get_clock(struct kvm_vm *vm,
				     struct kvm_clock_data *data)
{
	memset(data, 0, sizeof(*data));
	vm_ioctl(vm, KVM_GET_CLOCK, data);
	TEST_ASSERT((data->flags & (KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC)) ==
		    (KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC),
		    "KVM_GET_CLOCK flags 0x%x: no (host TSC, realtime) pair",
		    data->flags);
}

/*
 * Page time minus CLOCK_REALTIME, in ns, at one (host TSC, realtime) pair,
 * for a guest TSC = host TSC + @tsc_offset (no scaling).  The page copy is
 * taken before and after the pair and must not change in between (retried
 * otherwise), so that it was published before the pair was taken.
 * Returns false if the page is not reliable.
 */
static inline bool vmclock_page_error(struct kvm_vm *vm,
				      const struct vmclock_abi *page,
				      u64 tsc_offset, s64 *err)
{
	struct vmclock_abi before, after;
	struct kvm_clock_data data;

	for (;;) {
		vmclock_page_read(page, &before);
		vmclock_get_clock(vm, &data);
		vmclock_page_read(page, &after);
		if (!memcmp(&before, &after, sizeof(before)))
			break;
	}
	if (!vmclock_status_reliable(before.clock_status))
		return false;
	*err = (s64)(vmclock_ns_at(&before, data.host_tsc + tsc_offset) -
		     data.realtime);
	return true;
}

/*
 * A USER mode clock through (@host_tsc, @realtime_ns) with a period of
 * 1 / @hz s, normalised (the largest shift that keeps the period below
 * 2^64), SYNCHRONIZED, UTC, and no optional field.
 */
static inline void vmclock_user_clock_at(struct vmclock_abi *c, u64 host_tsc,
					 u64 realtime_ns, u64 hz)
{
	int shift;

	memset(c, 0, sizeof(*c));
	c->magic = VMCLOCK_MAGIC;
	c->size = VMCLOCK_PAGE_SIZE;
	c->version = 1;
	c->counter_id = VMCLOCK_COUNTER_X86_TSC;
	c->time_type = VMCLOCK_TIME_UTC;
	c->clock_status = VMCLOCK_STATUS_SYNCHRONIZED;
	for (shift = 0; shift < 63; shift++)
		if ((((unsigned __int128)1 << (64 + shift + 1)) / hz) >> 64)
			break;
	c->counter_period_shift = shift;
	c->counter_period_frac_sec =
		(u64)(((unsigned __int128)1 << (64 + shift)) / hz);
	c->counter_value = host_tsc;
	c->time_sec = realtime_ns / 1000000000ULL;
	c->time_frac_sec =
		(u64)(((unsigned __int128)(realtime_ns % 1000000000ULL) << 64) /
		      1000000000ULL);
}

/* The same, at the (host TSC, realtime) pair of one KVM_GET_CLOCK */
static inline void vmclock_user_clock(struct kvm_vm *vm, u64 hz,
				      struct vmclock_abi *c)
{
	struct kvm_clock_data data;

	vmclock_get_clock(vm, &data);
	vmclock_user_clock_at(c, data.host_tsc, data.realtime, hz);
}

static inline u64 vmclock_tsc_offset(struct kvm_vcpu *vcpu)
{
	u64 offset;

	vcpu_device_attr_get(vcpu, KVM_VCPU_TSC_CTRL, KVM_VCPU_TSC_OFFSET,
			     &offset);
	return offset;
}

static inline void vmclock_set_tsc_offset(struct kvm_vcpu *vcpu, u64 offset)
{
	vcpu_device_attr_set(vcpu, KVM_VCPU_TSC_CTRL, KVM_VCPU_TSC_OFFSET,
			     &offset);
}

static inline u64 vmclock_updates(struct kvm_vm *vm)
{
	return vm_get_stat(vm, vmclock_updates);
}

#endif /* SELFTEST_KVM_VMCLOCK_H */
