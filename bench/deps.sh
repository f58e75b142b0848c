#!/usr/bin/env bash
# Install the Debian packages the bench needs (when run as root and any is missing).
. "$(dirname "$0")/lib.sh"
PKGS="flex bison bc libelf-dev libssl-dev cpio rsync busybox-static ccache dwarves
      qemu-system-x86 uuid-dev libc6-dev gcc make git python3 xz-utils perl sparse python3-ply
      libglib2.0-dev libpixman-1-dev libfdt-dev ninja-build python3-venv bzip2
      python3-sphinx python3-yaml"
missing=()
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -ne 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		die "missing packages: ${missing[*]} (run as root, or apt-get install them)"
	fi
	log "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# QEMU 10 for the end-to-end test's nested guest, unpacked privately (bench/qemu10.sh).
"$TOP/bench/qemu10.sh" >/dev/null
