#!/usr/bin/env bash
# The patched QEMU: QEMU 10.0.2 as Debian ships it (the orig tarball of the source package
# `qemu` 1:10.0.2+ds-2+deb13u1~bpo12+1, fetched through a private apt configuration whose
# mirror comes from this machine's apt sources), with the companion series of qemu/ applied,
# built for x86_64-softmmu only (KVM, no TCG) with ccache. Its build dependencies meson 1.7.0
# and pycotap come from bookworm-backports, unpacked privately (dpkg-deb -x) onto PYTHONPATH.
# The system's apt configuration is left alone. The result is cached machine-wide, keyed by
# the series and this script, so that a second run (or a fresh clone) is instant. Firmware
# (bios-256k.bin, linuxboot_dma.bin, kvmvapic.bin...) still comes from Debian's binary
# packages (bench/qemu10.sh). Prints the path of qemu-system-x86_64.
. "$(dirname "$0")/lib.sh"
QEMU_SRC_VERSION=1:10.0.2+ds-2+deb13u1~bpo12+1
QEMU_ORIG=qemu_10.0.2+ds.orig.tar.xz
QEMU_ORIG_SHA256=0901da33844a331bf8b3602b9c1fbd178e60b737c8e3ade678255bd090c9b9f1
MESON_VERSION=1.7.0-1~bpo12+1
CACHE=${QEMU_BUILD_CACHE:-/var/cache/kvm-vmclock/qemu-build}
PATCHES=$TOP/qemu

# Hash of what the binary is made from: the series (in its order) and this script.
qemu_hash() {
	{ sed -e '/^[[:space:]]*#/d' -e '/^[[:space:]]*$/d' "$PATCHES/series" |
		while read -r p; do sha256sum < "$PATCHES/$p"; done
	  sha256sum < "$TOP/bench/qemu-build.sh"
	} | sha256sum | cut -c1-16
}
hash=$(qemu_hash)
dest=$CACHE/$hash
bin=$dest/usr/bin/qemu-system-x86_64
if [ -x "$bin" ] && [ -f "$dest/.complete" ]; then
	echo "$bin"
	exit 0
fi
mkdir -p "$CACHE"
# One build at a time per machine (two clones may run this at once).
exec 9>"$CACHE/.lock"
flock 9
if [ -x "$bin" ] && [ -f "$dest/.complete" ]; then
	echo "$bin"
	exit 0
fi

# The private apt configuration: bookworm-backports, binaries and sources.
apt=$CACHE/apt
tools=$CACHE/tools-meson-$MESON_VERSION
orig=$CACHE/$QEMU_ORIG
have_orig() { [ -f "$orig" ] && echo "$QEMU_ORIG_SHA256  $orig" | sha256sum -c --quiet - 2>/dev/null; }
if ! have_orig || [ ! -f "$tools/.complete" ]; then
	mirror=$(debian_mirror)
	[ -n "$mirror" ] || die "no Debian mirror found in this machine's apt sources"
	rm -rf "$apt" && mkdir -p "$apt"/{lists/partial,archives/partial,cache,etc,debs}
	{ echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm-backports main"
	  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm-backports main"
	} >"$apt/etc/sources.list"
	opts=(-o "Dir::Etc::SourceList=$apt/etc/sources.list" -o "Dir::Etc::SourceParts=/nonexistent"
	      -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
	      -o "Dir::Cache::Archives=$apt/archives" -o "APT::Architecture=amd64"
	      -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
	log "apt: bookworm-backports from $mirror (private configuration)"
	apt-get "${opts[@]}" update -qq >&2
	if ! have_orig; then
		# Only the orig tarball: the Debian part is not needed (and was seen to 404).
		uri=$(apt-get "${opts[@]}" --print-uris source "qemu=$QEMU_SRC_VERSION" 2>/dev/null |
			awk -v f="$QEMU_ORIG" '$2 == f { gsub("\x27", "", $1); print $1 }')
		[ -n "$uri" ] || die "no $QEMU_ORIG in the deb-src index of bookworm-backports"
		log "fetching $QEMU_ORIG (39 MB)"
		/usr/lib/apt/apt-helper -o "APT::Sandbox::User=root" download-file "$uri" "$orig.part" \
			"SHA256:$QEMU_ORIG_SHA256" >&2
		mv "$orig.part" "$orig"
		have_orig || die "$QEMU_ORIG: sha256 mismatch"
	fi
	if [ ! -f "$tools/.complete" ]; then
		(cd "$apt/debs" && apt-get "${opts[@]}" -q download >&2 \
			"meson=$MESON_VERSION" python3-pycotap/bookworm-backports)
		rm -rf "$tools" && mkdir -p "$tools"
		for d in "$apt"/debs/*.deb; do dpkg-deb -x "$d" "$tools"; done
		touch "$tools/.complete"
	fi
	rm -rf "$apt"
fi
# Meson (and ninja, which re-runs it) must find the backported meson and pycotap first.
export PYTHONPATH=$tools/usr/lib/python3/dist-packages${PYTHONPATH:+:$PYTHONPATH}

# The source tree stays between runs, as a git repository of the pristine tarball (with
# the edk2 stand-ins): a new series only re-applies its patches, deleting a tree is slow
# here, and ninja then rebuilds only what the patches change (ccache covers the rest).
work=$CACHE/work
src=$work/qemu-10.0.2
git_src() { git -C "$src" -c safe.directory="$src" -c user.name=bench -c user.email=bench@localhost "$@"; }
if [ ! -f "$work/.unpacked-$QEMU_ORIG_SHA256" ]; then
	rm -rf "$work" && mkdir -p "$work"
	log "unpacking $QEMU_ORIG"
	tar -C "$work" --no-same-owner -xJf "$orig"
	[ -d "$src" ] || die "$QEMU_ORIG has no qemu-10.0.2/"
	# The +ds tarball drops the edk2 images, which pc-bios/meson.build still wants
	# whenever bzip2 is installed: empty stand-ins (the tests boot with SeaBIOS).
	sed -n "s/^ *'\(edk2-[^']*\.fd\)',*$/\1/p" "$src/pc-bios/meson.build" | while read -r f; do
		[ -f "$src/pc-bios/$f.bz2" ] || bzip2 -c </dev/null >"$src/pc-bios/$f.bz2"
	done
	echo /build/ >"$src/.git-exclude"
	git_src init -q
	git_src config core.excludesFile "$src/.git-exclude"
	git_src add -A -f . && git_src commit -q -m "$QEMU_ORIG with edk2 stand-ins"
	git_src tag pristine
	touch "$work/.unpacked-$QEMU_ORIG_SHA256"
else
	git_src reset -q --hard pristine
	git_src clean -q -fdx -e /build/
fi
sed -e '/^[[:space:]]*#/d' -e '/^[[:space:]]*$/d' "$PATCHES/series" | while read -r p; do
	log "applying qemu/$p"
	patch -d "$src" -p1 --batch --forward --quiet <"$PATCHES/$p" >&2 ||
		die "qemu/$p does not apply"
done

# All the default devices of x86_64-softmmu, as Debian's build has them: a guest of the pc
# machine then has the same devices (HPET, PC speaker, vmport...) under both QEMUs, and
# migrates between them (vmclock_e2e --compat).

# ccache: the same cache as the kernel's, with paths hashed relative to the work folder.
export CCACHE_BASEDIR=$work CCACHE_NOHASHDIR=1
# x86_64 with KVM only; the pc machine's own devices (serial, ACPI, the vmclock device)
# and migration (unix sockets, exec:, file:) need no optional feature.
conf=(--target-list=x86_64-softmmu --without-default-features
      --enable-kvm --disable-tcg --disable-docs --disable-install-blobs
      --enable-fdt=system "--cc=ccache gcc" "--cxx=ccache g++")
mkdir -p "$src/build"
cd "$src/build" || die "no $src/build"
if [ ! -f build.ninja ] || [ "$(cat configured 2>/dev/null)" != "${conf[*]}" ]; then
	log "configuring QEMU (x86_64-softmmu, KVM only)"
	rm -f configured
	../configure "${conf[@]}" >"$work/configure.log" 2>&1 ||
		{ tail -n 30 "$work/configure.log" >&2; die "configure failed (log: $work/configure.log)"; }
	echo "${conf[*]}" >configured
fi
# and the series' QEMU unit test, which vmclock_e2e --compat runs
log "building qemu-system-x86_64 and tests/unit/test-kvm-tsc with $JOBS jobs"
nice -n 10 ninja -j "$JOBS" qemu-system-x86_64 tests/unit/test-kvm-tsc >"$work/ninja.log" 2>&1 ||
	{ grep -B2 -A12 -m3 'error' "$work/ninja.log" >&2 || tail -n 40 "$work/ninja.log" >&2
	  die "build failed (log: $work/ninja.log)"; }
rm -rf "$dest.tmp" && mkdir -p "$dest.tmp/usr/bin"
cp qemu-system-x86_64 "$dest.tmp/usr/bin/"
mkdir -p "$dest.tmp/tests" && cp tests/unit/test-kvm-tsc "$dest.tmp/tests/"
strip "$dest.tmp/usr/bin/qemu-system-x86_64"
"$dest.tmp/usr/bin/qemu-system-x86_64" -device help 2>/dev/null | grep -q '"vmclock"' ||
	die "the built QEMU has no vmclock device"
touch "$dest.tmp/.complete"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
log "patched QEMU in $dest: $("$bin" --version | head -n1)"
echo "$bin"
