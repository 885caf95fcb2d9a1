#!/usr/bin/env bash
# lint-kernel.sh - the driver's quality gates, run by `make lint`:
#
#   checkpatch  scripts/checkpatch.pl --strict on kernel/*.[ch], uapi/bnnacc*.h
#   W=1         the module built with W=1; any compiler or modpost warning
#   sparse      the module checked with C=2; any sparse warning
#               (both against Linux 6.1 and, when installed, Linux 6.12:
#               scripts/kver.sh 6.12)
#   kernel-doc  kernel-doc -none -v on the same files; any warning
#
# Exits 0 only when every gate finds nothing. The builds run on a copy of
# the sources in a temporary directory, so they always compile everything and
# never disturb the tree's own build. checkpatch.pl and kernel-doc come from
# Debian's linux-source-6.1 tarball, extracted once into
# ${CACHE:-/var/cache/bnnacc}/linux-scripts.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
CACHE=${CACHE:-/var/cache/bnnacc}
SRC_TAR=${SRC_TAR:-/usr/src/linux-source-6.1.tar.xz}
KVER=${KVER:-$(scripts/kver.sh)}
KDIR=${KDIR:-/usr/src/linux-headers-$KVER}
src_dir=linux-source-6.1
scripts=$CACHE/linux-scripts/$src_dir/scripts
files=(kernel/*.c kernel/*.h uapi/bnnacc.h uapi/bnnacc_hw.h)

die() { echo "lint-kernel: $*" >&2; exit 2; }

fetch_scripts() {
	local want=(scripts/checkpatch.pl scripts/spelling.txt
		    scripts/const_structs.checkpatch scripts/kernel-doc
		    Documentation/dev-tools/checkpatch.rst) f missing=()
	for f in "${want[@]}"; do
		[ -f "$CACHE/linux-scripts/$src_dir/$f" ] || missing+=("$src_dir/$f")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ -r "$SRC_TAR" ] || die "$SRC_TAR missing: install linux-source-6.1"
	echo "lint-kernel: extracting ${missing[*]} from $SRC_TAR"
	mkdir -p "$CACHE/linux-scripts"
	tar -xJf "$SRC_TAR" -C "$CACHE/linux-scripts" "${missing[@]}"
}

fail=0
gate() {	# gate NAME OUTPUT-FILE: report the findings of one gate
	if [ -s "$2" ]; then
		echo "lint-kernel: $1: FAIL"
		sed 's/^/    /' "$2"
		fail=1
	else
		echo "lint-kernel: $1: clean"
	fi
}

fetch_scripts
[ -d "$KDIR" ] || die "$KDIR missing: install linux-headers-$KVER"
work=$(mktemp -d "${TMPDIR:-/tmp}/bnnacc-lint.XXXXXX")
trap 'rm -rf "$work"' EXIT

# checkpatch: the summary lines are noise; any ERROR/WARNING/CHECK is not.
perl "$scripts/checkpatch.pl" --no-tree --strict --terse --show-types \
	-f "${files[@]}" > "$work/checkpatch.all" 2>&1 || true
grep -E ': (ERROR|WARNING|CHECK):' "$work/checkpatch.all" > "$work/checkpatch" || true
gate checkpatch "$work/checkpatch"

# W=1 and sparse, on a private copy of the module sources.
mkdir -p "$work/src"
cp -r Kbuild kernel uapi "$work/src/"
rm -f "$work"/src/kernel/*.o "$work"/src/kernel/.*.cmd
build() {	# build NAME MAKE-ARGS...: findings of one build into $work/NAME
	local name=$1 rc=0
	shift
	make -C "$KDIR" M="$work/src" "$@" modules > "$work/$name.log" 2>&1 || rc=$?
	grep -E 'warning:|error:|WARNING:|ERROR:' "$work/$name.log" > "$work/$name" || true
	if [ $rc -ne 0 ]; then
		echo "make exited with status $rc; its last lines:" >> "$work/$name"
		tail -n 20 "$work/$name.log" >> "$work/$name"
	fi
}
command -v sparse > /dev/null || die "sparse not installed (apt-get install sparse)"
kdirs=("$KDIR")
k612=$(scripts/kver.sh 6.12 2>/dev/null) && kdirs+=("/usr/src/linux-headers-$k612")
for kd in "${kdirs[@]}"; do
	kv=${kd#/usr/src/linux-headers-}
	rm -f "$work"/src/kernel/*.o "$work"/src/kernel/.*.cmd
	KDIR=$kd build w1 W=1
	gate "W=1 build ($kv)" "$work/w1"
	KDIR=$kd build sparse C=2
	gate "sparse (C=2, $kv)" "$work/sparse"
done

# kernel-doc: with -v it also wants Return: sections; drop its info lines.
: > "$work/kdoc"
for f in "${files[@]}"; do
	perl "$scripts/kernel-doc" -none -v "$f" 2>&1 | grep -v ': info: ' >> "$work/kdoc" || true
done
gate kernel-doc "$work/kdoc"

[ $fail -eq 0 ] && echo "lint-kernel: all gates clean"
exit $fail
