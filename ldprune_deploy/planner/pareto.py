"""Pareto front: predicted latency vs importance lost, per strategy, over a sweep of budgets."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..jsonio import write_json_atomic
from ..errors import LdpruneError
from ..budget import Limit
from .stage import STRATEGIES, Planner
from .solve import max_saving

log = logging.getLogger("ldprune")
PARETO_SCHEMA = "ldprune.pareto/1"


def sweep(planner: Planner, strategies: tuple[str, ...] = STRATEGIES, n: int = 15) -> dict[str, Any]:
    """For each strategy, plans at ``n`` budgets from the full model down to the tightest reachable.

    latency-aware and rank sweep latency budgets; params sweeps params budgets (it is
    latency-blind), and each of its plans is placed at its predicted latency.
    """
    p = planner.problem
    least_ms = p.full_ms - float(p.saving_ms[max_saving(p, p.saving_ms).chosen].sum())
    rows: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    for strategy in strategies:
        if strategy == "params":
            if p.params_saved is None:
                from .problem import attach_sizes

                try:
                    attach_sizes(p, planner.profile, planner.config.model, flops=False)
                except LdpruneError as e:   # no catalogue: the latency strategies still sweep
                    log.warning("pareto: strategy 'params' skipped: %s (%s)", e.message, e.fix)
                    skipped[strategy] = e.message
                    continue
            least = p.total_params - float(p.params_saved[max_saving(p, p.params_saved).chosen].sum())
            fracs = np.linspace(1.0, least / p.total_params, n)
            budgets = [Limit("params", f * p.total_params, f"{100 * f:.1f}%", float(f)) for f in fracs]
        else:
            fracs = np.linspace(1.0, least_ms / p.full_ms, n)
            budgets = [Limit("latency_ms", f * p.full_ms, f"{100 * f:.1f}%", float(f)) for f in fracs]
        for b in budgets:
            try:
                pl = planner.run([b], strategy)
            except LdpruneError as e:
                log.info("pareto %s at %s: %s", strategy, b.spec, e.message)
                continue
            rows.append({"strategy": strategy, "budget_kind": b.kind, "budget": b.spec, "budget_value": b.value,
                         "predicted_ms": pl.predicted["latency_ms"],
                         "latency_pct": 100.0 * pl.predicted["latency_ms"] / p.full_ms,
                         "importance_lost": pl.predicted["importance_lost"],
                         "params": pl.predicted.get("params"), "n_modifications": len(pl.modifications),
                         "solver_s": pl.meta["solver"].get("time_s")})
    return {"schema": PARETO_SCHEMA, "model": planner.profile.get("model"),
            "model_fingerprint": planner.profile["model_fingerprint"], "full_latency_ms": p.full_ms,
            "min_latency_ms": least_ms, "inputs": planner.inputs, "skipped": skipped, "rows": rows}


def front(rows: list[dict[str, Any]], strategy: str) -> list[dict[str, Any]]:
    """The non-dominated points of one strategy, by increasing latency."""
    pts = sorted((r for r in rows if r["strategy"] == strategy), key=lambda r: (r["predicted_ms"], r["importance_lost"]))
    out, best = [], float("inf")
    for r in pts:
        if r["importance_lost"] < best - 1e-12:
            out.append(r)
            best = r["importance_lost"]
    return out


def markdown(result: dict[str, Any]) -> str:
    lines = [f"# Pareto front — {result.get('model')} ({result['model_fingerprint']})", "",
             f"full model {result['full_latency_ms']:.3f} ms (profile), tightest reachable "
             f"{result['min_latency_ms']:.3f} ms", "",
             "| strategy | budget | predicted ms | % of full | importance lost | importance kept | mods |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        lines.append(f"| {r['strategy']} | {r['budget']} ({r['budget_kind']}) | {r['predicted_ms']:.3f} | "
                     f"{r['latency_pct']:.1f} | {r['importance_lost']:.4f} | {1 - r['importance_lost']:.4f} | "
                     f"{r['n_modifications']} |")
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    for strategy, marker in zip(STRATEGIES, "os^"):
        pts = [r for r in result["rows"] if r["strategy"] == strategy]
        if not pts:
            continue
        ax.scatter([r["predicted_ms"] for r in pts], [r["importance_lost"] for r in pts], marker=marker,
                   alpha=0.35, s=18)
        f = front(result["rows"], strategy)
        ax.step([r["predicted_ms"] for r in f], [r["importance_lost"] for r in f], where="post",
                marker=marker, label=strategy, color=ax.collections[-1].get_facecolor()[0][:3])
    ax.axvline(result["full_latency_ms"], color="grey", lw=0.8, ls="--", label="full model")
    ax.set_xlabel("predicted latency (ms)")
    ax.set_ylabel("importance lost (share of total)")
    ax.set_title(f"{result.get('model')}: latency vs importance lost")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def write_pareto(planner: Planner, outdir: str | Path, strategies: tuple[str, ...] = STRATEGIES,
                 n: int = 15) -> dict[str, Path]:
    out = Path(outdir)
    result = sweep(planner, strategies, n)
    paths = {"json": write_json_atomic(out / "pareto.json", result), "png": plot(result, out / "pareto.png")}
    (out / "pareto.md").write_text(markdown(result))
    paths["md"] = out / "pareto.md"
    return paths
