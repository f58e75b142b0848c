#!/usr/bin/env bash
# Issue 26's loop: bench/stress.sh [VARIANT [RUNS]]. The end-to-end test's E2E_ONLY=stress
# (E2E_LOOP, 100, live migrations and snapshot restores in turn of a nested guest with
# E2E_SMP, 2, vCPUs under ptp_kvm hypercall load) in RUNS (1) boots of the VARIANT
# (fast, debug, base: the tree without the series, or demo: Debian's image with the
# series' KVM modules, as a cold make demo has it) kernel, under OUTER_QEMU (system:
# Debian's 7.2; debian10), with E2E_DEVICE (none, or the device's options, e.g. kvm=off),
# E2E_MIGONLY=1 for live migrations only.
# Prints per run how many were done and whether the VM froze (bench/watchdog.py); logs in
# build/stress-VARIANT-OUTER-GUEST[-DEVICE][-mig]-N.log. Kernels as for make check.
. "$(dirname "$0")/lib.sh"
variant=${1:-fast} runs=${2:-1}
export BENCH_TESTS=x86/vmclock_e2e E2E_ONLY=stress E2E_LOOP=${E2E_LOOP:-100} E2E_SMP=${E2E_SMP:-2}
export E2E_LIMIT=${E2E_LIMIT:-$(( E2E_LOOP * 40 ))} BOOT_TIMEOUT=${BOOT_TIMEOUT:-$(( E2E_LOOP * 40 + 300 ))}
if [ "$variant" = demo ]; then
	"$TOP/bench/demo-kernel.sh"   # Debian's image with the series' KVM modules, as make demo
else
	"$TOP/bench/kernel.sh" "$variant"
fi
[ "$variant" = fast ] || "$TOP/bench/kernel.sh" fast   # the nested guest's, and the headers
"$TOP/bench/selftests.sh" fast
"$TOP/bench/initramfs.sh" "$variant"
frozen=0 done_runs=0
for i in $(seq 1 "$runs"); do
	logf=$BUILD/stress-$variant-${OUTER_QEMU:-system}-${E2E_GUEST:-bench}${E2E_DEVICE:+-${E2E_DEVICE//[=,]/-}}${E2E_MIGONLY:+-mig}-$i.log
	"$TOP/bench/boot.sh" "$variant" "$logf" || true
	res=$(grep -ao '^# ok 1 stress: .*\|^# not ok 1 stress: .*' "$logf" | head -n1 || true)
	fz=$(grep -a '^BENCH: FROZEN' "$logf" || true)
	last=$(grep -ao '^# # \[stress [0-9]*/[0-9]*\] [A-Za-z]* after [0-9]* s' "$logf" | tail -n1 || true)
	echo "stress run $i ($variant, ${OUTER_QEMU:-system} outer QEMU): ${res:-no result}; last step: ${last:-none}${fz:+; $fz}"
	[ -z "$fz" ] || { frozen=$((frozen + 1)); grep -a '^BENCH: frozen: ' "$logf" | grep -v '^BENCH: frozen: [A-Z][A-Z][A-Z]* *=' ; }
	done_runs=$((done_runs + 1))
done
echo "stress: $done_runs runs, $frozen froze"
