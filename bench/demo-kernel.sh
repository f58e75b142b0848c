#!/usr/bin/env bash
# The cold `make demo`'s kernel, without compiling one: Debian's own 7.3.4 image (the binary
# packages of the base tree's source version, $LINUX_DEB_VERSION), with the series' KVM
# built as modules (kvm.ko, kvm-amd.ko) from build/linux against Debian's configuration.
# Output in build/kbuild-demo: modules/ (the series' kvm.ko and kvm-amd.ko, Debian's
# irqbypass.ko, ccp.ko and ptp_vmclock.ko), vmlinuz (Debian's image), hdr/ (the patched
# tree's uAPI headers, for the selftests).
#
# The packages come through a private apt configuration whose mirror is read from this
# machine's apt sources (the system's configuration is not changed); apt checks them
# against the signed Release file, and their names and versions are checked here.
# Debian's linux-headers package is not used as a build tree (its host tools are linked
# against trixie's glibc): only its Module.symvers, for modpost's check that every symbol
# the series' KVM needs is exported by Debian's kernel. The configuration is Debian's, made
# with `olddefconfig` by this machine's gcc: it may only change what depends on the
# toolchain (versions, CC_HAS_*, Rust) and what Debian's shipped config leaves out (signing
# keys: modules are not installed, so not signed), and add the series' KVM_VMCLOCK;
# anything else stops the build. (The first attempt turned DEBUG_INFO_BTF_MODULES off, for
# want of a vmlinux to base the modules' BTF on: it shifts fields of struct module, same
# size, and Debian's kernel refused kvm.ko: "Invalid relocation target, existing value is
# nonzero" in .gnu.linkonce.this_module.)
. "$(dirname "$0")/lib.sh"
KREL=7.3.4+deb13-amd64
# Debian's image has the base tree's core kernel, so the modules are built from the series
# up to the last patch before the first one that changes the core kernel (kernel/, today
# "timekeeping: Add an interface for paravirtual clock providers", which the later KVM
# patches call): a detached worktree of build/linux at that commit. The demo then runs the
# series' KVM without the patches that need a patched core kernel (the host's NTP status,
# error bounds and leap second); DEMO_KERNEL=bench runs all of it on the bench kernel.
first=$(git -C "$SRC" log --reverse --format=%H base..HEAD -- kernel | head -n1)
# DEMO_FETCH_ONLY=1: only Debian's image and stock modules (a nested guest's, bench/e2e.sh)
if [ -n "$first" ] && [ -z "${DEMO_FETCH_ONLY:-}" ]; then
	at=$(git -C "$SRC" rev-parse "$first^")
	wt=$BUILD/linux-demo
	if [ "$(git -C "$wt" rev-parse HEAD 2>/dev/null)" != "$at" ]; then
		log "demo modules: the series up to '$(git -C "$SRC" log -1 --format=%s "$at")'" \
			"(the next patch changes the core kernel, which Debian's image lacks)"
		git -C "$SRC" worktree remove --force "$wt" 2>/dev/null || rm -rf "$wt"
		git -C "$SRC" worktree prune
		git -C "$SRC" worktree add -q --detach "$wt" "$at" >&2
	fi
	SRC=$wt
fi
out=$BUILD/kbuild-demo
deb=$BUILD/debian-kernel
mk() { make -C "$SRC" O="$out" KERNELRELEASE="$KREL" CC="ccache gcc" HOSTCC="ccache gcc" -j"$JOBS" "$@"; }

# 1. Debian's packages: image, base (config), modules (a few stock ones), headers (Module.symvers)
if [ ! -f "$deb/.complete" ] || [ ! -f "$deb/root/usr/lib/modules/$KREL/kernel/drivers/ptp/ptp_kvm.ko.xz" ]; then
	mirror=$(debian_mirror)
	[ -n "$mirror" ] || die "no Debian mirror found in this machine's apt sources"
	apt=$deb/apt
	rm -rf "$deb" && mkdir -p "$apt"/{lists/partial,archives/partial,cache,etc,debs} "$deb/root"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie-backports main" \
		>"$apt/etc/sources.list"
	opts=(-o "Dir::Etc::SourceList=$apt/etc/sources.list" -o "Dir::Etc::SourceParts=/nonexistent"
	      -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
	      -o "Dir::Cache::Archives=$apt/archives" -o "APT::Architecture=amd64"
	      -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
	pkgs=("linux-binary-$KREL" "linux-base-$KREL" "linux-modules-$KREL" "linux-headers-$KREL")
	log "fetching Debian's kernel $KREL ($LINUX_DEB_VERSION) from $mirror trixie-backports (private apt configuration)"
	apt-get "${opts[@]}" update -qq >&2
	(cd "$apt/debs" && apt-get "${opts[@]}" -qq download "${pkgs[@]/%/=$LINUX_DEB_VERSION}" >&2)
	for p in "${pkgs[@]}"; do
		f=$(ls "$apt/debs/${p}_"*.deb)
		[ "$(dpkg-deb -f "$f" Package Version | tr '\n' ' ')" = "Package: $p Version: $LINUX_DEB_VERSION " ] ||
			die "$f is not $p $LINUX_DEB_VERSION"
		case $p in
		linux-modules-*) dpkg-deb --fsys-tarfile "$f" | tar -x -C "$deb/root" --wildcards \
			"./usr/lib/modules/$KREL/kernel/virt/lib/irqbypass.ko.xz" \
			"./usr/lib/modules/$KREL/kernel/drivers/crypto/ccp/ccp.ko.xz" \
			"./usr/lib/modules/$KREL/kernel/drivers/ptp/ptp_vmclock.ko.xz" \
			"./usr/lib/modules/$KREL/kernel/drivers/ptp/ptp_kvm.ko.xz" ;;
		linux-headers-*) dpkg-deb --fsys-tarfile "$f" | tar -x -C "$deb/root" \
			"./usr/src/linux-headers-$KREL/Module.symvers" ;;
		*) dpkg-deb -x "$f" "$deb/root" ;;
		esac
	done
	rm -rf "$apt"
	touch "$deb/.complete"
fi
kdir=$deb/root/usr/lib/modules/$KREL
mkdir -p "$out/modules"
cp "$kdir/vmlinuz" "$out/vmlinuz"
for m in virt/lib/irqbypass drivers/crypto/ccp/ccp drivers/ptp/ptp_vmclock drivers/ptp/ptp_kvm; do
	xz -dc "$kdir/kernel/$m.ko.xz" >"$out/modules/$(basename "$m").ko"
done
[ -z "${DEMO_FETCH_ONLY:-}" ] || exit 0

# 2. Debian's configuration on the patched tree
cfgsum=$(cat "$kdir/config" "$0" | sha256sum | cut -c1-16)
if [ "$(cat "$out/.bench-config" 2>/dev/null)" != "$cfgsum" ]; then
	log "configuring the series' KVM modules with Debian's $KREL configuration"
	cp "$kdir/config" "$out/.config"
	mk -s olddefconfig >/dev/null
	# What may differ: the toolchain (gcc 12 and binutils 2.40 here, gcc 14 and 2.44 at
	# Debian, no Rust here), the series' own option, and the signing settings.
	ok='^(CONFIG_(CC_VERSION_TEXT|GCC_VERSION|AS_VERSION|LD_VERSION|PAHOLE_VERSION|CC_HAS_[A-Z0-9_]+|CC_OPT_[A-Z_]+|GCC_ASM_GOTO_OUTPUT_BROKEN|RUST|RUST_[A-Z0-9_]+|RUSTC_[A-Z0-9_]+|BINDGEN_VERSION_TEXT|AMCC_QT2025_PHY|AX88796B_RUST_PHY|DRM_PANIC_SCREEN_QR_[A-Z_]+|OPENSSL_SUPPORTS_ML_DSA|KVM_VMCLOCK|MODULE_SIG_ALL|MODULE_SIG_KEY|BUILD_SALT|SYSTEM_TRUSTED_KEYS)=)'
	bad=$(diff <(grep '^CONFIG_' "$kdir/config" | sort) <(grep '^CONFIG_' "$out/.config" | sort) |
		sed -n 's/^[<>] //p' | grep -Ev "$ok" || true)
	[ -z "$bad" ] || die "Debian's configuration changed beyond the toolchain's options: $bad"
	echo "$cfgsum" >"$out/.bench-config"
fi

# 3. The series' KVM as modules. -g0: Debian's config asks for debug info, which changes
# nothing in the code and costs a third of the compile time. KBUILD_BUILTIN= (as for a
# plain `make modules`): the modules do not wait for a vmlinux to base their BTF on (kbuild
# skips it). modpost runs twice: kbuild's
# own (without vmlinux.o it cannot resolve anything, hence KBUILD_MODPOST_WARN), then
# with Debian's Module.symvers (less its KVM modules, replaced here): an unresolved
# symbol or a missing namespace import is an error.
log "building the series' kvm.ko and kvm-amd.ko for Debian's $KREL"
mk -s modules_prepare
mk -s KCFLAGS=-g0 KBUILD_BUILTIN= KBUILD_MODPOST_WARN=1 arch/x86/kvm/kvm.ko arch/x86/kvm/kvm-amd.ko 2>&1 |
	grep -Ev 'undefined!$|vmlinux.o is missing|Modules may not have|unresolved symbol|KBUILD_MODPOST_WARN=1|proceed at your own risk|Skipping BTF generation' >&2 || true
awk -F'\t' '$3 !~ /^arch\/x86\/kvm\//' "$deb/root/usr/src/linux-headers-$KREL/Module.symvers" >"$out/debian.symvers"
printf 'arch/x86/kvm/kvm.o\narch/x86/kvm/kvm-amd.o\n' >"$out/demo-modules.order"
(cd "$out" && scripts/mod/modpost -M -E -i debian.symvers -T demo-modules.order -o demo-modules.symvers) ||
	die "the series' KVM modules need symbols Debian's $KREL kernel does not export"
for m in kvm kvm-amd; do
	v=$(modinfo_field "$out/arch/x86/kvm/$m.ko" vermagic)
	w=$(modinfo_field "$out/modules/irqbypass.ko" vermagic)
	[ "$v" = "$w" ] || die "$m.ko vermagic '$v' is not Debian's '$w'"
	cp "$out/arch/x86/kvm/$m.ko" "$out/modules/"
done
mk -s headers_install INSTALL_HDR_PATH="$out/hdr" >/dev/null
log "Debian's $KREL image with the series' KVM modules ready in $out"
