#!/usr/bin/env bash
# Installs, from Debian's archive, everything bnnacc needs to build and test on a fresh
# Debian 12 machine. Idempotent: does nothing when every package is already present.
set -euo pipefail

PKGS=(
	build-essential pkg-config gcc-multilib python3
	check libpci-dev libevent-dev libnl-3-dev libnl-genl-3-dev libjansson-dev
	linux-image-amd64 linux-headers-amd64 linux-source-6.1 sparse dkms
	busybox-static cpio kmod xz-utils zstd seabios qemu-system-data
	dpkg-dev ninja-build meson libglib2.0-dev libpixman-1-dev libfdt-dev flex bison
	libattr1-dev libcap-ng-dev gnuplot-nox
	libelf-dev bc
	clang-14 libclang-rt-14-dev
	prometheus
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done

# deb-src for `apt-get source qemu` (scripts/build-qemu.sh).
need_src=0
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ &&
   ! grep -qs '^deb-src' /etc/apt/sources.list; then
	need_src=1
fi

# Debian 12's second kernel, Linux 6.12 (image and headers, one version):
# the driver builds and its VM suite runs on it too. No metapackage names
# it, so the newest version with both packages in the archive is taken.
need_612=0
scripts_dir=$(cd "$(dirname "$0")" && pwd)
"$scripts_dir/kver.sh" 6.12 > /dev/null 2>&1 || need_612=1

if [ ${#missing[@]} -eq 0 ] && [ $need_src -eq 0 ] && [ $need_612 -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages (${missing[*]}); run as root or install them" >&2
	exit 1
fi

if [ $need_src -eq 1 ]; then
	cat > /etc/apt/sources.list.d/bnnacc-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-deps: apt-get update"
apt-get update -q -o Dpkg::Use-Pty=0 >/dev/null
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}" >/dev/null
fi
if [ $need_612 -eq 1 ]; then
	v=$(apt-cache search --names-only '^linux-headers-6\.12\.[0-9]+\+deb12-amd64$' |
	    sed -n 's/^linux-headers-\(6\.12\.[0-9]*+deb12-amd64\) .*/\1/p' | sort -V -r |
	    while read -r k; do
		apt-cache show "linux-image-$k" > /dev/null 2>&1 && { echo "$k"; break; }
	    done)
	if [ -z "$v" ]; then
		echo "install-deps: no Linux 6.12 image and headers in the archive" >&2
		exit 1
	fi
	echo "install-deps: installing Linux $v (image and headers, for the second kernel's lanes)"
	apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 \
		"linux-image-$v" "linux-headers-$v" >/dev/null
fi
