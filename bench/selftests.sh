#!/usr/bin/env bash
# Build the KVM selftests named in bench/tests.conf against the patched tree's uAPI
# headers (installed by bench/kernel.sh). Output in build/selftests.
. "$(dirname "$0")/lib.sh"
hdr=$BUILD/kbuild-${1:-fast}/hdr/include
out=$BUILD/selftests
[ -d "$hdr" ] || die "no installed headers at $hdr (run bench/kernel.sh first)"
# SELFTESTS="x86/vmclock_e2e": only those (the demo on Debian's kernel, bench/demo.sh).
progs=${SELFTESTS:-$(grep -v '^\s*\(#\|$\)' "$TOP/bench/tests.conf" | awk '{ print $1 }' | sort -u | tr '\n' ' ')}
mkdir -p "$out"
# The end-to-end test's host side (bench tooling, not part of the series) builds with the
# selftests' library.
kdir=$SRC/tools/testing/selftests/kvm
cp "$TOP/bench/e2e/vmclock_e2e.c" "$kdir/x86/vmclock_e2e.c"
grep -qx '/tools/testing/selftests/kvm/x86/vmclock_e2e.c' "$SRC/.git/info/exclude" ||
	echo '/tools/testing/selftests/kvm/x86/vmclock_e2e.c' >>"$SRC/.git/info/exclude"
# The benchmark of make bench (bench tooling too), built the same way.
cp "$TOP/bench/bench/vmclock_bench.c" "$kdir/x86/vmclock_bench.c"
grep -qx '/tools/testing/selftests/kvm/x86/vmclock_bench.c' "$SRC/.git/info/exclude" ||
	echo '/tools/testing/selftests/kvm/x86/vmclock_bench.c' >>"$SRC/.git/info/exclude"
[ -n "${SELFTESTS:-}" ] || progs="$progs x86/vmclock_bench"
log "building selftests"
make -s -C "$SRC/tools/testing/selftests/kvm" -j"$JOBS" CC="ccache gcc" OUTPUT="$out" \
	LINUX_HDR_PATH="$hdr/" KHDR_INCLUDES="-isystem $hdr" \
	TEST_GEN_PROGS_x86="$progs" TEST_GEN_PROGS_EXTENDED_x86= TEST_PROGS_x86=
