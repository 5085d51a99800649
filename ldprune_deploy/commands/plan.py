"""ldprune plan: choose modifications that meet a latency/size budget, losing the least importance."""

from __future__ import annotations

from pathlib import Path

from ..errors import LdpruneError
from ..params import add_arguments, from_args
from ..planner.config import PlanConfig
from ..planner.verify import require_met
from ._common import add_parser


def register(sub) -> None:
    p = add_parser(sub, "plan", "choose the modifications that meet a budget with the least importance lost",
                   "ldprune plan --scores scores.json --profile profiles/h200-sd15-torch-graph-b2-512.json "
                   "--budget 70% -o plan.json")
    io = p.add_argument_group("inputs and output")
    io.add_argument("--scores", metavar="S", help="scores.json from `ldprune score`")
    io.add_argument("--profile", metavar="P", help="profile JSON from `ldprune profile`")
    io.add_argument("-o", "--output", metavar="PLAN", help="where to write plan.json")
    io.add_argument("--overwrite", action="store_true", help="replace an existing -o file")
    x = p.add_argument_group("sweep and explain")
    x.add_argument("--pareto", metavar="OUTDIR", help="sweep budgets for every strategy; write pareto.json/.md/.png")
    x.add_argument("--pareto-points", type=int, default=15, help="budgets per strategy in the sweep (default 15)")
    x.add_argument("--explain", metavar="PLAN", help="print a plan's modifications with score, saving and share "
                                                     "of the budget (uses --scores/--profile when given)")
    add_arguments(p, PlanConfig)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..planner import explain

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
    cfg = from_args(PlanConfig, args)
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
