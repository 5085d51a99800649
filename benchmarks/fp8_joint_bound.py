"""Can the planner choose ``fp8`` jointly with pruning on a GPU where FP8 does not pay? A bound
from committed measurements, on the CPU (issue 21, item 2):

- savings: the H200 profile of SD1.5 with every ``fp8`` and ``remove`` candidate measured in
  isolation (torch-graph, batch 2, 512², fp16, 2026-12-04; every fp8 saving negative);
- importance: the LD-Pruner scores of the 86 remove / shortcut candidates from the H200 cold CLI
  sweep (2026-12-04), with every fp8 candidate given importance 0 -- the least any criterion can
  give, so no real fp8 score could make fp8 more attractive to the MILP than here.

The pruning-only plan (``--mods remove``) and the joint plan (``--mods remove fp8``) at the same
budget are solved (no verify: nothing is timed) and compared; identical plans mean the joint plan
needs no GPU run to be known on this GPU and implementation.

    python benchmarks/fp8_joint_bound.py --out benchmarks/results/runners/h200-fp8-joint-bound.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from ldprune_deploy.jsonio import write_json_atomic  # noqa: E402
PROFILE = "benchmarks/results/runners/h200-fastest-2026-12-04/h200-sd15-fp8-remove-isolated.json"
SCORES = "benchmarks/results/score_throughput/cli-h200-2026-12-04/scores-cold-cli.json"


def with_free_fp8(scores: dict, profile: dict) -> dict:
    """``scores`` plus every profiled fp8 candidate at importance 0."""
    fp8 = [op for op, o in profile["operators"].items() if "fp8" in (o.get("savings_ms") or {})]
    extra = [{"operator": op, "modification": "fp8", "score": 0.0, "parts": {"bound": "importance 0"}} for op in fp8]
    return {**scores, "scores": scores["scores"] + extra, "n_candidates": len(scores["scores"]) + len(extra)}


def run(budget: str = "50%") -> dict:
    from ldprune_deploy.planner import plan

    prof = json.loads((ROOT / PROFILE).read_text())
    scores = with_free_fp8(json.loads((ROOT / SCORES).read_text()), prof)
    out = {"schema": "ldprune.bench.fp8_joint_bound/1", "profile": PROFILE, "scores": SCORES, "budget": budget,
           "device_of_the_measurements": prof["device"].get("gpu"), "nothing_timed_here": True,
           "fp8_savings_ms": sorted(o["savings_ms"]["fp8"]["isolated"] for o in prof["operators"].values()
                                    if "fp8" in (o.get("savings_ms") or {}))}
    for name, mods in (("pruning_only", ["remove"]), ("joint", ["remove", "fp8"])):
        p = plan(scores, prof, budget=budget, mods=mods, allow_missing=True, verify=False)
        out[name] = {"mods": mods, "modifications": sorted([m.operator, m.modification] for m in p.modifications),
                     "predicted_ms": p.predicted["latency_ms"], "importance_lost": p.predicted["importance_lost"]}
    out["fp8_chosen"] = sum(m == "fp8" for _, m in out["joint"]["modifications"])
    out["same_plan"] = out["joint"]["modifications"] == out["pruning_only"]["modifications"]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", default="50%")
    ap.add_argument("--out")
    a = ap.parse_args(argv)
    r = run(a.budget)
    print(f"{len(r['fp8_savings_ms'])} fp8 candidates (isolated savings {r['fp8_savings_ms'][0]:.3f} .. "
          f"{r['fp8_savings_ms'][-1]:.3f} ms); at {a.budget}: pruning-only {len(r['pruning_only']['modifications'])} mods "
          f"{r['pruning_only']['predicted_ms']:.2f} ms, joint {len(r['joint']['modifications'])} mods "
          f"({r['fp8_chosen']} fp8) {r['joint']['predicted_ms']:.2f} ms; same plan: {r['same_plan']}")
    if a.out:
        write_json_atomic(Path(a.out), r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
