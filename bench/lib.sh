# shellcheck shell=bash
# Common settings for the bench scripts. Sourced, never run.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
SRC=$BUILD/linux                     # the patched tree (a git repository)
LINUX_TARBALL=${LINUX_TARBALL:-$TOP/../shared/linux/linux-source-7.3.tar.xz}
LINUX_SHA256=76df1affb19f24926949369be1d74b60071c963c598ce8780bddd4bbf0fc3bc4
LINUX_DEB_VERSION=7.3.4-1~bpo13+1
# ccache lives outside the clone so that a fresh clone (CI) reuses it.
export CCACHE_DIR=${CCACHE_DIR:-/var/cache/kvm-vmclock/ccache}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
# Paths under the build folder are hashed relative to it, so that every clone hits.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$BUILD}
JOBS=${JOBS:-$(( $(nproc) + 1 ))}
# Fixed identity and dates: the generated commits (and so the series) are reproducible.
export GIT_AUTHOR_NAME=${GIT_AUTHOR_NAME:-"KVM vmclock series"}
export GIT_AUTHOR_EMAIL=${GIT_AUTHOR_EMAIL:-"kvm-vmclock@example.org"}
export GIT_COMMITTER_NAME=$GIT_AUTHOR_NAME GIT_COMMITTER_EMAIL=$GIT_AUTHOR_EMAIL
export GIT_AUTHOR_DATE="2026-11-25T00:00:00Z" GIT_COMMITTER_DATE="2026-11-25T00:00:00Z"

# Folders of the repository that hold new kernel files at their kernel paths.
KPATHS="arch virt include Documentation tools"

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# Hash of everything the patched tree is made from.
series_hash() {
	(cd "$TOP" && git ls-files -co --exclude-standard -- patches patches-guest $KPATHS 2>/dev/null |
		LC_ALL=C sort | while read -r f; do [ -f "$f" ] && sha256sum "$f"; done
	 echo "$LINUX_SHA256") | sha256sum | cut -c1-16
}

# The first Debian mirror that this machine's apt sources name for the bookworm or trixie
# suite (one-line .list entries or deb822 .sources blocks): the first deb line may be
# another vendor's repository. Used by fetch-base.sh, qemu10.sh and demo-kernel.sh.
debian_mirror() {
	{ cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '$1 == "deb" { u = ""; for (i = 2; i <= NF; i++) {
			if (u == "" && $i ~ /^(https?|file):/) u = $i
			else if (u != "" && ($i == "bookworm" || $i == "trixie")) { print u; exit } } }' || true
	  cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk 'BEGIN { RS = ""; FS = "\n" }
		     { u = ""; s = 0
		       for (i = 1; i <= NF; i++) {
			if ($i ~ /^URIs:/) { split($i, a, " "); u = a[2] }
			if ($i ~ /^Suites:/ && $i ~ /[ \t](bookworm|trixie)([ \t]|$)/) s = 1 }
		       if (u != "" && s) { print u; exit } }' || true
	} | head -n1
}

# A field of a kernel module's .modinfo (no modinfo(8) needed).
modinfo_field() {
	objcopy -O binary -j .modinfo "$1" /dev/stdout | tr '\0' '\n' | sed -n "s/^$2=//p"
}

# A root for a bench VM: busybox with its applets as links, and bench/init (busybox_root DIR).
busybox_root() {
	mkdir -p "$1/bin"
	cp /bin/busybox "$1/bin/busybox"
	for a in $("$1/bin/busybox" --list); do
		[ -e "$1/bin/$a" ] || ln -s busybox "$1/bin/$a"
	done
	install -m 0755 "$TOP/bench/init" "$1/init"
}

# bench/init's static helpers in DIR/bin: the NTP daemon stand-in and issue 26's reproducer.
init_tools() {
	gcc -O2 -Wall -static -o "$1/bin/ntp-sync" "$TOP/bench/ntp-sync.c"
	gcc -O2 -Wall -static -o "$1/bin/keyflip" "$TOP/bench/keyflip.c"
}

# Pack DIR as an initramfs at OUT, gzip LEVEL (1): pack_cpio DIR OUT [LEVEL].
pack_cpio() {
	(cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip "-${3:-1}") >"$2"
}
