#!/usr/bin/env bash
# Configure and build the patched kernel: bench/kernel.sh fast|debug
# Output in build/kbuild-VARIANT (bzImage, and the installed uAPI headers in hdr/).
. "$(dirname "$0")/lib.sh"
variant=${1:-fast}
out=$BUILD/kbuild-$variant
frags=("$TOP/bench/config/fast.config")
if [ "$variant" = base ]; then
	# The base tree without the series (issue 26: which layer freezes), in a worktree of
	# build/linux at its tag base, with the fast configuration less the series' KUnit.
	SRC=$BUILD/linux-base
	[ -d "$SRC" ] || git -C "$BUILD/linux" worktree add -q --detach "$SRC" base
	mkdir -p "$out"
	grep -v KVM_VMCLOCK_KUNIT "$TOP/bench/config/fast.config" >"$out/base.config"
	frags=("$out/base.config")
elif [ "$variant" != fast ]; then
	frags+=("$TOP/bench/config/$variant.config")
fi
mkdir -p "$out"
mk() { make -C "$SRC" O="$out" CC="ccache gcc" HOSTCC="ccache gcc" -j"$JOBS" "$@"; }

# Every option the fragments ask for must be in the .config (Kconfig's dependencies
# can drop one; a build of an earlier patch of the series in the same output folder
# drops the symbols that patch does not know yet).
config_ok() {
	local f line o bad=0
	for f in "${frags[@]}"; do
		while IFS= read -r line; do
			case "$line" in CONFIG_*=n) o=${line%=n}
				grep -q "^$o=" "$out/.config" && { echo "$o is set" >&2; bad=1; } ;;
			CONFIG_*) grep -qx "$line" "$out/.config" || { echo "not set: $line" >&2; bad=1; } ;;
			esac
		done <"$f"
	done
	return $bad
}

# Reconfigure when the fragments change or the .config lost one of their options
# (a stamp keeps warm builds incremental).
cfgsum=$(cat "${frags[@]}" | sha256sum | cut -c1-16)
if [ ! -f "$out/.config" ] || [ "$(cat "$out/.bench-config" 2>/dev/null)" != "$cfgsum" ] ||
	! config_ok 2>/dev/null; then
	log "configuring $variant kernel"
	mk -s tinyconfig >/dev/null
	(cd "$out" && KCONFIG_CONFIG=.config "$SRC/scripts/kconfig/merge_config.sh" -m -O "$out" \
		.config "${frags[@]}" >/dev/null)
	mk -s olddefconfig >/dev/null
	config_ok || die "kernel config does not match the fragments"
	echo "$cfgsum" >"$out/.bench-config"
fi
log "building $variant kernel"
mk -s bzImage
mk -s headers_install INSTALL_HDR_PATH="$out/hdr" >/dev/null
log "kernel ready: $out/arch/x86/boot/bzImage"
