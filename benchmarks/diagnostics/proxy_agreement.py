"""Do two proxy extractors order the same models the same way? (issue 23: the emoji proxy was replaced)

Every model's samples are drawn once and scored by each proxy against the held-out split, so the proxies'
readings differ only by the proxy. Models: the teacher; the committed plans named by ``--rows`` pruned from it
(weights preserved, no distillation) and, with ``--distill-steps N``, the same pruned students distilled N steps
with the comparison's settings; plus two rungs of the sanity ladder that need no sampling: ``--fid-n`` images of the
real training split and of uniform noise (real held-out ≪ teacher ≪ noise: issue 23's ladder for each proxy).

    git show <rev>:benchmarks/assets/proxy-emoji.safetensors > /tmp/old/proxy-emoji.safetensors   # and its .json
    python benchmarks/diagnostics/proxy_agreement.py --teacher benchmarks/assets/teachers/emoji-uig \\
        --work benchmarks/results/quality/h100-2026-12-05-comparisons/strategies-emoji-uig/work \\
        --proxy old=/tmp/old --proxy new=benchmarks/assets --rows ld-pruner/latency-aware/0 magnitude/latency-aware/0 \\
        --out benchmarks/results/proxy_experiments/<folder>/agreement-emoji-uig

Writes ``<out>/proxy_agreement.json``: each model's metric under every proxy, its ratio to the teacher's, and Spearman's rank correlation between
the proxies over the sampled models (distillations under ``<out>/work``). The file is rewritten after each model, and a model already in it is not
measured again, so a cut-off run resumes. CPU: ~3 min per 500 samples x 25 DDIM steps (emoji-uig, 2 cores); a
200-step distillation ~10 min more.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import _quality as Q  # noqa: E402
import _work_files as WF  # noqa: E402

from ldprune_deploy.device import device_fingerprint  # noqa: E402
from ldprune_deploy.jsonio import write_json_atomic  # noqa: E402
from ldprune_deploy.artifacts import PrunePlan  # noqa: E402
from ldprune_deploy.evaluation.features import file_sha256  # noqa: E402
from ldprune_deploy.quality.proxy import proxy_path  # noqa: E402

SCHEMA = "ldprune.bench.proxy-agreement/1"


def parse_proxy(text: str) -> tuple[str, str]:
    name, sep, folder = text.partition("=")
    if not sep or not name or not folder:
        raise ValueError(f"--proxy {text!r} is not NAME=FOLDER (a folder holding proxy-emoji.safetensors and its .json)")
    return name, folder


def parse_row(text: str) -> tuple[str, str, int]:
    parts = text.split("/")
    if len(parts) != 3 or not parts[2].isdigit():
        raise ValueError(f"--rows {text!r} is not CRITERION/PLANNER/SEED (e.g. ld-pruner/latency-aware/0)")
    return parts[0], parts[1], int(parts[2])


def agreement(models: dict[str, dict], names: list[str]) -> dict:
    """Spearman's rank correlation of every proxy with the first over the sampled models (teacher, pruned,
    distilled; the ladder's real and noise rungs left out: any proxy orders those)."""
    from scipy import stats

    sampled = [m for m in models.values() if m["kind"] in ("teacher", "pruned", "distilled")]
    out = {}
    for other in names[1:]:
        if len(sampled) < 3:
            out[other] = None
            continue
        rho, p = stats.spearmanr([m["fid"][names[0]] for m in sampled], [m["fid"][other] for m in sampled])
        out[other] = {"vs": names[0], "spearman": float(rho), "p": float(p), "n_models": len(sampled)}
    return out


def ratios(models: dict[str, dict], names: list[str]) -> None:
    teacher = next((m for m in models.values() if m["kind"] == "teacher"), None)
    if teacher is None:
        return
    for m in models.values():
        m["ratio_to_teacher"] = {n: round(m["fid"][n] / teacher["fid"][n], 4) for n in names}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    Q.add_common_args(ap, steps=200, seeds="0", fid_n=500, rows=False)
    ap.add_argument("--work", help="a committed comparison's work folder (its plans/ are pruned here)")
    ap.add_argument("--rows", nargs="*", default=[], metavar="CRITERION/PLANNER/SEED")
    ap.add_argument("--proxy", action="append", required=True, metavar="NAME=FOLDER",
                    help="a proxy to score with (repeat; the first is the one the others are ranked against)")
    ap.add_argument("--distill-steps", type=int, default=0, help="also distil each pruned student this many steps")
    a = ap.parse_args(argv)
    try:
        proxies = [parse_proxy(p) for p in a.proxy]
        rows = [parse_row(r) for r in a.rows]
    except ValueError as e:
        ap.error(str(e))
    if rows and not a.work:
        ap.error("--rows needs --work (the folder holding their plans)")
    Q.finish_args(a, "emoji-uig")
    torch.manual_seed(0)
    t = Q.load_teacher(a.teacher, a.data, a.emb)
    names = [n for n, _ in proxies]
    metrics = {}
    for n, folder in proxies:
        a.proxies = folder
        metrics[n] = Q.ProxyMetric(t, a)
    first = metrics[names[0]]
    out = Path(a.out) / "proxy_agreement.json"
    old = json.loads(out.read_text()) if out.is_file() else {}
    models = old.get("models", {}) if old.get("schema") == SCHEMA and old.get("proxies", {}).keys() == set(names) else {}
    result = {"schema": SCHEMA, "fingerprint": device_fingerprint(Q.device()), "teacher": str(a.teacher),
              "work": a.work, "settings": first.settings(),
              "proxies": {n: {"folder": f, "sha256": file_sha256(proxy_path(f, t.hint["data"]))[:16],
                              "held_out_accuracy": metrics[n].proxy_meta.get("held_out_accuracy")}
                          for n, f in proxies},
              "models": models}

    def save():
        ratios(models, names)
        result["agreement"] = agreement(models, names)
        write_json_atomic(out, result)

    def record(name: str, kind: str, fake: torch.Tensor, c=None, **extra):
        models[name] = {"kind": kind, "fid": {n: m.score(fake, c)["fid"] for n, m in metrics.items()}, **extra}
        print(f"{name}: " + ", ".join(f"{n} {v:.2f}" for n, v in models[name]["fid"].items()), flush=True)
        save()

    from ldprune_deploy.spaces import to_unit_images

    n = a.fid_n
    if "real training split" not in models:
        pick = torch.randperm(len(t.x_train), generator=torch.Generator().manual_seed(0))[:n]
        record("real training split", "ladder", to_unit_images(t.x_train[pick], t.hint["space"]))
    if "uniform noise" not in models:
        shape = to_unit_images(t.x_train[:1], t.hint["space"]).shape[1:]
        record("uniform noise", "ladder", torch.rand((n, *shape), generator=torch.Generator().manual_seed(0)))
    if "teacher" not in models:
        record("teacher", "teacher", *first.samples(t.unet, 0))
    for criterion, planner, seed in rows:
        plan = PrunePlan.load(WF.plan_file(a.work, criterion, planner, seed))
        key = f"{criterion}/{planner}/s{seed}"
        if f"{key} pruned" not in models or (a.distill_steps and f"{key} distilled" not in models):
            student = Q.prune(t, plan).float()
            if f"{key} pruned" not in models:
                record(f"{key} pruned", "pruned", *first.samples(student, seed), seed=seed)
            if a.distill_steps and f"{key} distilled" not in models:
                trained, _, secs = Q.distill_student(t, student, a, out.parent / "work" / key.replace("/", "-"),
                                                     seed=seed, steps=a.distill_steps)
                record(f"{key} distilled", "distilled", *first.samples(trained, seed), seed=seed,
                       distill_steps=a.distill_steps, distill_seconds=round(secs, 1),
                       distill_settings={k: getattr(a, k) for k in ("batch", "lr", "lambda_out", "lambda_feat")})
    save()
    for other, g in (result["agreement"] or {}).items():
        if g:
            print(f"Spearman {names[0]} vs {other} over {g['n_models']} sampled models: {g['spearman']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
