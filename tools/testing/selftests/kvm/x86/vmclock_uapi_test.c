// SPDX-License-Identifier: GPL-2.0-only
/*
 * KVM_SET_VMCLOCK's validation of struct kvm_vmclock: every invalid mode,
 * flag, reserved field, counter without its flag, address and USER clock
 * argument in AUTO and OFF mode is rejected with the right errno, and
 * changes nothing: neither the live page, nor the target page, nor what
 * KVM_GET_VMCLOCK returns.  KVM_GET_VMCLOCK reads only its buffer for a
 * USER clock: any other non-zero byte of its input is rejected with EINVAL,
 * so that input flags can be added to it later.
 *
 * auto_off_loop: any /dev/kvm user can turn a clock on and off in a loop;
 * that must not patch kernel text at each call (KVM's static key is
 * deferred and rate-limited).  Counted with perf's PERF_RECORD_TEXT_POKE;
 * skipped on a kernel without jump labels, which patches nothing.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <asm/barrier.h>
#include <linux/perf_event.h>
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

/* Bad input.  Fields are 1-based where 0 means "leave zero". */
FIXTURE(vmclock_bad) {
	struct vmclock_vm v;
};

/* Offset in the part of struct kvm_vmclock from seq_count to pad */
#define BODY_OFF(f)	(offsetof(struct kvm_vmclock, f) -	\
			 offsetof(struct kvm_vmclock, seq_count))

FIXTURE_VARIANT(vmclock_bad) {
	u32 mode;
	u32 flags;
	u64 gpa;
	int reserved_nr;	/* reserved[reserved_nr - 1] = ~0 */
	int clock_nr;		/* byte (clock_nr - 1) from seq_count = 1 */
	int err;
};

FIXTURE_VARIANT_ADD(vmclock_bad, mode_3) {
	.mode = 3, .gpa = VMCLOCK_ALT_GPA, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_bad, mode_ffffffff) {
	.mode = 0xffffffff, .gpa = VMCLOCK_ALT_GPA, .err = EINVAL,
};

/* USER mode with an all-zero clock: no magic. */
FIXTURE_VARIANT_ADD(vmclock_bad, mode_user_zero_clock) {
	.mode = KVM_VMCLOCK_MODE_USER, .gpa = VMCLOCK_ALT_GPA, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_bad, flags_bit6) {
	.mode = KVM_VMCLOCK_MODE_AUTO, .flags = 1 << 6, .gpa = VMCLOCK_ALT_GPA,
	.err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_bad, flags_bit31) {
	.mode = KVM_VMCLOCK_MODE_AUTO, .flags = 1u << 31,
	.gpa = VMCLOCK_ALT_GPA, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_bad, reserved_0) {
	.mode = KVM_VMCLOCK_MODE_AUTO, .gpa = VMCLOCK_ALT_GPA,
	.reserved_nr = 1, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_bad, reserved_1) {
	.mode = KVM_VMCLOCK_MODE_AUTO, .gpa = VMCLOCK_ALT_GPA,
	.reserved_nr = 2, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_bad, reserved_2) {
	.mode = KVM_VMCLOCK_MODE_AUTO, .gpa = VMCLOCK_ALT_GPA,
	.reserved_nr = 3, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_bad, reserved_3) {
	.mode = KVM_VMCLOCK_MODE_AUTO, .gpa = VMCLOCK_ALT_GPA,
	.reserved_nr = 4, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_bad, reserved_4) {
	.mode = KVM_VMCLOCK_MODE_AUTO, .gpa = VMCLOCK_ALT_GPA,
	.reserved_nr = 5, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_bad, seq_count_without_flag) {
	.mode = KVM_VMCLOCK_MODE_AUTO, .gpa = VMCLOCK_ALT_GPA,
	.clock_nr = 1, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_bad, clock_flags_tai) {
	.mode = KVM_VMCLOCK_MODE_AUTO, .gpa = VMCLOCK_ALT_GPA,
	.clock_nr = BODY_OFF(clock_flags) + 1, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_bad, disruption_without_flag) {
	.mode = KVM_VMCLOCK_MODE_AUTO, .gpa = VMCLOCK_ALT_GPA,
	.clock_nr = BODY_OFF(disruption_marker) + 1, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_bad, generation_without_flag) {
	.mode = KVM_VMCLOCK_MODE_AUTO, .gpa = VMCLOCK_ALT_GPA,
	.clock_nr = BODY_OFF(vm_generation_counter) + 8, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_bad, user_clock_with_auto) {
	.mode = KVM_VMCLOCK_MODE_AUTO, .gpa = VMCLOCK_ALT_GPA,
	.clock_nr = BODY_OFF(user_clock) + 1, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_bad, user_clock_size_last_byte) {
	.mode = KVM_VMCLOCK_MODE_AUTO, .gpa = VMCLOCK_ALT_GPA,
	.clock_nr = BODY_OFF(pad), .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_bad, reserved_7) {
	.mode = KVM_VMCLOCK_MODE_AUTO, .gpa = VMCLOCK_ALT_GPA,
	.reserved_nr = 8, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_bad, clock_with_off) {
	.mode = KVM_VMCLOCK_MODE_OFF,
	.clock_nr = BODY_OFF(clock_flags) + 1,
	.err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_bad, gpa_unaligned_8) {
	.mode = KVM_VMCLOCK_MODE_AUTO, .gpa = VMCLOCK_ALT_GPA + 8,
	.err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_bad, gpa_unaligned_2048) {
	.mode = KVM_VMCLOCK_MODE_AUTO, .gpa = VMCLOCK_ALT_GPA + 2048,
	.err = EINVAL,
};

FIXTURE_VARIANT_ADD(vmclock_bad, gpa_unmapped) {
	.mode = KVM_VMCLOCK_MODE_AUTO, .gpa = VMCLOCK_UNMAPPED_GPA,
	.err = EFAULT,
};

FIXTURE_VARIANT_ADD(vmclock_bad, gpa_with_off) {
	.mode = KVM_VMCLOCK_MODE_OFF, .gpa = VMCLOCK_ALT_GPA, .err = EINVAL,
};

FIXTURE_SETUP(vmclock_bad)
{
	vmclock_vm_create(&self->v, 1);
}

FIXTURE_TEARDOWN(vmclock_bad)
{
	kvm_vm_free(self->v.vm);
}

static void bad_set(struct kvm_vm *vm, const struct kvm_vmclock *vc, int err)
{
	struct kvm_vmclock copy = *vc;
	int r;

	r = __vm_ioctl(vm, KVM_SET_VMCLOCK, &copy);
	TEST_ASSERT(r == -1 && errno == err,
		    "KVM_SET_VMCLOCK(mode %u flags 0x%x gpa 0x%lx) = %d errno %d, want %s",
		    vc->mode, vc->flags, (unsigned long)vc->gpa, r, errno,
		    err == EFAULT ? "EFAULT" : "EINVAL");
}

TEST_F(vmclock_bad, rejected)
{
	struct vmclock_vm *v = &self->v;
	u8 snap[VMCLOCK_PAGE_SIZE], alt_snap[VMCLOCK_PAGE_SIZE];
	const size_t tail = sizeof(struct vmclock_abi);
	struct kvm_vmclock vc = {
		.mode = variant->mode,
		.flags = variant->flags,
		.gpa = variant->gpa,
	};
	struct vmclock_abi hdr;
	struct tsc_xform x;

	if (variant->reserved_nr)
		vc.reserved[variant->reserved_nr - 1] = ~0ULL;
	if (variant->clock_nr)
		((u8 *)&vc.seq_count)[variant->clock_nr - 1] = 1;

	/* From MODE_OFF: nothing may be written anywhere. */
	memset(v->page, 0x5a, VMCLOCK_PAGE_SIZE);
	memset(v->alt, 0xa5, VMCLOCK_PAGE_SIZE);
	memcpy(snap, v->page, sizeof(snap));
	memcpy(alt_snap, v->alt, sizeof(alt_snap));
	bad_set(v->vm, &vc, variant->err);
	vmclock_assert_state(v->vm, KVM_VMCLOCK_MODE_OFF, 0);
	usleep(10 * 1000);
	TEST_ASSERT(!memcmp(snap, v->page, sizeof(snap)), "page modified");
	TEST_ASSERT(!memcmp(alt_snap, v->alt, sizeof(alt_snap)),
		    "target page modified");

	/*
	 * From MODE_AUTO at VMCLOCK_GPA: that page stays live (its seqcount
	 * body may change), its header and the rest of the page do not, the
	 * request's target page is untouched.
	 */
	vmclock_vm_enable(v, &x);
	vmclock_page_read(v->page, &hdr);
	memcpy(snap, v->page, sizeof(snap));
	memcpy(alt_snap, v->alt, sizeof(alt_snap));
	bad_set(v->vm, &vc, variant->err);
	vmclock_assert_state(v->vm, KVM_VMCLOCK_MODE_AUTO, VMCLOCK_GPA);
	usleep(10 * 1000);
	TEST_ASSERT(!memcmp(alt_snap, v->alt, sizeof(alt_snap)),
		    "target page modified");
	TEST_ASSERT(!memcmp(snap, v->page, offsetof(struct vmclock_abi, seq_count)),
		    "live page header modified");
	TEST_ASSERT(!memcmp(snap + tail, (u8 *)v->page + tail, sizeof(snap) - tail),
		    "live page tail modified");
	vmclock_wait_accurate(v->vm, v->page, &x, -1, "after bad SET");
}

TEST_F(vmclock, bad_clock_every_byte)
{
	struct vmclock_vm *v = &self->v;
	u8 alt_snap[VMCLOCK_PAGE_SIZE];
	struct kvm_vmclock vc;
	int i;

	memset(v->alt, 0xa5, VMCLOCK_PAGE_SIZE);
	memcpy(alt_snap, v->alt, sizeof(alt_snap));

	/* 0x80 in any byte of these fields is invalid in AUTO and OFF. */
	for (i = 0; i < BODY_OFF(pad); i++) {
		memset(&vc, 0, sizeof(vc));
		((u8 *)&vc.seq_count)[i] = 0x80;
		vc.mode = KVM_VMCLOCK_MODE_AUTO;
		vc.gpa = VMCLOCK_ALT_GPA;
		bad_set(v->vm, &vc, EINVAL);
		vc.mode = KVM_VMCLOCK_MODE_OFF;
		vc.gpa = 0;
		bad_set(v->vm, &vc, EINVAL);
	}
	vmclock_assert_state(v->vm, KVM_VMCLOCK_MODE_OFF, 0);
	TEST_ASSERT(!memcmp(alt_snap, v->alt, sizeof(alt_snap)),
		    "target page modified");
}

/*
 * KVM_GET_VMCLOCK: every byte of the input other than user_clock and
 * user_clock_size must be zero (EINVAL otherwise, nothing written back);
 * the buffer fields alone are accepted, in every mode.
 */
TEST_F(vmclock, get_rejects_input)
{
	struct vmclock_vm *v = &self->v;
	const size_t buf = offsetof(struct kvm_vmclock, user_clock);
	const size_t buf_end = offsetof(struct kvm_vmclock, pad);
	struct vmclock_abi clk;
	struct kvm_vmclock vc, copy;
	struct tsc_xform x;
	int pass, r;
	size_t i;

	for (pass = 0; pass < 2; pass++) {
		if (pass)
			vmclock_vm_enable(v, &x);
		for (i = 0; i < sizeof(vc); i++) {
			if (i >= buf && i < buf_end)
				continue;
			memset(&vc, 0, sizeof(vc));
			((u8 *)&vc)[i] = 0x01;
			copy = vc;
			r = __vm_ioctl(v->vm, KVM_GET_VMCLOCK, &vc);
			TEST_ASSERT(r == -1 && errno == EINVAL,
				    "KVM_GET_VMCLOCK with byte %zu of the input set: %d errno %d, want EINVAL",
				    i, r, errno);
			TEST_ASSERT(!memcmp(&vc, &copy, sizeof(vc)),
				    "rejected KVM_GET_VMCLOCK wrote its output");
		}
		/* The buffer alone is input, also outside USER mode. */
		memset(&vc, 0, sizeof(vc));
		vc.user_clock = (unsigned long)&clk;
		vc.user_clock_size = sizeof(clk);
		vm_ioctl(v->vm, KVM_GET_VMCLOCK, &vc);
		TEST_ASSERT_EQ(vc.mode, pass ? KVM_VMCLOCK_MODE_AUTO : KVM_VMCLOCK_MODE_OFF);
	}
}

#define NR_AUTO_OFF	200
#define POKE_PAGES	64

/* PERF_RECORD_TEXT_POKE records in @ring since it was opened. */
static int text_pokes(void *ring)
{
	struct perf_event_mmap_page *mp = ring;
	u64 head = READ_ONCE(mp->data_head), pos;
	const u8 *data = (u8 *)ring + getpagesize();
	const u64 size = POKE_PAGES * getpagesize();
	struct perf_event_header h;
	int n = 0;

	/* The records before data_head are written before it. */
	rmb();
	TEST_ASSERT(head < size, "perf ring full");
	for (pos = 0; pos < head; pos += h.size) {
		memcpy(&h, data + pos, sizeof(h));
		TEST_ASSERT(h.size, "empty perf record");
		n += h.type == PERF_RECORD_TEXT_POKE;
	}
	return n;
}

TEST_F(vmclock, auto_off_loop)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_DUMMY,
		.text_poke = 1,
	};
	struct vmclock_vm *v = &self->v;
	u64 start;
	void *ring;
	int fd, i, n;

	fd = syscall(__NR_perf_event_open, &attr, 0, -1, -1, 0);
	if (fd < 0)
		SKIP(return, "perf_event_open(text_poke): errno %d", errno);
	ring = mmap(NULL, (POKE_PAGES + 1) * getpagesize(),
		    PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	TEST_ASSERT(ring != MAP_FAILED, "mmap the perf ring");

	start = vmclock_now_ns();
	for (i = 0; i < NR_AUTO_OFF; i++) {
		vmclock_set(v->vm, KVM_VMCLOCK_MODE_AUTO, VMCLOCK_GPA);
		vmclock_set(v->vm, KVM_VMCLOCK_MODE_OFF, 0);
	}
	n = text_pokes(ring);
	ksft_print_msg("%d AUTO/OFF calls in %lu ms: %d text pokes\n",
		       2 * NR_AUTO_OFF,
		       (unsigned long)((vmclock_now_ns() - start) / 1000000), n);
	munmap(ring, (POKE_PAGES + 1) * getpagesize());
	close(fd);
	if (!n)
		SKIP(return, "no kernel text patched (no jump labels)");
	/* At most an enable per second; one per call without a deferred key. */
	TEST_ASSERT(n < NR_AUTO_OFF / 2,
		    "%d text pokes for %d AUTO/OFF calls: the static key flips at each call",
		    n, 2 * NR_AUTO_OFF);
}

int main(int argc, char *argv[])
{
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_VMCLOCK));
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_ADJUST_CLOCK) & KVM_CLOCK_REALTIME);
	TEST_REQUIRE(sys_clocksource_is_based_on_tsc());

	return test_harness_run(argc, argv);
}
