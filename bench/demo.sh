#!/usr/bin/env bash
# make demo: boot the bench VM and, in it, the end-to-end test's nested Linux guest under
# the patched QEMU of qemu/ with its ACPI vmclock device, the page filled by KVM; live-
# migrate it to a second QEMU, save it to a file, wait, restore it into a third, and print
# one table: the guest's PHC and system clock against the host's, the disruption marker,
# the generation and the notification latency (bench/e2e/vmclock_e2e.c --demo). The
# details are in the log file.
# Which kernel: the bench's (build/kbuild-fast) when it is built (after make check);
# otherwise, so that a cold demo compiles no kernel, Debian's own image of the base tree's
# version with the series' KVM built as modules (bench/demo-kernel.sh), also the nested
# guest's kernel. DEMO_KERNEL=bench or DEMO_KERNEL=debian chooses.
. "$(dirname "$0")/lib.sh"
t0=$(date +%s)
# The patched QEMU (bench/qemu-build.sh, cached machine-wide) builds meanwhile: cold, it
# is the longest step, and making the patched tree is mostly I/O. bench/e2e.sh waits for it.
mkdir -p "$BUILD"
"$TOP/bench/qemu-build.sh" >"$BUILD/qemu-build.log" 2>&1 &
qemu_pid=$!
"$TOP/bench/tree.sh"
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
wait "$qemu_pid" || { tail -n 20 "$BUILD/qemu-build.log" >&2; die "the patched QEMU did not build"; }
log "patched QEMU: $(tail -n 1 "$BUILD/qemu-build.log")"
"$TOP/bench/initramfs.sh" "$variant"
APPEND="bench.demo=1 quiet" KUNIT_GLOB=none BOOT_TIMEOUT=600 "$TOP/bench/boot.sh" "$variant" "$BUILD/demo.log"
tr -d '\r' <"$BUILD/demo.log" >"$BUILD/demo.txt"
sed -n '/BENCH: booted/p;/BENCH: modules: /p' "$BUILD/demo.txt"
sed -n '/^DEMO TABLE START/,/^DEMO TABLE END/{/^DEMO TABLE/d;p}' "$BUILD/demo.txt"
sed -n '/BENCH: demo start/,/BENCH: demo exit/p' "$BUILD/demo.txt" | grep -E '^not ok ' || true
echo "demo: $(grep -cE '^ok ' "$BUILD/demo.txt") checks ok, $(grep -cE '^not ok ' "$BUILD/demo.txt") not ok; $(( $(date +%s) - t0 ))s for kernel, QEMU, tests and VM ($kind kernel); details in $BUILD/demo.log"
grep -q "BENCH: demo exit 0" "$BUILD/demo.log"
