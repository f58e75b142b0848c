#!/usr/bin/env bash
# Build the KVM selftests named in bench/tests.conf against the patched tree's uAPI
# headers (installed by bench/kernel.sh). Output in build/selftests.
. "$(dirname "$0")/lib.sh"
hdr=$BUILD/kbuild-${1:-fast}/hdr/include
out=$BUILD/selftests
[ -d "$hdr" ] || die "no installed headers at $hdr (run bench/kernel.sh first)"
targets=$(grep -v '^\s*\(#\|$\)' "$TOP/bench/tests.conf" | awk -v o="$out" '{ print o "/" $1 }' | sort -u)
mkdir -p "$out"
log "building selftests"
make -s -C "$SRC/tools/testing/selftests/kvm" -j"$JOBS" CC="ccache gcc" OUTPUT="$out" \
	LINUX_HDR_PATH="$hdr/" KHDR_INCLUDES="-isystem $hdr" $targets
