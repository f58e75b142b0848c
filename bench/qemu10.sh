#!/usr/bin/env bash
# QEMU 10 for the end-to-end test's nested guest: Debian's bookworm-backports build,
# whose `-device vmclock` makes QEMU's ACPI VMCLOCK device (AMZNC10C). Fetched through
# a private apt configuration whose mirror comes from this machine's own apt sources,
# and unpacked (dpkg-deb -x) into a private root. The system's apt configuration and
# its QEMU (7.2, the bench's outer TCG emulator) are left alone. Prints the root.
. "$(dirname "$0")/lib.sh"
QEMU10_VERSION=1:10.0.2+ds-2+deb13u1~bpo12+1
SEABIOS_VERSION=1.16.3-2~bpo12+1
# A machine-wide cache, like ccache's: fresh clones (CI) reuse it.
dest=${QEMU10_ROOT:-/var/cache/kvm-vmclock/qemu-${QEMU10_VERSION#*:}}
if [ -x "$dest/usr/bin/qemu-system-x86_64" ] && [ -f "$dest/.complete" ]; then
	echo "$dest"
	exit 0
fi

# A Debian mirror from this machine's apt sources (lib.sh); it also serves bookworm-backports.
mirror=$(debian_mirror)
[ -n "$mirror" ] || die "no Debian mirror found in this machine's apt sources"

apt=$BUILD/apt-qemu10
rm -rf "$apt" && mkdir -p "$apt"/{lists/partial,archives/partial,cache,etc,debs}
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm-backports main" \
	>"$apt/etc/sources.list"
opts=(-o "Dir::Etc::SourceList=$apt/etc/sources.list" -o "Dir::Etc::SourceParts=/nonexistent"
      -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
      -o "Dir::Cache::Archives=$apt/archives" -o "APT::Architecture=amd64"
      -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
log "fetching qemu-system-x86=$QEMU10_VERSION from $mirror bookworm-backports (private apt configuration)"
apt-get "${opts[@]}" update -qq >&2
(cd "$apt/debs" && apt-get "${opts[@]}" -q download >&2 "qemu-system-x86=$QEMU10_VERSION" \
	"qemu-system-data=$QEMU10_VERSION" "seabios=$SEABIOS_VERSION")
rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
for d in "$apt"/debs/*.deb; do dpkg-deb -x "$d" "$dest.tmp"; done
# Its libraries are bookworm's (the system's QEMU 7.2 needs the same): none may be missing.
missing=$(ldd "$dest.tmp/usr/bin/qemu-system-x86_64" | grep 'not found' || true)
[ -z "$missing" ] || die "QEMU 10 needs libraries this machine lacks: $missing"
touch "$dest.tmp/.complete"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
rm -rf "$apt"
log "QEMU 10 in $dest: $("$dest/usr/bin/qemu-system-x86_64" --version | head -n1)"
echo "$dest"
