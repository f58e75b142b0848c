#!/usr/bin/env bash
# Fetch Debian's linux-source-7.3 package when no tarball copy is at hand, through a
# private apt configuration whose mirror comes from this machine's own apt sources.
# The system's apt configuration is not changed. Prints the tarball's path.
. "$(dirname "$0")/lib.sh"
out=$BUILD/apt
mkdir -p "$out"/{lists/partial,archives/partial,etc}
# A Debian mirror from this machine's apt sources (lib.sh); it also serves trixie-backports.
mirror=$(debian_mirror)
[ -n "$mirror" ] || die "no Debian mirror found in this machine's apt sources"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie-backports main" \
	>"$out/etc/sources.list"
opts=(-o "Dir::Etc::SourceList=$out/etc/sources.list" -o "Dir::Etc::SourceParts=/nonexistent"
      -o "Dir::State::Lists=$out/lists" -o "Dir::Cache::Archives=$out/archives"
      -o "APT::Architecture=amd64" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
log "fetching linux-source-7.3=$LINUX_DEB_VERSION from $mirror (private apt configuration)"
apt-get "${opts[@]}" update -qq >&2
(cd "$out" && apt-get "${opts[@]}" -q download "linux-source-7.3=$LINUX_DEB_VERSION" >&2)
deb=$(ls "$out"/linux-source-7.3_*.deb)
rm -rf "$out/x" && dpkg-deb -x "$deb" "$out/x"
ls "$out"/x/usr/src/linux-source-7.3.tar.xz
