#!/usr/bin/env bash
# run-vm.sh - boot Debian's kernel in our QEMU with one or more bnnacc cards,
# load the driver with `modprobe bnnacc` and run a guest command.
#
# usage: run-vm.sh [options] [--] 'guest shell command'
#   --card PROPS      add a card (repeatable); PROPS are -device properties,
#                     e.g. "seed=3,msix=off". Default: one card, seed=1.
#   --no-card         boot without any card
#   --spare-ports N   extra empty pcie-root-ports (for hot-add), default 1
#   --no-module       do not modprobe bnnacc before the command
#   --share DIR       mount host DIR read-write at /mnt/host in the guest (9p)
#   --qmp PATH        QMP socket for host-side fault injection / unplug
#   --log FILE        serial log (default: build/vm/last.log)
#   --qemu-log FILE   QEMU's own log of guest errors (-d guest_errors)
#   --trace PATTERNS  enable QEMU trace events, comma-separated patterns
#                     (e.g. 'bnnacc_*'); they go to the --qemu-log file
#                     (else QEMU's stderr) with thread id and time
#   --timeout S       kill the VM after S seconds (default 120), times
#                     $VM_TIMEOUT_SCALE (an integer, default 1) for slow kernels
#   --mem MB          guest memory (default 512, or $VM_MEM)
# $VM_APPEND adds kernel command-line arguments. $VM_IOMMU=1 puts the cards
# behind QEMU's intel-iommu with the guest's DMA remapping on in strict mode
# (intel_iommu=on iommu.strict=1): a mapping is gone the moment the driver
# frees it, so a late DMA or free faults instead of landing silently.
#   --kernel FILE     guest kernel (default: vmlinux extracted from Debian's
#                     /boot/vmlinuz-$KVER)
#   --allow-warn      do not fail on kernel WARNING lines (for tests that
#                     provoke them on purpose; Oops/BUG/KASAN still fail)
#
# The guest command runs as root with /bin/bnnacc (the guest test programs)
# on PATH. Exit status: the guest command's, or 124 on timeout, or 125 when
# the serial log shows a kernel Oops, BUG, WARNING, KASAN, UBSAN, lockdep or
# kmemleak report, or 126 when the VM died without reporting.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/vm/lib.sh
. "$top/tests/vm/lib.sh"

cards=()
no_card=0
spare=1
modprobe=1
share=
qmp=
log=
qlog=
trace=
timeout_s=120
mem=${VM_MEM:-512}
kernel=
allow_warn=0
while [ $# -gt 0 ]; do
	case "$1" in
	--card) cards+=("$2"); shift 2 ;;
	--no-card) no_card=1; shift ;;
	--spare-ports) spare=$2; shift 2 ;;
	--no-module) modprobe=0; shift ;;
	--share) share=$2; shift 2 ;;
	--qmp) qmp=$2; shift 2 ;;
	--log) log=$2; shift 2 ;;
	--qemu-log) qlog=$2; shift 2 ;;
	--trace) trace=$2; shift 2 ;;
	--timeout) timeout_s=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--kernel) kernel=$2; shift 2 ;;
	--allow-warn) allow_warn=1; shift ;;
	--) shift; break ;;
	-*) die "unknown option $1" ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || die "no guest command given"
timeout_s=$((timeout_s * ${VM_TIMEOUT_SCALE:-1}))
[ -z "${VM_MEM:-}" ] || [ "$mem" -ge "$VM_MEM" ] || mem=$VM_MEM
cmd="$*"
[ ${#cards[@]} -gt 0 ] || [ $no_card -eq 1 ] || cards=("seed=1")
[ $no_card -eq 0 ] || cards=()

qemu=$(vm_qemu)
kernel=${kernel:-$(vm_kernel)}
base=$(vm_base_initramfs)
mkdir -p "$VM_DIR"
log=${log:-$VM_DIR/last.log}

# Per-run archive appended to the cached one: Linux unpacks concatenated
# cpio archives in order, so this adds /test.sh and /etc/bnnacc-run.
run=$(mktemp -d "$VM_DIR/run.XXXXXX")
trap 'rm -rf "$run"' EXIT
mkdir -p "$run/root/etc"
printf '%s\n' "$cmd" > "$run/root/test.sh"
{
	echo "modprobe=$modprobe"
	[ -n "$share" ] && echo "share=1" || echo "share=0"
	echo "slow=${VM_TIMEOUT_SCALE:-1}"
} > "$run/root/etc/bnnacc-run"
(cd "$run/root" && find . | cpio -o -H newc --quiet) | gzip -1 > "$run/run.cpio.gz"
# Zero padding between the archives (the kernel skips zeros): its gzip
# decoder may read a little past the end of the first member.
{ cat "$base"; head -c $((8192 - $(stat -c %s "$base") % 4096)) /dev/zero
  cat "$run/run.cpio.gz"; } > "$run/initrd"

append="console=ttyS0 panic=-1 loglevel=4 no_timer_check tsc=reliable"
[ "${VM_IOMMU:-0}" = 0 ] || append+=" intel_iommu=on iommu.strict=1"
args=(-nodefaults -display none -no-reboot -M q35 -accel tcg -cpu max -m "$mem" -smp 1
      -L /usr/share/seabios -L /usr/share/qemu
      -kernel "$kernel" -initrd "$run/initrd"
      -append "$append${VM_APPEND:+ $VM_APPEND}"
      -chardev "file,id=ser0,path=$log" -serial chardev:ser0)
# The IOMMU comes before every PCI device it translates for.
[ "${VM_IOMMU:-0}" = 0 ] || args+=(-device intel-iommu,intremap=off)
n=0
for c in "${cards[@]}"; do
	args+=(-device "pcie-root-port,id=rp$n,chassis=$((n + 1)),slot=$((n + 1))"
	       -device "bnnacc,id=card$n,bus=rp$n${c:+,$c}")
	n=$((n + 1))
done
for ((i = 0; i < spare; i++)); do
	args+=(-device "pcie-root-port,id=rp$n,chassis=$((n + 1)),slot=$((n + 1))")
	n=$((n + 1))
done
[ -z "$share" ] || args+=(-virtfs "local,path=$share,mount_tag=host,security_model=none")
[ -z "$qmp" ] || args+=(-qmp "unix:$qmp,server=on,wait=off")
[ -z "$qlog" ] || args+=(-d guest_errors -D "$qlog")
# with the thread id and time of each event (-msg timestamp=on)
if [ -n "$trace" ]; then
	IFS=, read -ra pats <<<"$trace"
	for p in "${pats[@]}"; do
		args+=(-trace "enable=$p")
	done
	args+=(-msg timestamp=on)
fi

: > "$log"
set +e
timeout --kill-after=5 "$timeout_s" "$qemu" "${args[@]}" </dev/null
qrc=$?
set -e
if [ $qrc -eq 124 ] || [ $qrc -eq 137 ]; then
	echo "run-vm: timeout after ${timeout_s}s (log: $log)" >&2
	tail -n 30 "$log" >&2
	exit 124
fi
vm_check_log "$log" "$allow_warn" || exit 125
rc=$(sed -n 's/.*BNNACC-VM-RESULT rc=\([0-9]*\).*/\1/p' "$log" | tail -n1)
if [ -z "$rc" ]; then
	echo "run-vm: the guest did not report (qemu exit $qrc; log: $log)" >&2
	tail -n 30 "$log" >&2
	exit 126
fi
exit "$rc"
