#!/usr/bin/env bash
# make series-check: is build/series ready for the list?
#  1. scripts/checkpatch.pl --strict on every patch: clean but for the missing
#     Signed-off-by (the submitter adds theirs; see README);
#  2. the series applies with git am to a pristine base and gives the same tree;
#  3. scripts/kernel-doc -none on the new C files reports nothing, and the KVM
#     documentation (api.rst, the design document vmclock.rst) builds with Sphinx
#     (make SPHINXDIRS=virt/kvm htmldocs) without a warning or an error;
#  4. (FULL=1, the default outside CI) the tree builds after every patch, W=1 and
#     sparse (C=1) on the objects each patch touches report nothing the base did not,
#     the uAPI headers pass CONFIG_UAPI_HEADER_TEST after every patch, and after every
#     patch that has the KUnit suite kvm_vmclock (arch/x86/kvm/ or virt/kvm/vmclock_kunit.c), the
#     kernel boots under QEMU with a KUnit-only initramfs and the suite passes;
#  5. checkpatch's FILE_PATH_CHANGES ("does MAINTAINERS need updating?") is not asked
#     of each patch: the series adds its MAINTAINERS entry in its last patch, and this
#     script checks instead that every file the series adds is covered by that entry.
. "$(dirname "$0")/lib.sh"
ser=$BUILD/series
[ -d "$ser" ] || die "no series: run make series first"
full=${FULL:-1}
fail=0
note() { echo "series-check: $*"; }
bad() { echo "series-check: FAIL: $*"; fail=1; }
patches=$(ls "$ser"/0*.patch | grep -v 0000-cover-letter)
# the guest-side series goes on top (bench/series.sh)
patches="$patches $(ls "$ser-guest"/0*.patch 2>/dev/null)"

# 1. checkpatch
nosob=0
for p in $patches; do
	outp=$(cd "$SRC" && scripts/checkpatch.pl --strict --no-signoff --showfile --color=never \
		--ignore MISSING_SIGN_OFF,FILE_PATH_CHANGES "$p" 2>&1) || true
	if echo "$outp" | grep -q '^total: 0 errors, 0 warnings, 0 checks'; then
		note "checkpatch clean: $(basename "$p")"
	else
		bad "checkpatch: $(basename "$p")"; echo "$outp" | sed 's/^/    /'
	fi
	grep -q '^Signed-off-by:' "$p" || nosob=$((nosob + 1))
done
[ $nosob = 0 ] || note "remaining: $nosob patches have no Signed-off-by (the submitter adds theirs: git rebase --signoff)"

# 1b. every file the series adds is in the MAINTAINERS entry it adds (F: patterns)
entry=$(git -C "$SRC" diff -U0 base series -- MAINTAINERS | sed -n 's/^+F:\t//p')
uncovered=$(set -f; git -C "$SRC" diff --name-only --diff-filter=A base series | while read -r f; do
	hit=
	for pat in $entry; do
		# shellcheck disable=SC2254
		case $f in $pat | $pat*) hit=1; break ;; esac
	done
	[ -n "$hit" ] || echo "$f"
done)
if [ -z "$entry" ]; then
	bad "MAINTAINERS: the series adds no entry (F: lines)"
elif [ -n "$uncovered" ]; then
	bad "MAINTAINERS: files the series adds that its entry does not cover:"; echo "$uncovered" | sed 's/^/    /'
else
	note "MAINTAINERS: the series' entry covers all $(git -C "$SRC" diff --name-only --diff-filter=A base series | wc -l) files it adds"
fi

# 2. git am on a pristine base
wt=$BUILD/am-check
git -C "$SRC" worktree remove --force "$wt" 2>/dev/null || rm -rf "$wt"
git -C "$SRC" worktree prune
git -C "$SRC" worktree add -q --detach "$wt" base
if (cd "$wt" && git am -q $patches); then
	if [ -z "$(git -C "$wt" diff series --stat)" ]; then
		note "git am: $(echo "$patches" | wc -w) patches apply to the base, same tree as the series"
	else
		bad "git am: the applied series differs from build/linux"
	fi
else
	bad "git am: the series does not apply to the base"
	(cd "$wt" && git am --abort) || true
fi
git -C "$SRC" worktree remove --force "$wt"

# 3. kernel-doc on the new C files
new=$(git -C "$SRC" diff --name-only --diff-filter=A base series -- '*.c' '*.h')
kd=$(cd "$SRC" && scripts/kernel-doc -none -Wall $new 2>&1)
[ -z "$kd" ] && note "kernel-doc: nothing to report on $(echo $new | wc -w) new files" ||
	{ bad "kernel-doc"; echo "$kd" | sed 's/^/    /'; }
# ... and the KVM documentation with Sphinx (the base builds it without a warning;
# graphviz's dot is not needed there)
docs=$(cd "$SRC" && make -s O="$BUILD/htmldocs" SPHINXDIRS=virt/kvm htmldocs 2>&1 |
	grep -E 'WARNING|ERROR|SEVERE|CRITICAL|Error [0-9]' | grep -v 'dot(1) not found' || true)
if [ -z "$docs" ] && [ -f "$BUILD/htmldocs/Documentation/output/virt/kvm/vmclock.html" ]; then
	note "htmldocs: Documentation/virt/kvm builds with Sphinx $(sphinx-build --version | cut -d' ' -f2), no warning"
else
	bad "htmldocs (make SPHINXDIRS=virt/kvm htmldocs)"; echo "$docs" | sed 's/^/    /'
fi

# 4. bisectability, W=1, sparse, uAPI header test
if [ "$full" = 1 ]; then
	"$TOP/bench/kernel.sh" fast >/dev/null
	out=$BUILD/kbuild-fast
	mk() { make -C "$SRC" O="$out" CC="ccache gcc" HOSTCC="ccache gcc" -j"$JOBS" "$@"; }
	# sparse must pass the kernel's own scripts/checker-valid.sh (7.3 needs
	# __typeof_unqual__ support: Debian's sparse 0.6.4 does not have it).
	if [ "$("$SRC/scripts/checker-valid.sh" sparse -m64 2>/dev/null)" = 1 ]; then
		checkargs=(C=1 CHECK=sparse CF=-Wno-decl)
		what="W=1/sparse"
	else
		checkargs=()
		what="W=1"
		note "sparse: SKIPPED, $(sparse --version 2>/dev/null || echo missing) fails the kernel's scripts/checker-valid.sh"
	fi
	objs_of() { git -C "$SRC" diff --name-only "$1^" "$1" -- '*.c' | { grep -v '^tools/' || true; } |
		while read -r f; do
			o=${f%.c}.o
			if [ -f "$out/$o" ]; then echo "$o"; fi
		done; }
	diag() { # W=1 and sparse messages for the objects (that exist here), without line numbers
		local o objs=()
		for o in "$@"; do
			# only objects this commit's configuration built
			[ -f "$out/$o" ] || continue
			rm -f "$out/$o"
			objs+=("$o")
		done
		[ ${#objs[@]} -gt 0 ] || return 0
		{ mk -s W=1 "${checkargs[@]}" "${objs[@]}" 2>&1 || true; } |
			{ grep -E 'warning|error' || true; } |
			sed -E 's/:[0-9]+:[0-9]+:/:/; s/:[0-9]+:/:/' | LC_ALL=C sort -u; }
	# The configuration of every commit: the bench's fragment again (a symbol that an
	# earlier commit does not know, such as the KUnit suite's, is dropped by it).
	cfg() {
		(cd "$out" && KCONFIG_CONFIG=.config "$SRC/scripts/kconfig/merge_config.sh" -m -O "$out" \
			.config "$TOP/bench/config/fast.config" >/dev/null 2>&1)
		mk -s olddefconfig >/dev/null
	}
	# A KUnit-only initramfs: busybox and bench/init, which powers off at once with
	# bench.kunit=1 (the suites run at boot, before init).
	kroot=$BUILD/kunit-initramfs
	rm -rf "$kroot" && mkdir -p "$kroot"/{bin,proc,sys,dev,tmp}
	busybox_root "$kroot"
	pack_cpio "$kroot" "$BUILD/kunit-initrd.gz"
	kunit_at() { # run the KUnit suite at the checked-out commit, if it has one
		local s=$1 klog=$BUILD/series-kunit.log t0 v
		local kf
		for kf in virt/kvm/vmclock_kunit.c arch/x86/kvm/vmclock_kunit.c ''; do
			git -C "$SRC" cat-file -e "HEAD:$kf" 2>/dev/null && break
		done
		if [ -z "$kf" ]; then
			note "KUnit: no kvm_vmclock suite yet: $s"
			return
		fi
		if ! grep -qx 'CONFIG_KVM_VMCLOCK_KUNIT_TEST=y' "$out/.config"; then
			bad "KUnit: the suite is not configured after: $s"
			return
		fi
		# Every kvm_vmclock* suite the file has at this commit must run
		suites=$(git -C "$SRC" show "HEAD:$kf" |
			sed -n 's/^\s*\.name = "\(kvm_vmclock[a-z_]*\)",$/\1/p' | paste -sd, -)
		t0=$(date +%s)
		INITRD=$BUILD/kunit-initrd.gz KUNIT_GLOB='kvm_vmclock*' APPEND=bench.kunit=1 BOOT_TIMEOUT=600 \
			"$TOP/bench/boot.sh" fast "$klog" 2>/dev/null
		if v=$("$TOP/bench/verdict.py" --kunit "$suites" "$klog"); then
			note "KUnit $suites: $(echo "$v" | tail -1) in $(( $(date +%s) - t0 ))s: $s"
		else
			bad "KUnit $suites after: $s"; echo "$v" | grep -v '^PASS' | sed 's/^/    /'
			cp "$klog" "$BUILD/series-kunit-failed.log"
		fi
	}
	trap 'git -C "$SRC" checkout -q series' EXIT
	commits=$(git -C "$SRC" rev-list --reverse base..series)
	# What the base reports for every object the series touches
	all=$(for c in $commits; do objs_of "$c"; done | sort -u)
	git -C "$SRC" checkout -q base
	cfg
	# Objects exist below only where the commit's configuration builds them.
	for o in $all; do rm -f "$out/$o"; done
	mk -s bzImage >/dev/null
	# shellcheck disable=SC2086
	before=$(diag $all)
	for c in $commits; do
		git -C "$SRC" checkout -q "$c"
		s=$(git -C "$SRC" log -1 --format=%s "$c")
		cfg
		if ! mk -s bzImage >/dev/null 2>"$BUILD/.bisect.err"; then
			bad "does not build after: $s"; sed 's/^/    /' "$BUILD/.bisect.err" | tail -20
			continue
		fi
		objs=$(objs_of "$c")
		# shellcheck disable=SC2086
		newd=$([ -n "$objs" ] && diag $objs | LC_ALL=C comm -13 <(echo "$before") - || true)
		[ -z "$newd" ] || { bad "new $what messages after: $s"; echo "$newd" | sed 's/^/    /'; }
		if ! mk -s headers >/dev/null 2>&1 || ! mk -s CONFIG_UAPI_HEADER_TEST=y usr/ >/dev/null 2>"$BUILD/.uapi.err"; then
			bad "uAPI header test after: $s"; sed 's/^/    /' "$BUILD/.uapi.err" | tail -10
		fi
		note "builds, no new $what messages, uAPI headers ok: $s"
		kunit_at "$s"
	done
	git -C "$SRC" checkout -q series
	trap - EXIT
	cfg
else
	note "bisect builds, W=1, sparse, the uAPI header test and KUnit at each patch skipped (FULL=0): run make series-check"
fi
[ $fail = 0 ] && echo "series-check: passed" || { echo "series-check: FAILED"; exit 1; }
