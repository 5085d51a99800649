"""Does a conditioning-aware criterion keep the text-to-image teacher's cross-attention? (issue 23)

CPU, no distillation: the committed emoji-t2i teacher scored with ``ld-pruner-prompt`` (the quality
benchmark's scoring settings: N_gen 32, 8 DDIM steps, guidance 1, the captions of seed 0,
remove/shortcut candidates), planned at 65 % of the full latency on the committed H200 torch-graph
profile (not verified here), beside the LD-Pruner plan from LD-Pruner scores of the same settings
(``--ld-scores``: a scores file of ``Q.score_teacher(..., "ld-pruner", 0, ...)``). Counts the
cross-attentions each plan removes (an attn2, or the transformer that holds it).

    python benchmarks/diagnostics/prompt_criterion_plans.py --ld-scores OUT/scores-ld-pruner-s0.json --out OUT

~10 min on 2 CPU cores (61 candidates x 2 prompt sets x 8 steps x N_gen 32).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import _quality as Q  # noqa: E402

PROFILE = ROOT / "benchmarks/results/quality/h200-2026-12-04/strategies-emoji-t2i/work/profile-torch-graph.json"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ld-scores", required=True, help="LD-Pruner scores of the teacher (same settings, seed 0)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default="data_cache")
    a = ap.parse_args(argv)
    from ldprune_deploy.planner import PlanConfig, plan

    qa = argparse.Namespace(teacher=str(ROOT / "benchmarks/assets/teachers/emoji-t2i"), data=a.data, emb=None, n_gen=32,
                            score_steps=8, exclude=r":(width|fp8)")
    t = Q.load_teacher(qa.teacher, qa.data, qa.emb)
    prof = json.loads(PROFILE.read_text())
    t0 = time.perf_counter()
    lp = Q.score_teacher(t, qa, "ld-pruner-prompt", 0, Path(a.out))
    res = {"schema": "ldprune.bench.prompt-criterion/1", "device": "cpu", "date": time.strftime("%Y-%m-%d"),
           "score_seconds": round(time.perf_counter() - t0), "profile": str(PROFILE.relative_to(ROOT)), "plans": {}}
    for name, sc in (("ld-pruner", json.loads(Path(a.ld_scores).read_text())), ("ld-pruner-prompt", lp)):
        p = plan(sc, prof, PlanConfig(budget="65%", strategy="latency-aware", verify=False, mods=["remove", "shortcut"]))
        mods = [f"{m.operator}:{m.modification}" for m in p.modifications]
        xattn = [m for m in mods if m.split(":")[0].endswith("attn2") or m.split(":")[0].split(".")[-2] == "attentions"]
        res["plans"][name] = {"mods": mods, "n_xattn_removed": len(xattn), "predicted_ms": p.predicted["latency_ms"]}
        print(name, res["plans"][name], flush=True)
    (Path(a.out) / "prompt_criterion_plans.json").write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
