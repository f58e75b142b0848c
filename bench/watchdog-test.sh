#!/usr/bin/env bash
# The watchdog's own test: a QEMU with nothing to boot stays silent on both serial
# lines; bench/watchdog.py must stop it as frozen and sample both CPUs' registers and
# local APICs. Run by bench/check.sh before the bench VM.
. "$(dirname "$0")/lib.sh"
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
rc=0
FREEZE_SECS=3 FREEZE_BOOT_SECS=3 "$TOP/bench/watchdog.py" "$d/log" "$d/beat" "$d/mon" 60 -- qemu-system-x86_64 \
	-accel tcg -cpu max -smp 2 -m 128 -name t,debug-threads=on -display none -no-reboot \
	-serial stdio -serial "file:$d/beat" -monitor "unix:$d/mon,server=on,wait=off" || rc=$?
n_regs=$(grep -c '^BENCH: frozen: EFL=\|^BENCH: frozen: RFL=\|^BENCH: frozen: EIP=\|^BENCH: frozen: RIP=' "$d/log" || true)
n_apic=$(grep -c '^BENCH: frozen: IRR' "$d/log" || true)
n_thr=$(grep -c '^BENCH: frozen: thread .*CPU' "$d/log" || true)
# GIF and the pending interrupt requests, from the saved state (once QEMU's source is there)
n_hid=$(grep -c '^BENCH: frozen: CPU [01]: halted .*GIF' "$d/log" || true)
[ -f "${ANALYZE_MIGRATION:-/var/cache/kvm-vmclock/qemu-build/work/qemu-10.0.2/scripts/analyze-migration.py}" ] || n_hid=2
if [ "$rc" = 125 ] && grep -q '^BENCH: FROZEN: no output' "$d/log" && [ "$n_regs" = 2 ] &&
	[ "$n_apic" = 2 ] && [ "$n_thr" -ge 2 ] && [ "$n_hid" = 2 ]; then
	log "watchdog self-test: a silent QEMU stopped as frozen (exit $rc), $n_regs CPUs' registers, $n_apic local APICs, $n_thr vCPU threads sampled, GIF and interrupt requests of $n_hid CPUs"
else
	sed 's/^/  /' "$d/log" >&2
	die "watchdog self-test: exit $rc, registers $n_regs, APICs $n_apic, vCPU threads $n_thr, saved CPU states $n_hid (want 125, 2, 2, 2, 2)"
fi
# A QEMU that hangs itself (SIGSTOP: its monitor silent too) is stopped all the same.
rc=0
(sleep 2; pkill -STOP -f "^qemu-system-x86_64 .*$d/beat2") &
FREEZE_SECS=3 FREEZE_BOOT_SECS=3 "$TOP/bench/watchdog.py" "$d/log2" "$d/beat2" "$d/mon2" 60 -- \
	qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m 128 -display none -no-reboot \
	-serial stdio -serial "file:$d/beat2" -monitor "unix:$d/mon2,server=on,wait=off" || rc=$?
wait
if [ "$rc" = 125 ] && grep -q '^BENCH: frozen: saved state: none, the monitor does not answer' "$d/log2"; then
	log "watchdog self-test: a stopped QEMU (no monitor) stopped as frozen too"
else
	sed 's/^/  /' "$d/log2" >&2
	die "watchdog self-test: a stopped QEMU gave exit $rc"
fi
