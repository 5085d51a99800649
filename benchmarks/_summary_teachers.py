"""The teachers' part of the quality summary: plateau verdicts and ladders from the curves, the trials beside the
committed teachers, the metric's noise and how far each warm restart moved the weights."""

from __future__ import annotations

import functools
import json
import re
import statistics

import _summary_runs as R
from _summary_runs import (METRIC_NOISE, METRIC_NOISE_TEACHERS, PLATEAU_CONTINUED, PLATEAU_RECHECK, TRIAL_METRIC_NOISE,
                           TRIALS, WEIGHT_DRIFT, load)
from ldprune_deploy.quality.numerics import recorded_precision


@functools.lru_cache(maxsize=None)   # one read for every teacher of every curves file
def _committed_accuracy(data: str) -> float | None:
    p = load("benchmarks/results/train_proxies.json")["proxies"].get("mel" if data == "notes" else "emoji") or {}
    return p.get("held_out_accuracy")


def teachers(curves: dict) -> dict:
    from ldprune_deploy.quality.evidence import pass_rate_if_flat, trend

    out = {}
    for name, t in curves["teachers"].items():
        best = min(range(len(t["proxy_fid"])), key=lambda i: t["proxy_fid"][i])
        # curves before 2026-12-05 lost the total to the per-log-line list of the same name: its last
        # entry is the time at the last logged step (<= 50 steps before the end)
        total = t.get("train_seconds_total", t["train_seconds"])
        rec = {"steps": t["steps_done"], "train_s": total[-1] if isinstance(total, list) else total, "plateau": t["plateau"]["plateau"],
               "plateau_detail": {**{k: t["plateau"][k] for k in ("window_from_step", "points_in_window", "window_range",
                                                                  "seed_range", "rule")},
                                  # curves before 2026-12-04 10:00 start at step 1/N of training: covered
                                  "window_covered": t["plateau"].get("window_covered", True),
                                  # the rule's chance to pass a curve that only carries sampling noise
                                  "pass_rate_if_flat": pass_rate_if_flat(t["plateau"]["points_in_window"],
                                                                         len(t["final_seeds"])),
                                  "seeds": len(t["final_seeds"])},
               "metric": "proxy-FAD" if t["data"] == "notes" else "proxy-FID", "final_mean": t["final"]["mean"],
               "final_std": t["final"]["std"], "best": t["proxy_fid"][best], "best_step": t["proxy_fid_step"][best],
               # the drift test beside the range rule, recomputed from the curve (older files lack it)
               "plateau_trend": {k: v for k, v in trend(t["proxy_fid_step"], t["proxy_fid"], t["steps_done"],
                                                        t["final_seeds"]).items() if k != "rule"},
               "ladder": t["ladder"], "reference": t["fid_reference"],
               # the held-out accuracy of the proxy the curve and ladder were measured with, and whether that is
               # the committed proxy's (the emoji proxy was replaced on 2026-12-07)
               "proxy_accuracy": t.get("proxy_accuracy"),
               "current_proxy": t.get("proxy_accuracy") == _committed_accuracy(t["data"]),
               # older files stamp only the header (the latest run), not when each teacher was trained
               "device": t.get("trained", curves)["device"], "date": t.get("trained", curves)["date"]}
        rec["eval_precision"] = recorded_precision(t)
        if "shadow" in t:   # the same checkpoints and seeds measured in the other precision (--shadow-precision)
            sh = t["shadow"]
            rec["shadow"] = {"eval_precision": sh["eval_precision"], "plateau": sh["plateau"]["plateau"],
                             "window_range": sh["plateau"]["window_range"], "seed_range": sh["plateau"]["seed_range"],
                             "final_mean": sh["final"]["mean"], "final_std": sh["final"]["std"]}
        if "segments" in t:
            rec["segments"] = t["segments"]
        if t.get("earlier_curves"):   # re-measured from a resume step (train_teachers --new-curve)
            rec["curve_from_step"] = t["proxy_fid_step"][0]
            rec["earlier_curves"] = [{"proxy_accuracy": c["proxy_accuracy"], "until_step": c["until_step"],
                                      "eval_precision": recorded_precision(c),
                                      "final_mean": (c.get("final") or {}).get("mean"),
                                      "plateau": (c.get("plateau") or {}).get("plateau")} for c in t["earlier_curves"]]
        if "alignment_ladder" in t:
            rec.update(alignment_final_mean=t["final_alignment"]["mean"], alignment_plateau=t["alignment_plateau"]["plateau"],
                       alignment_ladder=t["alignment_ladder"])
        out[name] = rec
    return out


def metric_noise(rel: str = METRIC_NOISE, d: dict | None = None) -> dict:
    """Per teacher: the sampling-seed range and, per perturbation scale, the draws' range and their
    mean shift from seed 0, with the machine and date they were measured on (``d``: the file at
    ``rel``, if already read)."""
    d = load(rel) if d is None else d
    dev = d["device"]
    out = {}
    for name, rows in d["teachers"].items():
        seeds = rows["seeds"]
        pert = {k.split()[1]: {"values": v["values"], "range": v["range"], "mean_shift": v["shift_from_seed0"]}
                for k, v in rows.items() if k.startswith("perturbed ") and not k.endswith("alignment")}
        out[name] = {"device": dev.get("gpu") or f"{dev.get('kind')} ({dev.get('threads')} threads)",
                     "date": dev["date"], "file": rel,
                     "settings": {**d["settings"], "eval_precision": recorded_precision(d["settings"])},
                     "seeds": seeds["values"], "seed_range": seeds["range"], "perturbed": pert}
        if "bf16-rounded weights" in rows:   # the same seeds with the weights rounded to bf16 (--bf16-rounded)
            r = rows["bf16-rounded weights"]
            out[name]["bf16_rounded"] = {"values": r["values"], "paired_shift": r["paired_shift"]["values"],
                                         "paired_shift_mean": r["paired_shift"]["mean"]}
    return out


def noise_with_teachers() -> dict:
    """``metric_noise()`` with, per teacher, what the GPU measured at the end of training the weights
    it perturbed (METRIC_NOISE_TEACHERS): their final seeds and the curve's last-20 % range."""
    measured = teachers(load(METRIC_NOISE_TEACHERS))
    return {name: {**m, **({"teacher_on_gpu": {"final_mean": measured[name]["final_mean"],
                                               "final_std": measured[name]["final_std"],
                                               "window_range": measured[name]["plateau_detail"]["window_range"]}}
                           if name in measured else {})}
            for name, m in metric_noise().items()}


def teacher_trials(pattern: str = TRIALS, beside: tuple[dict, ...] = ()) -> list[dict]:
    """Each trial curve (one teacher per file) summarised like a committed teacher, with its settings and
    (``beside``) the first of these ``teachers()`` summaries whose teacher was measured with the trial's proxy:
    what its numbers compare with (a teacher measured with another proxy does not)."""
    out = []
    for f in sorted(R.ROOT.glob(pattern)):
        curves = json.loads(f.read_text())
        for name, rec in teachers(curves).items():
            raw = curves["teachers"][name]
            out.append({"label": f.name.removesuffix("-curves.json"), "teacher": name, "file": str(f.relative_to(R.ROOT)),
                        "dropout": raw.get("dropout", 0.0), "ema_decay": raw.get("ema_decay"),
                        "segment_steps": [g["steps"] for g in raw.get("segments", [])],
                        "segment_lr_scales": [g.get("lr_scale", 1.0) for g in raw.get("segments", [])],
                        **{k: rec[k] for k in ("steps", "train_s", "plateau", "plateau_detail", "plateau_trend", "metric",
                                               "final_mean", "final_std", "device", "date")},
                        "eval_precision": rec["eval_precision"], **({"shadow": rec["shadow"]} if "shadow" in rec else {}),
                        **({"alignment_final_mean": rec["alignment_final_mean"]} if "alignment_final_mean" in rec else {}),
                        "proxy_accuracy": rec["proxy_accuracy"], "beside": _beside(name, rec, beside)})
    return out


def _beside(name: str, rec: dict, teachers_by_file: tuple[dict, ...]) -> dict | None:
    """The first committed teacher ``name`` of these whose numbers share the proxy of ``rec``."""
    keep = ("steps", "final_mean", "final_std", "eval_precision", "alignment_final_mean")
    return next(({k: t[name][k] for k in keep if k in t[name]} for t in teachers_by_file
                 if name in t and t[name]["proxy_accuracy"] == rec["proxy_accuracy"]), None)


def trial_metric_noise(pattern: str = TRIAL_METRIC_NOISE) -> list[dict]:
    """``metric_noise`` of each trial file, one entry per teacher in it, with the trial's label."""
    out = []
    for f in sorted(R.ROOT.glob(pattern)):
        rel, d = str(f.relative_to(R.ROOT)), json.loads(f.read_text())
        label = d.get("trial", f.stem.removeprefix("metric-noise-"))
        for name, m in metric_noise(rel, d).items():
            # files written before metric_noise.py recorded --teachers call any weights "the committed" ones
            weights = m["settings"]["weights"].replace("the committed fp16 files", "its fp16 end weights")
            weights = re.sub(r"^the fp16 files in \S+", "its fp16 end weights", weights)
            out.append({"trial": label, "teacher": name, **m, "settings": {**m["settings"], "weights": weights}})
    return out


def weight_drift(pattern: str = WEIGHT_DRIFT) -> list[dict]:
    """Each measured pair of segment ends: labels, relative L2 change, where and when it was measured."""
    out = []
    for f in sorted(R.ROOT.glob(pattern)):
        d = json.loads(f.read_text())
        out += [{"from": p["from"], "to": p["to"], "relative_l2": p["relative_l2"], "median_relative": p["median_relative"],
                 "file": str(f.relative_to(R.ROOT)), "date": d["device"]["date"]} for p in d["pairs"]]
    return out


def _continued(rel: str, curves: dict, committed: dict) -> dict:
    """Per teacher in one curves file of ``train_teachers.py --resume-from <committed> --new-curve``: its
    curve, verdicts and final seeds beside the committed teacher's point (the curve's first). A file
    that did not resume the committed teacher (other segments before its own, a curve not starting at
    the committed step) or not with the committed proxy is refused: it would say nothing about the
    teacher every student distilled from."""
    out: dict = {}
    for name, rec in teachers(curves).items():
        raw, base = curves["teachers"][name], committed["teachers"][name]
        seg = raw["segments"][-1]
        if raw["segments"][:-1] != base["segments"] or rec.get("curve_from_step") != base["steps_done"]:
            raise ValueError(f"{rel}: {name} was not continued from the committed teacher (segments "
                             f"{[g['steps'] for g in raw['segments']]}, curve from {rec.get('curve_from_step')}, "
                             f"committed {base['steps_done']} steps)")
        if not rec["current_proxy"]:
            raise ValueError(f"{rel}: {name}'s new curve used a proxy of {rec['proxy_accuracy']} held-out "
                             f"accuracy, not the committed one")
        first, seeds = raw["proxy_fid"][0], raw["final_seeds"]
        out[name] = {
            "file": rel, "device": rec["device"], "date": rec["date"], "proxy_accuracy": rec["proxy_accuracy"],
            "eval_precision": rec["eval_precision"], "from_step": base["steps_done"], "steps": rec["steps"],
            "extra_steps": seg["steps"], "extra_train_s": seg["train_s"], "lr_scale": seg.get("lr_scale", 1.0),
            "dropout": seg.get("dropout", 0.0), "ema_decay": seg.get("ema_decay"),
            "curve": [[s, v] for s, v in zip(raw["proxy_fid_step"], raw["proxy_fid"])],
            **{k: rec[k] for k in ("plateau", "plateau_detail", "plateau_trend", "metric", "final_mean", "final_std")},
            "final_seeds": seeds, "teacher_point": first,
            # lower is better for both proxy metrics: more training beat the teacher only beyond every seed
            "teacher_not_beaten": first <= max(seeds), "ladder_holds": rec["ladder"]["holds"],
            **({"alignment_plateau": rec["alignment_plateau"], "alignment_final_mean": rec["alignment_final_mean"],
                "alignment_window_range": raw["alignment_plateau"]["window_range"],
                "alignment_seed_range": raw["alignment_plateau"]["seed_range"],
                "alignment_teacher_point": raw["proxy_alignment"][0]} if "alignment_plateau" in rec else {})}
    return out


def _continued_files(committed: dict, folder: str | None) -> dict:
    out: dict = {}
    for f in sorted((R.ROOT / folder).glob("*-curves.json")) if folder else []:
        out.update(_continued(str(f.relative_to(R.ROOT)), json.loads(f.read_text()), committed))
    return out


def plateau_rechecks(committed: dict, folder: str | None = PLATEAU_RECHECK) -> dict:
    """Per teacher whose curve was measured with an earlier proxy: the weights of ``committed`` (the
    curves file the recheck resumed, which may since have been replaced) trained on
    (``train_teachers.py --resume-from <committed> --new-curve``) with a new curve measured by the
    committed proxy, its first point that teacher itself and the rule's window (its last 20 %) just
    after that point. Its plateau verdict is that teacher's under that proxy."""
    return _continued_files(committed, folder)


def paired_noise(folder: str, name: str) -> dict | None:
    """The committed teacher and the continued weights scored on the same sampling seeds (two
    ``metric_noise.py`` files in ``folder``, told apart by the ``--teachers`` they read): the per-seed
    difference continued - committed, its mean and standard error, and the reading fixed before the
    run: better beyond noise only if the mean is below -2 standard errors."""
    files = {}
    for f in sorted((R.ROOT / folder).glob("metric-noise*.json")):
        d = json.loads(f.read_text())
        if name in d["teachers"]:
            key = "committed" if d["settings"]["teachers"] == "benchmarks/assets/teachers" else "continued"
            files[key] = (str(f.relative_to(R.ROOT)), d)
    if len(files) < 2:
        return None
    (rel_a, a), (rel_b, b) = files["committed"], files["continued"]
    same = ("fid_n", "sample_steps", "eval_precision")
    if any(a["settings"][k] != b["settings"][k] for k in same) or a["device"].get("gpu") != b["device"].get("gpu"):
        raise ValueError(f"{rel_a} and {rel_b} were not measured alike ({same} and the GPU must match)")
    ta, tb = a["teachers"][name], b["teachers"][name]
    x, y = ta["seeds"]["values"], tb["seeds"]["values"]
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"{rel_a} and {rel_b}: {len(x)} and {len(y)} seeds; the pairing needs the same >= 2")
    out = {"files": [rel_a, rel_b], "device": a["device"].get("gpu"), "date": a["device"]["date"],
           "committed": x, "continued": y, **_paired(x, y)}
    out["better_beyond_noise"] = out["diff_mean"] < -2 * out["diff_se"]
    if "seeds_alignment" in ta and "seeds_alignment" in tb:   # measured on the same samples; no reading was fixed for it
        xa, ya = ta["seeds_alignment"]["values"], tb["seeds_alignment"]["values"]
        out["alignment"] = {"committed": xa, "continued": ya, **_paired(xa, ya)}
    return out


def _paired(x: list[float], y: list[float]) -> dict:
    diff = [v - u for u, v in zip(x, y)]
    sd = statistics.stdev(diff)
    return {"diff": [round(v, 3) for v in diff], "diff_mean": round(statistics.fmean(diff), 3), "diff_std": round(sd, 3),
            "diff_se": round(sd / len(diff) ** 0.5, 3)}


def landed_plans(folder: str, name: str) -> dict | None:
    """The comparison's plans landed on a continuation's end weights (``<folder>/strategies-<name>/work``, what a
    later run's PLANS_FROM distils): how many, how many met the budget on the landing's verify, their measured cuts."""
    work = R.ROOT / folder / f"strategies-{name}" / "work"
    docs = [json.loads(f.read_text()) for f in sorted((work / "plans").glob("plan-*.json"))]
    if not docs:
        return None
    plans = [d["measured"] for d in docs]
    cuts = [1 - m["ratio"] for m in plans]
    return {"work": str(work.relative_to(R.ROOT)), "plans": len(plans),
            "gpu": sorted({d["meta"]["inputs"]["profile"]["gpu"] for d in docs}),
            "landed": sum(bool(m["meets_budget"] and m.get("verify", {}).get("meets_budget")) for m in plans),
            "cut_min": round(min(cuts), 4), "cut_max": round(max(cuts), 4)}


def continuations(resumed: dict, committed: dict, folder: str | None = PLATEAU_CONTINUED) -> dict:
    """Per teacher: the weights committed then (``resumed``, a curves file) trained on much longer than
    a recheck (where the metric plateaus under the committed proxy), with the paired-seed comparison
    of its end weights against the teacher it resumed, any plans already landed on them, and whether
    they are the committed teacher now (``committed``: its entry has the continuation's steps and
    training date)."""
    now = committed["teachers"]

    def adopted(n: str, r: dict) -> bool:
        return n in now and (now[n]["steps_done"], now[n].get("trained", committed)["date"]) == (r["steps"], r["date"])

    return {n: {**r, "paired": paired_noise(folder, n), "plans": landed_plans(folder, n), "adopted": adopted(n, r)}
            for n, r in _continued_files(resumed, folder).items()}


def with_rechecks(teach: dict, rechecks: dict) -> dict:
    """The teachers with each recheck attached; ``plateau`` becomes the recheck's verdict where the
    teacher's own curve was measured with an earlier proxy (that curve's verdict stays in
    ``plateau_detail.plateau``), and ``plateau_basis`` says which of the two it is."""
    out = {}
    for name, t in teach.items():
        t = {**t, "plateau_detail": {"plateau": t["plateau"], **t["plateau_detail"]}}
        r = rechecks.get(name)
        if r is not None and not t["current_proxy"]:
            t.update(plateau=r["plateau"], plateau_basis="committed proxy, curve continued from the teacher",
                     plateau_recheck=r)
        else:
            t["plateau_basis"] = "the teacher's training curve"
        out[name] = t
    return out


def comparison_teachers(teach: dict) -> dict:
    """What the summary keeps of the teachers a comparison run distilled from."""
    return {n: {k: t[k] for k in ("steps", "train_s", "plateau", "metric", "final_mean", "final_std", "date")}
            for n, t in teach.items()}
