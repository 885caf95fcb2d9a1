# lib.sh - shared by the VM bench scripts. Source it; it defines functions only.
# shellcheck shell=bash

: "${CACHE:=/var/cache/bnnacc}"
top=${top:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${BUILD:-$top/build}
VM_DIR=$BUILD/vm
KVER=${KVER:-$("$top/scripts/kver.sh")}

die() { echo "run-vm: $*" >&2; exit 2; }

# Path of our QEMU (built and cached by scripts/build-qemu.sh); $QEMU
# overrides it.
vm_qemu() {
	local q=${QEMU:-}
	[ -n "$q" ] || q=$("$top/scripts/build-qemu.sh") || die "QEMU build failed"
	[ -x "$q" ] || die "no QEMU at '$q'"
	echo "$q"
}

# Debian's bzImage decompresses itself for ~4 s under TCG; booting the
# uncompressed vmlinux through PVH skips that. Cached per kernel version.
# $VM_KERNEL (e.g. the debug kernel of scripts/build-debug-kernel.sh, with
# KVER set to its release) overrides it.
vm_kernel() {
	local src=/boot/vmlinuz-$KVER out=$CACHE/vmlinux-$KVER off
	if [ -n "${VM_KERNEL:-}" ]; then
		[ -s "$VM_KERNEL" ] || die "VM_KERNEL=$VM_KERNEL does not exist"
		echo "$VM_KERNEL"
		return
	fi
	if [ ! -s "$out" ]; then
		[ -r "$src" ] || die "$src missing: install linux-image-amd64"
		mkdir -p "$CACHE"
		# 6.1 compresses the kernel with xz, 6.12 with zstd
		off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$src" | head -n1 | cut -d: -f1)
		if [ -n "$off" ]; then
			tail -c +$((off + 1)) "$src" | unxz -c 2>/dev/null > "$out.tmp" || true
		else
			off=$(LC_ALL=C grep -obUaP '\x28\xb5\x2f\xfd' "$src" | head -n1 | cut -d: -f1)
			[ -n "$off" ] || die "no xz or zstd payload in $src"
			tail -c +$((off + 1)) "$src" | zstd -dc 2>/dev/null > "$out.tmp" || true
		fi
		[ -s "$out.tmp" ] && head -c 4 "$out.tmp" | grep -q ELF ||
			die "could not extract vmlinux from $src"
		mv "$out.tmp" "$out"
	fi
	echo "$out"
}

# The modules the guest loads from the initramfs, besides ours.
VM_MODULES="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
netfs fscache 9pnet 9pnet_virtio 9p"

# The shared libraries (and ELF interpreter) the dynamically linked guest
# programs need, e.g. a SAN=1 build's sanitizer runtimes; none for the
# default, static build.
vm_guest_libs() {
	local f
	for f in "$BUILD"/guest/*; do
		[ -f "$f" ] && [ -x "$f" ] || continue
		ldd "$f" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^\t\(\/[^ ]*\) .*/\1/p'
	done | sort -u
}

# Base initramfs: busybox, /init, the modules (Debian's + ours, depmod'ed so
# `modprobe bnnacc` works), the guest programs and the shared libraries they
# need. Rebuilt when any input changes; the key is a hash of the inputs. A
# kernel with the virtio/9p modules built in (the debug kernel) needs none.
vm_base_initramfs() {
	local ko="$BUILD/stage/lib/modules/$KVER/extra/bnnacc.ko"
	[ -f "$ko" ] || die "$ko missing: run 'make module'"
	local key out root m f libs
	libs=$(vm_guest_libs)
	key=$( { echo "$KVER"; sha256sum "$ko" "$top/tests/vm/init" /bin/busybox $libs;
		 find "$BUILD/guest" -type f -exec sha256sum {} + 2>/dev/null | sort; } |
		sha256sum | cut -c1-16)
	out=$VM_DIR/initramfs-$key.cpio.gz
	if [ ! -s "$out" ]; then
		mkdir -p "$VM_DIR"
		# Older archives go once nobody can still be booting them.
		find "$VM_DIR" -maxdepth 1 -name 'initramfs-*.cpio.gz' -mmin +30 -delete
		root=$(mktemp -d "$VM_DIR/root.XXXXXX")
		mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,run,mnt/host,etc,lib/modules/"$KVER"/kernel,bin/bnnacc}
		cp /bin/busybox "$root/bin/busybox"
		for f in $("$root/bin/busybox" --list); do
			[ -e "$root/bin/$f" ] || ln -s busybox "$root/bin/$f"
		done
		mknod -m 600 "$root/dev/console" c 5 1
		mknod -m 666 "$root/dev/null" c 1 3
		cp "$top/tests/vm/init" "$root/init"
		chmod 755 "$root/init"
		if [ -d "/lib/modules/$KVER/kernel" ]; then
			for m in $VM_MODULES; do
				f=$(find "/lib/modules/$KVER/kernel" -name "$m.ko*" | head -n1)
				# built in (6.12: virtio, fscache): nothing to load
				[ -n "$f" ] || grep -q "/$m\.ko" "/lib/modules/$KVER/modules.builtin" ||
					grep -qx "CONFIG_${m^^}=y" "/boot/config-$KVER" ||
					die "module $m not found for $KVER"
				[ -n "$f" ] || continue
				mkdir -p "$root/$(dirname "$f")"
				cp "$f" "$root/$f"
			done
		fi
		mkdir -p "$root/lib/modules/$KVER/extra"
		cp "$ko" "$root/lib/modules/$KVER/extra/"
		cp "$BUILD/stage/lib/modules/$KVER"/modules.{order,builtin,builtin.modinfo} \
			"$root/lib/modules/$KVER/" 2>/dev/null || true
		for f in $libs; do
			mkdir -p "$root/$(dirname "$f")"
			cp -L "$f" "$root/$f"
		done

		/sbin/depmod -b "$root" "$KVER"
		[ -d "$BUILD/guest" ] && cp "$BUILD"/guest/* "$root/bin/bnnacc/" 2>/dev/null || true
		# A private temporary name: concurrent runs may build the same key.
		(cd "$root" && find . | cpio -o -H newc --quiet) | gzip -1 > "$root.cpio.gz"
		mv "$root.cpio.gz" "$out"
		rm -rf "$root"
	fi
	echo "$out"
}

# Fail on any kernel report in a serial log. $2 = 1 lets WARNING lines pass.
# The log is checked from the line /init prints first (BNNACC-VM-INIT): a
# report before it comes from the kernel's own boot, before any code of ours
# runs (the debug kernel, rarely, reports a KASAN wild access in an early
# interrupt under TCG). Those are shown, counted in $VM_DIR/boot-reports,
# and do not fail the run.
vm_check_log() {
	local log=$1 allow_warn=${2:-0} pat body
	pat='Oops|BUG:|kernel BUG|KASAN|UBSAN|general protection|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU|sleeping function called from invalid context|kmemleak:.*new suspected|ODEBUG: .*object type:|DMA-API: .*device driver|Kernel panic|Call Trace|BNNACC-SANITIZER'
	[ "$allow_warn" = 1 ] || pat="$pat|WARNING:"
	body=$log
	if grep -aq '^BNNACC-VM-INIT' "$log"; then
		body=$(mktemp "${TMPDIR:-/tmp}/bnnacc-log.XXXXXX")
		if sed -n '/^BNNACC-VM-INIT/q;p' "$log" | grep -aEq "$pat"; then
			echo "run-vm: kernel report during boot, before /init (not counted):" >&2
			sed -n '/^BNNACC-VM-INIT/q;p' "$log" | grep -aE -m 3 -A 3 "$pat" >&2
			mkdir -p "$VM_DIR"
			echo "$log" >> "$VM_DIR/boot-reports"
		fi
		sed -n '/^BNNACC-VM-INIT/,$p' "$log" > "$body"
	fi
	if grep -aEq "$pat" "$body"; then
		echo "run-vm: kernel report in $log:" >&2
		grep -aE -m 10 -B 2 -A 12 "$pat" "$body" >&2
		[ "$body" = "$log" ] || rm -f "$body"
		return 1
	fi
	[ "$body" = "$log" ] || rm -f "$body"
	return 0
}

# Wait until FILE contains PATTERN (extended regex) or S seconds pass.
vm_wait_for() {
	local file=$1 pat=$2 s=${3:-60} i
	for ((i = 0; i < s * 10; i++)); do
		grep -aEq "$pat" "$file" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "run-vm: '$pat' did not appear in $file within ${s}s" >&2
	return 1
}
