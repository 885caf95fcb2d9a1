#!/usr/bin/env bash
# The card's engine (docs/hardware.md, "The emulation"), seen through the
# device's trace events: the array computes on a worker thread, never on
# the thread that fetches and posts (QEMU's main loop); commands are
# computed and posted in the order they were fetched; RESET while the card
# computes abandons the command it is on, and nothing fetched before the
# reset is posted after it. With VM_QEMU_SAN=1 (the debug pass) on the
# ASan+UBSan QEMU, whose reports fail the case.
. "$(dirname "$0")/common.sh"
tlog=$WORK/trace.log
if [ "${VM_QEMU_SAN:-0}" = 1 ]; then
	QEMU=${QEMU:-$("$top/scripts/build-qemu.sh" --san)}
	export QEMU
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
fi
rc=0
run_vm --trace 'bnnacc_fetch,bnnacc_compute,bnnacc_post,bnnacc_flush' \
	--qemu-log "$tlog" -- 't_jobs quick; t_faults abort' 2> "$WORK/qemu.err" || rc=$?
if grep -a 'ERROR: AddressSanitizer\|runtime error:\|ThreadSanitizer' "$WORK/qemu.err"; then
	echo "engine: QEMU's sanitizers reported an error"
	exit 1
fi
[ $rc -eq 0 ] || { tail -n 20 "$WORK/qemu.err"; exit $rc; }
grep -aq 't_faults abort: PASS' "$WORK/vm.log"
cp "$tlog" "$BUILD/vm/logs/$case_name.trace" 2>/dev/null || true
python3 - "$tlog" <<'EOF'
import re
import sys

ev = []
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"^(\d+)@[\d.]+:(bnnacc_\w+) (.*)$", line.rstrip("\n"))
    if m:
        ev.append((int(m.group(1)), m.group(2), m.group(3)))
fails = []


def cid_of(text):
    return int(re.search(r"cid (\d+)", text).group(1))


fetch = [e for e in ev if e[1] == "bnnacc_fetch"]
post = [e for e in ev if e[1] == "bnnacc_post"]
comp = [e for e in ev if e[1] == "bnnacc_compute"]
print(f"engine: {len(fetch)} fetched, {len(comp)} computed, {len(post)} posted, "
      f"{sum(e[1] == 'bnnacc_flush' for e in ev)} flushes")
if len(fetch) < 25 or len(post) < 20:
    fails.append("too few commands traced")
main_tids = {e[0] for e in fetch + post}
work_tids = {e[0] for e in comp}
print(f"engine: fetch/post on thread(s) {sorted(main_tids)}, compute on {sorted(work_tids)}")
if len(main_tids) != 1 or not work_tids or main_tids & work_tids:
    fails.append("compute is not on its own thread, apart from fetch and post")

# Per epoch (between flushes): computed and posted in fetch order.
pending = []            # fetched, not yet posted, this epoch
computed = []           # computed, not yet posted
abandoned = 0
after_flush = None      # cids pending at the last flush that had any
for tid, name, text in ev:
    if name == "bnnacc_flush":
        if pending:
            after_flush = list(pending)
        pending, computed = [], []
        continue
    cid = cid_of(text)
    if name == "bnnacc_fetch":
        pending.append(cid)
    elif name == "bnnacc_compute":
        units = int(re.search(r": (\d+) units", text).group(1))
        if after_flush is not None and (not pending or cid != pending[0]
                                        or len(computed) >= len(pending)):
            # the command the worker was on when the card was reset
            if cid in after_flush and "opcode 0x4" in text and 0 < units < 131072:
                abandoned += 1
                print(f"engine: cid {cid} abandoned after {units} of 131072 evaluations")
            after_flush = None
            continue
        after_flush = None
        if len(computed) >= len(pending) or pending[len(computed)] != cid:
            fails.append(f"cid {cid} computed out of fetch order")
        else:
            computed.append(cid)
    elif name == "bnnacc_post":
        if not pending or pending[0] != cid:
            fails.append(f"cid {cid} posted out of order or not fetched this epoch")
            continue
        if not computed or computed[0] != cid:
            fails.append(f"cid {cid} posted before it was computed")
        else:
            computed.pop(0)
        pending.pop(0)
if abandoned < 1:
    fails.append("no MVM abandoned by the reset")
for f in fails[:10]:
    print("engine: FAIL: " + f)
sys.exit(1 if fails else 0)
EOF
