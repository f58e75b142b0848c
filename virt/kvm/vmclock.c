// SPDX-License-Identifier: GPL-2.0-only
/*
 * KVM vmclock provider: publishes a struct vmclock_abi page (see
 * include/uapi/linux/vmclock-abi.h) in guest memory.
 *
 * This file is the architecture-independent part: the ioctls, the per-VM
 * state, writing the page with the seq_count protocol and scheduling the
 * updates.  The architecture computes the contents of the clock (which
 * counter, its value and period in the guest, the time, the status) in
 * kvm_arch_vmclock_fill().
 *
 * Locking and contexts:
 *
 *  - kvm->vmclock.lock (a mutex) serialises the ioctls, the per-VM work and
 *    VM teardown.  It nests outside kvm->srcu, which nests outside the gfn
 *    to pfn cache locks.  It must not be taken with kvm->lock or slots_lock
 *    held inside kvm->srcu.
 *  - The page is written with only gpc->lock (an rwlock) read-held, so
 *    seq_count is never odd across anything that can sleep.
 *  - kvm_vmclock_update() only queues the per-VM work; it can be called
 *    from any context in which queue_work() is allowed (including with IRQs
 *    off or raw spinlocks held), but not from a timekeeper notifier.
 *  - kvm_vmclock_update_all() queues a single global work, which walks
 *    vm_list under kvm_lock and queues the work of each VM with an active
 *    clock.  A VM leaves vm_list (under kvm_lock) before its work is
 *    cancelled in kvm_vmclock_destroy_vm(), so the works never hold a
 *    reference to a VM and never run after it is destroyed.
 *
 * Each write of the page counts in the VM's vmclock_updates statistic and
 * fires the kvm_vmclock_update tracepoint, and signals the VM's eventfd if
 * one is attached (KVM_VMCLOCK_FLAG_EVENTFD).
 *
 * In USER mode, the clock is given by userspace in the host TSC domain and
 * kept in kvm->vmclock.cfg; kvm_arch_vmclock_fill_user() converts it into
 * the guest's domain at each publication, so the page follows changes of
 * the guest TSC without userspace doing anything.  The fields KVM owns in
 * both modes (disruption_marker, vm_generation_counter and the flags the
 * VMM may set) are in kvm->vmclock.cfg too.
 *
 * The page is not marked dirty: that is only allowed from vCPU context on
 * some architectures (x86 warns otherwise).  The VMM is expected to issue
 * KVM_SET_VMCLOCK again on the destination of a migration.
 */

#include <linux/eventfd.h>
#include <linux/kvm_host.h>
#include <linux/kthread.h>
#include <linux/sched/mm.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>
#include <trace/events/kvm.h>

/* Number of VMs whose vmclock is not OFF, to skip walking vm_list */
static atomic_t kvm_vmclock_nr_active = ATOMIC_INIT(0);

/* Flags of struct vmclock_abi that the VMM may set, by mode. */
#define KVM_VMCLOCK_AUTO_CLOCK_FLAGS	(VMCLOCK_FLAG_DISRUPTION_SOON |	\
					 VMCLOCK_FLAG_DISRUPTION_IMMINENT | \
					 VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT)
#define KVM_VMCLOCK_USER_CLOCK_FLAGS	(KVM_VMCLOCK_AUTO_CLOCK_FLAGS |	\
					 VMCLOCK_FLAG_TAI_OFFSET_VALID |	\
					 VMCLOCK_FLAG_PERIOD_ESTERROR_VALID | \
					 VMCLOCK_FLAG_PERIOD_MAXERROR_VALID | \
					 VMCLOCK_FLAG_TIME_ESTERROR_VALID |	\
					 VMCLOCK_FLAG_TIME_MAXERROR_VALID |	\
					 VMCLOCK_FLAG_TIME_MONOTONIC)
#define KVM_VMCLOCK_VALID_FLAGS		(KVM_VMCLOCK_FLAG_BUMP_DISRUPTION | \
					 KVM_VMCLOCK_FLAG_SET_DISRUPTION |	\
					 KVM_VMCLOCK_FLAG_BUMP_VM_GENERATION | \
					 KVM_VMCLOCK_FLAG_SET_VM_GENERATION | \
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
	u64 flags = 0;
	int r;

	memset(clk, 0, sizeof(*clk));
	if (mode == KVM_VMCLOCK_MODE_USER) {
		r = kvm_arch_vmclock_fill_user(kvm, &cfg->user, clk);
		if (r)
			return r;
	} else {
		kvm_arch_vmclock_fill(kvm, clk);
		/* The flags the VMM sets; USER clocks carry their own. */
		flags = cfg->flags;
	}

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
 * and, if @full_page, zero the rest of the page.  Called with gpc->lock
 * read-held and a valid cache; does not sleep.
 */
static void kvm_vmclock_write_page(struct kvm_vmclock_state *vc,
				   struct gfn_to_pfn_cache *gpc,
				   struct vmclock_abi *clk, bool full_page)
{
	struct vmclock_abi *guest = gpc->khva;
	u32 seq = vc->seq + 1;

	/* Odd: an update is in progress. */
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
 * Refresh @gpc in a work item, borrowing the VM's mm: the cache resolves
 * the host virtual address with current->mm.
 */
static int kvm_vmclock_refresh_borrow_mm(struct kvm *kvm,
					 struct gfn_to_pfn_cache *gpc)
{
	int r;

	if (current->mm == kvm->mm)
		return kvm_gpc_refresh(gpc, PAGE_SIZE);

	if (WARN_ON_ONCE(current->mm) || !mmget_not_zero(kvm->mm))
		return -EFAULT;

	kthread_use_mm(kvm->mm);
	r = kvm_gpc_refresh(gpc, PAGE_SIZE);
	kthread_unuse_mm(kvm->mm);
	mmput(kvm->mm);
	return r;
}

/*
 * Write @clk to the page mapped by @gpc, refreshing the cache if needed,
 * then signal @eventfd (if not NULL): the page has a new even seq_count.
 * Process context, kvm->vmclock.lock held.
 */
static int kvm_vmclock_write(struct kvm *kvm, struct gfn_to_pfn_cache *gpc,
			     struct vmclock_abi *clk, bool full_page,
			     struct eventfd_ctx *eventfd)
{
	int idx, r = 0;

	lockdep_assert_held(&kvm->vmclock.lock);

	idx = srcu_read_lock(&kvm->srcu);
	read_lock(&gpc->lock);
	while (!kvm_gpc_check(gpc, PAGE_SIZE)) {
		read_unlock(&gpc->lock);

		r = kvm_vmclock_refresh_borrow_mm(kvm, gpc);
		if (r)
			goto out;

		read_lock(&gpc->lock);
	}

	kvm_vmclock_write_page(&kvm->vmclock, gpc, clk, full_page);
	read_unlock(&gpc->lock);

	++kvm->stat.generic.vmclock_updates;
	trace_kvm_vmclock_update(gpc->gpa, le32_to_cpu(clk->seq_count),
				 clk->clock_status,
				 le64_to_cpu(clk->counter_value),
				 le64_to_cpu(clk->time_sec),
				 le64_to_cpu(clk->time_frac_sec));
	if (eventfd)
		eventfd_signal(eventfd);
out:
	srcu_read_unlock(&kvm->srcu, idx);
	return r;
}

/*
 * Stop using the current page: mark it unreliable if it can still be
 * written (best effort), then release the cache and the eventfd.  The
 * counters in vc->cfg are kept: they belong to the VM, not to the page.  kvm->vmclock.lock held,
 * process context.
 */
static void kvm_vmclock_retire(struct kvm *kvm, bool write_unreliable)
{
	struct kvm_vmclock_state *vc = &kvm->vmclock;
	struct gfn_to_pfn_cache *gpc = &vc->gpc[vc->cur];
	struct vmclock_abi clk;

	if (vc->mode == KVM_VMCLOCK_MODE_OFF)
		return;

	if (write_unreliable) {
		clk = vc->clock;
		clk.clock_status = VMCLOCK_STATUS_UNRELIABLE;
		kvm_vmclock_write(kvm, gpc, &clk, false, vc->eventfd);
	}
	kvm_gpc_deactivate(gpc);
	if (vc->eventfd) {
		eventfd_ctx_put(vc->eventfd);
		vc->eventfd = NULL;
	}

	WRITE_ONCE(vc->mode, KVM_VMCLOCK_MODE_OFF);
	vc->gpa = 0;
	memset(&vc->clock, 0, sizeof(vc->clock));
	atomic_dec(&kvm_vmclock_nr_active);
}

static void kvm_vmclock_work_fn(struct work_struct *work)
{
	struct kvm *kvm = container_of(work, struct kvm, vmclock.work);
	struct kvm_vmclock_state *vc = &kvm->vmclock;
	struct vmclock_abi clk;

	mutex_lock(&vc->lock);
	if (vc->mode == KVM_VMCLOCK_MODE_OFF)
		goto out;

	if (kvm_vmclock_fill(kvm, vc->mode, &vc->cfg, vc->eventfd, &clk)) {
		/* The USER clock does not fit the guest's new TSC domain. */
		clk = vc->clock;
		clk.clock_status = VMCLOCK_STATUS_UNRELIABLE;
	}

	/*
	 * A USER clock changes only with the guest TSC: skip writes (and
	 * notifications) that would publish the same clock again.
	 */
	clk.seq_count = vc->clock.seq_count;
	if (vc->mode == KVM_VMCLOCK_MODE_USER &&
	    !memcmp(&clk, &vc->clock, sizeof(clk)))
		goto out;

	/*
	 * If the page is gone (e.g. its memslot was deleted), try again at
	 * the next update.
	 */
	if (!kvm_vmclock_write(kvm, &vc->gpc[vc->cur], &clk, false, vc->eventfd))
		vc->clock = clk;
out:
	mutex_unlock(&vc->lock);
}

/**
 * kvm_vmclock_update - schedule a republication of a VM's vmclock
 * @kvm: the VM
 *
 * Queues the per-VM work if the clock is active.  Any context where
 * queue_work() is allowed; the caller must hold a reference to @kvm or
 * otherwise keep it from being destroyed (e.g. be a vCPU of it).
 */
void kvm_vmclock_update(struct kvm *kvm)
{
	if (READ_ONCE(kvm->vmclock.mode) != KVM_VMCLOCK_MODE_OFF)
		queue_work(system_dfl_wq, &kvm->vmclock.work);
}

static void kvm_vmclock_update_all_fn(struct work_struct *work)
{
	struct kvm *kvm;

	mutex_lock(&kvm_lock);
	/* Host timekeeping only matters to AUTO mode. */
	list_for_each_entry(kvm, &vm_list, vm_list)
		if (READ_ONCE(kvm->vmclock.mode) == KVM_VMCLOCK_MODE_AUTO)
			queue_work(system_dfl_wq, &kvm->vmclock.work);
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
	if (atomic_read(&kvm_vmclock_nr_active))
		queue_work(system_dfl_wq, &kvm_vmclock_update_all_work);
}

/**
 * kvm_vmclock_cancel_update_all - wait for kvm_vmclock_update_all() work
 *
 * For module unload, after the architecture stopped calling
 * kvm_vmclock_update_all().
 */
void kvm_vmclock_cancel_update_all(void)
{
	cancel_work_sync(&kvm_vmclock_update_all_work);
}

u32 kvm_vmclock_modes(struct kvm *kvm)
{
	return kvm_arch_vmclock_modes(kvm) &
	       (BIT(KVM_VMCLOCK_MODE_AUTO) | BIT(KVM_VMCLOCK_MODE_USER));
}

void kvm_vmclock_init_vm(struct kvm *kvm)
{
	struct kvm_vmclock_state *vc = &kvm->vmclock;

	mutex_init(&vc->lock);
	vc->mode = KVM_VMCLOCK_MODE_OFF;
	kvm_gpc_init(&vc->gpc[0], kvm);
	kvm_gpc_init(&vc->gpc[1], kvm);
	INIT_WORK(&vc->work, kvm_vmclock_work_fn);
}

/*
 * Called by kvm_destroy_vm() after the VM left vm_list and before vCPUs are
 * destroyed.  The page is not written: the VM is going away.
 */
void kvm_vmclock_destroy_vm(struct kvm *kvm)
{
	struct kvm_vmclock_state *vc = &kvm->vmclock;

	mutex_lock(&vc->lock);
	kvm_vmclock_retire(kvm, false);
	mutex_unlock(&vc->lock);

	/* Nothing can queue the work anymore: the mode is OFF. */
	cancel_work_sync(&vc->work);
}

/*
 * Publish @cfg in @mode at @gpa, with @eventfd (a reference that this
 * function takes over on success).  Nothing is changed on failure.
 */
static int kvm_vmclock_set_on(struct kvm *kvm, u32 mode, gpa_t gpa,
			      const struct kvm_vmclock_cfg *cfg,
			      struct eventfd_ctx *eventfd)
{
	struct kvm_vmclock_state *vc = &kvm->vmclock;
	struct gfn_to_pfn_cache *gpc;
	struct vmclock_abi clk;
	unsigned int next;
	int idx, r;

	r = kvm_arch_vmclock_check(kvm, gpa);
	if (r)
		return r;

	if (kvm_mem_is_private(kvm, gpa_to_gfn(gpa)))
		return -EINVAL;

	r = kvm_vmclock_fill(kvm, mode, cfg, eventfd, &clk);
	if (r)
		return r;

	/*
	 * Same page: rewrite it.  A change of mode, clock, counters or
	 * eventfd is one seq_count step for the guest.
	 */
	if (vc->mode != KVM_VMCLOCK_MODE_OFF && vc->gpa == gpa) {
		r = kvm_vmclock_write(kvm, &vc->gpc[vc->cur], &clk, true,
				      eventfd);
		if (r)
			return r;
		if (vc->eventfd)
			eventfd_ctx_put(vc->eventfd);
		vc->eventfd = eventfd;
		vc->cfg = *cfg;
		vc->clock = clk;
		WRITE_ONCE(vc->mode, mode);
		return 0;
	}

	/*
	 * Activate and write the new page with the spare cache, so that the
	 * current configuration is untouched if that fails.
	 */
	next = vc->mode == KVM_VMCLOCK_MODE_OFF ? vc->cur : !vc->cur;
	gpc = &vc->gpc[next];
	idx = srcu_read_lock(&kvm->srcu);
	r = kvm_gpc_activate(gpc, gpa, PAGE_SIZE);
	srcu_read_unlock(&kvm->srcu, idx);
	if (r)
		return r;

	r = kvm_vmclock_write(kvm, gpc, &clk, true, eventfd);
	if (r) {
		kvm_gpc_deactivate(gpc);
		return r;
	}

	kvm_vmclock_retire(kvm, true);

	vc->cur = next;
	vc->gpa = gpa;
	vc->cfg = *cfg;
	vc->clock = clk;
	vc->eventfd = eventfd;
	atomic_inc(&kvm_vmclock_nr_active);
	WRITE_ONCE(vc->mode, mode);
	return 0;
}

/*
 * The clock given with KVM_SET_VMCLOCK.  The counters are inputs only
 * with their SET flags; in AUTO mode the only other input is the flags
 * the VMM may set; in USER mode it is a whole clock in the host's counter
 * domain, whose counter_id the architecture checks.
 */
static int kvm_vmclock_check_clock(u32 mode, u32 flags,
				   const struct vmclock_abi *c)
{
	u64 cflags = le64_to_cpu(c->flags);
	u64 period = le64_to_cpu(c->counter_period_frac_sec);
	struct vmclock_abi rest;

	if ((c->disruption_marker && !(flags & KVM_VMCLOCK_FLAG_SET_DISRUPTION)) ||
	    (c->vm_generation_counter &&
	     !(flags & KVM_VMCLOCK_FLAG_SET_VM_GENERATION)))
		return -EINVAL;

	if (mode == KVM_VMCLOCK_MODE_AUTO) {
		if (cflags & ~KVM_VMCLOCK_AUTO_CLOCK_FLAGS)
			return -EINVAL;
		rest = *c;
		rest.flags = 0;
		rest.disruption_marker = 0;
		rest.vm_generation_counter = 0;
		return memchr_inv(&rest, 0, sizeof(rest)) ? -EINVAL : 0;
	}

	if (le32_to_cpu(c->magic) != VMCLOCK_MAGIC ||
	    le32_to_cpu(c->size) != PAGE_SIZE ||
	    le16_to_cpu(c->version) != 1 || c->seq_count ||
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
	    (arg->eventfd && !(arg->flags & KVM_VMCLOCK_FLAG_EVENTFD)))
		return -EINVAL;

	switch (arg->mode) {
	case KVM_VMCLOCK_MODE_OFF:
		if (arg->gpa || arg->flags ||
		    memchr_inv(&arg->clock, 0, sizeof(arg->clock)))
			return -EINVAL;
		return 0;
	case KVM_VMCLOCK_MODE_AUTO:
	case KVM_VMCLOCK_MODE_USER:
		if (!(kvm_vmclock_modes(kvm) & BIT(arg->mode)) ||
		    !PAGE_ALIGNED(arg->gpa))
			return -EINVAL;
		return kvm_vmclock_check_clock(arg->mode, arg->flags,
					       &arg->clock);
	default:
		return -EINVAL;
	}
}

int kvm_vm_ioctl_set_vmclock(struct kvm *kvm, void __user *argp)
{
	struct kvm_vmclock_state *vc = &kvm->vmclock;
	struct eventfd_ctx *eventfd = NULL;
	struct kvm_vmclock_cfg cfg;
	struct kvm_vmclock arg;
	int r;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;

	r = kvm_vmclock_check(kvm, &arg);
	if (r)
		return r;

	if (arg.flags & KVM_VMCLOCK_FLAG_EVENTFD) {
		eventfd = eventfd_ctx_fdget(arg.eventfd);
		if (IS_ERR(eventfd))
			return PTR_ERR(eventfd);
	}

	mutex_lock(&vc->lock);
	if (arg.mode == KVM_VMCLOCK_MODE_OFF) {
		kvm_vmclock_retire(kvm, true);
		r = 0;
		goto out;
	}

	/* The new configuration; the counters carry over unless set. */
	cfg = vc->cfg;
	cfg.flags = le64_to_cpu(arg.clock.flags);
	if (arg.flags & KVM_VMCLOCK_FLAG_SET_DISRUPTION)
		cfg.disruption_marker = le64_to_cpu(arg.clock.disruption_marker);
	if (arg.flags & KVM_VMCLOCK_FLAG_BUMP_DISRUPTION)
		cfg.disruption_marker++;
	if (arg.flags & KVM_VMCLOCK_FLAG_SET_VM_GENERATION)
		cfg.vm_generation_counter =
			le64_to_cpu(arg.clock.vm_generation_counter);
	if (arg.flags & KVM_VMCLOCK_FLAG_BUMP_VM_GENERATION)
		cfg.vm_generation_counter++;
	memset(&cfg.user, 0, sizeof(cfg.user));
	if (arg.mode == KVM_VMCLOCK_MODE_USER) {
		cfg.user = arg.clock;
		cfg.user.disruption_marker = 0;
		cfg.user.vm_generation_counter = 0;
	}

	r = kvm_vmclock_set_on(kvm, arg.mode, arg.gpa, &cfg, eventfd);
	if (!r)
		eventfd = NULL;
out:
	mutex_unlock(&vc->lock);
	if (eventfd)
		eventfd_ctx_put(eventfd);
	return r;
}

int kvm_vm_ioctl_get_vmclock(struct kvm *kvm, void __user *argp)
{
	struct kvm_vmclock_state *vc = &kvm->vmclock;
	struct kvm_vmclock arg;

	memset(&arg, 0, sizeof(arg));

	mutex_lock(&vc->lock);
	arg.mode = vc->mode;
	arg.gpa = vc->gpa;
	arg.clock = vc->clock;
	mutex_unlock(&vc->lock);

	if (copy_to_user(argp, &arg, sizeof(arg)))
		return -EFAULT;
	return 0;
}
