#!/usr/bin/env bash
# build-qemu.sh - build Debian's QEMU 7.2 with the bnnacc device, cached.
#
# usage: build-qemu.sh [--san]
#
# Prints the path of qemu-system-x86_64 on stdout (its only stdout line);
# progress and timings go to stderr.
#
# --san builds a separate QEMU with AddressSanitizer and UBSan (configure
# --enable-sanitizers), for fuzzing the device model (tests/fuzz/device.mk).
# Its reports go to QEMU's stderr ("ERROR: AddressSanitizer", "runtime
# error:"). It has its own cache entries (qemu-san-<key>, qemu-src-san-<base>,
# its own lock): the default build, its keys and its cache are unaffected.
# From scratch it took 867 s on 2 shared cores (37 s configure, 830 s
# compile; the default build takes about 3 minutes); after a change of the
# device either variant only recompiles our two files and links (15-20 s).
#
# Cache layout under ${CACHE:-/var/cache/bnnacc}:
#   dl/                      Debian source package (.dsc, .orig, .debian)
#   qemu-src-<base>/         unpacked, patched, configured tree + build/;
#                            <base> hashes what the tree depends on (Debian
#                            version, bnnacc.mak, the recipe below), so
#                            editing the device only re-runs ninja on it
#   qemu-<key>/bin/qemu-system-x86_64, qemu-<key>/KEY
#                            the result; <key> hashes every input (KEY lists
#                            them). Appears atomically (rename) when complete.
#   qemu-san-<key>/, qemu-src-san-<base>/
#                            the same for --san
# The two newest of each kind are kept.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${CACHE:-/var/cache/bnnacc}

say() { echo "build-qemu: $*" >&2; }
die() { echo "build-qemu: error: $*" >&2; exit 1; }

san=0
case "${1:-}" in
--san) san=1 ;;
"") ;;
*) die "usage: build-qemu.sh [--san]" ;;
esac
# Cache-name prefix of the variant: "" (default) or "san-".
kind=
[ $san -eq 0 ] || kind=san-
hex16='[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'

# ---- the recipe of the configured tree ------------------------------------
# Everything here is hashed into <base>; bump TREE_RECIPE when changing how
# the tree is made in a way these texts do not show.
TREE_RECIPE=1
CONFIGURE_FLAGS=(
	--target-list=x86_64-softmmu
	--without-default-features --without-default-devices
	--with-devices-x86_64=bnnacc
	--enable-tcg --enable-virtfs --enable-attr --enable-cap-ng
	--enable-fdt=system
	--disable-docs --disable-tools --disable-guest-agent
	--disable-werror --disable-install-blobs
)
# --san: ASan + UBSan (-fsanitize=address -fsanitize=undefined) on all of
# QEMU, our device included. The flag lands in <base>, hence its own tree.
[ $san -eq 0 ] || CONFIGURE_FLAGS+=(--enable-sanitizers)
# Wiring the device in, mirroring `config EDU`.
KCONFIG_TEXT='
config BNNACC
    bool
    default y if TEST_DEVICES
    depends on PCI && MSI_NONBROKEN'
MESON_TEXT="softmmu_ss.add(when: 'CONFIG_BNNACC', if_true: files('bnnacc.c', 'bnnacc_core.c'))"

# ---- the Debian source version ---------------------------------------------
# Highest version apt knows a source for; without deb-src, the newest .dsc
# already downloaded.
qemu_version() {
	local v best=
	for v in $(apt-cache showsrc qemu 2>/dev/null | sed -n 's/^Version: //p'); do
		if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then
			best=$v
		fi
	done
	if [ -z "$best" ]; then
		v=$(find "$CACHE/dl" -maxdepth 1 -name 'qemu_*.dsc' 2>/dev/null |
			sed 's|.*/qemu_\(.*\)\.dsc$|\1|' | sort -V | tail -n1)
		[ -n "$v" ] && best=$v
	fi
	[ -n "$best" ] || die "no QEMU source: enable deb-src (scripts/install-deps.sh)"
	echo "$best"
}

ver=$(qemu_version)
ver_noepoch=${ver#*:}

# ---- cache keys ---------------------------------------------------------------
# The inputs, relative to a tree laid out like ours (the work tree, or the
# snapshot the slow path builds from).
input_list() {
	local f
	for f in qemu-model/*.c qemu-model/*.h qemu-model/*.mak qemu-model/trace-events \
		 uapi/bnnacc.h uapi/bnnacc_hw.h scripts/build-qemu.sh; do
		[ -f "$f" ] && echo "$f"
	done
}

# Sets stamp, key and base from the tree at $1.
compute_keys() {
	local f
	for f in qemu-model/bnnacc.c qemu-model/bnnacc_core.c \
		 qemu-model/bnnacc_core.h qemu-model/bnnacc.mak qemu-model/trace-events \
		 uapi/bnnacc.h uapi/bnnacc_hw.h; do
		[ -f "$1/$f" ] || die "$f missing"
	done
	stamp=$( { echo "debian-qemu-source: qemu $ver";
		   [ $san -eq 0 ] || echo "variant: --enable-sanitizers";
		   cd "$1" && input_list | xargs sha256sum; } )
	key=$(printf '%s\n' "$stamp" | sha256sum | cut -c1-16)
	base=$( { echo "qemu $ver recipe $TREE_RECIPE";
		  printf '%s\n' "${CONFIGURE_FLAGS[@]}" "$KCONFIG_TEXT" "$MESON_TEXT";
		  cd "$1" && sha256sum qemu-model/bnnacc.mak; } |
		sha256sum | cut -c1-16)
	out=$CACHE/qemu-$kind$key
	bin=$out/bin/qemu-system-x86_64
}

compute_keys "$top"
if [ -x "$bin" ]; then
	touch "$out" 2>/dev/null || true	# recency, for pruning
	echo "$bin"
	exit 0
fi

# ---- slow path: one builder at a time ------------------------------------------
mkdir -p "$CACHE/dl" || die "cannot create $CACHE (set CACHE=...)"
exec 9>"$CACHE/.qemu-build${kind:+-san}.lock"
if ! flock -n 9; then
	say "waiting for another build-qemu.sh to finish"
	flock 9
fi
# Build from a snapshot of the inputs, so that the result matches its key
# even if the work tree changes meanwhile.
snap=$(mktemp -d "${TMPDIR:-/tmp}/build-qemu.XXXXXX")
trap 'rm -rf "$snap"' EXIT
(cd "$top" && input_list | cpio -pdm --quiet "$snap")
compute_keys "$snap"
if [ -x "$bin" ]; then			# built while we waited
	echo "$bin"
	exit 0
fi

t0=$(date +%s)
src=$CACHE/qemu-src-$kind$base
# Leftovers of interrupted runs of this variant (the other one may be
# building concurrently under its own lock).
# shellcheck disable=SC2086 # $hex16 is a glob
rm -rf "$CACHE"/qemu-$kind$hex16.tmp.* "$CACHE"/qemu-src-$kind$hex16.tmp.*

# Source tree: Debian's tarballs with Debian's patches applied.
if [ ! -f "$src/.bnnacc-unpacked" ]; then
	dsc=$CACHE/dl/qemu_$ver_noepoch.dsc
	if [ ! -f "$dsc" ]; then
		say "downloading the source of qemu $ver"
		(cd "$CACHE/dl" && apt-get source -q --download-only "qemu=$ver" >&2) ||
			die "apt-get source qemu=$ver failed (is deb-src enabled?)"
	fi
	say "unpacking $(basename "$dsc")"
	rm -rf "$src"
	tmp=$src.tmp.$$
	dpkg-source --no-copy -x "$dsc" "$tmp" >"$CACHE/dl/unpack.log" 2>&1 ||
		{ tail -n 20 "$CACHE/dl/unpack.log" >&2; die "dpkg-source -x failed"; }

	printf '%s\n' "$KCONFIG_TEXT" >>"$tmp/hw/misc/Kconfig"
	printf '%s\n' "$MESON_TEXT" >>"$tmp/hw/misc/meson.build"
	touch "$tmp/.bnnacc-unpacked"
	mv -T "$tmp" "$src"
fi

# Our files; copied only when changed so that ninja rebuilds only those.
install_if_changed() {
	if ! cmp -s "$1" "$2"; then
		cp "$1" "$2.tmp" && mv -f "$2.tmp" "$2"
	fi
}
install_if_changed "$snap/qemu-model/bnnacc.c" "$src/hw/misc/bnnacc.c"
install_if_changed "$snap/qemu-model/bnnacc_core.c" "$src/hw/misc/bnnacc_core.c"
install_if_changed "$snap/qemu-model/bnnacc_core.h" "$src/hw/misc/bnnacc_core.h"
install_if_changed "$snap/uapi/bnnacc.h" "$src/hw/misc/bnnacc.h"
install_if_changed "$snap/uapi/bnnacc_hw.h" "$src/hw/misc/bnnacc_hw.h"
install_if_changed "$snap/qemu-model/bnnacc.mak" \
	"$src/configs/devices/x86_64-softmmu/bnnacc.mak"
# Our trace events follow QEMU's own in hw/misc/trace-events (their
# generated trace.h is what bnnacc.c includes); the pristine file is kept
# beside it as trace-events.orig, made before the first change.
[ -f "$src/hw/misc/trace-events.orig" ] ||
	cp "$src/hw/misc/trace-events" "$src/hw/misc/trace-events.orig"
cat "$src/hw/misc/trace-events.orig" "$snap/qemu-model/trace-events" >"$snap/trace-events"
install_if_changed "$snap/trace-events" "$src/hw/misc/trace-events"

if [ ! -f "$src/.bnnacc-configured" ]; then
	say "configuring (log: $src/configure.log)"
	rm -rf "$src/build"
	mkdir -p "$src/build"
	# PYTHON, not --python (which wants QEMU's embedded meson): Debian's
	# python3 and meson even when a pyenv python3 comes first on PATH.
	(cd "$src/build" && PYTHON=/usr/bin/python3 ../configure \
		"${CONFIGURE_FLAGS[@]}") >"$src/configure.log" 2>&1 ||
		{ tail -n 30 "$src/configure.log" >&2; die "configure failed"; }
	touch "$src/.bnnacc-configured"
	say "configured in $(( $(date +%s) - t0 )) s"
fi

t1=$(date +%s)
jobs=$(nproc 2>/dev/null || echo 2)
say "compiling with ninja -j$jobs (log: $src/build.log)"
if ! ninja -C "$src/build" -j"$jobs" qemu-system-x86_64 >"$src/build.log" 2>&1; then
	sed -n '/^FAILED:/,$p' "$src/build.log" | grep -v '^\[[0-9]*/[0-9]*\] \|^cc ' |
		head -n 80 >&2
	die "ninja failed (full log: $src/build.log)"
fi
# Warnings in our files are worth seeing even when the build succeeds.
grep -A4 '^\.\./hw/misc/bnnacc[a-z_]*\.c:[0-9]*:[0-9]*: warning' "$src/build.log" >&2 || true
say "compiled in $(( $(date +%s) - t1 )) s"

# Publish atomically.
tmp=$out.tmp.$$
rm -rf "$tmp"
mkdir -p "$tmp/bin"
cp "$src/build/qemu-system-x86_64" "$tmp/bin/qemu-system-x86_64"
printf '%s\n' "$stamp" >"$tmp/KEY"
mv -T "$tmp" "$out"
touch "$src"

# Keep the two newest results and trees.
prune() {
	local d n=0
	while IFS= read -r d; do
		n=$((n + 1))
		[ $n -le 2 ] || rm -rf "$d"
	done < <(ls -1dt "$@" 2>/dev/null || true)
}
# shellcheck disable=SC2086 # $hex16 is a glob
prune "$CACHE"/qemu-$kind$hex16
# shellcheck disable=SC2086
prune "$CACHE"/qemu-src-$kind$hex16

say "done in $(( $(date +%s) - t0 )) s: $bin"
echo "$bin"
