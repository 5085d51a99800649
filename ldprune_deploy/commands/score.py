"""ldprune score: importance of every candidate modification (LD-Pruner, LAPTOP, baselines)."""

from __future__ import annotations

from ..params import add_arguments, from_args
from ..scoring.config import ScoreConfig
from ._common import add_model_arg, add_parser


def register(sub) -> None:
    p = add_parser(sub, "score", "score how much each candidate modification changes the model's output",
                   "ldprune score --model sd15 --method ld-pruner --n-gen 64 --steps 25 --resolution 256 "
                   "--mods remove shortcut -o scores.json\n"
                   "  torchrun --nproc-per-node 8 -m ldprune_deploy.cli score --model sd15 --device cuda --dtype fp16 "
                   "-o scores.json   # one GPU per rank, same file as one process")
    add_model_arg(p)
    add_arguments(p, ScoreConfig)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..scoring import score

    cfg = from_args(ScoreConfig, args)
    doc = score(args.model, cfg)
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_rank() != 0:
        return 0
    top = sorted(doc["scores"], key=lambda e: -e["score"])[:5]
    print(f"scored {len(doc['scores'])} candidates of {doc['model']} with {doc['method']} -> {cfg.output}")
    for e in top:
        print(f"  {e['score']:12.5g}  {e['operator']} {e['modification']}")
    add = doc.get("additivity")
    if add:
        print(f"additivity over {add['k']} sets: pearson {add['pearson']}, spearman {add['spearman']}")
    return 0
