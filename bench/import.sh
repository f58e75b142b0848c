#!/usr/bin/env bash
# Import commits from a kernel git tree into this repository's form:
#  - patches/NNNN-slug.patch per commit: a Subject: header, the message, a line '---',
#    and the commit's full diff (diffstat, summary, then every file, new files too),
#    as git format-patch writes it;
#  - patches/series lists them in order;
#  - the files the series adds (absent from BASE_REV, present at TIP_REV) whole at their
#    kernel paths, as they are after the last patch, so that reviewers read them whole.
# Everything it writes is regenerated from the commits: re-run it after any change in
# the kernel tree. bench/guard.sh checks that the whole files and the patches agree.
# Usage: bench/import.sh KERNEL_GIT_DIR BASE_REV [TIP_REV]   (replaces patches/ and the
# files under the kernel-path folders). TIP_REV: the tag series-kvm if the tree has it
# (bench/tree.sh sets it after the KVM series; move it when you edit that series), else HEAD.
# bench/import.sh --guest KERNEL_GIT_DIR: series-kvm..HEAD, the guest-side series, into
# patches-guest/ (no whole files: it changes existing ones only).
. "$(dirname "$0")/lib.sh"
dir=patches
if [ "${1:-}" = --guest ]; then
	dir=patches-guest
	shift
	set -- "${1:-}" series-kvm HEAD
fi
[ $# -ge 2 ] || die "usage: bench/import.sh KERNEL_GIT_DIR BASE_REV [TIP_REV] | --guest KERNEL_GIT_DIR"
tree=$(cd "$1" && pwd) base=$2 tip=${3:-}
if [ -z "$tip" ]; then
	tip=HEAD
	git -C "$tree" rev-parse -q --verify refs/tags/series-kvm >/dev/null && tip=series-kvm
fi
base=$(git -C "$tree" rev-parse --verify "$base^{commit}") || die "no commit $2 in $tree"
tip=$(git -C "$tree" rev-parse --verify "$tip^{commit}") || die "no commit ${3:-HEAD} in $tree"
git -C "$tree" merge-base --is-ancestor "$base" "$tip" || die "$2 is not an ancestor of ${3:-HEAD}"
[ -z "$(git -C "$tree" rev-list --merges "$base..$tip")" ] || die "$base..$tip has merges: a series is linear"
if [ -n "$(git -C "$tree" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	log "warning: $tree has uncommitted changes: they are not imported"
fi
cd "$TOP"
# Pinned diff options, whatever the user's git configuration: the same commits always
# give the same bytes.
g() { git -C "$tree" -c diff.noprefix=false -c diff.mnemonicPrefix=false -c core.quotePath=true "$@"; }
dopts=(--no-color --no-ext-diff --no-renames --no-textconv --binary --abbrev=12
	--diff-algorithm=myers --src-prefix=a/ --dst-prefix=b/)

# Check every commit before writing anything.
for c in $(git -C "$tree" rev-list --reverse "$base..$tip"); do
	s=$(git -C "$tree" log -1 --format=%s "$c")
	[ -n "$s" ] || die "commit $c has no subject"
	if git -C "$tree" log -1 --format=%b "$c" | grep -qx -- '---'; then
		die "commit $c ($s): a line '---' in the message would end it early"
	fi
done

mkdir -p "$dir"
rm -f "$dir"/*.patch
: >"$dir/series"
i=0
for c in $(git -C "$tree" rev-list --reverse "$base..$tip"); do
	i=$((i + 1))
	subj=$(git -C "$tree" log -1 --format=%s "$c")
	slug=$(echo "$subj" | sed 's/[^A-Za-z0-9]\+/-/g; s/^-//; s/-$//' | tr A-Z a-z | cut -c1-64 | sed 's/-$//')
	name=$(printf '%04d-%s.patch' "$i" "$slug")
	{
		echo "Subject: $subj"
		echo
		git -C "$tree" log -1 --format=%b "$c" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
		echo "---"
		g diff "${dopts[@]}" --stat=72 --summary -p "$c^" "$c"
	} >"$dir/$name"
	echo "$name" >>"$dir/series"
	log "imported $name"
done

if [ "$dir" = patches-guest ]; then
	[ -z "$(g diff --name-only --diff-filter=A "$base" "$tip")" ] || die "the guest series adds files"
	log "$i guest patch(es) in patches-guest/"
	exit 0
fi
# The whole files: what the series adds, as at the tip. Files under the kernel-path
# folders that the series no longer adds are removed.
added=$(g diff --no-renames --name-only --diff-filter=A "$base" "$tip")
for f in $added; do
	case " $KPATHS " in *" ${f%%/*} "*) ;; *)
		log "warning: $f is outside the kernel-path folders ($KPATHS): add its folder to KPATHS in bench/lib.sh" ;;
	esac
done
# shellcheck disable=SC2086
git ls-files -co --exclude-standard -- $KPATHS | while read -r f; do
	grep -qxF -- "$f" <<<"$added" || { rm -f -- "$f"; log "removed $f (not added by the series any more)"; }
done
for d in $KPATHS; do [ -d "$d" ] && find "$d" -type d -empty -delete; done
for f in $added; do
	mkdir -p "$(dirname "$f")"
	git -C "$tree" cat-file blob "$tip:$f" >"$f"
	case $(git -C "$tree" ls-tree "$tip" -- "$f" | cut -d' ' -f1) in
		100755) chmod +x "$f" ;;
		*) chmod -x "$f" ;;
	esac
done
log "$i patch(es), $(echo "$added" | grep -c .) whole file(s) written; next: bench/guard.sh, make check"
