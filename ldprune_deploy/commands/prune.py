"""ldprune prune: apply a plan to a model and write the pruned folder."""

from ..surgery import PruneConfig, prune
from ._common import add_model_args, add_parser


def register(sub) -> None:
    p = add_parser(sub, "prune", "apply a plan (weights preserved) and write a diffusers-style folder",
                   "ldprune prune --model sd15 --plan plan.json -o sd15-pruned/")
    add_model_args(p)
    p.add_argument("--plan", required=True, help="plan JSON (from `ldprune plan` or written by hand)")
    p.add_argument("-o", "--output", required=True, help="output folder (must not exist or be empty)")
    p.add_argument("--force", action="store_true", help="apply a plan made for another model fingerprint")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    p.set_defaults(func=run)


def run(args) -> int:
    out = prune(args.model, PruneConfig(plan=args.plan, output=args.output, preset=args.preset,
                                        force=args.force, overwrite=args.overwrite))
    print(f"pruned model written to {out}")
    return 0
