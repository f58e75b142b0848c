// SPDX-License-Identifier: GPL-2.0-only
/*
 * Helpers for the vmclock selftests (include/x86/vmclock.h): reading the
 * page KVM publishes with the seq_count protocol, its time as
 * drivers/ptp/ptp_vmclock.c computes it, KVM_GET_CLOCK's (host TSC,
 * CLOCK_REALTIME) pairs, the guest's TSC domain, a test VM with a page
 * and a guest that reads it, and USER mode clocks.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

#include <asm/barrier.h>
#include <linux/vmclock-abi.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"
#include "vmclock.h"

/*
 * A seq_count-consistent copy of @page, from the host; fails the test if
 * seq_count does not settle within 100 ms.
 */
void vmclock_page_read(const struct vmclock_abi *page,
		       struct vmclock_abi *copy)
{
	u64 deadline = vmclock_now_ns() + 100000000ULL;
	u32 seq;

	for (;;) {
		seq = READ_ONCE(page->seq_count) & ~1u;
		/* Pairs with the write barrier after KVM's odd seq. */
		smp_rmb();
		memcpy(copy, page, sizeof(*copy));
		/* Pairs with the write barrier before KVM's even seq. */
		smp_rmb();
		if (READ_ONCE(page->seq_count) == seq) {
			copy->seq_count = seq;
			return;
		}
		TEST_ASSERT(vmclock_now_ns() < deadline,
			    "seq_count 0x%x did not settle within 100 ms",
			    READ_ONCE(page->seq_count));
	}
}

/*
 * Re-evaluate the master clock (as kvm_clock_test does): KVM_GET_CLOCK
 * gives a (host TSC, realtime) pair only with it.
 */
void vmclock_kvmclock_refresh(struct kvm_vm *vm)
{
	struct kvm_clock_data data = {};
	struct kvm_clock_data set = {};

	vm_ioctl(vm, KVM_GET_CLOCK, &data);
	set.clock = data.clock;
	vm_ioctl(vm, KVM_SET_CLOCK, &set);
}

/* KVM_GET_CLOCK with the host TSC and CLOCK_REALTIME */
void vmclock_get_clock(struct kvm_vm *vm,
		       struct kvm_clock_data *data)
{
	memset(data, 0, sizeof(*data));
	vm_ioctl(vm, KVM_GET_CLOCK, data);
	TEST_ASSERT((data->flags & (KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC)) ==
		    (KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC),
		    "KVM_GET_CLOCK flags 0x%x: no (host TSC, realtime) pair",
		    data->flags);
}

/*
 * Page time minus CLOCK_REALTIME, in ns, at one (host TSC, realtime) pair,
 * for a guest TSC = host TSC + @tsc_offset (no scaling).  The page copy is
 * taken before and after the pair and must not change in between (retried
 * otherwise), so that it was published before the pair was taken.
 * Returns false if the page is not reliable.
 */
bool vmclock_page_error(struct kvm_vm *vm,
			const struct vmclock_abi *page,
			u64 tsc_offset, s64 *err)
{
	struct vmclock_abi before, after;
	struct kvm_clock_data data;

	for (;;) {
		vmclock_page_read(page, &before);
		vmclock_get_clock(vm, &data);
		vmclock_page_read(page, &after);
		if (!memcmp(&before, &after, sizeof(before)))
			break;
	}
	if (!vmclock_status_reliable(before.clock_status))
		return false;
	*err = (s64)(vmclock_ns_at(&before, data.host_tsc + tsc_offset) -
		     data.realtime);
	return true;
}

/*
 * A USER mode clock through (@host_tsc, @realtime_ns) with a period of
 * 1 / @hz s, normalised (the largest shift that keeps the period below
 * 2^64), SYNCHRONIZED, UTC, and no optional field.
 */
void vmclock_user_clock_at(struct vmclock_abi *c, u64 host_tsc,
			   u64 realtime_ns, u64 hz)
{
	int shift;

	memset(c, 0, sizeof(*c));
	c->magic = VMCLOCK_MAGIC;
	c->size = VMCLOCK_PAGE_SIZE;
	c->version = 1;
	c->counter_id = VMCLOCK_COUNTER_X86_TSC;
	c->time_type = VMCLOCK_TIME_UTC;
	c->clock_status = VMCLOCK_STATUS_SYNCHRONIZED;
	for (shift = 0; shift < 63; shift++)
		if ((((unsigned __int128)1 << (64 + shift + 1)) / hz) >> 64)
			break;
	c->counter_period_shift = shift;
	c->counter_period_frac_sec =
		(u64)(((unsigned __int128)1 << (64 + shift)) / hz);
	c->counter_value = host_tsc;
	c->time_sec = realtime_ns / 1000000000ULL;
	c->time_frac_sec =
		(u64)(((unsigned __int128)(realtime_ns % 1000000000ULL) << 64) /
		      1000000000ULL);
}

/* The same, at the (host TSC, realtime) pair of one KVM_GET_CLOCK */
void vmclock_user_clock(struct kvm_vm *vm, u64 hz,
			struct vmclock_abi *c)
{
	struct kvm_clock_data data;

	vmclock_get_clock(vm, &data);
	vmclock_user_clock_at(c, data.host_tsc, data.realtime, hz);
}

u64 vmclock_tsc_offset(struct kvm_vcpu *vcpu)
{
	u64 offset;

	vcpu_device_attr_get(vcpu, KVM_VCPU_TSC_CTRL, KVM_VCPU_TSC_OFFSET,
			     &offset);
	return offset;
}

void vmclock_set_tsc_offset(struct kvm_vcpu *vcpu, u64 offset)
{
	vcpu_device_attr_set(vcpu, KVM_VCPU_TSC_CTRL, KVM_VCPU_TSC_OFFSET,
			     &offset);
}

u64 vmclock_updates(struct kvm_vm *vm)
{
	return vm_get_stat(vm, vmclock_updates);
}

/*
 * Extra tolerance where a test enables it, as api.rst states the bound:
 * frequency_changes allows the rate change times KVM's rewrite delay
 * (vmclock_dither_slack_ns), and the host clock's own wander from its NTP line
 * while its tick is late: one unit of mult over the time since the last
 * tick, 0.3 ppm at 2.4 GHz; on a loaded TCG bench this VM's vCPUs stall
 * for tens of ms, which the sampling loop sees as a gap between two
 * samples, so 1 ppm of the longest gap seen so far.
 * 0 except where a test says so.
 */
int vmclock_dither_slack_ns;

u64 vmclock_sample_gap_max_ns;

/* When the host sets it non-zero, the guest writes it to MSR_IA32_TSC once. */
u64 vmclock_guest_wrmsr_tsc;

u64 vmclock_rng_state;

/* kvm.vmclock_max_error_ns */
int vmclock_param(void)
{
	static int param = -1;
	FILE *f;

	if (param >= 0)
		return param;
	f = fopen(VMCLOCK_MAX_ERROR_PARAM, "r");
	TEST_ASSERT(f, "no %s", VMCLOCK_MAX_ERROR_PARAM);
	TEST_ASSERT(fscanf(f, "%d", &param) == 1 && param >= 0,
		    "bad %s", VMCLOCK_MAX_ERROR_PARAM);
	fclose(f);
	return param;
}

int vmclock_max_error_ns(void)
{
	return (vmclock_param() ?: VMCLOCK_PER_TICK_ERROR_NS) + 1;
}

int vmclock_dither_slack(void)
{
	if (!vmclock_dither_slack_ns)
		return 0;
	return vmclock_dither_slack_ns + vmclock_sample_gap_max_ns / 1000000;
}

/*
 * Reads the page like ptp_vmclock does and reports
 * (clock_status, UTC seconds, nanoseconds, guest TSC, tries).
 */
void vmclock_guest_code(struct vmclock_abi *clk)
{
	u64 sec, frac, tsc, tries;
	u32 seq;
	u8 status;

	for (;;) {
		if (READ_ONCE(vmclock_guest_wrmsr_tsc)) {
			wrmsr(MSR_IA32_TSC, vmclock_guest_wrmsr_tsc);
			WRITE_ONCE(vmclock_guest_wrmsr_tsc, 0);
		}
		tries = 0;
		do {
			GUEST_ASSERT(++tries < GUEST_MAX_TRIES);
			seq = READ_ONCE(clk->seq_count) & ~1u;
			/* Pairs with the write barrier after KVM's odd seq. */
			smp_rmb();
			status = READ_ONCE(clk->clock_status);
			tsc = rdtsc();
			frac = vmclock_time_at(clk, tsc, &sec);
			/* Pairs with the write barrier before KVM's even seq. */
			smp_rmb();
		} while (seq != READ_ONCE(clk->seq_count));

		GUEST_SYNC_ARGS(status, sec, vmclock_frac_to_ns(frac), tsc, tries);
	}
}

u64 vmclock_host_to_guest_tsc(const struct tsc_xform *x, u64 host_tsc)
{
	if (!x->ratio)
		return host_tsc + x->offset;

	return x->offset +
	       (u64)(((unsigned __int128)host_tsc * x->ratio) >> x->frac_bits);
}

/*
 * The guest TSC transform: KVM_VCPU_TSC_OFFSET, and the ratio of
 * KVM_VCPU_TSC_SCALE where the host scales the TSC.
 */
void vmclock_tsc_xform_get(struct kvm_vcpu *vcpu, struct tsc_xform *x)
{
	struct kvm_vcpu_tsc_scale sc;

	memset(x, 0, sizeof(*x));
	vcpu_device_attr_get(vcpu, KVM_VCPU_TSC_CTRL, KVM_VCPU_TSC_OFFSET,
			     &x->offset);
	if (__vcpu_device_attr_get(vcpu, KVM_VCPU_TSC_CTRL, KVM_VCPU_TSC_SCALE,
				   &sc)) {
		TEST_ASSERT(errno == ENXIO, "KVM_VCPU_TSC_SCALE: errno %d", errno);
		return;
	}
	if (sc.tsc_ratio != 1ULL << sc.tsc_frac_bits) {
		x->ratio = sc.tsc_ratio;
		x->frac_bits = sc.tsc_frac_bits;
	}
}

void vmclock_set(struct kvm_vm *vm, u32 mode, u64 gpa)
{
	struct kvm_vmclock vc = { .mode = mode, .gpa = gpa };

	vm_ioctl(vm, KVM_SET_VMCLOCK, &vc);
}

void vmclock_user_clock_fix(struct user_call *c)
{
	c->vc.user_clock = (unsigned long)&c->clock;
	c->vc.user_clock_size = sizeof(c->clock);
}

/*
 * A call in @mode from a whole vmclock_abi @clk (NULL: none), as the tests
 * write it: its counters and VMM flags go to kvm_vmclock's fields, the rest
 * is the USER clock.
 */
void vmclock_call(struct user_call *c, u32 mode, u32 flags, int efd,
		  const struct vmclock_abi *clk)
{
	memset(c, 0, sizeof(*c));
	c->vc.mode = mode;
	c->vc.flags = flags;
	c->vc.gpa = VMCLOCK_GPA;
	c->vc.eventfd = efd;
	if (!clk)
		return;
	c->vc.disruption_marker = clk->disruption_marker;
	c->vc.vm_generation_counter = clk->vm_generation_counter;
	if (mode != KVM_VMCLOCK_MODE_USER) {
		c->vc.clock_flags = clk->flags;
		return;
	}
	c->vc.clock_flags = clk->flags & VMCLOCK_VMM_FLAGS;
	c->clock = *clk;
	c->clock.flags &= ~(u64)VMCLOCK_VMM_FLAGS;
	c->clock.disruption_marker = 0;
	c->clock.vm_generation_counter = 0;
	vmclock_user_clock_fix(c);
}

void vmclock_get(struct kvm_vm *vm, struct kvm_vmclock *vc)
{
	int i;

	/* No buffer for a USER clock. */
	memset(vc, 0, sizeof(*vc));
	vm_ioctl(vm, KVM_GET_VMCLOCK, vc);
	TEST_ASSERT(vc->flags == VMCLOCK_GET_FLAGS, "KVM_GET_VMCLOCK flags 0x%x", vc->flags);
	TEST_ASSERT(!vc->eventfd && !vc->pad && !vc->user_clock &&
		    !vc->user_clock_size,
		    "KVM_GET_VMCLOCK: eventfd %d pad %u user_clock 0x%lx size %u",
		    vc->eventfd, vc->pad, (unsigned long)vc->user_clock,
		    vc->user_clock_size);
	for (i = 0; i < ARRAY_SIZE(vc->reserved); i++)
		TEST_ASSERT(!vc->reserved[i], "KVM_GET_VMCLOCK reserved[%d] = 0x%lx",
			    i, (unsigned long)vc->reserved[i]);
}

void vmclock_assert_state(struct kvm_vm *vm, u32 mode, u64 gpa)
{
	struct kvm_vmclock vc;

	vmclock_get(vm, &vc);
	TEST_ASSERT(vc.mode == mode && vc.gpa == gpa,
		    "KVM_GET_VMCLOCK: mode %u gpa 0x%lx, want mode %u gpa 0x%lx",
		    vc.mode, (unsigned long)vc.gpa, mode, (unsigned long)gpa);
}

void vmclock_assert_header(const struct vmclock_abi *clk)
{
	TEST_ASSERT(clk->magic == VMCLOCK_MAGIC, "magic 0x%x", clk->magic);
	TEST_ASSERT(clk->size == VMCLOCK_PAGE_SIZE, "size %u", clk->size);
	TEST_ASSERT(clk->version == 1, "version %u", clk->version);
	TEST_ASSERT(clk->counter_id == VMCLOCK_COUNTER_X86_TSC,
		    "counter_id %u", clk->counter_id);
	TEST_ASSERT(clk->time_type == VMCLOCK_TIME_UTC,
		    "time_type %u", clk->time_type);
	/* KVM alone cannot raise the notification the flag promises. */
	TEST_ASSERT(!(clk->flags & VMCLOCK_FLAG_NOTIFICATION_PRESENT),
		    "NOTIFICATION_PRESENT set, flags 0x%lx",
		    (unsigned long)clk->flags);
}

bool vmclock_tai_matches(const struct vmclock_abi *clk, int host_tai)
{
	/* At 0 the host may or may not have been told it: either is right */
	if (!(clk->flags & VMCLOCK_FLAG_TAI_OFFSET_VALID))
		return !host_tai;
	return (s16)clk->tai_offset_sec == -host_tai;
}

int vmclock_host_tai_offset(void)
{
	struct timex tx = {};

	TEST_ASSERT(adjtimex(&tx) >= 0, "adjtimex() failed, errno %d", errno);
	return tx.tai;
}

void vmclock_assert_tai(const struct vmclock_abi *clk)
{
	int tai = vmclock_host_tai_offset();

	TEST_ASSERT(vmclock_tai_matches(clk, tai),
		    "host TAI offset %d, page flags 0x%lx tai_offset_sec %d",
		    tai, (unsigned long)clk->flags, (s16)clk->tai_offset_sec);
}

/*
 * One host-side sample.  The page copy must be identical before and after
 * KVM_GET_CLOCK, so its counter_value was published before host_tsc was
 * read and delta is a genuine forward distance (even across a guest TSC
 * wrap).  *diff = floor(page time, ns) - realtime.
 */
enum sample_result vmclock_sample_diff(struct kvm_vm *vm,
				       const struct vmclock_abi *page,
				       const struct tsc_xform *x, s64 *diff,
				       u64 *guest_tsc, struct vmclock_abi *clk)
{
	struct vmclock_abi before;
	struct kvm_clock_data data;
	u64 sec, frac;

	vmclock_page_read(page, &before);
	vmclock_get_clock(vm, &data);
	vmclock_page_read(page, clk);
	if (before.seq_count != clk->seq_count)
		return SAMPLE_RETRY;
	if (!vmclock_status_reliable(clk->clock_status))
		return SAMPLE_UNRELIABLE;

	*guest_tsc = vmclock_host_to_guest_tsc(x, data.host_tsc);
	frac = vmclock_time_at(clk, *guest_tsc, &sec);
	*diff = (s64)(sec * NSEC_PER_SEC + vmclock_frac_to_ns(frac) - data.realtime);
	return SAMPLE_OK;
}

bool vmclock_diff_ok(s64 diff)
{
	return diff >= -VMCLOCK_MAX_ERROR_NS && diff <= VMCLOCK_MAX_ERROR_NS;
}

void vmclock_dump_clk(const char *pfx, const struct vmclock_abi *c)
{
	ksft_print_msg("%s: seq %u st %u shift %u ctr 0x%lx per 0x%lx t %lu.%016lx fl 0x%lx\n",
		       pfx, c->seq_count, c->clock_status,
		       c->counter_period_shift,
		       (unsigned long)c->counter_value,
		       (unsigned long)c->counter_period_frac_sec,
		       (unsigned long)c->time_sec,
		       (unsigned long)c->time_frac_sec,
		       (unsigned long)c->flags);
}

/*
 * Poll (up to UPDATE_TIMEOUT_NS) until the page, with a seq_count different
 * from @old_seq unless @old_seq is negative, gives the right time for the
 * guest TSC domain described by @x.
 */
void vmclock_wait_accurate(struct kvm_vm *vm, const struct vmclock_abi *page,
			   const struct tsc_xform *x, s64 old_seq,
			   const char *what)
{
	u64 start = vmclock_now_ns(), gtsc = 0;
	enum sample_result r = SAMPLE_RETRY;
	struct vmclock_abi clk = {};
	s64 diff = 0;

	for (;;) {
		r = vmclock_sample_diff(vm, page, x, &diff, &gtsc, &clk);
		if (r == SAMPLE_OK && vmclock_diff_ok(diff) &&
		    (old_seq < 0 || clk.seq_count != (u32)old_seq))
			break;
		if (vmclock_now_ns() - start > UPDATE_TIMEOUT_NS) {
			vmclock_dump_clk(what, &clk);
			TEST_FAIL("%s: not accurate in 1 s (r %d, diff %ld, tsc 0x%lx, seq %ld)",
				  what, r, (long)diff, (unsigned long)gtsc,
				  (long)old_seq);
		}
		usleep(1000);
	}
	vmclock_assert_header(&clk);
	ksft_print_msg("%s: page accurate after %lu us\n", what,
		       (unsigned long)((vmclock_now_ns() - start) / 1000));
}

struct accuracy {
	u64 samples;
	u64 retries;
	s64 min_diff;
	s64 max_diff;
	bool wrapped;
};

/*
 * Collect samples for at least @min_ns and @min_samples (until the guest TSC
 * has wrapped, if @until_wrap); every sample must be within
 * VMCLOCK_MAX_ERROR_NS.
 */
void vmclock_run_accuracy(struct kvm_vm *vm, const struct vmclock_abi *page,
			  const struct tsc_xform *x, u64 min_ns, u64 min_samples,
			  bool until_wrap, const char *what)
{
	struct accuracy a = { .min_diff = INT64_MAX, .max_diff = INT64_MIN };
	u64 start = vmclock_now_ns(), elapsed, gtsc, prev_gtsc = 0, t, prev_t = start;
	struct vmclock_abi clk;
	enum sample_result r;
	s64 diff;

	vmclock_page_read(page, &clk);
	vmclock_assert_header(&clk);
	vmclock_assert_tai(&clk);

	for (;;) {
		elapsed = vmclock_now_ns() - start;
		if (elapsed >= min_ns && a.samples >= min_samples &&
		    (!until_wrap || a.wrapped))
			break;
		TEST_ASSERT(elapsed < ACCURACY_MAX_NS,
			    "%s: only %lu samples (%lu retries)%s in %lu ms",
			    what, (unsigned long)a.samples,
			    (unsigned long)a.retries,
			    until_wrap && !a.wrapped ? ", no TSC wrap" : "",
			    (unsigned long)(elapsed / 1000000));

		t = vmclock_now_ns();
		if (t - prev_t > vmclock_sample_gap_max_ns)
			vmclock_sample_gap_max_ns = t - prev_t;
		prev_t = t;
		r = vmclock_sample_diff(vm, page, x, &diff, &gtsc, &clk);
		if (r == SAMPLE_RETRY) {
			a.retries++;
			continue;
		}
		if (r != SAMPLE_OK) {
			vmclock_dump_clk(what, &clk);
			TEST_FAIL("%s: clock_status %u", what, clk.clock_status);
		}
		if (!vmclock_diff_ok(diff)) {
			vmclock_dump_clk(what, &clk);
			TEST_FAIL("%s: page - realtime %ld ns (max %d), tsc 0x%lx, #%lu",
				  what, (long)diff, VMCLOCK_MAX_ERROR_NS,
				  (unsigned long)gtsc, (unsigned long)a.samples);
		}
		if (a.samples && gtsc < prev_gtsc)
			a.wrapped = true;
		prev_gtsc = gtsc;
		a.samples++;
		if (diff < a.min_diff)
			a.min_diff = diff;
		if (diff > a.max_diff)
			a.max_diff = diff;
	}

	vmclock_assert_header(&clk);
	vmclock_assert_tai(&clk);
	ksft_print_msg("%s: %lu samples, %lu ms, %lu retries%s, diff [%ld, %ld] max %ld (<=%d)\n",
		       what, (unsigned long)a.samples,
		       (unsigned long)((vmclock_now_ns() - start) / 1000000),
		       (unsigned long)a.retries, a.wrapped ? ", TSC wrapped" : "",
		       (long)a.min_diff, (long)a.max_diff,
		       (long)(a.max_diff > -a.min_diff ? a.max_diff : -a.min_diff),
		       VMCLOCK_MAX_ERROR_NS);
}

void vmclock_guest_sample(struct kvm_vcpu *vcpu, struct vmclock_guest_sample *s)
{
	struct ucall uc;

	vmclock_get_clock(vcpu->vm, &s->before);
	vcpu_run(vcpu);
	vmclock_get_clock(vcpu->vm, &s->after);
	TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);

	switch (get_ucall(vcpu, &uc)) {
	case UCALL_SYNC:
		break;
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
		break;
	default:
		TEST_FAIL("unexpected ucall %lu", uc.cmd);
	}
	s->status = uc.args[1];
	s->ns = uc.args[2] * NSEC_PER_SEC + uc.args[3];
	s->tsc = uc.args[4];
	s->tries = uc.args[5];
}

bool vmclock_guest_sample_ok(const struct vmclock_guest_sample *s)
{
	return vmclock_status_reliable(s->status) &&
	       s->ns + GUEST_BRACKET_SLACK_NS >= s->before.realtime &&
	       s->ns <= s->after.realtime + GUEST_BRACKET_SLACK_NS;
}

/* Wait until clock_status is UNRELIABLE (or usable if !@unreliable). */
void vmclock_wait_status(const struct vmclock_abi *page, bool unreliable,
			 const char *what)
{
	u64 start = vmclock_now_ns();
	struct vmclock_abi clk;

	for (;;) {
		vmclock_page_read(page, &clk);
		if (unreliable ? clk.clock_status == VMCLOCK_STATUS_UNRELIABLE :
				 vmclock_status_reliable(clk.clock_status))
			break;
		TEST_ASSERT(vmclock_now_ns() - start < UPDATE_TIMEOUT_NS,
			    "%s: clock_status %u after 1 s, want %s", what,
			    clk.clock_status, unreliable ? "UNRELIABLE" : "reliable");
		usleep(1000);
	}
	vmclock_assert_header(&clk);
	ksft_print_msg("%s: clock_status %u after %lu us\n", what,
		       clk.clock_status,
		       (unsigned long)((vmclock_now_ns() - start) / 1000));
}

/* Returns a /dev/kmsg fd positioned at the end, or -1. */
int vmclock_kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	else
		ksft_print_msg("/dev/kmsg not readable, kernel splats not checked\n");
	return fd;
}

void vmclock_kmsg_assert_clean(int fd)
{
	static const char * const bad[] = {
		"WARNING:", "BUG:", "Call Trace:", "general protection",
		"KASAN", "UBSAN", "kernel NULL pointer",
	};
	char buf[8192];
	ssize_t n;
	int i;

	if (fd < 0)
		return;

	for (;;) {
		n = read(fd, buf, sizeof(buf) - 1);
		if (n < 0 && errno == EPIPE)
			continue;
		if (n <= 0)
			break;
		buf[n] = '\0';
		for (i = 0; i < ARRAY_SIZE(bad); i++)
			TEST_ASSERT(!strstr(buf, bad[i]), "kernel splat: %s", buf);
	}
	close(fd);
}

void vmclock_vm_create(struct vmclock_vm *v, int nr_vcpus)
{
	int i;

	v->nr_vcpus = nr_vcpus;
	v->vm = vm_create_with_vcpus(nr_vcpus, vmclock_guest_code, v->vcpu);
	vm_userspace_mem_region_add(v->vm, VM_MEM_SRC_ANONYMOUS, VMCLOCK_GPA,
				    VMCLOCK_SLOT, VMCLOCK_NPAGES, 0);
	virt_map(v->vm, VMCLOCK_GVA, VMCLOCK_GPA, VMCLOCK_NPAGES);
	v->page = addr_gpa2hva(v->vm, VMCLOCK_GPA);
	v->alt = addr_gpa2hva(v->vm, VMCLOCK_ALT_GPA);
	for (i = 0; i < nr_vcpus; i++) {
		__TEST_REQUIRE(!__vcpu_has_device_attr(v->vcpu[i], KVM_VCPU_TSC_CTRL,
						       KVM_VCPU_TSC_OFFSET),
			       "KVM_VCPU_TSC_OFFSET not supported");
		vcpu_args_set(v->vcpu[i], 1, VMCLOCK_GVA);
	}
	vmclock_kvmclock_refresh(v->vm);
}

/* SET AUTO at VMCLOCK_GPA, then wait until the page is usable. */
void vmclock_vm_enable(struct vmclock_vm *v, struct tsc_xform *x)
{
	vmclock_set(v->vm, KVM_VMCLOCK_MODE_AUTO, VMCLOCK_GPA);
	vmclock_assert_state(v->vm, KVM_VMCLOCK_MODE_AUTO, VMCLOCK_GPA);
	vmclock_tsc_xform_get(v->vcpu[0], x);
	vmclock_wait_accurate(v->vm, v->page, x, -1, "enable");
}

u64 vmclock_rng(void)
{
	/* xorshift64* */
	vmclock_rng_state ^= vmclock_rng_state >> 12;
	vmclock_rng_state ^= vmclock_rng_state << 25;
	vmclock_rng_state ^= vmclock_rng_state >> 27;
	return vmclock_rng_state * 0x2545f4914f6cdd1dULL;
}

unsigned __int128 vmclock_clk_time(const struct vmclock_abi *c, u64 counter)
{
	u64 sec, frac = vmclock_time_at(c, counter, &sec);

	return ((unsigned __int128)sec << 64) | frac;
}

u64 vmclock_user_checksum(u64 sec, u64 frac)
{
	return (sec ^ frac) & 0xffffffffULL;
}

/*
 * A host-domain clock through (@host_tsc, @realtime_ns) with a period of
 * 1 / @hz s, normalised, with every optional field set: what a daemon
 * calibrating the host TSC would give.  time_maxerror_nanosec is a
 * checksum of the time, so that a torn read shows.
 */
void vmclock_user_clock_init(struct vmclock_abi *c, u64 host_tsc,
			     u64 realtime_ns, u64 hz)
{
	vmclock_user_clock_at(c, host_tsc, realtime_ns, hz);
	c->flags = USER_CLOCK_FLAGS;
	c->leap_second_smearing_hint = VMCLOCK_SMEARING_UTC_SLS;
	c->tai_offset_sec = (u16)-37;
	c->leap_indicator = VMCLOCK_LEAP_PRE_POS;
	c->counter_period_esterror_rate_frac_sec = c->counter_period_frac_sec >> 20;
	c->counter_period_maxerror_rate_frac_sec = c->counter_period_frac_sec >> 10;
	c->time_esterror_nanosec = 100;
	c->time_maxerror_nanosec = vmclock_user_checksum(c->time_sec, c->time_frac_sec);
}

/* The same line, with its reference point @d ticks later. */
void vmclock_user_clock_advance(struct vmclock_abi *c,
				const struct vmclock_abi *base, u64 d)
{
	u64 sec, frac;

	*c = *base;
	frac = vmclock_time_at(base, base->counter_value + d, &sec);
	c->counter_value = base->counter_value + d;
	c->time_sec = sec;
	c->time_frac_sec = frac;
	c->time_maxerror_nanosec = vmclock_user_checksum(sec, frac);
}

u64 vmclock_vm_tsc_hz(struct kvm_vm *vm)
{
	int khz = __vm_ioctl(vm, KVM_GET_TSC_KHZ, NULL);

	TEST_ASSERT(khz > 0, "KVM_GET_TSC_KHZ failed");
	return khz * 1000ULL;
}

/* A clock through the host's current (TSC, CLOCK_REALTIME). */
void vmclock_user_clock_now(struct kvm_vm *vm, struct vmclock_abi *c)
{
	struct kvm_clock_data data;

	vmclock_get_clock(vm, &data);
	vmclock_user_clock_init(c, data.host_tsc, data.realtime, vmclock_vm_tsc_hz(vm));
}

int __vmclock_user_set(struct kvm_vm *vm, u32 flags, int efd,
		       const struct vmclock_abi *clk)
{
	struct user_call c;

	vmclock_call(&c, KVM_VMCLOCK_MODE_USER, flags, efd, clk);
	return __vm_ioctl(vm, KVM_SET_VMCLOCK, &c.vc);
}

void vmclock_user_set(struct kvm_vm *vm, u32 flags, int efd,
		      const struct vmclock_abi *clk)
{
	TEST_ASSERT(!__vmclock_user_set(vm, flags, efd, clk),
		    "SET USER (flags 0x%x) failed, errno %d", flags, errno);
}

void vmclock_auto_set(struct kvm_vm *vm, u32 flags, int efd,
		      const struct vmclock_abi *clk)
{
	struct user_call c;

	vmclock_call(&c, KVM_VMCLOCK_MODE_AUTO, flags, efd, clk);
	vm_ioctl(vm, KVM_SET_VMCLOCK, &c.vc);
}

/*
 * The page is the host-domain clock @h in the guest TSC domain @x: the same
 * fields, and at any host TSC (up to ~2^47 ticks, hours, ahead) the page's
 * time at the matching guest TSC is the clock's time within 1 ns (plus one
 * guest tick with scaling: the guest counter is rounded down).
 */
void vmclock_assert_user_exact(const struct vmclock_abi *h,
			       const struct vmclock_abi *page,
			       const struct tsc_xform *x, bool notify,
			       const char *what)
{
	u64 slack = ONE_NS_FRAC, d, hc, gc, worst = 0;
	struct vmclock_abi g;
	unsigned __int128 th, tg, diff;
	int i;

	vmclock_page_read(page, &g);
	vmclock_assert_header(&g);
	TEST_ASSERT(g.flags == (h->flags |
				(notify ? VMCLOCK_FLAG_NOTIFICATION_PRESENT : 0)),
		    "%s: flags 0x%lx, given 0x%lx", what, (unsigned long)g.flags,
		    (unsigned long)h->flags);
	TEST_ASSERT(g.clock_status == h->clock_status &&
		    g.time_type == h->time_type &&
		    g.leap_indicator == h->leap_indicator &&
		    g.leap_second_smearing_hint == h->leap_second_smearing_hint &&
		    g.tai_offset_sec == h->tai_offset_sec &&
		    g.time_esterror_nanosec == h->time_esterror_nanosec &&
		    g.time_maxerror_nanosec == h->time_maxerror_nanosec,
		    "%s: a field was not published as given", what);
	TEST_ASSERT_EQ(g.counter_value, vmclock_host_to_guest_tsc(x, h->counter_value));
	if (!x->ratio) {
		TEST_ASSERT(g.counter_period_frac_sec == h->counter_period_frac_sec &&
			    g.counter_period_shift == h->counter_period_shift &&
			    g.counter_period_esterror_rate_frac_sec ==
			    h->counter_period_esterror_rate_frac_sec &&
			    g.counter_period_maxerror_rate_frac_sec ==
			    h->counter_period_maxerror_rate_frac_sec &&
			    g.time_sec == h->time_sec &&
			    g.time_frac_sec == h->time_frac_sec,
			    "%s: unscaled clock changed by the conversion", what);
	} else {
		slack += (u64)(((unsigned __int128)g.counter_period_frac_sec) >>
			       g.counter_period_shift) + 1;
	}

	for (i = 0; i < USER_EXACT_POINTS; i++) {
		d = i < USER_EXACT_POINTS / 2 ? (u64)i * 1234567ULL + i :
						vmclock_rng() >> 17;
		hc = h->counter_value + d;
		gc = vmclock_host_to_guest_tsc(x, hc);
		th = vmclock_clk_time(h, hc);
		tg = vmclock_clk_time(&g, gc);
		diff = th > tg ? th - tg : tg - th;
		TEST_ASSERT(diff <= slack,
			    "%s: host TSC +0x%lx (guest 0x%lx): page off by %lu/2^64 s",
			    what, (unsigned long)d, (unsigned long)gc,
			    (unsigned long)(diff >> 64 ? ~0ULL : (u64)diff));
		if ((u64)diff > worst)
			worst = diff;
	}
	ksft_print_msg("%s: %d points, worst %lu/2^64 s (1 ns = %llu)\n", what,
		       USER_EXACT_POINTS, (unsigned long)worst, ONE_NS_FRAC);
}

/*
 * The guest's own reading, at its RDTSC, against the host-domain clock at
 * the matching host TSC (unscaled TSC: host TSC = guest TSC - offset).
 */
void vmclock_assert_user_guest_view(struct kvm_vcpu *vcpu,
				    const struct vmclock_abi *h,
				    const struct tsc_xform *x, const char *what)
{
	struct vmclock_guest_sample s;
	u64 sec, frac, ns;
	int i;

	if (x->ratio)
		return;
	for (i = 0; i < USER_GUEST_RUNS; i++) {
		vmclock_guest_sample(vcpu, &s);
		TEST_ASSERT(s.status == h->clock_status, "%s: guest status %u",
			    what, s.status);
		frac = vmclock_time_at(h, s.tsc - x->offset, &sec);
		ns = sec * NSEC_PER_SEC + vmclock_frac_to_ns(frac);
		TEST_ASSERT(ns == s.ns, "%s: guest %lu ns, host-domain clock %lu ns",
			    what, (unsigned long)s.ns, (unsigned long)ns);
	}
}

void vmclock_wait_seq_change(const struct vmclock_abi *page, u32 old_seq,
			     const char *what)
{
	u64 start = vmclock_now_ns();
	struct vmclock_abi clk;

	for (;;) {
		vmclock_page_read(page, &clk);
		if (clk.seq_count != old_seq)
			return;
		TEST_ASSERT(vmclock_now_ns() - start < UPDATE_TIMEOUT_NS,
			    "%s: page not republished within 1 s", what);
		usleep(1000);
	}
}

/* Count of an EFD_NONBLOCK eventfd, reset to zero. */
u64 vmclock_efd_read(int efd)
{
	u64 n = 0;

	if (read(efd, &n, sizeof(n)) != sizeof(n)) {
		TEST_ASSERT(errno == EAGAIN, "eventfd read: errno %d", errno);
		return 0;
	}
	return n;
}

/*
 * Guest: read the page in a loop, @strict: USER clocks carry a checksum of
 * their time in time_maxerror_nanosec (a torn read breaks it), and two
 * successive readings of MONOTONIC clocks must not go backwards.
 */
void vmclock_guest_loop_code(struct vmclock_abi *page, u64 strict)
{
	bool prev_mono = false;
	struct vmclock_abi c;
	unsigned __int128 t, prev = 0;
	u64 n = 0, tsc, sec, frac;
	u32 seq;
	int i;

	for (;;) {
		for (i = 0; i < LOOP_READS; i++) {
			do {
				seq = READ_ONCE(page->seq_count) & ~1u;
				/* Pairs with the write barrier after KVM's odd seq. */
				smp_rmb();
				memcpy(&c, page, sizeof(c));
				tsc = rdtsc();
				/* Pairs with the write barrier before KVM's even seq. */
				smp_rmb();
			} while (seq != READ_ONCE(page->seq_count));

			GUEST_ASSERT_EQ(c.magic, VMCLOCK_MAGIC);
			GUEST_ASSERT_EQ(c.counter_id, VMCLOCK_COUNTER_X86_TSC);
			if (!strict)
				continue;
			if (c.clock_status != VMCLOCK_STATUS_SYNCHRONIZED) {
				prev_mono = false;
				continue;
			}
			if (c.flags & VMCLOCK_FLAG_TIME_MAXERROR_VALID)
				GUEST_ASSERT_EQ(c.time_maxerror_nanosec,
						vmclock_user_checksum(c.time_sec, c.time_frac_sec));
			frac = vmclock_time_at(&c, tsc, &sec);
			t = ((unsigned __int128)sec << 64) | frac;
			if (prev_mono && (c.flags & VMCLOCK_FLAG_TIME_MONOTONIC))
				__GUEST_ASSERT(t + 1 >= prev,
					       "time went back by %lu/2^64 s",
					       (unsigned long)(prev - t));
			prev = t;
			prev_mono = c.flags & VMCLOCK_FLAG_TIME_MONOTONIC;
		}
		GUEST_SYNC(n++);
	}
}

void *vmclock_vcpu_loop_thread(void *arg)
{
	struct loop_args *la = arg;
	struct ucall uc;

	while (!__atomic_load_n(&la->stop, __ATOMIC_ACQUIRE)) {
		vcpu_run(la->vcpu);
		TEST_ASSERT_KVM_EXIT_REASON(la->vcpu, KVM_EXIT_IO);
		switch (get_ucall(la->vcpu, &uc)) {
		case UCALL_SYNC:
			__atomic_add_fetch(&la->syncs, 1, __ATOMIC_RELAXED);
			break;
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(uc);
			break;
		default:
			TEST_FAIL("unexpected ucall %lu", uc.cmd);
		}
	}
	return NULL;
}

void vmclock_loop_vm_create(struct vmclock_vm *v, bool strict)
{
	vmclock_vm_create(v, 1);
	vcpu_arch_set_entry_point(v->vcpu[0], vmclock_guest_loop_code);
	vcpu_args_set(v->vcpu[0], 2, VMCLOCK_GVA, (u64)strict);
}
