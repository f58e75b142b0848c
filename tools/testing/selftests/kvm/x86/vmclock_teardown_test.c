// SPDX-License-Identifier: GPL-2.0-only
/*
 * The vmclock page under memory changes and teardown: KVM must rewrite the
 * page by itself when its memslot is deleted and re-created, moved, or its
 * host mapping replaced, before the guest reads it; and VMs torn down with
 * an active page, in every order of closing the VM, the vCPU and the
 * memory, on process exit, and under racing KVM_SET_VMCLOCK and memslot
 * changes, must leave no splat.
 *
 * Invalidations that change nothing must cost the guest nothing.
 *
 * destroy_under_invalidation: the last reference to a VM goes away while
 * other threads munmap, mprotect and MADV_DONTNEED the page's memory
 * (MMU notifier invalidations of the page), thousands of times.  Nothing
 * may run on the VM after its vmclock is torn down: an invalidation that
 * queued KVM's work after the teardown cancelled it would run it on a
 * freed VM (a KASAN report on a debug kernel).
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

#define VMCLOCK_MOVED_GPA	0xc0200000ULL
#define RACE_DURATION_NS		(2 * NSEC_PER_SEC)
#define RACE_ROUND_NS			(200 * 1000 * 1000LL)
#define NR_DESTROY_VMS			100
#define NR_EXIT_VMS			10
#define NR_INVAL_VMS			3000
#define INVAL_DURATION_NS		(40 * NSEC_PER_SEC)
#define NR_INVAL_THREADS		3
#define NR_QUIET_ROUNDS			1000

static int __vmclock_set(struct kvm_vm *vm, u32 mode, u64 gpa)
{
	struct kvm_vmclock vc = { .mode = mode, .gpa = gpa };

	return __vm_ioctl(vm, KVM_SET_VMCLOCK, &vc);
}

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

/*
 * The page's memory goes away, moves or is replaced under KVM: KVM must
 * write the page again by itself, with nothing else happening (no ioctl,
 * no TSC change, a quiet host), before the guest reads it.  The guest's
 * first reading after the change must be right, and so must the page as
 * the host sees it.
 */
static void assert_repaired(struct vmclock_vm *v, struct vmclock_abi *page,
			    const struct tsc_xform *x, const char *what)
{
	struct vmclock_guest_sample s;

	v->page = page;
	vmclock_guest_sample(v->vcpu[0], &s);
	TEST_ASSERT(vmclock_guest_sample_ok(&s),
		    "%s: the guest's first reading: status %u, time %lu, host window [%llu, %llu]",
		    what, s.status, (unsigned long)s.ns, s.before.realtime,
		    s.after.realtime);
	vmclock_wait_accurate(v->vm, page, x, -1, what);
}

TEST_F(vmclock, memslot_delete)
{
	struct vmclock_vm *v = &self->v;
	struct tsc_xform x;
	int kmsg = vmclock_kmsg_open();

	vmclock_vm_enable(v, &x);

	vm_mem_region_delete(v->vm, VMCLOCK_SLOT);
	v->page = NULL;
	v->alt = NULL;
	usleep(50 * 1000);
	vmclock_assert_state(v->vm, KVM_VMCLOCK_MODE_AUTO, VMCLOCK_GPA);
	TEST_ASSERT(__vmclock_set(v->vm, KVM_VMCLOCK_MODE_AUTO, VMCLOCK_ALT_GPA) == -1 &&
		    errno == EFAULT, "SET AUTO at a deleted GPA: errno %d", errno);

	/* The old GPA again, with fresh (zero) memory: no SET. */
	vm_userspace_mem_region_add(v->vm, VM_MEM_SRC_ANONYMOUS, VMCLOCK_GPA,
				    VMCLOCK_SLOT, VMCLOCK_NPAGES, 0);
	assert_repaired(v, addr_gpa2hva(v->vm, VMCLOCK_GPA), &x,
			"re-added slot");

	/* Delete it once more, then turn the clock off. */
	vm_mem_region_delete(v->vm, VMCLOCK_SLOT);
	v->page = NULL;
	usleep(50 * 1000);
	vmclock_set(v->vm, KVM_VMCLOCK_MODE_OFF, 0);
	vmclock_assert_state(v->vm, KVM_VMCLOCK_MODE_OFF, 0);
	vmclock_kmsg_assert_clean(kmsg);
}

TEST_F(vmclock, memslot_move)
{
	struct vmclock_vm *v = &self->v;
	struct tsc_xform x;
	int kmsg = vmclock_kmsg_open();

	vmclock_vm_enable(v, &x);

	/*
	 * Away: the memory is guest RAM at another address, which the guest
	 * (here: the host) may overwrite; back: KVM must write the page again.
	 */
	vm_mem_region_move(v->vm, VMCLOCK_SLOT, VMCLOCK_MOVED_GPA);
	usleep(50 * 1000);
	memset(v->page, 0, VMCLOCK_PAGE_SIZE);
	vmclock_assert_state(v->vm, KVM_VMCLOCK_MODE_AUTO, VMCLOCK_GPA);

	vm_mem_region_move(v->vm, VMCLOCK_SLOT, VMCLOCK_GPA);
	assert_repaired(v, v->page, &x, "moved back");
	vmclock_kmsg_assert_clean(kmsg);
}

TEST_F(vmclock, hva_remap)
{
	struct vmclock_vm *v = &self->v;
	int kmsg = vmclock_kmsg_open();
	struct tsc_xform x;
	int zero_fd;
	void *m;

	vmclock_vm_enable(v, &x);

	/* Replace the host page under KVM (MMU notifier invalidation). */
	zero_fd = open("/dev/zero", O_RDONLY);
	TEST_ASSERT(zero_fd >= 0, "open /dev/zero");
	m = mmap(v->page, VMCLOCK_PAGE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_FIXED | MAP_PRIVATE, zero_fd, 0);
	TEST_ASSERT(m == v->page, "mmap /dev/zero over the page");
	close(zero_fd);

	assert_repaired(v, v->page, &x, "remapped");
	vmclock_kmsg_assert_clean(kmsg);
}

/*
 * Invalidations that change neither the page's memory nor what it says:
 * dirty logging turned on and off in its memslot, as at the start and end
 * of every migration, and mprotect round trips of its host mapping.  The
 * guest, which reads the page between them, must see nothing: no seq_count
 * step, no eventfd signal, no write.
 */
TEST_F(vmclock, quiet_invalidations)
{
	struct vmclock_vm *v = &self->v;
	int efd = eventfd(0, EFD_NONBLOCK), kmsg = vmclock_kmsg_open();
	struct vmclock_guest_sample s;
	struct vmclock_abi h;
	u64 updates;
	u32 seq;
	int i;

	TEST_ASSERT(efd >= 0, "eventfd");
	vmclock_user_clock_now(v->vm, &h);
	vmclock_user_set(v->vm, KVM_VMCLOCK_FLAG_EVENTFD, efd, &h);
	vmclock_guest_sample(v->vcpu[0], &s);
	usleep(50 * 1000);
	vmclock_efd_read(efd);
	seq = READ_ONCE(v->page->seq_count);
	updates = vmclock_updates(v->vm);

	for (i = 0; i < NR_QUIET_ROUNDS; i++) {
		vm_mem_region_set_flags(v->vm, VMCLOCK_SLOT,
					KVM_MEM_LOG_DIRTY_PAGES);
		vm_mem_region_set_flags(v->vm, VMCLOCK_SLOT, 0);
		TEST_ASSERT(!mprotect(v->page, VMCLOCK_PAGE_SIZE, PROT_READ) &&
			    !mprotect(v->page, VMCLOCK_PAGE_SIZE,
				      PROT_READ | PROT_WRITE), "mprotect");
		if (!(i % 100))
			vmclock_guest_sample(v->vcpu[0], &s);
	}
	vmclock_guest_sample(v->vcpu[0], &s);
	usleep(50 * 1000);

	TEST_ASSERT(vmclock_status_reliable(s.status),
		    "the guest's last reading: status %u", s.status);
	TEST_ASSERT(READ_ONCE(v->page->seq_count) == seq &&
		    vmclock_updates(v->vm) == updates && !vmclock_efd_read(efd),
		    "%d dirty-log toggles and mprotect round trips: seq_count %u -> %u, %lu writes",
		    NR_QUIET_ROUNDS, seq, READ_ONCE(v->page->seq_count),
		    (unsigned long)(vmclock_updates(v->vm) - updates));
	vmclock_kmsg_assert_clean(kmsg);
	close(efd);
}

/* For tests that need more than the default 30 s on a debug kernel */
FIXTURE(slow) {};

FIXTURE_SETUP(slow) {}

FIXTURE_TEARDOWN(slow) {}

/*
 * A VM with the page active (AUTO) at VMCLOCK_GPA in a fresh anonymous
 * page, and a vCPU if @vcpu_fd is not NULL, with raw ioctls so that the
 * fds and the memory can be released in any order.
 */
static int raw_vm_active(int kvm_fd, struct vmclock_abi **mem, int *vcpu_fd)
{
	struct kvm_userspace_memory_region region = {
		.guest_phys_addr = VMCLOCK_GPA,
		.memory_size = VMCLOCK_PAGE_SIZE,
	};
	struct kvm_vmclock vc = {
		.mode = KVM_VMCLOCK_MODE_AUTO,
		.gpa = VMCLOCK_GPA,
	};
	int vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);

	TEST_ASSERT(vm_fd >= 0, "KVM_CREATE_VM, errno %d", errno);
	*mem = mmap(NULL, VMCLOCK_PAGE_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(*mem != MAP_FAILED, "mmap");
	region.userspace_addr = (unsigned long)*mem;
	TEST_ASSERT(!ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region),
		    "KVM_SET_USER_MEMORY_REGION, errno %d", errno);
	if (vcpu_fd) {
		*vcpu_fd = ioctl(vm_fd, KVM_CREATE_VCPU, 0);
		TEST_ASSERT(*vcpu_fd >= 0, "KVM_CREATE_VCPU, errno %d", errno);
	}
	TEST_ASSERT(!ioctl(vm_fd, KVM_SET_VMCLOCK, &vc),
		    "KVM_SET_VMCLOCK, errno %d", errno);
	return vm_fd;
}

/*
 * NR_DESTROY_VMS VMs torn down with the page active, in every order of
 * closing the VM, the vCPU and unmapping the memory (raw ioctls so that fds
 * and memory can be released in any order).  Tens of seconds on a KASAN
 * kernel under TCG on a loaded machine.
 */
TEST_F_TIMEOUT(slow, destroy_active, 180)
{
	int kvm_fd = open_kvm_dev_path_or_exit();
	int kmsg = vmclock_kmsg_open();
	int i, vm_fd, vcpu_fd, order;
	struct vmclock_abi *mem;
	u64 start = vmclock_now_ns();

	for (i = 0; i < NR_DESTROY_VMS; i++) {
		order = i % 4;
		vcpu_fd = -1;
		vm_fd = raw_vm_active(kvm_fd, &mem, order != 3 ? &vcpu_fd : NULL);
		TEST_ASSERT(mem->magic == VMCLOCK_MAGIC, "magic 0x%x", mem->magic);
		if (order == 3)
			TEST_ASSERT(mem->clock_status == VMCLOCK_STATUS_UNRELIABLE,
				    "no vCPU, clock_status %u", mem->clock_status);

		switch (order) {
		case 0:		/* VM fd, vCPU fd (destroys), memory */
			close(vm_fd);
			close(vcpu_fd);
			munmap(mem, VMCLOCK_PAGE_SIZE);
			break;
		case 1:		/* vCPU, memory under the live page, VM */
			close(vcpu_fd);
			munmap(mem, VMCLOCK_PAGE_SIZE);
			usleep(1000);
			close(vm_fd);
			break;
		case 2:		/* memory, VM fd, vCPU fd */
			munmap(mem, VMCLOCK_PAGE_SIZE);
			close(vm_fd);
			usleep(1000);
			close(vcpu_fd);
			break;
		default:	/* no vCPU */
			close(vm_fd);
			munmap(mem, VMCLOCK_PAGE_SIZE);
			break;
		}
	}
	close(kvm_fd);
	ksft_print_msg("%d VMs destroyed with an active page in %lu ms\n",
		       NR_DESTROY_VMS, (unsigned long)((vmclock_now_ns() - start) / 1000000));
	vmclock_kmsg_assert_clean(kmsg);
}

/* The VM goes away at process exit / SIGKILL with the page active. */
TEST(destroy_on_exit)
{
	int kmsg = vmclock_kmsg_open();
	struct vmclock_vm v;
	struct kvm_vmclock vc;
	int i, status;
	pid_t pid;

	for (i = 0; i < NR_EXIT_VMS; i++) {
		pid = fork();
		TEST_ASSERT(pid >= 0, "fork");
		if (!pid) {
			vmclock_vm_create(&v, 1);
			vmclock_set(v.vm, KVM_VMCLOCK_MODE_AUTO, VMCLOCK_GPA);
			if (i & 1)
				_exit(0);
			for (;;)
				vmclock_get(v.vm, &vc);
		}
		if (!(i & 1)) {
			usleep(200 * 1000 + i * 5000);
			kill(pid, SIGKILL);
		}
		TEST_ASSERT(waitpid(pid, &status, 0) == pid, "waitpid");
		TEST_ASSERT((WIFEXITED(status) && !WEXITSTATUS(status)) ||
			    (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL),
			    "child status 0x%x", status);
	}
	vmclock_kmsg_assert_clean(kmsg);
}

struct race_args {
	int vm_fd;
	bool stop;
	u64 nr_ok;
	u64 nr_efault;
};

static void *race_vmclock_ioctls(void *arg)
{
	struct race_args *ra = arg;
	static const u64 gpas[] = { VMCLOCK_GPA, VMCLOCK_ALT_GPA };
	struct kvm_vmclock vc;
	int i = 0, r;

	while (!__atomic_load_n(&ra->stop, __ATOMIC_ACQUIRE)) {
		memset(&vc, 0, sizeof(vc));
		vc.mode = KVM_VMCLOCK_MODE_AUTO;
		vc.gpa = gpas[i++ & 1];
		r = ioctl(ra->vm_fd, KVM_SET_VMCLOCK, &vc);
		TEST_ASSERT(!r || errno == EFAULT,
			    "racing SET AUTO: %d errno %d", r, errno);
		if (r)
			ra->nr_efault++;
		else
			ra->nr_ok++;
		memset(&vc, 0, sizeof(vc));
		r = ioctl(ra->vm_fd, KVM_GET_VMCLOCK, &vc);
		TEST_ASSERT(!r, "racing GET: errno %d", errno);
		if (!(i & 7)) {
			memset(&vc, 0, sizeof(vc));
			r = ioctl(ra->vm_fd, KVM_SET_VMCLOCK, &vc);
			TEST_ASSERT(!r, "racing SET OFF: errno %d", errno);
		}
	}
	return NULL;
}

TEST(race_teardown)
{
	u64 start = vmclock_now_ns(), round_start, nr_rounds = 0, nr_juggles = 0;
	struct race_args ra = {};
	int kmsg = vmclock_kmsg_open();
	struct vmclock_vm v;
	pthread_t thread;
	u64 offset;

	while (vmclock_now_ns() - start < RACE_DURATION_NS) {
		vmclock_vm_create(&v, 1);
		vmclock_set(v.vm, KVM_VMCLOCK_MODE_AUTO, VMCLOCK_GPA);
		vcpu_device_attr_get(v.vcpu[0], KVM_VCPU_TSC_CTRL,
				     KVM_VCPU_TSC_OFFSET, &offset);

		ra.vm_fd = dup(v.vm->fd);
		TEST_ASSERT(ra.vm_fd >= 0, "dup");
		__atomic_store_n(&ra.stop, false, __ATOMIC_RELEASE);
		kvm_pthread_create(&thread, NULL, race_vmclock_ioctls, &ra);

		round_start = vmclock_now_ns();
		while (vmclock_now_ns() - round_start < RACE_ROUND_NS &&
		       vmclock_now_ns() - start < RACE_DURATION_NS) {
			vm_mem_region_delete(v.vm, VMCLOCK_SLOT);
			vmclock_set_tsc_offset(v.vcpu[0], offset + (nr_juggles & 1));
			vm_userspace_mem_region_add(v.vm, VM_MEM_SRC_ANONYMOUS,
						    VMCLOCK_GPA, VMCLOCK_SLOT,
						    VMCLOCK_NPAGES, 0);
			vm_mem_region_move(v.vm, VMCLOCK_SLOT, VMCLOCK_MOVED_GPA);
			vmclock_kvmclock_refresh(v.vm);
			vm_mem_region_move(v.vm, VMCLOCK_SLOT, VMCLOCK_GPA);
			nr_juggles++;
		}

		/*
		 * Tear down vCPUs, memory and the VM fd under the racing
		 * thread; the VM itself dies when the thread's dup is closed,
		 * with the page possibly active.
		 */
		kvm_vm_free(v.vm);
		usleep(5 * 1000);
		__atomic_store_n(&ra.stop, true, __ATOMIC_RELEASE);
		pthread_join(thread, NULL);
		close(ra.vm_fd);
		nr_rounds++;
	}

	ksft_print_msg("%lu rounds, %lu memslot juggles, %lu SET ok, %lu SET -EFAULT\n",
		       (unsigned long)nr_rounds, (unsigned long)nr_juggles,
		       (unsigned long)ra.nr_ok, (unsigned long)ra.nr_efault);
	vmclock_kmsg_assert_clean(kmsg);
}

/*
 * The threads of destroy_under_invalidation: each one changes the host
 * mapping of the current VM's page in its own way (an MMU notifier
 * invalidation of it) until the round ends.  The page's address stays
 * reserved for the test: munmap() is followed by mmap(MAP_FIXED_NOREPLACE).
 */
struct inval_args {
	pthread_barrier_t start, end;
	void *mem;
	int op;
	bool stop, done;
	u64 nr_ops;
};

static void *inval_thread(void *arg)
{
	struct inval_args *ia = arg;
	void *m;

	for (;;) {
		pthread_barrier_wait(&ia->start);
		if (__atomic_load_n(&ia->done, __ATOMIC_ACQUIRE))
			return NULL;
		while (!__atomic_load_n(&ia->stop, __ATOMIC_ACQUIRE)) {
			switch (ia->op) {
			case 0:
				mprotect(ia->mem, VMCLOCK_PAGE_SIZE, PROT_READ);
				mprotect(ia->mem, VMCLOCK_PAGE_SIZE,
					 PROT_READ | PROT_WRITE);
				break;
			case 1:
				madvise(ia->mem, VMCLOCK_PAGE_SIZE, MADV_DONTNEED);
				break;
			default:
				munmap(ia->mem, VMCLOCK_PAGE_SIZE);
				m = mmap(ia->mem, VMCLOCK_PAGE_SIZE,
					 PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS |
					 MAP_FIXED_NOREPLACE, -1, 0);
				TEST_ASSERT(m == ia->mem, "mmap the page again");
				break;
			}
			__atomic_fetch_add(&ia->nr_ops, 1, __ATOMIC_RELAXED);
		}
		pthread_barrier_wait(&ia->end);
	}
}

TEST_F_TIMEOUT(slow, destroy_under_invalidation, 300)
{
	struct inval_args ia[NR_INVAL_THREADS];
	pthread_t threads[NR_INVAL_THREADS];
	int kvm_fd = open_kvm_dev_path_or_exit();
	int kmsg = vmclock_kmsg_open();
	u64 start = vmclock_now_ns(), nr_ops = 0;
	struct vmclock_abi *mem;
	int i, t, vm_fd, vcpu_fd;

	for (t = 0; t < NR_INVAL_THREADS; t++) {
		memset(&ia[t], 0, sizeof(ia[t]));
		ia[t].op = t;
		pthread_barrier_init(&ia[t].start, NULL, 2);
		pthread_barrier_init(&ia[t].end, NULL, 2);
		kvm_pthread_create(&threads[t], NULL, inval_thread, &ia[t]);
	}

	for (i = 0; i < NR_INVAL_VMS &&
	     vmclock_now_ns() - start < INVAL_DURATION_NS; i++) {
		vcpu_fd = -1;
		vm_fd = raw_vm_active(kvm_fd, &mem, i & 1 ? &vcpu_fd : NULL);

		/* The threads change the page's mapping; the VM goes away. */
		for (t = 0; t < NR_INVAL_THREADS; t++) {
			ia[t].mem = mem;
			__atomic_store_n(&ia[t].stop, false, __ATOMIC_RELEASE);
			pthread_barrier_wait(&ia[t].start);
		}
		usleep(i % 7 * 100);
		if (vcpu_fd >= 0)
			close(vcpu_fd);
		close(vm_fd);
		for (t = 0; t < NR_INVAL_THREADS; t++) {
			__atomic_store_n(&ia[t].stop, true, __ATOMIC_RELEASE);
			pthread_barrier_wait(&ia[t].end);
		}
		munmap(mem, VMCLOCK_PAGE_SIZE);
	}

	for (t = 0; t < NR_INVAL_THREADS; t++) {
		__atomic_store_n(&ia[t].done, true, __ATOMIC_RELEASE);
		pthread_barrier_wait(&ia[t].start);
		pthread_join(threads[t], NULL);
		nr_ops += ia[t].nr_ops;
	}
	close(kvm_fd);
	ksft_print_msg("%d VMs destroyed under %lu changes of the page's mapping in %lu ms\n",
		       i, (unsigned long)nr_ops,
		       (unsigned long)((vmclock_now_ns() - start) / 1000000));
	vmclock_kmsg_assert_clean(kmsg);
}

int main(int argc, char *argv[])
{
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_VMCLOCK));
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_ADJUST_CLOCK) & KVM_CLOCK_REALTIME);
	TEST_REQUIRE(sys_clocksource_is_based_on_tsc());

	return test_harness_run(argc, argv);
}
