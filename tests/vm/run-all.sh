#!/usr/bin/env bash
# run-all.sh - run every VM test case (tests/vm/cases/*.sh), or those named.
# Each case boots its own VMs through run-vm.sh; its output goes to
# build/vm/logs/NAME.out and is shown when it fails. Ends with the line
# "N passed, N failed".
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
logs=$top/build/vm/logs
mkdir -p "$logs"
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=("$top"/tests/vm/cases/[0-9]*.sh)
pass=0 fail=0 failed=()
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { print b - a }'; }
t0=$(date +%s)
for c in "${cases[@]}"; do
	[ -f "$c" ] || c=$top/tests/vm/cases/$c.sh
	name=$(basename "$c" .sh)
	s=$(date +%s.%N)
	if bash "$c" > "$logs/$name.out" 2>&1; then
		pass=$((pass + 1))
		printf 'PASS %-28s %5.1fs\n' "$name" "$(elapsed "$s")"
	else
		fail=$((fail + 1))
		failed+=("$name")
		printf 'FAIL %-28s %5.1fs\n' "$name" "$(elapsed "$s")"
		sed 's/^/    | /' "$logs/$name.out" | tail -n 40
	fi
done
echo "vm-check: $(($(date +%s) - t0))s${failed:+, failed: ${failed[*]}}"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
