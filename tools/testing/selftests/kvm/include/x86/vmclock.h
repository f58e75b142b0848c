/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers for tests of the vmclock page KVM publishes (KVM_SET_VMCLOCK):
 * reading it with the seq_count protocol, computing its time exactly as
 * drivers/ptp/ptp_vmclock.c does, comparing it with KVM_GET_CLOCK's
 * (host TSC, CLOCK_REALTIME) pairs from the host and from guest code, the
 * usual test VM, and USER mode clocks.  The functions are in
 * lib/x86/vmclock.c.
 */
#ifndef SELFTEST_KVM_VMCLOCK_H
#define SELFTEST_KVM_VMCLOCK_H

#include <string.h>
#include <time.h>

#include <asm/barrier.h>
#include <linux/vmclock-abi.h>

#include "kvm_util.h"
#include "test_util.h"

#define VMCLOCK_PAGE_SIZE	4096ULL

/* The vmclock_abi flags a VMM sets in kvm_vmclock.clock_flags */
#define VMCLOCK_VMM_FLAGS	(VMCLOCK_FLAG_DISRUPTION_SOON |		\
				 VMCLOCK_FLAG_DISRUPTION_IMMINENT |	\
				 VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT)

/* What KVM_GET_VMCLOCK returns in flags: its output is KVM_SET_VMCLOCK input. */
#define VMCLOCK_GET_FLAGS	(KVM_VMCLOCK_FLAG_SET_DISRUPTION |	\
				 KVM_VMCLOCK_FLAG_SET_VM_GENERATION |	\
				 KVM_VMCLOCK_FLAG_SET_SEQ_COUNT)

/* Exactly the arithmetic of ptp_vmclock's vmclock_get_crosststamp(). */
static inline u64 vmclock_time_at(const struct vmclock_abi *clk, u64 counter,
				  u64 *sec)
{
	unsigned __int128 res;
	u64 delta = counter - clk->counter_value;

	res = (unsigned __int128)delta * clk->counter_period_frac_sec;
	res >>= clk->counter_period_shift;
	res += clk->time_frac_sec;
	*sec = (u64)(res >> 64) + clk->time_sec;
	return (u64)res;
}

/* The page's time at @counter, in ns since the epoch (rounded down) */
static inline u64 vmclock_ns_at(const struct vmclock_abi *clk, u64 counter)
{
	u64 sec, frac = vmclock_time_at(clk, counter, &sec);

	return sec * 1000000000ULL +
	       (u64)(((unsigned __int128)frac * 1000000000ULL) >> 64);
}

/*
 * A clock a guest may use: in AUTO mode SYNCHRONIZED, FREERUNNING or
 * UNKNOWN follow the host's NTP status (UNKNOWN: never synchronized).
 */
static inline bool vmclock_status_reliable(u8 status)
{
	return status == VMCLOCK_STATUS_SYNCHRONIZED ||
	       status == VMCLOCK_STATUS_FREERUNNING ||
	       status == VMCLOCK_STATUS_UNKNOWN;
}

static inline u64 vmclock_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static inline u64 vmclock_frac_to_ns(u64 frac)
{
	return ((unsigned __int128)frac * NSEC_PER_SEC) >> 64;
}

#define VMCLOCK_SLOT		10
#define VMCLOCK_NPAGES		4
#define VMCLOCK_GPA		0xc0000000ULL
#define VMCLOCK_GVA		VMCLOCK_GPA

/* Second page of the same memslot. */
#define VMCLOCK_ALT_GPA		(VMCLOCK_GPA + VMCLOCK_PAGE_SIZE)

/* Not covered by any memslot. */
#define VMCLOCK_UNMAPPED_GPA	0xd0000000ULL

/*
 * Maximum |floor(page time in ns) - KVM_GET_CLOCK.realtime| for the same TSC
 * value: KVM's bound, the kvm.vmclock_max_error_ns parameter, plus 1 ns
 * because both sides are truncated to ns.  With the parameter at 0 (a
 * republication at every timekeeper update), the page's slope (the NTP
 * rate) still differs from the timekeeper's dithered mult for up to a tick:
 * about 1 ns at HZ=250 and 2.4 GHz; VMCLOCK_PER_TICK_ERROR_NS covers it.
 */
#define VMCLOCK_MAX_ERROR_PARAM	"/sys/module/kvm/parameters/vmclock_max_error_ns"
#define VMCLOCK_PER_TICK_ERROR_NS	2
#define VMCLOCK_MAX_ERROR_NS		(vmclock_max_error_ns() + vmclock_dither_slack())

/*
 * Slack for before.realtime <= guest time <= after.realtime: the guest's
 * RDTSC is strictly between the two host TSC reads (VM entry/exit), so only
 * the same truncation/model error as VMCLOCK_MAX_ERROR_NS applies.
 */
#define GUEST_BRACKET_SLACK_NS		VMCLOCK_MAX_ERROR_NS

/* KVM must follow offset/clocksource/TAI changes within this time. */
#define UPDATE_TIMEOUT_NS		(1 * NSEC_PER_SEC)
#define ACCURACY_SHORT_NS		(NSEC_PER_SEC / 2)
#define ACCURACY_SHORT_SAMPLES		2000
#define ACCURACY_MAX_NS			(20 * NSEC_PER_SEC)
#define GUEST_MAX_TRIES			1000000

/* Guest TSC wraps this long after the offset is written. */
#define WRAP_DELAY_MS			2000

/*
 * USER mode: a clock fed by userspace in the host TSC domain, migration and
 * snapshot counters, eventfd notification.
 */

/* One nanosecond in 2^-64 s, rounded up. */
#define ONE_NS_FRAC		18446744074ULL
#define USER_EXACT_POINTS	2000
#define USER_GUEST_RUNS		50
#define LOOP_READS		500
#define FUZZ_SEED		0x5eed1234abcdULL
#define USER_CLOCK_FLAGS	(VMCLOCK_FLAG_TAI_OFFSET_VALID |		\
				 VMCLOCK_FLAG_PERIOD_ESTERROR_VALID |	\
				 VMCLOCK_FLAG_PERIOD_MAXERROR_VALID |	\
				 VMCLOCK_FLAG_TIME_ESTERROR_VALID |	\
				 VMCLOCK_FLAG_TIME_MAXERROR_VALID |	\
				 VMCLOCK_FLAG_TIME_MONOTONIC)

/* Guest TSC as a function of the host TSC. */
struct tsc_xform {
	u64 offset;
	u64 ratio;		/* 0: no scaling */
	u32 frac_bits;
};

/*
 * A KVM_SET_VMCLOCK call with a USER clock: kvm_vmclock points to @clock
 * (vmclock_user_clock_fix() sets the pointer after a copy).
 */
struct user_call {
	struct kvm_vmclock vc;
	struct vmclock_abi clock;
};

enum sample_result {
	SAMPLE_OK,		/* *diff is valid */
	SAMPLE_RETRY,		/* page changed across KVM_GET_CLOCK */
	SAMPLE_UNRELIABLE,	/* clock_status is not usable */
};

struct vmclock_guest_sample {
	struct kvm_clock_data before, after;
	u8 status;
	u64 ns;			/* guest's page time in ns since the epoch */
	u64 tsc;
	u64 tries;
};

struct vmclock_vm {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu[2];
	int nr_vcpus;
	struct vmclock_abi *page;	/* HVA of VMCLOCK_GPA */
	u8 *alt;			/* HVA of VMCLOCK_ALT_GPA */
};

enum offset_kind { OFFSET_ZERO, OFFSET_POSITIVE, OFFSET_NEGATIVE, OFFSET_WRAP };

struct loop_args {
	struct kvm_vcpu *vcpu;
	bool stop;
	u64 syncs;
};

/* Tolerances: kvm.vmclock_max_error_ns and the slack a test enables */
extern int vmclock_dither_slack_ns;
extern u64 vmclock_sample_gap_max_ns;
int vmclock_param(void);
int vmclock_max_error_ns(void);
int vmclock_dither_slack(void);

/* The page, from the host: seq_count-consistent copies, status, header */
void vmclock_page_read(const struct vmclock_abi *page,
		       struct vmclock_abi *copy);
void vmclock_assert_header(const struct vmclock_abi *clk);
bool vmclock_tai_matches(const struct vmclock_abi *clk, int host_tai);
int vmclock_host_tai_offset(void);
void vmclock_assert_tai(const struct vmclock_abi *clk);
void vmclock_dump_clk(const char *pfx, const struct vmclock_abi *c);
void vmclock_wait_status(const struct vmclock_abi *page, bool unreliable,
			 const char *what);
void vmclock_wait_seq_change(const struct vmclock_abi *page, u32 old_seq,
			     const char *what);
u64 vmclock_updates(struct kvm_vm *vm);

/* KVM_GET_CLOCK pairs and the guest TSC domain */
void vmclock_kvmclock_refresh(struct kvm_vm *vm);
void vmclock_get_clock(struct kvm_vm *vm,
		       struct kvm_clock_data *data);
u64 vmclock_tsc_offset(struct kvm_vcpu *vcpu);
void vmclock_set_tsc_offset(struct kvm_vcpu *vcpu, u64 offset);
u64 vmclock_host_to_guest_tsc(const struct tsc_xform *x, u64 host_tsc);
void vmclock_tsc_xform_get(struct kvm_vcpu *vcpu, struct tsc_xform *x);
u64 vmclock_vm_tsc_hz(struct kvm_vm *vm);

/* The page's time against the host's: one sample, waits, runs */
bool vmclock_page_error(struct kvm_vm *vm,
			const struct vmclock_abi *page,
			u64 tsc_offset, s64 *err);
enum sample_result vmclock_sample_diff(struct kvm_vm *vm,
				       const struct vmclock_abi *page,
				       const struct tsc_xform *x, s64 *diff,
				       u64 *guest_tsc, struct vmclock_abi *clk);
bool vmclock_diff_ok(s64 diff);
void vmclock_wait_accurate(struct kvm_vm *vm, const struct vmclock_abi *page,
			   const struct tsc_xform *x, s64 old_seq,
			   const char *what);
void vmclock_run_accuracy(struct kvm_vm *vm, const struct vmclock_abi *page,
			  const struct tsc_xform *x, u64 min_ns, u64 min_samples,
			  bool until_wrap, const char *what);

/* The guest's view: guest code reading the page, and its samples */
extern u64 vmclock_guest_wrmsr_tsc;
void vmclock_guest_code(struct vmclock_abi *clk);
void vmclock_guest_sample(struct kvm_vcpu *vcpu, struct vmclock_guest_sample *s);
bool vmclock_guest_sample_ok(const struct vmclock_guest_sample *s);
void vmclock_guest_loop_code(struct vmclock_abi *page, u64 strict);
void *vmclock_vcpu_loop_thread(void *arg);

/* Test VMs, KVM_SET_VMCLOCK and KVM_GET_VMCLOCK */
void vmclock_vm_create(struct vmclock_vm *v, int nr_vcpus);
void vmclock_vm_enable(struct vmclock_vm *v, struct tsc_xform *x);
void vmclock_loop_vm_create(struct vmclock_vm *v, bool strict);
void vmclock_set(struct kvm_vm *vm, u32 mode, u64 gpa);
void vmclock_get(struct kvm_vm *vm, struct kvm_vmclock *vc);
void vmclock_assert_state(struct kvm_vm *vm, u32 mode, u64 gpa);
void vmclock_user_clock_fix(struct user_call *c);
void vmclock_call(struct user_call *c, u32 mode, u32 flags, int efd,
		  const struct vmclock_abi *clk);
u64 vmclock_efd_read(int efd);

/* USER mode clocks */
void vmclock_user_clock_at(struct vmclock_abi *c, u64 host_tsc,
			   u64 realtime_ns, u64 hz);
void vmclock_user_clock(struct kvm_vm *vm, u64 hz,
			struct vmclock_abi *c);
void vmclock_user_clock_init(struct vmclock_abi *c, u64 host_tsc,
			     u64 realtime_ns, u64 hz);
void vmclock_user_clock_advance(struct vmclock_abi *c,
				const struct vmclock_abi *base, u64 d);
void vmclock_user_clock_now(struct kvm_vm *vm, struct vmclock_abi *c);
int __vmclock_user_set(struct kvm_vm *vm, u32 flags, int efd,
		       const struct vmclock_abi *clk);
void vmclock_user_set(struct kvm_vm *vm, u32 flags, int efd,
		      const struct vmclock_abi *clk);
void vmclock_auto_set(struct kvm_vm *vm, u32 flags, int efd,
		      const struct vmclock_abi *clk);
unsigned __int128 vmclock_clk_time(const struct vmclock_abi *c, u64 counter);
u64 vmclock_user_checksum(u64 sec, u64 frac);
void vmclock_assert_user_exact(const struct vmclock_abi *h,
			       const struct vmclock_abi *page,
			       const struct tsc_xform *x, bool notify,
			       const char *what);
void vmclock_assert_user_guest_view(struct kvm_vcpu *vcpu,
				    const struct vmclock_abi *h,
				    const struct tsc_xform *x, const char *what);

/* Kernel splats in /dev/kmsg during a test (-1: not readable, not checked) */
int vmclock_kmsg_open(void);
void vmclock_kmsg_assert_clean(int fd);

/* Reproducible random numbers, for the fuzzer and the USER clocks */
extern u64 vmclock_rng_state;
u64 vmclock_rng(void);

#endif /* SELFTEST_KVM_VMCLOCK_H */
