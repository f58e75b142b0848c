// SPDX-License-Identifier: GPL-2.0-only
/*
 * AUTO mode of the KVM vmclock page (KVM_SET_VMCLOCK): the page KVM
 * publishes in the guest's TSC domain, from the host timekeeper.
 *
 * The time computed from the page exactly as drivers/ptp/ptp_vmclock.c does
 * is compared with the (host TSC, CLOCK_REALTIME) pairs from KVM_GET_CLOCK,
 * both from the host (reading guest memory) and from the guest itself:
 * after KVM_SET_VMCLOCK, after TSC offset changes made with
 * KVM_VCPU_TSC_OFFSET or by the guest writing MSR_IA32_TSC, with a scaled
 * TSC, for two VMs at once, and across mode changes.  A page whose guest
 * TSC domain is not defined (vCPUs that disagree, no vCPU) must say
 * UNRELIABLE.
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

/*
 * Relative tolerance of the page's counter period versus 1 / KVM_GET_TSC_KHZ
 * with TSC scaling; the kHz value is itself a quantised calibration.  Only
 * meant to catch an unscaled (or doubly scaled) period.
 */
#define VMCLOCK_PERIOD_TOLERANCE_PPM	1000
#define ACCURACY_MIN_NS			(2 * NSEC_PER_SEC)
#define ACCURACY_MIN_SAMPLES		10000
#define GUEST_VIEW_RUNS			1000
#define GUEST_VIEW_MIN_RUNS		50
#define GUEST_VIEW_MAX_NS		(1 * NSEC_PER_SEC)

/* Poll the guest's view until it is inside the host bracket. */
static void wait_guest_accurate(struct kvm_vcpu *vcpu, const char *what)
{
	u64 start = vmclock_now_ns();
	struct vmclock_guest_sample s;

	for (;;) {
		vmclock_guest_sample(vcpu, &s);
		if (vmclock_guest_sample_ok(&s))
			return;
		TEST_ASSERT(vmclock_now_ns() - start < UPDATE_TIMEOUT_NS,
			    "%s: guest view status %u, %lu not in [%llu, %llu] within 1 s",
			    what, s.status, (unsigned long)s.ns,
			    s.before.realtime, s.after.realtime);
		usleep(1000);
	}
}

/*
 * Run the guest repeatedly; each guest reading of the page must lie within
 * the host's KVM_GET_CLOCK bracket.  If @x is given, the guest's RDTSC must
 * also lie within the bracket converted to the guest TSC domain.
 */
static void run_guest_view(struct kvm_vcpu *vcpu, const struct tsc_xform *x,
			   const char *what)
{
	s64 worst_early = INT64_MIN, worst_late = INT64_MIN;
	u64 start = vmclock_now_ns(), runs = 0, max_tries = 0;
	struct vmclock_guest_sample s;
	u64 lo, hi;

	while (runs < GUEST_VIEW_RUNS &&
	       (runs < GUEST_VIEW_MIN_RUNS || vmclock_now_ns() - start < GUEST_VIEW_MAX_NS)) {
		vmclock_guest_sample(vcpu, &s);
		runs++;

		TEST_ASSERT(vmclock_status_reliable(s.status),
			    "%s: guest sees clock_status %u", what, s.status);
		TEST_ASSERT(vmclock_guest_sample_ok(&s),
			    "%s: guest time %lu not in [%llu, %llu] (+/- %d ns), run %lu",
			    what, (unsigned long)s.ns, s.before.realtime,
			    s.after.realtime, GUEST_BRACKET_SLACK_NS,
			    (unsigned long)runs);
		if (x) {
			lo = vmclock_host_to_guest_tsc(x, s.before.host_tsc);
			hi = vmclock_host_to_guest_tsc(x, s.after.host_tsc);
			/* Modulo 2^64, so this also holds across a wrap. */
			TEST_ASSERT(s.tsc - lo <= hi - lo,
				    "%s: guest tsc 0x%lx not in [0x%lx, 0x%lx]",
				    what, (unsigned long)s.tsc,
				    (unsigned long)lo, (unsigned long)hi);
		}
		if ((s64)(s.before.realtime - s.ns) > worst_early)
			worst_early = s.before.realtime - s.ns;
		if ((s64)(s.ns - s.after.realtime) > worst_late)
			worst_late = s.ns - s.after.realtime;
		if (s.tries > max_tries)
			max_tries = s.tries;
	}

	ksft_print_msg("%s: %lu runs, max before-t %ld, t-after %ld ns (<= %d), tries %lu\n",
		       what, (unsigned long)runs, (long)worst_early,
		       (long)worst_late, GUEST_BRACKET_SLACK_NS,
		       (unsigned long)max_tries);
}

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

TEST(cap)
{
	int mask = kvm_check_cap(KVM_CAP_VMCLOCK);
	struct kvm_vm *vm = vm_create_barebones();

	TEST_ASSERT(mask & BIT(KVM_VMCLOCK_MODE_AUTO), "cap 0x%x", mask);
	TEST_ASSERT(mask & BIT(KVM_VMCLOCK_MODE_USER), "cap 0x%x", mask);
	TEST_ASSERT(!(mask & ~(BIT(KVM_VMCLOCK_MODE_AUTO) |
			       BIT(KVM_VMCLOCK_MODE_USER) |
			       BIT(KVM_VMCLOCK_MODE_OFF))),
		    "cap 0x%x has unknown modes", mask);
	TEST_ASSERT(vm_check_cap(vm, KVM_CAP_VMCLOCK) == mask,
		    "VM cap 0x%x, system cap 0x%x",
		    vm_check_cap(vm, KVM_CAP_VMCLOCK), mask);
	vmclock_assert_state(vm, KVM_VMCLOCK_MODE_OFF, 0);
	kvm_vm_free(vm);
}

TEST_F_TIMEOUT(vmclock, accuracy, 60)
{
	struct tsc_xform x;

	vmclock_vm_enable(&self->v, &x);
	vmclock_run_accuracy(self->v.vm, self->v.page, &x, ACCURACY_MIN_NS,
			     ACCURACY_MIN_SAMPLES, false, "accuracy");
}

TEST_F_TIMEOUT(vmclock, guest_view, 60)
{
	struct tsc_xform x;

	vmclock_vm_enable(&self->v, &x);
	run_guest_view(self->v.vcpu[0], &x, "guest view");
	/* And the host-side reading of the same page agrees. */
	vmclock_run_accuracy(self->v.vm, self->v.page, &x, ACCURACY_SHORT_NS,
			     ACCURACY_SHORT_SAMPLES, false, "after guest view");
}

FIXTURE(vmclock_tsc_offset) {
	struct vmclock_vm v;
};

FIXTURE_VARIANT(vmclock_tsc_offset) {
	enum offset_kind kind;
};

FIXTURE_VARIANT_ADD(vmclock_tsc_offset, zero) { .kind = OFFSET_ZERO };

FIXTURE_VARIANT_ADD(vmclock_tsc_offset, large_positive) { .kind = OFFSET_POSITIVE };

FIXTURE_VARIANT_ADD(vmclock_tsc_offset, negative) { .kind = OFFSET_NEGATIVE };

FIXTURE_VARIANT_ADD(vmclock_tsc_offset, wrap) { .kind = OFFSET_WRAP };

FIXTURE_SETUP(vmclock_tsc_offset)
{
	vmclock_vm_create(&self->v, 1);
}

FIXTURE_TEARDOWN(vmclock_tsc_offset)
{
	kvm_vm_free(self->v.vm);
}

TEST_F_TIMEOUT(vmclock_tsc_offset, follows, 60)
{
	struct kvm_vcpu *vcpu = self->v.vcpu[0];
	struct vmclock_abi clk;
	struct tsc_xform x;
	u64 offset, khz;
	bool wrap = variant->kind == OFFSET_WRAP;

	vmclock_vm_enable(&self->v, &x);
	khz = __vcpu_ioctl(vcpu, KVM_GET_TSC_KHZ, NULL);
	TEST_ASSERT((s64)khz > 0, "KVM_GET_TSC_KHZ failed");

	switch (variant->kind) {
	case OFFSET_ZERO:
		offset = 0;
		break;
	case OFFSET_POSITIVE:
		offset = 1ULL << 62;
		break;
	case OFFSET_NEGATIVE:
		/* Guest TSC = host TSC / 2 now, offset < 0. */
		offset = -(rdtsc() / 2);
		break;
	case OFFSET_WRAP:
	default:
		/* Guest TSC = 2^64 - WRAP_DELAY_MS worth of ticks now. */
		offset = -(khz * WRAP_DELAY_MS) - rdtsc();
		break;
	}

	vmclock_page_read(self->v.page, &clk);
	vmclock_set_tsc_offset(vcpu, offset);
	vmclock_kvmclock_refresh(self->v.vm);
	vmclock_tsc_xform_get(vcpu, &x);
	TEST_ASSERT_EQ(x.offset, offset);
	ksft_print_msg("TSC offset 0x%lx, guest TSC ~0x%lx, %lu kHz\n",
		       (unsigned long)offset,
		       (unsigned long)vmclock_host_to_guest_tsc(&x, rdtsc()),
		       (unsigned long)khz);

	vmclock_wait_accurate(self->v.vm, self->v.page, &x, clk.seq_count,
			      "new offset");
	/* With a wrap pending, sample across it before anything slow. */
	vmclock_run_accuracy(self->v.vm, self->v.page, &x, ACCURACY_SHORT_NS,
			     ACCURACY_SHORT_SAMPLES, wrap, "new offset");
	run_guest_view(vcpu, &x, wrap ? "guest view after wrap" : "guest view");
}

TEST(tsc_scaling)
{
	long double period, rel;
	struct vmclock_vm v = {};
	struct vmclock_guest_sample s1, s2;
	struct vmclock_abi clk;
	struct tsc_xform x;
	u64 khz, new_khz, t1, t2, rate_khz;
	int r, i;

	if (!kvm_has_cap(KVM_CAP_TSC_CONTROL))
		SKIP(return, "KVM_CAP_TSC_CONTROL not supported: no TSC scaling");

	v.vm = vm_create(1);
	r = __vm_ioctl(v.vm, KVM_GET_TSC_KHZ, NULL);
	TEST_ASSERT(r > 0, "KVM_GET_TSC_KHZ failed");
	khz = r;
	new_khz = khz / 2;
	vm_ioctl(v.vm, KVM_SET_TSC_KHZ, (void *)(unsigned long)new_khz);
	v.nr_vcpus = 1;
	v.vcpu[0] = vm_vcpu_add(v.vm, 0, vmclock_guest_code);
	vm_userspace_mem_region_add(v.vm, VM_MEM_SRC_ANONYMOUS, VMCLOCK_GPA,
				    VMCLOCK_SLOT, VMCLOCK_NPAGES, 0);
	virt_map(v.vm, VMCLOCK_GVA, VMCLOCK_GPA, VMCLOCK_NPAGES);
	v.page = addr_gpa2hva(v.vm, VMCLOCK_GPA);
	vcpu_args_set(v.vcpu[0], 1, VMCLOCK_GVA);
	vmclock_kvmclock_refresh(v.vm);

	vmclock_set(v.vm, KVM_VMCLOCK_MODE_AUTO, VMCLOCK_GPA);
	vmclock_wait_status(v.page, false, "scaled");

	/* Does the guest TSC really run at new_khz? */
	vmclock_guest_sample(v.vcpu[0], &s1);
	t1 = vmclock_now_ns();
	usleep(100 * 1000);
	vmclock_guest_sample(v.vcpu[0], &s2);
	t2 = vmclock_now_ns();
	rate_khz = (s2.tsc - s1.tsc) * 1000000ULL / (t2 - t1);
	ksft_print_msg("host %lu kHz, requested %lu kHz, measured guest %lu kHz\n",
		       (unsigned long)khz, (unsigned long)new_khz,
		       (unsigned long)rate_khz);
	if (rate_khz > khz * 9 / 10)
		SKIP(goto out, "TSC is not scaled (guest runs at %lu kHz)",
		     (unsigned long)rate_khz);

	wait_guest_accurate(v.vcpu[0], "scaled");
	run_guest_view(v.vcpu[0], NULL, "scaled guest view");

	vmclock_page_read(v.page, &clk);
	period = clk.counter_period_frac_sec;
	for (i = 0; i < 64 + clk.counter_period_shift; i++)
		period /= 2;
	rel = period * new_khz * 1000.0L - 1.0L;
	ksft_print_msg("period %.6Le s/tick, relative to 1/%lu kHz: %.3Lf ppm\n",
		       period, (unsigned long)new_khz, rel * 1e6L);
	TEST_ASSERT(rel * 1e6L < VMCLOCK_PERIOD_TOLERANCE_PPM &&
		    rel * 1e6L > -VMCLOCK_PERIOD_TOLERANCE_PPM,
		    "period off by %.3Lf ppm", rel * 1e6L);

	vmclock_tsc_xform_get(v.vcpu[0], &x);
	if (x.ratio)
		vmclock_run_accuracy(v.vm, v.page, &x, ACCURACY_SHORT_NS,
				     ACCURACY_SHORT_SAMPLES, false, "scaled");
	else
		ksft_print_msg("no debugfs scaling ratio: host-side exact check skipped\n");
out:
	kvm_vm_free(v.vm);
}

TEST_F(vmclock, modes)
{
	struct vmclock_vm *v = &self->v;
	u8 snap[VMCLOCK_PAGE_SIZE];
	struct kvm_vmclock vc;
	struct tsc_xform x = {};
	struct vmclock_abi clk;
	int round;

	vmclock_assert_state(v->vm, KVM_VMCLOCK_MODE_OFF, 0);

	for (round = 0; round < 2; round++) {
		/* The header must be written synchronously by SET. */
		memset(v->page, 0xff, VMCLOCK_PAGE_SIZE);
		vmclock_set(v->vm, KVM_VMCLOCK_MODE_AUTO, VMCLOCK_GPA);
		vmclock_page_read(v->page, &clk);
		vmclock_assert_header(&clk);

		vmclock_get(v->vm, &vc);
		TEST_ASSERT(vc.mode == KVM_VMCLOCK_MODE_AUTO &&
			    vc.gpa == VMCLOCK_GPA, "GET: mode %u gpa 0x%lx",
			    vc.mode, (unsigned long)vc.gpa);
		TEST_ASSERT_EQ(vc.seq_count, v->page->seq_count);

		vmclock_tsc_xform_get(v->vcpu[0], &x);
		vmclock_wait_accurate(v->vm, v->page, &x, -1, "auto");

		/* AUTO again at the same GPA is accepted. */
		vmclock_set(v->vm, KVM_VMCLOCK_MODE_AUTO, VMCLOCK_GPA);
		vmclock_assert_state(v->vm, KVM_VMCLOCK_MODE_AUTO, VMCLOCK_GPA);

		vmclock_set(v->vm, KVM_VMCLOCK_MODE_OFF, 0);
		vmclock_assert_state(v->vm, KVM_VMCLOCK_MODE_OFF, 0);

		/* After OFF, KVM no longer writes the page. */
		memcpy(snap, v->page, sizeof(snap));
		vmclock_set_tsc_offset(v->vcpu[0], x.offset + 1000);
		vmclock_set_tsc_offset(v->vcpu[0], x.offset);
		vmclock_kvmclock_refresh(v->vm);
		usleep(100 * 1000);
		TEST_ASSERT(!memcmp(snap, v->page, sizeof(snap)),
			    "page written after MODE_OFF");
	}

	/* AUTO -> AUTO elsewhere: the new page is live, the old one is left. */
	vmclock_set(v->vm, KVM_VMCLOCK_MODE_AUTO, VMCLOCK_GPA);
	vmclock_wait_accurate(v->vm, v->page, &x, -1, "auto");
	vmclock_set(v->vm, KVM_VMCLOCK_MODE_AUTO, VMCLOCK_ALT_GPA);
	vmclock_assert_state(v->vm, KVM_VMCLOCK_MODE_AUTO, VMCLOCK_ALT_GPA);
	memcpy(snap, v->page, sizeof(snap));
	vmclock_wait_accurate(v->vm, (struct vmclock_abi *)v->alt, &x, -1, "moved");
	vmclock_set_tsc_offset(v->vcpu[0], x.offset);
	vmclock_kvmclock_refresh(v->vm);
	usleep(100 * 1000);
	TEST_ASSERT(!memcmp(snap, v->page, sizeof(snap)),
		    "old page written after moving the GPA");
	vmclock_set(v->vm, KVM_VMCLOCK_MODE_OFF, 0);
	vmclock_assert_state(v->vm, KVM_VMCLOCK_MODE_OFF, 0);
}

TEST(two_vms)
{
	struct vmclock_vm v[2] = {};
	struct tsc_xform x[2];
	int i, j;

	for (i = 0; i < 2; i++)
		vmclock_vm_create(&v[i], 1);

	/* Second VM: ~2^45 ticks (hours) ahead of the first. */
	vmclock_tsc_xform_get(v[0].vcpu[0], &x[0]);
	vmclock_set_tsc_offset(v[1].vcpu[0], x[0].offset + (1ULL << 45));
	vmclock_kvmclock_refresh(v[1].vm);

	for (i = 0; i < 2; i++) {
		vmclock_vm_enable(&v[i], &x[i]);
		ksft_print_msg("VM%d TSC offset 0x%lx\n", i,
			       (unsigned long)x[i].offset);
	}
	TEST_ASSERT(x[1].offset != x[0].offset, "offsets equal");

	for (j = 0; j < 2; j++) {
		for (i = 0; i < 2; i++) {
			vmclock_run_accuracy(v[i].vm, v[i].page, &x[i],
					     ACCURACY_SHORT_NS / 2,
					     ACCURACY_SHORT_SAMPLES / 2, false,
					     i ? "VM1" : "VM0");
			run_guest_view(v[i].vcpu[0], &x[i],
				       i ? "VM1 guest" : "VM0 guest");
		}
	}

	for (i = 0; i < 2; i++)
		kvm_vm_free(v[i].vm);
}

TEST(unreliable_tsc_offsets)
{
	struct vmclock_vm v = {};
	struct tsc_xform x;
	u64 off0;

	vmclock_vm_create(&v, 2);
	vcpu_device_attr_get(v.vcpu[0], KVM_VCPU_TSC_CTRL, KVM_VCPU_TSC_OFFSET,
			     &off0);
	vmclock_set_tsc_offset(v.vcpu[1], off0);
	vmclock_kvmclock_refresh(v.vm);
	vmclock_set(v.vm, KVM_VMCLOCK_MODE_AUTO, VMCLOCK_GPA);
	vmclock_wait_status(v.page, false, "equal offsets");

	vmclock_set_tsc_offset(v.vcpu[1], off0 + 1000000000ULL);
	vmclock_wait_status(v.page, true, "vCPU1 offset differs");

	vmclock_set_tsc_offset(v.vcpu[1], off0);
	vmclock_wait_status(v.page, false, "equal again");

	vmclock_set_tsc_offset(v.vcpu[0], off0 + 1000000000ULL);
	vmclock_wait_status(v.page, true, "vCPU0 offset differs");

	vmclock_set_tsc_offset(v.vcpu[1], off0 + 1000000000ULL);
	vmclock_wait_status(v.page, false, "equal at a new offset");

	vmclock_kvmclock_refresh(v.vm);
	vmclock_tsc_xform_get(v.vcpu[0], &x);
	vmclock_wait_accurate(v.vm, v.page, &x, -1, "equal at a new offset");
	vmclock_run_accuracy(v.vm, v.page, &x, ACCURACY_SHORT_NS / 2,
			     ACCURACY_SHORT_SAMPLES / 2, false, "2 vCPUs");
	run_guest_view(v.vcpu[0], &x, "vCPU0 guest view");
	run_guest_view(v.vcpu[1], &x, "vCPU1 guest view");
	kvm_vm_free(v.vm);
}

TEST(unreliable_without_vcpu)
{
	struct kvm_vm *vm = vm_create_barebones();
	struct vmclock_abi *page, clk;

	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, VMCLOCK_GPA,
				    VMCLOCK_SLOT, 1, 0);
	page = addr_gpa2hva(vm, VMCLOCK_GPA);
	vmclock_set(vm, KVM_VMCLOCK_MODE_AUTO, VMCLOCK_GPA);
	vmclock_page_read(page, &clk);
	vmclock_assert_header(&clk);
	TEST_ASSERT(clk.clock_status == VMCLOCK_STATUS_UNRELIABLE,
		    "no vCPU, clock_status %u", clk.clock_status);

	__vm_vcpu_add(vm, 0);
	vmclock_wait_status(page, false, "first vCPU created");
	kvm_vm_free(vm);
}

/*
 * The guest writes its own TSC (MSR_IA32_TSC, which moves the TSC offset):
 * the page follows without userspace asking, in USER mode from the clock it
 * was given and in AUTO mode from the host timekeeper.
 */
/* Guest TSC writes per guest_writes_tsc() */
#define GUEST_TSC_WRITES	20

/*
 * A page of the old TSC after a write of 2^60 is years off; a USER clock
 * derived from KVM_GET_TSC_KHZ drifts by at most microseconds here.
 */
#define STALE_SLACK_NS		(1000 * 1000)

static void guest_writes_tsc(struct vmclock_vm *v, u64 value,
			     struct tsc_xform *x, u64 max_updates,
			     const char *what)
{
	struct kvm_vcpu *vcpu = v->vcpu[0];
	struct tsc_xform old;
	struct vmclock_guest_sample s;
	struct vmclock_abi clk;
	u64 updates;
	int i;

	vmclock_tsc_xform_get(vcpu, &old);
	vmclock_page_read(v->page, &clk);
	updates = vmclock_updates(v->vm);

	/*
	 * The write, then one reading in the same guest run: the page must
	 * describe the new TSC (KVM rewrites it before the vCPU enters the
	 * guest again), or say it is not reliable.  Several writes, so that
	 * a page that follows only later (from a work item) is caught.
	 */
	for (i = 0; i < GUEST_TSC_WRITES; i++) {
		u64 w = value + ((GUEST_TSC_WRITES - 1 - i) & 1 ? 1ULL << 50 : 0);

		vmclock_guest_wrmsr_tsc = w;
		sync_global_to_guest(v->vm, vmclock_guest_wrmsr_tsc);
		vmclock_guest_sample(vcpu, &s);
		TEST_ASSERT(s.tsc - w < (1ULL << 40),
			    "%s: guest TSC 0x%lx after writing 0x%lx", what,
			    (unsigned long)s.tsc, (unsigned long)w);
		TEST_ASSERT(vmclock_status_reliable(s.status) &&
			    s.ns + STALE_SLACK_NS >= s.before.realtime &&
			    s.ns <= s.after.realtime + STALE_SLACK_NS,
			    "%s: write %d: right after it the guest read status %u, time %lu, host window [%llu, %llu]: a page of the old TSC",
			    what, i, s.status, (unsigned long)s.ns,
			    s.before.realtime, s.after.realtime);
	}

	vmclock_wait_seq_change(v->page, clk.seq_count, what);
	vmclock_tsc_xform_get(vcpu, x);
	TEST_ASSERT(x->offset != old.offset, "%s: TSC offset unchanged", what);
	TEST_ASSERT(vmclock_host_to_guest_tsc(x, rdtsc()) - value < (1ULL << 40),
		    "%s: offset 0x%lx does not give the written TSC", what,
		    (unsigned long)x->offset);
	updates = vmclock_updates(v->vm) - updates;
	TEST_ASSERT(updates >= GUEST_TSC_WRITES &&
		    updates <= max_updates * GUEST_TSC_WRITES,
		    "%s: %lu updates for %d TSC writes", what,
		    (unsigned long)updates, GUEST_TSC_WRITES);
}

TEST_F(vmclock, guest_tsc_write)
{
	struct kvm_vcpu *vcpu = self->v.vcpu[0];
	struct vmclock_abi h;
	struct tsc_xform x;

	vmclock_rng_state = FUZZ_SEED;
	vmclock_user_clock_now(self->v.vm, &h);
	vmclock_user_set(self->v.vm, 0, 0, &h);
	vmclock_tsc_xform_get(vcpu, &x);
	vmclock_assert_user_exact(&h, self->v.page, &x, false, "fed");

	guest_writes_tsc(&self->v, 1ULL << 60, &x, 1, "USER: guest TSC write");
	vmclock_assert_user_exact(&h, self->v.page, &x, false, "USER: after the write");
	vmclock_assert_user_guest_view(vcpu, &h, &x, "USER: guest view");

	vmclock_auto_set(self->v.vm, 0, 0, NULL);
	vmclock_wait_accurate(self->v.vm, self->v.page, &x, -1, "AUTO");
	/* A host timekeeper update may add one. */
	guest_writes_tsc(&self->v, 1ULL << 61, &x, 2, "AUTO: guest TSC write");
	vmclock_wait_accurate(self->v.vm, self->v.page, &x, -1, "AUTO: after the write");
	run_guest_view(vcpu, &x, "AUTO: guest view");
	vmclock_assert_state(self->v.vm, KVM_VMCLOCK_MODE_AUTO, VMCLOCK_GPA);
}

int main(int argc, char *argv[])
{
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_VMCLOCK));
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_ADJUST_CLOCK) & KVM_CLOCK_REALTIME);
	TEST_REQUIRE(sys_clocksource_is_based_on_tsc());

	return test_harness_run(argc, argv);
}
