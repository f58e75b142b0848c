// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmclock_bench: the benchmark of `make bench` (issue 5).  Run in the bench
 * VM; prints one table, every figure measured in the same run:
 *
 *  1. accuracy: max |page time - host CLOCK_REALTIME| over KVM_GET_CLOCK
 *     (host TSC, CLOCK_REALTIME) pairs, in steady state and across
 *     adjtimex(ADJ_FREQUENCY) changes;
 *  2. page rewrites per second per VM: steady state, one ADJ_FREQUENCY
 *     change per second (2-12 ppm with the bench VM's CPUs idle, and with
 *     one of them busy so that the host's tick is not stopped, as on a
 *     host running guests; 100 ppb, an NTP daemon's size, busy), and with
 *     vmclock_max_error_ns=0 (a rewrite on every timekeeper notifier call);
 *  3. guest read cost: a vmclock read, a KVM_HC_CLOCK_PAIRING hypercall and
 *     a kvmclock read, timed with the TSC in one guest, and their guest
 *     instructions counted by single-stepping the guest;
 *  4. deferred-work cost of one update pass with 1, 64 and 512 VMs.
 *
 * Bench tooling, not part of the series: it is built with the KVM
 * selftests' library (bench/selftests.sh copies it into the tree).
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/timex.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <asm/barrier.h>
#include <asm/kvm_para.h>
#include <asm/pvclock.h>
#include <linux/kvm_para.h>
#include <linux/vmclock-abi.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"
#include "vmclock.h"

/* One memslot, identity mapped: vmclock page, pvclock page, pairing, results */
#define BENCH_GPA		0xc0000000ULL
#define BENCH_SLOT		10
#define BENCH_VMCLOCK_GPA	BENCH_GPA
#define BENCH_PVTI_GPA		(BENCH_GPA + 0x1000)
#define BENCH_PAIRING_GPA	(BENCH_GPA + 0x2000)
#define BENCH_RESULTS_GPA	(BENCH_GPA + 0x3000)
#define BENCH_NR_ITER		10000
#define BENCH_RESULTS_PAGES	((NR_OPS * BENCH_NR_ITER * 4 + 4095) / 4096)
#define BENCH_NPAGES		(3 + BENCH_RESULTS_PAGES)

#define ACC_MIN_SAMPLES		100000
#define ACC_MIN_FREQ_CHANGES	20
#define ACC_FREQ_INTERVAL_NS	(100 * 1000 * 1000ULL)
#define RATE_WINDOW_S		10
#define RATE_SETTLE_S		2
#define CAL_ITERS		10000
#define CAL_RUNS		21
#define MAX_STEPS		100000
#define PASSES			11
#define PASS_TIMEOUT_NS		(10 * NSEC_PER_SEC)

#define PARAM_MAX_ERROR	"/sys/module/kvm/parameters/vmclock_max_error_ns"
#define STAT_UPDATES	"vmclock_updates"
#define NO_STAT		"n/a (no such stat)"
#define NO_PARAM	"n/a (no vmclock_max_error_ns parameter)"

enum bench_op { OP_EMPTY, OP_VMCLOCK, OP_HYPERCALL, OP_KVMCLOCK, NR_OPS };

static const char * const op_names[NR_OPS] = {
	[OP_EMPTY] = "empty timed call (overhead)",
	[OP_VMCLOCK] = "vmclock page read",
	[OP_HYPERCALL] = "KVM_HC_CLOCK_PAIRING hypercall",
	[OP_KVMCLOCK] = "kvmclock (pvclock) read",
};

enum { STAGE_READY, STAGE_TIMED, STAGE_COUNT };

/* Guest side */

static u64 guest_sink;

static noinline u64 op_empty(void)
{
	return READ_ONCE(guest_sink);
}

/* As ptp_vmclock: seq_count loop, status, get_cycles(), 128-bit arithmetic */
static noinline u64 op_vmclock(void)
{
	const struct vmclock_abi *clk = (void *)BENCH_VMCLOCK_GPA;
	u64 sec, frac;
	u32 seq;

	do {
		seq = READ_ONCE(clk->seq_count) & ~1u;
		/* Pairs with the write barrier after KVM's odd seq. */
		smp_rmb();
		if (READ_ONCE(clk->clock_status) == VMCLOCK_STATUS_UNRELIABLE)
			return 0;
		frac = vmclock_time_at(clk, rdtsc(), &sec);
		/* Pairs with the write barrier before KVM's even seq. */
		smp_rmb();
	} while (seq != READ_ONCE(clk->seq_count));

	return sec * NSEC_PER_SEC + vmclock_frac_to_ns(frac);
}

/* As ptp_kvm's kvm_arch_ptp_get_clock(): the hypercall, then the result */
static noinline u64 op_hypercall(void)
{
	const struct kvm_clock_pairing *cp = (void *)BENCH_PAIRING_GPA;

	if (kvm_hypercall(KVM_HC_CLOCK_PAIRING, BENCH_PAIRING_GPA,
			  KVM_CLOCK_PAIRING_WALLCLOCK, 0, 0))
		return 0;
	return READ_ONCE(cp->sec) * NSEC_PER_SEC + READ_ONCE(cp->nsec);
}

/* As pvclock_clocksource_read() with the stable bit: rdtsc_ordered() */
static noinline u64 op_kvmclock(void)
{
	const struct pvclock_vcpu_time_info *pvti = (void *)BENCH_PVTI_GPA;
	unsigned int version;
	u64 ns;

	do {
		version = pvclock_read_begin(pvti);
		asm volatile("lfence" ::: "memory");
		ns = __pvclock_read_cycles(pvti, rdtsc());
	} while (pvclock_read_retry(pvti, version));

	return ns;
}

static __always_inline u64 tsc_fenced(void)
{
	u64 t;

	asm volatile("lfence" ::: "memory");
	t = rdtsc();
	asm volatile("lfence" ::: "memory");
	return t;
}

/* Iteration @i of @op: the TSC cycles of one call of @fn */
#define TIME_OP(op, fn, i)						\
do {									\
	u32 *res = (u32 *)BENCH_RESULTS_GPA + (op) * BENCH_NR_ITER;	\
	u64 t0, t1;							\
									\
	t0 = tsc_fenced();						\
	guest_sink += fn();						\
	t1 = tsc_fenced();						\
	res[i] = t1 - t0;						\
} while (0)

static void guest_code(void)
{
	u64 ret, t0, t1, n, best = ~0ULL;
	int i;

	wrmsr(MSR_KVM_SYSTEM_TIME_NEW, BENCH_PVTI_GPA | KVM_MSR_ENABLED);
	ret = kvm_hypercall(KVM_HC_CLOCK_PAIRING, BENCH_PAIRING_GPA,
			    KVM_CLOCK_PAIRING_WALLCLOCK, 0, 0);
	GUEST_SYNC_ARGS(STAGE_READY, ret, op_vmclock(), op_kvmclock(), 0);

	/*
	 * The reads interleaved, so that they see the same (emulated, shared)
	 * machine.  The hypercall apart: under TCG, a read right after an exit
	 * costs several times more (most likely QEMU's software TLB, flushed
	 * by the world switches it emulates).
	 */
	for (i = 0; i < BENCH_NR_ITER; i++) {
		TIME_OP(OP_EMPTY, op_empty, i);
		TIME_OP(OP_VMCLOCK, op_vmclock, i);
		TIME_OP(OP_KVMCLOCK, op_kvmclock, i);
	}
	for (i = 0; i < BENCH_NR_ITER; i++)
		TIME_OP(OP_HYPERCALL, op_hypercall, i);

	/* TSC cycles per dependent add (1 on hardware): the best of CAL_RUNS */
	for (i = 0; i < CAL_RUNS; i++) {
		n = CAL_ITERS;
		t0 = tsc_fenced();
		asm volatile("1: add $1, %%rax\n\t"
			     "dec %%rcx\n\t"
			     "jnz 1b"
			     : "+c"(n) : "a"(0ULL) : "cc");
		t1 = tsc_fenced();
		if (t1 - t0 < best)
			best = t1 - t0;
	}
	GUEST_SYNC_ARGS(STAGE_TIMED, best, 0, 0, 0);

	/* One call of each, single-stepped by the host */
	GUEST_SYNC_ARGS(STAGE_COUNT, OP_EMPTY, 0, 0, 0);
	guest_sink += op_empty();
	GUEST_SYNC_ARGS(STAGE_COUNT, OP_VMCLOCK, 0, 0, 0);
	guest_sink += op_vmclock();
	GUEST_SYNC_ARGS(STAGE_COUNT, OP_HYPERCALL, 0, 0, 0);
	guest_sink += op_hypercall();
	GUEST_SYNC_ARGS(STAGE_COUNT, OP_KVMCLOCK, 0, 0, 0);
	guest_sink += op_kvmclock();
	GUEST_DONE();
}

/* Host side */

static struct timex orig_timex;
static bool freq_changed;
static char orig_max_error[32];
static bool max_error_changed;

static bool read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return false;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return true;
}

static bool write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return false;
	n = write(fd, val, strlen(val));
	close(fd);
	return n == (ssize_t)strlen(val);
}

/* Always put the host's frequency and the bound back, whatever happens. */
static void restore_host(void)
{
	struct timex tx = { .modes = ADJ_FREQUENCY };

	if (freq_changed) {
		tx.freq = orig_timex.freq;
		if (adjtimex(&tx) < 0)
			fprintf(stderr, "FAILED to restore the frequency\n");
		freq_changed = false;
	}
	if (max_error_changed) {
		if (!write_file(PARAM_MAX_ERROR, orig_max_error))
			fprintf(stderr, "FAILED to restore vmclock_max_error_ns\n");
		max_error_changed = false;
	}
}

static void restore_on_signal(int sig)
{
	restore_host();
	_exit(128 + sig);
}

/* @scaled (ppm << 16) on top of the original frequency */
static void set_freq_scaled(long scaled)
{
	struct timex tx = { .modes = ADJ_FREQUENCY };

	tx.freq = orig_timex.freq + scaled;
	freq_changed = true;
	TEST_ASSERT(adjtimex(&tx) >= 0, "adjtimex(ADJ_FREQUENCY) errno %d",
		    errno);
}

/* @ppm on top of the original frequency */
static void set_freq(long ppm)
{
	set_freq_scaled(ppm * 65536);
}

/* -6, -4, ... +6 ppm: consecutive values always differ */
static long freq_step_ppm(unsigned int i)
{
	return ((long)(i % 7) - 3) * 2;
}

/* +50, -50, +50... ppb: the size of an NTP daemon's corrections */
#define SMALL_STEP_SCALED	(65536 / 20)

/* Read a VM stat by name; false if KVM does not have it. */
static bool vm_stat_read(struct kvm_vm *vm, const char *name, u64 *val)
{
	struct kvm_binary_stats *stats = &vm->stats;
	struct kvm_stats_desc *desc;
	int i;

	if (stats->fd < 0)
		return false;
	if (!stats->desc) {
		read_stats_header(stats->fd, &stats->header);
		stats->desc = read_stats_descriptors(stats->fd, &stats->header);
	}
	for (i = 0; i < stats->header.num_desc; i++) {
		desc = get_stats_descriptor(stats->desc, i, &stats->header);
		if (strcmp(desc->name, name))
			continue;
		read_stat_data(stats->fd, &stats->header, desc, val, 1);
		return true;
	}
	return false;
}

/* Seqcount-consistent copy of the page, as ptp_vmclock reads it. */
static u32 page_seq(const struct vmclock_abi *page)
{
	struct vmclock_abi c;

	vmclock_page_read(page, &c);
	return c.seq_count;
}

struct accuracy {
	u64 samples;
	u64 retries;
	s64 min_diff;
	s64 max_diff;
	unsigned int changes;
	u64 ms;
	u32 writes;		/* page writes during the run */
	/* Smallest page maxerror - host's (ns), over the pairs that have one */
	s64 min_excess;
	u64 bounded;
};

/* The page's maximum error at guest counter @counter, in ns (rounded down) */
static u64 page_maxerror_ns(const struct vmclock_abi *c, u64 counter)
{
	unsigned __int128 e = (unsigned __int128)(counter - c->counter_value) *
			      c->counter_period_maxerror_rate_frac_sec;

	e >>= c->counter_period_shift;
	return c->time_maxerror_nanosec + (u64)(e >> 64) * NSEC_PER_SEC +
	       (u64)(((unsigned __int128)(u64)e * NSEC_PER_SEC) >> 64);
}

/*
 * One pair (vmclock_sample_diff(): the page must be the same before and
 * after KVM_GET_CLOCK).  Returns false (a retry) if it changed.
 * *diff = page time - realtime.
 */
static bool sample_diff(struct kvm_vm *vm, const struct vmclock_abi *page,
			const struct tsc_xform *x, s64 *diff, struct accuracy *a)
{
	struct timex t0 = {}, t1 = {};
	struct vmclock_abi clk;
	enum sample_result r;
	u64 gtsc;

	adjtimex(&t0);
	r = vmclock_sample_diff(vm, page, x, diff, &gtsc, &clk);
	adjtimex(&t1);
	if (r == SAMPLE_RETRY)
		return false;
	TEST_ASSERT(r == SAMPLE_OK &&
		    clk.clock_status == VMCLOCK_STATUS_SYNCHRONIZED,
		    "clock_status %u", clk.clock_status);
	/* The bound's excess over the host's, if it did not grow meanwhile */
	if ((clk.flags & VMCLOCK_FLAG_TIME_MAXERROR_VALID) &&
	    t0.maxerror == t1.maxerror) {
		s64 e = (s64)page_maxerror_ns(&clk, gtsc) - t1.maxerror * 1000LL;

		a->min_excess = a->bounded++ ? min(a->min_excess, e) : e;
	}
	return true;
}

static void run_accuracy(struct kvm_vm *vm, const struct vmclock_abi *page,
			 const struct tsc_xform *x, bool freq,
			 struct accuracy *a)
{
	u64 start = vmclock_now_ns(), next_change = start;
	u32 seq0 = page_seq(page);
	s64 diff;

	memset(a, 0, sizeof(*a));
	a->min_diff = INT64_MAX;
	a->max_diff = INT64_MIN;
	while (a->samples < ACC_MIN_SAMPLES ||
	       (freq && a->changes < ACC_MIN_FREQ_CHANGES)) {
		if (freq && vmclock_now_ns() >= next_change) {
			set_freq(freq_step_ppm(a->changes++));
			next_change += ACC_FREQ_INTERVAL_NS;
		}
		if (!sample_diff(vm, page, x, &diff, a)) {
			a->retries++;
			continue;
		}
		a->samples++;
		if (diff < a->min_diff)
			a->min_diff = diff;
		if (diff > a->max_diff)
			a->max_diff = diff;
	}
	if (freq)
		restore_host();
	a->ms = (vmclock_now_ns() - start) / 1000000;
	a->writes = (page_seq(page) - seq0) / 2;
}

struct rate {
	bool valid;		/* the window ran */
	double page_per_s;	/* from seq_count: +2 per write */
	bool has_stat;
	double stat_per_s;
};

static volatile bool spin_stop;

static void *spin(void *arg)
{
	while (!spin_stop)
		;
	return NULL;
}

/*
 * Page writes and vmclock_updates per second over RATE_WINDOW_S, with one
 * ADJ_FREQUENCY change per second if @freq.  If @busy, a thread spins for
 * the whole window: a CPU that is not idle keeps the periodic tick (NO_HZ
 * stops it on idle CPUs), as on a host whose CPUs run guests.  With every
 * CPU idle, ticks come late and the host's own CLOCK_REALTIME strays from
 * its NTP line by up to one mult unit times the gap, which the page follows.
 */
enum rate_freq { RATE_STEADY, RATE_PPM, RATE_PPB };

static void run_rate(struct kvm_vm *vm, const struct vmclock_abi *page,
		     enum rate_freq freq, bool busy, struct rate *r)
{
	u64 s0 = 0, s1 = 0, t0, t1;
	pthread_t spinner;
	u32 q0, q1;
	int i;

	if (busy) {
		spin_stop = false;
		TEST_ASSERT(!pthread_create(&spinner, NULL, spin, NULL),
			    "pthread_create failed");
		usleep(100 * 1000);
	}
	r->valid = true;
	r->has_stat = vm_stat_read(vm, STAT_UPDATES, &s0);
	q0 = page_seq(page);
	t0 = vmclock_now_ns();
	for (i = 0; i < RATE_WINDOW_S; i++) {
		u64 until = t0 + (i + 1) * NSEC_PER_SEC, t;

		if (freq == RATE_PPM)
			set_freq(freq_step_ppm(i));
		else if (freq == RATE_PPB)
			set_freq_scaled(i & 1 ? -SMALL_STEP_SCALED : SMALL_STEP_SCALED);
		while ((t = vmclock_now_ns()) < until)
			usleep((until - t) / 1000 + 1);
	}
	q1 = page_seq(page);
	if (r->has_stat)
		vm_stat_read(vm, STAT_UPDATES, &s1);
	t1 = vmclock_now_ns();
	if (freq != RATE_STEADY)
		restore_host();
	if (busy) {
		spin_stop = true;
		pthread_join(spinner, NULL);
	}
	r->page_per_s = (double)(u32)(q1 - q0) / 2 / ((t1 - t0) / 1e9);
	r->stat_per_s = (double)(s1 - s0) / ((t1 - t0) / 1e9);
}

static int cmp_u32(const void *a, const void *b)
{
	u32 x = *(const u32 *)a, y = *(const u32 *)b;

	return x < y ? -1 : x > y;
}

struct cost {
	u32 min;
	u32 median;
	long insns;		/* -1: not counted */
};

/*
 * Count the guest instructions of one call of @fn, from its first
 * instruction to its ret, by single-stepping the guest.  -1 on failure;
 * *@pending is then set if the vCPU stopped on an exit still to handle.
 */
static long count_insns(struct kvm_vcpu *vcpu, void *fn, bool *pending)
{
	struct kvm_guest_debug dbg = {
		.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP |
			   KVM_GUESTDBG_BLOCKIRQ,
	};
	struct kvm_run *run = vcpu->run;
	u64 ret_addr = 0, pc;
	struct kvm_regs regs;
	long n = -1, steps;

	vcpu_guest_debug_set(vcpu, &dbg);
	for (steps = 0; steps < MAX_STEPS; steps++) {
		vcpu_run(vcpu);
		if (run->exit_reason != KVM_EXIT_DEBUG) {
			*pending = true;
			n = -1;
			break;
		}
		pc = run->debug.arch.pc;
		if (n < 0) {
			if (pc == (u64)fn) {
				vcpu_regs_get(vcpu, &regs);
				ret_addr = *(u64 *)addr_gva2hva(vcpu->vm, regs.rsp);
				n = 0;
			}
			continue;
		}
		n++;
		if (pc == ret_addr)
			break;
	}
	if (steps == MAX_STEPS)
		n = -1;
	dbg.control = 0;
	vcpu_guest_debug_set(vcpu, &dbg);
	return n;
}

struct guest_result {
	struct cost cost[NR_OPS];
	u64 pairing_ret;
	double cal_cycles;	/* TSC cycles per dependent add */
	bool steps_ok;
};

static void run_guest(struct kvm_vcpu *vcpu, struct guest_result *g)
{
	static void * const fns[NR_OPS] = {
		op_empty, op_vmclock, op_hypercall, op_kvmclock,
	};
	u32 *res = addr_gpa2hva(vcpu->vm, BENCH_RESULTS_GPA);
	bool pending = false;
	struct ucall uc;
	int op;

	for (op = 0; op < NR_OPS; op++)
		g->cost[op].insns = -1;
	g->steps_ok = true;
	for (;;) {
		if (!pending)
			vcpu_run(vcpu);
		pending = false;
		switch (get_ucall(vcpu, &uc)) {
		case UCALL_SYNC:
			break;
		case UCALL_DONE:
			return;
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(uc);
		default:
			TEST_FAIL("unexpected exit %s",
				  exit_reason_str(vcpu->run->exit_reason));
		}
		switch (uc.args[1]) {
		case STAGE_READY:
			g->pairing_ret = uc.args[2];
			fprintf(stderr, "# guest: clock pairing %ld, vmclock %lu ns, kvmclock %lu ns\n",
				(long)uc.args[2], (unsigned long)uc.args[3],
				(unsigned long)uc.args[4]);
			break;
		case STAGE_TIMED:
			g->cal_cycles = (double)uc.args[2] / CAL_ITERS;
			for (op = 0; op < NR_OPS; op++) {
				u32 *r = res + op * BENCH_NR_ITER;

				qsort(r, BENCH_NR_ITER, sizeof(*r), cmp_u32);
				g->cost[op].min = r[0];
				g->cost[op].median = r[BENCH_NR_ITER / 2];
			}
			break;
		case STAGE_COUNT:
			op = uc.args[2];
			if (g->steps_ok)
				g->cost[op].insns = count_insns(vcpu, fns[op],
								&pending);
			if (g->cost[op].insns < 0)
				g->steps_ok = false;
			/* Without single-stepping the guest just runs on. */
			break;
		}
	}
}

/* A VM with one vCPU and a one-page memslot holding its vmclock page */
struct small_vm {
	int vm_fd;
	int vcpu_fd;
	struct vmclock_abi *page;
};

static void small_vm_create(int kvm_fd, struct small_vm *s)
{
	struct kvm_userspace_memory_region region = {
		.slot = 0,
		.guest_phys_addr = BENCH_GPA,
		.memory_size = 4096,
	};
	struct kvm_vmclock vc = {
		.mode = KVM_VMCLOCK_MODE_AUTO,
		.gpa = BENCH_GPA,
	};

	s->vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	TEST_ASSERT(s->vm_fd >= 0, "KVM_CREATE_VM, errno %d", errno);
	s->page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(s->page != MAP_FAILED, "mmap");
	region.userspace_addr = (unsigned long)s->page;
	TEST_ASSERT(!ioctl(s->vm_fd, KVM_SET_USER_MEMORY_REGION, &region),
		    "KVM_SET_USER_MEMORY_REGION, errno %d", errno);
	s->vcpu_fd = ioctl(s->vm_fd, KVM_CREATE_VCPU, 0);
	TEST_ASSERT(s->vcpu_fd >= 0, "KVM_CREATE_VCPU, errno %d", errno);
	TEST_ASSERT(!ioctl(s->vm_fd, KVM_SET_VMCLOCK, &vc),
		    "KVM_SET_VMCLOCK, errno %d", errno);
}

static void small_vm_destroy(struct small_vm *s)
{
	close(s->vcpu_fd);
	close(s->vm_fd);
	munmap(s->page, 4096);
}

struct pass_cost {
	int nr_vms;
	u64 min_ns;
	u64 median_ns;
	u64 create_ms;
	long mem_kb;		/* MemAvailable drop for the VMs */
	int usable;		/* pages with a usable clock_status */
};

static long mem_available_kb(void)
{
	char line[128];
	long kb = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* Step CLOCK_REALTIME to itself: the notifier runs with was_set. */
static u64 clock_step_to_now(void)
{
	struct timespec rt;
	u64 m0, m1, ns;

	m0 = vmclock_now_ns();
	clock_gettime(CLOCK_REALTIME, &rt);
	m1 = vmclock_now_ns();
	ns = rt.tv_sec * NSEC_PER_SEC + rt.tv_nsec + (m1 - m0) / 2;
	rt.tv_sec = ns / NSEC_PER_SEC;
	rt.tv_nsec = ns % NSEC_PER_SEC;
	TEST_ASSERT(!clock_settime(CLOCK_REALTIME, &rt),
		    "clock_settime errno %d", errno);
	return vmclock_now_ns();
}

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

static void run_passes(int kvm_fd, int nr_vms, struct pass_cost *pc)
{
	struct small_vm *vms = calloc(nr_vms, sizeof(*vms));
	u32 *seq = calloc(nr_vms, sizeof(*seq));
	u64 t[PASSES], t0, t1, mem0;
	int i, p, left;

	TEST_ASSERT(vms && seq, "calloc");
	pc->nr_vms = nr_vms;
	mem0 = mem_available_kb();
	t0 = vmclock_now_ns();
	for (i = 0; i < nr_vms; i++)
		small_vm_create(kvm_fd, &vms[i]);
	pc->create_ms = (vmclock_now_ns() - t0) / 1000000;
	pc->mem_kb = mem0 - mem_available_kb();

	/* Let the pages of the first vCPU's offset settle. */
	usleep(200 * 1000);
	for (p = 0; p < PASSES; p++) {
		for (i = 0; i < nr_vms; i++)
			seq[i] = page_seq(vms[i].page);
		t0 = vmclock_now_ns();
		clock_step_to_now();
		left = nr_vms;
		while (left) {
			left = 0;
			for (i = 0; i < nr_vms; i++) {
				u32 s = READ_ONCE(vms[i].page->seq_count);

				if (s == seq[i] || (s & 1))
					left++;
			}
			TEST_ASSERT(vmclock_now_ns() - t0 < PASS_TIMEOUT_NS,
				    "%d VMs: %d pages not rewritten after 10 s",
				    nr_vms, left);
		}
		t1 = vmclock_now_ns();
		t[p] = t1 - t0;
		usleep(100 * 1000);
	}
	qsort(t, PASSES, sizeof(t[0]), cmp_u64);
	pc->min_ns = t[0];
	pc->median_ns = t[PASSES / 2];
	pc->usable = 0;
	for (i = 0; i < nr_vms; i++) {
		struct vmclock_abi c;

		vmclock_page_read(vms[i].page, &c);
		/*
		 * Not UNRELIABLE: the steps (clock_settime()) leave the host
		 * unsynchronized, so the pages say FREERUNNING.
		 */
		pc->usable += c.clock_status == VMCLOCK_STATUS_SYNCHRONIZED ||
			      c.clock_status == VMCLOCK_STATUS_FREERUNNING ||
			      c.clock_status == VMCLOCK_STATUS_UNKNOWN;
	}
	for (i = 0; i < nr_vms; i++)
		small_vm_destroy(&vms[i]);
	free(vms);
	free(seq);
}

static void fmt_rate(char *buf, size_t size, const struct rate *r, bool stat)
{
	if (!r->valid)
		snprintf(buf, size, NO_PARAM);
	else if (stat && !r->has_stat)
		snprintf(buf, size, NO_STAT);
	else
		snprintf(buf, size, "%.1f", stat ? r->stat_per_s : r->page_per_s);
}

static void fmt_insns(char *buf, size_t size, long n, long vmclock)
{
	if (n < 0)
		snprintf(buf, size, "n/a (single-step failed)");
	else if (vmclock > 0)
		snprintf(buf, size, "%ld (%.1fx vmclock)", n, (double)n / vmclock);
	else
		snprintf(buf, size, "%ld", n);
}

static s64 abs_max(s64 a, s64 b)
{
	return a > -b ? a : -b;
}

static void print_rate_row(const char *what, const struct rate *r)
{
	char a[64], b[64];

	fmt_rate(a, sizeof(a), r, false);
	fmt_rate(b, sizeof(b), r, true);
	printf("| 2 | rewrites/s/VM, %s | %s | %s |\n", what, a, b);
}

int main(void)
{
	struct kvm_vmclock vc = { .mode = KVM_VMCLOCK_MODE_AUTO, .gpa = BENCH_GPA };
	static const int nr_vms[] = { 1, 64, 512 };
	struct rlimit nofile = { 4096, 4096 };
	struct kvm_clock_data clock = {};
	struct rate steady = {}, freq = {}, freq_busy = {}, small = {}, naive = {};
	struct pass_cost pc[ARRAY_SIZE(nr_vms)];
	struct accuracy acc_steady, acc_freq;
	char max_error[48] = "", cs[32] = "";
	struct vmclock_abi *page;
	struct guest_result g = {};
	struct kvm_vcpu *vcpu;
	struct tsc_xform x;
	struct utsname un;
	struct kvm_vm *vm;
	u64 t_start = vmclock_now_ns(), stat;
	bool has_param, has_stat, pmu;
	double tsc_mhz;
	char date[64], b1[64], b2[64];
	struct vmclock_abi ntp_page;
	time_t now;
	int kvm_fd, i;

	TEST_REQUIRE(kvm_has_cap(KVM_CAP_VMCLOCK));
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_ADJUST_CLOCK) & KVM_CLOCK_REALTIME);
	TEST_REQUIRE(sys_clocksource_is_based_on_tsc());

	TEST_ASSERT(adjtimex(&orig_timex) >= 0, "adjtimex errno %d", errno);
	has_param = read_file(PARAM_MAX_ERROR, orig_max_error,
			      sizeof(orig_max_error));
	atexit(restore_host);
	signal(SIGTERM, restore_on_signal);
	signal(SIGINT, restore_on_signal);
	TEST_ASSERT(!setrlimit(RLIMIT_NOFILE, &nofile), "setrlimit errno %d",
		    errno);
	setvbuf(stdout, NULL, _IOLBF, 0);

	vm = __vm_create_with_one_vcpu(&vcpu, BENCH_NPAGES, guest_code);
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, BENCH_GPA,
				    BENCH_SLOT, BENCH_NPAGES, 0);
	virt_map(vm, BENCH_GPA, BENCH_GPA, BENCH_NPAGES);
	page = addr_gpa2hva(vm, BENCH_VMCLOCK_GPA);
	vm_ioctl(vm, KVM_SET_VMCLOCK, &vc);
	/* Turns the master clock on, as a first KVM_RUN would. */
	vm_ioctl(vm, KVM_GET_CLOCK, &clock);
	vm_ioctl(vm, KVM_SET_CLOCK, &(struct kvm_clock_data){ .clock = clock.clock });
	vmclock_tsc_xform_get(vcpu, &x);
	tsc_mhz = __vcpu_ioctl(vcpu, KVM_GET_TSC_KHZ, NULL) / 1000.0;
	has_stat = vm_stat_read(vm, STAT_UPDATES, &stat);
	usleep(100 * 1000);
	/* What the host's NTP state makes of the page (bench/init synchronizes it) */
	vmclock_page_read(page, &ntp_page);

	fprintf(stderr, "# 1: accuracy, steady state\n");
	run_accuracy(vm, page, &x, false, &acc_steady);
	fprintf(stderr, "# 1: accuracy across ADJ_FREQUENCY changes\n");
	run_accuracy(vm, page, &x, true, &acc_freq);

	/* The frequency restored is a change too: let its rewrites pass. */
	sleep(RATE_SETTLE_S);
	fprintf(stderr, "# 2: rewrites, steady state, %d s\n", RATE_WINDOW_S);
	run_rate(vm, page, RATE_STEADY, false, &steady);
	fprintf(stderr, "# 2: rewrites, one ADJ_FREQUENCY change per second, %d s\n",
		RATE_WINDOW_S);
	run_rate(vm, page, RATE_PPM, false, &freq);
	sleep(RATE_SETTLE_S);
	fprintf(stderr, "# 2: rewrites, one ADJ_FREQUENCY change per second, a CPU busy, %d s\n",
		RATE_WINDOW_S);
	run_rate(vm, page, RATE_PPM, true, &freq_busy);
	sleep(RATE_SETTLE_S);
	fprintf(stderr, "# 2: rewrites, one 50 ppb ADJ_FREQUENCY change per second, a CPU busy, %d s\n",
		RATE_WINDOW_S);
	run_rate(vm, page, RATE_PPB, true, &small);
	if (has_param && write_file(PARAM_MAX_ERROR, "0")) {
		fprintf(stderr, "# 2: rewrites, vmclock_max_error_ns=0, a CPU busy, %d s\n",
			RATE_WINDOW_S);
		max_error_changed = true;
		/* A CPU busy: an idle (NO_HZ) VM would count its few ticks. */
		run_rate(vm, page, RATE_STEADY, true, &naive);
		restore_host();
	} else if (has_param) {
		fprintf(stderr, "# cannot write 0 to %s\n", PARAM_MAX_ERROR);
	}

	fprintf(stderr, "# 3: guest read cost, %d reads each\n", BENCH_NR_ITER);
	pmu = kvm_is_pmu_enabled();
	run_guest(vcpu, &g);
	kvm_vm_free(vm);

	kvm_fd = open_kvm_dev_path_or_exit();
	for (i = 0; i < ARRAY_SIZE(nr_vms); i++) {
		fprintf(stderr, "# 4: deferred work, %d VMs\n", nr_vms[i]);
		run_passes(kvm_fd, nr_vms[i], &pc[i]);
	}
	close(kvm_fd);

	/* The table */
	now = time(NULL);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", gmtime(&now));
	uname(&un);
	read_file("/sys/devices/system/clocksource/clocksource0/current_clocksource",
		  cs, sizeof(cs));
	if (has_param)
		snprintf(max_error, sizeof(max_error), "%s ns", orig_max_error);

	printf("vmclock bench, %s: kernel %s, %ld CPUs, clocksource %s, guest TSC %.3f MHz, offset %lld%s\n",
	       date, un.release, sysconf(_SC_NPROCESSORS_ONLN), cs, tsc_mhz,
	       (long long)x.offset, x.ratio ? ", scaled" : ", not scaled");
	printf("vmclock_max_error_ns: %s; stat %s: %s\n",
	       has_param ? max_error : "n/a (no such parameter)",
	       STAT_UPDATES, has_stat ? "present" : "n/a (no such stat)");
	printf("host NTP state: status 0x%x, esterror %ld us, maxerror %ld us; page clock_status %u, flags 0x%llx, time_esterror %llu ns, time_maxerror %llu ns, maxerror rate %s\n\n",
	       orig_timex.status, orig_timex.esterror, orig_timex.maxerror,
	       ntp_page.clock_status, (unsigned long long)ntp_page.flags,
	       (unsigned long long)ntp_page.time_esterror_nanosec,
	       (unsigned long long)ntp_page.time_maxerror_nanosec,
	       ntp_page.counter_period_maxerror_rate_frac_sec ? "set" : "none");

	printf("| # | measurement | result | detail |\n");
	printf("|---|---|---|---|\n");
	if (acc_steady.bounded && acc_freq.bounded)
		snprintf(b1, sizeof(b1), "%lld ns >= %lld ns",
			 (long long)min(acc_steady.min_excess, acc_freq.min_excess),
			 (long long)max(abs_max(acc_steady.max_diff, acc_steady.min_diff),
					abs_max(acc_freq.max_diff, acc_freq.min_diff)));
	else
		snprintf(b1, sizeof(b1), "n/a (host not synchronized)");
	printf("| 1 | accuracy, steady state: max \\|page - CLOCK_REALTIME\\| | %lld ns | %llu pairs in %llu ms, page - realtime in [%lld, %lld] ns, %llu retries, %u page writes |\n",
	       (long long)abs_max(acc_steady.max_diff, acc_steady.min_diff),
	       (unsigned long long)acc_steady.samples,
	       (unsigned long long)acc_steady.ms,
	       (long long)acc_steady.min_diff, (long long)acc_steady.max_diff,
	       (unsigned long long)acc_steady.retries, acc_steady.writes);
	printf("| 1 | accuracy across %u ADJ_FREQUENCY changes (-6..+6 ppm, every %llu ms) | %lld ns | %llu pairs in %llu ms, page - realtime in [%lld, %lld] ns, %llu retries, %u page writes |\n",
	       acc_freq.changes,
	       (unsigned long long)(ACC_FREQ_INTERVAL_NS / 1000000),
	       (long long)abs_max(acc_freq.max_diff, acc_freq.min_diff),
	       (unsigned long long)acc_freq.samples,
	       (unsigned long long)acc_freq.ms,
	       (long long)acc_freq.min_diff, (long long)acc_freq.max_diff,
	       (unsigned long long)acc_freq.retries, acc_freq.writes);
	printf("| 1 | error bound: the page's maximum error minus the host's (smallest), against the largest \\|page - CLOCK_REALTIME\\| above | %s | %llu and %llu pairs with a maximum error (steady, ADJ_FREQUENCY changes) |\n",
	       b1, (unsigned long long)acc_steady.bounded,
	       (unsigned long long)acc_freq.bounded);
	printf("| | **rewrites** (%d s each, 1 VM) | **page writes/s (seq_count)** | **vmclock_updates/s (stat)** |\n",
	       RATE_WINDOW_S);
	print_rate_row("steady state", &steady);
	print_rate_row("one ADJ_FREQUENCY change (2-12 ppm) per second, bench VM idle", &freq);
	print_rate_row("one ADJ_FREQUENCY change (2-12 ppm) per second, one CPU busy", &freq_busy);
	print_rate_row("one ADJ_FREQUENCY change (100 ppb) per second, one CPU busy", &small);
	print_rate_row("rewrite on every notifier call (vmclock_max_error_ns=0), one CPU busy",
		       &naive);

	printf("| | **guest read** (%d each, TSC cycles) | **min / median cycles; net median (minus empty), ratio** | **guest instructions (single-stepped)** |\n",
	       BENCH_NR_ITER);
	for (i = 0; i < NR_OPS; i++) {
		s64 net = (s64)g.cost[i].median - g.cost[OP_EMPTY].median;
		s64 vnet = (s64)g.cost[OP_VMCLOCK].median -
			   g.cost[OP_EMPTY].median;

		fmt_insns(b1, sizeof(b1), g.cost[i].insns,
			  i == OP_EMPTY ? 0 : g.cost[OP_VMCLOCK].insns);
		if (i == OP_EMPTY)
			snprintf(b2, sizeof(b2), "-");
		else if (vnet > 0)
			snprintf(b2, sizeof(b2), "net %lld (%.0f ns), %.1fx vmclock",
				 (long long)net, net * 1000 / tsc_mhz,
				 (double)net / vnet);
		else
			snprintf(b2, sizeof(b2), "net %lld", (long long)net);
		printf("| 3 | %s | %u / %u; %s | %s |\n", op_names[i],
		       g.cost[i].min, g.cost[i].median, b2, b1);
	}
	printf("| 3 | PMU instruction counts | %s | TSC cycles per dependent add: %.2f (1 on hardware; best of %d x %d) |\n",
	       pmu ? "kvm.enable_pmu=Y, not used" : "n/a (no PMU under TCG: kvm.enable_pmu=N)",
	       g.cal_cycles, CAL_RUNS, CAL_ITERS);

	printf("| | **deferred work** (clock step to every page rewritten, %d passes) | **per pass: median (min)** | **per VM (median)** |\n",
	       PASSES);
	for (i = 0; i < ARRAY_SIZE(nr_vms); i++)
		printf("| 4 | %d VM%s (created in %llu ms, %ld kB, %d usable) | %.1f us (%.1f us) | %.2f us |\n",
		       pc[i].nr_vms, pc[i].nr_vms > 1 ? "s" : "",
		       (unsigned long long)pc[i].create_ms, pc[i].mem_kb,
		       pc[i].usable, pc[i].median_ns / 1000.0,
		       pc[i].min_ns / 1000.0,
		       pc[i].median_ns / 1000.0 / pc[i].nr_vms);
	printf("\nclock pairing hypercall returned %ld; bench ran %llu s\n",
	       (long)g.pairing_ret,
	       (unsigned long long)((vmclock_now_ns() - t_start) / NSEC_PER_SEC));
	return 0;
}
