"""ldprune distill: recover a pruned UNet by distillation from its teacher."""

from ..distillation.config import DistillConfig
from ..params import add_arguments, from_args
from ._common import add_parser


def register(sub) -> None:
    p = add_parser(sub, "distill", "distil a pruned student from its teacher (task + output KD + feature KD)",
                   "ldprune distill --teacher sd15 --student sd15-pruned/ --data-free --steps 2000 -o distilled/",
                   description="Train a pruned UNet (from `ldprune prune`) to match its teacher: "
                   "task loss + output KD + per-stage feature KD (LAPTOP-Diff normalized or BK-SDM plain). "
                   "Multi-GPU: run it under `accelerate launch --num_processes N -m ldprune_deploy.cli distill ...`.")
    g = p.add_argument_group("models")
    g.add_argument("--teacher", required=True, help="the unpruned model (preset, diffusers folder, .safetensors)")
    g.add_argument("--student", required=True, help="pruned model folder written by `ldprune prune`")
    add_arguments(p, DistillConfig, groups={"models": g})
    p.set_defaults(func=run)


def run(args) -> int:
    from ..distillation import distill

    cfg = from_args(DistillConfig, args)
    cfg.check()
    final = distill(args.teacher, args.student, cfg)
    print(f"distilled model written to {final} (losses: {cfg.output}/losses.json, losses.png)")
    return 0
