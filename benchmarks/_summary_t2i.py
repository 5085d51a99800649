"""The text-to-image headline of the quality summary: each candidate recipe against its teacher, recipes pooled over
runs, the lead among them, seed-by-seed lever pairs, repeats on one and on two GPU types, and the plan screen."""

from __future__ import annotations

import functools
import re
import statistics

from _summary_runs import (COMPARISON_TEACHERS, DEVICE_REPEATS, HEADLINE_T2I, LEVER_PAIRS, PROXY_CHANGE, REPEAT, ROOT,
                           SCREEN_RUN, _strategy_run, load)
from _work_files import BASE_ROW, DISTILL_DEFAULTS, base_rows, distill_settings, inputs_differ, row_inputs
from ldprune_deploy.quality.evidence import paired_seeds_needed, pooled_std

BASE = ("ld-pruner", *BASE_ROW)


def _is_base(row: dict) -> bool:
    return (row["criterion"], row["planner"], row["init"], row["feature_kd"]) == BASE


FID_LIMIT, ALIGN_FLOOR = 1.10, 0.95   # issue 23's text-to-image targets, as ratios to the teacher


@functools.lru_cache(maxsize=None)
def committed_proxy() -> str:
    """The committed emoji proxy's sha256, as a row's fingerprint names it (16 hex digits)."""
    from ldprune_deploy.evaluation.features import file_sha256

    return file_sha256(ROOT / "benchmarks/assets/proxy-emoji.safetensors")[:16]


def _runs_of(folders: str | tuple[str, ...]) -> tuple[str, ...]:
    """One run folder, or a recipe's runs pooled, as a tuple of folders."""
    return (folders,) if isinstance(folders, str) else tuple(folders)


def proxies_used(folders: tuple[str, ...], criterion: str, seeds: list[int]) -> list[str]:
    """The emoji proxies (sha256, 16 hex digits) the rows of ``seeds`` in ``folders`` were measured with, as their
    fingerprints name them."""
    return sorted({inp["proxy"] for f in folders for s in seeds
                   if (inp := row_inputs(ROOT / f / "work", criterion, s)) and inp.get("proxy")})


@functools.lru_cache(maxsize=None)   # most variants name one curves file
def _teacher_steps(curves: str) -> int:
    return load(curves)["teachers"]["emoji-t2i"]["steps_done"]   # what teachers() reports as its steps


def t2i_variant(name: str, folder: str | tuple[str, ...], criterion: str, curves: str) -> dict:
    """One text-to-image headline candidate: its rows of ``criterion`` (latency-aware, preserved weights,
    normalized feature KD) against the teacher measured in the same run; ``curves``: that teacher's curves
    file (its training steps are what the student's steps are a share of). ``folder`` may be a tuple: one
    recipe's seeds pooled from several runs (``pooled_row``)."""
    pool = None
    if isinstance(folder, tuple):
        pool, folder = folder, folder[0]
    r = _strategy_run(folder)
    row = pooled_row(pool, criterion) if pool else next(
        c for c in r["result"]["comparisons"]
        if (c["criterion"], c["planner"], c["init"], c["feature_kd"]) == (criterion, *BASE[1:]))
    if pool:   # the pool's device and date: its last run's
        r = {**r, "teacher": {**r["teacher"], **{k: _strategy_run(pool[-1])["teacher"][k] for k in ("device", "date")}}}
    th = r["teacher"]
    used = proxies_used(pool or (folder,), criterion, row["seeds"])
    teacher_steps = _teacher_steps(curves)
    fid_ratio, al_ratio = row["metric_mean"] / th["metric"], row["alignment_mean"] / th["alignment"]
    steps_share = th["distill_steps"] / teacher_steps
    return {"variant": name, "run": folder, **({"pooled_runs": row["pooled_runs"]} if pool else {}), "criterion": criterion,
            "exclude": r["result"].get("exclude"), "seeds": row["seeds"], "cut_mean": row["cut_mean"],
            "metric_mean": row["metric_mean"], "metric_std": row["metric_std"], "alignment_mean": row["alignment_mean"],
            "alignment_std": row["alignment_std"], "teacher_metric": th["metric"], "teacher_alignment": th["alignment"],
            "metric_ratio": fid_ratio, "alignment_ratio": al_ratio, "distill_steps": th["distill_steps"],
            "distill_batch": r["result"]["distill"]["batch"], "distill_lr": r["result"]["distill"]["lr"],
            "distill_ema": r["result"]["distill"].get("ema"),
            **{f"distill_{k}": v for k, v in distill_settings(r["result"]).items() if k in DISTILL_DEFAULTS},
            "teacher_curves": curves, "current_teacher": curves == COMPARISON_TEACHERS["emoji-t2i"],
            "proxies": used, "current_proxy": used == [committed_proxy()],
            "proxy_accuracy": r["result"]["metric"].get("proxy_held_out_accuracy"),
            "teacher_steps": teacher_steps, "steps_share": steps_share, "device": th["device"], "date": th["date"],
            "targets": _t2i_targets(row["cut_mean"], fid_ratio, al_ratio, steps_share),
            # each target again with its mean moved one std over the seeds the wrong way: a target met by less
            # than the spread is not shown to hold for another seed (None with one seed: no spread)
            "targets_beyond_spread": None if len(row["seeds"]) < 2 else _t2i_targets(
                row["cut_mean"] - row["cut_std"], (row["metric_mean"] + row["metric_std"]) / th["metric"],
                (row["alignment_mean"] - row["alignment_std"]) / th["alignment"], steps_share)}


def variant_runs() -> set[str]:
    """The run folders the text-to-image variants read (a pooled variant's every run)."""
    return {f.rsplit("/", 1)[0] for v in HEADLINE_T2I for f in _runs_of(v[1])}


# what makes runs one recipe: the same distillation, teacher measurement, budget, plan filters and metric
POOL_SAME = ("distill", "teacher_fid", "teacher_alignment", "budget", "exclude", "caps", "metric")


def _recipe_part(result: dict, key: str):
    return distill_settings(result) if key == "distill" else result.get(key)


def pooled_row(folders: tuple[str, ...], criterion: str) -> dict:
    """One recipe's seeds from several runs as one comparison row (mean, sample std): every run must share
    ``POOL_SAME`` and no seed may repeat, else ValueError naming the run that differs."""
    results = {f: _strategy_run(f)["result"] for f in folders}
    first = results[folders[0]]
    rows: dict[int, dict] = {}
    per_run: dict[str, list[int]] = {}
    for f, res in results.items():
        differs = [k for k in POOL_SAME if _recipe_part(res, k) != _recipe_part(first, k)]
        if differs:
            raise ValueError(f"{f} is not the recipe of {folders[0]}: {', '.join(differs)} differ")
        mine = base_rows(res, criterion)
        if twice := sorted(set(mine) & set(rows)):
            raise ValueError(f"seed {twice[0]} is in two pooled runs (the second: {f})")
        rows.update(mine)
        per_run[f] = sorted(mine)
    xs = [rows[k] for k in sorted(rows)]
    def ms(key):
        v = [x[key] for x in xs]
        return statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0
    (cut, cut_sd), (fid, fid_sd), (al, al_sd) = ms("measured_cut"), ms("fid_distilled"), ms("alignment_distilled")
    return {"seeds": sorted(rows), "cut_mean": cut, "cut_std": cut_sd, "metric_mean": fid, "metric_std": fid_sd,
            "alignment_mean": al, "alignment_std": al_sd,
            "pooled_runs": [{"run": f, "seeds": seeds} for f, seeds in per_run.items()]}


PAIR_METRICS = {"alignment": "alignment_distilled", "proxy-FID": "fid_distilled"}


def _same_plan(a: dict, b: dict) -> bool:
    """Whether two rows were distilled from the same plan (the same modifications, in any order)."""
    return sorted(map(tuple, a["modifications"])) == sorted(map(tuple, b["modifications"]))


def lever_pair(name: str, lever: tuple[str, ...], base: tuple[str, ...], criterion: str) -> dict:
    """One setting's effect seed by seed: each seed's row of ``lever`` minus the row of ``base`` of the same seed,
    the settings that differ between the two runs (their distillations' and the plan caps; none: ValueError), and
    per metric the mean difference, its std and standard error. With the caps unchanged both rows must come from the
    same landed plan (else ValueError); a changed cap re-lands the seed's scores, so its plans may differ
    (``plans_moved``: on how many seeds they did). ``across_devices``: the two sides' rows were distilled on other
    GPU types (a seed's distillation repeats exactly on one type only, see ``DEVICE_REPEATS``); ``inputs_differ``:
    the input files (data, caption embeddings, ...) whose hashes differ between the two sides' rows."""
    def rows(folders):
        got, settings, devices = {}, [], set()
        for f in folders:
            res = _strategy_run(f)["result"]
            devices.add(res["device"].get("gpu"))
            settings.append({**distill_settings(res), "caps": res.get("caps") or []})
            if settings[-1] != settings[0]:
                raise ValueError(f"{name}: {f} distilled with other settings than {folders[0]}")
            mine = _rows_with_work(f, res, criterion)
            if twice := sorted(set(mine) & set(got)):
                raise ValueError(f"{name}: seed {twice[0]} is in two of {folders}")
            got |= mine
        return got, settings[0], devices
    (new, d_new, dev_new), (old, d_old, dev_old) = rows(lever), rows(base)
    seeds = sorted(set(new) & set(old))
    if not seeds:
        raise ValueError(f"{name}: no seed is in both {lever} and {base}")
    changed = {k: [d_old.get(k), d_new.get(k)] for k in sorted(set(d_old) | set(d_new)) if d_old.get(k) != d_new.get(k)}
    if not changed:
        raise ValueError(f"{name}: the runs distilled with the same settings (a repeat, not a lever)")
    moved = [s for s in seeds if not _same_plan(new[s], old[s])]
    if moved and "caps" not in changed:
        raise ValueError(f"{name}: seed {moved[0]} was distilled from another plan than its base row")
    from ldprune_deploy.quality.evidence import paired

    diffs = {}
    for m, key in PAIR_METRICS.items():
        d = [new[s][key] - old[s][key] for s in seeds]
        t = paired(d)
        diffs[m] = {"per_seed": dict(zip(map(str, seeds), d)), **t, "resolved": None if t["p"] is None else t["p"] < 0.05}
    return {"lever": name, "runs": list(lever), "base_runs": list(base), "criterion": criterion, "seeds": seeds,
            "changed": changed, "plans_moved": len(moved), "devices": {"lever": sorted(dev_new), "base": sorted(dev_old)},
            "across_devices": len(dev_new | dev_old) > 1, "inputs_differ": _inputs_differ(new, old, seeds, criterion),
            "difference": diffs}


def _rows_with_work(folder: str, result: dict, criterion: str) -> dict[int, dict]:
    """``base_rows`` of a run, each tagged with the run's work folder (``_work``), where its fingerprinted row file is."""
    return {k: {**v, "_work": ROOT / f"{folder}/work"} for k, v in base_rows(result, criterion).items()}


def _inputs_differ(a: dict, b: dict, seeds: list[int], criterion: str) -> list[str]:
    """The input files hashed differently in ``a``'s and ``b``'s rows of ``seeds`` (rows tagged with their ``_work``)."""
    def side(rows):
        return {k: row_inputs(rows[k]["_work"], criterion, k) for k in seeds}
    return inputs_differ(side(a), side(b))


def lever_pairs(head: dict) -> dict:
    """Every lever's pair; the per-seed difference's std pooled over the distillation levers paired on one GPU type
    (the same plans: a plan lever's difference also redraws the plan, a pair across GPU types the numerics), and how
    many paired seeds would resolve the alignment the text-to-image headline ``head`` lacks to its bound (p < 0.05,
    80 % power)."""
    pairs = [lever_pair(*p) for p in LEVER_PAIRS]
    pooled = pooled_std([list(p["difference"]["alignment"]["per_seed"].values()) for p in pairs
                         if not p["plans_moved"] and not p["across_devices"]])
    gap = ALIGN_FLOOR * head["teacher_alignment"] - head["alignment_mean"]
    return {"rule": "a difference is resolved when a paired t-test over the seeds gives p < 0.05 (two-sided)",
            "pairs": pairs, "alignment_difference_std": pooled["std"], "dof": pooled["dof"],
            "headline_gap": gap, "seeds_to_resolve_gap": paired_seeds_needed(pooled["std"], gap) if gap > 0 else None}


def _t2i_targets(cut: float, fid_ratio: float, al_ratio: float, steps_share: float) -> dict:
    return {"cut >= 35 %": cut >= 0.35, "proxy-FID <= +10 %": fid_ratio <= FID_LIMIT,
            "alignment >= -5 %": al_ratio >= ALIGN_FLOOR, "steps <= 1/8": steps_share <= 1 / 8}


def repeat(first: str | tuple[str, ...], again: str | tuple[str, ...], criterion: str) -> dict:
    """The same settings distilled twice on the seeds both runs hold (the same plans): each seed's metrics in both
    runs, the largest difference and the mean ± std of the differences (``again`` minus ``first``), the repeat noise
    that a per-seed comparison of two variants stands on; ``devices``: the GPU of each run, ``teacher_equal``:
    whether both measured the teacher alike, ``inputs_differ``: the input files hashed differently in the two runs'
    rows. Either side may be a tuple of runs of one recipe (its seeds pooled)."""
    def seeds(folders):
        folders = _runs_of(folders)
        runs = [_strategy_run(f) for f in folders]
        if any(distill_settings(r["result"]) != distill_settings(runs[0]["result"]) for r in runs):
            raise ValueError(f"{folders[0]} and the runs pooled with it distilled with other settings")
        rows = {}
        for f, r in zip(folders, runs):
            rows |= _rows_with_work(f, r["result"], criterion)
        return runs[0], rows
    (r1, a), (r2, b) = seeds(first), seeds(again)
    common = sorted(set(a) & set(b))
    if distill_settings(r1["result"]) != distill_settings(r2["result"]) or not common:
        raise ValueError(f"{again} does not repeat {first}: its distillation settings differ or no seed is in both")
    if moved := [k for k in common if not _same_plan(a[k], b[k])]:
        raise ValueError(f"{again} does not repeat {first}: seed {moved[0]} was distilled from another plan")
    keys = {"proxy-FID": "fid_distilled", "alignment": "alignment_distilled", "measured_cut": "measured_cut"}
    t1, t2 = r1["teacher"], r2["teacher"]
    diff = {m: [b[k][f] - a[k][f] for k in common] for m, f in keys.items()}
    return {"first": first if isinstance(first, str) else list(first),
            "again": again if isinstance(again, str) else list(again), "criterion": criterion, "seeds": common,
            "dates": [t1["date"], t2["date"]], "device": t2["device"], "devices": [t1["device"], t2["device"]],
            "teacher_equal": (t1["metric"], t1["alignment"]) == (t2["metric"], t2["alignment"]),
            "teachers": [[t1["metric"], t1["alignment"]], [t2["metric"], t2["alignment"]]],
            "inputs_differ": _inputs_differ(a, b, common, criterion),
            "per_seed": {str(k): {m: [a[k][f], b[k][f]] for m, f in keys.items()} for k in common},
            "max_abs_diff": {m: max(map(abs, d)) for m, d in diff.items()},
            "mean_diff": {m: statistics.mean(d) for m, d in diff.items()},
            "std_diff": {m: statistics.stdev(d) if len(d) > 1 else None for m, d in diff.items()}}


def proxy_change(first: str | tuple[str, ...], again: str | tuple[str, ...], criterion: str) -> dict:
    """The same students scored by two emoji proxies: ``repeat``'s record of seeds distilled twice on one GPU type,
    which must show the distillation repeated (every seed's alignment and cut equal, the rows' input files differing
    in the proxy alone, ``again`` scored by the committed proxy, else ValueError), with each proxy's mean proxy-FID as
    a ratio to its own teacher measurement and the Spearman rho of the seeds' proxy-FIDs under the two."""
    from scipy.stats import spearmanr

    r = repeat(first, again, criterion)
    d = r["max_abs_diff"]
    if d["alignment"] or d["measured_cut"] or r["inputs_differ"] != ["proxy"]:
        raise ValueError(f"{again} is not {first} scored by another proxy: alignment differs by {d['alignment']}, cut "
                         f"by {d['measured_cut']}, input files differing: {r['inputs_differ']}")
    if (used := proxies_used(_runs_of(again), criterion, r["seeds"])) != [committed_proxy()]:
        raise ValueError(f"{again} was scored with proxy {used}, not the committed one ({committed_proxy()})")
    fids = [[v["proxy-FID"][i] for v in r["per_seed"].values()] for i in (0, 1)]
    return {**r, "fid_ratio": [statistics.mean(f) / t[0] for f, t in zip(fids, r["teachers"])],
            "fid_std": [statistics.stdev(f) for f in fids], "spearman": float(spearmanr(*fids)[0])}


LEAD_SEEDS = 3   # a headline stands on 3 seeds, as every comparison; a one-seed screening row never leads


def lead_variant(variants: list[dict]) -> dict:
    """The headline: among the variants against the comparison's teacher with 3 seeds, not part of a pooled
    variant (a recipe leads on every seed it was distilled with, not on a subset), one scored with the committed
    proxy before any scored with an earlier one (its proxy-FID target is read on another scale), then the one
    meeting the most targets, then the one closest to the teacher's alignment."""
    pooled = {p["run"] for v in variants for p in v.get("pooled_runs", ())}
    current = [v for v in variants if v["current_teacher"] and len(v["seeds"]) >= LEAD_SEEDS
               and ("pooled_runs" in v or v.get("run") not in pooled)]
    if not current:
        raise ValueError(f"no text-to-image headline variant with {LEAD_SEEDS} seeds was distilled from the comparison's "
                         "teacher: add one to HEADLINE_T2I (a run against COMPARISON_TEACHERS['emoji-t2i'])")
    return max(current, key=lambda v: (bool(v.get("current_proxy")), sum(v["targets"].values()), v["alignment_ratio"]))


def headlines(rows: list[dict], here: dict, teach: dict) -> dict:
    """``teach``: the teachers the comparison runs distilled from."""
    variants = [t2i_variant(*v) for v in HEADLINE_T2I]
    lead = lead_variant(variants)
    uag = next(r for r in rows if r["task"] == "notes-uag" and _is_base(r))
    uh = here["notes-uag"]
    return {
        # the lead variant distilled from the comparison's teacher (lead_variant picks only those)
        "text_to_image": {"task": "emoji-t2i", **lead, "teacher_plateau": teach["emoji-t2i"]["plateau"],
                          "variants": variants, "repeat": repeat(*REPEAT),
                          "proxy_change": proxy_change(*PROXY_CHANGE),
                          "device_repeats": [repeat(*r) for r in DEVICE_REPEATS],
                          "rule": f"among the variants with {LEAD_SEEDS} seeds distilled from the comparison's teacher, "
                                  "each recipe on every seed it was distilled with (a run pooled into a variant "
                                  "does not lead on its own seeds), one scored with the committed proxy before "
                                  "any scored with an earlier one, then the one meeting the most targets, then the "
                                  "highest alignment ratio"},
        "audio": {"task": "notes-uag", "cut_mean": uag["cut_mean"], "metric_ratio": uag["metric_mean"] / uh["metric"],
                  "teacher_plateau": teach["notes-uag"]["plateau"],
                  "targets": {"cut >= 20 %": uag["cut_mean"] >= 0.20,
                              "proxy-FAD <= +10 %": uag["metric_mean"] / uh["metric"] <= 1.10}}}


def plan_screen(folder: str = SCREEN_RUN) -> dict:
    """The screened recipe's runs, how the screens ordered the plans' earlier finals, and the same plans
    distilled under other seeds (quality_screen.py)."""
    rec, pool, again = (load(f"{folder}/{n}/quality_screen.json") for n in ("recipe", "pool", "seeds"))
    r = rec["recipe"]
    return {"run": folder, "device": rec["device"]["gpu"], "date": rec["device"]["date"], "select": rec["select"],
            "k": rec["k"], "screen_steps": rec["screen_steps"], "final_steps": rec["final_steps"],
            "teacher": rec["teacher_metrics"]["held"],
            "recipe": {"seeds": r["seeds"], "cut_mean": r["cut"]["mean"], "metric_mean": r["metric"]["mean"],
                       "metric_std": r["metric"]["std"], "alignment_mean": r["alignment"]["mean"],
                       "alignment_std": r["alignment"]["std"], "metric_ratio": r["metric_ratio"],
                       "alignment_ratio": r["alignment_ratio"], "total_steps": r["total_steps"], "targets": r["targets"]},
            "screen_vs_final": pool["predictiveness"], "screen_vs_final_recipe_plans": rec["predictiveness"],
            "seed_repeats": seed_repeats(again)}


def seed_repeats(res: dict) -> dict:
    """Each plan's 2 800-step finals under its own seed (the earlier row) and the other seeds of ``res``; the
    within-plan std pooled over plans (each with its n - 1 degrees of freedom)."""
    plans: dict[str, list[dict]] = {}
    for run in res["runs"]:
        (c,) = run["candidates"]
        got = plans.setdefault(c["digest"], [])
        if (kn := c.get("known")) and not got:
            got.append({"seed": int(re.search(r"-s(\d+)\.json$", kn["row"]).group(1)), "alignment": kn["alignment"],
                        "metric": kn["fid"], "earlier": True})
        got.append({"seed": run["seed"], "alignment": run["final"]["alignment_held"], "metric": run["final"]["fid_held"],
                    "earlier": False})
    pooled = {}
    for k in ("alignment", "metric"):
        p = pooled_std([[x[k] for x in v] for v in plans.values()])
        pooled[k] = {"within_plan_std": p["std"], "dof": p["dof"]}
    return {"steps": res["final_steps"], "plans": plans, "pooled": pooled}
