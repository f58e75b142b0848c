// SPDX-License-Identifier: GPL-2.0-only
/*
 * The vmclock page follows every change of what it describes, and only
 * those: a change made while KVM_SET_VMCLOCK is turning the clock on is
 * not lost, and a page that would be written again unchanged is not.
 *
 * activation: KVM_SET_VMCLOCK is held inside its page fault (userfaultfd)
 * while a vCPU's TSC offset changes or a vCPU is created; afterwards the
 * page must describe the new state, with nothing else happening.
 *
 * missing_page: the page's memory is missing (userfaultfd) while the host
 * clock changes: only the vCPU that refreshes the page waits for it.
 *
 * catchup: a vCPU whose TSC runs faster than the host's without TSC
 * scaling uses software catch-up, which moves its offset at every exit
 * (without the master clock, which a second vCPU with another TSC offset
 * turns off).  The page says UNRELIABLE once; it is not rewritten (no
 * seq_count step, no statistic, no eventfd) while the guest runs for a
 * second.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/userfaultfd.h>

#include "kvm_test_harness.h"
#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"
#include "vmclock.h"

#define PAGE_GPA	0xc0000000ULL
#define PAGE_SLOT	10
/* Page time minus CLOCK_REALTIME: kvm.vmclock_max_error_ns (10) + 1 */
#define MAX_ERROR_NS	11
/* A page of the old TSC domain is this far off (and more) */
#define OFFSET_STEP_S	10
#define SETTLE_US	(200 * 1000)
#define MISSING_VCPUS	3
#define MISSING_US	(1000 * 1000)

static void guest_code(void)
{
	for (;;)
		GUEST_SYNC(0);
}

struct set_args {
	struct kvm_vm *vm;
	int r, err;
};

static void *set_thread(void *arg)
{
	struct set_args *a = arg;
	struct kvm_vmclock vc = { .mode = KVM_VMCLOCK_MODE_AUTO, .gpa = PAGE_GPA };

	a->r = __vm_ioctl(a->vm, KVM_SET_VMCLOCK, &vc);
	a->err = errno;
	return NULL;
}

/*
 * Give the VM a page at PAGE_GPA whose memory is missing, under a
 * userfaultfd: KVM's first access to it blocks until resolve_fault().
 */
static int page_with_uffd(struct kvm_vm *vm, void **hva)
{
	struct uffdio_register reg = {};
	struct uffdio_api api = { .api = UFFD_API };
	int uffd;

	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, PAGE_GPA,
				    PAGE_SLOT, 1, 0);
	*hva = addr_gpa2hva(vm, PAGE_GPA);
	TEST_ASSERT(!madvise(*hva, VMCLOCK_PAGE_SIZE, MADV_DONTNEED),
		    "madvise(MADV_DONTNEED)");

	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	__TEST_REQUIRE(uffd >= 0, "userfaultfd() not available");
	TEST_ASSERT(!ioctl(uffd, UFFDIO_API, &api), "UFFDIO_API");
	reg.range.start = (unsigned long)*hva;
	reg.range.len = VMCLOCK_PAGE_SIZE;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	TEST_ASSERT(!ioctl(uffd, UFFDIO_REGISTER, &reg), "UFFDIO_REGISTER");
	return uffd;
}

/* Wait until KVM_SET_VMCLOCK faults on the page. */
static void wait_fault(int uffd, void *hva)
{
	struct pollfd pfd = { .fd = uffd, .events = POLLIN };
	struct uffd_msg msg;

	TEST_ASSERT(poll(&pfd, 1, 5000) == 1,
		    "KVM_SET_VMCLOCK did not fault on the page within 5 s");
	TEST_ASSERT(read(uffd, &msg, sizeof(msg)) == sizeof(msg), "read uffd");
	TEST_ASSERT(msg.event == UFFD_EVENT_PAGEFAULT &&
		    (msg.arg.pagefault.address & ~(VMCLOCK_PAGE_SIZE - 1)) ==
		    (unsigned long)hva, "unexpected userfault event %u at 0x%llx",
		    msg.event, msg.arg.pagefault.address);
}

static void resolve_fault(int uffd, void *hva)
{
	struct uffdio_zeropage zp = {
		.range = { .start = (unsigned long)hva, .len = VMCLOCK_PAGE_SIZE },
	};

	TEST_ASSERT(!ioctl(uffd, UFFDIO_ZEROPAGE, &zp), "UFFDIO_ZEROPAGE");
}

static u64 tsc_hz(struct kvm_vcpu *vcpu)
{
	return (u64)__vcpu_ioctl(vcpu, KVM_GET_TSC_KHZ, NULL) * 1000;
}

/* The page is accurate for a guest TSC of host TSC + @offset. */
static void assert_accurate(struct kvm_vm *vm, const struct vmclock_abi *page,
			    u64 offset, const char *what)
{
	struct vmclock_abi clk;
	s64 err = 0;

	vmclock_page_read(page, &clk);
	TEST_ASSERT(vmclock_page_error(vm, page, offset, &err),
		    "%s: page status %u, not reliable", what, clk.clock_status);
	TEST_ASSERT(err >= -MAX_ERROR_NS && err <= MAX_ERROR_NS,
		    "%s: page - CLOCK_REALTIME = %ld ns (seq_count %u)", what,
		    (long)err, clk.seq_count);
	ksft_print_msg("%s: page - CLOCK_REALTIME = %ld ns, seq_count %u\n",
		       what, (long)err, clk.seq_count);
}

/* A TSC offset change while KVM_SET_VMCLOCK is between computing and publishing */
TEST(activation_tsc_offset)
{
	struct set_args a = {};
	struct kvm_vcpu *vcpu;
	pthread_t thread;
	u64 offset;
	void *hva;
	int uffd;

	a.vm = vm_create_with_one_vcpu(&vcpu, guest_code);
	vmclock_kvmclock_refresh(a.vm);
	uffd = page_with_uffd(a.vm, &hva);
	offset = vmclock_tsc_offset(vcpu);

	pthread_create(&thread, NULL, set_thread, &a);
	wait_fault(uffd, hva);
	offset += OFFSET_STEP_S * tsc_hz(vcpu);
	vmclock_set_tsc_offset(vcpu, offset);
	resolve_fault(uffd, hva);
	pthread_join(thread, NULL);
	TEST_ASSERT(!a.r, "KVM_SET_VMCLOCK: errno %d", a.err);

	/* Nothing else happens: KVM has to have kept the change. */
	usleep(SETTLE_US);
	assert_accurate(a.vm, hva, offset, "offset changed during SET");
	close(uffd);
	kvm_vm_free(a.vm);
}

/* The first vCPU, created while KVM_SET_VMCLOCK is in its page fault */
TEST(activation_vcpu_create)
{
	struct set_args a = {};
	struct kvm_vcpu *vcpu;
	struct vmclock_abi clk;
	pthread_t thread;
	void *hva;
	int uffd;

	a.vm = vm_create(1);
	uffd = page_with_uffd(a.vm, &hva);

	pthread_create(&thread, NULL, set_thread, &a);
	wait_fault(uffd, hva);
	vcpu = vm_vcpu_add(a.vm, 0, guest_code);
	resolve_fault(uffd, hva);
	pthread_join(thread, NULL);
	TEST_ASSERT(!a.r, "KVM_SET_VMCLOCK: errno %d", a.err);
	vmclock_kvmclock_refresh(a.vm);

	usleep(SETTLE_US);
	vmclock_page_read(hva, &clk);
	TEST_ASSERT(vmclock_status_reliable(clk.clock_status),
		    "vCPU created during SET: page status %u, want a usable clock",
		    clk.clock_status);
	assert_accurate(a.vm, hva, vmclock_tsc_offset(vcpu),
			"vCPU created during SET");
	close(uffd);
	kvm_vm_free(a.vm);
}

/* kvm.vmclock_max_error_ns, restored by the test */
static void set_max_error_ns(int ns)
{
	FILE *f = fopen(VMCLOCK_MAX_ERROR_PARAM, "w");

	TEST_ASSERT(f && fprintf(f, "%d\n", ns) > 0 && !fclose(f),
		    "write %s", VMCLOCK_MAX_ERROR_PARAM);
}

static pid_t harness_pid;

/* vmclock_param() keeps the value the harness found */
static void __attribute__((constructor)) save_max_error_ns(void)
{
	harness_pid = getpid();
	if (!access(VMCLOCK_MAX_ERROR_PARAM, R_OK))
		vmclock_param();
}

/* A test killed by the harness' timeout cannot restore it: the harness does. */
static void __attribute__((destructor)) restore_max_error_ns(void)
{
	if (getpid() == harness_pid && !access(VMCLOCK_MAX_ERROR_PARAM, W_OK))
		set_max_error_ns(vmclock_param());
}

/*
 * The page's memory is missing (userfaultfd) while the host clock moves
 * the page at every tick: the vCPU that refreshes the page's cache waits
 * for the memory, the others go on running, and another VM's page goes on
 * being updated.
 */
TEST(missing_page)
{
	struct kvm_vcpu *vcpu[MISSING_VCPUS], *other_vcpu;
	struct loop_args la[MISSING_VCPUS] = {};
	pthread_t thread[MISSING_VCPUS];
	u64 syncs[MISSING_VCPUS], updates;
	int uffd, i, running = 0, param = vmclock_param();
	struct kvm_vm *vm, *other;
	void *hva, *other_hva;
	struct vmclock_abi clk;

	vm = vm_create_with_vcpus(MISSING_VCPUS, guest_code, vcpu);
	vmclock_kvmclock_refresh(vm);
	uffd = page_with_uffd(vm, &hva);
	resolve_fault(uffd, hva);
	vmclock_set(vm, KVM_VMCLOCK_MODE_AUTO, PAGE_GPA);

	other = vm_create_with_one_vcpu(&other_vcpu, guest_code);
	vmclock_kvmclock_refresh(other);
	vm_userspace_mem_region_add(other, VM_MEM_SRC_ANONYMOUS, PAGE_GPA,
				    PAGE_SLOT, 1, 0);
	other_hva = addr_gpa2hva(other, PAGE_GPA);
	vmclock_set(other, KVM_VMCLOCK_MODE_AUTO, PAGE_GPA);
	usleep(SETTLE_US);
	vmclock_page_read(other_hva, &clk);
	TEST_ASSERT(vmclock_status_reliable(clk.clock_status),
		    "the other VM's page: status %u", clk.clock_status);

	/* The memory goes: every vCPU must check the page before entry. */
	TEST_ASSERT(!madvise(hva, VMCLOCK_PAGE_SIZE, MADV_DONTNEED),
		    "madvise(MADV_DONTNEED)");
	for (i = 0; i < MISSING_VCPUS; i++) {
		la[i].vcpu = vcpu[i];
		kvm_pthread_create(&thread[i], NULL, vmclock_vcpu_loop_thread,
				   &la[i]);
	}
	wait_fault(uffd, hva);
	/* No assertion until it is restored: a failed test would keep it. */
	set_max_error_ns(0);

	for (i = 0; i < MISSING_VCPUS; i++)
		syncs[i] = __atomic_load_n(&la[i].syncs, __ATOMIC_RELAXED);
	updates = vmclock_updates(other);
	usleep(MISSING_US);
	for (i = 0; i < MISSING_VCPUS; i++)
		running += __atomic_load_n(&la[i].syncs, __ATOMIC_RELAXED) > syncs[i];
	updates = vmclock_updates(other) - updates;

	resolve_fault(uffd, hva);
	for (i = 0; i < MISSING_VCPUS; i++) {
		__atomic_store_n(&la[i].stop, true, __ATOMIC_RELEASE);
		pthread_join(thread[i], NULL);
	}
	set_max_error_ns(param);
	ksft_print_msg("page missing %d ms: %d/%d vCPUs ran, other VM's page written %lu times\n",
		       MISSING_US / 1000, running, MISSING_VCPUS,
		       (unsigned long)updates);
	TEST_ASSERT(running >= MISSING_VCPUS - 1,
		    "page missing: only %d of %d vCPUs ran", running,
		    MISSING_VCPUS);
	TEST_ASSERT(updates, "page missing in a VM: another VM's page was not written");

	/* The memory is back: the page is the clock again. */
	usleep(SETTLE_US);
	assert_accurate(vm, hva, vmclock_tsc_offset(vcpu[0]), "memory back");
	close(uffd);
	kvm_vm_free(other);
	kvm_vm_free(vm);
}

static void run_sync(struct kvm_vcpu *vcpu)
{
	struct ucall uc;

	vcpu_run(vcpu);
	TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);
	if (get_ucall(vcpu, &uc) == UCALL_ABORT)
		REPORT_GUEST_ASSERT(uc);
}

static u64 efd_count(int efd)
{
	u64 n = 0;

	if (read(efd, &n, sizeof(n)) != sizeof(n))
		TEST_ASSERT(errno == EAGAIN, "eventfd read: errno %d", errno);
	return n;
}

FIXTURE(catchup) {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu, *other;
	void *page;
	int efd;
};

FIXTURE_VARIANT(catchup) {
	u32 mode;
};

FIXTURE_VARIANT_ADD(catchup, auto) {
	.mode = KVM_VMCLOCK_MODE_AUTO,
};

FIXTURE_VARIANT_ADD(catchup, user) {
	.mode = KVM_VMCLOCK_MODE_USER,
};

FIXTURE_SETUP(catchup)
{
	struct kvm_vcpu *vcpus[2];

	self->vm = vm_create_with_vcpus(2, guest_code, vcpus);
	self->vcpu = vcpus[0];
	self->other = vcpus[1];
	vm_userspace_mem_region_add(self->vm, VM_MEM_SRC_ANONYMOUS, PAGE_GPA,
				    PAGE_SLOT, 1, 0);
	self->page = addr_gpa2hva(self->vm, PAGE_GPA);
	vmclock_kvmclock_refresh(self->vm);
	self->efd = eventfd(0, EFD_NONBLOCK);
	TEST_ASSERT(self->efd >= 0, "eventfd");
}

FIXTURE_TEARDOWN(catchup)
{
	close(self->efd);
	kvm_vm_free(self->vm);
}

TEST_F(catchup, no_rewrites)
{
	struct kvm_vmclock vc = {
		.mode = variant->mode,
		.flags = KVM_VMCLOCK_FLAG_EVENTFD,
		.gpa = PAGE_GPA,
		.eventfd = self->efd,
	};
	u64 hz = tsc_hz(self->vcpu), updates, seq, exits = 0, t0, signals, offset;
	struct vmclock_abi clk, uclk;

	if (kvm_has_cap(KVM_CAP_TSC_CONTROL))
		SKIP(return, "TSC scaling: a faster guest TSC does not use catch-up here");

	/* The USER clock first: KVM_GET_CLOCK needs the master clock. */
	if (variant->mode == KVM_VMCLOCK_MODE_USER) {
		vmclock_user_clock(self->vm, hz, &uclk);
		vc.user_clock = (unsigned long)&uclk;
		vc.user_clock_size = sizeof(uclk);
	}
	/* Vcpus that disagree: no master clock, catch-up at every exit. */
	vmclock_set_tsc_offset(self->other, vmclock_tsc_offset(self->vcpu) + hz);
	/* Twice the host's frequency, without scaling: software catch-up. */
	vcpu_ioctl(self->vcpu, KVM_SET_TSC_KHZ,
		   (void *)(unsigned long)(hz / 1000 * 2));
	vm_ioctl(self->vm, KVM_SET_VMCLOCK, &vc);

	/* Settle: the first exits make the page UNRELIABLE. */
	for (t0 = vmclock_now_ns(); vmclock_now_ns() - t0 < 100000000ULL;)
		run_sync(self->vcpu);
	usleep(SETTLE_US);
	vmclock_page_read(self->page, &clk);
	TEST_ASSERT(clk.clock_status == VMCLOCK_STATUS_UNRELIABLE,
		    "catch-up: page status %u, want UNRELIABLE", clk.clock_status);
	updates = vmclock_updates(self->vm);
	seq = clk.seq_count;
	efd_count(self->efd);
	offset = vmclock_tsc_offset(self->vcpu);

	/* One second of exits, each moving the TSC offset. */
	for (t0 = vmclock_now_ns(); vmclock_now_ns() - t0 < 1000000000ULL; exits++)
		run_sync(self->vcpu);
	usleep(SETTLE_US);

	vmclock_page_read(self->page, &clk);
	updates = vmclock_updates(self->vm) - updates;
	signals = efd_count(self->efd);
	ksft_print_msg("catch-up: %lu exits in 1 s: %lu rewrites, seq %lu -> %u, %lu signals\n",
		       (unsigned long)exits, (unsigned long)updates,
		       (unsigned long)seq, clk.seq_count,
		       (unsigned long)signals);
	TEST_ASSERT(exits > 10, "only %lu exits", (unsigned long)exits);
	TEST_ASSERT(vmclock_tsc_offset(self->vcpu) != offset,
		    "catch-up did not move the TSC offset: nothing was tested");
	TEST_ASSERT(!updates && clk.seq_count == seq,
		    "an UNRELIABLE page rewritten %lu times (seq_count %lu -> %u)",
		    (unsigned long)updates, (unsigned long)seq, clk.seq_count);
	TEST_ASSERT(!signals, "eventfd signalled %lu times", (unsigned long)signals);
}

int main(int argc, char *argv[])
{
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_VMCLOCK) & BIT(KVM_VMCLOCK_MODE_AUTO));
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_ADJUST_CLOCK) & KVM_CLOCK_REALTIME);
	TEST_REQUIRE(sys_clocksource_is_based_on_tsc());

	return test_harness_run(argc, argv);
}
