#!/usr/bin/env bash
# Guard: the repository's two views of the series agree, and no upstream file is copied.
#  - Each patch holds the commit's full diff. The files the series adds (their first diff
#    creates them) are rebuilt here from the patches alone, in a scratch index: after the
#    last patch they must be exactly the whole files under the kernel-path folders, same
#    bytes and same mode, no more, no fewer. (They are new, so the base is not needed.)
#  - Every whole file is new to the kernel: it must not exist in the base tree (upstream
#    files are changed by patches, never copied), nor be patched as an upstream file.
#  - patches/series and patches/*.patch name the same files.
. "$(dirname "$0")/lib.sh"
cd "$TOP"
fail=0
bad() { echo "guard: $*" >&2; fail=1; }
base=$BUILD/linux
# The whole files (tracked or not, but not ignored), that exist.
# shellcheck disable=SC2086
list=$(git ls-files -co --exclude-standard -- $KPATHS | sort -u |
	while read -r f; do if [ -f "$f" ]; then echo "$f"; fi; done)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git init -q --bare "$tmp/g"
tg() { GIT_DIR=$tmp/g GIT_INDEX_FILE=$tmp/index git "$@"; }
declare -A seen=() new=() whole=() inseries=()

series=$(sed -e '/^#/d' -e '/^[[:space:]]*$/d' patches/series)
for name in $series; do
	inseries[$name]=1
	p=patches/$name
	[ -f "$p" ] || { bad "patches/series names $name, which does not exist"; continue; }
	if sed -n '1,/^$/p' "$p" | grep -q '^New-file: '; then
		bad "$name is in the old form (New-file: headers, no diffs of new files): run bench/import.sh on a build/linux made from it"
		continue
	fi
	awk 'f; /^---$/ { f = 1 }' "$p" >"$tmp/d"
	grep -q '^diff --git ' "$tmp/d" || continue
	touched=$(git apply --numstat "$tmp/d" | cut -f3-) || { bad "$name: not a valid diff"; continue; }
	created=$(git apply --summary "$tmp/d" | sed -n 's/^ create mode [0-7]* //p')
	inc=()
	for f in $touched; do
		if [ -z "${seen[$f]:-}" ]; then
			seen[$f]=1
			if grep -qxF -- "$f" <<<"$created"; then new[$f]=1; fi
		fi
		if [ -n "${new[$f]:-}" ]; then inc+=("--include=$f"); fi
	done
	[ ${#inc[@]} -gt 0 ] || continue
	tg apply --cached --whitespace=nowarn "${inc[@]}" "$tmp/d" 2>"$tmp/err" ||
		{ bad "$name: its diffs of new files do not apply after the patches before it"; sed 's/^/    /' "$tmp/err" >&2; }
done
for p in patches/*.patch; do
	[ -e "$p" ] || continue
	[ -n "${inseries[${p#patches/}]:-}" ] || bad "$p is not in patches/series"
done

# The files the series adds, after the last patch: mode, blob, path.
declare -A fmode=() fblob=()
while read -r mode blob _ path; do
	fmode[$path]=$mode fblob[$path]=$blob
done < <(tg ls-files -s)
for f in $list; do
	whole[$f]=1
	if [ -z "${seen[$f]:-}" ]; then
		bad "$f: no patch touches it (a whole file must be what the patches make: bench/import.sh)"
	elif [ -z "${new[$f]:-}" ]; then
		bad "$f: the series patches it as an upstream file: patch it, do not copy it"
	elif [ -z "${fblob[$f]:-}" ]; then
		bad "$f: the series deletes it by the last patch, but the repository holds it"
	else
		h=$(tg hash-object --no-filters -- "$f")
		m=100644; [ -x "$f" ] && m=100755
		[ "$h" = "${fblob[$f]}" ] ||
			bad "$f: differs from what the patches make (edit in build/linux, commit, bench/import.sh)"
		[ "$m" = "${fmode[$f]}" ] || bad "$f: mode $m, the patches make ${fmode[$f]}"
	fi
done
for f in "${!fblob[@]}"; do
	[ -n "${whole[$f]:-}" ] && continue
	case " $KPATHS " in
		*" ${f%%/*} "*) bad "$f: the series adds it, but the repository does not hold it whole (bench/import.sh)" ;;
		*) bad "$f: the series adds it outside the kernel-path folders ($KPATHS): add its folder to KPATHS in bench/lib.sh" ;;
	esac
done

# No whole file exists in the base tree.
if git -C "$base" rev-parse -q --verify refs/tags/base >/dev/null 2>&1; then
	for f in $list; do
		if git -C "$base" cat-file -e "base:$f" 2>/dev/null; then
			bad "$f exists in the base tree: patch it, do not copy it"
		fi
	done
# (GUARD_DEFER_BASE=1: bench/tree.sh, about to extract the tarball, runs the guard again
# on the base repository instead: listing the tarball costs a decompression, 20 s.)
elif [ "${GUARD_DEFER_BASE:-}" != 1 ] && [ -n "$list" ] && [ -f "$LINUX_TARBALL" ]; then
	dup=$(tar -tJf "$LINUX_TARBALL" | sed 's|^[^/]*/||' | grep -Fx -f <(echo "$list") || true)
	[ -z "$dup" ] || bad "in the base tree already: $dup"
fi
[ $fail = 0 ] || die "guard failed"
