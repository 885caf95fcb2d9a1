#!/usr/bin/env bash
# install.sh - install the bnnacc driver like a packaged one; run by
# `make install` after `make module`.
#
#   DESTDIR   staging root (default: empty, i.e. the running system)
#   KVER      kernel the module was built for (default: scripts/kver.sh)
#   KDIR      its build tree (default: /usr/src/linux-headers-$KVER)
#   VERSION   package version (default: the VERSION file, else VERSION in
#             the Makefile, else 0.0.0+git<commit>, else 0.0.0)
#
# Lays out, under $DESTDIR:
#   lib/modules/$KVER/updates/bnnacc.ko      + modules.dep (depmod [-b])
#   etc/udev/rules.d/60-bnnacc.rules         /dev/bnnaccN: group bnnacc, 0660
#   usr/src/bnnacc-$VERSION/                 DKMS source tree: dkms.conf,
#                                            Makefile, VERSION, Kbuild,
#                                            kernel/*.[ch], uapi/bnnacc*.h
# With DESTDIR empty it also creates the system group "bnnacc" when missing
# and asks udev to reload its rules. It never runs `dkms` itself: with the
# dkms package installed, `dkms install bnnacc/$VERSION` takes it from there.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
DESTDIR=${DESTDIR:-}
KVER=${KVER:-$(scripts/kver.sh)}
KDIR=${KDIR:-/usr/src/linux-headers-$KVER}
MOD_DIR=updates

say() { echo "install: $*"; }
die() { echo "install: $*" >&2; exit 1; }

pkg_version() {
	local v
	if [ -n "${VERSION:-}" ]; then
		echo "$VERSION"
	elif [ -s VERSION ]; then
		head -n1 VERSION
	elif v=$(sed -n 's/^VERSION[[:space:]]*[:?]*=[[:space:]]*//p' Makefile | head -n1) &&
	     [ -n "$v" ]; then
		echo "$v"
	elif v=$(git -C "$top" rev-parse --short HEAD 2>/dev/null); then
		echo "0.0.0+git$v"
	else
		echo 0.0.0
	fi
}

install_module() {
	local mods=$DESTDIR/lib/modules/$KVER
	[ -f bnnacc.ko ] || die "bnnacc.ko not built: run 'make module' first"
	[ -d "$KDIR" ] || die "$KDIR missing: install linux-headers-$KVER"
	local sign=() rc=0
	say "module -> $mods/$MOD_DIR/bnnacc.ko"
	# Distribution headers come without the kernel's signing key: leave
	# the module unsigned (DKMS signs with its own key where set up).
	[ -f "$KDIR/certs/signing_key.pem" ] || sign=(CONFIG_MODULE_SIG_ALL=)
	make -s -C "$KDIR" M="$top" INSTALL_MOD_PATH="${DESTDIR:-/}" \
		INSTALL_MOD_DIR="$MOD_DIR" INSTALL_MOD_STRIP=1 DEPMOD=/bin/true \
		"${sign[@]}" modules_install > "$work/modinst.log" 2>&1 || rc=$?
	# depmod runs below; kbuild's own attempt only warns without System.map.
	grep -v "System.map" "$work/modinst.log" || true
	[ $rc -eq 0 ] || die "modules_install failed"
	[ -f "$mods/$MOD_DIR/bnnacc.ko" ] || die "modules_install left no bnnacc.ko"
	if [ -n "$DESTDIR" ]; then
		# A staging root has only our module: no modules.order/builtin.
		/sbin/depmod -b "$DESTDIR" "$KVER" 2>&1 |
			grep -v "could not open modules\.\(order\|builtin\)" || true
		[ -s "$mods/modules.dep" ] || die "depmod wrote no modules.dep"
	else
		/sbin/depmod -a "$KVER"
	fi
}

install_udev() {
	say "udev rule -> $DESTDIR/etc/udev/rules.d/60-bnnacc.rules"
	install -D -m 0644 udev/60-bnnacc.rules \
		"$DESTDIR/etc/udev/rules.d/60-bnnacc.rules"
}

# The Makefile dkms runs in its copy of the sources (MAKE[0] in dkms.conf).
dkms_makefile() {
	cat <<'EOF'
# Minimal Makefile of the bnnacc DKMS source tree: builds the module
# described by Kbuild against /lib/modules/$(KVER)/build.
KVER ?= $(shell uname -r)
KDIR ?= /lib/modules/$(KVER)/build

all:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

clean:
	rm -rf *.ko *.o *.mod *.mod.c .*.cmd Module.symvers modules.order \
		kernel/*.o kernel/.*.cmd .tmp_versions

.PHONY: all clean
EOF
}

install_sources() {
	local v=$1 src=$DESTDIR/usr/src/bnnacc-$1 f
	say "DKMS sources -> $src"
	rm -rf "$src"
	install -d "$src/kernel" "$src/uapi"
	install -m 0644 Kbuild "$src/Kbuild"
	for f in kernel/*.c kernel/*.h; do
		install -m 0644 "$f" "$src/$f"
	done
	install -m 0644 uapi/bnnacc.h uapi/bnnacc_hw.h "$src/uapi/"
	sed "s/@VERSION@/$v/" dkms.conf > "$src/dkms.conf"
	chmod 0644 "$src/dkms.conf"
	dkms_makefile > "$src/Makefile"
	echo "$v" > "$src/VERSION"
}

setup_group() {
	if [ -n "$DESTDIR" ]; then
		say "DESTDIR set: not creating group bnnacc"
		return
	fi
	if getent group bnnacc > /dev/null; then
		say "group bnnacc exists"
	else
		say "creating system group bnnacc"
		groupadd --system bnnacc
	fi
	if command -v udevadm > /dev/null; then
		udevadm control --reload 2>/dev/null || true
		udevadm trigger --subsystem-match=bnnacc 2>/dev/null || true
	fi
}

work=$(mktemp -d "${TMPDIR:-/tmp}/bnnacc-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
version=$(pkg_version)
case $version in
*[!A-Za-z0-9.+~_-]*|"") die "bad package version '$version'" ;;
esac
say "bnnacc $version for $KVER${DESTDIR:+ into $DESTDIR}"
install_module
install_udev
install_sources "$version"
setup_group
say "done"
