#!/usr/bin/env bash
# make demo: boot the bench VM and, in it, the end-to-end test's nested Linux guest under
# QEMU 10 with its ACPI vmclock device, the page filled by KVM; print the guest's PHC
# time beside the host's CLOCK_REALTIME and the offset measured (bench/e2e/vmclock_e2e.c).
# Which kernel: the bench's (build/kbuild-fast) when it is built (after make check);
# otherwise, so that a cold demo compiles no kernel, Debian's own image of the base tree's
# version with the series' KVM built as modules (bench/demo-kernel.sh), also the nested
# guest's kernel. DEMO_KERNEL=bench or DEMO_KERNEL=debian chooses.
. "$(dirname "$0")/lib.sh"
t0=$(date +%s)
kind=${DEMO_KERNEL:-$([ -f "$BUILD/kbuild-fast/arch/x86/boot/bzImage" ] && echo bench || echo debian)}
case $kind in
bench)
	"$TOP/bench/kernel.sh" fast
	"$TOP/bench/selftests.sh" fast
	variant=fast ;;
debian)
	log "demo on Debian's kernel with the series' KVM modules (no bench kernel built; DEMO_KERNEL=bench builds it)"
	"$TOP/bench/demo-kernel.sh"
	SELFTESTS=x86/vmclock_e2e "$TOP/bench/selftests.sh" demo
	variant=demo ;;
*) die "DEMO_KERNEL=$kind: bench or debian" ;;
esac
"$TOP/bench/initramfs.sh" "$variant"
APPEND="bench.demo=1 quiet" KUNIT_GLOB=none BOOT_TIMEOUT=600 "$TOP/bench/boot.sh" "$variant" "$BUILD/demo.log"
sed -n '/BENCH: booted/p;/BENCH: modules/p;/BENCH: demo start/,/BENCH: demo exit/p' "$BUILD/demo.log" | tr -d '\r'
echo "demo: $(( $(date +%s) - t0 ))s for kernel, tests and VM ($kind kernel); the bench VM's log is $BUILD/demo.log"
grep -q "BENCH: demo exit 0" "$BUILD/demo.log"
