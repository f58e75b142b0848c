#!/usr/bin/env bash
# Kernel, selftests, initramfs, boot, verdict: bench/check.sh fast|debug
. "$(dirname "$0")/lib.sh"
v=${1:-fast}
t0=$(date +%s)
"$TOP/bench/kernel.sh" "$v"
# the selftests build against the fast kernel's uAPI headers, and it is the nested guest's
[ "$v" = fast ] || "$TOP/bench/kernel.sh" fast
"$TOP/bench/selftests.sh" fast
"$TOP/bench/initramfs.sh" "$v"
"$TOP/bench/watchdog-test.sh"
"$TOP/bench/kmsg-test.sh" "$v"
"$TOP/bench/boot.sh" "$v" "$BUILD/check-$v.log"
echo "=== verdict: $v kernel, $(( $(date +%s) - t0 ))s for kernel, tests and VM ==="
"$TOP/bench/verdict.py" "$BUILD/check-$v.log"
