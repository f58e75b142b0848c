// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmclock_demo: a tiny VMM that asks KVM to publish a vmclock page
 * (KVM_SET_VMCLOCK, automatic mode) and prints, once a second, the UTC
 * time its guest computes from the page beside the host's CLOCK_REALTIME
 * read just before and just after the guest ran.
 *
 * Bench tooling, not part of the series: it is built with the KVM
 * selftests' library (bench/selftests.sh copies it into the tree).
 */
#include <time.h>
#include <asm/barrier.h>
#include <linux/vmclock-abi.h>

#include "kvm_util.h"
#include "processor.h"
#include "ucall_common.h"

#define DEMO_GPA	0xc0000000ULL
#define DEMO_SLOT	10
#define DEMO_SECONDS	5

/* The arithmetic of drivers/ptp/ptp_vmclock.c, vmclock_get_crosststamp() */
static void guest_code(struct vmclock_abi *clk)
{
	unsigned __int128 res;
	u64 tsc, sec, ns;
	u32 seq;
	u8 status;

	for (;;) {
		do {
			seq = READ_ONCE(clk->seq_count) & ~1u;
			smp_rmb();
			status = READ_ONCE(clk->clock_status);
			tsc = rdtsc();
			res = (unsigned __int128)(tsc - clk->counter_value) *
			      clk->counter_period_frac_sec;
			res >>= clk->counter_period_shift;
			res += clk->time_frac_sec;
			sec = (u64)(res >> 64) + clk->time_sec;
			smp_rmb();
		} while (seq != READ_ONCE(clk->seq_count));

		ns = ((unsigned __int128)(u64)res * NSEC_PER_SEC) >> 64;
		GUEST_SYNC_ARGS(status, sec, ns, tsc, 0);
	}
}

static u64 realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static void print_utc(const char *what, u64 ns)
{
	time_t s = ns / NSEC_PER_SEC;
	struct tm tm;
	char buf[32];

	gmtime_r(&s, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
	printf("  %s %s.%09llu UTC", what, buf,
	       (unsigned long long)(ns % NSEC_PER_SEC));
}

int main(void)
{
	struct kvm_vmclock vc = { .mode = KVM_VMCLOCK_MODE_AUTO, .gpa = DEMO_GPA };
	struct kvm_clock_data clock = {};
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct ucall uc;
	int i, bad = 0;

	TEST_REQUIRE(kvm_has_cap(KVM_CAP_VMCLOCK));

	vm = vm_create_with_one_vcpu(&vcpu, guest_code);
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, DEMO_GPA,
				    DEMO_SLOT, 1, 0);
	virt_map(vm, DEMO_GPA, DEMO_GPA, 1);
	vcpu_args_set(vcpu, 1, DEMO_GPA);

	/* The VMM's one call: publish the page at DEMO_GPA, automatic mode. */
	vm_ioctl(vm, KVM_SET_VMCLOCK, &vc);
	/* Turns the master clock on, as a first KVM_RUN would. */
	vm_ioctl(vm, KVM_GET_CLOCK, &clock);
	vm_ioctl(vm, KVM_SET_CLOCK, &(struct kvm_clock_data){ .clock = clock.clock });

	printf("vmclock demo: guest page at GPA 0x%llx, automatic mode\n",
	       DEMO_GPA);
	for (i = 0; i < DEMO_SECONDS; i++) {
		u64 before, after, guest;
		bool inside;

		before = realtime_ns();
		vcpu_run(vcpu);
		after = realtime_ns();
		TEST_ASSERT_EQ(get_ucall(vcpu, &uc), UCALL_SYNC);

		guest = uc.args[2] * NSEC_PER_SEC + uc.args[3];
		inside = uc.args[1] == VMCLOCK_STATUS_SYNCHRONIZED &&
			 before <= guest && guest <= after;
		bad += !inside;
		printf("[%d]", i + 1);
		print_utc("guest", guest);
		print_utc("host before", before);
		printf(" +%llu ns after: %s (status %lu)\n",
		       (unsigned long long)(after - before),
		       inside ? "inside" : "OUTSIDE", uc.args[1]);
		if (!inside) {
			const struct vmclock_abi *p = addr_gpa2hva(vm, DEMO_GPA);

			printf("    page: seq %u status %u counter %llu period %llu >> %u time %llu.%llu guest tsc %lu\n",
			       p->seq_count, p->clock_status,
			       (unsigned long long)p->counter_value,
			       (unsigned long long)p->counter_period_frac_sec,
			       p->counter_period_shift,
			       (unsigned long long)p->time_sec,
			       (unsigned long long)p->time_frac_sec, uc.args[4]);
		}
		sleep(1);
	}
	printf("vmclock demo: %d of %d guest readings inside the host window\n",
	       DEMO_SECONDS - bad, DEMO_SECONDS);
	kvm_vm_free(vm);
	return bad ? 1 : 0;
}
