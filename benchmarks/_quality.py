"""Shared by benchmarks/quality_*.py: teacher + data loading, proxy-FID/FAD, score -> profile ->
plan (verified, so every plan carries its *measured* latency) -> prune -> distil, and tables.

Notes:
- A text-conditioned teacher is scored on a seeded subset of its training captions, written to a
  small dense embedding file (``dense_embedding_file``) so the scores file names exactly those.
- ``distill`` has no periodic evaluation hook; the recovery curve is measured from the
  ``on_grads(step, model)`` callback (raw student weights after ``step`` updates, no EMA).
- Verified plans measure the in-memory teacher: ``planner.plan(..., verify=True, unet=m)``.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _common  # noqa: F401  (puts the repo root on sys.path)
import _work_files as WF
import torch
import torch.nn.functional as F

from ldprune_deploy.jsonio import write_json_atomic
from ldprune_deploy.device import device_fingerprint
from ldprune_deploy.graph_call import use_cuda_graph
from ldprune_deploy.models import load_model
from ldprune_deploy.quality.numerics import EVAL_PRECISIONS, eval_numerics, feature_numerics
from ldprune_deploy.quality.teachers import teacher_data
from ldprune_deploy.sampling import SamplerConfig, generate, make_scheduler
from ldprune_deploy.unet import set_model_info

METRIC_NOTE = ("proxy metric: Frechet distance on the penultimate features of a small CNN trained here "
               "(benchmarks/train_proxies.py), not Inception/VGGish")


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


# a selection measured in the landing's window is measured this many times more and lands on the median: one
# paired measurement's std was a third of the window on the H100 (diagnostics/ratio_repeat.py, 2026-12-06)
LANDING_CONFIRM = 2
# the defaults of the distillation settings added after rows were first stored: a row's fingerprint names them only
# when they differ, so the rows stored before them (same inputs, plan and settings) still resume
LATER_SETTINGS = WF.UNRECORDED_DISTILL


def add_common_args(ap: argparse.ArgumentParser, *, steps: int, seeds: str, fid_n: int, rows: bool = True) -> None:
    ap.add_argument("--teacher", help="a trained teacher folder (train_teachers.py OUT/<name>); not needed with --smoke")
    ap.add_argument("--data", default="data_cache", help="data cache folder (default data_cache)")
    ap.add_argument("--emb", help="caption embeddings (default <data>/emoji-emb.safetensors; T2I teachers only)")
    ap.add_argument("--proxies", default="benchmarks/assets", help="folder with proxy-emoji.safetensors, proxy-mel.safetensors")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", default=seeds, help=f"comma-separated seeds (default {seeds})")
    ap.add_argument("--steps", type=int, default=steps, help=f"distillation steps (default {steps})")
    ap.add_argument("--batch", type=int, default=128, help="distillation batch (default 128)")
    ap.add_argument("--lr", type=float, default=5e-4, help="distillation learning rate (default 5e-4)")
    ap.add_argument("--lambda-prompt", type=float, default=0.0,
                    help="weight of the prompt-effect KD term (text-to-image teachers; default 0: off)")
    ap.add_argument("--lambda-out", type=float, default=LATER_SETTINGS["lambda_out"],
                    help=f"weight of the output KD term (default {LATER_SETTINGS['lambda_out']:g})")
    ap.add_argument("--lambda-feat", type=float, default=LATER_SETTINGS["lambda_feat"],
                    help=f"weight of the feature KD term (default {LATER_SETTINGS['lambda_feat']:g}; at 1 the normalized "
                         "feature term is most of the loss on the emoji teachers)")
    ap.add_argument("--cond-dropout", type=float, default=LATER_SETTINGS["cond_dropout"], metavar="P",
                    help=f"share of captions dropped while distilling a text-to-image teacher (default {LATER_SETTINGS['cond_dropout']:g}, "
                         "as the teachers trained; the metrics sample at guidance 1, so 0 trains only what they measure)")
    ap.add_argument("--caption-mix", type=float, default=LATER_SETTINGS["caption_mix"], metavar="P",
                    help="share of rows whose caption is a blend of two training captions, trained by the KD terms "
                         "only (DistillConfig.caption_mix; text-to-image teachers; default 0: off)")
    ap.add_argument("--snr-gamma", type=float, default=LATER_SETTINGS["snr_gamma"], metavar="GAMMA",
                    help="min-SNR-gamma weighting of the task and output-KD terms (DistillConfig.snr_gamma; "
                         "default: off)")
    ap.add_argument("--ema", type=float, metavar="DECAY",
                    help="keep an EMA of the student and measure it (e.g. 0.995; default: the raw weights)")
    ap.add_argument("--fid-n", type=int, default=fid_n, help=f"generated samples per proxy-FID/FAD (default {fid_n})")
    ap.add_argument("--sample-steps", type=int, default=25, help="DDIM steps for the metric samples (default 25)")
    ap.add_argument("--eval-precision", choices=list(EVAL_PRECISIONS), default="fp32",
                    help="numerics of the metric's sampling on CUDA (default fp32: TF32 off; bf16: bf16 autocast, "
                         "as every run before 2026-12-05, whose per-checkpoint weight rounding moves the metric)")
    ap.add_argument("--ref-n", type=int, help="real reference items (default: the whole training split)")
    ap.add_argument("--n-gen", type=int, default=64, help="LD-Pruner/LAPTOP samples (default 64)")
    ap.add_argument("--score-steps", type=int, default=10, help="sampler steps while scoring (default 10)")
    ap.add_argument("--backend", help="latency runner (default torch-graph on CUDA, cpu otherwise)")
    ap.add_argument("--profile-batch", type=int, default=8, help="batch of the latency profile (default 8)")
    ap.add_argument("--smoke", action="store_true",
                    help="CPU check in well under a minute: throwaway teacher trained for 2 steps, tiny N; figures mean nothing")
    ap.add_argument("--phase", choices=["plan", "reland", "train", "all"], default="all",
                    help="plan: profile, score and verify every plan (times the runner: give it the GPU alone), "
                         "saved under OUT/work/plans; reland: as plan, but keeps the saved profile, scores and every "
                         "saved plan except those whose landing failed (those are planned and landed again); train: "
                         "prune, distil and measure from the saved plans (no latency is timed, so several scripts may "
                         "share one GPU); all: plan then train (default)")
    ap.add_argument("--replan", action="store_true",
                    help="with --phase reland: plan and land every plan again, also those saved and landed, from the "
                         "saved profile and scores (e.g. the same seeds without a --cap the saved plans were made with)")
    if not rows:   # a script that keeps no rows (RowStore) offers no flags about them
        return
    ap.add_argument("--no-resume", dest="resume", action="store_false",
                    help="measure every row again (default: a row already under OUT/work/rows, made from the same "
                         "teacher weights, data, proxies, plan and settings, is reused, so a run cut off resumes)")
    ap.add_argument("--rows-from", action="append", default=[], metavar="DIR",
                    help="another run's rows folder (e.g. a committed results/.../work/rows), repeatable: a row there "
                         "with the fingerprint this run would write (same inputs, the same landed plan, settings) is "
                         "reused and copied here instead of distilled again; distillation on one GPU type repeats "
                         "exactly, so a seed whose plan a re-landing kept need not be measured twice")


def finish_args(a, smoke_teacher: str) -> None:
    a.seed_list = [int(s) for s in str(a.seeds).split(",") if s.strip()]
    a.backend = a.backend or ("torch-graph" if device() == "cuda" else "cpu")
    if not 0 <= a.cond_dropout < 1:
        raise SystemExit(f"--cond-dropout takes a share of captions in [0, 1), not {a.cond_dropout}")
    if not 0 <= a.caption_mix < 1:
        raise SystemExit(f"--caption-mix takes a share of rows in [0, 1), not {a.caption_mix}")
    if a.snr_gamma is not None and not a.snr_gamma > 0:
        raise SystemExit(f"--snr-gamma takes a positive SNR cap (e.g. 5), not {a.snr_gamma}")
    if a.lambda_out < 0:
        raise SystemExit(f"--lambda-out takes a weight >= 0, not {a.lambda_out}")
    if a.lambda_feat < 0:
        raise SystemExit(f"--lambda-feat takes a weight >= 0, not {a.lambda_feat}")
    from ldprune_deploy.planner.config import check_caps

    if bad := check_caps(getattr(a, "cap", None)):
        raise SystemExit(f"--cap: {bad}")
    if a.smoke:
        a.seed_list = a.seed_list[:1]
        a.steps, a.batch, a.fid_n, a.sample_steps = min(a.steps, 4), 4, 16, 2
        a.ref_n, a.n_gen, a.score_steps, a.profile_batch = 64, 2, 1, 1
        if hasattr(a, "budget"):
            a.budget = "max_params 90% (smoke: CPU latency too noisy for a latency budget)"
        a.teacher = str(smoke_teacher_folder(smoke_teacher, a))
    elif not a.teacher:
        raise SystemExit("--teacher DIR is required (a folder written by benchmarks/train_teachers.py) unless --smoke")


# --------------------------------------------------------------------------- teacher and data


@dataclass
class Teacher:
    unet: torch.nn.Module
    info: Any
    hint: dict
    folder: Path
    x_train: torch.Tensor              # model space
    cond_train: torch.Tensor | None
    captions_train: list[str] | None
    curve: dict | None                 # this teacher's entry of curves.json (if found)
    x_ref: torch.Tensor | None = None  # the held-out split: the metric's reference, never trained on
    cond_ref: torch.Tensor | None = None


def _unet_dir(folder: Path) -> Path:
    return folder / "unet" if (folder / "unet" / "config.json").is_file() else folder


def load_teacher(folder: str | Path, data_dir: str, emb: str | None) -> Teacher:
    folder = Path(folder)
    cfg = json.loads((_unet_dir(folder) / "config.json").read_text())
    hint = cfg.get("_ldprune_teacher")
    if not isinstance(hint, dict):
        raise SystemExit(f"{folder} is not a teacher written by train_teachers.py (no _ldprune_teacher in config.json)")
    unet, info = load_model(str(folder), device=device(), quiet=True)
    unet = unet.float().eval()
    td = teacher_data(hint["data"], hint["space"], hint["conditional"], data_dir, emb)
    curve = None
    for cand in (folder.parent / "curves.json", folder / "curves.json"):
        if cand.is_file():
            curve = json.loads(cand.read_text()).get("teachers", {}).get(hint["name"])
            break
    return Teacher(unet, info, hint, folder, td.x_train, td.cond_train, td.captions_train, curve, td.x_ref, td.cond_ref)


def smoke_teacher_folder(name: str, a) -> Path:
    """Train a throwaway teacher for 2 steps at batch 4 on the CPU (the smoke test's stand-in),
    with a 2-point curve measured by this module's own proxy metric. Same config shape as the
    real teacher (class, block types, data space), but 16-channel blocks and one layer per
    block, so the whole smoke run fits in well under a minute on 2 CPU cores."""
    from dataclasses import replace

    from ldprune_deploy.quality.teachers import TEACHERS, build_teacher

    cfg = TEACHERS[name]
    n_blocks = len(cfg.config["block_out_channels"])
    cfg = replace(cfg, config={**cfg.config, "block_out_channels": [16] * n_blocks, "layers_per_block": 1,
                               "norm_num_groups": 8, "attention_head_dim": 8})
    root = Path(a.out) / "_smoke_teacher"
    folder = root / name
    torch.manual_seed(0)
    unet = build_teacher(cfg).train()
    tmp = copy.copy(a)
    td = teacher_data(cfg.data, cfg.space, cfg.conditional, a.data, a.emb)
    t = Teacher(unet, None, {"name": name, "data": cfg.data, "space": cfg.space, "conditional": cfg.conditional,
                             "text_len": cfg.text_len}, folder, td.x_train, td.cond_train, td.captions_train, None,
                td.x_ref, td.cond_ref)
    metric = ProxyMetric(t, tmp)
    sched = make_scheduler(SamplerConfig(scheduler="ddpm"))
    opt = torch.optim.AdamW(unet.parameters(), lr=cfg.lr)
    g = torch.Generator().manual_seed(0)
    log = {"proxy_fid_step": [], "proxy_fid": []}
    for step in range(1, 3):
        idx = torch.randint(0, len(t.x_train), (4,), generator=g)
        x0, noise = t.x_train[idx], torch.randn(4, *t.x_train.shape[1:], generator=g)
        tt = torch.randint(0, 1000, (4,), generator=g)
        kw = {"encoder_hidden_states": t.cond_train[idx]} if t.cond_train is not None else {}
        loss = F.mse_loss(unet(sched.add_noise(x0, noise, tt), tt, **kw, return_dict=False)[0], noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
        log["proxy_fid_step"].append(step)
        log["proxy_fid"].append(metric(unet.eval(), seed=0))
        unet.train()
    unet.eval().save_pretrained(str(folder / "unet"), safe_serialization=True)
    p = folder / "unet" / "config.json"
    c = json.loads(p.read_text())
    c["_ldprune_teacher"] = t.hint
    write_json_atomic(p, c)
    write_json_atomic(root / "curves.json", {"smoke": True, "teachers": {name: {
        "steps_done": 2, "batch": 4, "fid_n": a.fid_n, "sample_steps": a.sample_steps, **log}}})
    return folder


# --------------------------------------------------------------------------- proxy metric


class ProxyMetric:
    """Proxy-FID (emoji) / proxy-FAD (mel) of a UNet's DDIM samples against the held-out split
    (never trained on by the teacher, a distillation or a proxy), real statistics computed once;
    for a T2I teacher the samples come from held-out captions and ``measure`` adds the proxy
    alignment (``quality.align``) when benchmarks/assets/align-emoji.safetensors exists."""

    def __init__(self, t: Teacher, a, split: str = "held-out"):
        from torchmetrics.image.fid import FrechetInceptionDistance

        from ldprune_deploy.quality.align import load_align
        from ldprune_deploy.quality.proxy import load_proxy, proxy_path
        from ldprune_deploy.spaces import to_unit_images

        self.t, self.n, self.steps, self.dev = t, a.fid_n, a.sample_steps, device()
        self.precision = a.eval_precision
        self.name = "proxy-FAD" if t.hint["data"] == "notes" else "proxy-FID"
        proxy, self.proxy_meta = load_proxy(proxy_path(a.proxies, t.hint["data"]), self.dev)
        if split not in ("held-out", "train"):
            raise ValueError(f"split {split!r}: held-out or train")
        # "train": a validation reading for choices made before the held-out split is looked at (the training
        # images and captions, which the teacher and every distillation trained on)
        held = split == "held-out" and t.x_ref is not None and len(t.x_ref)
        real = t.x_ref if held else t.x_train
        self.reference = "held-out split" if held else ("training split" if split == "train"
                                                        else "training split (no held-out items)")
        if a.ref_n:
            real = real[torch.randperm(len(real), generator=torch.Generator().manual_seed(0))[:a.ref_n]]
        self.n_ref = len(real)
        self.captions = t.cond_ref if held and t.cond_ref is not None and len(t.cond_ref) else t.cond_train
        path = Path(a.proxies) / "align-emoji.safetensors"
        self.align = load_align(path, self.dev)[0] if t.cond_train is not None and path.is_file() else None
        self.fid = FrechetInceptionDistance(feature=proxy, normalize=True, reset_real_features=False).to(self.dev)
        ru = to_unit_images(real, t.hint["space"])
        for i in range(0, len(ru), 500):
            self.fid.update(ru[i:i + 500].to(self.dev), real=True)
        self._to_unit = to_unit_images

    def settings(self) -> dict:
        return {"metric": self.name, "n_generated": self.n, "n_reference": self.n_ref, "sampler": "ddim",
                "eval_precision": self.precision, "eval_numerics": EVAL_PRECISIONS[self.precision],
                "sample_steps": self.steps, "guidance": 1.0, "reference": self.reference, "note": METRIC_NOTE,
                "captions": None if self.captions is None else ("held-out captions" if self.captions is self.t.cond_ref
                                                                 else "training captions"),
                "alignment": "proxy alignment (quality.align), 100 x cosine" if self.align is not None else None,
                "proxy_held_out_accuracy": self.proxy_meta.get("held_out_accuracy"),
                "proxy_heads": self.proxy_meta.get("heads")}

    def __call__(self, unet: torch.nn.Module, seed: int = 0) -> float:
        return self.measure(unet, seed)["fid"]

    @torch.no_grad()
    def measure(self, unet: torch.nn.Module, seed: int = 0, guidance: float = 1.0) -> dict:
        """{"fid": proxy-FID/FAD, "alignment": proxy alignment or None} of one set of samples; ``guidance``
        above 1 (text-to-image only) samples with classifier-free guidance against the zero caption the
        teachers' caption dropout trained."""
        return self.score(*self.samples(unet, seed, guidance))

    @torch.no_grad()
    def samples(self, unet: torch.nn.Module, seed: int = 0, guidance: float = 1.0):
        """(unit-range samples, their captions or None): what ``measure`` scores, for a caller scoring one set
        with several metrics (diagnostics/proxy_agreement.py)."""
        was_training = unet.training
        unet.eval()
        c = None
        if self.captions is not None:
            pick = torch.randint(0, len(self.captions), (self.n,), generator=torch.Generator().manual_seed(seed))
            c = self.captions[pick]
        with eval_numerics(self.dev, self.precision):
            z = generate(unet, seeds=list(range(10_000 + 1000 * seed, 10_000 + 1000 * seed + self.n)),
                         latent_size=unet.config.sample_size, cond=c, batch_size=500,
                         sampler=SamplerConfig(scheduler="ddim", steps=self.steps, guidance=guidance), vae_scale=1,
                         cuda_graph=use_cuda_graph(None, self.dev))  # the small students are launch-bound
        unet.train(was_training)
        return self._to_unit(z, self.t.hint["space"]), c

    @torch.no_grad()
    def score(self, fake: torch.Tensor, c: torch.Tensor | None = None) -> dict:
        """The metrics of unit-range samples ``fake`` (captions ``c``) against this metric's reference."""
        with feature_numerics(self.dev, self.precision):
            self.fid.reset()
            for i in range(0, len(fake), 500):
                self.fid.update(fake[i:i + 500].to(self.dev), real=False)
            al = round(float(self.align.score(fake, c).mean()), 3) if self.align is not None and c is not None else None
            return {"fid": round(float(self.fid.compute()), 4), "alignment": al}


# --------------------------------------------------------------------------- score / profile / plan


def dense_embedding_file(captions: list[str], emb: torch.Tensor, path: Path) -> Path:
    """The scoring captions and their embeddings as a dense EmbeddingFile (one row per caption)."""
    from ldprune_deploy.tensorfile import save_tensors

    uniq, rows = [], []
    for c, e in zip(captions, emb):
        if c not in uniq:
            uniq.append(c)
            rows.append(e)
    return save_tensors({"embeddings": torch.stack(rows).contiguous()}, path, metadata={"prompts": json.dumps(uniq)})


def candidate_subset(t: Teacher, k: int) -> list[tuple[str, str]]:
    from ldprune_deploy.catalogue import build_catalogue

    return build_catalogue(t.unet, t.info, batch=1).candidates()[:k]


def score_teacher(t: Teacher, a, method: str, seed: int, out: Path, candidates=None) -> dict:
    from ldprune_deploy.scoring import ScoreConfig, score

    kw: dict[str, Any] = {}
    if t.cond_train is not None:
        g = torch.Generator().manual_seed(1000 + seed)
        pick = torch.randperm(len(t.captions_train), generator=g)[:a.n_gen].tolist()
        caps = [t.captions_train[i] for i in pick]
        kw = dict(prompt_list=caps, embeddings=str(dense_embedding_file(
            caps, t.cond_train[pick], out / f"score-emb-{seed}.safetensors")), guidance=1.0)
    output = out / f"scores-{method}-s{seed}.json"
    if a.phase == "reland" and output.is_file():   # the scores the kept plans were solved with
        return json.loads(output.read_text())
    cfg = ScoreConfig(method=method, output=output, n_gen=a.n_gen,
                      steps=a.score_steps, seed=seed, device=device(), overwrite=True, progress=False,
                      batch_size=min(a.n_gen, 256), candidates=candidates, exclude=getattr(a, "exclude", None), **kw)
    return score(t.unet, cfg)


def profile_path(a, out: Path) -> Path:
    return out / f"profile-{a.backend}.json"


def profile_teacher(t: Teacher, a, out: Path, candidates=None) -> dict:
    from ldprune_deploy.profiler import ProfileConfig, profile

    dtype = "fp16" if device() == "cuda" else "fp32"
    inc = [f"^{re.escape(o)}:{re.escape(m)}$" for o, m in candidates] if candidates else None
    cfg = ProfileConfig(backend=a.backend, batch=a.profile_batch, dtype=dtype, methods=("isolated",),
                        output=profile_path(a, out), overwrite=True, include=inc, progress=False,
                        warmup=2 if a.smoke else 10, iters=3 if a.smoke else 30,
                        op_warmup=1 if a.smoke else 3, op_iters=2 if a.smoke else 30)
    m = copy.deepcopy(t.unet)
    set_model_info(m, t.info)   # a deep copy does not carry it
    return profile(m, cfg)


class PlanStore:
    """Plans (and the profile they were solved on) kept under OUT/work/plans between the
    ``--phase plan`` run, which times the runner, and the ``--phase train`` run, which must not."""

    def __init__(self, a, work: Path):
        self.phase, self.work = a.phase, work
        self.profile_path = profile_path(a, work)
        self.caps = getattr(a, "cap", None) or []
        self.replan = getattr(a, "replan", False)
        if self.replan and self.phase != "reland":
            raise SystemExit(f"--replan goes with --phase reland (it keeps the saved profile and scores), not --phase {self.phase}")

    def profile(self, make) -> dict:
        """``make()`` profiles (and writes ``profile_path``); the train phase reads that file, and so
        does reland where it exists (the kept plans were solved on it)."""
        if self.phase == "train" or (self.phase == "reland" and self.profile_path.is_file()):
            return json.loads(self._need(self.profile_path).read_text())
        return make()

    def plan(self, key: str, make):
        from ldprune_deploy.artifacts import PrunePlan
        from ldprune_deploy.planner.problem import caps_exceeded

        path = WF.plan_path(self.work, key)
        if self.phase == "train":
            kept = PrunePlan.load(self._need(path))
            if over := caps_exceeded(kept.modifications, self.caps):
                raise SystemExit(f"{path} exceeds --cap {' '.join(over)}: run --phase reland with these caps first")
            return kept
        if self.phase == "reland" and path.is_file() and not self.replan:
            kept = PrunePlan.load(path)
            # landed (or never landed: no target) and within every cap: what planning with the caps would keep
            if (kept.meta.get("landing") or {}).get("landed") is not False and not caps_exceeded(kept.modifications, self.caps):
                return kept
        plan = make()
        plan.save(path)
        return plan

    @property
    def train(self) -> bool:
        return self.phase in ("train", "all")

    def _need(self, path: Path) -> Path:
        if not path.is_file():
            raise SystemExit(f"{path} is missing: run this script with --phase plan (same --out) first")
        return path


class RowStore:
    """The finished rows of a train phase, one small JSON each under OUT/work/rows, written as each
    row ends: a run cut off (a device machine going back mid-session) keeps what it finished, the
    session's ``collect`` brings those files back, and the next run over the same folder measures
    only the rest. A row is reused only when its fingerprint (sha256 of the teacher weights, the
    data, the caption embeddings and the proxies; the plan as measured; the distillation and metric
    settings) is the one this run would write; any other row is measured again and replaced."""

    SCHEMA = "ldprune.bench.quality-row/1"

    def __init__(self, t: Teacher, a, work: Path):
        from ldprune_deploy.evaluation.features import file_sha256
        from ldprune_deploy.quality.common import cache_dir
        from ldprune_deploy.quality.proxy import proxy_path

        self.work, self.resume, self.resumed, self.measured = work, a.resume, [], []
        self.sources = [Path(d) for d in getattr(a, "rows_from", None) or []]
        if missing := [str(d) for d in self.sources if not d.is_dir()]:
            raise SystemExit(f"--rows-from: no such folder {', '.join(missing)}: name a rows folder (…/work/rows)")
        self.borrowed = []
        # every weights file of the teacher (whatever its name or variant), so no two teachers share a fingerprint
        files = {f"teacher/{f.name}": f for f in sorted(_unet_dir(Path(t.folder)).iterdir())
                 if f.suffix in (".safetensors", ".bin")}
        files |= {"data": cache_dir(a.data) / f"{t.hint['data']}.npz", "proxy": proxy_path(a.proxies, t.hint["data"])}
        if t.cond_train is not None:
            files["emb"] = Path(a.emb) if a.emb else cache_dir(a.data) / "emoji-emb.safetensors"
            files["align"] = Path(a.proxies) / "align-emoji.safetensors"
        self.inputs = {k: file_sha256(f) if f.is_file() else None for k, f in files.items()}
        self.settings = {k: getattr(a, k) for k in ("steps", "batch", "lr", "ema", "lambda_prompt", "fid_n",
                                                     "sample_steps", "eval_precision", "ref_n")}
        self.settings |= {k: getattr(a, k, d) for k, d in LATER_SETTINGS.items() if getattr(a, k, d) != d}

    def fingerprint(self, key: str, plan) -> dict:
        return {"key": key, "inputs": self.inputs, "settings": self.settings, "plan": plan_summary(plan)}

    def _stored(self, path: Path, fp: dict) -> dict | None:
        """The stored row at ``path`` if its fingerprint is ``fp``."""
        try:
            kept = json.loads(path.read_text())
        except (OSError, ValueError) as e:   # written atomically, so only a hand-edited file gets here
            print(f"{path}: unreadable ({e}); not reused")
            return None
        if kept.get("schema") == self.SCHEMA and kept.get("fingerprint") == fp:
            return kept
        print(f"{path} was made from other inputs, plan or settings; not reused")
        return None

    def row(self, key: str, plan, make) -> dict:
        """The row ``key`` of ``plan``: the stored one (here, then under --rows-from) if its fingerprint
        matches, else ``make()``, stored."""
        path, fp = WF.row_path(self.work, key), self.fingerprint(key, plan)
        for src in [path, *(d / path.name for d in self.sources)] if self.resume else []:
            if src.is_file() and (kept := self._stored(src, fp)):
                if src != path:   # copied, so the table pass and a later resume find it here
                    write_json_atomic(path, kept)
                    self.borrowed.append(str(src))
                self.resumed.append(key)
                on = kept["row"].get("measured_on") or {}
                print(f"{key}: resumed from {src} ({on.get('device')}, {on.get('date')})")
                return kept["row"]
        dev = device_fingerprint(device())
        row = {**make(), "measured_on": {"device": dev.get("gpu") or f"cpu ({dev.get('threads')} threads)",
                                         "date": dev["date"]}}
        write_json_atomic(path, {"schema": self.SCHEMA, "fingerprint": fp, "row": row})
        self.measured.append(key)
        return row

    def counts(self) -> dict:
        return {"resumed": len(self.resumed), "measured": len(self.measured), "resumed_keys": self.resumed,
                **({"resumed_from": self.borrowed} if self.borrowed else {})}

    def note(self, rows: list[dict]) -> str:
        """For a table's header: how many rows this run resumed, and where every row was measured."""
        where = sorted({(r.get("measured_on") or {}).get("device") or "?" for r in rows})
        return (f"; rows measured on {', '.join(where)}" + (f", {len(self.resumed)} of {len(rows)} resumed from "
                + ("earlier runs (--rows-from)" if self.borrowed else "an earlier run over this folder")
                if self.resumed else ""))


def plan_verified(t: Teacher, a, scores: dict, prof: dict, strategy: str, budget: str):
    """A plan for ``budget`` (e.g. '65%' = 35 % cut), verified on the runner: measured latency set."""
    from ldprune_deploy.planner import PlanConfig, plan

    dtype = "fp16" if device() == "cuda" else "fp32"
    # smoke: a parameter budget (always feasible; CPU latency on 2 cores is too noisy for a latency budget)
    lat = {"max_params": "90%"} if a.smoke else {"budget": budget}
    cfg = PlanConfig(**lat, strategy=strategy, verify=True, backend=a.backend, dtype=dtype,
                     allow_missing=bool(a.smoke), warmup=2 if a.smoke else 10, iters=3 if a.smoke else 30,
                     max_rounds=2 if a.smoke else 3, caps=getattr(a, "cap", None))
    m = copy.deepcopy(t.unet).to(dtype=torch.float16 if dtype == "fp16" else torch.float32)
    set_model_info(m, t.info)
    return plan(scores, prof, cfg, unet=m)


class LatencyProbe:
    """The teacher's runner variant opened once; ``ratio(plan)`` = the plan's median latency over
    the full model's, timed paired and interleaved (runners.timing.paired) in this process."""

    def __init__(self, t: Teacher, a, prof: dict):
        from ldprune_deploy.runners import RunSpec, get_runner
        from ldprune_deploy.runners.timing import open_variant

        dtype = "fp16" if device() == "cuda" else "fp32"
        self.runner = get_runner(a.backend)
        self.model = copy.deepcopy(t.unet).to(dtype=torch.float16 if dtype == "fp16" else torch.float32)
        set_model_info(self.model, t.info)
        self.info = t.info
        self.rs = RunSpec(batch=a.profile_batch, resolution=prof.get("resolution"), dtype=dtype,
                          text_len=prof.get("text_len"), warmup=2 if a.smoke else 10, iters=3 if a.smoke else 30)
        self.ref = open_variant(self.runner, self.model, self.info, self.rs)
        self.last: dict = {}

    def ratio(self, plan) -> float:
        from ldprune_deploy.runners.timing import open_variant, paired
        from ldprune_deploy.surgery import apply_plan

        cand = open_variant(self.runner, apply_plan(self.model, plan), self.info, self.rs)
        try:
            pr = paired([self.ref, cand], self.rs, name=self.runner.name)
        finally:
            cand.close()
        self.last = {"latency_ms": pr.candidates[0].median_ms, "full_latency_ms": pr.reference.median_ms}
        return float(pr.ratio[0]["median"])

    def close(self) -> None:
        self.ref.close()


def land_plan(t: Teacher, a, scores: dict, prof: dict, plan, strategy: str, target: float, probe: LatencyProbe):
    """``plan`` completed (strategy order) or trimmed until its measured latency is within 1 % below
    ``target`` x the full model's (``planner.landing``); the plan's ``measured`` is the landing's."""
    from dataclasses import replace as _replace

    from ldprune_deploy.artifacts import Modification
    from ldprune_deploy.planner.landing import land, priority_order
    from ldprune_deploy.planner.problem import build_problem

    problem = build_problem(scores, prof, allow_missing=bool(a.smoke))
    problem.set_caps(getattr(a, "cap", None))
    idx = problem.index()
    chosen = [idx[(m.operator, m.modification)] for m in plan.modifications]
    timings: dict[tuple, list[dict]] = {}

    def measure(sel: list[int]) -> float:
        p = _replace(plan, modifications=[Modification(problem.ops[i], problem.mods[i]) for i in sorted(sel)])
        r = probe.ratio(p)
        timings.setdefault(tuple(sorted(sel)), []).append({**probe.last, "ratio": r})
        return r

    res = land(problem, chosen, priority_order(problem, strategy), measure, target, confirm=LANDING_CONFIRM)
    sel = sorted(res["selection"])
    # the measurement the landing's ratio is (the median of an odd number of repeats is one of them)
    ms = min(timings[tuple(sel)], key=lambda m: abs(m["ratio"] - res["ratio"]))
    ms = {k: v for k, v in ms.items() if k != "ratio"}
    # the landing's own measurement replaces the verify loop's: its spread, budget in ms and verdict were read
    # against another measurement of the full model (0.5-3.3 % apart on the H100), so kept beside it they
    # contradicted it (a latency above the budget_ms next to meets_budget true); they stay under "verify"
    before = dict(plan.measured or {})
    keep = {k: before[k] for k in ("runner", "dtype", "batch", "resolution") if k in before}
    out = _replace(plan, modifications=[Modification(problem.ops[i], problem.mods[i]) for i in sel],
                   measured={**keep, **ms, "ratio": res["ratio"], "budget_ratio": target,
                             "meets_budget": res["ratio"] <= target,
                             "timing": "paired with the full model, interleaved rounds", "verify": before},
                   meta={**plan.meta, "landing": {"target_ratio": target, "tolerance": 0.01, "landed": res["landed"],
                                                  "confirm": LANDING_CONFIRM,
                                                  "ratio": res["ratio"], "from_n": len(chosen),
                                                  "rounds": [{k: v for k, v in r.items() if k != "selection"}
                                                             for r in res["rounds"]]}})
    return out


def plan_summary(plan) -> dict:
    ms = plan.measured or {}
    full = ms.get("full_latency_ms")
    return {"n_modifications": len(plan.modifications),
            "modifications": [[m.operator, m.modification] for m in plan.modifications],
            "predicted_ms": (plan.predicted or {}).get("latency_ms"),
            "importance_lost": (plan.predicted or {}).get("importance_lost"),
            "measured_ms": ms.get("latency_ms"), "measured_full_ms": full,
            "measured_cut": (1 - ms["latency_ms"] / full) if full else None,
            "verify_met": (plan.meta.get("verify") or {}).get("met"),
            "landed": (plan.meta.get("landing") or {}).get("landed")}


def prune(t: Teacher, plan, *, scratch_seed: int | None = None) -> torch.nn.Module:
    """The pruned student; with ``scratch_seed`` the same architecture from a randomly
    initialised teacher of the same config (the 'from scratch' control)."""
    from ldprune_deploy.surgery import apply_plan
    from ldprune_deploy.unet import build_unet

    src = t.unet
    if scratch_seed is not None:
        torch.manual_seed(scratch_seed)
        src = build_unet(type(t.unet).__name__, dict(t.unet.config)).to(device()).float()
        set_model_info(src, t.info)
    s = apply_plan(src, plan)
    set_model_info(s, t.info)
    return s


def params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


# --------------------------------------------------------------------------- distillation


def distill_student(t: Teacher, student: torch.nn.Module, a, out: Path, *, seed: int, steps: int,
                    feat_loss: str = "normalized", eval_at: list[int] | None = None, metric=None,
                    cond_dropout: float | None = None):
    """Distil ``student`` from the teacher on the teacher's training split; returns
    (trained student, curve [(step, metric)], seconds). ``eval_at`` steps are measured
    from the on_grads hook (weights after that many updates); the final step after training.
    ``cond_dropout`` replaces ``a.cond_dropout`` for this student (a script comparing shares)."""
    from ldprune_deploy.distillation import DistillConfig, DistillData, distill

    curve: list[tuple[int, float]] = []

    def hook(step: int, model):
        if eval_at and metric is not None and step in eval_at and step > 0:
            curve.append((step, metric(model)))

    cuda = device() == "cuda"
    drop = a.cond_dropout if cond_dropout is None else cond_dropout
    cfg = DistillConfig(output=out, steps=steps, batch_size=a.batch, lr=a.lr, warmup_steps=min(50, steps // 10),
                        lr_schedule="cosine", feat_loss=feat_loss, data=DistillData(t.x_train, t.cond_train),
                        beta_schedule="scaled_linear",   # what train_teachers.py trained with (make_scheduler default)
                        cond_dropout=drop if t.cond_train is not None else 0.0, lambda_out=a.lambda_out,
                        mixed_precision="bf16" if cuda else "no",
                        cpu=not cuda, seed=seed, progress=False, overwrite=True, save_final=True, weight_decay=0.0,
                        lambda_prompt=a.lambda_prompt, ema_decay=a.ema,
                        caption_mix=a.caption_mix if t.cond_train is not None else 0.0, snr_gamma=a.snr_gamma,
                        lambda_feat=a.lambda_feat)
    t0 = time.perf_counter()
    folder = distill(t.unet, student, cfg, on_grads=hook if eval_at else None)
    secs = time.perf_counter() - t0
    trained, _ = load_model(str(folder), device=device())
    trained = trained.float().eval()
    if metric is not None and eval_at is not None:
        curve.append((steps, metric(trained)))
    t.unet.float()   # distill casts an in-memory teacher to teacher_dtype in place (fp32 here, kept explicit)
    return trained, curve, secs


# --------------------------------------------------------------------------- output


def mean_spread(vals: list[float]) -> dict:
    from ldprune_deploy.quality.evidence import spread

    return spread(vals)


def fmt(ms: dict, nd: int = 2) -> str:
    if ms.get("mean") is None:
        return "n/a"
    return f"{ms['mean']:.{nd}f} ± {ms['std']:.{nd}f}" if ms["n"] > 1 else f"{ms['mean']:.{nd}f}"


def header(a, script: str, t: Teacher, metric: ProxyMetric) -> dict:
    return {"schema": f"ldprune.bench.{script}/1", "script": f"benchmarks/{script}.py", "smoke": bool(a.smoke),
            "device": device_fingerprint(device()), "teacher": {"folder": str(t.folder), **t.hint,
            "params": params(t.unet), "curve_steps_done": (t.curve or {}).get("steps_done")},
            "seeds": a.seed_list, "distill": {"steps": a.steps, "batch": a.batch, "lr": a.lr, "schedule": "cosine",
            "warmup": min(50, a.steps // 10), "ema": a.ema,
            "lambda_out": a.lambda_out, "cond_dropout": a.cond_dropout if t.cond_train is not None else None,
            "losses": "task + " + (f"{a.lambda_out:g} x " if a.lambda_out != 1 else "") + "output KD + "
            + (f"{a.lambda_feat:g} x " if a.lambda_feat != 1 else "") + "feature KD"
            + (f" + {a.lambda_prompt:g} x prompt-effect KD" if a.lambda_prompt else "")
            + (f"; KD also on blended captions ({a.caption_mix:g} of the rows)" if a.caption_mix else "")
            + (f"; task and output KD weighted by min-SNR-{a.snr_gamma:g}" if a.snr_gamma else ""),
            # recorded only when not the default, so a run without them reads as every run before them
            **{k: getattr(a, k) for k in ("caption_mix", "snr_gamma", "lambda_feat", "lambda_prompt")
               if getattr(a, k) != WF.DISTILL_DEFAULTS[k]}},
            "metric": metric.settings(), "runner": a.backend,
            "scoring": {"n_gen": a.n_gen, "steps": a.score_steps, "sampler": "ddim", "guidance": 1.0},
            **({"smoke_note": "SMOKE RUN: throwaway 2-step teacher, tiny N; the figures mean nothing"} if a.smoke else {})}


def write(out: Path, name: str, result: dict, table: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    result["table_md"] = table
    write_json_atomic(out / f"{name}.json", result)
    (out / f"{name}.md").write_text(table + "\n")


def plot_png(path: Path, series: dict[str, list[tuple[float, float]]], *, xlabel: str, ylabel: str, title: str,
             hlines: dict[str, float] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for name, pts in series.items():
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, marker="o", label=name)
    for name, y in (hlines or {}).items():
        if y is not None:
            ax.axhline(y, ls="--", lw=1, color="gray")
            ax.text(ax.get_xlim()[0], y, f" {name}", va="bottom", fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
