"""ldprune profile: measure what each candidate modification saves on this device."""

from __future__ import annotations

from ..params import add_arguments, from_args
from ..profiler.config import ProfileConfig
from ._common import add_model_arg, add_parser


def register(sub) -> None:
    p = add_parser(sub, "profile", "measure per-operator latency savings on this device (a profile JSON)",
                   "ldprune profile --model sd15 --backend torch-graph --batch 2 --resolution 512 --dtype fp16 "
                   "--methods isolated,ablation -o profiles/h200-sd15-torch-graph-b2-512.json")
    add_model_arg(p)
    add_arguments(p, ProfileConfig)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..profiler import profile

    cfg = from_args(ProfileConfig, args)
    prof = profile(args.model, cfg)
    print(summary(prof, cfg.output))
    return 0


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
