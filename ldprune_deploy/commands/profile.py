"""ldprune profile: measure what each candidate modification saves on this device."""

from __future__ import annotations

import logging

from ..errors import LdpruneError
from ._common import add_model_args, add_parser

log = logging.getLogger("ldprune")


def register(sub) -> None:
    p = add_parser(sub, "profile", "measure per-operator latency savings on this device (a profile JSON)",
                   "ldprune profile --model sd15 --backend torch-graph --batch 2 --resolution 512 --dtype fp16 "
                   "--methods isolated,ablation -o profiles/h100-sd15-torch-graph-b2-512.json")
    add_model_args(p)
    p.add_argument("--backend", default="torch-graph",
                   help="runner: torch-graph, torch-eager, torch-compile, cpu (default torch-graph)")
    p.add_argument("--batch", type=int, default=2, help="batch size (default 2)")
    p.add_argument("--resolution", type=int, help="pixel resolution (default: the model's)")
    p.add_argument("--dtype", default="fp16", help="fp16 | bf16 | fp32 (default fp16)")
    p.add_argument("--text-len", type=int, help="text tokens for conditional UNets (default: the model's)")
    p.add_argument("--methods", default="isolated", help="comma-separated: in_situ,isolated,ablation (default isolated)")
    p.add_argument("--default-method", help="method the planner uses by default (default: isolated if measured)")
    p.add_argument("-o", "--output", required=True, help="profile JSON to write")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from its partial results")
    p.add_argument("--overwrite", action="store_true", help="replace an existing profile")
    p.add_argument("--check-additivity", type=int, default=0, metavar="K",
                   help="time K random plans at 25/50/75%% of operators modified and report the predictor's error")
    p.add_argument("--iters", type=int, default=30, help="timed whole-model calls (default 30)")
    p.add_argument("--warmup", type=int, default=10, help="warm-up whole-model calls (default 10)")
    p.add_argument("--op-iters", type=int, default=30, help="timed calls per operator (default 30)")
    p.add_argument("--include", action="append", metavar="REGEX",
                   help="only candidates whose 'operator:modification' matches (repeatable)")
    p.add_argument("--max-candidates", type=int, help="profile only the first N matching candidates")
    p.add_argument("--compile-mode", help="torch-compile mode (default reduce-overhead)")
    p.add_argument("--compile-cache", help="persistent inductor cache folder for torch-compile")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..runners import available_runners, runner_names
    from ..profiler import ProfileConfig, profile

    if args.backend not in runner_names():
        raise LdpruneError(f"unknown backend '{args.backend}'",
                           f"use one of: {', '.join(runner_names())} (usable here: {_usable(available_runners())})")
    why = available_runners()[args.backend]
    if why:
        raise LdpruneError(f"backend '{args.backend}' is not available here: {why}",
                           f"use one of the available backends: {_usable(available_runners())}")
    options = {}
    if args.compile_mode:
        options["mode"] = args.compile_mode
    if args.compile_cache:
        options["cache_dir"] = args.compile_cache
    if options and args.backend != "torch-compile":
        raise LdpruneError("--compile-mode/--compile-cache only apply to --backend torch-compile",
                           "drop them or use --backend torch-compile")
    cfg = ProfileConfig(backend=args.backend, batch=args.batch, resolution=args.resolution, dtype=args.dtype,
                        text_len=args.text_len, methods=args.methods, output=args.output, resume=args.resume,
                        overwrite=args.overwrite, warmup=args.warmup, iters=args.iters, op_iters=args.op_iters,
                        include=args.include, max_candidates=args.max_candidates,
                        check_additivity=args.check_additivity, seed=args.seed,
                        default_method=args.default_method, backend_options=options,
                        progress=not args.no_progress)
    prof = profile(args.model, cfg)
    print(summary(prof, args.output))
    return 0


def _usable(avail: dict[str, str]) -> str:
    return ", ".join(n for n, why in avail.items() if not why) or "none"


def summary(prof: dict, path: str) -> str:
    full = prof["full_latency_ms"]
    lines = [f"wrote {path}: {prof['model']} {prof['backend']} {prof['dtype']} b{prof['batch']} {prof['resolution']}px "
             f"on {prof['device'].get('gpu') or prof['device'].get('cpu')}",
             f"  full latency {full['median_ms']:.3f} ms (p10 {full['p10_ms']:.3f}, p90 {full['p90_ms']:.3f}, n {full['n']}), "
             f"{prof['full_tflops']:.1f} TFLOP/s; {prof['n_candidates']} candidates by {', '.join(prof['methods'])} "
             f"in {prof['wall_time_s']:.1f} s"]
    for method, levels in (prof.get("additivity") or {}).items():
        cells = ", ".join(f"{lv.removeprefix('level_')}: median {v['median_err'] * 100:.1f}% max {v['max_err'] * 100:.1f}%"
                          for lv, v in levels.items())
        lines.append(f"  predictor error ({method}): {cells}")
    return "\n".join(lines)
