"""Which features of a landed plan go with a better distilled student? (issue 23, exploratory)

The text-to-image students differ more by plan than by any distillation setting tried (README, Quality).
This reads the rows of several spec folders distilled with the *same* settings, groups them by plan (one
plan distilled under several seeds is averaged) and reports, for each plan feature, Spearman's rho
against the plans' final alignment and proxy-FID. The features:

  - counts of modifications matching a cap regex (``REGEX`` over 'operator:modification', the form
    ``ldprune plan --cap REGEX=N`` takes, so a feature that matters is a cap to try);
  - the row's own readings before distillation (alignment and proxy-FID of the pruned model), the
    criterion's importance lost and the measured cut.

With many features and few plans, some rho will look strong by chance: each p is also given
Bonferroni-adjusted for the number of features. A feature found here is a hypothesis to test on plans
landed afterwards, not a result.

    python benchmarks/diagnostics/plan_features.py SPEC_DIR [SPEC_DIR ...] --out <json>

Reads committed files only; seconds on a CPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ldprune_deploy.errors import LdpruneError  # noqa: E402
from ldprune_deploy.jsonio import write_json_atomic  # noqa: E402
from ldprune_deploy.planner.problem import cap_members  # noqa: E402
from _work_files import base_rows, distill_settings  # noqa: E402

SCHEMA = "ldprune.plan-features/1"
# cap regexes (the cap-4 recipe's cross-attention regex first)
CAP_FEATURES = {
    "cross-attentions removed": r"(attn2|attentions\.[0-9]+):remove",
    "self-attentions removed": r"attn1:remove",
    "resnets shortcut": r"resnets\.[0-9]+:shortcut",
    "resnets removed": r"resnets\.[0-9]+:remove",
    "mid block": r"^mid_block\.",
    "up_blocks.0": r"^up_blocks\.0\.",
    "up_blocks.1": r"^up_blocks\.1\.",
    "up_blocks.2": r"^up_blocks\.2\.",
    "down blocks": r"^down_blocks\.",
    "modifications": r".",
}
ROW_FEATURES = {"alignment before distillation": "alignment_pruned", "proxy-FID before distillation": "fid_pruned",
                "importance lost": "importance_lost", "measured cut": "measured_cut"}
TARGETS = {"alignment": "alignment_distilled", "proxy-FID": "fid_distilled"}


def plans_of(folders: list[Path], criterion: str) -> list[dict]:
    """Every distinct plan of ``criterion`` in the folders' rows, with each seed's final readings (a plan and seed
    in two folders once); every folder must have distilled with the same settings (else LdpruneError naming the
    one that differs)."""
    plans: dict[tuple, dict] = {}
    first = None
    for folder in folders:
        f = folder / "quality_strategies.json"
        if not f.is_file():
            raise LdpruneError(f"{folder} has no quality_strategies.json", "pass spec folders of quality_strategies.py runs")
        res = json.loads(f.read_text())
        settings = distill_settings(res)
        first = first or (folder, settings)
        if settings != first[1]:
            raise LdpruneError(f"{folder} distilled with other settings than {first[0]}",
                               "compare plans distilled alike: pass spec folders of one recipe")
        for r in base_rows(res, criterion).values():
            names = tuple(sorted(f"{o}:{m}" for o, m in r["modifications"]))
            p = plans.setdefault(names, {"modifications": list(names), "row": r, "finals": []})
            # a plan a re-landing kept, distilled alike under the same seed, is the same student (the rows repeat)
            if all(f["seed"] != r["seed"] for f in p["finals"]):
                p["finals"].append({"run": str(folder), "seed": r["seed"], **{k: r[v] for k, v in TARGETS.items()}})
    return list(plans.values())


def features(plan: dict) -> dict[str, float]:
    names = plan["modifications"]
    out = {k: float(len(cap_members(f"{rx}=0", names).members)) for k, rx in CAP_FEATURES.items()}
    return out | {k: float(plan["row"][v]) for k, v in ROW_FEATURES.items() if plan["row"].get(v) is not None}


def correlate(plans: list[dict]) -> dict:
    from scipy import stats

    rows = [(features(p), {k: statistics.mean(x[k] for x in p["finals"]) for k in TARGETS}) for p in plans]
    names = [k for k in rows[0][0] if all(k in f for f, _ in rows)]
    out = {}
    for target in TARGETS:
        y = [t[target] for _, t in rows]
        per = {}
        for k in names:
            x = [f[k] for f, _ in rows]
            if len(set(x)) < 2:
                per[k] = {"rho": None, "p": None, "p_bonferroni": None, "note": "the same in every plan"}
                continue
            r = stats.spearmanr(x, y)
            per[k] = {"rho": float(r.statistic), "p": float(r.pvalue), "p_bonferroni": min(1.0, float(r.pvalue) * len(names))}
        out[target] = dict(sorted(per.items(), key=lambda kv: -abs(kv[1]["rho"] or 0)))
    return {"features_tested": len(names), "by_target": out}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("specs", nargs="+", type=Path, help="spec folders (quality_strategies.json + work/) of one recipe")
    ap.add_argument("--criterion", default="ld-pruner-prompt")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    try:
        plans = plans_of(a.specs, a.criterion)
    except LdpruneError as e:
        print(f"plan_features: {e}", file=sys.stderr)
        return 2
    if len(plans) < 3:
        print(f"plan_features: {len(plans)} distinct plans; Spearman's rho needs at least 3", file=sys.stderr)
        return 2
    corr = correlate(plans)
    result = {"schema": SCHEMA, "script": "benchmarks/diagnostics/plan_features.py",
              "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "criterion": a.criterion,
              "specs": [str(s) for s in a.specs], "cap_features": CAP_FEATURES, "plans": len(plans),
              "per_plan": [{"modifications": p["modifications"], "features": features(p), "finals": p["finals"]}
                           for p in plans], **corr,
              "note": "exploratory: a feature with a small Bonferroni p is a hypothesis for plans landed afterwards"}
    write_json_atomic(a.out, result)
    for target, per in corr["by_target"].items():
        print(f"{target} over {len(plans)} plans ({corr['features_tested']} features):")
        for k, v in per.items():
            if v["rho"] is not None:
                print(f"  {k:32s} rho {v['rho']:+.2f}  p {v['p']:.3f}  Bonferroni {v['p_bonferroni']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
