"""ldprune score: importance of every candidate modification (LD-Pruner, LAPTOP, baselines)."""

from __future__ import annotations

import argparse
import logging

from ._common import add_model_args, add_parser

log = logging.getLogger("ldprune")


def register(sub) -> None:
    from ..scoring import METHODS
    from ..scoring.compile import REGIONS

    p = add_parser(sub, "score", "score how much each candidate modification changes the model's output",
                   "ldprune score --model sd15 --method ld-pruner --n-gen 64 --steps 25 --resolution 256 "
                   "--mods remove shortcut -o scores.json\n"
                   "  torchrun --nproc-per-node 8 -m ldprune_deploy.cli score --model sd15 --device cuda --dtype fp16 "
                   "-o scores.json   # one GPU per rank, same file as one process")
    add_model_args(p)
    p.add_argument("--method", default="ld-pruner", choices=list(METHODS), help="importance method (default ld-pruner)")
    p.add_argument("-o", "--output", default="scores.json", help="scores file to write (default scores.json)")
    g = p.add_argument_group("generation / calibration")
    g.add_argument("--n-gen", type=int, default=64, help="samples per set (>= 2; default 64)")
    g.add_argument("--steps", type=int, default=25, help="sampler steps (default 25)")
    g.add_argument("--scheduler", default="ddim", help="ddim, ddpm, pndm, euler, dpm++, unipc, lms or a class name")
    g.add_argument("--guidance", type=float, default=7.5, help="classifier-free guidance (conditional UNets)")
    g.add_argument("--resolution", type=int, help="pixel resolution (default: the model's)")
    g.add_argument("--seed", type=int, default=0, help="sample i uses seed + i (default 0)")
    g.add_argument("--prompts", metavar="FILE", help="prompt file, one per line (default: the --embeddings file's own prompts, evenly spaced, else the built-in list)")
    g.add_argument("--embeddings", metavar="FILE", help="pre-computed text embeddings (.safetensors)")
    g.add_argument("--batch-size", type=int, help="samples per UNet call (default: all N_gen at once)")
    f = p.add_argument_group("candidate filters")
    f.add_argument("--kinds", nargs="+", metavar="KIND", help="operator kinds, e.g. resnet attn2 ff")
    f.add_argument("--mods", nargs="+", metavar="MOD", help="modifications: remove shortcut width width:0.5 ...")
    f.add_argument("--include", metavar="REGEX", help="keep candidates whose 'operator:modification' matches")
    f.add_argument("--exclude", metavar="REGEX", help="drop candidates whose 'operator:modification' matches")
    r = p.add_argument_group("execution")
    r.add_argument("--check-additivity", type=int, default=0, metavar="K",
                   help="also score K random sets jointly and correlate with the sum of singles")
    r.add_argument("--device", default="cpu", help="cpu or cuda (torchrun: one GPU per rank)")
    r.add_argument("--dtype", default="fp32", help="fp32, fp16 or bf16")
    r.add_argument("--channels-last", action="store_true", help="channels_last memory format (faster convs on GPU)")
    r.add_argument("--compile-blocks", action="store_true",
                   help="torch.compile the UNet's repeated regions (see --compile-regions; compile time counts)")
    r.add_argument("--compile-regions", choices=list(REGIONS),
                   help="with --compile-blocks: 'wide' (default: whole Transformer2DModels, down/upsamplers and "
                        "the output norm too) or 'blocks' (each ResnetBlock2D/BasicTransformerBlock)")
    r.add_argument("--inductor", action="append", metavar="NAME=VALUE",
                   help="with --compile-blocks: a torch._inductor.config setting, e.g. conv_1x1_as_mm=true "
                        "(repeatable)")
    r.add_argument("--cuda-graph", action=argparse.BooleanOptionalAction, default=None,
                   help="replay the sampling loop's UNet call from a CUDA graph (default: on with --device cuda, "
                        "unless --compile-blocks; small UNets are launch-bound, so this is their main speed-up)")
    r.add_argument("--cudnn-benchmark", action="store_true",
                   help="let cuDNN time its convolution algorithms (CUDA): a faster sweep (README), but scores "
                        "may then differ slightly between processes instead of repeating bit for bit")
    r.add_argument("--resume", action="store_true", help="continue an interrupted run, skipping finished candidates")
    r.add_argument("--overwrite", action="store_true", help="replace an existing scores file")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..inductor_knobs import parse_knob
    from ..scoring import ScoreConfig, score

    knobs = dict(parse_knob(k) for k in args.inductor or [])
    cfg = ScoreConfig(method=args.method, output=args.output, n_gen=args.n_gen, steps=args.steps,
                      scheduler=args.scheduler, guidance=args.guidance, resolution=args.resolution, seed=args.seed,
                      prompts=args.prompts, embeddings=args.embeddings, batch_size=args.batch_size,
                      kinds=args.kinds, mods=args.mods, include=args.include, exclude=args.exclude,
                      check_additivity=args.check_additivity, device=args.device, dtype=args.dtype,
                      channels_last=args.channels_last, compile_blocks=args.compile_blocks,
                      compile_regions=args.compile_regions, inductor=knobs or None, cuda_graph=args.cuda_graph,
                      cudnn_benchmark=args.cudnn_benchmark,
                      resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress, preset=args.preset)
    doc = score(args.model, cfg)
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_rank() != 0:
        return 0
    top = sorted(doc["scores"], key=lambda e: -e["score"])[:5]
    print(f"scored {len(doc['scores'])} candidates of {doc['model']} with {doc['method']} -> {args.output}")
    for e in top:
        print(f"  {e['score']:12.5g}  {e['operator']} {e['modification']}")
    add = doc.get("additivity")
    if add:
        print(f"additivity over {add['k']} sets: pearson {add['pearson']}, spearman {add['spearman']}")
    return 0
