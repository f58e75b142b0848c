#!/usr/bin/env bash
# Boot the bench VM (the patched kernel under QEMU TCG with nested SVM) and run the tests.
# Usage: bench/boot.sh VARIANT LOG. The verdict is bench/verdict.py's, on LOG.
# INITRD: another initramfs (series-check's KUnit-only one); KUNIT_GLOB, APPEND: see below.
. "$(dirname "$0")/lib.sh"
variant=${1:-fast} logf=${2:-$BUILD/check-$variant.log}
kernel=$BUILD/kbuild-$variant/arch/x86/boot/bzImage
[ "$variant" != demo ] || kernel=$BUILD/kbuild-demo/vmlinuz   # Debian's (bench/demo-kernel.sh)
# TCG with KASAN and lockdep is slow: give the debug kernel more time.
limit=${BOOT_TIMEOUT:-$([ "$variant" = debug ] && echo 2400 || echo 900)}
# kvm.tsc_tolerance_ppm: built-in KVM takes its default guest TSC rate from the early TSC
# calibration, which TCG's PIT makes imprecise; when the refined rate differs by more
# than KVM's 250 ppm, every VM gets TSC catch-up (or no valid ratio), although the guest
# TSC really is the host's. The bench widens the tolerance so that VMs run unscaled.
append="console=ttyS0 panic=-1 tsc=reliable oops=panic kvm.tsc_tolerance_ppm=5000 kunit.filter_glob=${KUNIT_GLOB:-*} ${APPEND:-}"
# The end-to-end test's knobs (bench/e2e/vmclock_e2e.c): E2E_BREAK=tsc|counters|notify
# turns a feature of the patched QEMU off; E2E_PINGPONG=N migrations; E2E_PAUSE=S seconds;
# E2E_ONLY=leap: the end-to-end test's leap second run alone.
[ -z "${E2E_BREAK:-}" ] || append+=" e2e.break=$E2E_BREAK"
[ -z "${E2E_PINGPONG:-}" ] || append+=" e2e.pingpong=$E2E_PINGPONG"
[ -z "${E2E_PAUSE:-}" ] || append+=" e2e.pause=$E2E_PAUSE"
[ -z "${E2E_ONLY:-}" ] || append+=" e2e.only=$E2E_ONLY"
log "booting $variant kernel (timeout ${limit}s), log in $logf"
start=$(date +%s)
# The debug kernel (KASAN) runs without LA57: upstream 7.3.4's identify_cpu() clears
# boot_cpu_data's feature bits with interrupts on, and until they are read again
# pgtable_l5_enabled() is false, so KASAN takes the 5-level direct map (0xff11...) for
# memory without shadow: an interrupt in that window (its irq-off tracepoint reads per-CPU
# data in rcu_is_watching()) gets a false "KASAN: wild-memory-access", after which lockdep
# is off (1 debug boot in 9 here; CI on 2026-12-02). With 4-level paging both answers of
# pgtable_l5_enabled() give the same shadow range. The fast kernel keeps -cpu max's LA57.
cpu=max
[ "$variant" != debug ] || cpu=max,la57=off
timeout --foreground -k 10 "$limit" qemu-system-x86_64 -accel tcg -cpu "$cpu" -smp 2 -m 2048 \
	-nographic -no-reboot -kernel "$kernel" -initrd "${INITRD:-$BUILD/initrd.gz}" \
	-append "$append" </dev/null >"$logf" 2>&1 || echo "BENCH: qemu exit status $?" >>"$logf"
log "VM ran $(( $(date +%s) - start ))s"
