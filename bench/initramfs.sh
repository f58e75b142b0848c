#!/usr/bin/env bash
# Pack the bench VM's initramfs: busybox, bench/init, the selftests of bench/tests.conf
# and the shared libraries they need, and the end-to-end test's nested guest with the
# kernel of VARIANT (bench/e2e.sh). Usage: bench/initramfs.sh [VARIANT]. Output: build/initrd.gz
# VARIANT demo: Debian's kernel (bench/demo-kernel.sh): only the demo's test, and the KVM
# modules, which /init loads in the order of /modules/load.
# BENCH_TESTS="x86/vmclock_e2e": only those tests of bench/tests.conf.
. "$(dirname "$0")/lib.sh"
variant=${1:-fast}
root=$BUILD/initramfs
rm -rf "$root" && mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,tests,lib64,etc}
busybox_root "$root"
init_tools "$root"
if [ "$variant" = demo ]; then
	echo x86/vmclock_e2e >"$root/tests.conf"
	mkdir -p "$root/modules"
	for m in irqbypass kvm ccp kvm-amd; do cp "$BUILD/kbuild-demo/modules/$m.ko" "$root/modules/"; done
	# kvm.tsc_tolerance_ppm of bench/boot.sh: a module takes it at insmod, not from the command line
	printf '%s\n' irqbypass.ko "kvm.ko tsc_tolerance_ppm=5000" ccp.ko kvm-amd.ko >"$root/modules/load"
else
	grep -v '^\s*\(#\|$\)' "$TOP/bench/tests.conf" >"$root/tests.conf"
	# BENCH_TESTS="x86/vmclock_e2e ...": only those lines of tests.conf (a quick run);
	# BINARY:ARG names one line with its arguments (x86/vmclock_e2e:--compat)
	if [ -n "${BENCH_TESTS:-}" ]; then
		awk -v keep=" $BENCH_TESTS " '{ k = $1; for (i = 2; i <= NF; i++) k = k ":" $i }
			index(keep, " " $1 " ") || index(keep, " " k " ")' "$root/tests.conf" >"$root/tests.sel"
		mv "$root/tests.sel" "$root/tests.conf"
		[ -s "$root/tests.conf" ] || die "BENCH_TESTS=$BENCH_TESTS: none of them is in bench/tests.conf"
		log "BENCH_TESTS: only $(awk '{ print $1 }' "$root/tests.conf" | tr '\n' ' ')"
	fi
fi
copy_libs() {
	local l
	# (a test that is a script has no libraries: ldd and grep fail)
	for l in $(ldd "$1" 2>/dev/null | grep -o '/[^ ]*' || true); do
		[ -f "$root$l" ] || { mkdir -p "$root$(dirname "$l")"; cp -L "$l" "$root$l"; }
	done
}
awk '{ print $1 }' "$root/tests.conf" | sort -u | while read -r t; do
	[ -x "$BUILD/selftests/$t" ] || die "selftest $t was not built"
	mkdir -p "$root/tests/$(dirname "$t")"
	cp "$BUILD/selftests/$t" "$root/tests/$t"
	copy_libs "$BUILD/selftests/$t"
done
if [ "$variant" != demo ]; then
	cp "$BUILD/selftests/x86/vmclock_bench" "$root/tests/x86/" && copy_libs "$BUILD/selftests/x86/vmclock_bench"
fi
# The end-to-end test's QEMU 10, nested guest and VMM stand-in (tests/x86/vmclock_e2e runs them).
"$TOP/bench/e2e.sh" "$root" "$variant"
# pthread_cancel() dlopen()s libgcc_s (xen_shinfo_test needs it).
gcc_s=$(realpath "$(dirname "$(ldd /bin/true | grep -o '/[^ ]*libc.so.6')")/libgcc_s.so.1")
mkdir -p "$root$(dirname "$gcc_s")" && cp "$gcc_s" "$root$(dirname "$gcc_s")/libgcc_s.so.1"
for x in "${EXTRA_INITRAMFS[@]:-}"; do [ -n "$x" ] && cp -a "$x" "$root/"; done
pack_cpio "$root" "$BUILD/initrd.gz"
log "initramfs: $(du -h "$BUILD/initrd.gz" | cut -f1)"
