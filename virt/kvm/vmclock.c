// SPDX-License-Identifier: GPL-2.0-only
/*
 * KVM vmclock provider: publishes a struct vmclock_abi page (see
 * include/uapi/linux/vmclock-abi.h) in guest memory.
 *
 * This file is the page: the ioctls, the per-VM state, writing the page
 * with the seq_count protocol and scheduling the updates.  The contents of
 * the clock (which counter, its value and period in the guest, the time,
 * the status) are computed in vmclock_clock.c, from the host timekeeper
 * and the guest counter that the architecture gives.
 *
 * Locking and contexts:
 *
 *  - kvm->vmclock.lock (a mutex) serialises the ioctls and VM teardown,
 *    which activate and deactivate the page's cache (and may sleep there).
 *  - kvm->vmclock.page_lock (a spinlock) serialises the writes of the page
 *    and protects the state they read.  The page is written with it and
 *    gpc->lock (read) held: nothing sleeps while seq_count is odd.
 *  - Only a vCPU about to enter the guest (KVM_REQ_VMCLOCK_UPDATE) and the
 *    ioctls refresh the cache, as kvmclock does, with kvm->srcu held and
 *    no other lock.  One vCPU refreshes at a time: the others enter the
 *    guest, where the page's memory is not mapped until the host has it,
 *    so a missing page (userfaultfd) blocks only the vCPU that refreshes.
 *  - Each change of what the page describes (a vCPU's TSC, the host
 *    clock, the page's memory) increments vc->want; a publication
 *    records in vc->done the value it started from.  A vCPU whose request
 *    finds done == want returns at once: O(1), not a write per vCPU.
 *  - The per-VM work, queued from any context where queue_work() is
 *    allowed, writes only through a valid cache: no GUP, no borrowed mm;
 *    and only while the VM's process has its memory (a reference on
 *    kvm->mm's users), which exit_mmap() frees with no invalidation.
 *    If the cache is not valid, it makes the request on every vCPU, so
 *    that no vCPU enters the guest while the page is stale.
 *  - Changes are only counted while the clock is armed (on, or being turned
 *    on by a KVM_SET_VMCLOCK, which arms it before it computes the page, so
 *    that a change made meanwhile is not lost), and a VM without a vmclock
 *    pays nothing.
 *  - kvm_vmclock_update_all() queues a single global work, which walks
 *    vm_list under kvm_lock and queues the work of each VM with an active
 *    clock.  The works never hold a reference to a VM: what queues the
 *    per-VM work either holds one (an ioctl, a vCPU), or is an MMU notifier
 *    invalidation or the walk of vm_list.  kvm_destroy_vm() tears the
 *    vmclock down, cancelling the work, only after the VM left vm_list and
 *    its MMU notifier was unregistered (which waits for invalidations in
 *    progress), so nothing can queue the work after it is cancelled, and
 *    it never runs on a destroyed VM.
 *
 * A republication that would write the same page again, into memory that
 * still holds it, is skipped: no seq_count step, no statistic, no eventfd.
 * So an invalidation or memslot change that moved or changed nothing (dirty
 * logging, mprotect, NUMA balancing, a migrated page) costs the guest
 * nothing.
 * Each write of the page counts in the VM's vmclock_updates statistic and
 * fires the kvm_vmclock_update tracepoint, and signals the VM's eventfd if
 * one is attached (KVM_VMCLOCK_FLAG_EVENTFD).
 *
 * seq_count only moves forward: each write continues from the larger of
 * the value in the page (which may come from a migration source, or from
 * a snapshot) and the last value KVM wrote or the VMM passed with
 * KVM_VMCLOCK_FLAG_SET_SEQ_COUNT, as kvmclock continues from the version
 * in the guest's structure.  A value the VMM passes that is earlier than
 * the last one is ignored, so that what KVM writes next is never lower,
 * even in a page whose memory lost the old value.
 *
 * In USER mode, the clock is given by userspace in the host TSC domain and
 * kept in kvm->vmclock.cfg; kvm_vmclock_fill_user() converts it into
 * the guest's domain at each publication, so the page follows changes of
 * the guest TSC without userspace doing anything.  The fields KVM owns in
 * both modes (disruption_marker, vm_generation_counter and the flags the
 * VMM may set) are in kvm->vmclock.cfg too.
 *
 * The page is not marked dirty: that is only allowed from vCPU context on
 * some architectures (x86 warns otherwise).  The VMM is expected to carry
 * the output of KVM_GET_VMCLOCK to the destination of a migration and
 * issue KVM_SET_VMCLOCK there.
 */

#include <linux/eventfd.h>
#include <linux/kvm_host.h>
#include <linux/jump_label_ratelimit.h>
#include <linux/sched/mm.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>
#include <trace/events/kvm.h>

#include "vmclock.h"

/*
 * Enabled while some VM's vmclock is not OFF: the architecture's per-tick
 * work and the walk of vm_list are skipped otherwise.  Any user of
 * /dev/kvm can turn a clock on and off in a loop, so the key is disabled
 * at most once a second (a deferred key, as KVM's Xen and local APIC keys),
 * instead of patching kernel text at each call.
 */
DEFINE_STATIC_KEY_DEFERRED_FALSE(kvm_vmclock_key, HZ);

/*
 * Flags of struct vmclock_abi that the VMM sets in kvm_vmclock.clock_flags
 * (both modes; NOTIFICATION_PRESENT is KVM's, accepted so that the output
 * of KVM_GET_VMCLOCK can be given back), and those of a USER clock.
 */
#define KVM_VMCLOCK_VMM_FLAGS		(VMCLOCK_FLAG_DISRUPTION_SOON |	\
					 VMCLOCK_FLAG_DISRUPTION_IMMINENT | \
					 VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT)
#define KVM_VMCLOCK_CLOCK_FLAGS_IN	(KVM_VMCLOCK_VMM_FLAGS |	\
					 VMCLOCK_FLAG_NOTIFICATION_PRESENT)
#define KVM_VMCLOCK_USER_CLOCK_FLAGS	(VMCLOCK_FLAG_TAI_OFFSET_VALID |	\
					 VMCLOCK_FLAG_PERIOD_ESTERROR_VALID | \
					 VMCLOCK_FLAG_PERIOD_MAXERROR_VALID | \
					 VMCLOCK_FLAG_TIME_ESTERROR_VALID |	\
					 VMCLOCK_FLAG_TIME_MAXERROR_VALID |	\
					 VMCLOCK_FLAG_TIME_MONOTONIC)
#define KVM_VMCLOCK_COUNTER_FLAGS	(KVM_VMCLOCK_FLAG_BUMP_DISRUPTION | \
					 KVM_VMCLOCK_FLAG_SET_DISRUPTION |	\
					 KVM_VMCLOCK_FLAG_BUMP_VM_GENERATION | \
					 KVM_VMCLOCK_FLAG_SET_VM_GENERATION | \
					 KVM_VMCLOCK_FLAG_SET_SEQ_COUNT)
#define KVM_VMCLOCK_VALID_FLAGS		(KVM_VMCLOCK_COUNTER_FLAGS |	\
					 KVM_VMCLOCK_FLAG_EVENTFD)

/*
 * Compute the page for @mode and @cfg, with NOTIFICATION_PRESENT if
 * @notify.  Returns -EINVAL if the USER clock cannot be converted into the
 * guest's TSC domain.
 */
static int kvm_vmclock_fill(struct kvm *kvm, u32 mode,
			    const struct kvm_vmclock_cfg *cfg, bool notify,
			    struct vmclock_abi *clk)
{
	u64 flags;
	int r;

	memset(clk, 0, sizeof(*clk));
	if (mode == KVM_VMCLOCK_MODE_USER) {
		r = kvm_vmclock_fill_user(kvm, &cfg->user, clk);
		if (r)
			return r;
	} else {
		kvm_vmclock_fill_auto(kvm, clk);
	}

	/* The flags the VMM sets, in both modes. */
	flags = cfg->flags;

	clk->magic = cpu_to_le32(VMCLOCK_MAGIC);
	clk->size = cpu_to_le32(PAGE_SIZE);
	clk->version = cpu_to_le16(1);
	clk->seq_count = 0;
	if (notify)
		flags |= VMCLOCK_FLAG_NOTIFICATION_PRESENT;
	clk->flags = cpu_to_le64(le64_to_cpu(clk->flags) | flags);
	clk->disruption_marker = cpu_to_le64(cfg->disruption_marker);
	clk->vm_generation_counter = cpu_to_le64(cfg->vm_generation_counter);
	return 0;
}

/*
 * Write @clk to the page mapped by @gpc with the vmclock seq_count protocol
 * and, if @full_page, zero the rest of the page.  seq_count continues from
 * the later (modulo 2^32) of the value in the page, if the page holds a
 * vmclock structure, and vc->seq, so that a guest never sees it go back,
 * even on a migration destination whose page was copied before the
 * source's last write.  Called with gpc->lock
 * read-held and a valid cache; does not sleep.
 */
static void kvm_vmclock_write_page(struct kvm_vmclock_state *vc,
				   struct gfn_to_pfn_cache *gpc,
				   struct vmclock_abi *clk, bool full_page)
{
	struct vmclock_abi *guest = gpc->khva;
	u32 seq = le32_to_cpu(READ_ONCE(guest->seq_count));

	/* Only a vmclock structure has a seq_count a guest may have seen. */
	if (le32_to_cpu(READ_ONCE(guest->magic)) != VMCLOCK_MAGIC ||
	    (s32)(vc->seq - seq) > 0)
		seq = vc->seq;
	/* Odd, and above both: an update is in progress. */
	seq += 1 + (seq & 1);
	WRITE_ONCE(guest->seq_count, cpu_to_le32(seq));
	/* Pairs with the guest's rmb after reading seq_count. */
	smp_wmb();

	clk->seq_count = cpu_to_le32(seq);
	memcpy(guest, clk, sizeof(*clk));
	if (full_page)
		memset((void *)guest + sizeof(*clk), 0,
		       PAGE_SIZE - sizeof(*clk));

	/* Pairs with the guest's rmb before re-reading seq_count. */
	smp_wmb();
	seq++;
	WRITE_ONCE(guest->seq_count, cpu_to_le32(seq));
	clk->seq_count = cpu_to_le32(seq);
	vc->seq = seq;
}

/*
 * Write @clk to the page mapped by @gpc and signal @eventfd (if not NULL):
 * the page has a new even seq_count.  With @skip_same, nothing is done if
 * @clk is vc->clock but for seq_count and the memory still holds
 * vc->clock, wherever it now is.  kvm->vmclock.page_lock held.
 *
 * Return: 0 if the page was written, 1 if it was skipped, or -EAGAIN if
 * the cache must be refreshed first.
 */
static int kvm_vmclock_write(struct kvm *kvm, struct gfn_to_pfn_cache *gpc,
			     struct vmclock_abi *clk, bool full_page,
			     bool skip_same, struct eventfd_ctx *eventfd)
{
	struct kvm_vmclock_state *vc = &kvm->vmclock;
	int idx, r = 0;

	lockdep_assert_held(&vc->page_lock);

	idx = srcu_read_lock(&kvm->srcu);
	read_lock(&gpc->lock);
	if (!kvm_gpc_check(gpc, PAGE_SIZE)) {
		r = -EAGAIN;
		goto out;
	}

	clk->seq_count = vc->clock.seq_count;
	if (skip_same && !memcmp(clk, &vc->clock, sizeof(*clk)) &&
	    !memcmp(gpc->khva, &vc->clock, sizeof(*clk))) {
		r = 1;
		goto out;
	}

	kvm_vmclock_write_page(vc, gpc, clk, full_page);
	read_unlock(&gpc->lock);
	srcu_read_unlock(&kvm->srcu, idx);

	++kvm->stat.generic.vmclock_updates;
	trace_kvm_vmclock_update(gpc->gpa, le32_to_cpu(clk->seq_count),
				 clk->clock_status,
				 le64_to_cpu(clk->counter_value),
				 le64_to_cpu(clk->time_sec),
				 le64_to_cpu(clk->time_frac_sec));
	if (eventfd)
		eventfd_signal(eventfd);
	return 0;
out:
	read_unlock(&gpc->lock);
	srcu_read_unlock(&kvm->srcu, idx);
	return r;
}

/*
 * Refresh @gpc from a thread of the VM's process (an ioctl, or a vCPU
 * about to enter the guest): the cache resolves the address with
 * current->mm, and may sleep there.
 */
static int kvm_vmclock_refresh(struct kvm *kvm, struct gfn_to_pfn_cache *gpc)
{
	int idx, r;

	idx = srcu_read_lock(&kvm->srcu);
	r = kvm_gpc_refresh(gpc, PAGE_SIZE);
	srcu_read_unlock(&kvm->srcu, idx);
	return r;
}

/*
 * Stop using the current page: mark it unreliable if @write_unreliable and
 * it can still be written (best effort), then release the cache and the
 * eventfd.  The counters in vc->cfg are kept: they belong to the VM, not to
 * the page.  kvm->vmclock.lock held.
 */
static void kvm_vmclock_retire(struct kvm *kvm, bool write_unreliable)
{
	struct kvm_vmclock_state *vc = &kvm->vmclock;
	struct gfn_to_pfn_cache *gpc = &vc->gpc[vc->cur];
	struct eventfd_ctx *eventfd;
	struct vmclock_abi clk;

	if (vc->mode == KVM_VMCLOCK_MODE_OFF)
		return;

	if (write_unreliable)
		kvm_vmclock_refresh(kvm, gpc);

	spin_lock(&vc->page_lock);
	eventfd = vc->eventfd;
	if (write_unreliable) {
		clk = vc->clock;
		clk.clock_status = VMCLOCK_STATUS_UNRELIABLE;
		kvm_vmclock_write(kvm, gpc, &clk, false, false, eventfd);
	}
	WRITE_ONCE(vc->mode, KVM_VMCLOCK_MODE_OFF);
	vc->eventfd = NULL;
	vc->gpa = 0;
	memset(&vc->clock, 0, sizeof(vc->clock));
	spin_unlock(&vc->page_lock);

	kvm_gpc_deactivate(gpc);
	if (eventfd)
		eventfd_ctx_put(eventfd);
	static_branch_slow_dec_deferred(&kvm_vmclock_key);
}

/*
 * Bring the page up to date with the changes counted in vc->want.  @vcpu is
 * a vCPU of the VM about to enter the guest, which refreshes the cache if
 * needed, or NULL (the work), which leaves that to the vCPUs.
 */
static void kvm_vmclock_publish(struct kvm *kvm, struct kvm_vcpu *vcpu)
{
	struct kvm_vmclock_state *vc = &kvm->vmclock;
	struct gfn_to_pfn_cache *gpc;
	struct vmclock_abi clk;
	int want, r;

	for (;;) {
		spin_lock(&vc->page_lock);
		want = atomic_read_acquire(&vc->want);
		if (vc->mode == KVM_VMCLOCK_MODE_OFF || vc->done == want) {
			spin_unlock(&vc->page_lock);
			return;
		}

		if (kvm_vmclock_fill(kvm, vc->mode, &vc->cfg, vc->eventfd,
				     &clk)) {
			/* The USER clock does not fit the guest's TSC domain. */
			clk = vc->clock;
			clk.clock_status = VMCLOCK_STATUS_UNRELIABLE;
		}
		gpc = &vc->gpc[vc->cur];
		r = kvm_vmclock_write(kvm, gpc, &clk, false, true, vc->eventfd);
		if (!r)
			vc->clock = clk;
		if (r >= 0)	/* Pairs with kvm_vmclock_vcpu_sync(). */
			smp_store_release(&vc->done, want);
		spin_unlock(&vc->page_lock);
		if (r != -EAGAIN)
			return;

		if (!vcpu) {
			kvm_make_all_cpus_request(kvm, KVM_REQ_VMCLOCK_UPDATE);
			return;
		}
		/* One vCPU refreshes; the others cannot read the page meanwhile. */
		if (test_and_set_bit_lock(0, &vc->refreshing))
			return;
		r = kvm_gpc_refresh(gpc, PAGE_SIZE);
		clear_bit_unlock(0, &vc->refreshing);
		/* A page that is gone is republished when its memslot returns. */
		if (r)
			return;
	}
}

static void kvm_vmclock_work_fn(struct work_struct *work)
{
	struct kvm *kvm = container_of(work, struct kvm, vmclock.work);

	/*
	 * exit_mmap() frees the guest's memory with no invalidation of the
	 * cache: once the VM's process has exited, there is no page to write.
	 */
	if (!mmget_not_zero(kvm->mm))
		return;
	kvm_vmclock_publish(kvm, NULL);
	mmput_async(kvm->mm);
}

/*
 * The clock is on, or being turned on.  The caller changed what the page
 * describes just before: the barrier pairs with the one in
 * kvm_vmclock_arm(), so that either the caller sees the clock armed, or
 * the KVM_SET_VMCLOCK that arms it computes the page from the change.
 */
static bool kvm_vmclock_armed(struct kvm *kvm)
{
	/* Pairs with kvm_vmclock_arm(): after the change, before the check. */
	smp_mb();
	return READ_ONCE(kvm->vmclock.armed) && !READ_ONCE(kvm->vmclock.dying);
}

static void kvm_vmclock_arm(struct kvm_vmclock_state *vc, bool armed)
{
	WRITE_ONCE(vc->armed, armed);
	/* Pairs with kvm_vmclock_armed(): before the page is computed. */
	smp_mb();
}

/*
 * Count a change of what the page describes, if the clock is armed: the
 * next publication rewrites the page.
 */
static bool kvm_vmclock_changed(struct kvm *kvm)
{
	if (!kvm_vmclock_armed(kvm))
		return false;
	atomic_inc(&kvm->vmclock.want);
	return true;
}

/**
 * kvm_vmclock_update - schedule a republication of a VM's vmclock
 * @kvm: the VM
 *
 * Queues the per-VM work if the clock is armed: a KVM_SET_VMCLOCK that is
 * turning the clock on at the same time may have computed the page
 * already, and the work publishes the change.  Any context where
 * queue_work() is allowed; the caller must hold a reference to @kvm or
 * otherwise keep it from being destroyed (e.g. be a vCPU of it).
 */
void kvm_vmclock_update(struct kvm *kvm)
{
	if (kvm_vmclock_changed(kvm))
		queue_work(system_dfl_wq, &kvm->vmclock.work);
}

/**
 * kvm_vmclock_vcpu_update - a vCPU's TSC offset, ratio or linearity changed
 * @vcpu: the vCPU, not running in the guest
 *
 * The page is brought up to date before @vcpu enters the guest again
 * (KVM_REQ_VMCLOCK_UPDATE, see kvm_vmclock_vcpu_sync()), and also from a
 * work item, for the other vCPUs, which may be in the guest.  Any context
 * where queue_work() is allowed.
 */
void kvm_vmclock_vcpu_update(struct kvm_vcpu *vcpu)
{
	if (!kvm_vmclock_changed(vcpu->kvm))
		return;
	kvm_make_request(KVM_REQ_VMCLOCK_UPDATE, vcpu);
	queue_work(system_dfl_wq, &vcpu->kvm->vmclock.work);
}

/**
 * kvm_vmclock_vcpu_sync - handle KVM_REQ_VMCLOCK_UPDATE
 * @vcpu: the vCPU, about to enter the guest, with kvm->srcu read-held
 *
 * Republishes the page if a change since the last publication asks for it;
 * O(1) if another vCPU or the work did it already.  May sleep in the
 * refresh of the page's cache, as kvmclock's update does.
 */
void kvm_vmclock_vcpu_sync(struct kvm_vcpu *vcpu)
{
	struct kvm_vmclock_state *vc = &vcpu->kvm->vmclock;

	/* Pairs with the release of done after the page was written. */
	if (smp_load_acquire(&vc->done) != atomic_read(&vc->want))
		kvm_vmclock_publish(vcpu->kvm, vcpu);
}

/*
 * The page's mapping or memslot changed: check it before entry.  No kick:
 * a vCPU in the guest reaches the new memory only through a fault, an exit.
 */
static void kvm_vmclock_repair(struct kvm *kvm)
{
	struct kvm_vcpu *vcpu;
	unsigned long i;

	if (!kvm_vmclock_changed(kvm))
		return;
	kvm_for_each_vcpu(i, vcpu, kvm)
		kvm_make_request(KVM_REQ_VMCLOCK_UPDATE, vcpu);
}

/**
 * kvm_vmclock_invalidate - the host mapping of some guest memory changes
 * @kvm: the VM
 * @start: start of the host virtual address range
 * @end: end of the range (exclusive)
 *
 * Called from the MMU notifier's invalidate_range_start, after the pfn
 * caches were invalidated.  If the page is in the range, every vCPU
 * checks it, and rewrites it if its memory changed, before it enters the
 * guest again: a vCPU can only read the new memory after a fault.
 */
void kvm_vmclock_invalidate(struct kvm *kvm, unsigned long start,
			    unsigned long end)
{
	struct kvm_vmclock_state *vc = &kvm->vmclock;
	unsigned long uhva;

	if (!kvm_vmclock_in_use() ||
	    READ_ONCE(vc->mode) == KVM_VMCLOCK_MODE_OFF)
		return;

	/* A racy read is enough: a concurrent refresh retries by itself. */
	uhva = READ_ONCE(vc->gpc[READ_ONCE(vc->cur)].uhva);
	if (uhva >= start && uhva < end)
		kvm_vmclock_repair(kvm);
}

static bool kvm_vmclock_in_slot(const struct kvm_memory_slot *slot, gfn_t gfn)
{
	return slot && gfn >= slot->base_gfn && gfn < slot->base_gfn + slot->npages;
}

/**
 * kvm_vmclock_memslots_changed - a memslot of the VM changed
 * @kvm: the VM
 * @old: the memslot before the change, or NULL if it was created
 * @new: the memslot after the change, or NULL if it was deleted
 *
 * Called after a memslot was created, deleted, moved or had its flags
 * changed.  If the page was or is in it, it may have gone, or come back
 * with other memory (a move back, a new slot): every vCPU checks it before
 * it enters the guest again.
 */
void kvm_vmclock_memslots_changed(struct kvm *kvm,
				  const struct kvm_memory_slot *old,
				  const struct kvm_memory_slot *new)
{
	struct kvm_vmclock_state *vc = &kvm->vmclock;
	gfn_t gfn;

	if (!kvm_vmclock_in_use() ||
	    READ_ONCE(vc->mode) == KVM_VMCLOCK_MODE_OFF)
		return;

	gfn = gpa_to_gfn(READ_ONCE(vc->gpa));
	if (kvm_vmclock_in_slot(old, gfn) || kvm_vmclock_in_slot(new, gfn))
		kvm_vmclock_repair(kvm);
}

static void kvm_vmclock_update_all_fn(struct work_struct *work)
{
	struct kvm *kvm;

	mutex_lock(&kvm_lock);
	/*
	 * USER mode too: its page turns unreliable with the host TSC.  An
	 * unchanged page is not rewritten.
	 */
	list_for_each_entry(kvm, &vm_list, vm_list)
		if (READ_ONCE(kvm->vmclock.mode) != KVM_VMCLOCK_MODE_OFF)
			kvm_vmclock_update(kvm);
	mutex_unlock(&kvm_lock);
}

static DECLARE_WORK(kvm_vmclock_update_all_work, kvm_vmclock_update_all_fn);

/**
 * kvm_vmclock_update_all - schedule a republication of all VMs' vmclocks
 *
 * For the architecture code, when host timekeeping changed.  O(1): it
 * only queues one global work item, which walks the VMs.  Any context
 * where queue_work() is allowed (use an irq_work from a timekeeper
 * notifier).
 */
void kvm_vmclock_update_all(void)
{
	if (kvm_vmclock_in_use())
		queue_work(system_dfl_wq, &kvm_vmclock_update_all_work);
}

/**
 * kvm_vmclock_cancel_update_all - wait for kvm_vmclock_update_all() work
 *
 * For module unload, after the architecture stopped calling
 * kvm_vmclock_update_all() and all VMs are gone: also runs the deferred
 * disable of the static key now.
 */
void kvm_vmclock_cancel_update_all(void)
{
	cancel_work_sync(&kvm_vmclock_update_all_work);
	static_key_deferred_flush(&kvm_vmclock_key);
}

/**
 * kvm_vmclock_modes - the modes KVM_SET_VMCLOCK supports
 * @kvm: the VM, or NULL for the system file descriptor
 *
 * Return: a mask of BIT(KVM_VMCLOCK_MODE_*), without OFF; 0 for a VM whose
 * memory or TSC KVM cannot access.
 */
u32 kvm_vmclock_modes(struct kvm *kvm)
{
	return kvm_arch_vmclock_modes(kvm) &
	       (BIT(KVM_VMCLOCK_MODE_AUTO) | BIT(KVM_VMCLOCK_MODE_USER));
}

/**
 * kvm_vmclock_init_vm - initialise a new VM's vmclock state
 * @kvm: the VM
 */
void kvm_vmclock_init_vm(struct kvm *kvm)
{
	struct kvm_vmclock_state *vc = &kvm->vmclock;

	mutex_init(&vc->lock);
	spin_lock_init(&vc->page_lock);
	vc->mode = KVM_VMCLOCK_MODE_OFF;
	kvm_gpc_init(&vc->gpc[0], kvm);
	kvm_gpc_init(&vc->gpc[1], kvm);
	INIT_WORK(&vc->work, kvm_vmclock_work_fn);
}

/**
 * kvm_vmclock_destroy_vm - turn a VM's vmclock off for good
 * @kvm: the VM
 *
 * Called by kvm_destroy_vm() after the VM left vm_list and its MMU notifier
 * was unregistered, and before vCPUs are destroyed: the work cannot be
 * queued by a walk of vm_list or an invalidation any more, and nothing may
 * run on the VM's vmclock after this.  The page is not written: the VM is
 * going away.
 */
void kvm_vmclock_destroy_vm(struct kvm *kvm)
{
	struct kvm_vmclock_state *vc = &kvm->vmclock;

	mutex_lock(&vc->lock);
	kvm_vmclock_retire(kvm, false);
	kvm_vmclock_arm(vc, false);
	mutex_unlock(&vc->lock);

	/*
	 * Nothing may queue the work from now on: destroying the vCPUs can
	 * still load them, which may write a TSC offset.
	 */
	WRITE_ONCE(vc->dying, true);
	cancel_work_sync(&vc->work);
}

/**
 * kvm_vmclock_seq_later - whether a seq_count the VMM passes is taken
 * @seq: the seq_count passed with KVM_VMCLOCK_FLAG_SET_SEQ_COUNT
 * @last: the last seq_count KVM wrote or was given, 0 if none yet
 *
 * seq_count never goes back, whatever KVM_SET_VMCLOCK gets: a value that
 * is not later (modulo 2^32) than @last is ignored.  A VM that has none
 * yet takes any, e.g. its migration source's.
 *
 * Return: true if @seq replaces @last.
 */
static bool kvm_vmclock_seq_later(u32 seq, u32 last)
{
	return !last || (s32)(seq - last) > 0;
}

/*
 * Publish @cfg in @mode at @gpa, with @eventfd (a reference that this
 * function takes over on success), seq_count continuing above @seq if
 * @set_seq.  Nothing is changed on failure.  kvm->vmclock.lock held.
 */
static int kvm_vmclock_set_on(struct kvm *kvm, u32 mode, gpa_t gpa,
			      const struct kvm_vmclock_cfg *cfg, bool set_seq,
			      u32 seq, struct eventfd_ctx *eventfd)
{
	struct kvm_vmclock_state *vc = &kvm->vmclock;
	bool same = vc->mode != KVM_VMCLOCK_MODE_OFF && vc->gpa == gpa;
	struct gfn_to_pfn_cache *gpc, *old = NULL;
	struct eventfd_ctx *old_eventfd;
	struct vmclock_abi clk;
	unsigned int next;
	u32 old_seq;
	int want, idx, r;

	r = kvm_arch_vmclock_check(kvm, gpa);
	if (r)
		return r;

	if (kvm_mem_is_private(kvm, gpa_to_gfn(gpa)))
		return -EINVAL;

	/*
	 * Same page: rewrite it.  A change of mode, clock, counters or
	 * eventfd is one seq_count step for the guest.  A new page is
	 * activated and written with the spare cache, so that the current
	 * configuration is untouched if that fails; it counts as in use from
	 * before it is computed, so that the architecture's timekeeping work
	 * starts from the same line.
	 */
	next = vc->cur;
	if (!same) {
		static_branch_inc(&kvm_vmclock_key.key);
		kvm_vmclock_arm(vc, true);
		if (vc->mode != KVM_VMCLOCK_MODE_OFF) {
			old = &vc->gpc[vc->cur];
			next = !vc->cur;
			/* For the unreliable mark, best effort. */
			kvm_vmclock_refresh(kvm, old);
		}
		idx = srcu_read_lock(&kvm->srcu);
		r = kvm_gpc_activate(&vc->gpc[next], gpa, PAGE_SIZE);
		srcu_read_unlock(&kvm->srcu, idx);
		if (r)
			goto fail;
	}
	gpc = &vc->gpc[next];

	for (;;) {
		spin_lock(&vc->page_lock);
		want = atomic_read_acquire(&vc->want);
		old_seq = vc->seq;
		if (set_seq && kvm_vmclock_seq_later(seq, vc->seq))
			vc->seq = seq;
		r = kvm_vmclock_fill(kvm, mode, cfg, eventfd, &clk);
		if (!r)
			r = kvm_vmclock_write(kvm, gpc, &clk, true, false,
					      eventfd);
		if (r != -EAGAIN)
			break;
		vc->seq = old_seq;
		spin_unlock(&vc->page_lock);

		r = kvm_vmclock_refresh(kvm, gpc);
		if (r)
			goto fail_deactivate;
	}
	if (r) {
		vc->seq = old_seq;
		spin_unlock(&vc->page_lock);
		goto fail_deactivate;
	}

	if (old) {
		struct vmclock_abi gone = vc->clock;

		gone.clock_status = VMCLOCK_STATUS_UNRELIABLE;
		kvm_vmclock_write(kvm, old, &gone, false, false, vc->eventfd);
	}
	old_eventfd = vc->eventfd;
	vc->eventfd = eventfd;
	vc->cur = next;
	vc->gpa = gpa;
	vc->cfg = *cfg;
	vc->clock = clk;
	/* Pairs with kvm_vmclock_vcpu_sync(): the page, then done. */
	smp_store_release(&vc->done, want);
	WRITE_ONCE(vc->mode, mode);
	spin_unlock(&vc->page_lock);

	if (old) {
		kvm_gpc_deactivate(old);
		static_branch_slow_dec_deferred(&kvm_vmclock_key);
	}
	if (old_eventfd)
		eventfd_ctx_put(old_eventfd);
	return 0;

fail_deactivate:
	if (!same)
		kvm_gpc_deactivate(gpc);
fail:
	if (!same) {
		static_branch_slow_dec_deferred(&kvm_vmclock_key);
		kvm_vmclock_arm(vc, vc->mode != KVM_VMCLOCK_MODE_OFF);
	}
	return r;
}

/*
 * A USER clock, in the host's counter domain; the architecture checks its
 * counter_id and whether it fits the guest's domain.
 */
static int kvm_vmclock_check_user(const struct vmclock_abi *c)
{
	u64 cflags = le64_to_cpu(c->flags);
	u64 period = le64_to_cpu(c->counter_period_frac_sec);

	if (le32_to_cpu(c->magic) != VMCLOCK_MAGIC ||
	    le32_to_cpu(c->size) != PAGE_SIZE ||
	    le16_to_cpu(c->version) != 1 || c->seq_count ||
	    c->disruption_marker || c->vm_generation_counter ||
	    c->time_type > VMCLOCK_TIME_MONOTONIC ||
	    (cflags & ~KVM_VMCLOCK_USER_CLOCK_FLAGS) ||
	    c->pad[0] || c->pad[1] ||
	    c->clock_status > VMCLOCK_STATUS_UNRELIABLE ||
	    c->leap_second_smearing_hint > VMCLOCK_SMEARING_UTC_SLS ||
	    c->leap_indicator > VMCLOCK_LEAP_POST_NEG)
		return -EINVAL;

	/* Fields whose flag is clear must be zero. */
	if ((!(cflags & VMCLOCK_FLAG_TAI_OFFSET_VALID) && c->tai_offset_sec) ||
	    (!(cflags & VMCLOCK_FLAG_TIME_ESTERROR_VALID) &&
	     c->time_esterror_nanosec) ||
	    (!(cflags & VMCLOCK_FLAG_TIME_MAXERROR_VALID) &&
	     c->time_maxerror_nanosec) ||
	    (!(cflags & VMCLOCK_FLAG_PERIOD_ESTERROR_VALID) &&
	     c->counter_period_esterror_rate_frac_sec) ||
	    (!(cflags & VMCLOCK_FLAG_PERIOD_MAXERROR_VALID) &&
	     c->counter_period_maxerror_rate_frac_sec))
		return -EINVAL;

	/*
	 * A period the guest can compute with (shift < 64), and error rates
	 * not larger than the period, so that their conversion cannot
	 * overflow.
	 */
	if (!period || c->counter_period_shift > 63 ||
	    le64_to_cpu(c->counter_period_esterror_rate_frac_sec) > period ||
	    le64_to_cpu(c->counter_period_maxerror_rate_frac_sec) > period)
		return -EINVAL;
	return 0;
}

static int kvm_vmclock_check(struct kvm *kvm, const struct kvm_vmclock *arg)
{
	if ((arg->flags & ~KVM_VMCLOCK_VALID_FLAGS) || arg->pad ||
	    memchr_inv(arg->reserved, 0, sizeof(arg->reserved)) ||
	    (arg->eventfd && !(arg->flags & KVM_VMCLOCK_FLAG_EVENTFD)) ||
	    (arg->disruption_marker &&
	     !(arg->flags & KVM_VMCLOCK_FLAG_SET_DISRUPTION)) ||
	    (arg->vm_generation_counter &&
	     !(arg->flags & KVM_VMCLOCK_FLAG_SET_VM_GENERATION)) ||
	    (arg->seq_count && !(arg->flags & KVM_VMCLOCK_FLAG_SET_SEQ_COUNT)) ||
	    (arg->clock_flags & ~KVM_VMCLOCK_CLOCK_FLAGS_IN))
		return -EINVAL;

	switch (arg->mode) {
	case KVM_VMCLOCK_MODE_OFF:
		/* Only the counters can be set while off. */
		if (arg->gpa || (arg->flags & ~KVM_VMCLOCK_COUNTER_FLAGS) ||
		    arg->clock_flags || arg->user_clock || arg->user_clock_size)
			return -EINVAL;
		return 0;
	case KVM_VMCLOCK_MODE_AUTO:
		if (arg->user_clock || arg->user_clock_size)
			return -EINVAL;
		fallthrough;
	case KVM_VMCLOCK_MODE_USER:
		if (!(kvm_vmclock_modes(kvm) & BIT(arg->mode)) ||
		    !PAGE_ALIGNED(arg->gpa))
			return -EINVAL;
		return 0;
	default:
		return -EINVAL;
	}
}

/**
 * kvm_vm_ioctl_set_vmclock - KVM_SET_VMCLOCK
 * @kvm: the VM
 * @argp: struct kvm_vmclock, in
 *
 * Return: 0, or a negative error code; nothing is changed on failure.
 */
int kvm_vm_ioctl_set_vmclock(struct kvm *kvm, void __user *argp)
{
	struct kvm_vmclock_state *vc = &kvm->vmclock;
	struct eventfd_ctx *eventfd = NULL;
	struct kvm_vmclock_cfg cfg;
	struct kvm_vmclock arg;
	bool set_seq;
	int r;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;

	r = kvm_vmclock_check(kvm, &arg);
	if (r)
		return r;

	memset(&cfg.user, 0, sizeof(cfg.user));
	if (arg.mode == KVM_VMCLOCK_MODE_USER) {
		/* Smaller than version 1 of the structure: not a clock. */
		if (arg.user_clock_size < sizeof(cfg.user))
			return -EINVAL;
		r = copy_struct_from_user(&cfg.user, sizeof(cfg.user),
					  u64_to_user_ptr(arg.user_clock),
					  arg.user_clock_size);
		if (r)
			return r;
		r = kvm_vmclock_check_user(&cfg.user);
		if (r)
			return r;
	}

	if (arg.flags & KVM_VMCLOCK_FLAG_EVENTFD) {
		eventfd = eventfd_ctx_fdget(arg.eventfd);
		if (IS_ERR(eventfd))
			return PTR_ERR(eventfd);
	}

	mutex_lock(&vc->lock);

	/* The new configuration; the counters carry over unless set. */
	cfg.flags = arg.clock_flags & KVM_VMCLOCK_VMM_FLAGS;
	cfg.disruption_marker = vc->cfg.disruption_marker;
	cfg.vm_generation_counter = vc->cfg.vm_generation_counter;
	if (arg.flags & KVM_VMCLOCK_FLAG_SET_DISRUPTION)
		cfg.disruption_marker = arg.disruption_marker;
	if (arg.flags & KVM_VMCLOCK_FLAG_BUMP_DISRUPTION)
		cfg.disruption_marker++;
	if (arg.flags & KVM_VMCLOCK_FLAG_SET_VM_GENERATION)
		cfg.vm_generation_counter = arg.vm_generation_counter;
	if (arg.flags & KVM_VMCLOCK_FLAG_BUMP_VM_GENERATION)
		cfg.vm_generation_counter++;
	set_seq = arg.flags & KVM_VMCLOCK_FLAG_SET_SEQ_COUNT;

	if (arg.mode == KVM_VMCLOCK_MODE_OFF) {
		kvm_vmclock_retire(kvm, true);
		kvm_vmclock_arm(vc, false);
		spin_lock(&vc->page_lock);
		vc->cfg.flags = 0;
		vc->cfg.disruption_marker = cfg.disruption_marker;
		vc->cfg.vm_generation_counter = cfg.vm_generation_counter;
		/* After the final write, which may have gone past it. */
		if (set_seq && kvm_vmclock_seq_later(arg.seq_count, vc->seq))
			vc->seq = arg.seq_count;
		spin_unlock(&vc->page_lock);
		r = 0;
		goto out;
	}

	r = kvm_vmclock_set_on(kvm, arg.mode, arg.gpa, &cfg, set_seq,
			       arg.seq_count, eventfd);
	if (!r)
		eventfd = NULL;
out:
	mutex_unlock(&vc->lock);
	if (eventfd)
		eventfd_ctx_put(eventfd);
	return r;
}

/**
 * kvm_vm_ioctl_get_vmclock - KVM_GET_VMCLOCK
 * @kvm: the VM
 * @argp: struct kvm_vmclock; in: user_clock and user_clock_size (a buffer
 *	  for a USER clock, or 0), all other fields zero; out: input for
 *	  KVM_SET_VMCLOCK on this VM
 *
 * Return: 0, or a negative error code (-EINVAL if an input field other
 * than the buffer is not zero).
 */
int kvm_vm_ioctl_get_vmclock(struct kvm *kvm, void __user *argp)
{
	struct kvm_vmclock_state *vc = &kvm->vmclock;
	struct vmclock_abi user;
	struct kvm_vmclock arg;
	u64 uclock;
	u32 usize;
	int r = 0;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	uclock = arg.user_clock;
	usize = arg.user_clock_size;
	/* Only the buffer is input: the rest is kept zero for future flags. */
	arg.user_clock = 0;
	arg.user_clock_size = 0;
	if (memchr_inv(&arg, 0, sizeof(arg)))
		return -EINVAL;

	mutex_lock(&vc->lock);
	arg.mode = vc->mode;
	arg.gpa = vc->gpa;
	arg.flags = KVM_VMCLOCK_FLAG_SET_DISRUPTION |
		    KVM_VMCLOCK_FLAG_SET_VM_GENERATION |
		    KVM_VMCLOCK_FLAG_SET_SEQ_COUNT;
	spin_lock(&vc->page_lock);
	arg.seq_count = vc->seq;
	spin_unlock(&vc->page_lock);
	arg.disruption_marker = vc->cfg.disruption_marker;
	arg.vm_generation_counter = vc->cfg.vm_generation_counter;
	if (vc->mode != KVM_VMCLOCK_MODE_OFF) {
		arg.clock_flags = vc->cfg.flags;
		if (vc->eventfd)
			arg.clock_flags |= VMCLOCK_FLAG_NOTIFICATION_PRESENT;
	}
	user = vc->cfg.user;
	mutex_unlock(&vc->lock);

	if (arg.mode == KVM_VMCLOCK_MODE_USER && uclock) {
		if (usize < sizeof(user))
			return -EINVAL;
		r = copy_struct_to_user(u64_to_user_ptr(uclock), usize, &user,
					sizeof(user), NULL);
		if (r)
			return r;
		arg.user_clock = uclock;
		arg.user_clock_size = usize;
	}

	if (copy_to_user(argp, &arg, sizeof(arg)))
		return -EFAULT;
	return 0;
}
