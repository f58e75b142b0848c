// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmclock_shim: an LD_PRELOAD library that makes an unmodified QEMU call
 * KVM_SET_VMCLOCK.  Test tooling, a stand-in until VMMs adopt the ioctl;
 * not part of the series.
 *
 * QEMU's "-device vmclock" (hw/acpi/vmclock.c) gives the guest one page of
 * RAM at a fixed guest physical address, describes it in an SSDT (_HID
 * AMZNC10C, _CRS) and an e820 reserved entry, and writes its header (magic,
 * size, version, counter_id INVALID, disruption_marker + 1) when the device
 * is realized and again after an incoming migration (post_load).  At
 * machine reset it only maps the page into guest memory (which makes its
 * KVM memslot).  It does not know KVM_SET_VMCLOCK.
 *
 * This library watches QEMU's ioctl() calls:
 *  - KVM_CREATE_VM on /dev/kvm: the VM file descriptor;
 *  - KVM_SET_USER_MEMORY_REGION(2): the memslots of address space 0, with
 *    the QEMU address of their memory;
 *  - the first KVM_RUN of any vCPU: by then the device was realized (QEMU
 *    wrote its header) and the machine was reset (the page has its memslot),
 *    and no vCPU has run.  It looks for the one-page memslot whose memory
 *    begins with QEMU's header (VMCLOCK_MAGIC, version 1), and calls
 *    KVM_SET_VMCLOCK (automatic mode) with its guest physical address, so
 *    that KVM's first write comes after QEMU's.  Other vCPUs' first KVM_RUN
 *    waits for it (pthread_once).
 *
 * It reports what it did on one line to the file named by VMCLOCK_SHIM_LOG
 * (stderr otherwise).  VMCLOCK_SHIM=off finds the page but does not call
 * KVM_SET_VMCLOCK (the end-to-end test's control run).
 *
 * For the test's timing only: with VMCLOCK_SHIM_IO_FD=N, each byte OUT of
 * the guest to port VMCLOCK_SHIM_IO_PORT that makes KVM_RUN return is written
 * to file descriptor N as a struct shim_io_stamp with the host's
 * CLOCK_REALTIME read right then: the vCPU does not run again before it, so
 * two such OUTs bracket whatever the guest did in between.  (QEMU then
 * handles the OUT as usual: nothing is at that port.)
 *
 * The VMM's migration and snapshot signals, on request: with
 * VMCLOCK_SHIM_CTL_FD=N (one end of an AF_UNIX SOCK_SEQPACKET socketpair,
 * inherited like the timing fd), a thread started at the first KVM_RUN
 * reads one command per message and answers with one line, while the
 * guest runs:
 *   "get"                       KVM_GET_VMCLOCK only
 *   "bump disruption"           KVM_SET_VMCLOCK with KVM_VMCLOCK_FLAG_BUMP_DISRUPTION
 *   "bump generation"           ... with KVM_VMCLOCK_FLAG_BUMP_VM_GENERATION
 *   "bump disruption generation" both (a snapshot restore, per api.rst)
 * Each KVM_SET_VMCLOCK repeats the configuration of the first call
 * (automatic mode, the same address, page flag VM_GEN_COUNTER_PRESENT, no
 * eventfd), as a VMM does on a migration's destination or after a restore.
 * The answer: "ok set T0 T1 before K after K" (T0, T1: the host's
 * CLOCK_REALTIME in ns just before and after the ioctl; K: "marker M gen G
 * seq S flags 0xF status X" from KVM_GET_VMCLOCK), or "error ...".  Not a
 * signal: QEMU uses SIGUSR1 for its own vCPU kicks.  A real VMM would do
 * this in its migration and snapshot code instead.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <linux/kvm.h>
#include <linux/vmclock-abi.h>

#define SHIM_MAX_SLOTS	64
#define SHIM_MAX_VCPUS	8
#define VMCLOCK_SHIM_IO_PORT	0x4f0
/* The page flags this VMM sets: it bumps the generation on every restore. */
#define SHIM_PAGE_FLAGS		VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT

struct shim_io_stamp {
	uint64_t value;		/* what the guest wrote */
	uint64_t realtime_ns;	/* the host's CLOCK_REALTIME at the exit */
};

struct shim_slot {
	uint32_t slot;
	uint64_t gpa;
	uint64_t size;
	uint64_t hva;
};

static int (*real_ioctl)(int fd, unsigned long req, ...);
static void *(*real_mmap)(void *addr, size_t len, int prot, int flags, int fd,
			  off_t off);
static int shim_vm_fd = -1;
static int shim_io_fd = -2;		/* -2: not looked up yet */
static uint64_t shim_gpa;		/* the page's address once KVM has it */
static const struct vmclock_abi *shim_page;	/* QEMU's mapping of it */
static struct {
	bool used;
	int fd;
	struct kvm_run *run;
} shim_vcpus[SHIM_MAX_VCPUS];
static struct shim_slot shim_slots[SHIM_MAX_SLOTS];
static pthread_mutex_t shim_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t shim_once = PTHREAD_ONCE_INIT;

static void shim_report(const char *fmt, ...)
{
	const char *path = getenv("VMCLOCK_SHIM_LOG");
	char buf[512];
	va_list ap;
	int fd, n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	fd = path ? open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : 2;
	if (fd < 0)
		return;
	if (write(fd, buf, n) < 0)
		n = 0;
	if (fd != 2)
		close(fd);
}

static void shim_track_slot(uint32_t slot, uint64_t gpa, uint64_t size,
			    uint64_t hva)
{
	struct shim_slot *free_slot = NULL;
	int i;

	/* Address space 1 is SMM's view of the same memory. */
	if (slot >> 16)
		return;

	pthread_mutex_lock(&shim_lock);
	for (i = 0; i < SHIM_MAX_SLOTS; i++) {
		struct shim_slot *s = &shim_slots[i];

		if (s->size && s->slot == slot) {
			s->gpa = gpa;
			s->size = size;		/* 0 deletes it */
			s->hva = hva;
			free_slot = NULL;
			goto out;
		}
		if (!s->size && !free_slot)
			free_slot = s;
	}
	if (size && free_slot)
		*free_slot = (struct shim_slot){ slot, gpa, size, hva };
out:
	pthread_mutex_unlock(&shim_lock);
}

/* The memslot that holds QEMU's vmclock page: one page, QEMU's header. */
static int shim_find_page(struct shim_slot *found)
{
	int i, n = 0;

	pthread_mutex_lock(&shim_lock);
	for (i = 0; i < SHIM_MAX_SLOTS; i++) {
		const struct shim_slot *s = &shim_slots[i];
		const struct vmclock_abi *clk = (const void *)(uintptr_t)s->hva;

		if (s->size != 4096 || !s->hva)
			continue;
		if (clk->magic != VMCLOCK_MAGIC || clk->version != 1)
			continue;
		*found = *s;
		n++;
	}
	pthread_mutex_unlock(&shim_lock);
	return n;
}

static void shim_set_vmclock(void)
{
	const char *mode = getenv("VMCLOCK_SHIM");
	struct kvm_vmclock vc = { .mode = KVM_VMCLOCK_MODE_AUTO };
	struct kvm_vmclock got = {};
	struct shim_slot s;
	int n, r, cap;

	if (shim_vm_fd < 0) {
		shim_report("vmclock_shim: no KVM VM file descriptor seen");
		return;
	}
	n = shim_find_page(&s);
	if (n != 1) {
		shim_report("vmclock_shim: %d one-page memslots with QEMU's vmclock header (want 1)",
			    n);
		return;
	}
	if (mode && !strcmp(mode, "off")) {
		shim_report("vmclock_shim: off: QEMU's page at gpa 0x%llx (memslot %u), KVM_SET_VMCLOCK not called",
			    (unsigned long long)s.gpa, s.slot);
		return;
	}

	cap = real_ioctl(shim_vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_VMCLOCK);
	vc.gpa = s.gpa;
	vc.clock_flags = SHIM_PAGE_FLAGS;
	r = real_ioctl(shim_vm_fd, KVM_SET_VMCLOCK, &vc);
	if (r) {
		shim_report("vmclock_shim: KVM_SET_VMCLOCK gpa 0x%llx (memslot %u): error %d (%s), KVM_CAP_VMCLOCK %d",
			    (unsigned long long)s.gpa, s.slot, errno,
			    strerror(errno), cap);
		return;
	}
	shim_gpa = s.gpa;
	shim_page = (const struct vmclock_abi *)(uintptr_t)s.hva;
	r = real_ioctl(shim_vm_fd, KVM_GET_VMCLOCK, &got);
	shim_report("vmclock_shim: KVM_SET_VMCLOCK gpa 0x%llx (memslot %u, found by QEMU's header) at the first KVM_RUN: ok; KVM_GET_VMCLOCK %d: mode %u gpa 0x%llx seq %u marker %llu clock_flags 0x%llx; page: status %u flags 0x%llx tai_offset %d",
		    (unsigned long long)s.gpa, s.slot, r, got.mode,
		    (unsigned long long)got.gpa, got.seq_count,
		    (unsigned long long)got.disruption_marker,
		    (unsigned long long)got.clock_flags,
		    shim_page->clock_status,
		    (unsigned long long)shim_page->flags,
		    (int16_t)shim_page->tai_offset_sec);
}

#define READ_ONCE_U64(x)	(*(const volatile uint64_t *)&(x))
#define READ_ONCE_U8(x)		(*(const volatile uint8_t *)&(x))

static uint64_t shim_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int shim_kvm_view(char *buf, size_t len)
{
	struct kvm_vmclock got = {};

	if (real_ioctl(shim_vm_fd, KVM_GET_VMCLOCK, &got))
		return snprintf(buf, len, "KVM_GET_VMCLOCK error %d", errno);
	return snprintf(buf, len, "marker %llu gen %llu seq %u flags 0x%llx status %u",
			(unsigned long long)got.disruption_marker,
			(unsigned long long)got.vm_generation_counter,
			got.seq_count,
			(unsigned long long)READ_ONCE_U64(shim_page->flags),
			READ_ONCE_U8(shim_page->clock_status));
}

/* One control command (see the top of the file); its answer into @out. */
static void shim_ctl_command(char *cmd, char *out, size_t len)
{
	struct kvm_vmclock vc = {
		.mode = KVM_VMCLOCK_MODE_AUTO,
		.gpa = shim_gpa,
		.clock_flags = SHIM_PAGE_FLAGS,
	};
	char before[160], after[160], *tok, *save;
	uint64_t t0, t1;
	int r;

	tok = strtok_r(cmd, "\n ", &save);
	if (!tok || (strcmp(tok, "get") && strcmp(tok, "bump"))) {
		snprintf(out, len, "error unknown command");
		return;
	}
	if (!shim_gpa) {
		snprintf(out, len, "error KVM_SET_VMCLOCK not in effect");
		return;
	}
	if (!strcmp(tok, "get")) {
		shim_kvm_view(before, sizeof(before));
		snprintf(out, len, "ok %s", before);
		return;
	}
	while ((tok = strtok_r(NULL, "\n ", &save))) {
		if (!strcmp(tok, "disruption")) {
			vc.flags |= KVM_VMCLOCK_FLAG_BUMP_DISRUPTION;
		} else if (!strcmp(tok, "generation")) {
			vc.flags |= KVM_VMCLOCK_FLAG_BUMP_VM_GENERATION;
		} else {
			snprintf(out, len, "error unknown counter %s", tok);
			return;
		}
	}
	shim_kvm_view(before, sizeof(before));
	t0 = shim_realtime_ns();
	r = real_ioctl(shim_vm_fd, KVM_SET_VMCLOCK, &vc);
	t1 = shim_realtime_ns();
	if (r) {
		snprintf(out, len, "error KVM_SET_VMCLOCK flags 0x%x: %d (%s)",
			 vc.flags, errno, strerror(errno));
		return;
	}
	shim_kvm_view(after, sizeof(after));
	snprintf(out, len, "ok set %llu %llu before %s after %s",
		 (unsigned long long)t0, (unsigned long long)t1, before, after);
}

static void *shim_ctl_thread(void *arg)
{
	int fd = (intptr_t)arg;
	char cmd[128], out[512];
	ssize_t n;

	while ((n = read(fd, cmd, sizeof(cmd) - 1)) > 0) {
		cmd[n] = 0;
		shim_ctl_command(cmd, out, sizeof(out));
		if (write(fd, out, strlen(out)) < 0)
			break;
	}
	close(fd);
	return NULL;
}

/* The control thread, with every signal blocked: they are QEMU's. */
static void shim_ctl_start(void)
{
	const char *env = getenv("VMCLOCK_SHIM_CTL_FD");
	sigset_t all, old;
	pthread_t t;
	int fd;

	if (!env)
		return;
	fd = atoi(env);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&t, NULL, shim_ctl_thread, (void *)(intptr_t)fd))
		shim_report("vmclock_shim: no control thread");
	else
		pthread_detach(t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void shim_first_run(void)
{
	shim_set_vmclock();
	shim_ctl_start();
}

/* A vCPU file descriptor (KVM_CREATE_VCPU), and later its struct kvm_run. */
static void shim_vcpu_track(int fd, struct kvm_run *run)
{
	int i;

	pthread_mutex_lock(&shim_lock);
	for (i = 0; i < SHIM_MAX_VCPUS; i++) {
		if (!run && !shim_vcpus[i].used) {
			shim_vcpus[i].used = true;
			shim_vcpus[i].fd = fd;
			shim_vcpus[i].run = NULL;
			break;
		}
		if (run && shim_vcpus[i].used && shim_vcpus[i].fd == fd &&
		    !shim_vcpus[i].run) {
			shim_vcpus[i].run = run;
			break;
		}
	}
	pthread_mutex_unlock(&shim_lock);
}

static struct kvm_run *shim_vcpu_run(int fd)
{
	struct kvm_run *run = NULL;
	int i;

	pthread_mutex_lock(&shim_lock);
	for (i = 0; i < SHIM_MAX_VCPUS; i++)
		if (shim_vcpus[i].used && shim_vcpus[i].fd == fd)
			run = shim_vcpus[i].run;
	pthread_mutex_unlock(&shim_lock);
	return run;
}

static void shim_io_exit(int fd)
{
	struct kvm_run *run = shim_vcpu_run(fd);
	struct shim_io_stamp st;
	struct timespec ts;

	if (!run || run->exit_reason != KVM_EXIT_IO ||
	    run->io.port != VMCLOCK_SHIM_IO_PORT ||
	    run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 1 ||
	    run->io.count != 1)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	st.value = *((uint8_t *)run + run->io.data_offset);
	st.realtime_ns = ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	if (write(shim_io_fd, &st, sizeof(st)) != sizeof(st))
		shim_io_fd = -1;
}

/* The vCPUs' struct kvm_run, for the timing port: offset 0 of a vCPU fd. */
static void *shim_mmap(void *addr, size_t len, int prot, int flags, int fd,
		       off_t off)
{
	void *p;

	if (!real_mmap)
		real_mmap = dlsym(RTLD_NEXT, "mmap");
	p = real_mmap(addr, len, prot, flags, fd, off);
	if (p != MAP_FAILED && fd >= 0 && !off && shim_io_fd >= 0)
		shim_vcpu_track(fd, p);
	return p;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return shim_mmap(addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return shim_mmap(addr, len, prot, flags, fd, off);
}

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;
	int r;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);

	if (!real_ioctl)
		real_ioctl = dlsym(RTLD_NEXT, "ioctl");
	if (shim_io_fd == -2) {
		const char *io = getenv("VMCLOCK_SHIM_IO_FD");

		shim_io_fd = io ? atoi(io) : -1;
	}

	if (req == KVM_RUN)
		pthread_once(&shim_once, shim_first_run);

	r = real_ioctl(fd, req, arg);
	if (r < 0)
		return r;

	switch (req) {
	case KVM_RUN:
		if (shim_io_fd >= 0)
			shim_io_exit(fd);
		break;
	case KVM_CREATE_VCPU:
		shim_vcpu_track(r, NULL);
		break;
	case KVM_CREATE_VM:
		shim_vm_fd = r;
		break;
	case KVM_SET_USER_MEMORY_REGION: {
		const struct kvm_userspace_memory_region *m = arg;

		shim_track_slot(m->slot, m->guest_phys_addr, m->memory_size,
				m->userspace_addr);
		break;
	}
	case KVM_SET_USER_MEMORY_REGION2: {
		const struct kvm_userspace_memory_region2 *m = arg;

		shim_track_slot(m->slot, m->guest_phys_addr, m->memory_size,
				m->userspace_addr);
		break;
	}
	}
	return r;
}
