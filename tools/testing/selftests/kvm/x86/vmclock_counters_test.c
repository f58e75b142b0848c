// SPDX-License-Identifier: GPL-2.0-only
/*
 * The counters KVM keeps in the vmclock page for the VMM: disruption_marker
 * and vm_generation_counter across the walk-throughs of a live migration and
 * of a snapshot restore (with a guest reading all along), and the eventfd
 * KVM signals after each write of the page, counted against seq_count
 * steps; and seq_count, which never goes back whatever KVM_SET_VMCLOCK
 * gets.
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

/* Source GET, destination SET with the saved marker and a bump. */
TEST(user_migration)
{
	struct vmclock_vm src, dst;
	struct kvm_vmclock saved;
	struct vmclock_abi h, clk;
	u64 offset;
	int mode;

	for (mode = KVM_VMCLOCK_MODE_AUTO; mode <= KVM_VMCLOCK_MODE_USER; mode++) {
		vmclock_vm_create(&src, 1);
		vmclock_user_clock_now(src.vm, &h);
		h.flags |= VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT;

		/* Source: the guest has seen marker 41 and generation 6. */
		clk = h;
		clk.disruption_marker = 41;
		clk.vm_generation_counter = 6;
		if (mode == KVM_VMCLOCK_MODE_USER) {
			vmclock_user_set(src.vm, KVM_VMCLOCK_FLAG_SET_DISRUPTION |
					 KVM_VMCLOCK_FLAG_SET_VM_GENERATION, 0, &clk);
		} else {
			memset(&clk, 0, sizeof(clk));
			clk.disruption_marker = 41;
			clk.vm_generation_counter = 6;
			clk.flags = VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT;
			vmclock_auto_set(src.vm, KVM_VMCLOCK_FLAG_SET_DISRUPTION |
					 KVM_VMCLOCK_FLAG_SET_VM_GENERATION, 0, &clk);
		}
		/* Warn the guest, without touching the counters. */
		clk.flags |= VMCLOCK_FLAG_DISRUPTION_IMMINENT;
		clk.disruption_marker = 0;
		clk.vm_generation_counter = 0;
		if (mode == KVM_VMCLOCK_MODE_USER)
			vmclock_user_set(src.vm, 0, 0, &clk);
		else
			vmclock_auto_set(src.vm, 0, 0, &clk);
		vmclock_page_read(src.page, &clk);
		TEST_ASSERT(clk.disruption_marker == 41 &&
			    clk.vm_generation_counter == 6 &&
			    (clk.flags & VMCLOCK_FLAG_DISRUPTION_IMMINENT) &&
			    (clk.flags & VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT),
			    "source page: marker %lu generation %lu flags 0x%lx",
			    (unsigned long)clk.disruption_marker,
			    (unsigned long)clk.vm_generation_counter,
			    (unsigned long)clk.flags);

		/* Source, paused for the last time. */
		vmclock_get(src.vm, &saved);
		vcpu_device_attr_get(src.vcpu[0], KVM_VCPU_TSC_CTRL,
				     KVM_VCPU_TSC_OFFSET, &offset);
		TEST_ASSERT_EQ(saved.disruption_marker, 41);

		/* Destination: TSC restored, then the clock. */
		vmclock_vm_create(&dst, 1);
		vmclock_set_tsc_offset(dst.vcpu[0], offset + 12345);
		if (mode == KVM_VMCLOCK_MODE_USER) {
			vmclock_user_clock_now(dst.vm, &clk);
			clk.flags |= VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT;
		} else {
			memset(&clk, 0, sizeof(clk));
			clk.flags = VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT;
		}
		clk.disruption_marker = saved.disruption_marker;
		clk.vm_generation_counter = saved.vm_generation_counter;
		if (mode == KVM_VMCLOCK_MODE_USER)
			vmclock_user_set(dst.vm, KVM_VMCLOCK_FLAG_SET_DISRUPTION |
					 KVM_VMCLOCK_FLAG_BUMP_DISRUPTION |
					 KVM_VMCLOCK_FLAG_SET_VM_GENERATION, 0, &clk);
		else
			vmclock_auto_set(dst.vm, KVM_VMCLOCK_FLAG_SET_DISRUPTION |
					 KVM_VMCLOCK_FLAG_BUMP_DISRUPTION |
					 KVM_VMCLOCK_FLAG_SET_VM_GENERATION, 0, &clk);

		/* Exactly one disruption, the same generation, no warning. */
		vmclock_page_read(dst.page, &clk);
		TEST_ASSERT(clk.disruption_marker == 42 &&
			    clk.vm_generation_counter == 6 &&
			    !(clk.flags & VMCLOCK_FLAG_DISRUPTION_IMMINENT) &&
			    (clk.flags & VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT),
			    "destination page: marker %lu generation %lu flags 0x%lx",
			    (unsigned long)clk.disruption_marker,
			    (unsigned long)clk.vm_generation_counter,
			    (unsigned long)clk.flags);

		/* Later updates, by KVM or the VMM, keep the counters. */
		vmclock_set_tsc_offset(dst.vcpu[0], offset);
		vmclock_wait_seq_change(dst.page, clk.seq_count, "destination offset");
		if (mode == KVM_VMCLOCK_MODE_USER) {
			vmclock_user_clock_now(dst.vm, &h);
			vmclock_user_set(dst.vm, 0, 0, &h);
		}
		vmclock_page_read(dst.page, &clk);
		TEST_ASSERT(clk.disruption_marker == 42 &&
			    clk.vm_generation_counter == 6,
			    "destination after updates: marker %lu generation %lu",
			    (unsigned long)clk.disruption_marker,
			    (unsigned long)clk.vm_generation_counter);
		ksft_print_msg("%s mode: marker 41 -> 42, generation 6 kept\n",
			       mode == KVM_VMCLOCK_MODE_USER ? "USER" : "AUTO");
		kvm_vm_free(dst.vm);
		kvm_vm_free(src.vm);
	}
}

/* Restores from one snapshot bump vm_generation_counter each time. */
TEST(snapshot_restore)
{
	struct vmclock_vm vm, restored;
	struct kvm_vmclock snap;
	struct vmclock_abi clk;
	u32 flags = KVM_VMCLOCK_FLAG_SET_DISRUPTION |
		    KVM_VMCLOCK_FLAG_BUMP_DISRUPTION |
		    KVM_VMCLOCK_FLAG_SET_VM_GENERATION |
		    KVM_VMCLOCK_FLAG_BUMP_VM_GENERATION;
	int i;

	vmclock_vm_create(&vm, 1);
	memset(&clk, 0, sizeof(clk));
	clk.flags = VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT;
	vmclock_auto_set(vm.vm, KVM_VMCLOCK_FLAG_BUMP_VM_GENERATION, 0, &clk);
	vmclock_page_read(vm.page, &clk);
	TEST_ASSERT(clk.vm_generation_counter == 1 &&
		    (clk.flags & VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT),
		    "generation %lu", (unsigned long)clk.vm_generation_counter);

	/* Take the snapshot. */
	vmclock_get(vm.vm, &snap);

	for (i = 0; i < 2; i++) {
		/* A new VM from the snapshot. */
		vmclock_vm_create(&restored, 1);
		memset(&clk, 0, sizeof(clk));
		clk.flags = VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT;
		clk.disruption_marker = snap.disruption_marker;
		clk.vm_generation_counter = snap.vm_generation_counter;
		vmclock_auto_set(restored.vm, flags, 0, &clk);
		vmclock_page_read(restored.page, &clk);
		TEST_ASSERT(clk.vm_generation_counter == 2 &&
			    clk.disruption_marker == snap.disruption_marker + 1,
			    "restore %d: generation %lu marker %lu", i,
			    (unsigned long)clk.vm_generation_counter,
			    (unsigned long)clk.disruption_marker);
		kvm_vm_free(restored.vm);
	}

	/* In place, over the running VM, in USER mode this time. */
	vmclock_user_clock_now(vm.vm, &clk);
	clk.flags |= VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT;
	clk.disruption_marker = snap.disruption_marker;
	clk.vm_generation_counter = snap.vm_generation_counter;
	vmclock_user_set(vm.vm, flags, 0, &clk);
	vmclock_page_read(vm.page, &clk);
	TEST_ASSERT(clk.vm_generation_counter == 2 && clk.disruption_marker == 1,
		    "in-place restore: generation %lu marker %lu",
		    (unsigned long)clk.vm_generation_counter,
		    (unsigned long)clk.disruption_marker);
	kvm_vm_free(vm.vm);
}

static void seq_set(struct kvm_vm *vm, u32 mode, u64 gpa, u32 seq)
{
	struct kvm_vmclock vc = {
		.mode = mode,
		.gpa = gpa,
		.flags = KVM_VMCLOCK_FLAG_SET_SEQ_COUNT,
		.seq_count = seq,
	};

	vm_ioctl(vm, KVM_SET_VMCLOCK, &vc);
}

/*
 * seq_count never goes back, whatever KVM_SET_VMCLOCK gets: a
 * KVM_VMCLOCK_FLAG_SET_SEQ_COUNT below what KVM last wrote or was given,
 * in OFF mode or at another address, does not lower what KVM writes next,
 * even when the page's memory no longer holds the old value.
 */
TEST_F(vmclock, seq_count_never_back)
{
	struct vmclock_vm *v = &self->v;
	struct kvm_vmclock vc;
	struct vmclock_abi clk;
	u32 high;

	/* The guest has seen 1000 (e.g. on a migration source). */
	seq_set(v->vm, KVM_VMCLOCK_MODE_AUTO, VMCLOCK_GPA, 1000);
	vmclock_page_read(v->page, &clk);
	TEST_ASSERT(clk.seq_count > 1000, "page seq_count %u after SET 1000",
		    clk.seq_count);
	high = clk.seq_count;

	/* OFF with a lower value: GET and the next write stay above. */
	seq_set(v->vm, KVM_VMCLOCK_MODE_OFF, 0, 10);
	vmclock_page_read(v->page, &clk);
	high = clk.seq_count;
	vmclock_get(v->vm, &vc);
	TEST_ASSERT(vc.seq_count == high,
		    "GET seq_count %u after SET_SEQ_COUNT 10 in OFF mode, want %u",
		    vc.seq_count, high);

	/* The page's memory lost the old value (e.g. it was remapped). */
	memset(v->page, 0, VMCLOCK_PAGE_SIZE);
	vmclock_set(v->vm, KVM_VMCLOCK_MODE_AUTO, VMCLOCK_GPA);
	vmclock_page_read(v->page, &clk);
	TEST_ASSERT((s32)(clk.seq_count - high) > 0,
		    "page seq_count %u after OFF with SET_SEQ_COUNT 10, want above %u",
		    clk.seq_count, high);
	high = clk.seq_count;

	/* At another address, with a lower value. */
	memset(v->alt, 0, VMCLOCK_PAGE_SIZE);
	seq_set(v->vm, KVM_VMCLOCK_MODE_AUTO, VMCLOCK_ALT_GPA, 4);
	vmclock_page_read((struct vmclock_abi *)v->alt, &clk);
	TEST_ASSERT((s32)(clk.seq_count - high) > 0,
		    "new page seq_count %u after SET_SEQ_COUNT 4, want above %u",
		    clk.seq_count, high);
	high = clk.seq_count;

	/* A higher value is taken. */
	seq_set(v->vm, KVM_VMCLOCK_MODE_AUTO, VMCLOCK_ALT_GPA, high + 100);
	vmclock_page_read((struct vmclock_abi *)v->alt, &clk);
	TEST_ASSERT(clk.seq_count > high + 100,
		    "page seq_count %u after SET_SEQ_COUNT %u", clk.seq_count,
		    high + 100);
}

/* The eventfd is signalled once per publication, never for a rejected call. */
TEST_F(vmclock, eventfd)
{
	struct vmclock_vm *v = &self->v;
	int efd = eventfd(0, EFD_NONBLOCK), efd2 = eventfd(0, EFD_NONBLOCK);
	struct vmclock_abi h, clk, before;
	u64 offset, updates;
	int i;

	TEST_ASSERT(efd >= 0 && efd2 >= 0, "eventfd");
	vcpu_device_attr_get(v->vcpu[0], KVM_VCPU_TSC_CTRL, KVM_VCPU_TSC_OFFSET,
			     &offset);

	/* No eventfd, no flag. */
	vmclock_user_clock_now(v->vm, &h);
	vmclock_user_set(v->vm, 0, 0, &h);
	vmclock_page_read(v->page, &clk);
	TEST_ASSERT(!(clk.flags & VMCLOCK_FLAG_NOTIFICATION_PRESENT),
		    "NOTIFICATION_PRESENT without an eventfd");

	for (i = 0; i < 10; i++) {
		vmclock_user_clock_advance(&clk, &h, i * 1000);
		vmclock_user_set(v->vm, KVM_VMCLOCK_FLAG_EVENTFD, efd, &clk);
		TEST_ASSERT_EQ(vmclock_efd_read(efd), 1);
		vmclock_page_read(v->page, &clk);
		TEST_ASSERT(clk.flags & VMCLOCK_FLAG_NOTIFICATION_PRESENT,
			    "no NOTIFICATION_PRESENT with an eventfd");
	}

	/* Rejected calls: no signal, the eventfd stays attached. */
	clk = h;
	clk.magic = 0;
	TEST_ASSERT(__vmclock_user_set(v->vm, KVM_VMCLOCK_FLAG_EVENTFD, efd, &clk) == -1,
		    "bad clock accepted");
	TEST_ASSERT(__vmclock_user_set(v->vm, KVM_VMCLOCK_FLAG_EVENTFD, efd2, &clk) == -1,
		    "bad clock accepted");
	TEST_ASSERT(__vmclock_user_set(v->vm, KVM_VMCLOCK_FLAG_EVENTFD, -1, &h) == -1 &&
		    errno == EBADF, "bad eventfd: errno %d", errno);
	TEST_ASSERT(__vmclock_user_set(v->vm, KVM_VMCLOCK_FLAG_EVENTFD, v->vm->fd, &h) == -1 &&
		    errno == EINVAL, "not an eventfd: errno %d", errno);
	TEST_ASSERT_EQ(vmclock_efd_read(efd), 0);
	TEST_ASSERT_EQ(vmclock_efd_read(efd2), 0);

	/* Updates by KVM itself: one signal per new seq_count. */
	for (i = 0; i < 4; i++) {
		vmclock_page_read(v->page, &before);
		updates = vmclock_updates(v->vm);
		vmclock_set_tsc_offset(v->vcpu[0], offset + (i & 1 ? 0 : 1000000));
		vmclock_wait_seq_change(v->page, before.seq_count, "offset change");
		usleep(20 * 1000);
		vmclock_page_read(v->page, &clk);
		TEST_ASSERT_EQ(vmclock_efd_read(efd), (clk.seq_count - before.seq_count) / 2);
		TEST_ASSERT_EQ(vmclock_updates(v->vm) - updates,
			       (clk.seq_count - before.seq_count) / 2);
		TEST_ASSERT(clk.flags & VMCLOCK_FLAG_NOTIFICATION_PRESENT,
			    "flag lost by an update");
	}

	/*
	 * Another eventfd replaces the first one; AUTO mode signals too (the
	 * host timekeeper may add an update of its own).
	 */
	vmclock_page_read(v->page, &before);
	vmclock_auto_set(v->vm, KVM_VMCLOCK_FLAG_EVENTFD, efd2, NULL);
	vmclock_page_read(v->page, &clk);
	TEST_ASSERT_EQ(vmclock_efd_read(efd2), (clk.seq_count - before.seq_count) / 2);
	TEST_ASSERT_EQ(vmclock_efd_read(efd), 0);
	TEST_ASSERT(clk.flags & VMCLOCK_FLAG_NOTIFICATION_PRESENT, "AUTO: no flag");

	/* Without the flag: detached, flag cleared, no signal. */
	vmclock_user_set(v->vm, 0, 0, &h);
	TEST_ASSERT_EQ(vmclock_efd_read(efd2), 0);
	vmclock_page_read(v->page, &clk);
	TEST_ASSERT(!(clk.flags & VMCLOCK_FLAG_NOTIFICATION_PRESENT),
		    "NOTIFICATION_PRESENT after the eventfd was detached");
	vmclock_set_tsc_offset(v->vcpu[0], offset + 777);
	vmclock_wait_seq_change(v->page, clk.seq_count, "offset change");
	usleep(20 * 1000);
	TEST_ASSERT_EQ(vmclock_efd_read(efd) + vmclock_efd_read(efd2), 0);

	/* OFF: the final UNRELIABLE write is signalled to the attached one. */
	vmclock_user_set(v->vm, KVM_VMCLOCK_FLAG_EVENTFD, efd, &h);
	TEST_ASSERT_EQ(vmclock_efd_read(efd), 1);
	vmclock_set(v->vm, KVM_VMCLOCK_MODE_OFF, 0);
	TEST_ASSERT_EQ(vmclock_efd_read(efd), 1);
	vmclock_page_read(v->page, &clk);
	TEST_ASSERT_EQ(clk.clock_status, VMCLOCK_STATUS_UNRELIABLE);
	vmclock_set_tsc_offset(v->vcpu[0], offset);
	usleep(50 * 1000);
	TEST_ASSERT_EQ(vmclock_efd_read(efd), 0);
	close(efd);
	close(efd2);
}

int main(int argc, char *argv[])
{
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_VMCLOCK));
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_ADJUST_CLOCK) & KVM_CLOCK_REALTIME);
	TEST_REQUIRE(sys_clocksource_is_based_on_tsc());

	return test_harness_run(argc, argv);
}
