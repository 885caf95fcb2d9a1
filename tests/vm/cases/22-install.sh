#!/usr/bin/env bash
# host-only
# serial (`make install` rebuilds build/stage, which the others read)
# `make install DESTDIR=...` (host only, no VM) lays out the driver like a
# package: the module under lib/modules/KVER/updates with a modules.dep that
# has it, the udev rule (sane syntax, group bnnacc, mode 0660), and the DKMS
# source tree with its dkms.conf. The source tree builds with the command of
# its dkms.conf; then DKMS itself (`dkms add`, `build`, `install`) builds
# and installs it for both of Debian 12's kernels, 6.1 and 6.12, in private
# trees under $WORK (nothing in /var/lib/dkms or /lib/modules is touched).
. "$(dirname "$0")/common.sh"
dest=$WORK/dest
make -C "$top" install DESTDIR="$dest" KVER="$KVER"
mods=$dest/lib/modules/$KVER

echo "== module"
test -f "$mods/updates/bnnacc.ko"
grep -qx 'updates/bnnacc.ko:' "$mods/modules.dep"
test -s "$mods/modules.alias"
grep -q 'pci:v00001234d0000BACC' "$mods/modules.alias"
[ "$(/sbin/modinfo -b "$dest" -k "$KVER" -F filename bnnacc)" = "$mods/updates/bnnacc.ko" ]

echo "== udev rule"
rule=$dest/etc/udev/rules.d/60-bnnacc.rules
test -f "$rule"
[ "$(stat -c %a "$rule")" = 644 ]
n=0
while IFS= read -r line; do
	case $line in ''|'#'*) continue ;; esac
	n=$((n + 1))
	# Every key: NAME or NAME{attr}, an operator, a double-quoted value.
	rest=$line
	while [ -n "$rest" ]; do
		pair=${rest%%, *}
		[[ $pair =~ ^[A-Z_]+(\{[A-Za-z0-9_]+\})?(==|!=|=|\+=|-=|:=)\"[^\"]*\"$ ]] ||
			{ echo "bad udev key: '$pair' in: $line"; exit 1; }
		[ "$pair" = "$rest" ] && break
		rest=${rest#*, }
	done
	for want in 'KERNEL=="bnnacc[0-9]*"' 'SUBSYSTEM=="bnnacc"' 'GROUP="bnnacc"' 'MODE="0660"'; do
		[[ $line == *"$want"* ]] || { echo "rule lacks $want"; exit 1; }
	done
done < "$rule"
[ $n = 1 ]
if udevadm verify --help > /dev/null 2>&1; then udevadm verify "$rule"; fi

echo "== DKMS source tree"
src=$(echo "$dest"/usr/src/bnnacc-*)
[ -d "$src" ]
ver=${src##*/bnnacc-}
echo "version $ver"
for f in dkms.conf Makefile VERSION Kbuild uapi/bnnacc.h uapi/bnnacc_hw.h kernel/bnnacc_drv.h \
	 kernel/bnnacc_drv.c kernel/bnnacc_netlink.c kernel/bnnacc_sysfs.c \
	 kernel/bnnacc_debugfs.c kernel/bnnacc_obs.h; do
	test -f "$src/$f"
done
[ "$(cat "$src/VERSION")" = "$ver" ]
if ls "$src"/kernel/*.o "$src"/*.ko > /dev/null 2>&1; then echo "build products in $src"; exit 1; fi
(	# dkms sources dkms.conf as a shell fragment.
	kernelver=$KVER
	# shellcheck disable=SC1091
	. "$src/dkms.conf"
	if ! { [ "$PACKAGE_NAME" = bnnacc ] && [ "$PACKAGE_VERSION" = "$ver" ] &&
	       [ "${BUILT_MODULE_NAME[0]}" = bnnacc ] &&
	       [ "${DEST_MODULE_LOCATION[0]}" = /updates/dkms ] &&
	       [ "$AUTOINSTALL" = yes ] && [[ ${MAKE[0]} == *"KVER=$KVER"* ]]; }; then
		echo "dkms.conf: unexpected values"; exit 1
	fi
	# Build a copy of the tree the way dkms does: MAKE[0] in it.
	cp -r "$src" "$WORK/dkms-build"
	cd "$WORK/dkms-build" || exit 1
	eval "${MAKE[0]}" > "$WORK/dkms-make.log" 2>&1 ||
		{ tail -n 20 "$WORK/dkms-make.log"; exit 1; }
	test -f bnnacc.ko
	eval "$CLEAN" > /dev/null
	if test -f bnnacc.ko; then echo "CLEAN left bnnacc.ko"; exit 1; fi
)
echo "dkms.conf MAKE builds bnnacc.ko for $KVER"

command -v dkms > /dev/null || { echo "dkms missing (scripts/install-deps.sh installs it)"; exit 1; }
echo "== dkms add/build/install (private trees), Linux 6.1 and 6.12"
k612=$("$top/scripts/kver.sh" 6.12)
t=(--dkmstree "$WORK/dkms/tree" --sourcetree "$dest/usr/src"
   --installtree "$WORK/dkms/inst")
mkdir -p "$WORK/dkms/tree" "$WORK/dkms/inst"
dkms add -m bnnacc -v "$ver" "${t[@]}"
for k in "$KVER" "$k612"; do
	dkms build -m bnnacc -v "$ver" -k "$k" "${t[@]}" > "$WORK/dkms-$k.log" 2>&1 ||
		{ tail -n 30 "$WORK/dkms-$k.log"; exit 1; }
	ko=$(find "$WORK/dkms/tree/bnnacc/$ver/$k/$(uname -m)/module" -name 'bnnacc.ko*' | head -n1)
	[ -n "$ko" ] || { echo "dkms build for $k left no module"; exit 1; }
	mkdir -p "$WORK/dkms/inst/$k"	# the private tree's "installed kernel"
	dkms install -m bnnacc -v "$ver" -k "$k" "${t[@]}" --no-depmod \
		> "$WORK/dkms-install-$k.log" 2>&1 || { tail -n 30 "$WORK/dkms-install-$k.log"; exit 1; }
	inst=$(find "$WORK/dkms/inst/$k" -name 'bnnacc.ko*' | head -n1)
	[ -n "$inst" ] || { echo "dkms install for $k installed no module"; exit 1; }
	modinfo -F vermagic "$inst" | grep -q "^${k%%-*}" ||
		{ echo "dkms module for $k has vermagic $(modinfo -F vermagic "$inst")"; exit 1; }
	echo "dkms: built and installed for $k: ${inst#"$WORK"/dkms/inst/}"
done
dkms status -m bnnacc "${t[@]}"
echo "22-install: PASS"
