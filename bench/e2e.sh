#!/usr/bin/env bash
# The end-to-end test's part of the bench VM's initramfs: bench/e2e.sh ROOT [VARIANT]
# Puts into ROOT/e2e: QEMU 10 (bench/qemu10.sh) with its firmware (its libraries go to
# their usual paths in ROOT), the VMM stand-in vmclock_shim.so, the bench kernel's
# bzImage and the nested guest's initramfs l2.gz (busybox, bench/e2e/l2-init and the
# static bench/e2e/vmclock_guest). The test itself, vmclock_e2e, is a selftest.
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
# E2E_QEMU=patched: the VMM is the patched QEMU of qemu/ (bench/qemu-build.sh), which calls
# KVM_SET_VMCLOCK itself; its firmware still comes from QEMU 10's packages. Not the default:
# it needs the KVM side of the new uAPI, and vmclock_e2e still drives the stand-in.
qbin=$qemu/usr/bin/qemu-system-x86_64
[ "${E2E_QEMU:-debian}" != patched ] || qbin=$("$TOP/bench/qemu-build.sh")
mkdir -p "$out" "$root/e2e"
cflags=(-O2 -Wall -Wextra -Wno-unused-parameter -isystem "$hdr")

# The nested guest: static, plain C; its initramfs
gcc "${cflags[@]}" -static -o "$out/vmclock_guest" "$TOP/bench/e2e/vmclock_guest.c"
l2=$out/l2root
rm -rf "$l2" && mkdir -p "$l2"/{bin,proc,sys,dev}
cp /bin/busybox "$l2/bin/busybox"
for a in sh mount cat echo uname poweroff insmod; do ln -s busybox "$l2/bin/$a"; done
if [ "$variant" = demo ]; then
	mkdir -p "$l2/modules" && cp "$BUILD/kbuild-demo/modules/ptp_vmclock.ko" "$l2/modules/"
fi
install -m 0755 "$TOP/bench/e2e/l2-init" "$l2/init"
install -m 0755 "$out/vmclock_guest" "$l2/vmclock_guest"
(cd "$l2" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -9) >"$root/e2e/l2.gz"
# The nested guest's kernel is the bench kernel's image; for the debug variant, the fast
# one: nested under TCG a KASAN and lockdep guest takes about 5 minutes to boot, and the
# debug run is about level 1's KVM under the debug options.
if [ "$variant" = debug ]; then
	"$TOP/bench/kernel.sh" fast >&2
	kernel=$BUILD/kbuild-fast/arch/x86/boot/bzImage
fi
cp "$kernel" "$root/e2e/bzImage"

# The VMM stand-in, preloaded into QEMU
gcc "${cflags[@]}" -shared -fPIC -o "$root/e2e/vmclock_shim.so" "$TOP/bench/e2e/vmclock_shim.c" -ldl -lpthread

# QEMU 10, the firmware it loads for a -kernel boot of the pc machine, its libraries
q=$root/e2e/qemu/usr
mkdir -p "$q/bin" "$q/share/qemu" "$q/share/seabios"
cp "$qbin" "$q/bin/qemu-system-x86_64"
for f in linuxboot_dma.bin kvmvapic.bin; do cp "$qemu/usr/share/qemu/$f" "$q/share/qemu/"; done
cp "$qemu/usr/share/seabios/bios-256k.bin" "$q/share/seabios/"
for b in "$qbin" "$root/e2e/vmclock_shim.so"; do ldd "$b"; done |
	grep -o '/[^ ]*' | sort -u | while read -r l; do
	[ -f "$root$l" ] || { mkdir -p "$root$(dirname "$l")"; cp -L "$l" "$root$l"; }
done
log "e2e: QEMU 10 ($([ "$qbin" = "$qemu/usr/bin/qemu-system-x86_64" ] && echo Debian || echo patched)), nested guest ($(du -h "$root/e2e/l2.gz" | cut -f1) initramfs), shim in the initramfs"
