#!/usr/bin/env bash
# Make build/linux: the base tree (Debian linux-source-7.3, sha256-checked) as a git
# repository, with each patch of patches/series applied as one commit: its full diff
# (new files too) with git apply. The whole files under the repository's kernel-path
# folders are not read here: bench/guard.sh, run first, checks that they are what the
# patches make, and this script checks it again on the tree it made.
. "$(dirname "$0")/lib.sh"
if git -C "$SRC" rev-parse -q --verify refs/tags/base >/dev/null 2>&1; then
	"$TOP/bench/guard.sh"
else	# the base is checked once it is a repository, below
	GUARD_DEFER_BASE=1 "$TOP/bench/guard.sh"
fi
want=$(series_hash)
if [ -d "$SRC/.git" ] && { [ -n "$(git -C "$SRC" status --porcelain --untracked-files=no)" ] ||
	[ -n "$(git -C "$SRC" ls-files -o --exclude-standard)" ]; }; then
	die "build/linux has uncommitted changes: commit them there and run bench/import.sh, or discard them"
fi
if [ -f "$SRC/.bench-series" ] && [ "$(cat "$SRC/.bench-series")" = "$want" ]; then
	log "patched tree up to date ($want)"
	exit 0
fi

if ! git -C "$SRC" rev-parse -q --verify refs/tags/base >/dev/null 2>&1; then
	tarball=$LINUX_TARBALL
	if [ ! -f "$tarball" ]; then
		log "no tarball at $tarball"
		tarball=$("$TOP/bench/fetch-base.sh")
	fi
	log "checking sha256 of $tarball"
	echo "$LINUX_SHA256  $tarball" | sha256sum -c --quiet - || die "sha256 mismatch: $tarball"
	rm -rf "$SRC" "$SRC.tmp" && mkdir -p "$SRC.tmp"
	log "extracting base tree"
	tar -xJf "$tarball" -C "$SRC.tmp" --strip-components=1
	log "recording base tree as a git commit"
	(cd "$SRC.tmp" && git init -q -b upstream && git config gc.auto 0 &&
	 git config core.untrackedCache true && git add -A -f &&
	 git commit -q -m "Linux 7.3.4 (Debian linux-source-7.3 $LINUX_DEB_VERSION)" && git tag base)
	mv "$SRC.tmp" "$SRC"
	"$TOP/bench/guard.sh"
fi

cd "$SRC"
git checkout -q -B series base
git clean -qfdx
rm -f .bench-series
# Each patch of DIR/series as one commit.
apply_series() {
	while read -r name; do
		case "$name" in ''|'#'*) continue ;; esac
		p=$1/$name
		[ -f "$p" ] || die "$1/series names $name, which does not exist"
		n=$((n + 1))
		# Header: Subject:; blank line; body; a line '---'; the full diff (git apply skips
		# the diffstat before it). git apply --index adds new files whatever the base's
		# .gitignore says (Debian's ignores everything new at the top level).
		subject=$(sed -n '1,/^$/s/^Subject: //p' "$p")
		[ -n "$subject" ] || die "$name: no Subject: header"
		awk 'f; /^---$/ { f = 1 }' "$p" >"$BUILD/.diff"
		if grep -q '^diff --git ' "$BUILD/.diff"; then
			git apply --index --whitespace=error-all "$BUILD/.diff" ||
				die "$name does not apply"
		fi
		git add -u
		# The message: from the first blank line to the first '---' (not beyond: the
		# diffstat is followed by a blank line too).
		{ echo "$subject"; echo; awk 'b && /^---$/ { exit } b; /^$/ { b = 1 }' "$p"; } >"$BUILD/.msg"
		git commit -q --allow-empty -F "$BUILD/.msg"
	done <"$1/series"
}
n=0
apply_series "$TOP/patches"
# The guest-side series (ptp_vmclock, for the PTP maintainers) goes on top of the KVM one.
git tag -f series-kvm >/dev/null
[ ! -f "$TOP/patches-guest/series" ] || apply_series "$TOP/patches-guest"
rm -f "$BUILD/.diff" "$BUILD/.msg"
# The whole files are the tree after the KVM series (as the guard found from the patches).
# shellcheck disable=SC2086
(cd "$TOP" && git ls-files -co --exclude-standard -- $KPATHS) | while read -r f; do
	[ ! -f "$TOP/$f" ] || [ "$(git rev-parse -q --verify "series-kvm:$f" 2>/dev/null)" = "$(git hash-object --no-filters -- "$TOP/$f")" ] ||
		die "$f in the repository differs from the patched tree: run bench/import.sh"
done
echo "$want" >.bench-series
log "patched tree: $n patch(es) on base ($(git rev-parse --short HEAD))"
