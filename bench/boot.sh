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
# The end-to-end test's knobs (bench/e2e/vmclock_e2e.c): E2E_BREAK=tsc|counters|notify|reset
# turns a feature of the patched QEMU off (reset: the guest resets itself in the second ping-pong
# migration, as the known fault of docs/bench.md does); E2E_PINGPONG=N migrations; E2E_PAUSE=S seconds;
# E2E_ONLY=leap: the end-to-end test's leap second run alone; E2E_ONLY=caught: its reads caught by the stop.
[ -z "${E2E_BREAK:-}" ] || append+=" e2e.break=$E2E_BREAK"
[ -z "${E2E_PINGPONG:-}" ] || append+=" e2e.pingpong=$E2E_PINGPONG"
[ -z "${E2E_PAUSE:-}" ] || append+=" e2e.pause=$E2E_PAUSE"
[ -z "${E2E_ONLY:-}" ] || append+=" e2e.only=$E2E_ONLY"
# E2E_ONLY=stress: E2E_LOOP (100) migrations and restores in turn, of a nested guest with
# E2E_SMP vCPUs under ptp_kvm hypercall load (issue 26's freeze); E2E_LIMIT: its seconds.
[ -z "${E2E_LOOP:-}" ] || append+=" e2e.loop=$E2E_LOOP"
[ -z "${E2E_SMP:-}" ] || append+=" e2e.smp=$E2E_SMP"
[ -z "${E2E_LIMIT:-}" ] || append+=" e2e.limit=$E2E_LIMIT"
# E2E_DEVICE: the stress loop's device, "none" or its options (e.g. kvm=off);
# E2E_MIGONLY=1: live migrations only.
[ -z "${E2E_DEVICE:-}" ] || append+=" e2e.device=$E2E_DEVICE"
[ -z "${E2E_MIGONLY:-}" ] || append+=" e2e.migonly=$E2E_MIGONLY"
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
# The outer emulator: OUTER_QEMU=system (Debian's bookworm QEMU 7.2) or debian10 (the
# bookworm-backports QEMU 10.0.2 that bench/qemu10.sh unpacks, with its own firmware).
case ${OUTER_QEMU:-system} in
system) outer=(qemu-system-x86_64) ;;
debian10) q10=$("$TOP/bench/qemu10.sh")
	outer=("$q10/usr/bin/qemu-system-x86_64" -L "$q10/usr/share/qemu" -L "$q10/usr/share/seabios") ;;
*) die "OUTER_QEMU=$OUTER_QEMU: system or debian10" ;;
esac
log "outer emulator: $("${outer[0]}" --version | head -n1)"
# The second serial line carries bench/init's heartbeat, the monitor socket the state of
# a frozen VM: bench/watchdog.py stops QEMU after FREEZE_SECS (60) without either line.
# A thread per vCPU (MTTCG): its one known fault here, code that another vCPU has just
# patched run as it was (a static key's int3 after its patch: bench/keyflip.sh), needs
# kernel text patched at run time: the fast kernel never does (no CONFIG_JUMP_LABEL, no
# tracepoints), the debug kernel only while a test turns a tracepoint on (static calls).
# One thread for both (OUTER_ACCEL=tcg,thread=single) breaks 2-vCPU nested guests instead.
# OUTER_SMP: the number of vCPUs. Both for A/B runs (docs/bench.md).
beat=$logf.beat mon=$BUILD/monitor-$variant.sock
rm -f "$beat" "$mon"
# The VM's RAM in a file (tmpfs): after a crash bench/kmsg.py reads from it what the
# kernel logged but the console did not print. QEMU's reset log tells a triple fault.
shm=/dev/shm
[ -d "$shm" ] && [ -w "$shm" ] || shm=$BUILD
for f in "$shm"/bench-ram-*; do   # left by a run that was killed
	[ -e "$f" ] && ! kill -0 "${f##*-}" 2>/dev/null && rm -f "$f"
done
ram=$shm/bench-ram-$variant-$$ qlog=$logf.qemu
rm -f "$qlog"
trap 'rm -f "$ram"' EXIT
rc=0
"$TOP/bench/watchdog.py" "$logf" "$beat" "$mon" "$limit" -- "${outer[@]}" -accel "${OUTER_ACCEL:-tcg}" -cpu "$cpu" \
	-smp "${OUTER_SMP:-2}" -m 2048 -name bench,debug-threads=on -display none -no-reboot -kernel "$kernel" \
	-initrd "${INITRD:-$BUILD/initrd.gz}" -append "$append" -serial stdio -serial "file:$beat" \
	-monitor "unix:$mon,server=on,wait=off" -d cpu_reset -D "$qlog" \
	-object "memory-backend-file,id=ram,size=2048M,mem-path=$ram,share=on" \
	-machine memory-backend=ram || rc=$?
case $rc in
0) ;;
125) log "the VM FROZE: no output for ${FREEZE_SECS:-60}s; its registers and local APICs are in $logf" ;;
*) echo "BENCH: qemu exit status $rc" >>"$logf" ;;
esac
# A VM that did not finish: its kernel's last records, and whether the CPU triple-faulted.
if ! grep -qE '^BENCH: (kunit )?done' "$logf"; then
	{ grep -h 'Triple fault' "$qlog" 2>/dev/null || true; } | sed 's/^/BENCH: qemu: /' >>"$logf"
	map=$BUILD/kbuild-$variant/System.map
	[ ! -f "$map" ] || [ ! -f "$ram" ] ||
		"$TOP/bench/kmsg.py" "$map" "$BUILD/kbuild-$variant/.config" "$ram" >>"$logf" 2>&1 ||
		echo "BENCH: kmsg: bench/kmsg.py failed" >>"$logf"
fi
log "VM ran $(( $(date +%s) - start ))s"
