"""Two landings of the same seeds: how far apart are their plans and their students? (issue 23)

``quality_strategies.py --phase reland --replan`` plans a seed again from the same scores and profile;
the landing (``planner.landing``) then re-measures everything. When two such landings of one seed end
in different plans, the difference between their distilled students is what the landing's measurements
alone did to the result, the yardstick for any setting compared on single plans. For each seed both
spec folders hold (their ``work/plans`` and ``quality_strategies.json`` rows), this reports:

  - the modifications both plans share and those only one has;
  - how many modifications each cap of either run matches (e.g. cross-attentions removed);
  - the full model's latency at the start of each verify loop and the savings correction its kept plan
    was solved with (where the landing starts), the landing's rounds, the range of paired ratios it
    measured and the median shift of one move, whether it landed in its window;
  - importance lost (the criterion's view) and the distilled metrics, with B minus A.

    python benchmarks/diagnostics/landing_pairs.py A_SPEC_DIR B_SPEC_DIR --out <json>

Reads committed files only; seconds on a CPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ldprune_deploy.errors import LdpruneError  # noqa: E402
from ldprune_deploy.jsonio import write_json_atomic  # noqa: E402
from ldprune_deploy.planner.problem import cap_members  # noqa: E402
from _work_files import BASE_ROW, base_rows, plan_file  # noqa: E402

SCHEMA = "ldprune.landing-pairs/1"


def _spec(folder: Path, criterion: str) -> dict:
    res_file = folder / "quality_strategies.json"
    if not res_file.is_file():
        raise LdpruneError(f"{folder} has no quality_strategies.json", "pass a spec folder of a quality_strategies.py run")
    res = json.loads(res_file.read_text())
    rows = base_rows(res, criterion)
    plans = {}
    for seed in rows:
        f = plan_file(folder / "work", criterion, BASE_ROW[0], seed)
        if f.is_file():
            plans[seed] = json.loads(f.read_text())
    return {"result": res, "rows": rows, "plans": plans}


def _side(plan: dict, row: dict, caps: list[str]) -> dict:
    names = [f"{m['operator']}:{m['modification']}" for m in plan["modifications"]]
    land, ver = plan["meta"].get("landing") or {}, plan["meta"].get("verify") or {}
    ratios = [r["ratio"] for r in land.get("rounds", [])]
    chosen = (ver.get("rounds") or [])[ver["chosen_round"] - 1] if ver.get("chosen_round") else {}
    steps = [abs(b - a) for a, b in zip(ratios, ratios[1:])]
    return {"modifications": len(names),
            "cap_matches": {c: len(cap_members(c, names).members) for c in caps},
            "verify_full_ms": ver.get("baseline", {}).get("measured_full_ms"),
            # the savings correction the verify loop's kept plan was solved with: where the landing starts
            "verify_savings_scale": chosen.get("savings_scale"),
            "landed": land.get("landed"), "landing_rounds": len(ratios),
            "landing_ratio_range": [min(ratios), max(ratios)] if ratios else None,
            # how far one landing move (an operator added, trimmed or swapped) shifted the measured ratio
            "landing_step_median": float(statistics.median(steps)) if steps else None,
            "measured_cut": row["measured_cut"], "importance_lost": plan["predicted"]["importance_lost"],
            "fid_distilled": row["fid_distilled"], "alignment_distilled": row.get("alignment_distilled")}


def compare(a: Path, b: Path, criterion: str = "ld-pruner-prompt") -> dict:
    """The per-seed comparison of spec folders ``a`` and ``b`` (seeds with a plan and a row in both)."""
    sa, sb = _spec(a, criterion), _spec(b, criterion)
    seeds = sorted(set(sa["plans"]) & set(sb["plans"]))
    if not seeds:
        raise LdpruneError(f"{a} and {b} share no seed with a {criterion} plan and row",
                           "pass two spec folders that landed the same seeds")
    caps = sorted(set(sa["result"].get("caps") or []) | set(sb["result"].get("caps") or []))
    out = []
    for s in seeds:
        pa, pb = sa["plans"][s], sb["plans"][s]
        ma = {f"{m['operator']}:{m['modification']}" for m in pa["modifications"]}
        mb = {f"{m['operator']}:{m['modification']}" for m in pb["modifications"]}
        A, B = _side(pa, sa["rows"][s], caps), _side(pb, sb["rows"][s], caps)
        delta = {k: B[k] - A[k] for k in ("fid_distilled", "alignment_distilled", "importance_lost", "measured_cut")
                 if A[k] is not None and B[k] is not None}
        full = (A["verify_full_ms"], B["verify_full_ms"])
        out.append({"seed": s, "shared": len(ma & mb), "only_a": sorted(ma - mb), "only_b": sorted(mb - ma),
                    "same_plan": ma == mb, "a": A, "b": B, "b_minus_a": delta,
                    "verify_full_ms_rel_diff": abs(full[1] / full[0] - 1) if all(full) else None})
    return {"schema": SCHEMA, "a": str(a), "b": str(b), "criterion": criterion, "caps": caps, "seeds": out}


def table(r: dict) -> str:
    lines = ["| seed | shared / A / B modifications | cap matches A / B | full model at verify A / B | "
             "landing A / B | proxy-FID A → B | alignment A → B |", "|---|---|---|---|---|---|---|"]
    for x in r["seeds"]:
        a, b = x["a"], x["b"]
        caps = "; ".join(f"{a['cap_matches'][c]} / {b['cap_matches'][c]}" for c in r["caps"]) or "–"
        def land(s):
            rng = s["landing_ratio_range"]
            return (f"{'landed' if s['landed'] else 'not landed'}, {s['landing_rounds']} rounds"
                    + (f" ({rng[0]:.3f}–{rng[1]:.3f})" if rng else ""))
        full = " / ".join("–" if v is None else f"{v:.3f} ms" for v in (a["verify_full_ms"], b["verify_full_ms"]))
        al = ("–" if a["alignment_distilled"] is None
              else f"{a['alignment_distilled']:.3f} → {b['alignment_distilled']:.3f}")
        lines.append(f"| {x['seed']} | {x['shared']} / {a['modifications']} / {b['modifications']} | {caps} | {full} | "
                     f"{land(a)} / {land(b)} | {a['fid_distilled']:.2f} → {b['fid_distilled']:.2f} | {al} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", type=Path, help="spec folder A (quality_strategies.json + work/plans)")
    ap.add_argument("b", type=Path, help="spec folder B, the same seeds landed again")
    ap.add_argument("--criterion", default="ld-pruner-prompt", help="the criterion whose latency-aware plans are paired")
    ap.add_argument("--out", type=Path, help="write the JSON here (atomically)")
    args = ap.parse_args(argv)
    try:
        r = compare(args.a, args.b, args.criterion)
    except LdpruneError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.out:
        write_json_atomic(args.out, r)
    print(table(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
