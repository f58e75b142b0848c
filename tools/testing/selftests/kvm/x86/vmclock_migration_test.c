// SPDX-License-Identifier: GPL-2.0-only
/*
 * The vmclock page across a migration or a restore, as a VMM does it with
 * two VMs: KVM_GET_VMCLOCK on the source is KVM_SET_VMCLOCK input on the
 * destination (but for a USER clock, which is the source host's: the
 * destination gives its own host's), and carries everything the guest saw
 * (mode, address, the VMM's page flags, both counters, seq_count), also
 * while the clock is off; seq_count only ever goes forward for the guest,
 * whether the page's memory arrived before or after the source's last
 * write.  Also: the layout of struct kvm_vmclock cannot change,
 * KVM_CAP_VMCLOCK is 0 for a VM whose memory KVM cannot write, and
 * KVM_VCPU_TSC_SCALE gives the guest's TSC exactly.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kvm_test_harness.h"
#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "vmclock.h"

#define PAGE_GPA	0xc0000000ULL
#define PAGE_SLOT	10
#define MAX_ERROR_NS	11

struct mig_vm {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	struct vmclock_abi *page;
};

static void guest_code(void)
{
	GUEST_DONE();
}

static void mig_vm_create(struct mig_vm *v)
{
	v->vm = vm_create_with_one_vcpu(&v->vcpu, guest_code);
	vm_userspace_mem_region_add(v->vm, VM_MEM_SRC_ANONYMOUS, PAGE_GPA,
				    PAGE_SLOT, 1, 0);
	v->page = addr_gpa2hva(v->vm, PAGE_GPA);
	vmclock_kvmclock_refresh(v->vm);
}

static void get(struct mig_vm *v, struct kvm_vmclock *vc)
{
	memset(vc, 0, sizeof(*vc));
	vm_ioctl(v->vm, KVM_GET_VMCLOCK, vc);
	TEST_ASSERT_EQ(vc->flags, VMCLOCK_GET_FLAGS);
}

static void set(struct mig_vm *v, struct kvm_vmclock *vc)
{
	vm_ioctl(v->vm, KVM_SET_VMCLOCK, vc);
}

static void set_auto(struct mig_vm *v, u32 flags)
{
	struct kvm_vmclock vc = {
		.mode = KVM_VMCLOCK_MODE_AUTO, .flags = flags, .gpa = PAGE_GPA,
	};

	set(v, &vc);
}

/* Advance the source's seq_count: each same-address SET is one step. */
static u32 advance(struct mig_vm *v, int steps)
{
	struct vmclock_abi clk;

	while (steps--)
		set_auto(v, 0);
	vmclock_page_read(v->page, &clk);
	return clk.seq_count;
}

static void assert_accurate(struct mig_vm *v, const char *what)
{
	s64 err = 0;

	TEST_ASSERT(vmclock_page_error(v->vm, v->page,
				       vmclock_tsc_offset(v->vcpu), &err),
		    "%s: page not reliable (status %u)", what,
		    v->page->clock_status);
	TEST_ASSERT(err >= -MAX_ERROR_NS && err <= MAX_ERROR_NS,
		    "%s: page - CLOCK_REALTIME = %ld ns", what, (long)err);
}

static void assert_seq_after(const struct vmclock_abi *page, u32 seen,
			     const char *what)
{
	struct vmclock_abi clk;

	vmclock_page_read(page, &clk);
	ksft_print_msg("%s: the guest saw seq_count %u, the destination writes %u\n",
		       what, seen, clk.seq_count);
	TEST_ASSERT((s32)(clk.seq_count - seen) > 0 && !(clk.seq_count & 1),
		    "%s: seq_count %u after the guest saw %u", what,
		    clk.seq_count, seen);
}

/*
 * The page's memory reached the destination after the source's last write
 * (its RAM was copied at the end): a plain SET continues above it.
 */
TEST(seq_from_page)
{
	struct mig_vm src, dst;
	u32 seen;

	mig_vm_create(&src);
	mig_vm_create(&dst);
	set_auto(&src, 0);
	seen = advance(&src, 10);

	memcpy(dst.page, src.page, VMCLOCK_PAGE_SIZE);
	set_auto(&dst, KVM_VMCLOCK_FLAG_BUMP_DISRUPTION);
	assert_seq_after(dst.page, seen, "page copied after the last write");
	assert_accurate(&dst, "destination");
	kvm_vm_free(src.vm);
	kvm_vm_free(dst.vm);
}

/*
 * KVM does not mark the page dirty, so the copy of its memory may predate
 * the source's last writes: the VMM passes the source's seq_count.
 */
TEST(seq_from_source)
{
	struct kvm_vmclock vc;
	struct mig_vm src, dst;
	u32 seen;

	mig_vm_create(&src);
	mig_vm_create(&dst);
	set_auto(&src, 0);
	advance(&src, 3);
	memcpy(dst.page, src.page, VMCLOCK_PAGE_SIZE);	/* stale copy */
	seen = advance(&src, 10);

	get(&src, &vc);
	TEST_ASSERT_EQ(vc.seq_count, seen);
	vc.flags |= KVM_VMCLOCK_FLAG_BUMP_DISRUPTION;
	set(&dst, &vc);
	assert_seq_after(dst.page, seen, "stale page, seq_count from GET");
	kvm_vm_free(dst.vm);
	kvm_vm_free(src.vm);
}

/* seq_count wraps at 2^32 without going back for the guest. */
TEST(seq_wraps)
{
	struct kvm_vmclock vc;
	struct mig_vm v;
	u32 seq;

	mig_vm_create(&v);
	get(&v, &vc);
	vc.mode = KVM_VMCLOCK_MODE_AUTO;
	vc.gpa = PAGE_GPA;
	vc.seq_count = 0xfffffffc;
	set(&v, &vc);
	seq = v.page->seq_count;
	TEST_ASSERT_EQ(seq, 0xfffffffe);
	seq = advance(&v, 1);
	TEST_ASSERT_EQ(seq, 0);
	seq = advance(&v, 1);
	TEST_ASSERT_EQ(seq, 2);
	get(&v, &vc);
	TEST_ASSERT_EQ(vc.seq_count, 2);
	kvm_vm_free(v.vm);
}

/* GET on the source, replayed as SET on the destination: the same page. */
TEST(get_set_replay_auto)
{
	u64 cflags = VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT |
		     VMCLOCK_FLAG_DISRUPTION_SOON;
	int efd = eventfd(0, EFD_NONBLOCK);
	struct vmclock_abi s, d;
	struct kvm_vmclock vc = {
		.mode = KVM_VMCLOCK_MODE_AUTO,
		.flags = KVM_VMCLOCK_FLAG_SET_DISRUPTION |
			 KVM_VMCLOCK_FLAG_SET_VM_GENERATION |
			 KVM_VMCLOCK_FLAG_EVENTFD,
		.gpa = PAGE_GPA,
		.eventfd = efd,
		.clock_flags = cflags,
		.disruption_marker = 5,
		.vm_generation_counter = 3,
	};
	struct mig_vm src, dst;

	TEST_ASSERT(efd >= 0, "eventfd");
	mig_vm_create(&src);
	mig_vm_create(&dst);
	set(&src, &vc);
	vmclock_page_read(src.page, &s);

	get(&src, &vc);
	TEST_ASSERT(vc.mode == KVM_VMCLOCK_MODE_AUTO && vc.gpa == PAGE_GPA &&
		    vc.clock_flags == (cflags | VMCLOCK_FLAG_NOTIFICATION_PRESENT) &&
		    vc.disruption_marker == 5 && vc.vm_generation_counter == 3 &&
		    vc.seq_count == s.seq_count && !vc.eventfd &&
		    !vc.user_clock && !vc.user_clock_size,
		    "GET: mode %u gpa 0x%lx clock_flags 0x%lx marker %lu generation %lu seq %u",
		    vc.mode, (unsigned long)vc.gpa, (unsigned long)vc.clock_flags,
		    (unsigned long)vc.disruption_marker,
		    (unsigned long)vc.vm_generation_counter, vc.seq_count);

	/* As is: no eventfd on the destination, so no NOTIFICATION_PRESENT. */
	set(&dst, &vc);
	vmclock_page_read(dst.page, &d);
	TEST_ASSERT(d.disruption_marker == 5 && d.vm_generation_counter == 3 &&
		    (d.flags & cflags) == cflags &&
		    !(d.flags & VMCLOCK_FLAG_NOTIFICATION_PRESENT),
		    "replayed: marker %lu generation %lu flags 0x%lx",
		    (unsigned long)d.disruption_marker,
		    (unsigned long)d.vm_generation_counter, (unsigned long)d.flags);
	assert_seq_after(dst.page, s.seq_count, "replayed GET");
	assert_accurate(&dst, "replayed GET");

	/* A live migration's destination bumps the marker once. */
	vc.flags |= KVM_VMCLOCK_FLAG_BUMP_DISRUPTION;
	set(&dst, &vc);
	TEST_ASSERT_EQ(dst.page->disruption_marker, 6);
	TEST_ASSERT_EQ(dst.page->vm_generation_counter, 3);
	close(efd);
	kvm_vm_free(src.vm);
	kvm_vm_free(dst.vm);
}

/* While OFF, the VM keeps its counters, GET returns them, SET takes them. */
TEST(get_set_replay_off)
{
	struct kvm_vmclock vc = {
		.mode = KVM_VMCLOCK_MODE_AUTO,
		.flags = KVM_VMCLOCK_FLAG_SET_DISRUPTION |
			 KVM_VMCLOCK_FLAG_SET_VM_GENERATION,
		.gpa = PAGE_GPA,
		.disruption_marker = 41,
		.vm_generation_counter = 6,
	};
	struct mig_vm src, dst;
	u32 seen;

	mig_vm_create(&src);
	mig_vm_create(&dst);
	set(&src, &vc);
	advance(&src, 4);
	memset(&vc, 0, sizeof(vc));
	set(&src, &vc);			/* OFF */
	seen = src.page->seq_count;	/* the UNRELIABLE write of OFF */

	get(&src, &vc);
	TEST_ASSERT(vc.mode == KVM_VMCLOCK_MODE_OFF && !vc.gpa &&
		    !vc.clock_flags && vc.disruption_marker == 41 &&
		    vc.vm_generation_counter == 6 && vc.seq_count == seen,
		    "GET while OFF: mode %u marker %lu generation %lu seq %u (page %u)",
		    vc.mode, (unsigned long)vc.disruption_marker,
		    (unsigned long)vc.vm_generation_counter, vc.seq_count, seen);

	/* Replayed while OFF, then turned on without any flag. */
	set(&dst, &vc);
	set_auto(&dst, 0);
	TEST_ASSERT_EQ(dst.page->disruption_marker, 41);
	TEST_ASSERT_EQ(dst.page->vm_generation_counter, 6);
	assert_seq_after(dst.page, seen, "replayed OFF");
	kvm_vm_free(src.vm);
	kvm_vm_free(dst.vm);
}

/*
 * A USER clock comes back from GET into the buffer the VMM gives, and is
 * valid SET input for the same VM.  It is in the source host's counter
 * domain: a migration destination gives its own host's clock instead
 * (user_migration in vmclock_counters_test), so it is not replayed here on
 * another VM.
 */
TEST(get_set_replay_user)
{
	struct vmclock_abi h, got;
	struct kvm_vmclock vc = {
		.mode = KVM_VMCLOCK_MODE_USER,
		.gpa = PAGE_GPA,
		.user_clock = (unsigned long)&h,
		.user_clock_size = sizeof(h),
	};
	struct mig_vm src;
	u64 hz;

	mig_vm_create(&src);
	hz = (u64)__vcpu_ioctl(src.vcpu, KVM_GET_TSC_KHZ, NULL) * 1000;
	vmclock_user_clock(src.vm, hz, &h);
	set(&src, &vc);

	memset(&got, 0xa5, sizeof(got));
	memset(&vc, 0, sizeof(vc));
	vc.user_clock = (unsigned long)&got;
	vc.user_clock_size = sizeof(got);
	vm_ioctl(src.vm, KVM_GET_VMCLOCK, &vc);
	TEST_ASSERT(vc.mode == KVM_VMCLOCK_MODE_USER &&
		    vc.user_clock == (unsigned long)&got &&
		    vc.user_clock_size == sizeof(got) &&
		    !memcmp(&got, &h, sizeof(h)), "GET of a USER clock");

	/* Given back to the same VM, on the same host. */
	memset(src.page, 0, VMCLOCK_PAGE_SIZE);
	set(&src, &vc);
	TEST_ASSERT_EQ(src.page->counter_value,
		       h.counter_value + vmclock_tsc_offset(src.vcpu));

/* A buffer smaller than the clock, or one KVM cannot write: no GET. */
	memset(&vc, 0, sizeof(vc));
	vc.user_clock = (unsigned long)&got;
	vc.user_clock_size = sizeof(got) - 8;
	TEST_ASSERT(__vm_ioctl(src.vm, KVM_GET_VMCLOCK, &vc) == -1 && errno == EINVAL,
		    "GET with a short buffer: errno %d, want EINVAL", errno);
	vc.user_clock = 8;
	vc.user_clock_size = sizeof(got);
	TEST_ASSERT(__vm_ioctl(src.vm, KVM_GET_VMCLOCK, &vc) == -1 && errno == EFAULT,
		    "GET with an unmapped buffer: errno %d, want EFAULT", errno);

	/* Without a buffer, GET returns no clock. */
	memset(&vc, 0, sizeof(vc));
	get(&src, &vc);
	TEST_ASSERT(vc.mode == KVM_VMCLOCK_MODE_USER && !vc.user_clock &&
		    !vc.user_clock_size, "GET without a buffer");
	kvm_vm_free(src.vm);
}

static void guest_rdtsc(void)
{
	GUEST_SYNC(rdtsc());
}

/*
 * KVM_VCPU_TSC_SCALE, which the migration algorithm of devices/vcpu.rst
 * needs: where the host scales the TSC, the guest's TSC is the scaled host
 * TSC plus the offset, exactly; elsewhere the attribute is absent.  It is
 * read-only.
 */
TEST(tsc_scale)
{
	struct kvm_vcpu_tsc_scale sc = {};
	struct kvm_vcpu *vcpu;
	struct tsc_xform x;
	struct kvm_vm *vm;
	struct ucall uc;
	u64 h1, h2, g;
	int khz;

	vm = vm_create_with_one_vcpu(&vcpu, guest_rdtsc);
	if (!kvm_has_cap(KVM_CAP_TSC_CONTROL)) {
		TEST_ASSERT(__vcpu_has_device_attr(vcpu, KVM_VCPU_TSC_CTRL,
						   KVM_VCPU_TSC_SCALE) == -1 &&
			    errno == ENXIO, "has_attr without scaling: errno %d", errno);
		TEST_ASSERT(__vcpu_device_attr_get(vcpu, KVM_VCPU_TSC_CTRL,
						   KVM_VCPU_TSC_SCALE, &sc) == -1 &&
			    errno == ENXIO, "get without scaling: errno %d", errno);
		TEST_ASSERT(__vcpu_device_attr_set(vcpu, KVM_VCPU_TSC_CTRL,
						   KVM_VCPU_TSC_SCALE, &sc) == -1 &&
			    errno == ENXIO, "set without scaling: errno %d", errno);
		kvm_vm_free(vm);
		SKIP(return, "no TSC scaling (KVM_CAP_TSC_CONTROL): absence checked only");
	}

	TEST_ASSERT(__vcpu_device_attr_set(vcpu, KVM_VCPU_TSC_CTRL,
					   KVM_VCPU_TSC_SCALE, &sc) == -1 &&
		    errno == EINVAL, "a write: errno %d", errno);
	khz = __vcpu_ioctl(vcpu, KVM_GET_TSC_KHZ, NULL);
	TEST_ASSERT(khz > 0, "KVM_GET_TSC_KHZ");
	vcpu_ioctl(vcpu, KVM_SET_TSC_KHZ, (void *)(unsigned long)(khz * 4 / 5));
	vmclock_tsc_xform_get(vcpu, &x);
	TEST_ASSERT(x.ratio, "KVM_VCPU_TSC_SCALE: no scaling at 4/5 of %d kHz", khz);

	h1 = rdtsc();
	vcpu_run(vcpu);
	h2 = rdtsc();
	TEST_ASSERT_EQ(get_ucall(vcpu, &uc), UCALL_SYNC);
	g = uc.args[1];
	TEST_ASSERT(vmclock_host_to_guest_tsc(&x, h1) <= g &&
		    g <= vmclock_host_to_guest_tsc(&x, h2),
		    "guest TSC %lu not between %lu and %lu (ratio %lu / 2^%u, offset %ld)",
		    (unsigned long)g,
		    (unsigned long)vmclock_host_to_guest_tsc(&x, h1),
		    (unsigned long)vmclock_host_to_guest_tsc(&x, h2),
		    (unsigned long)x.ratio, x.frac_bits, (long)x.offset);
	kvm_vm_free(vm);
}

/*
 * The layout is fixed: struct vmclock_abi is not embedded (it may grow),
 * so neither the size nor the ioctl numbers depend on it.  A USER clock of
 * a later, larger version is accepted if its new bytes are zero.
 */
TEST(layout)
{
	struct {
		struct vmclock_abi clk;
		u64 later[4];
	} h = {};
	struct kvm_vmclock vc = {
		.mode = KVM_VMCLOCK_MODE_USER,
		.gpa = PAGE_GPA,
		.user_clock = (unsigned long)&h,
		.user_clock_size = sizeof(h),
	};
	struct mig_vm v;

	TEST_ASSERT_EQ(sizeof(struct kvm_vmclock), 128);
	TEST_ASSERT_EQ(offsetof(struct kvm_vmclock, seq_count), 20);
	TEST_ASSERT_EQ(offsetof(struct kvm_vmclock, clock_flags), 24);
	TEST_ASSERT_EQ(offsetof(struct kvm_vmclock, user_clock), 48);
	TEST_ASSERT_EQ(offsetof(struct kvm_vmclock, reserved), 64);
	TEST_ASSERT_EQ(_IOC_SIZE(KVM_SET_VMCLOCK), 128);
	TEST_ASSERT_EQ(_IOC_SIZE(KVM_GET_VMCLOCK), 128);

	mig_vm_create(&v);
	h.clk.magic = VMCLOCK_MAGIC;
	h.clk.size = VMCLOCK_PAGE_SIZE;
	h.clk.version = 1;
	h.clk.counter_id = VMCLOCK_COUNTER_X86_TSC;
	h.clk.counter_period_frac_sec = 1ULL << 63;
	set(&v, &vc);
	h.later[3] = 1;
	TEST_ASSERT(__vm_ioctl(v.vm, KVM_SET_VMCLOCK, &vc) == -1 && errno == E2BIG,
		    "a later field KVM does not know: errno %d, want E2BIG", errno);
	kvm_vm_free(v.vm);
}

/* KVM cannot write the memory of a VM with protected state. */
TEST(cap_protected)
{
	static const struct { u32 type; const char *name; } types[] = {
		{ KVM_X86_SEV_ES_VM, "SEV-ES" },
		{ KVM_X86_SNP_VM, "SEV-SNP" },
		{ KVM_X86_TDX_VM, "TDX" },
	};
	u32 supported = kvm_check_cap(KVM_CAP_VM_TYPES);
	struct kvm_vm *vm;
	int i, n = 0;

	for (i = 0; i < ARRAY_SIZE(types); i++) {
		if (!(supported & BIT(types[i].type)))
			continue;
		vm = vm_create_barebones_type(types[i].type);
		TEST_ASSERT(!__vm_ioctl(vm, KVM_CHECK_EXTENSION,
					(void *)KVM_CAP_VMCLOCK),
			    "%s VM: KVM_CAP_VMCLOCK not 0", types[i].name);
		kvm_vm_free(vm);
		n++;
	}
	if (!n)
		SKIP(return, "no VM type with protected state (SEV-ES, SEV-SNP, TDX) on this host");
}

int main(int argc, char *argv[])
{
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_VMCLOCK) & BIT(KVM_VMCLOCK_MODE_AUTO));
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_ADJUST_CLOCK) & KVM_CLOCK_REALTIME);
	TEST_REQUIRE(sys_clocksource_is_based_on_tsc());

	return test_harness_run(argc, argv);
}
