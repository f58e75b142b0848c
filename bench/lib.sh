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
	(cd "$TOP" && git ls-files -co --exclude-standard -- patches $KPATHS 2>/dev/null |
		LC_ALL=C sort | while read -r f; do [ -f "$f" ] && sha256sum "$f"; done
	 echo "$LINUX_SHA256") | sha256sum | cut -c1-16
}
