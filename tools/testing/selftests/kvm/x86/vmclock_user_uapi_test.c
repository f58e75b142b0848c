// SPDX-License-Identifier: GPL-2.0-only
/*
 * KVM_SET_VMCLOCK's validation of USER mode: every invalid field of the
 * clock (struct vmclock_abi) and of the call is rejected without changing
 * the page, KVM_GET_VMCLOCK or the eventfd; and 5000 seeded random
 * structures, valid and not, are thrown at a guest reading in a loop: a
 * rejected one changes nothing, an accepted one gives a page with a valid
 * header, and a usable status only with a clock the guest can compute
 * with.
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

#define FUZZ_ITERATIONS		5000

/* Every invalid field is rejected and changes nothing. */
FIXTURE(vmclock_user_bad) {
	struct vmclock_vm v;
};

FIXTURE_VARIANT(vmclock_user_bad) {
	size_t off;		/* in struct user_call */
	size_t size;		/* 1, 2, 4 or 8 */
	u64 val;
	int err;
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, mode_3) {
	.off = offsetof(struct user_call, vc.mode),
	.size = 4,
	.val = 3, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, flags_bit6) {
	.off = offsetof(struct user_call, vc.flags),
	.size = 4,
	.val = KVM_VMCLOCK_FLAG_EVENTFD | (1 << 6), .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, seq_count_without_flag) {
	.off = offsetof(struct user_call, vc.seq_count),
	.size = 4,
	.val = 1000, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, clock_flags_tai) {
	.off = offsetof(struct user_call, vc.clock_flags),
	.size = 8,
	.val = VMCLOCK_FLAG_TAI_OFFSET_VALID, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, clock_flags_bit63) {
	.off = offsetof(struct user_call, vc.clock_flags),
	.size = 8,
	.val = 1ULL << 63, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, top_disruption_without_flag) {
	.off = offsetof(struct user_call, vc.disruption_marker),
	.size = 8,
	.val = 7, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, top_generation_without_flag) {
	.off = offsetof(struct user_call, vc.vm_generation_counter),
	.size = 8,
	.val = 7, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, user_clock_null) {
	.off = offsetof(struct user_call, vc.user_clock),
	.size = 8,
	.val = 0, .err = EFAULT,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, user_clock_unmapped) {
	.off = offsetof(struct user_call, vc.user_clock),
	.size = 8,
	.val = 8, .err = EFAULT,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, user_clock_size_0) {
	.off = offsetof(struct user_call, vc.user_clock_size),
	.size = 4,
	.val = 0, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, user_clock_size_short) {
	.off = offsetof(struct user_call, vc.user_clock_size),
	.size = 4,
	.val = sizeof(struct vmclock_abi) - 8, .err = EINVAL,
};

/* A larger structure (a later version) whose extra bytes are not zero */
FIXTURE_VARIANT_ADD(vmclock_user_bad, user_clock_size_long) {
	.off = offsetof(struct user_call, vc.user_clock_size),
	.size = 4,
	.val = sizeof(struct vmclock_abi) + 8, .err = E2BIG,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, flags_vmm_in_clock) {
	.off = offsetof(struct user_call, clock.flags),
	.size = 8,
	.val = VMCLOCK_FLAG_DISRUPTION_SOON, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, flags_bit31) {
	.off = offsetof(struct user_call, vc.flags),
	.size = 4,
	.val = KVM_VMCLOCK_FLAG_EVENTFD | (1u << 31), .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, eventfd_without_flag) {
	.off = offsetof(struct user_call, vc.flags),
	.size = 4,
	.val = 0, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, eventfd_not_open) {
	.off = offsetof(struct user_call, vc.eventfd),
	.size = 4,
	.val = 1000000, .err = EBADF,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, eventfd_negative) {
	.off = offsetof(struct user_call, vc.eventfd),
	.size = 4,
	.val = -1, .err = EBADF,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, pad) {
	.off = offsetof(struct user_call, vc.pad),
	.size = 4,
	.val = 1, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, reserved_0) {
	.off = offsetof(struct user_call, vc.reserved[0]),
	.size = 8,
	.val = 1, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, reserved_4) {
	.off = offsetof(struct user_call, vc.reserved[4]),
	.size = 8,
	.val = 1ULL << 63, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, gpa_unaligned) {
	.off = offsetof(struct user_call, vc.gpa),
	.size = 8,
	.val = VMCLOCK_GPA + 64, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, gpa_unmapped) {
	.off = offsetof(struct user_call, vc.gpa),
	.size = 8,
	.val = VMCLOCK_UNMAPPED_GPA, .err = EFAULT,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, magic) {
	.off = offsetof(struct user_call, clock.magic),
	.size = sizeof(((struct vmclock_abi *)0)->magic),
	.val = 0x4b4c4357, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, size_0) {
	.off = offsetof(struct user_call, clock.size),
	.size = sizeof(((struct vmclock_abi *)0)->size),
	.val = 0, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, size_8192) {
	.off = offsetof(struct user_call, clock.size),
	.size = sizeof(((struct vmclock_abi *)0)->size),
	.val = 8192, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, version_0) {
	.off = offsetof(struct user_call, clock.version),
	.size = sizeof(((struct vmclock_abi *)0)->version),
	.val = 0, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, version_2) {
	.off = offsetof(struct user_call, clock.version),
	.size = sizeof(((struct vmclock_abi *)0)->version),
	.val = 2, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, counter_id_arm) {
	.off = offsetof(struct user_call, clock.counter_id),
	.size = sizeof(((struct vmclock_abi *)0)->counter_id),
	.val = VMCLOCK_COUNTER_ARM_VCNT, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, counter_id_invalid) {
	.off = offsetof(struct user_call, clock.counter_id),
	.size = sizeof(((struct vmclock_abi *)0)->counter_id),
	.val = VMCLOCK_COUNTER_INVALID, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, counter_id_2) {
	.off = offsetof(struct user_call, clock.counter_id),
	.size = sizeof(((struct vmclock_abi *)0)->counter_id),
	.val = 2, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, time_type_smeared) {
	.off = offsetof(struct user_call, clock.time_type),
	.size = sizeof(((struct vmclock_abi *)0)->time_type),
	.val = VMCLOCK_TIME_INVALID_SMEARED, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, time_type_maybe_smeared) {
	.off = offsetof(struct user_call, clock.time_type),
	.size = sizeof(((struct vmclock_abi *)0)->time_type),
	.val = VMCLOCK_TIME_INVALID_MAYBE_SMEARED, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, seq_count) {
	.off = offsetof(struct user_call, clock.seq_count),
	.size = sizeof(((struct vmclock_abi *)0)->seq_count),
	.val = 2, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, disruption_without_flag) {
	.off = offsetof(struct user_call, clock.disruption_marker),
	.size = sizeof(((struct vmclock_abi *)0)->disruption_marker),
	.val = 1, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, flags_notification) {
	.off = offsetof(struct user_call, clock.flags),
	.size = sizeof(((struct vmclock_abi *)0)->flags),
	.val = USER_CLOCK_FLAGS | VMCLOCK_FLAG_NOTIFICATION_PRESENT, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, flags_bit10) {
	.off = offsetof(struct user_call, clock.flags),
	.size = sizeof(((struct vmclock_abi *)0)->flags),
	.val = USER_CLOCK_FLAGS | (1 << 10), .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, flags_bit63) {
	.off = offsetof(struct user_call, clock.flags),
	.size = sizeof(((struct vmclock_abi *)0)->flags),
	.val = USER_CLOCK_FLAGS | (1ULL << 63), .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, tai_without_flag) {
	.off = offsetof(struct user_call, clock.flags),
	.size = sizeof(((struct vmclock_abi *)0)->flags),
	.val = USER_CLOCK_FLAGS & ~VMCLOCK_FLAG_TAI_OFFSET_VALID, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, period_esterror_without_flag) {
	.off = offsetof(struct user_call, clock.flags),
	.size = sizeof(((struct vmclock_abi *)0)->flags),
	.val = USER_CLOCK_FLAGS & ~VMCLOCK_FLAG_PERIOD_ESTERROR_VALID, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, period_maxerror_without_flag) {
	.off = offsetof(struct user_call, clock.flags),
	.size = sizeof(((struct vmclock_abi *)0)->flags),
	.val = USER_CLOCK_FLAGS & ~VMCLOCK_FLAG_PERIOD_MAXERROR_VALID, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, time_esterror_without_flag) {
	.off = offsetof(struct user_call, clock.flags),
	.size = sizeof(((struct vmclock_abi *)0)->flags),
	.val = USER_CLOCK_FLAGS & ~VMCLOCK_FLAG_TIME_ESTERROR_VALID, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, time_maxerror_without_flag) {
	.off = offsetof(struct user_call, clock.flags),
	.size = sizeof(((struct vmclock_abi *)0)->flags),
	.val = USER_CLOCK_FLAGS & ~VMCLOCK_FLAG_TIME_MAXERROR_VALID, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, pad_0) {
	.off = offsetof(struct user_call, clock.pad[0]),
	.size = sizeof(((struct vmclock_abi *)0)->pad[0]),
	.val = 1, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, pad_1) {
	.off = offsetof(struct user_call, clock.pad[1]),
	.size = sizeof(((struct vmclock_abi *)0)->pad[1]),
	.val = 0x80, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, status_5) {
	.off = offsetof(struct user_call, clock.clock_status),
	.size = sizeof(((struct vmclock_abi *)0)->clock_status),
	.val = 5, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, status_ff) {
	.off = offsetof(struct user_call, clock.clock_status),
	.size = sizeof(((struct vmclock_abi *)0)->clock_status),
	.val = 0xff, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, smearing_3) {
	.off = offsetof(struct user_call, clock.leap_second_smearing_hint),
	.size = sizeof(((struct vmclock_abi *)0)->leap_second_smearing_hint),
	.val = 3, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, leap_6) {
	.off = offsetof(struct user_call, clock.leap_indicator),
	.size = sizeof(((struct vmclock_abi *)0)->leap_indicator),
	.val = 6, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, leap_ff) {
	.off = offsetof(struct user_call, clock.leap_indicator),
	.size = sizeof(((struct vmclock_abi *)0)->leap_indicator),
	.val = 0xff, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, shift_64) {
	.off = offsetof(struct user_call, clock.counter_period_shift),
	.size = sizeof(((struct vmclock_abi *)0)->counter_period_shift),
	.val = 64, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, shift_ff) {
	.off = offsetof(struct user_call, clock.counter_period_shift),
	.size = sizeof(((struct vmclock_abi *)0)->counter_period_shift),
	.val = 0xff, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, period_0) {
	.off = offsetof(struct user_call, clock.counter_period_frac_sec),
	.size = sizeof(((struct vmclock_abi *)0)->counter_period_frac_sec),
	.val = 0, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, period_esterror_over_period) {
	.off = offsetof(struct user_call, clock.counter_period_esterror_rate_frac_sec),
	.size = sizeof(((struct vmclock_abi *)0)->counter_period_esterror_rate_frac_sec),
	.val = ~0ULL, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, period_maxerror_over_period) {
	.off = offsetof(struct user_call, clock.counter_period_maxerror_rate_frac_sec),
	.size = sizeof(((struct vmclock_abi *)0)->counter_period_maxerror_rate_frac_sec),
	.val = ~0ULL, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_user_bad, vm_generation_without_flag) {
	.off = offsetof(struct user_call, clock.vm_generation_counter),
	.size = sizeof(((struct vmclock_abi *)0)->vm_generation_counter),
	.val = 1, .err = EINVAL,
};

FIXTURE_SETUP(vmclock_user_bad)
{
	vmclock_vm_create(&self->v, 1);
}

FIXTURE_TEARDOWN(vmclock_user_bad)
{
	kvm_vm_free(self->v.vm);
}

static void set_field(void *base, size_t off, size_t size, u64 val)
{
	u8 *p = (u8 *)base + off;

	switch (size) {
	case 1:
		*p = val;
		break;
	case 2:
		*(u16 *)p = val;
		break;
	case 4:
		*(u32 *)p = val;
		break;
	default:
		*(u64 *)p = val;
		break;
	}
}

TEST_F(vmclock_user_bad, rejected)
{
	struct vmclock_vm *v = &self->v;
	u8 snap[VMCLOCK_PAGE_SIZE], alt_snap[VMCLOCK_PAGE_SIZE];
	/* The bytes after bad.clock, for user_clock_size_long */
	struct {
		struct user_call c;
		u64 tail;
	} good, bad, ref;
	struct kvm_vmclock before, after;
	int efd = eventfd(0, EFD_NONBLOCK);
	u64 updates;
	int r;

	TEST_ASSERT(efd >= 0, "eventfd");
	memset(&good, 0, sizeof(good));
	good.c.vc.mode = KVM_VMCLOCK_MODE_USER;
	good.c.vc.flags = KVM_VMCLOCK_FLAG_EVENTFD;
	good.c.vc.gpa = VMCLOCK_GPA;
	good.c.vc.eventfd = efd;
	vmclock_user_clock_now(v->vm, &good.c.clock);
	vmclock_user_clock_fix(&good.c);
	vm_ioctl(v->vm, KVM_SET_VMCLOCK, &good.c.vc);
	TEST_ASSERT_EQ(vmclock_efd_read(efd), 1);

	bad = good;
	bad.tail = ~0ULL;
	vmclock_user_clock_fix(&bad.c);
	ref = bad;
	set_field(&bad.c, variant->off, variant->size, variant->val);
	TEST_ASSERT(memcmp(&bad, &ref, sizeof(bad)), "variant changes nothing");

	memset(v->alt, 0xa5, VMCLOCK_PAGE_SIZE);
	memcpy(snap, v->page, sizeof(snap));
	memcpy(alt_snap, v->alt, sizeof(alt_snap));
	vmclock_get(v->vm, &before);
	updates = vmclock_updates(v->vm);

	r = __vm_ioctl(v->vm, KVM_SET_VMCLOCK, &bad.c.vc);
	TEST_ASSERT(r == -1 && errno == variant->err,
		    "bad SET: %d errno %d, want %d", r, errno, variant->err);

	usleep(10 * 1000);
	TEST_ASSERT(!memcmp(snap, v->page, sizeof(snap)), "page modified");
	TEST_ASSERT(!memcmp(alt_snap, v->alt, sizeof(alt_snap)),
		    "other page modified");
	vmclock_get(v->vm, &after);
	TEST_ASSERT(!memcmp(&before, &after, sizeof(before)),
		    "KVM_GET_VMCLOCK changed");
	TEST_ASSERT_EQ(vmclock_updates(v->vm), updates);
	TEST_ASSERT_EQ(vmclock_efd_read(efd), 0);

	/* The same call without the bad field still works. */
	vm_ioctl(v->vm, KVM_SET_VMCLOCK, &good.c.vc);
	TEST_ASSERT_EQ(vmclock_efd_read(efd), 1);
	close(efd);
}

/* Page valid (or marked unreliable) after an accepted call. */
static void fuzz_assert_page(const struct vmclock_abi *page, const char *what,
			     int iter)
{
	struct vmclock_abi c;

	vmclock_page_read(page, &c);
	TEST_ASSERT(c.magic == VMCLOCK_MAGIC && c.size == VMCLOCK_PAGE_SIZE &&
		    c.version == 1 && c.counter_id == VMCLOCK_COUNTER_X86_TSC &&
		    !(c.seq_count & 1),
		    "%s #%d: bad header", what, iter);
	if (c.clock_status == VMCLOCK_STATUS_SYNCHRONIZED ||
	    c.clock_status == VMCLOCK_STATUS_FREERUNNING)
		TEST_ASSERT(c.counter_period_frac_sec && c.counter_period_shift < 64 &&
			    c.time_type <= VMCLOCK_TIME_MONOTONIC,
			    "%s #%d: usable status with an unusable clock",
			    what, iter);
}

/*
 * Random KVM_SET_VMCLOCK structures against a running guest: every
 * rejected call leaves the page byte-for-byte unchanged, every accepted one
 * leaves a valid page, and the kernel does not complain.
 */
TEST_F_TIMEOUT(vmclock, user_fuzz, 120)
{
	static const u64 gpas[] = {
		VMCLOCK_GPA, VMCLOCK_ALT_GPA, VMCLOCK_UNMAPPED_GPA,
		VMCLOCK_GPA + 8,
	};
	u8 snap[VMCLOCK_PAGE_SIZE], alt_snap[VMCLOCK_PAGE_SIZE];
	u64 nr_ok = 0, nr_bad = 0, syncs;
	struct user_call good, vc;
	struct kvm_vmclock before, after;
	struct loop_args la = {};
	int kmsg = vmclock_kmsg_open();
	int efd = eventfd(0, EFD_NONBLOCK);
	struct vmclock_vm v;
	pthread_t thread;
	int i, j, r, kind;
	u64 bits;

	vmclock_rng_state = FUZZ_SEED;
	vmclock_loop_vm_create(&v, false);
	memset(&good, 0, sizeof(good));
	good.vc.mode = KVM_VMCLOCK_MODE_USER;
	good.vc.gpa = VMCLOCK_GPA;
	vmclock_user_clock_now(v.vm, &good.clock);
	vmclock_user_clock_fix(&good);
	vm_ioctl(v.vm, KVM_SET_VMCLOCK, &good.vc);

	la.vcpu = v.vcpu[0];
	kvm_pthread_create(&thread, NULL, vmclock_vcpu_loop_thread, &la);

	for (i = 0; i < FUZZ_ITERATIONS; i++) {
		kind = vmclock_rng() % 4;
		if (kind == 0) {
			/* Random bits in every field. */
			for (j = 0; j < sizeof(vc) / 8; j++)
				((u64 *)&vc)[j] = vmclock_rng();
			if (vmclock_rng() & 1)
				vc.vc.mode = vmclock_rng() % 4;
			if (vmclock_rng() & 1)
				vc.vc.gpa = gpas[vmclock_rng() % ARRAY_SIZE(gpas)];
			if (vmclock_rng() & 1)
				vmclock_user_clock_fix(&vc);
		} else {
			/* A valid call with a few random bits flipped. */
			vc = good;
			vmclock_user_clock_fix(&vc);
			vc.vc.mode = kind == 1 ? KVM_VMCLOCK_MODE_AUTO :
						 KVM_VMCLOCK_MODE_USER;
			if (vc.vc.mode == KVM_VMCLOCK_MODE_AUTO) {
				vc.vc.user_clock = 0;
				vc.vc.user_clock_size = 0;
			}
			if (vmclock_rng() % 8 == 0) {
				vc.vc.flags |= KVM_VMCLOCK_FLAG_EVENTFD;
				vc.vc.eventfd = efd;
			}
			vc.vc.flags |= vmclock_rng() & (KVM_VMCLOCK_FLAG_BUMP_DISRUPTION |
							KVM_VMCLOCK_FLAG_BUMP_VM_GENERATION);
			for (j = vmclock_rng() % 3; j > 0; j--) {
				bits = vmclock_rng();
				((u8 *)&vc)[bits % sizeof(vc)] ^= 1 << ((bits >> 32) % 8);
			}
		}
		/* Random fds in the eventfd field: only ours or none. */
		if ((vc.vc.flags & KVM_VMCLOCK_FLAG_EVENTFD) &&
		    vc.vc.eventfd != efd && vc.vc.eventfd >= 0 &&
		    vc.vc.eventfd < 1024)
			vc.vc.eventfd = -1;

		vmclock_get(v.vm, &before);
		memcpy(snap, v.page, sizeof(snap));
		memcpy(alt_snap, v.alt, sizeof(alt_snap));

		r = __vm_ioctl(v.vm, KVM_SET_VMCLOCK, &vc.vc);
		if (r) {
			nr_bad++;
			TEST_ASSERT(errno == EINVAL || errno == EFAULT ||
				    errno == EBADF || errno == E2BIG,
				    "#%d: errno %d", i, errno);
			TEST_ASSERT(!memcmp(snap, v.page, sizeof(snap)),
				    "#%d: rejected call (errno %d) modified the page",
				    i, errno);
			TEST_ASSERT(!memcmp(alt_snap, v.alt, sizeof(alt_snap)),
				    "#%d: rejected call modified the other page", i);
			vmclock_get(v.vm, &after);
			TEST_ASSERT(!memcmp(&before, &after, sizeof(before)),
				    "#%d: rejected call changed KVM_GET_VMCLOCK", i);
			continue;
		}

		nr_ok++;
		vmclock_get(v.vm, &after);
		TEST_ASSERT_EQ(after.mode, vc.vc.mode);
		if (vc.vc.mode != KVM_VMCLOCK_MODE_OFF)
			fuzz_assert_page(addr_gpa2hva(v.vm, vc.vc.gpa), "accepted", i);
		/* Back to a USER clock, so that the next page is stable. */
		if (vc.vc.mode != KVM_VMCLOCK_MODE_USER ||
		    vc.vc.gpa != VMCLOCK_GPA) {
			vm_ioctl(v.vm, KVM_SET_VMCLOCK, &good.vc);
			fuzz_assert_page(v.page, "reset", i);
		}
		vmclock_efd_read(efd);
	}

	syncs = __atomic_load_n(&la.syncs, __ATOMIC_RELAXED);
	__atomic_store_n(&la.stop, true, __ATOMIC_RELEASE);
	pthread_join(thread, NULL);
	ksft_print_msg("%d random structures: %lu accepted, %lu rejected; %s %lu x %d times\n",
		       FUZZ_ITERATIONS, (unsigned long)nr_ok,
		       (unsigned long)nr_bad, "guest read", (unsigned long)syncs,
		       LOOP_READS);
	TEST_ASSERT(nr_ok > 100 && nr_bad > 100, "fuzz did not reach both outcomes");
	kvm_vm_free(v.vm);
	close(efd);
	vmclock_kmsg_assert_clean(kmsg);
}

int main(int argc, char *argv[])
{
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_VMCLOCK));
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_ADJUST_CLOCK) & KVM_CLOCK_REALTIME);
	TEST_REQUIRE(sys_clocksource_is_based_on_tsc());

	return test_harness_run(argc, argv);
}
