"""How far apart are repeated measurements of one landed plan? (issue 23: landing reproducibility)

Two landings of one seed end in different plans (``landing_pairs.py``): each walks to the window
[target (1 - tol), target] on its own measurements. Whether those measurements can tell the plans
apart at all is a question of one plan's paired-ratio noise, which no committed row holds. This
opens the teacher on the landing's own runner path (``_quality.LatencyProbe``: the same runner,
batch, warm-up, iterations and paired interleaved rounds as the landing) and measures each given
plan's ratio to the full model ``--repeats`` times, round robin over the plans, so a drift of the
GPU reaches every plan alike. Per plan it reports the landing's ratio, every repeat, their median,
range and sample std, and how many repeats fall in the landing's window; over all plans, the pooled
within-plan std (the noise of one measurement) against the window's width.

    python benchmarks/diagnostics/ratio_repeat.py --teacher T --plans WORK [WORK ...] --seeds 3,4,5 \\
        --repeats 5 --out benchmarks/results/quality/<run>/ratio-repeat.json

Times the runner: give it the GPU alone. About 3 s a measurement on an H100 (torch-graph, batch 8).
The file is rewritten after every round, so a cut-off run keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ldprune_deploy.errors import LdpruneError  # noqa: E402
from ldprune_deploy.jsonio import write_json_atomic  # noqa: E402
from ldprune_deploy.quality.evidence import pooled_std  # noqa: E402
from _work_files import plan_file  # noqa: E402

SCHEMA = "ldprune.ratio-repeat/1"


def find_plans(works: list[Path], only: str, seeds: list[int]) -> list[tuple[str, Path]]:
    """(label, plan file) for every seed of every work folder; a missing one is one clear error."""
    criterion, planner = only.split("/")
    out, missing = [], []
    for w in works:
        for s in seeds:
            f = plan_file(w, criterion, planner, s)
            (out if f.is_file() else missing).append((f"{w.parent.name}/s{s}", f))
    if missing:
        raise LdpruneError(f"no plan file {', '.join(str(f) for _, f in missing)}",
                           "pass work folders (…/work) that hold plans/plan-<criterion>-<planner>-s<seed>.json "
                           "for every --seeds")
    return out


def summarize(label: str, plan: dict, ratios: list[float]) -> dict:
    """One plan's repeats against the window its landing aimed at."""
    land = (plan.get("meta") or {}).get("landing") or {}
    target, tol = land.get("target_ratio"), land.get("tolerance")
    rec = {"plan": label, "n_modifications": len(plan["modifications"]), "landing_ratio": land.get("ratio"),
           "repeats": [round(r, 5) for r in ratios], "median": statistics.median(ratios),
           "range": max(ratios) - min(ratios), "std": statistics.stdev(ratios) if len(ratios) > 1 else None}
    if target is not None and tol is not None:
        lo = target * (1 - tol)
        rec.update(window=[lo, target], in_window=sum(lo <= r <= target for r in ratios),
                   slower_than_target=sum(r > target for r in ratios))
    return rec


def pooled(records: list[dict]) -> dict:
    """The noise of one measurement: the within-plan variance pooled over plans (each with n - 1 degrees
    of freedom), against the width of the landing's window."""
    p = pooled_std([r["repeats"] for r in records])
    widths = {round(r["window"][1] - r["window"][0], 6) for r in records if "window" in r}
    return {"pooled_std": p["std"], "dof": p["dof"], "window_width": widths.pop() if len(widths) == 1 else sorted(widths) or None,
            "in_window": sum(r.get("in_window", 0) for r in records), "measurements": sum(len(r["repeats"]) for r in records)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--teacher", required=True, help="the teacher folder the plans were landed on")
    ap.add_argument("--data", default="data_cache")
    ap.add_argument("--emb", help="caption embeddings (default <data>/emoji-emb.safetensors)")
    ap.add_argument("--plans", nargs="+", required=True, type=Path, metavar="WORK",
                    help="work folders with plans/ and the landing's profile-<backend>.json")
    ap.add_argument("--only", default="ld-pruner-prompt/latency-aware", help="criterion/planner of the plans")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--backend", help="runner (default torch-graph on CUDA, cpu otherwise)")
    ap.add_argument("--profile-batch", type=int, default=8, help="batch of the landing's timing (default 8)")
    ap.add_argument("--smoke", action="store_true", help="2 warm-up / 3 timed calls: checks the path, figures mean nothing")
    ap.add_argument("--out", required=True, type=Path)
    a = ap.parse_args(argv)
    if a.repeats < 2:
        raise SystemExit(f"--repeats {a.repeats}: a spread needs at least 2 measurements of each plan")
    try:
        plans = find_plans(a.plans, a.only, [int(s) for s in a.seeds.split(",") if s.strip()])
    except LdpruneError as e:
        raise SystemExit(f"error: {e}") from None

    import _quality as Q
    from ldprune_deploy.artifacts import PrunePlan
    from ldprune_deploy.device import device_fingerprint

    a.backend = a.backend or ("torch-graph" if Q.device() == "cuda" else "cpu")
    prof_file = a.plans[0] / f"profile-{a.backend}.json"
    prof = json.loads(prof_file.read_text()) if prof_file.is_file() else {}
    t = Q.load_teacher(a.teacher, a.data, a.emb)
    probe = Q.LatencyProbe(t, SimpleNamespace(backend=a.backend, profile_batch=a.profile_batch, smoke=a.smoke), prof)
    loaded = [(label, PrunePlan.load(f), json.loads(f.read_text())) for label, f in plans]
    ratios: dict[str, list[float]] = {label: [] for label, _, _ in loaded}
    head = {"schema": SCHEMA, "script": "benchmarks/diagnostics/ratio_repeat.py", "smoke": a.smoke,
            "device": device_fingerprint(Q.device()), "runner": a.backend, "batch": a.profile_batch,
            "resolution": prof.get("resolution"), "teacher": str(a.teacher), "repeats": a.repeats,
            "order": "round robin over the plans, each measurement paired and interleaved with the full model"}
    try:
        for rnd in range(a.repeats):
            for label, plan, _ in loaded:
                ratios[label].append(probe.ratio(plan))
                print(f"round {rnd + 1}/{a.repeats} {label}: {ratios[label][-1]:.4f}", flush=True)
            recs = [summarize(label, raw, ratios[label]) for label, _, raw in loaded]
            write_json_atomic(a.out, {**head, "rounds_done": rnd + 1, "plans": recs,
                                      "pooled": pooled(recs) if rnd else None})
    finally:
        probe.close()
    print(json.dumps(pooled(recs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
