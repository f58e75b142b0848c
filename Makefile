# KVM vmclock provider: a patch series for Linux 7.3, with its test bench.
# See README.md. Every target runs from a fresh clone; build output goes to build/.

SHELL := /bin/bash
BENCH := bench
BUILD ?= $(CURDIR)/build
export BUILD

.PHONY: all demo bench series series-check check check-debug tree deps guard clean help qemu

all: help

help:
	@echo "make check        build the patched kernel, boot it under QEMU, run KUnit and KVM selftests"
	@echo "make check-debug  the same on the debug kernel (lockdep, KASAN, UBSAN, DEBUG_ATOMIC_SLEEP...)"
	@echo "make demo         boot the bench and show a guest reading UTC from its KVM-filled vmclock page"
	@echo "make bench        boot the bench and print the vmclock benchmark table (accuracy, rewrites, read cost, work)"
	@echo "make series       the series as git format-patch files with a cover letter, in build/series"
	@echo "make series-check checkpatch, git am on the base, kernel-doc, per-patch builds, W=1, sparse"
	@echo "make tree         only make the patched tree in build/linux"
	@echo "make qemu         build the patched QEMU of qemu/ (cached in /var/cache/kvm-vmclock/qemu-build)"
	@echo "make clean        remove build/ (the ccache outside the clone is kept)"

deps:
	@$(BENCH)/deps.sh

# The companion QEMU series, built from Debian's QEMU 10.0.2 source; prints the binary.
qemu: deps
	@$(BENCH)/qemu-build.sh

guard:
	@$(BENCH)/guard.sh

tree: deps
	@$(BENCH)/tree.sh

# One verdict each; the VM's log stays in build/check-VARIANT.log
check: tree
	@$(BENCH)/check.sh fast

check-debug: tree
	@$(BENCH)/check.sh debug

# The feature at work: a demo VMM in the bench VM prints guest and host UTC.
# (demo.sh makes the tree itself, while the patched QEMU builds.)
demo: deps
	@$(BENCH)/demo.sh

# The benchmark (issue 5): one table, every figure measured in the same bench VM run.
bench: tree
	@$(BENCH)/bench.sh

# A mailing-list-ready series in build/series, and its checks (FULL=0: checkpatch,
# git am and kernel-doc only; the default adds per-patch builds, W=1, sparse, uAPI test).
series: tree
	@$(BENCH)/series.sh

series-check: series
	@$(BENCH)/series-check.sh

clean:
	rm -rf $(BUILD)
