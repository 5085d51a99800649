"""ldprune plan: choose modifications that meet a latency/size budget, losing the least importance."""

from __future__ import annotations

from pathlib import Path

from ..errors import LdpruneError
from ..planner.verify import require_met
from ._common import add_parser


def register(sub) -> None:
    p = add_parser(sub, "plan", "choose the modifications that meet a budget with the least importance lost",
                   "ldprune plan --scores scores.json --profile profiles/h100-sd15-torch-graph-b2-512.json "
                   "--budget 70% -o plan.json")
    io = p.add_argument_group("inputs and output")
    io.add_argument("--scores", metavar="S", help="scores.json from `ldprune score`")
    io.add_argument("--profile", metavar="P", help="profile JSON from `ldprune profile`")
    io.add_argument("-o", "--output", metavar="PLAN", help="where to write plan.json")
    io.add_argument("--overwrite", action="store_true", help="replace an existing -o file")
    b = p.add_argument_group("budget (at least one; size and latency budgets combine)")
    b.add_argument("--budget", metavar="B", help="latency: 8.5ms, 70%% (of the profiled full model) or 1.5x")
    b.add_argument("--speedup", metavar="X", help="latency as a speed-up over the full model, e.g. 1.5x")
    b.add_argument("--max-params", metavar="N", help="parameters: 60%% of the full model or a count (500M)")
    b.add_argument("--max-flops", metavar="N", help="FLOPs at the profile's shapes: 60%% or a count (1.2T)")
    s = p.add_argument_group("solver")
    s.add_argument("--strategy", default="latency-aware", choices=["latency-aware", "rank", "params"],
                   help="latency-aware: exact MILP on measured savings (default); rank: LD-Pruner's order "
                        "(lowest score first); params: latency-blind, minimise importance under a size budget")
    s.add_argument("--method", help="profile saving method (default: the profile's default_method)")
    s.add_argument("--allow-missing", action="store_true",
                   help="skip scored modifications the profile has no saving for (default: error)")
    s.add_argument("--batch", type=int, help="batch the plan is for; must match the profile for a ms budget")
    s.add_argument("--resolution", type=int, help="resolution the plan is for; must match the profile for a ms budget")
    s.add_argument("--model", metavar="M", help="model (preset/folder); needed for --verify and size budgets "
                                                "when the profile's model name is not a preset")
    s.add_argument("--time-limit", type=float, default=60.0, help="MILP time limit in seconds (default 60)")
    x = p.add_argument_group("sweep, verify, explain")
    x.add_argument("--pareto", metavar="OUTDIR", help="sweep budgets for every strategy; write pareto.json/.md/.png")
    x.add_argument("--pareto-points", type=int, default=15, help="budgets per strategy in the sweep (default 15)")
    x.add_argument("--verify", action="store_true", help="apply the plan, measure it, correct and re-solve")
    x.add_argument("--backend", default="torch-graph", help="runner for --verify (torch-graph, cpu, …)")
    x.add_argument("--dtype", help="dtype for --verify (default: the profile's)")
    x.add_argument("--tolerance", type=float, default=0.03,
                   help="re-solve when a plan beats the budget by more than this fraction (0.03); the budget itself is one-sided")
    x.add_argument("--max-rounds", type=int, default=3, help="verify rounds at most (default 3)")
    x.add_argument("--correction", default="scale", choices=["scale", "additive"],
                   help="how a measured gap corrects the predictor (default: scale the savings)")
    x.add_argument("--warmup", type=int, default=10, help="warm-up calls per measurement")
    x.add_argument("--iters", type=int, default=30, help="timed calls per measurement")
    x.add_argument("--explain", metavar="PLAN", help="print a plan's modifications with score, saving and share "
                                                     "of the budget (uses --scores/--profile when given)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..planner import PlanConfig, explain

    if args.explain:
        print(explain(args.explain, args.scores, args.profile))
        return 0
    if not args.scores or not args.profile:
        raise LdpruneError("ldprune plan needs --scores and --profile", "pass both (or --explain PLAN)")
    has_budget = any(v is not None for v in (args.budget, args.speedup, args.max_params, args.max_flops))
    if not has_budget and not args.pareto:
        raise LdpruneError("no budget given", "pass --budget 70% | 8.5ms, --speedup 1.5x, --max-params 60% "
                                              "or --max-flops 60% (or --pareto OUTDIR to sweep)")
    if has_budget and not args.output:
        raise LdpruneError("no output path", "pass -o plan.json")
    if args.output and Path(args.output).exists() and not args.overwrite:
        raise LdpruneError(f"{args.output} exists", "choose another -o path or pass --overwrite")
    cfg = PlanConfig(budget=args.budget, speedup=args.speedup, max_params=args.max_params, max_flops=args.max_flops,
                     strategy=args.strategy, method=args.method, allow_missing=args.allow_missing,
                     batch=args.batch, resolution=args.resolution, model=args.model, time_limit_s=args.time_limit,
                     verify=args.verify, backend=args.backend, dtype=args.dtype, tolerance=args.tolerance,
                     max_rounds=args.max_rounds, correction=args.correction, warmup=args.warmup, iters=args.iters)
    if args.pareto:
        _pareto(args, cfg)
    if not has_budget:
        return 0
    from ..planner import plan

    result = plan(args.scores, args.profile, cfg)
    result.save(args.output)
    pr = result.predicted
    print(f"{args.strategy}: {len(result.modifications)} modification(s); predicted {pr['latency_ms']:.3f} ms "
          f"of {pr['full_latency_ms']:.3f} ms (budget {result.budget['spec']} = {result.budget['value']:.4g} "
          f"{result.budget['kind']}); importance lost {pr['importance_lost']:.4f}; "
          f"solver {result.meta['solver'].get('status')} in {result.meta['solver'].get('time_s')} s")
    ver = result.meta.get("verify")
    if ver:
        for r in ver["rounds"]:
            print(f"  verify round {r['round']}: predicted {r['predicted_ms']:.3f} ms, measured "
                  f"{r['measured_ms']:.3f} ms (p90 + drift {r['upper_ms']:.3f} ms, full model {r['reference_ms']:.3f} ms), "
                  f"{'met' if r['met'] else 'missed'}")
    print(f"wrote {args.output}  (explain: ldprune plan --explain {args.output})")
    require_met(result, "ldprune plan --verify")
    return 0


def _pareto(args, cfg) -> None:
    from ..planner import Planner, write_pareto
    from ..planner.problem import load_inputs

    s, p = load_inputs(args.scores, args.profile)
    if not any((cfg.budget, cfg.speedup, cfg.max_params, cfg.max_flops)):
        cfg = type(cfg)(**{**cfg.__dict__, "budget": "100%"})
    planner = Planner(s, p, cfg, sources=(args.scores, args.profile))
    paths = write_pareto(planner, args.pareto, n=args.pareto_points)
    print("pareto front: " + ", ".join(str(v) for v in paths.values()))
