#!/bin/sh
# Prints the kernel ABI name (e.g. 6.1.0-57-amd64) of Debian's installed
# linux-image-amd64: the guest kernel of the VM bench. Never `uname -r`.
# `kver.sh 6.12`: the newest installed Linux 6.12 of Debian 12
# (linux-image-6.12.*+deb12-amd64) whose headers are installed too.
set -e
if [ "${1:-}" = 6.12 ]; then
	for d in $(ls -d /usr/src/linux-headers-6.12.*+deb12-amd64 2>/dev/null | sort -V -r); do
		k=${d#/usr/src/linux-headers-}
		[ -r "/boot/vmlinuz-$k" ] && [ -d "/lib/modules/$k/kernel" ] && { echo "$k"; exit 0; }
	done
	echo "kver: no Linux 6.12 image with its headers (scripts/install-deps.sh installs them)" >&2
	exit 1
fi
dep=$(dpkg-query -W -f='${Depends}' linux-image-amd64 2>/dev/null) || {
	echo "kver: linux-image-amd64 is not installed (run scripts/install-deps.sh)" >&2
	exit 1
}
kver=$(printf '%s\n' "$dep" | tr ',' '\n' | sed -n 's/^ *linux-image-\([0-9][^ ]*\).*/\1/p' | head -n1)
[ -n "$kver" ] || { echo "kver: cannot parse '$dep'" >&2; exit 1; }
[ -d "/usr/src/linux-headers-$kver" ] || {
	echo "kver: linux-headers-$kver missing; install linux-headers-amd64 from the same update" >&2
	exit 1
}
echo "$kver"
