"""ldprune evaluate: quality + latency of a candidate against its teacher, with a CI gate."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import LdpruneError
from ._common import add_parser


def register(sub) -> None:
    p = add_parser(sub, "evaluate", "compare a pruned candidate with its teacher: FID/FAD/CLIP, latency, "
                   "budget gate (exit 3 when it fails), report.json/md/html",
                   "ldprune evaluate --teacher sd15 --candidate sd15-pruned/ --runner torch-graph --metric fid "
                   "--feature-extractor proxy.safetensors --vae vae/ --budget 8.5ms --max-quality-drop 10% -o report/")
    p.add_argument("--teacher", required=True, help="teacher model: preset, diffusers folder or .safetensors")
    p.add_argument("--candidate", required=True, help="candidate: pruned/distilled folder (or any model)")
    p.add_argument("--preset", help="architecture of bare .safetensors models")
    p.add_argument("-o", "--output", required=True, help="report folder (must not exist or be empty)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty report folder")
    g = p.add_argument_group("quality")
    g.add_argument("--metric", action="append", choices=["fid", "fad", "clip"],
                   help="repeatable (default: fid)")
    g.add_argument("--n-samples", type=int, default=1000, help="samples per model (default 1000)")
    g.add_argument("--steps", type=int, default=25, help="sampling steps (default 25)")
    g.add_argument("--scheduler", default="ddim", help="diffusers scheduler (default ddim)")
    g.add_argument("--guidance", type=float, default=7.5, help="classifier-free guidance (conditional models)")
    g.add_argument("--seed", type=int, default=0, help="first seed; sample i uses seed+i (default 0)")
    g.add_argument("--batch-size", type=int, default=16, help="generation batch (default 16)")
    g.add_argument("--feature-extractor", metavar="SPEC",
                   help="module.py:fn, a TorchScript file, or a proxy .safetensors (+ .json config)")
    g.add_argument("--inception-weights", metavar="FILE", help="standard FID Inception (TorchScript .pt)")
    g.add_argument("--vggish-weights", metavar="FILE", help="standard FAD VGGish (TorchScript, 16 kHz waveform)")
    g.add_argument("--clip-weights", metavar="DIR", help="local transformers CLIPModel folder (CLIP score)")
    g.add_argument("--vae", metavar="DIR", help="local diffusers AutoencoderKL folder (latent UNets)")
    g.add_argument("--latent-space", action="store_true",
                   help="latent UNet without --vae: compute metrics on latents (labelled latent-space)")
    g.add_argument("--reference", metavar="FILE",
                   help="real samples (.npy/.npz/.safetensors) to measure both models against "
                        "(default: teacher samples from disjoint seeds)")
    g.add_argument("--prompts", metavar="FILE", help="prompts, one per line (conditional models)")
    g.add_argument("--embeddings", metavar="FILE", help="pre-computed prompt embeddings (safetensors)")
    g.add_argument("--mel-config", metavar="JSON", help="mel parameters for audio: sample_rate, n_fft, "
                   "hop_length, top_db, griffin_lim_iters (default AudioDiffusion's)")
    lat = p.add_argument_group("latency")
    lat.add_argument("--runner", help="torch-graph, ort-cuda, cpu, ... or 'none' (default: torch-graph on "
                     "CUDA, cpu otherwise)")
    lat.add_argument("--latency-batch", type=int, default=1, help="batch of the timed UNet call (default 1)")
    lat.add_argument("--resolution", type=int, help="pixel resolution (default: the model's)")
    lat.add_argument("--dtype", choices=["fp32", "fp16", "bf16"], help="default fp16 on CUDA, fp32 on CPU")
    lat.add_argument("--device", help="device for sampling (default cuda if available)")
    lat.add_argument("--warmup", type=int, default=10)
    lat.add_argument("--iters", type=int, default=30)
    lat.add_argument("--e2e-repeats", type=int, default=3, help="timed sampling runs (median reported)")
    gate = p.add_argument_group("gate")
    gate.add_argument("--budget", help="latency budget: 8.5ms, 70%% (of the teacher) or 1.4x (speed-up)")
    gate.add_argument("--max-quality-drop", action="append", metavar="TOL",
                      help="10%% (every metric), fid=15%%, fad=2.5 (absolute); repeatable (default 10%%)")
    gate.add_argument("--no-gate", action="store_true", help="write the report and exit 0 whatever the gate says")
    rep = p.add_argument_group("report inputs (plots)")
    rep.add_argument("--scores", help="scores.json (with --profile: latency saved vs importance)")
    rep.add_argument("--profile", help="profile JSON (fingerprinted; plot with --scores)")
    rep.add_argument("--pareto", help="planner pareto.json")
    rep.add_argument("--curves", help="distillation losses.json")
    rep.add_argument("--export", help="export folder or engine file (fingerprinted in the report)")
    p.set_defaults(func=run)


def _mel(path: str | None):
    from ..evaluate import MelSpec

    if not path:
        return MelSpec()
    try:
        data = json.loads(Path(path).read_text())
        return MelSpec(**data)
    except (OSError, json.JSONDecodeError, TypeError) as e:
        raise LdpruneError(f"cannot read --mel-config {path}: {e}",
                           "pass a JSON object with sample_rate, n_fft, hop_length, top_db") from None


def run(args) -> int:
    from ..evaluate import EvaluateConfig, evaluate

    cfg = EvaluateConfig(
        output=args.output, metrics=args.metric or ["fid"], n_samples=args.n_samples, steps=args.steps,
        scheduler=args.scheduler, guidance=args.guidance, seed=args.seed, batch_size=args.batch_size,
        runner=args.runner, latency_batch=args.latency_batch, resolution=args.resolution, dtype=args.dtype,
        device=args.device, warmup=args.warmup, iters=args.iters, e2e_repeats=args.e2e_repeats,
        budget=args.budget, max_quality_drop=args.max_quality_drop or ["10%"],
        feature_extractor=args.feature_extractor, inception_weights=args.inception_weights,
        vggish_weights=args.vggish_weights, clip_weights=args.clip_weights, vae=args.vae,
        latent_space=args.latent_space, prompts=args.prompts, embeddings=args.embeddings,
        reference=args.reference, mel=_mel(args.mel_config), scores=args.scores, profile=args.profile,
        pareto=args.pareto, curves=args.curves, export=args.export, preset=args.preset,
        overwrite=args.overwrite, enforce_gate=not args.no_gate)
    report = evaluate(args.teacher, args.candidate, cfg)
    from ..evaluate.report import summary_rows, verdict

    for a, b, c, d in summary_rows(report):
        print(f"{a}: teacher {b}, candidate {c}  {d}")
    print(f"gate: {verdict(report)}")
    print(f"report written to {args.output}/report.html")
    return 0
