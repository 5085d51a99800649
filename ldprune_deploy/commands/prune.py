"""ldprune prune: apply a plan to a model and write the pruned folder."""

from ..params import add_arguments, from_args
from ..surgery import PruneConfig, prune
from ._common import add_model_arg, add_parser


def register(sub) -> None:
    p = add_parser(sub, "prune", "apply a plan (weights preserved) and write a diffusers-style folder",
                   "ldprune prune --model sd15 --plan plan.json -o sd15-pruned/")
    add_model_arg(p)
    add_arguments(p, PruneConfig)
    p.set_defaults(func=run)


def run(args) -> int:
    out = prune(args.model, from_args(PruneConfig, args))
    print(f"pruned model written to {out}")
    return 0
