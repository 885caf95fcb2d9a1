#!/usr/bin/env bash
# build-debug-kernel.sh - the VM bench's debug kernel, cached.
#
# Builds Debian's linux-source-6.1 with KASAN, lockdep (PROVE_LOCKING),
# DEBUG_ATOMIC_SLEEP, KMEMLEAK, DEBUG_OBJECTS, UBSAN and DMA-API debugging
# from `allnoconfig` plus scripts/debug-kernel.config (only what the bench
# needs), so the whole VM suite can also run on it (`make vm-check-debug`).
#
# Prints the kernel tree on stdout (its only stdout line): the kernel to
# boot is <tree>/arch/x86/boot/bzImage, `make -C <tree> M=...` builds
# modules against it, and <tree>/RELEASE holds its `uname -r`. (The bench
# boots Debian's kernel as a bare vmlinux through PVH, but a KASAN kernel
# cannot take that path: PVH's entry code calls instrumented functions
# before KASAN's shadow exists and the guest triple-faults. The bzImage
# boots through the decompressor, which sets up the shadow first.)
#
# Cache: one tree, ${CACHE:-/var/cache/bnnacc}/kdebug/linux-source-6.1/,
# built for <key>, a hash of every input (the linux-source package version,
# the fragment, the recipe version below and the compiler), recorded in
# kdebug/KEY once the build is complete. A new source version or compiler
# starts from a fresh tree; a changed fragment reconfigures the tree in
# place and rebuilds only what the changed options touch. Concurrent
# runs serialise on a lock: `make check` starts one in the background at
# low priority while the first VM suite runs, and the debug suite's own run
# then waits for it.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${CACHE:-/var/cache/bnnacc}
SRC_TAR=${SRC_TAR:-/usr/src/linux-source-6.1.tar.xz}
FRAG=$top/scripts/debug-kernel.config
JOBS=${JOBS:-$(nproc)}
# Bump when the way the tree is configured or built below changes.
RECIPE=1

say() { echo "build-debug-kernel: $*" >&2; }
die() { echo "build-debug-kernel: error: $*" >&2; exit 1; }

[ -r "$SRC_TAR" ] || die "$SRC_TAR missing: install linux-source-6.1 (scripts/install-deps.sh)"
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || echo unknown)
base=$( { echo "$srcver recipe $RECIPE"; gcc --version | head -n1; } | sha256sum | cut -c1-16)
key=$( { echo "$base"; cat "$FRAG"; } | sha256sum | cut -c1-16)
dir=$CACHE/kdebug
tree=$dir/linux-source-6.1

mkdir -p "$CACHE"
exec 9> "$CACHE/kdebug.lock"
if ! flock -n 9; then
	say "waiting for another build of the debug kernel"
	flock 9
fi
if [ "$(cat "$dir/KEY" 2>/dev/null)" = "$key" ] && [ -s "$tree/RELEASE" ] &&
   [ -s "$tree/arch/x86/boot/bzImage" ]; then
	echo "$tree"
	exit 0
fi

t0=$(date +%s)
rm -f "$dir/KEY"
if [ "$(cat "$dir/BASE" 2>/dev/null)" != "$base" ] || [ ! -f "$tree/Makefile" ]; then
	rm -rf "$dir"
	mkdir -p "$dir"
	say "extracting $SRC_TAR ($srcver) into $dir"
	tar -xJf "$SRC_TAR" -C "$dir"
	[ -d "$tree" ] || die "$SRC_TAR has no linux-source-6.1/ directory"
	echo "$base" > "$dir/BASE"
else
	say "reconfiguring the tree in $dir (incremental build)"
fi

log=$dir/build.log
say "configuring (allnoconfig + $(basename "$FRAG"))"
{
	make -C "$tree" allnoconfig
	"$tree/scripts/kconfig/merge_config.sh" -m -O "$tree" "$tree/.config" "$FRAG"
	make -C "$tree" olddefconfig
} > "$log" 2>&1 || { tail -n 30 "$log" >&2; die "configuration failed (log: $log)"; }
"$tree/scripts/config" --file "$tree/.config" --set-str LOCALVERSION -bnnacc-debug \
	--disable LOCALVERSION_AUTO
make -C "$tree" olddefconfig >> "$log" 2>&1

# Every option of the fragment must have survived olddefconfig: a dropped
# dependency would silently build a kernel without a checker.
missing=()
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=n) o=${line%%=*}
		    grep -q "^$o=" "$tree/.config" && missing+=("$line") ;;
	CONFIG_*=*) grep -qxF "$line" "$tree/.config" || missing+=("$line") ;;
	esac
done < "$FRAG"
[ ${#missing[@]} -eq 0 ] || die "options dropped by Kconfig: ${missing[*]}"

say "building vmlinux with -j$JOBS (log: $log)"
make -C "$tree" -j"$JOBS" KBUILD_BUILD_TIMESTAMP=bnnacc-debug vmlinux modules bzImage \
	>> "$log" 2>&1 || { tail -n 40 "$log" >&2; die "kernel build failed (log: $log)"; }
make -s -C "$tree" kernelrelease > "$tree/RELEASE.tmp"
mv "$tree/RELEASE.tmp" "$tree/RELEASE"
echo "$key" > "$dir/KEY"
say "built $(cat "$tree/RELEASE") in $(($(date +%s) - t0)) s"
echo "$tree"
