#!/usr/bin/env bash
# make bench: boot the bench VM and run the benchmark (bench/bench/vmclock_bench.c), which
# prints one table: accuracy, page rewrites per second, guest read cost, deferred work.
. "$(dirname "$0")/lib.sh"
t0=$(date +%s)
"$TOP/bench/kernel.sh" fast
"$TOP/bench/selftests.sh" fast
"$TOP/bench/initramfs.sh"
APPEND="bench.bench=1 quiet" KUNIT_GLOB=none BOOT_TIMEOUT=${BOOT_TIMEOUT:-1200} \
	"$TOP/bench/boot.sh" fast "$BUILD/bench.log"
table=$(sed -n '/BENCH: bench start/,/BENCH: bench exit/p' "$BUILD/bench.log" | tr -d '\r')
host="$(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)),"
host+=" $(awk '/MemTotal/ { printf "%d GiB", $2 / 1048576 }' /proc/meminfo) of memory,"
host+=" $(qemu-system-x86_64 --version | head -n1), -accel tcg -cpu max -smp 2 -m 2048"
took="make bench took $(( $(date +%s) - t0 ))s, host load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$table"
echo "host: $host; $took"
# The table, dated, with the machine described in words (BENCH_RESULTS=0: not written).
if [ "${BENCH_RESULTS:-1}" != 0 ] && grep -q "BENCH: bench exit 0" "$BUILD/bench.log"; then
	day=$(date -u +%Y-%m-%d) && mkdir -p "$TOP/docs/results"
	{
		echo "# make bench, $(date -u '+%Y-%m-%d %H:%M UTC')"
		echo
		echo "Machine: $host. $took."
		echo "Series: $(git -C "$TOP" describe --always --dirty 2>/dev/null || echo unknown)" \
			"(the repository's commit). How each row is measured: docs/results.md."
		echo
		echo '```'
		sed 's/^BENCH: //' <<<"$table"
		echo '```'
	} >"$TOP/docs/results/$day.md"
	log "bench: table written to docs/results/$day.md"
fi
# Any kernel splat in the run (the patterns of bench/verdict.py) fails the bench.
splats=$(cd "$TOP/bench" && python3 -B -c 'import sys, verdict
for l in open(sys.argv[1], errors="replace"):
    if verdict.SPLAT_RE.search(l): print(l.rstrip())' "$BUILD/bench.log")
[ -z "$splats" ] || { echo "kernel splats in $BUILD/bench.log:"; echo "$splats"; exit 1; }
grep -q "BENCH: bench exit 0" "$BUILD/bench.log"
