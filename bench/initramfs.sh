#!/usr/bin/env bash
# Pack the bench VM's initramfs: busybox, bench/init, the selftests of bench/tests.conf
# and the shared libraries they need. Output: build/initrd.gz
. "$(dirname "$0")/lib.sh"
root=$BUILD/initramfs
rm -rf "$root" && mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,tests,lib64,etc}
cp /bin/busybox "$root/bin/busybox"
for a in $("$root/bin/busybox" --list); do
	[ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
done
install -m 0755 "$TOP/bench/init" "$root/init"
grep -v '^\s*\(#\|$\)' "$TOP/bench/tests.conf" >"$root/tests.conf"
copy_libs() {
	ldd "$1" 2>/dev/null | grep -o '/[^ ]*' | while read -r l; do
		[ -f "$root$l" ] || { mkdir -p "$root$(dirname "$l")"; cp -L "$l" "$root$l"; }
	done
}
awk '{ print $1 }' "$root/tests.conf" | sort -u | while read -r t; do
	[ -x "$BUILD/selftests/$t" ] || die "selftest $t was not built"
	mkdir -p "$root/tests/$(dirname "$t")"
	cp "$BUILD/selftests/$t" "$root/tests/$t"
	copy_libs "$BUILD/selftests/$t"
done
cp "$BUILD/selftests/x86/vmclock_demo" "$root/tests/x86/" && copy_libs "$BUILD/selftests/x86/vmclock_demo"
cp "$BUILD/selftests/x86/vmclock_bench" "$root/tests/x86/" && copy_libs "$BUILD/selftests/x86/vmclock_bench"
# pthread_cancel() dlopen()s libgcc_s (xen_shinfo_test needs it).
gcc_s=$(realpath "$(dirname "$(ldd /bin/true | grep -o '/[^ ]*libc.so.6')")/libgcc_s.so.1")
mkdir -p "$root$(dirname "$gcc_s")" && cp "$gcc_s" "$root$(dirname "$gcc_s")/libgcc_s.so.1"
for x in "${EXTRA_INITRAMFS[@]:-}"; do [ -n "$x" ] && cp -a "$x" "$root/"; done
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) >"$BUILD/initrd.gz"
log "initramfs: $(du -h "$BUILD/initrd.gz" | cut -f1)"
