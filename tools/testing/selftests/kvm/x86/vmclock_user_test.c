// SPDX-License-Identifier: GPL-2.0-only
/*
 * USER mode of the KVM vmclock page: a clock given by userspace in the host
 * TSC domain must be reproduced exactly in the guest's (zero, positive,
 * negative and wrapping TSC offsets, a scaled TSC where KVM_CAP_TSC_CONTROL
 * exists), follow later TSC offset changes without an ioctl, and survive
 * AUTO/USER switches under a guest reading in a loop without torn or
 * backwards MONOTONIC readings.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
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

FIXTURE(vmclock) {
	struct vmclock_vm v;
};

FIXTURE_SETUP(vmclock)
{
	vmclock_vm_create(&self->v, 1);
}

FIXTURE_TEARDOWN(vmclock)
{
	kvm_vm_free(self->v.vm);
}

#define SWITCH_DURATION_NS	(2 * NSEC_PER_SEC)

static u64 offset_for(enum offset_kind kind, u64 khz)
{
	switch (kind) {
	case OFFSET_ZERO:
		return 0;
	case OFFSET_POSITIVE:
		return 1ULL << 62;
	case OFFSET_NEGATIVE:
		return -(rdtsc() / 2);
	case OFFSET_WRAP:
	default:
		/* The guest TSC wraps two seconds from now. */
		return -(khz * WRAP_DELAY_MS) - rdtsc();
	}
}

FIXTURE(vmclock_user) {
	struct vmclock_vm v;
};

FIXTURE_VARIANT(vmclock_user) {
	enum offset_kind kind;
	bool scaled;
};

FIXTURE_VARIANT_ADD(vmclock_user, offset_zero) { .kind = OFFSET_ZERO };

FIXTURE_VARIANT_ADD(vmclock_user, offset_positive) { .kind = OFFSET_POSITIVE };

FIXTURE_VARIANT_ADD(vmclock_user, offset_negative) { .kind = OFFSET_NEGATIVE };

FIXTURE_VARIANT_ADD(vmclock_user, offset_wrap) { .kind = OFFSET_WRAP };

FIXTURE_VARIANT_ADD(vmclock_user, scaled_ratio) {
	.kind = OFFSET_NEGATIVE, .scaled = true,
};

FIXTURE_SETUP(vmclock_user)
{
	vmclock_vm_create(&self->v, 1);
	vmclock_rng_state = FUZZ_SEED;
}

FIXTURE_TEARDOWN(vmclock_user)
{
	kvm_vm_free(self->v.vm);
}

/* A clock fed by userspace is reproduced exactly in the guest domain. */
TEST_F(vmclock_user, exact)
{
	struct kvm_vcpu *vcpu = self->v.vcpu[0];
	struct vmclock_abi h, before, after;
	struct tsc_xform x;
	struct user_call get;
	u64 khz = vmclock_vm_tsc_hz(self->v.vm) / 1000;

	if (variant->scaled) {
		if (!kvm_has_cap(KVM_CAP_TSC_CONTROL))
			SKIP(return,
			     "KVM_CAP_TSC_CONTROL not supported: no TSC scaling (KUnit kvm_vmclock covers the ratio arithmetic)");
		vcpu_ioctl(vcpu, KVM_SET_TSC_KHZ, (void *)(unsigned long)(khz / 2));
	}
	vmclock_set_tsc_offset(vcpu, offset_for(variant->kind, khz));
	vmclock_tsc_xform_get(vcpu, &x);
	if (variant->scaled && !x.ratio)
		SKIP(return, "TSC scaling ratio not visible in debugfs");

	vmclock_user_clock_now(self->v.vm, &h);
	vmclock_user_set(self->v.vm, 0, 0, &h);
	vmclock_assert_state(self->v.vm, KVM_VMCLOCK_MODE_USER, VMCLOCK_GPA);
	vmclock_assert_user_exact(&h, self->v.page, &x, false, "fed");
	vmclock_assert_user_guest_view(vcpu, &h, &x, "guest view");

	/* GET returns the clock as given, and the page's seq_count. */
	memset(&get, 0, sizeof(get));
	vmclock_user_clock_fix(&get);
	vm_ioctl(self->v.vm, KVM_GET_VMCLOCK, &get.vc);
	TEST_ASSERT(!memcmp(&get.clock, &h, sizeof(h)), "GET: not the clock given");
	TEST_ASSERT_EQ(get.vc.seq_count, self->v.page->seq_count);
	TEST_ASSERT_EQ(get.vc.user_clock, (unsigned long)&get.clock);

	/* A new clock, ten thousand ticks later on the same line. */
	vmclock_user_clock_advance(&h, &h, 10000);
	vmclock_user_set(self->v.vm, 0, 0, &h);
	vmclock_assert_user_exact(&h, self->v.page, &x, false, "fed again");

	/* USER -> AUTO -> USER: each switch is one seq_count step. */
	vmclock_page_read(self->v.page, &before);
	vmclock_auto_set(self->v.vm, 0, 0, NULL);
	vmclock_page_read(self->v.page, &after);
	TEST_ASSERT_EQ(after.seq_count, before.seq_count + 2);
	vmclock_assert_state(self->v.vm, KVM_VMCLOCK_MODE_AUTO, VMCLOCK_GPA);
	vmclock_user_set(self->v.vm, 0, 0, &h);
	vmclock_page_read(self->v.page, &before);
	TEST_ASSERT_EQ(before.seq_count, after.seq_count + 2);
	vmclock_assert_user_exact(&h, self->v.page, &x, false, "back to USER");
}

/* The TSC offset changes after the clock was fed: the page follows. */
TEST_F(vmclock, user_follows_offset)
{
	static const enum offset_kind kinds[] = {
		OFFSET_POSITIVE, OFFSET_NEGATIVE, OFFSET_WRAP, OFFSET_ZERO,
	};
	struct kvm_vcpu *vcpu = self->v.vcpu[0];
	u64 khz = vmclock_vm_tsc_hz(self->v.vm) / 1000;
	struct vmclock_abi h, clk;
	struct tsc_xform x;
	u64 updates;
	int i;

	vmclock_rng_state = FUZZ_SEED;
	vmclock_user_clock_now(self->v.vm, &h);
	vmclock_user_set(self->v.vm, 0, 0, &h);
	vmclock_tsc_xform_get(vcpu, &x);
	vmclock_assert_user_exact(&h, self->v.page, &x, false, "fed");

	for (i = 0; i < ARRAY_SIZE(kinds); i++) {
		vmclock_page_read(self->v.page, &clk);
		updates = vmclock_updates(self->v.vm);
		vmclock_set_tsc_offset(vcpu, offset_for(kinds[i], khz));
		vmclock_wait_seq_change(self->v.page, clk.seq_count, "offset change");
		vmclock_tsc_xform_get(vcpu, &x);
		vmclock_assert_user_exact(&h, self->v.page, &x, false, "new offset");
		vmclock_assert_user_guest_view(vcpu, &h, &x, "guest view");
		TEST_ASSERT(vmclock_updates(self->v.vm) - updates == 1,
			    "%lu updates for one offset change",
			    (unsigned long)(vmclock_updates(self->v.vm) - updates));
	}
	vmclock_assert_state(self->v.vm, KVM_VMCLOCK_MODE_USER, VMCLOCK_GPA);
}

/*
 * AUTO <-> USER switches, and new USER clocks, under a guest reading in a
 * loop: never a torn read, never a backwards MONOTONIC time.
 */
TEST(user_mode_switches)
{
	u64 start, sets = 0, d = 0, syncs;
	struct loop_args la = {};
	struct vmclock_abi base, clk;
	struct vmclock_vm v;
	pthread_t thread;
	int kmsg = vmclock_kmsg_open();

	vmclock_loop_vm_create(&v, true);
	vmclock_user_clock_now(v.vm, &base);
	vmclock_user_set(v.vm, 0, 0, &base);

	la.vcpu = v.vcpu[0];
	kvm_pthread_create(&thread, NULL, vmclock_vcpu_loop_thread, &la);

	start = vmclock_now_ns();
	while (vmclock_now_ns() - start < SWITCH_DURATION_NS) {
		/* A reference point on the line, in the past. */
		d = rdtsc() - base.counter_value - 1000;
		vmclock_user_clock_advance(&clk, &base, d);
		if (sets % 3 == 2)
			vmclock_auto_set(v.vm, 0, 0, NULL);
		else
			vmclock_user_set(v.vm, 0, 0, &clk);
		sets++;
	}
	syncs = __atomic_load_n(&la.syncs, __ATOMIC_RELAXED);
	__atomic_store_n(&la.stop, true, __ATOMIC_RELEASE);
	pthread_join(thread, NULL);

	ksft_print_msg("%lu switches and clocks, guest read %lu x %d times\n",
		       (unsigned long)sets, (unsigned long)syncs, LOOP_READS);
	TEST_ASSERT(syncs >= 2, "the guest hardly ran (%lu loops)",
		    (unsigned long)syncs);
	kvm_vm_free(v.vm);
	vmclock_kmsg_assert_clean(kmsg);
}

int main(int argc, char *argv[])
{
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_VMCLOCK));
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_ADJUST_CLOCK) & KVM_CLOCK_REALTIME);
	TEST_REQUIRE(sys_clocksource_is_based_on_tsc());

	return test_harness_run(argc, argv);
}
