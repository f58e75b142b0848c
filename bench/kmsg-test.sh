#!/usr/bin/env bash
# bench/kmsg.py's own test: the bench VM logs a record below the console's level, then
# powers off without "BENCH: done"; bench/boot.sh must read the record from the VM's RAM.
# Run by bench/check.sh before the tests.
. "$(dirname "$0")/lib.sh"
variant=${1:-fast}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
KUNIT_GLOB=none APPEND="bench.kmsgtest=1" BOOT_TIMEOUT=180 "$TOP/bench/boot.sh" "$variant" "$d/log" 2>/dev/null || true
rec=$(grep -m1 '^BENCH: kmsg: \[.*\] bench kmsg self-test: ' "$d/log" || true)
if [ -n "$rec" ] && ! grep -v '^BENCH: kmsg: ' "$d/log" | grep -q 'bench kmsg self-test'; then
	log "kmsg self-test: a record the console did not print, read from the RAM after the VM ended"
else
	tail -n 20 "$d/log" | sed 's/^/  /' >&2
	die "kmsg self-test: the record was not read from the VM's RAM (or the console printed it)"
fi
