// SPDX-License-Identifier: GPL-2.0-only
/*
 * KVM/x86 vmclock provider: the guest's TSC and the host's, for the
 * generic vmclock core (virt/kvm/vmclock.c and virt/kvm/vmclock_clock.c).
 *
 * The core publishes the host's CLOCK_REALTIME as a linear function of a
 * counter; on x86 that counter is the TSC.  All this file tells the core
 * is how the guest's TSC derives from the host's (the vCPUs' TSC offset
 * and scaling ratio), whether the host clocksource is the TSC and KVM
 * trusts it, and how to read it.  pvclock_gtod_notify() in x86.c feeds the
 * host timekeeper's updates in with kvm_vmclock_timekeeper_update().
 */

#include <linux/clocksource.h>
#include <linux/clocksource_ids.h>
#include <linux/kvm_host.h>
#include <asm/tsc.h>

#include "x86.h"

/*
 * The guest TSC domain: the TSC offset and scaling ratio shared by all
 * vCPUs.  False if there is no vCPU yet, the vCPUs disagree, or one of them
 * uses software catch-up (its TSC is not linear in the host's): because its
 * frequency is above the host's without TSC scaling (tsc_always_catchup),
 * or because the host TSC is unstable (tsc_catchup).
 */
bool kvm_arch_vmclock_guest_counter(struct kvm *kvm,
				    struct kvm_vmclock_counter *c)
{
	struct kvm_vcpu *vcpu;
	unsigned long i;
	bool found = false;

	c->counter_id = VMCLOCK_COUNTER_X86_TSC;
	c->frac_bits = kvm_caps.tsc_scaling_ratio_frac_bits;

	kvm_for_each_vcpu(i, vcpu, kvm) {
		u64 o = READ_ONCE(vcpu->arch.l1_tsc_offset);
		u64 r = READ_ONCE(vcpu->arch.l1_tsc_scaling_ratio);

		if (READ_ONCE(vcpu->arch.tsc_always_catchup) ||
		    READ_ONCE(vcpu->arch.tsc_catchup))
			return false;
		if (!found) {
			c->offset = o;
			c->ratio = r;
			found = true;
		} else if (o != c->offset || r != c->ratio) {
			return false;
		}
	}
	return found;
}

bool kvm_arch_vmclock_host_counter(int vclock_mode, enum clocksource_ids cs_id)
{
	/*
	 * mult must convert TSC cycles: not the case for HVCLOCK, which
	 * counts Hyper-V reference time units.
	 */
	return vclock_mode == VDSO_CLOCKMODE_TSC &&
	       (cs_id == CSID_X86_TSC || cs_id == CSID_X86_TSC_EARLY) &&
	       !check_tsc_unstable();
}

u64 kvm_arch_vmclock_read_counter(void)
{
	return rdtsc_ordered();
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
