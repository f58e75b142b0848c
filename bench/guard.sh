#!/usr/bin/env bash
# Guard: every file in the repository's kernel-path folders is new to the kernel (it
# must not exist in the base tree: upstream files are changed by patches, never copied),
# and is named by exactly one patch's New-file: header.
. "$(dirname "$0")/lib.sh"
cd "$TOP"
list=$(git ls-files -co --exclude-standard -- $KPATHS)
fail=0
base=$BUILD/linux
for f in $list; do
	if git -C "$base" rev-parse -q --verify refs/tags/base >/dev/null 2>&1; then
		if git -C "$base" cat-file -e "base:$f" 2>/dev/null; then
			echo "guard: $f exists in the base tree: patch it, do not copy it" >&2
			fail=1
		fi
	fi  # (without the base repository, the tarball is checked below in one pass)
	c=$(grep -l "^New-file: $f\$" patches/*.patch 2>/dev/null | wc -l)
	if [ "$c" != 1 ]; then
		echo "guard: $f is named by $c patches (New-file:), it must be exactly one" >&2
		fail=1
	fi
done
# (GUARD_DEFER_BASE=1: bench/tree.sh, about to extract the tarball, runs the guard again
# on the base repository instead: listing the tarball costs a decompression, 20 s.)
if [ "${GUARD_DEFER_BASE:-}" != 1 ] &&
   ! git -C "$base" rev-parse -q --verify refs/tags/base >/dev/null 2>&1 && [ -n "$list" ] &&
   [ -f "$LINUX_TARBALL" ]; then
	dup=$(tar -tJf "$LINUX_TARBALL" | sed 's|^[^/]*/||' | grep -Fx -f <(echo "$list") || true)
	[ -z "$dup" ] || { echo "guard: in the base tree already: $dup" >&2; fail=1; }
fi
for n in $(grep -h '^New-file: ' patches/*.patch 2>/dev/null | cut -d' ' -f2); do
	[ -f "$n" ] || { echo "guard: New-file $n is missing from the repository" >&2; fail=1; }
done
[ $fail = 0 ] || die "guard failed"
