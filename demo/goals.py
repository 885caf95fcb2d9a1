#!/usr/bin/env python3
# goals.py OUT SET... - the goals table of `run-demo.sh --all`: every
# OUT/<set>-<kind>/goals.tsv (written by `bnn-demo report`) into
# OUT/goals.md, and one OUT/metrics.json whose per_dataset entries hold
# every run's metrics.json (the moons per-weight run's keys at the top).
"""Merge the per-run goal lines of the demo into one table."""
import json
import os
import sys

KINDS = ("per-weight", "shared", "samples")
AGES = {0: "first pass", 60: "1 min", 86400: "1 day", 2592000: "1 month",
        31536000: "1 year"}


def main() -> int:
    out, sets = sys.argv[1], sys.argv[2:]
    rows, merged, missed = [], {"per_dataset": {}}, 0
    for ds in sets:
        for kind in KINDS:
            d = os.path.join(out, f"{ds}-{kind}")
            with open(os.path.join(d, "metrics.json"), encoding="utf-8") as f:
                m = json.load(f)
            merged["per_dataset"].setdefault(ds, {})[kind] = m
            if ds == "moons" and kind == "per-weight":
                merged.update({k: v for k, v in m.items() if k != "per_dataset"})
            with open(os.path.join(d, "goals.tsv"), encoding="utf-8") as f:
                head = f.readline().rstrip("\n").split("\t")
                for line in f:
                    r = dict(zip(head, line.rstrip("\n").split("\t")))
                    r["kind_run"] = kind
                    rows.append(r)
    with open(os.path.join(out, "metrics.json"), "w", encoding="utf-8") as f:
        json.dump(merged, f, indent=1)
    lines = ["| data set | model | M | age | acc sw / card (gap pp) | same class | "
             "entropy r | epistemic r | gain | refreshed | goals |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        age = int(r["age_s"])
        gap = 100 * (float(r["card_acc"]) - float(r["sw_acc"]))
        met = r["met"] == "1"
        missed += not met
        lines.append(
            f"| {r['dataset']} | {r['kind_run']} | {r['m']} | "
            f"{AGES.get(age, str(age) + ' s')} ({float(r['measured_age_s']):.0f} s) | "
            f"{float(r['sw_acc']):.3f} / {float(r['card_acc']):.3f} ({gap:+.1f}) | "
            f"{float(r['agree']):.3f} | {float(r['entropy_r']):.3f} | "
            f"{float(r['epistemic_r']):.3f} | {float(r['gain']):.4f} | "
            f"{'yes' if r['refreshed'] == '1' else 'no'} | {'met' if met else '**missed**'} |")
    lines.append("")
    lines.append(f"{len(rows) - missed} of {len(rows)} passes meet every goal "
                 "(|acc gap| <= 0.5 pp, same class >= 0.98, entropy r >= 0.95, "
                 "epistemic r >= 0.90; vs the converged software posterior).")
    with open(os.path.join(out, "goals.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
