#!/usr/bin/env bash
# run-all.sh - run every VM test case (tests/vm/cases/*.sh), or those named.
# Each case boots its own VMs through run-vm.sh; its output goes to
# build/vm/logs/NAME.out and is shown when it fails. Ends with the line
# "N passed, N failed". $VM_LOGS overrides the log directory. With
# $VM_KERNEL or $VM_SKIP_HOST_ONLY set (another guest kernel:
# tests/vm/check-debug.sh, check-612.sh) the cases marked "# host-only"
# (they boot no VM; the main lane runs them) are skipped.
#
# $VM_JOBS (default 1) cases run at once: each VM is one single-threaded TCG
# process, so two fill the bench's two cores. Cases marked "# serial" (they
# rebuild what the others read) run alone, first.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
logs=${VM_LOGS:-$top/build/vm/logs}
jobs=${VM_JOBS:-1}
mkdir -p "$logs"
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=("$top"/tests/vm/cases/[0-9]*.sh)
res=$(mktemp -d "${TMPDIR:-/tmp}/bnnacc-run-all.XXXXXX")
trap 'rm -rf "$res"' EXIT
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { print b - a }'; }

# One case; prints its line (and the tail of its output on failure) in one
# write so that concurrent cases do not interleave.
run_case() {
	local c=$1 name s out
	name=$(basename "$c" .sh)
	s=$(date +%s.%N)
	if bash "$c" > "$logs/$name.out" 2>&1; then
		: > "$res/$name.pass"
		printf 'PASS %-28s %5.1fs\n' "$name" "$(elapsed "$s")"
	else
		: > "$res/$name.fail"
		out=$(printf 'FAIL %-28s %5.1fs\n' "$name" "$(elapsed "$s")"
		      sed 's/^/    | /' "$logs/$name.out" | tail -n 40)
		printf '%s\n' "$out"
	fi
}

t0=$(date +%s)
serial=() parallel=()
for c in "${cases[@]}"; do
	[ -f "$c" ] || c=$top/tests/vm/cases/$c.sh
	name=$(basename "$c" .sh)
	if [ -n "${VM_KERNEL:-}${VM_SKIP_HOST_ONLY:-}" ] && grep -q '^# host-only' "$c"; then
		printf 'SKIP %-28s (host-only)\n' "$name"
		continue
	fi
	if grep -q '^# serial' "$c"; then
		serial+=("$c")
	else
		parallel+=("$c")
	fi
done
for c in "${serial[@]}"; do
	run_case "$c"
done
running=0
for c in "${parallel[@]}"; do
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
	run_case "$c" &
	running=$((running + 1))
done
wait
pass=$(find "$res" -name '*.pass' | wc -l)
failed=$(find "$res" -name '*.fail' -printf '%f\n' | sed 's/\.fail$//' | sort | tr '\n' ' ')
fail=$(find "$res" -name '*.fail' | wc -l)
echo "vm-check: $(($(date +%s) - t0))s${failed:+, failed: ${failed% }}"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
