#!/usr/bin/env bash
# make demo: boot the bench VM and run the demo VMM (bench/demo/vmclock_demo.c), which
# has KVM publish a vmclock page and prints the guest's UTC beside the host's.
. "$(dirname "$0")/lib.sh"
"$TOP/bench/kernel.sh" fast
"$TOP/bench/selftests.sh" fast
"$TOP/bench/initramfs.sh"
APPEND="bench.demo=1 quiet" KUNIT_GLOB=none BOOT_TIMEOUT=600 "$TOP/bench/boot.sh" fast "$BUILD/demo.log"
sed -n '/BENCH: demo start/,/BENCH: demo exit/p' "$BUILD/demo.log" | tr -d '\r'
grep -q "BENCH: demo exit 0" "$BUILD/demo.log"
