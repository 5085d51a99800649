"""``ldprune plan --explain``: what a plan modifies, what it costs in importance, what it saves."""

from __future__ import annotations

from pathlib import Path

from ..profiler.predict import full_latency_ms, saving_ms
from ..artifacts import PrunePlan
from .problem import load_inputs


def explain(plan: PrunePlan | str | Path, scores=None, profile=None) -> str:
    """A table of the plan's modifications with score, saving and share of the required cut.

    Figures come from ``scores``/``profile`` when given (so a hand-edited plan is explained
    against the real inputs), else from what the planner recorded in ``meta.choices``.
    """
    plan = plan if isinstance(plan, PrunePlan) else PrunePlan.load(plan)
    recorded = {(c["operator"], c["modification"]): c for c in plan.meta.get("choices", [])}
    score_of, prof, full = {}, None, (plan.predicted or {}).get("full_latency_ms")
    if scores is not None or profile is not None:
        if scores is None or profile is None:
            from ..errors import LdpruneError

            raise LdpruneError("--explain with inputs needs both --scores and --profile", "pass both, or neither")
        s, prof = load_inputs(scores, profile)
        score_of = {(r["operator"], r["modification"]): float(r["score"]) for r in s["scores"]}
        full = full_latency_ms(prof)
    method = (plan.meta.get("inputs", {}).get("profile", {}) or {}).get("method")
    budget = plan.budget or {}
    budget_ms = budget.get("value") if budget.get("kind") == "latency_ms" else None
    need = (full - budget_ms) if (full is not None and budget_ms is not None) else None
    rows = [("operator", "modification", "score", "saving ms", "% of cut", "% of full")]
    tot_score = tot_saving = 0.0
    for m in plan.modifications:
        key = (m.operator, m.modification)
        sc = score_of.get(key) if score_of else recorded.get(key, {}).get("score")
        sv = saving_ms(prof, *key, method) if prof is not None else recorded.get(key, {}).get("saving_ms")
        tot_score += sc or 0.0
        tot_saving += sv or 0.0
        rows.append((m.operator, m.modification, _f(sc, "{:.4g}"), _f(sv, "{:.3f}"),
                     _f(100 * sv / need if sv is not None and need else None, "{:.1f}"),
                     _f(100 * sv / full if sv is not None and full else None, "{:.1f}")))
    rows.append(("total", f"{len(plan.modifications)} mods", f"{tot_score:.4g}", f"{tot_saving:.3f}",
                 _f(100 * tot_saving / need if need else None, "{:.1f}"),
                 _f(100 * tot_saving / full if full else None, "{:.1f}")))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.insert(-1, lines[1])
    head = [f"plan for {plan.model or '?'} ({plan.model_fingerprint}), strategy "
            f"{plan.meta.get('strategy', '?')}"]
    if budget:
        head.append(f"budget: {budget.get('spec')} = {budget.get('value'):.4g} {budget.get('kind')}"
                    + (f" (full model {full:.3f} ms, cut needed {need:.3f} ms)" if need is not None else ""))
    if plan.predicted:
        head.append(f"predicted: {plan.predicted.get('latency_ms', float('nan')):.3f} ms, importance lost "
                    f"{plan.predicted.get('importance_lost', float('nan')):.4f}")
    if plan.measured:
        head.append(f"measured: {plan.measured.get('latency_ms'):.3f} ms with {plan.measured.get('runner')}")
    if not score_of and not recorded:
        head.append("(no recorded figures in this plan: pass --scores and --profile)")
    return "\n".join(head + [""] + lines)


def _f(v, fmt: str) -> str:
    return "?" if v is None else fmt.format(v)
