#!/usr/bin/env bash
# Import commits from a kernel git tree into this repository's form: files a commit adds
# are stored whole at their kernel paths, edits to upstream files as the diff part of
# patches/NNNN-slug.patch, and patches/series lists them in order.
# Usage: bench/import.sh KERNEL_GIT_DIR BASE_REV [TIP_REV]   (replaces patches/)
. "$(dirname "$0")/lib.sh"
tree=$1 base=$2 tip=${3:-HEAD}
cd "$TOP"
rm -f patches/*.patch
: >patches/series
i=0
for c in $(git -C "$tree" rev-list --reverse "$base..$tip"); do
	i=$((i + 1))
	subj=$(git -C "$tree" log -1 --format=%s "$c")
	slug=$(echo "$subj" | sed 's/[^A-Za-z0-9]\+/-/g; s/^-//; s/-$//' | tr A-Z a-z | cut -c1-64 | sed 's/-$//')
	name=$(printf '%04d-%s.patch' "$i" "$slug")
	added=$(git -C "$tree" diff --name-only --diff-filter=A "$c^" "$c")
	{
		echo "Subject: $subj"
		for f in $added; do echo "New-file: $f"; done
		echo
		git -C "$tree" log -1 --format=%b "$c" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
		echo "---"
		git -C "$tree" diff --no-renames --diff-filter=a "$c^" "$c"
	} >"patches/$name"
	for f in $added; do
		mkdir -p "$(dirname "$f")"
		git -C "$tree" show "$c:$f" >"$f"
	done
	echo "$name" >>patches/series
	log "imported $name"
done
