"""ldprune evaluate: quality + latency of a candidate against its teacher, with a CI gate."""

from __future__ import annotations

from ..evaluation.config import EvaluateConfig
from ..params import add_arguments, from_args
from ._common import add_parser


def register(sub) -> None:
    p = add_parser(sub, "evaluate", "compare a pruned candidate with its teacher: FID/FAD/CLIP, latency, "
                   "budget gate (exit 3 when it fails), report.json/md/html",
                   "ldprune evaluate --teacher sd15 --candidate sd15-pruned/ --runner torch-graph --metric fid "
                   "--feature-extractor proxy.safetensors --vae vae/ --budget 8.5ms --max-quality-drop 10% -o report/")
    p.add_argument("--teacher", required=True, help="teacher model: preset, diffusers folder or .safetensors")
    p.add_argument("--candidate", required=True, help="candidate: pruned/distilled folder (or any model)")
    add_arguments(p, EvaluateConfig)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..evaluation import evaluate
    from ..evaluation.report import summary_rows, verdict

    report = evaluate(args.teacher, args.candidate, from_args(EvaluateConfig, args))
    for a, b, c, d in summary_rows(report):
        print(f"{a}: teacher {b}, candidate {c}  {d}")
    print(f"gate: {verdict(report)}")
    print(f"report written to {args.output}/report.html")
    return 0
