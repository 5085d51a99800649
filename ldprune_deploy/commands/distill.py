"""ldprune distill: recover a pruned UNet by distillation from its teacher."""

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
    g = p.add_argument_group("data")
    src = g.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="pre-encoded .safetensors (latents [+ embeddings]), an image folder with "
                     "captions (.jsonl or sidecar .txt), or a folder of mel spectrograms (.npy)")
    src.add_argument("--data-free", action="store_true", help="train on the teacher's own samples (no dataset)")
    g.add_argument("--prompts", help="data-free prompt file, one per line (default: built-in list)")
    g.add_argument("--n-samples", type=int, default=64, help="data-free: teacher samples to generate (default 64)")
    g.add_argument("--gen-steps", type=int, default=25, help="data-free: sampler steps per sample (default 25)")
    g.add_argument("--vae", help="local diffusers AutoencoderKL folder to encode an image folder")
    g.add_argument("--text-encoder", help="embedding file (safetensors with 'embeddings' and prompts metadata)")
    g.add_argument("--resolution", type=int, help="pixel resolution of image data (default: the model's)")
    g.add_argument("--random-flip", action="store_true", help="random horizontal flips (off: latents)")
    g.add_argument("--random-crop", action="store_true", help="random instead of centre crops of images")
    g.add_argument("--cond-dropout", type=float, default=0.0, help="probability of an empty caption (CFG)")
    g = p.add_argument_group("loss")
    g.add_argument("--feat-loss", choices=["normalized", "plain"], default="normalized",
                   help="normalized: LAPTOP-Diff relative feature error; plain: BK-SDM MSE (default normalized)")
    g.add_argument("--lambda-task", type=float, default=1.0)
    g.add_argument("--lambda-out", type=float, default=1.0)
    g.add_argument("--lambda-feat", type=float, default=1.0)
    g.add_argument("--prediction-type", default="epsilon", choices=["epsilon", "v_prediction", "sample"])
    g = p.add_argument_group("training")
    g.add_argument("--steps", type=int, required=True, help="optimizer steps")
    g.add_argument("--batch-size", type=int, default=8, help="per process and micro-step (default 8)")
    g.add_argument("--grad-accum", type=int, default=1)
    g.add_argument("--lr", type=float, default=1e-4)
    g.add_argument("--weight-decay", type=float, default=1e-2)
    g.add_argument("--warmup-steps", type=int, default=0)
    g.add_argument("--lr-schedule", choices=["constant", "cosine"], default="constant")
    g.add_argument("--max-grad-norm", type=float, default=1.0, help="gradient clipping (0 = off)")
    g.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"], default="no")
    g.add_argument("--teacher-dtype", choices=["fp32", "fp16", "bf16"], default="fp32")
    g.add_argument("--ema", type=float, metavar="DECAY", help="keep an EMA of the student (e.g. 0.999)")
    g.add_argument("--final-weights", choices=["ema", "raw"], default="ema",
                   help="with --ema: which weights go to OUT/model (the other to model-raw/model-ema)")
    g.add_argument("--checkpoint-every", type=int, default=0, metavar="K", help="checkpoint every K steps")
    g.add_argument("--keep-checkpoints", type=int, default=2)
    g.add_argument("--resume", action="store_true", help="continue from the last checkpoint in -o")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--cpu", action="store_true", help="train on the CPU even if a GPU is present")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-o", "--output", required=True, help="output folder (checkpoints, losses, final model/)")
    p.add_argument("--overwrite", action="store_true", help="start over in a non-empty output folder")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..distill import DistillConfig, distill

    cfg = DistillConfig(
        output=args.output, steps=args.steps, batch_size=args.batch_size, grad_accum=args.grad_accum, lr=args.lr,
        weight_decay=args.weight_decay, warmup_steps=args.warmup_steps, lr_schedule=args.lr_schedule,
        max_grad_norm=args.max_grad_norm or None, feat_loss=args.feat_loss, lambda_task=args.lambda_task,
        lambda_out=args.lambda_out, lambda_feat=args.lambda_feat, mixed_precision=args.mixed_precision,
        teacher_dtype=args.teacher_dtype, ema_decay=args.ema, final_weights=args.final_weights,
        checkpoint_every=args.checkpoint_every, keep_checkpoints=args.keep_checkpoints, resume=args.resume,
        overwrite=args.overwrite, seed=args.seed, data=args.data, data_free=args.data_free, prompts=args.prompts,
        n_samples=args.n_samples, gen_steps=args.gen_steps, text_encoder=args.text_encoder, vae=args.vae,
        resolution=args.resolution, random_flip=args.random_flip, random_crop=args.random_crop,
        cond_dropout=args.cond_dropout, prediction_type=args.prediction_type, cpu=args.cpu,
        progress=not args.no_progress)
    final = distill(args.teacher, args.student, cfg)
    print(f"distilled model written to {final} (losses: {cfg.output}/losses.json, losses.png)")
    return 0
