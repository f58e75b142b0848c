#!/usr/bin/env bash
# Issue 26's minimal reproducer: bench/keyflip.sh [VARIANT [FLIPS [RUNS]]]. Boots the VARIANT
# kernel (demo: Debian's own 7.3.4 image, no module loaded; fast, debug, base: as built by
# bench/kernel.sh) under OUTER_QEMU (system: Debian's 7.2; debian10) with only busybox,
# bench/init and bench/keyflip.c, which flips a static key in __schedule() FLIPS (2000)
# times while both CPUs schedule. No KVM, no nested guest. Prints per run how many flips
# were done and any kernel report; logs in build/keyflip-VARIANT-OUTER-N.log.
. "$(dirname "$0")/lib.sh"
variant=${1:-demo} flips=${2:-2000} runs=${3:-1}
if [ "$variant" = demo ]; then
	DEMO_FETCH_ONLY=1 "$TOP/bench/demo-kernel.sh"
else
	[ -f "$BUILD/kbuild-$variant/arch/x86/boot/bzImage" ] || "$TOP/bench/kernel.sh" "$variant"
fi
root=$BUILD/keyflip-root
rm -rf "$root" && mkdir -p "$root"/{bin,proc,sys,dev,tmp}
busybox_root "$root"
init_tools "$root"
pack_cpio "$root" "$BUILD/keyflip-initrd.gz"
bad=0
for i in $(seq 1 "$runs"); do
	logf=$BUILD/keyflip-$variant-${OUTER_QEMU:-system}${OUTER_ACCEL:+-${OUTER_ACCEL//[,=]/-}}${OUTER_SMP:+-smp$OUTER_SMP}-$i.log
	INITRD=$BUILD/keyflip-initrd.gz APPEND="bench.keyflip=$flips ${APPEND:-}" KUNIT_GLOB=none \
		BOOT_TIMEOUT=${BOOT_TIMEOUT:-$(( flips / 2 + 300 ))} "$TOP/bench/boot.sh" "$variant" "$logf" || true
	last=$(grep -ao '^keyflip: [0-9]*/[0-9]* flips after [0-9]* s' "$logf" | tail -n1 || true)
	rep=$(grep -aE 'Oops|BUG:|WARNING:|Kernel panic|LOCKUP|soft lockup|BENCH: FROZEN' "$logf" | head -n3 | tr -d '\r' || true)
	grep -aq '^BENCH: keyflip exit 0' "$logf" && [ -z "$rep" ] || bad=$((bad + 1))
	echo "keyflip run $i ($variant, ${OUTER_QEMU:-system} outer QEMU -accel ${OUTER_ACCEL:-tcg} -smp ${OUTER_SMP:-2}): ${last:-no progress}${rep:+; $rep}"
done
echo "keyflip: $runs runs, $bad failed"
