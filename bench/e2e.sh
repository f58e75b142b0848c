#!/usr/bin/env bash
# The end-to-end test's part of the bench VM's initramfs: bench/e2e.sh ROOT [VARIANT]
# Puts into ROOT/e2e: the patched QEMU of qemu/ (bench/qemu-build.sh) with the firmware
# of Debian's QEMU 10 packages (bench/qemu10.sh; its libraries go to their usual paths in
# ROOT), the bench kernel's bzImage and the nested guest's initramfs l2.gz (busybox,
# bench/e2e/l2-init, the static bench/e2e/vmclock_guest, and chronyd and chronyc from
# Debian's chrony package with their libraries). The test itself, vmclock_e2e, is a
# selftest. E2E_QEMU=debian: Debian's QEMU 10 binary instead (no KVM_SET_VMCLOCK: the
# test then shows what an unmodified QEMU does, and fails).
# VARIANT demo: the nested guest runs Debian's kernel (bench/demo-kernel.sh), unmodified,
# with its stock ptp_vmclock module, which bench/e2e/l2-init loads.
. "$(dirname "$0")/lib.sh"
root=$1 variant=${2:-fast}
hdr=$BUILD/kbuild-$variant/hdr/include
kernel=$BUILD/kbuild-$variant/arch/x86/boot/bzImage
[ "$variant" != demo ] || kernel=$BUILD/kbuild-demo/vmlinuz
out=$BUILD/e2e
[ -d "$hdr" ] && [ -f "$kernel" ] || die "no $variant kernel or headers (run bench/kernel.sh $variant)"
qemu=$("$TOP/bench/qemu10.sh")
# The VMM is the patched QEMU of qemu/, which calls KVM_SET_VMCLOCK itself; its firmware
# comes from QEMU 10's packages.
case ${E2E_QEMU:-patched} in
patched) qbin=$("$TOP/bench/qemu-build.sh") ;;
debian) qbin=$qemu/usr/bin/qemu-system-x86_64 ;;
*) die "E2E_QEMU=$E2E_QEMU: patched or debian" ;;
esac
# chronyd for the nested guest: Debian's chrony package (the machine's apt sources,
# downloaded, never installed), unpacked once into a machine-wide cache.
chrony=${CHRONY_ROOT:-/var/cache/kvm-vmclock/chrony}
if [ ! -f "$chrony/.complete" ]; then
	rm -rf "$chrony.tmp" && mkdir -p "$chrony.tmp/debs"
	if (cd "$chrony.tmp/debs" && apt-get -q download chrony >&2 2>&1); then
		dpkg-deb -x "$chrony.tmp"/debs/chrony_*.deb "$chrony.tmp/root"
		basename "$chrony.tmp"/debs/chrony_*.deb >"$chrony.tmp/version"
		touch "$chrony.tmp/.complete"
		rm -rf "$chrony" && mv "$chrony.tmp" "$chrony"
	else
		log "e2e: no chrony package from this machine's apt sources: the chronyd subtests will fail"
	fi
fi
mkdir -p "$out" "$root/e2e"
cflags=(-O2 -Wall -Wextra -Wno-unused-parameter -isystem "$hdr")

# The nested guest: static, plain C; its initramfs
gcc "${cflags[@]}" -static -o "$out/vmclock_guest" "$TOP/bench/e2e/vmclock_guest.c"
l2=$out/l2root
rm -rf "$l2" && mkdir -p "$l2"/{bin,proc,sys,dev}
cp /bin/busybox "$l2/bin/busybox"
for a in sh mount cat echo uname poweroff insmod tail mkdir; do ln -s busybox "$l2/bin/$a"; done
if [ -f "$chrony/.complete" ]; then
	mkdir -p "$l2/usr/sbin" "$l2/usr/bin" "$l2/etc"
	cp "$chrony/root/usr/sbin/chronyd" "$l2/usr/sbin/"
	cp "$chrony/root/usr/bin/chronyc" "$l2/usr/bin/"
	echo 'root:x:0:0:root:/:/bin/sh' >"$l2/etc/passwd"
	echo 'root:x:0:' >"$l2/etc/group"
	for b in "$l2/usr/sbin/chronyd" "$l2/usr/bin/chronyc"; do ldd "$b"; done |
		grep -o '/[^ ]*' | sort -u | while read -r l; do
		[ -f "$l2$l" ] || { mkdir -p "$l2$(dirname "$l")"; cp -L "$l" "$l2$l"; }
	done
fi
# E2E_GUEST=debian: the nested guest runs Debian's kernel on any bench kernel (issue 26's
# freeze was seen with it), with its stock ptp_vmclock and ptp_kvm modules.
if [ "${E2E_GUEST:-}" = debian ] && [ "$variant" != demo ]; then
	DEMO_FETCH_ONLY=1 "$TOP/bench/demo-kernel.sh" >&2
fi
if [ "$variant" = demo ] || [ "${E2E_GUEST:-}" = debian ]; then
	mkdir -p "$l2/modules"
	cp "$BUILD/kbuild-demo/modules/ptp_vmclock.ko" "$BUILD/kbuild-demo/modules/ptp_kvm.ko" "$l2/modules/"
fi
install -m 0755 "$TOP/bench/e2e/l2-init" "$l2/init"
install -m 0755 "$out/vmclock_guest" "$l2/vmclock_guest"
pack_cpio "$l2" "$root/e2e/l2.gz" 9
# The nested guest's kernel is the bench kernel's image; for the debug variant, the fast
# one: nested under TCG a KASAN and lockdep guest takes about 5 minutes to boot, and the
# debug run is about level 1's KVM under the debug options.
if [ "$variant" = debug ]; then
	"$TOP/bench/kernel.sh" fast >&2
	kernel=$BUILD/kbuild-fast/arch/x86/boot/bzImage
fi
[ "${E2E_GUEST:-}" != debian ] || kernel=$BUILD/kbuild-demo/vmlinuz
cp "$kernel" "$root/e2e/bzImage"
# Which ptp_vmclock the nested guest has: Debian's stock module, or the bench kernel's with
# the guest-side series (patches-guest/): vmclock_e2e expects each one's behaviour.
if [ "$variant" = demo ] || [ "${E2E_GUEST:-}" = debian ] || [ ! -s "$TOP/patches-guest/series" ]; then
	echo stock >"$root/e2e/guest-driver"
else
	echo series >"$root/e2e/guest-driver"
fi

# QEMU 10, the firmware it loads for a -kernel boot (pc, microvm), its libraries
q=$root/e2e/qemu/usr
mkdir -p "$q/bin" "$q/share/qemu" "$q/share/seabios"
cp "$qbin" "$q/bin/qemu-system-x86_64"
# the series' QEMU unit test (vmclock_e2e --compat runs it), if this QEMU has it
ut=$(dirname "$(dirname "$(dirname "$qbin")")")/tests/test-kvm-tsc
[ ! -x "$ut" ] || { mkdir -p "$root/e2e/qemu-tests" && cp "$ut" "$root/e2e/qemu-tests/"; }
for f in linuxboot_dma.bin kvmvapic.bin; do cp "$qemu/usr/share/qemu/$f" "$q/share/qemu/"; done
# bios-microvm.bin: the microvm machine's (vmclock_e2e --compat)
for f in bios-256k.bin bios-microvm.bin; do cp "$qemu/usr/share/seabios/$f" "$q/share/seabios/"; done
# Debian's own QEMU 10.0.2 beside it: the unpatched side of vmclock_e2e --compat
mkdir -p "$root/e2e/qemu-debian/usr/bin"
cp "$qemu/usr/bin/qemu-system-x86_64" "$root/e2e/qemu-debian/usr/bin/"
{ ldd "$qbin"; ldd "$qemu/usr/bin/qemu-system-x86_64"; [ ! -x "$ut" ] || ldd "$ut"; } |
	grep -o '/[^ ]*' | sort -u | while read -r l; do
	[ -f "$root$l" ] || { mkdir -p "$root$(dirname "$l")"; cp -L "$l" "$root$l"; }
done
log "e2e: QEMU $([ "$qbin" = "$qemu/usr/bin/qemu-system-x86_64" ] && echo "10.0.2 (Debian's)" || echo "10.0.2 with qemu/ (patched)"), nested guest's initramfs $(du -h "$root/e2e/l2.gz" | cut -f1), chrony $(cat "$chrony/version" 2>/dev/null || echo none)"
