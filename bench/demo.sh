#!/usr/bin/env bash
# make demo: boot the bench VM and, in it, the end-to-end test's nested Linux guest under
# QEMU 10 with its ACPI vmclock device, the page filled by KVM; print the guest's PHC
# time beside the host's CLOCK_REALTIME and the offset measured (bench/e2e/vmclock_e2e.c).
. "$(dirname "$0")/lib.sh"
t0=$(date +%s)
"$TOP/bench/kernel.sh" fast
"$TOP/bench/selftests.sh" fast
"$TOP/bench/initramfs.sh" fast
APPEND="bench.demo=1 quiet" KUNIT_GLOB=none BOOT_TIMEOUT=600 "$TOP/bench/boot.sh" fast "$BUILD/demo.log"
sed -n '/BENCH: demo start/,/BENCH: demo exit/p' "$BUILD/demo.log" | tr -d '\r'
echo "demo: $(( $(date +%s) - t0 ))s for kernel, tests and VM; the bench VM's log is $BUILD/demo.log"
grep -q "BENCH: demo exit 0" "$BUILD/demo.log"
