"""benchmarks/quality_summary.py and its _summary_* modules: the committed summary.json and the README's quality
section are what the committed result files say (the README cannot drift from the measurements)."""

import importlib
import json
import shutil
import statistics
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
QS = importlib.import_module("quality_summary")
SR = importlib.import_module("_summary_runs")
SP = importlib.import_module("_summary_proxies")
ST = importlib.import_module("_summary_teachers")
T2I = importlib.import_module("_summary_t2i")
MD = importlib.import_module("_summary_render")
WF = importlib.import_module("_work_files")

KEYS = {"task", "criterion", "planner", "init", "feature_kd", "seeds", "cut_mean", "cut_std", "metric",
        "metric_mean", "metric_std"}


def test_committed_summary_and_readme_are_current():
    assert QS.main(["--check"]) == 0


def test_summary_schema_and_derived_verdicts():
    s = json.loads((ROOT / SR.SUMMARY).read_text())
    assert s["schema"] == "ldprune.quality-summary/1"
    for p in s["proxies"].values():
        assert 0 <= p["majority_baseline"] < p["heldout_accuracy"] <= 1
        assert p["meets_85pct"] in (None, p["heldout_accuracy"] >= 0.85)
    for t in s["teachers"].values():
        assert {"steps", "train_s", "plateau"} <= set(t) and isinstance(t["plateau"], bool)
        d = t["plateau_detail"]
        assert d["plateau"] == (d["window_covered"] and d["points_in_window"] >= 2 and d["window_range"] <= d["seed_range"])
        # a teacher whose curve used an earlier proxy has its verdict from a curve measured with the committed one
        r = t.get("plateau_recheck")
        assert (r is not None) == (not t["current_proxy"] and SR.PLATEAU_RECHECK is not None)
        rd = (r or t)["plateau_detail"]
        assert t["plateau"] == (rd["window_covered"] and rd["window_range"] <= rd["seed_range"])
    for c in s["comparisons"]:
        assert KEYS <= set(c) and len(c["seeds"]) == 3
    # equal latency: every comparison of one task within 1 % of the same cut
    for task in {c["task"] for c in s["comparisons"]}:
        cuts = [c["cut_mean"] for c in s["comparisons"] if c["task"] == task]
        assert max(cuts) - min(cuts) < 0.01
    for task in ("emoji-uig", "emoji-t2i"):   # the landing counts come with the runs, not typed in
        n = s["teacher_metric_in_comparison_runs"][task]["landing"]
        assert 0 <= n["landed"] <= n["plans"] and n["cut_min"] <= n["cut_max"]
    h = s["headlines"]["text_to_image"]
    assert h["targets"]["alignment >= -5 %"] == (h["alignment_ratio"] >= 0.95)
    # each headline says whether the teacher it distilled from (its task's comparison teacher, which is the committed
    # one or the one committed before it) is at a plateau, by the verdict the teachers' part reports
    assert h["teacher_plateau"] == s["comparison_teachers"]["emoji-t2i"]["plateau"]
    assert s["headlines"]["audio"]["teacher_plateau"] == s["comparison_teachers"]["notes-uag"]["plateau"]
    for n, c in s["comparison_teachers"].items():
        t = s["teachers"][n]
        if c["steps"] == t["steps"]:
            assert c["plateau"] == t["plateau"]
    # the lead variant is chosen by the stated rule, from the variants listed beside it
    # (among the 3-seed ones distilled from the comparison's teacher: an earlier teacher's or a one-seed variant never
    # leads, nor a run pooled into a variant of all its recipe's seeds)
    current = [v for v in h["variants"] if v["current_teacher"]]
    pooled = {p["run"] for v in current for p in v.get("pooled_runs", ())}
    assert "pooled_runs" in h or h["run"] not in pooled   # the lead stands on every seed of its recipe
    lead = max([v for v in current if len(v["seeds"]) >= 3 and ("pooled_runs" in v or v["run"] not in pooled)],
               key=lambda v: (sum(v["targets"].values()), v["alignment_ratio"]))
    assert h["variant"] == lead["variant"] and h["alignment_ratio"] == lead["alignment_ratio"] and h["current_teacher"]
    for v in h["variants"]:
        assert v["targets"]["steps <= 1/8"] == (v["distill_steps"] * 8 <= v["teacher_steps"])
        # beyond the spread: the mean moved one std the wrong way, so it implies the target met by the mean
        b = v["targets_beyond_spread"]
        assert (b is None) == (len(v["seeds"]) < 2)
        if b:
            assert b["alignment >= -5 %"] == ((v["alignment_mean"] - v["alignment_std"]) / v["teacher_alignment"] >= 0.95)
            assert b["proxy-FID <= +10 %"] == ((v["metric_mean"] + v["metric_std"]) / v["teacher_metric"] <= 1.10)
            assert all(v["targets"][k] for k, met in b.items() if met)
        # the step share is against the teacher the run distilled from, not whichever is committed now
        assert v["teacher_steps"] == ST.teachers(SR.load(v["teacher_curves"]))["emoji-t2i"]["steps"]
        assert v["current_teacher"] == (v["teacher_curves"] == SR.COMPARISON_TEACHERS["emoji-t2i"])
    assert {v["teacher_steps"] for v in current} == {s["comparison_teachers"]["emoji-t2i"]["steps"]}
    # the README's first line names the day and machine of every variant, not only of the comparison runs
    header = next(line for line in MD.render(s).splitlines() if line.startswith("Comparisons and headlines"))
    assert all(v["date"][:10] in header and v["device"] in header for v in h["variants"])
    assert s["headlines"]["audio"]["teacher_plateau"] == s["comparison_teachers"]["notes-uag"]["plateau"]
    for t in s["teachers"].values():   # the drift test beside the range rule: a verdict that follows its numbers
        tr = t["plateau_trend"]
        assert tr["trend"] is None or tr["trend"] == ("none" if abs(tr["drift"]) <= 2 * tr["drift_se"]
                                                      else ("up" if tr["drift"] > 0 else "down"))
    # the bar is judged on each proxy's named label; auxiliary heads are reported without a verdict
    assert all(v["meets_85pct"] in (None, v["heldout_accuracy"] >= 0.85) for v in s["proxy_sweep"])
    assert {v["label"] for v in s["proxy_sweep"] if v["meets_85pct"] is not None} == {"emoji group", "GM instrument family"}
    assert {k for k, p in s["proxies"].items() if p["meets_85pct"] is not None} == {"emoji/emoji group",
                                                                                    "mel/GM instrument family"}


def test_merge_curves_keeps_when_each_teacher_was_trained():
    from ldprune_deploy.quality.teachers import merge_curves

    first = {"date": "d1", "device": "gpu1", "torch": "t1", "teachers": {"a": {"steps_done": 1}, "b": {"steps_done": 2}}}
    second = {"date": "d2", "device": "gpu2", "torch": "t2", "teachers": {"b": {"steps_done": 3}}}
    m = merge_curves(merge_curves(None, first), second)
    assert m["date"] == "d2" and m["teachers"]["b"]["steps_done"] == 3
    assert m["teachers"]["a"]["trained"] == {"date": "d1", "device": "gpu1", "torch": "t1"}
    assert m["teachers"]["b"]["trained"] == {"date": "d2", "device": "gpu2", "torch": "t2"}
    # a third run that trains nothing leaves every stamp as it was
    third = merge_curves(m, {"date": "d3", "device": "gpu3", "torch": "t3", "teachers": {}})
    assert third["teachers"]["a"]["trained"]["date"] == "d1" and third["teachers"]["b"]["trained"]["date"] == "d2"


def test_check_fails_when_the_readme_section_is_edited(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    for rel in ("README.md", SR.SUMMARY, "benchmarks/results/train_proxies.json", "benchmarks/assets/teachers/curves.json",
                SR.METRIC_NOISE, SR.EARLIER_CURVES, SR.CURVES_UNTIL_1207, "benchmarks/assets/proxy-emoji.safetensors",
                "benchmarks/assets/proxy-emoji.json",
                SR.PROXY_AGREEMENT):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, root / rel)
    # every run folder the summary reads, the headline variants' included
    trials = {str(f.parent.relative_to(ROOT)) for f in ROOT.glob(SR.TRIALS)}
    for rel in ({SR.RUN, SR.FRESH_RUN, SR.FOLLOWUP, SR.PROXY_SWEEP, *SR.PROXY_RECIPE_SWEEPS, SR.SCREEN_RUN, SR.PLATEAU_RECHECK,
                 SR.PLATEAU_CONTINUED} - {None} | trials | T2I.variant_runs()):
        shutil.copytree(ROOT / rel, root / rel)
    monkeypatch.setattr(SR, "ROOT", root)   # every summary module reads the tree through it
    assert QS.main(["--check"]) == 0
    readme = (root / "README.md").read_text()
    (root / "README.md").write_text(readme.replace("| emoji-uig | ld-pruner | latency-aware | preserved | normalized",
                                                   "| emoji-uig | ld-pruner | latency-aware | preserved | NORMALIZED", 1))
    assert QS.main(["--check"]) == 1
    assert QS.main([]) == 0 and QS.main(["--check"]) == 0   # regenerating repairs it


def test_readme_says_which_teachers_the_comparisons_used():
    s = QS.build()
    later = dict(s, comparison_teachers=ST.comparison_teachers(s["teachers"]))
    assert "headline below was measured against these teachers" in MD.render(later)
    earlier = MD.render(s)
    behind = [n for n, t in s["teachers"].items() if s["comparison_teachers"][n]["steps"] != t["steps"]]
    assert ("have not been run for them yet" in earlier) == bool(behind)
    if behind:   # the tasks still compared against earlier teachers are named, and only those
        assert "The comparisons and headlines of " + ", ".join(behind) + " below" in earlier


def test_proxy_repeats_are_the_committed_recipes_trainings_once_each(tmp_path):
    def result(seed, acc, **extra):
        p = {"held_out_accuracy": acc, "seed": seed, "label": "emoji group", "n_held_out": 833, "width": 64,
             "epochs": 100, "class_balanced": False, "ema": 0.998, "mixup": 0.2, **extra}
        return {"device": "NVIDIA H100", "date": "2026-12-07", "seed": seed, "proxies": {"emoji": p}}

    runs = tmp_path / "runs"
    runs.mkdir()
    for name, r in {"own-s0": result(0, 0.86), "b-s2": result(2, 0.855), "a-s1": result(1, 0.865),
                    "balanced-s0": result(0, 0.84, class_balanced=True), "noema-s0": result(0, 0.85, ema=0.0),
                    "wide-s0": result(0, 0.99, width=96), "side32-s3": result(3, 0.80, input_side=32),
                    "side64-s4": result(4, 0.86, input_side=64)}.items():
        (runs / f"{name}.json").write_text(json.dumps(r))
    committed = result(0, 0.86, input_side=64)
    committed["proxies"]["emoji"] |= {"run_file": f"{runs}/own-s0.json", "device": "NVIDIA H100 (sweep)"}
    rep = SP.proxy_repeats({**committed, "device": "NVIDIA H200"}, [str(runs)])
    # the committed proxy first (its own machine, not the file header's), then the recipe's other trainings by seed;
    # the run it came from is not counted twice and the variants are left to the sweep tables
    # a run recording another input side is another recipe; one recording none is judged by the rest
    assert [(r["seed"], r["committed"]) for r in rep["runs"]] == [(0, True), (1, False), (2, False), (4, False)]
    assert rep["runs"][0]["device"] == "NVIDIA H100 (sweep)"
    assert rep["plain"]["n"] == 4 and abs(rep["plain"]["mean"] - 0.86) < 1e-12
    assert rep["mean_meets_85pct"] is True and rep["mean_less_std_meets_85pct"] is True
    assert rep["recipe"] == "64 px, width 64, 100 epochs, three heads, class weights none, EMA 0.998, mixup 0.2"
    assert SP.recipe_words({**rep["runs"][0], "input_side": None}).startswith("input side not recorded, width 64")
    low = result(0, 0.845, input_side=64)
    low["proxies"]["emoji"]["run_file"] = f"{runs}/own-s0.json"
    rep = SP.proxy_repeats(low, [str(runs)])   # mean 0.856, std 0.009: at the bar by the mean, not beyond its spread
    assert rep["mean_meets_85pct"] is True and rep["mean_less_std_meets_85pct"] is False
    text = MD.render({**QS.build(), "proxy_repeats": rep})
    assert "mean at or above the bar, mean less one std below it" in text


def test_recipe_sweeps_report_each_variant_against_the_first():
    sweeps = SP.proxy_recipe_sweeps()
    assert [s["folder"] for s in sweeps] == SR.PROXY_RECIPE_SWEEPS
    for sw in sweeps:
        raw = json.loads((ROOT / sw["folder"] / "sweep.json").read_text())
        assert sw["first"] == raw["variants"][0]["name"] and sw["variants"][0]["vs_first"] is None
        for v in sw["variants"]:
            h = raw["summary"][v["variant"]]["heads"]["emoji group"]
            assert v["mean"] == h["held_out_accuracy"]["mean"] and v["clears_aim"] == h["clears_aim"]
            if v["vs_first"] is not None:
                assert v["vs_first"]["mean"] == h["held_out_accuracy"]["vs_recipe"]["mean"]
    # the committed recipe is the variant that cleared the aim in both
    committed = json.loads((ROOT / "benchmarks/results/train_proxies.json").read_text())["proxies"]["emoji"]
    for sw in sweeps:
        chosen = next(v for v in sw["variants"] if v["variant"] == "none-ema-mixup")
        assert chosen["clears_aim"] is True
        assert chosen["flags"] == f"--class-weights none --ema {committed['ema']:g} --mixup {committed['mixup']:g}"
    text = MD.render(QS.build())
    assert "| none-ema-mixup | `--class-weights none --ema 0.998 --mixup 0.2` | 0-5 |" in text


def test_teacher_trials_carry_their_settings_and_verdicts():
    files = sorted(ROOT.glob(SR.TRIALS))
    assert files, "the committed trial curves are the input of this test"
    trials = ST.teacher_trials()
    assert len(trials) == sum(len(json.loads(f.read_text())["teachers"]) for f in files)
    for t in trials:
        raw = json.loads((ROOT / t["file"]).read_text())["teachers"][t["teacher"]]
        assert t["final_mean"] == raw["final"]["mean"] and t["plateau"] == raw["plateau"]["plateau"]
        assert t["dropout"] == raw["segments"][-1].get("dropout", 0.0) and t["ema_decay"] == raw["ema_decay"]
        assert t["label"] == Path(t["file"]).name.removesuffix("-curves.json")
        assert t["segment_steps"] == [g["steps"] for g in raw["segments"]]
        assert t["segment_lr_scales"] == [g.get("lr_scale", 1.0) for g in raw["segments"]]
    # beside each trial: the committed teacher measured with its proxy, else the one committed before (never a
    # teacher measured with another proxy)
    s = QS.build()
    before = ST.teachers(json.loads((ROOT / SR.CURVES_UNTIL_1207).read_text()))
    for t in s["teacher_trials"]:
        now, then = s["teachers"][t["teacher"]], before[t["teacher"]]
        ref = now if now["proxy_accuracy"] == t["proxy_accuracy"] else then
        if ref["proxy_accuracy"] != t["proxy_accuracy"]:
            assert t["beside"] is None
        else:
            assert (t["beside"]["steps"], t["beside"]["final_mean"]) == (ref["steps"], ref["final_mean"])
    assert any(t["beside"] and t["beside"]["steps"] != s["teachers"][t["teacher"]]["steps"]
               for t in s["teacher_trials"])
    resumed = next(t for t in trials if len(t["segment_steps"]) > 1)
    assert sum(resumed["segment_steps"]) == resumed["steps"]
    assert MD._steps_cell({**resumed, "segment_steps": [resumed["steps"]]}) == str(resumed["steps"])
    cell = {"steps": 17600, "segment_steps": [10000, 4000, 3600], "segment_lr_scales": [1.0, 0.3, 0.1]}
    assert MD._steps_cell(cell) == "17600 (10000 + 4000 at 0.3× lr + 3600 at 0.1× lr)"
    # curves from before the lr scale was recorded show the plain split
    assert MD._steps_cell({**cell, "segment_lr_scales": []}) == "17600 (10000 + 4000 + 3600)"


def test_weight_drift_rows_come_from_the_committed_pairs():
    files = sorted(ROOT.glob(SR.WEIGHT_DRIFT))
    assert files, "the committed weight-drift files are the input of this test"
    rows = ST.weight_drift()
    assert len(rows) == sum(len(json.loads(f.read_text())["pairs"]) for f in files)
    text = MD.render(QS.build())
    for r in rows:
        assert f"{r['from']} → {r['to']} {r['relative_l2']:.1e}" in text
    assert text.count(f"[JSON]({rows[0]['file']})") == 1


def test_trial_metric_noise_is_labelled_by_its_trial_and_not_called_committed():
    files = sorted(ROOT.glob(SR.TRIAL_METRIC_NOISE))
    assert files, "the committed trial metric-noise files are the input of this test"
    rows = ST.trial_metric_noise()
    assert {r["trial"] for r in rows} == {json.loads(f.read_text())["trial"] for f in files}
    text = MD.render(QS.build())
    for r in rows:
        line = next(ln for ln in text.splitlines()
                    if ln.startswith(f"Metric noise of the {r['trial']} trial's") and r["file"] in ln)
        assert "committed" not in line and r["file"] in line
        assert ", ".join(f"{v:.1f}" for v in r["seeds"]) in line
        drawn = [v for p in r["perturbed"].values() for v in p["values"]]
        ratio = statistics.stdev(drawn) / statistics.stdev(r["seeds"])
        assert f"{statistics.fmean(drawn):.1f} ± {statistics.stdev(drawn):.1f}, {ratio:.1f}× the sampling seeds' std" in line


def test_trials_and_teachers_name_their_eval_precision_and_shadow():
    trials = ST.teacher_trials()
    for t in trials:
        raw = json.loads((ROOT / t["file"]).read_text())["teachers"][t["teacher"]]
        assert t["eval_precision"] == raw.get("eval_precision", "bf16")   # curves before the flag: bf16
        assert ("shadow" in t) == ("shadow" in raw)
        if "shadow" in raw:
            assert t["shadow"]["plateau"] == raw["shadow"]["plateau"]["plateau"]
            assert t["shadow"]["window_range"] == raw["shadow"]["plateau"]["window_range"]
    assert any("shadow" in t for t in trials), "the fp32 trials measured their checkpoints in bf16 too"
    t = {"plateau": True, "plateau_detail": {"window_range": 2.61, "seed_range": 4.27}, "eval_precision": "fp32",
         "shadow": {"eval_precision": "bf16", "plateau": False, "window_range": 14.66, "seed_range": 4.32}}
    assert MD._plateau_cell(t) == "yes (2.6 vs 4.3, fp32); bf16 shadow: no (14.7 vs 4.3)"
    assert MD._plateau_cell({"plateau": False, "plateau_detail": {"window_range": 20.2, "seed_range": 5.3}}) \
        == "**no** (20.2 vs 5.3, bf16)"
    # a trial is marked adopted exactly when it is the committed teacher beside it (same steps and final value)
    s = QS.build()
    text = MD.render(s)
    adopted = [t for t in s["teacher_trials"] if MD._adopted(t)]
    assert len(adopted) == text.count(") (adopted) |")
    for t in adopted:
        assert f"[{t['label']}]({t['file']}) (adopted)" in text
    assert not MD._adopted({**adopted[0], "final_mean": adopted[0]["final_mean"] + 1}) if adopted else True


def test_fp32_metric_noise_reports_the_bf16_rounding_on_the_same_seeds():
    rows = [r for r in ST.trial_metric_noise() if "bf16_rounded" in r]
    assert rows, "the committed fp32 metric-noise file is the input of this test"
    text = MD.render(QS.build())
    for r in rows:
        raw = json.loads((ROOT / r["file"]).read_text())["teachers"][r["teacher"]]["bf16-rounded weights"]
        assert r["bf16_rounded"]["values"] == raw["values"]
        # the paired shift is the rounded minus the plain value, seed by seed
        assert all(abs(d - (b - a)) < 2e-3 for d, a, b in zip(r["bf16_rounded"]["paired_shift"], r["seeds"], raw["values"]))
        assert r["settings"]["eval_precision"] == "fp32"
        line = next(ln for ln in text.splitlines() if r["file"] in ln and ln.startswith("Metric noise of the"))
        assert "paired shift " + ", ".join(f"{v:+.1f}" for v in r["bf16_rounded"]["paired_shift"]) in line


def test_committed_metric_noise_is_set_beside_the_teachers_it_measured():
    s = QS.build()
    measured = ST.teachers(SR.load(SR.METRIC_NOISE_TEACHERS))
    for name, m in s["teacher_metric_noise"].items():
        assert m["teacher_on_gpu"]["final_mean"] == measured[name]["final_mean"]
        line = next(ln for ln in MD.render(s).splitlines() if ln.startswith(f"Metric noise of {name} "))
        assert f"the same 3 seeds gave {measured[name]['final_mean']:.1f}" in line


def test_bf16_comparisons_are_said_to_be_bf16():
    s = QS.build()
    bf16 = [k for k, v in s["teacher_metric_in_comparison_runs"].items() if v["eval_precision"] == "bf16"]
    text = MD.render(s)
    assert ("were evaluated under bf16 autocast" in text) == bool(bf16)
    here = {k: {**v, "eval_precision": "fp32"} for k, v in s["teacher_metric_in_comparison_runs"].items()}
    assert "were evaluated under bf16 autocast" not in MD.render({**s, "teacher_metric_in_comparison_runs": here})


def test_a_variant_against_an_earlier_teacher_or_on_one_seed_never_leads():
    def variant(name, met, ratio, current, seeds=(0, 1, 2)):
        return {"variant": name, "targets": {str(i): i < met for i in range(4)}, "alignment_ratio": ratio,
                "current_teacher": current, "seeds": list(seeds)}

    old = variant("earlier, all four met", 4, 0.97, False)
    one_seed = variant("screening row, all four met on one seed", 4, 0.99, True, seeds=[0])
    lead = T2I.lead_variant([old, one_seed, variant("a", 2, 0.81, True), variant("b", 3, 0.80, True),
                            variant("c", 3, 0.86, True)])
    assert lead["variant"] == "c"   # most targets, then the higher alignment ratio, among the current teacher's 3-seed ones
    with pytest.raises(ValueError, match="with 3 seeds was distilled from the comparison's teacher"):
        T2I.lead_variant([old, one_seed])
    # a variant scored with the committed proxy leads over any scored with an earlier one, whatever the targets
    now = {**variant("d, committed proxy", 2, 0.80, True), "current_proxy": True}
    earlier = {**variant("e, earlier proxy", 4, 0.97, True), "current_proxy": False}
    assert T2I.lead_variant([earlier, now])["variant"] == "d, committed proxy"


def _run(tmp_path, name, alignments, lr=5e-4, first_seed=0, fids=None, plan=(("mid_block.resnets.0", "remove"),),
         caps=None, gpu="GPU X", teacher_fid=144.9, inputs=None, **distill):
    """A stand-in quality_strategies.json with one ld-pruner-prompt row per alignment (seeds from first_seed); with
    ``inputs``, each row's work/rows file fingerprinted with those input hashes."""
    rows = [{"method": "ld-pruner-prompt", "strategy": "latency-aware", "init": "preserved", "feature_kd": "normalized",
             "seed": s, "fid_distilled": fids[s - first_seed] if fids else 150.0 + s, "alignment_distilled": a,
             "measured_cut": 0.354, "modifications": [list(m) for m in plan]}
            for s, a in enumerate(alignments, first_seed)]
    rows.append({**rows[0], "method": "ld-pruner", "alignment_distilled": 1.0})   # another criterion: not compared
    (tmp_path / name).mkdir()
    (tmp_path / name / "quality_strategies.json").write_text(json.dumps({
        "teacher_fid": teacher_fid, "teacher_alignment": 15.7, "rows": rows, "budget": "65%",
        "distill": {"steps": 2800, "batch": 128, "lr": lr, "cond_dropout": 0.0, **distill},
        "device": {"date": f"2026-12-06T0{len(name)}:00:00Z", "gpu": gpu}, **({"caps": caps} if caps is not None else {})}))
    for r in rows[:-1] if inputs else ():
        f = WF.row_path(tmp_path / name / "work", WF.row_key("ld-pruner-prompt", *WF.BASE_ROW, r["seed"]))
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps({"fingerprint": {"inputs": inputs}, "row": r}))
    return str(tmp_path / name)


def test_a_pooled_recipe_counts_every_seed_and_its_parts_do_not_lead(tmp_path):
    a, b = _run(tmp_path, "a", [15.0, 15.6, 15.3]), _run(tmp_path, "bb", [13.8, 14.1, 14.4], first_seed=3)
    row = T2I.pooled_row((a, b), "ld-pruner-prompt")
    al = [15.0, 15.6, 15.3, 13.8, 14.1, 14.4]
    assert row["seeds"] == [0, 1, 2, 3, 4, 5] and row["alignment_mean"] == pytest.approx(statistics.mean(al))
    assert row["alignment_std"] == pytest.approx(statistics.stdev(al)) and row["metric_mean"] == pytest.approx(152.5)
    assert row["pooled_runs"] == [{"run": a, "seeds": [0, 1, 2]}, {"run": b, "seeds": [3, 4, 5]}]
    with pytest.raises(ValueError, match="seed 0 is in two pooled runs"):
        T2I.pooled_row((a, _run(tmp_path, "ccc", [15.0])), "ld-pruner-prompt")
    with pytest.raises(ValueError, match="distill differ"):
        T2I.pooled_row((a, _run(tmp_path, "dddd", [15.0], lr=1e-3, first_seed=9)), "ld-pruner-prompt")

    def variant(name, met, ratio, run, pooled=None):
        return {"variant": name, "run": run, "targets": {str(i): i < met for i in range(4)}, "alignment_ratio": ratio,
                "current_teacher": True, "seeds": [0, 1, 2], **({"pooled_runs": pooled} if pooled else {})}

    subset = variant("the recipe on its best three seeds", 4, 0.96, a)
    whole = variant("the recipe on every seed", 3, 0.92, a, row["pooled_runs"])
    other = variant("another recipe, three seeds", 3, 0.91, "elsewhere")
    assert T2I.lead_variant([subset, whole, other])["variant"] == "the recipe on every seed"
    assert T2I.lead_variant([subset, other])["variant"] == "the recipe on its best three seeds"   # nothing pooled it
    assert MD._seed_range([3, 4, 5]) == "3-5" and MD._seed_range([0, 2, 5]) == "0, 2, 5"


def test_a_repeat_reports_each_seeds_difference_and_refuses_other_settings(tmp_path):
    def run(name, alignments, lr=5e-4):
        return _run(tmp_path, name, alignments, lr)

    first, same, moved = run("a", [13.9, 15.5]), run("bb", [13.9, 15.5]), run("ccc", [13.9, 15.45])
    r = T2I.repeat(first, same, "ld-pruner-prompt")
    assert r["seeds"] == [0, 1] and r["max_abs_diff"] == {"proxy-FID": 0, "alignment": 0, "measured_cut": 0}
    assert "repeat exactly" in MD._repeat_line(r) and "2026-12-06 02:00 UTC" in MD._repeat_line(r)
    r = T2I.repeat(first, moved, "ld-pruner-prompt")
    assert abs(r["max_abs_diff"]["alignment"] - 0.05) < 1e-9 and r["per_seed"]["1"]["alignment"] == [15.5, 15.45]
    assert "repeat exactly" not in MD._repeat_line(r)
    with pytest.raises(ValueError, match="does not repeat"):
        T2I.repeat(first, run("dddd", [13.9, 15.5], lr=1e-3), "ld-pruner-prompt")


def test_a_proxy_change_is_the_same_students_scored_by_another_proxy(tmp_path):
    old = {"data": "d1", "proxy": "p1"}
    first = _run(tmp_path, "a", [15.3, 15.2, 15.9], fids=[150.8, 139.2, 139.6], teacher_fid=144.9, inputs=old)
    now = {**old, "proxy": T2I.committed_proxy()}
    again = _run(tmp_path, "bb", [15.3, 15.2, 15.9], fids=[60.8, 58.6, 59.5], teacher_fid=62.4, inputs=now)
    r = T2I.proxy_change(first, again, "ld-pruner-prompt")
    assert r["inputs_differ"] == ["proxy"] and r["spearman"] == pytest.approx(1.0)
    assert r["fid_ratio"] == pytest.approx([statistics.mean([150.8, 139.2, 139.6]) / 144.9, statistics.mean(
        [60.8, 58.6, 59.5]) / 62.4])
    line = MD._proxy_change_line(r)
    assert "seed 0: 150.80 → 60.80" in line and "the teacher 144.90 → 62.40" in line and "seeds 0-2" in line
    # another student (its alignment moved), or another input file beside the proxy, is no proxy change
    moved = _run(tmp_path, "ccc", [15.3, 15.25, 15.9], fids=[60.8, 58.6, 59.5], inputs=now)
    other_data = _run(tmp_path, "dddd", [15.3, 15.2, 15.9], fids=[60.8, 58.6, 59.5], inputs={**now, "data": "d2"})
    same_proxy = _run(tmp_path, "eeeee", [15.3, 15.2, 15.9], fids=[60.8, 58.6, 59.5], inputs=old)
    for bad in (moved, other_data, same_proxy):
        with pytest.raises(ValueError, match="is not .* scored by another proxy"):
            T2I.proxy_change(first, bad, "ld-pruner-prompt")
    # the second scoring must be the committed proxy's: the line reads "earlier proxy -> committed"
    other_proxy = _run(tmp_path, "ffffff", [15.3, 15.2, 15.9], fids=[60.8, 58.6, 59.5], inputs={**old, "proxy": "p3"})
    with pytest.raises(ValueError, match="not the committed one"):
        T2I.proxy_change(first, other_proxy, "ld-pruner-prompt")


def test_runs_compare_by_their_settings_not_their_loss_text(tmp_path):
    """A run naming a default (lambda_feat 1) is the recipe of one leaving it out, though its loss text may differ;
    the prompt-effect KD weight counts whether a run names it as a key or, written before the key, only in its text."""
    first = _run(tmp_path, "a", [13.9, 15.5], losses="task + output KD + feature KD")
    named = _run(tmp_path, "bb", [13.9, 15.4], lambda_feat=1.0, losses="task + output KD + 1 x feature KD")
    assert T2I.repeat(first, named, "ld-pruner-prompt")["seeds"] == [0, 1]
    assert T2I.pooled_row((first, _run(tmp_path, "ccc", [14.0], first_seed=2, lambda_feat=1.0)),
                         "ld-pruner-prompt")["seeds"] == [0, 1, 2]
    old_text = _run(tmp_path, "dddd", [13.9, 15.5], losses="task + output KD + feature KD + 0.1 x prompt-effect KD")
    as_key = _run(tmp_path, "eeeee", [13.9, 15.5], lambda_prompt=0.1)
    for prompt in (old_text, as_key):
        with pytest.raises(ValueError, match="does not repeat"):
            T2I.repeat(first, prompt, "ld-pruner-prompt")
        with pytest.raises(ValueError, match="distill differ"):
            T2I.pooled_row((first, prompt), "ld-pruner-prompt")
    assert T2I.repeat(old_text, as_key, "ld-pruner-prompt")["seeds"] == [0, 1]
    pair = T2I.lever_pair("prompt KD", (as_key,), (first,), "ld-pruner-prompt")
    assert pair["changed"] == {"lambda_prompt": [0.0, 0.1]}


def test_seed_repeats_pool_each_plans_variance_with_its_own_degrees_of_freedom():
    def run(seed, digest, al, known=None):
        return {"seed": seed, "final": {"alignment_held": al, "fid_held": 100.0 + al},
                "candidates": [{"digest": digest, "known": known}]}
    earlier = {"row": "x/work/rows/row-ld-pruner-prompt-latency-aware-preserved-normalized-s4.json", "alignment": 13.0,
               "fid": 113.0}
    rp = T2I.seed_repeats({"final_steps": 2800, "runs": [run(3, "a", 14.0, earlier), run(5, "a", 15.0, earlier),
                                                         run(0, "b", 10.0), run(1, "b", 12.0)]})
    assert [x["seed"] for x in rp["plans"]["a"]] == [4, 3, 5] and rp["plans"]["a"][0]["earlier"]
    # plan a: 13, 14, 15 (variance 1, 2 dof); plan b: 10, 12 (variance 2, 1 dof)
    assert rp["pooled"]["alignment"]["dof"] == 3
    assert rp["pooled"]["alignment"]["within_plan_std"] == pytest.approx(((2 * 1 + 1 * 2) / 3) ** 0.5)
    assert rp["steps"] == 2800


def test_a_lever_pair_differences_each_seed_against_its_base_plan_and_names_the_change(tmp_path, monkeypatch):
    from scipy import stats

    base = _run(tmp_path, "base", [14.0, 15.0, 13.0], fids=[150.0, 140.0, 160.0])
    lever = _run(tmp_path, "lever", [14.5, 15.1, 13.9], fids=[148.0, 141.0, 150.0], snr_gamma=5.0,
                 losses="task + output KD + feature KD; task and output KD weighted by min-SNR-5")
    p = T2I.lever_pair("min-SNR-5", (lever,), (base,), "ld-pruner-prompt")
    assert p["seeds"] == [0, 1, 2] and p["changed"] == {"snr_gamma": [None, 5.0]}   # not the losses text
    d = [0.5, 0.1, 0.9]
    a = p["difference"]["alignment"]
    assert list(a["per_seed"].values()) == pytest.approx(d) and a["mean"] == pytest.approx(0.5)
    assert a["std"] == pytest.approx(statistics.stdev(d)) and a["se"] == pytest.approx(statistics.stdev(d) / 3 ** 0.5)
    assert a["p"] == pytest.approx(stats.ttest_1samp(d, 0.0).pvalue) and a["resolved"] is False   # p 0.07
    assert p["difference"]["proxy-FID"]["mean"] == pytest.approx(-11 / 3)
    # a run that recorded no cond_dropout distilled at the text-to-image default, 0.1: that is a change from 0.0
    old = _run(tmp_path, "old", [14.0, 15.0, 13.0])
    (tmp_path / "old" / "quality_strategies.json").write_text(
        (tmp_path / "old" / "quality_strategies.json").read_text().replace(', "cond_dropout": 0.0', ""))
    assert T2I.lever_pair("no dropout", (base,), (old,), "ld-pruner-prompt")["changed"] == {"cond_dropout": [0.1, 0.0]}
    with pytest.raises(ValueError, match="a repeat, not a lever"):
        T2I.lever_pair("nothing", (_run(tmp_path, "same", [14.2, 15.0, 13.1]),), (base,), "ld-pruner-prompt")
    with pytest.raises(ValueError, match="seed 0 was distilled from another plan"):
        T2I.lever_pair("moved", (_run(tmp_path, "other-plan", [15.0], plan=(("mid_block", "remove"),), lr=1e-3),), (base,),
                      "ld-pruner-prompt")
    with pytest.raises(ValueError, match="distilled with other settings than"):
        T2I.lever_pair("mixed", (lever, _run(tmp_path, "lever-lr", [15.0], first_seed=3, lr=1e-3)), (base,), "ld-pruner-prompt")
    with pytest.raises(ValueError, match="seed 0 is in two of"):
        T2I.lever_pair("twice", (base, _run(tmp_path, "base-again", [15.0])), (lever,), "ld-pruner-prompt")
    with pytest.raises(ValueError, match="no seed is in both"):
        T2I.lever_pair("apart", (_run(tmp_path, "later", [15.0], first_seed=7, lr=1e-3),), (base,), "ld-pruner-prompt")
    # the pooled per-seed std over the levers and the paired seeds the headline's missing alignment would need
    from ldprune_deploy.quality.evidence import paired_seeds_needed

    monkeypatch.setattr(T2I, "LEVER_PAIRS", [("min-SNR-5", (lever,), (base,), "ld-pruner-prompt")])
    lp = T2I.lever_pairs({"teacher_alignment": 15.7, "alignment_mean": 14.7})
    assert lp["alignment_difference_std"] == pytest.approx(statistics.stdev(d)) and lp["dof"] == 2
    assert lp["headline_gap"] == pytest.approx(0.95 * 15.7 - 14.7)
    assert lp["seeds_to_resolve_gap"] == paired_seeds_needed(statistics.stdev(d), 0.95 * 15.7 - 14.7)
    assert T2I.lever_pairs({"teacher_alignment": 15.7, "alignment_mean": 15.5})["seeds_to_resolve_gap"] is None   # met
    table = "\n".join(MD._lever_table({"rule": "r", "pairs": [p], "alignment_difference_std": 0.61, "dof": 19,
                                        "headline_gap": 0.26, "seeds_to_resolve_gap": 47}))
    assert "std 0.61 (19 degrees of freedom)" in table and "lacks 0.26" in table and "need 47 paired seeds" in table
    met = {"rule": "r", "pairs": [p], "alignment_difference_std": 0.61, "dof": 19, "headline_gap": -0.1,
           "seeds_to_resolve_gap": None}
    assert "The headline meets its alignment bound." in "\n".join(MD._lever_table(met))
    assert "| snr_gamma None → 5.0 | 0-2 |" in table
    assert f"| +0.50 ± {a['std']:.2f} (se {a['se']:.2f}) | no (p {a['p']:.2f}) |" in table


def test_a_plan_cap_lever_pairs_re_landed_plans_and_stays_out_of_the_pooled_noise(tmp_path, monkeypatch):
    cap4 = r"(attn2|attentions\.[0-9]+):remove=4"
    base = _run(tmp_path, "base", [14.0, 15.0, 13.0], caps=[cap4])
    capped = _run(tmp_path, "capped", [13.0, 14.5, 12.0], plan=(("up_blocks.0.resnets.0", "shortcut"),),
                  caps=[cap4, r"^up_blocks\.2\.=1"])
    p = T2I.lever_pair("u2 cap", (capped,), (base,), "ld-pruner-prompt")
    assert p["changed"] == {"caps": [[cap4], [cap4, r"^up_blocks\.2\.=1"]]} and p["plans_moved"] == 3
    assert p["difference"]["alignment"]["mean"] == pytest.approx(-5 / 6)
    # a run that records no caps and one with an empty list planned alike: not a change, so plans must match
    old = _run(tmp_path, "old", [14.0, 15.0, 13.0], snr_gamma=5.0)
    empty = _run(tmp_path, "empty", [14.0, 15.0, 13.0], plan=(("mid_block", "remove"),), caps=[])
    assert T2I.lever_pair("snr", (old,), (_run(tmp_path, "nocap", [13.0, 15.0, 13.0]),), "ld-pruner-prompt")[
        "plans_moved"] == 0
    with pytest.raises(ValueError, match="seed 0 was distilled from another plan"):
        T2I.lever_pair("moved", (empty,), (old,), "ld-pruner-prompt")
    # the table names the cap added, its | escaped so the row keeps its columns
    row = next(x for x in MD._lever_table({"rule": "r", "pairs": [p], "alignment_difference_std": 0.6, "dof": 2,
                                            "headline_gap": 0.2, "seeds_to_resolve_gap": 50}) if x.startswith("| u2 cap"))
    assert r"plan caps + `--cap ^up_blocks\.2\.=1`" in row and row.replace("\\|", "").count("|") == 9
    assert "−" not in row.split("|")[2]
    dropped = MD._change_text("caps", [cap4], [])
    assert dropped == r"plan caps − `--cap (attn2\|attentions\.[0-9]+):remove=4`"
    # the pooled per-seed noise is the distillation levers' only: a plan lever also redraws the plan
    snr = _run(tmp_path, "snr", [14.5, 15.1, 13.9], caps=[cap4], snr_gamma=5.0)
    monkeypatch.setattr(T2I, "LEVER_PAIRS", [("snr", (snr,), (base,), "ld-pruner-prompt"),
                                           ("u2 cap", (capped,), (base,), "ld-pruner-prompt")])
    lp = T2I.lever_pairs({"teacher_alignment": 15.7, "alignment_mean": 14.7})
    assert lp["dof"] == 2 and lp["alignment_difference_std"] == pytest.approx(statistics.stdev([0.5, 0.1, 0.9]))


def test_a_repeat_on_another_gpu_type_compares_its_seeds_and_says_what_a_pair_across_types_carries(tmp_path):
    first = _run(tmp_path, "a", [14.8, 14.85, 15.1], fids=[150.5, 150.0, 144.6], gpu="GPU H100")
    again = _run(tmp_path, "bb", [15.35], fids=[145.1], gpu="GPU H200")
    r = T2I.repeat(first, again, "ld-pruner-prompt")   # one seed of three: the seeds repeated are again's
    assert r["seeds"] == [0] and r["devices"] == ["GPU H100", "GPU H200"] and r["teacher_equal"]
    assert r["per_seed"]["0"]["alignment"] == [14.8, 15.35] and r["max_abs_diff"]["alignment"] == pytest.approx(0.55)
    line = MD._device_repeat_line(r)
    assert "again on GPU H200" in line and "first on GPU H100" in line and "equal on both (144.9, 15.7)" in line
    assert "alignment 14.800 → 15.350" in line and "by up to 0.55 alignment" in line
    assert "differ between them" in MD._device_repeat_line(
        T2I.repeat(first, _run(tmp_path, "ccc", [15.35], gpu="GPU H200", teacher_fid=145.0), "ld-pruner-prompt"))
    exact = T2I.repeat(first, _run(tmp_path, "ffffff", [14.8], fids=[150.5], gpu="GPU H200"), "ld-pruner-prompt")
    assert "repeated exactly on the other GPU type" in MD._device_repeat_line(exact)
    assert "does not repeat" not in MD._device_repeat_line(exact)
    with pytest.raises(ValueError, match="seed 0 was distilled from another plan"):
        T2I.repeat(first, _run(tmp_path, "dddd", [15.0], plan=(("mid_block", "remove"),)), "ld-pruner-prompt")
    with pytest.raises(ValueError, match="does not repeat"):   # a seed the first run lacks
        T2I.repeat(first, _run(tmp_path, "eeeee", [15.0], first_seed=7), "ld-pruner-prompt")


def test_a_repeat_pools_runs_per_side_compares_the_seeds_both_hold_and_names_input_files_that_differ(tmp_path):
    first = (_run(tmp_path, "a", [15.0, 15.2], gpu="GPU H200", inputs={"emb": "b6ed", "data": "e28a"}),
             _run(tmp_path, "bb", [14.7], first_seed=2, gpu="GPU H200", inputs={"emb": "b6ed", "data": "e28a"}))
    again = (_run(tmp_path, "ccc", [15.3, 15.2, 16.0], gpu="GPU H100", teacher_fid=144.8,
                  inputs={"emb": "1acc", "data": "e28a"}),
             _run(tmp_path, "dddd", [15.0], first_seed=3, gpu="GPU H100", inputs={"emb": "1acc", "data": "e28a"}))
    r = T2I.repeat(first, again, "ld-pruner-prompt")
    assert r["seeds"] == [0, 1, 2] and r["first"] == list(first) and r["inputs_differ"] == ["emb"]
    assert r["mean_diff"]["alignment"] == pytest.approx(statistics.mean([0.3, 0.0, 1.3]))
    assert r["std_diff"]["alignment"] == pytest.approx(statistics.stdev([0.3, 0.0, 1.3]))
    line = MD._device_repeat_line(r)
    assert "proxy-FID 144.9 / 144.8" in line and "input files differ: emb" in line
    assert f"Over the 3 seeds the second GPU type minus the first: alignment +{statistics.mean([0.3, 0.0, 1.3]):.2f}" in line
    assert "[a](" in line and "[bb](" in line   # each pooled run linked
    same = T2I.repeat(first, (_run(tmp_path, "eeeee", [15.0], gpu="GPU H100", inputs={"emb": "b6ed", "data": "e28a"}),),
                      "ld-pruner-prompt")
    assert same["inputs_differ"] == [] and same["std_diff"]["alignment"] is None
    assert "Over the" not in MD._device_repeat_line(same) and "input files" not in MD._device_repeat_line(same)
    with pytest.raises(ValueError, match="other settings"):   # a side's runs must be one recipe
        T2I.repeat((first[0], _run(tmp_path, "ffffff", [15.0], first_seed=5, lr=1e-3)), again, "ld-pruner-prompt")


def test_a_lever_pair_names_the_input_files_its_sides_hashed_differently(tmp_path):
    base = _run(tmp_path, "base", [14.0, 15.0], inputs={"emb": "b6ed", "data": "e28a"})
    lever = _run(tmp_path, "lever", [14.6, 15.5], lambda_feat=0.1, inputs={"emb": "1acc", "data": "e28a"})
    p = T2I.lever_pair("feat", (lever,), (base,), "ld-pruner-prompt")
    assert p["inputs_differ"] == ["emb"]
    row = next(x for x in MD._lever_table({"rule": "r", "pairs": [p], "alignment_difference_std": 0.6, "dof": 2,
                                            "headline_gap": 0.2, "seeds_to_resolve_gap": 50}) if x.startswith("| feat"))
    assert "lambda_feat 1.0 → 0.1; input files hashed differently: emb |" in row
    unknown = _run(tmp_path, "unknown", [14.6, 15.5], lambda_feat=0.1)   # no row files: nothing to compare
    assert T2I.lever_pair("feat", (unknown,), (base,), "ld-pruner-prompt")["inputs_differ"] == []


def test_a_lever_paired_across_gpu_types_says_so_and_stays_out_of_the_pooled_noise(tmp_path, monkeypatch):
    base = _run(tmp_path, "base", [14.0, 15.0, 13.0], gpu="GPU H100")
    same = _run(tmp_path, "same", [14.5, 15.1, 13.9], gpu="GPU H100", snr_gamma=5.0)
    other = _run(tmp_path, "other", [15.0, 16.0, 15.0], gpu="GPU H200", snr_gamma=5.0)
    p = T2I.lever_pair("across", (other,), (base,), "ld-pruner-prompt")
    assert p["across_devices"] and p["devices"] == {"lever": ["GPU H200"], "base": ["GPU H100"]}
    assert not T2I.lever_pair("one type", (same,), (base,), "ld-pruner-prompt")["across_devices"]
    row = next(x for x in MD._lever_table({"rule": "r", "pairs": [p], "alignment_difference_std": 0.6, "dof": 2,
                                            "headline_gap": 0.2, "seeds_to_resolve_gap": 50}) if x.startswith("| across"))
    assert "snr_gamma None → 5.0; rows on GPU H200, base rows on GPU H100 |" in row
    monkeypatch.setattr(T2I, "LEVER_PAIRS", [("one type", (same,), (base,), "ld-pruner-prompt"),
                                           ("across", (other,), (base,), "ld-pruner-prompt")])
    lp = T2I.lever_pairs({"teacher_alignment": 15.7, "alignment_mean": 14.7})
    assert lp["dof"] == 2 and lp["alignment_difference_std"] == pytest.approx(statistics.stdev([0.5, 0.1, 0.9]))


def test_each_variant_names_the_proxy_its_rows_were_measured_with():
    s = QS.build()
    variants = {v["run"]: v for v in s["headlines"]["text_to_image"]["variants"] if "pooled_runs" not in v}
    now, before = variants[f"{SR.PROXY2_RUN}/strategies-emoji-t2i"], variants[f"{SR.NEW_RUN}/strategies-emoji-t2i"]
    assert now["current_proxy"] is True and now["proxies"] == [T2I.committed_proxy()]
    assert before["current_proxy"] is False and before["proxies"] and before["proxies"] != now["proxies"]
    text = MD.render(s)
    lead = s["headlines"]["text_to_image"]
    assert ("**Measured with an emoji proxy other than the committed one**" in text) == (not lead["current_proxy"])
    if not lead["current_proxy"]:
        assert f"{100 * lead['proxy_accuracy']:.1f} % held-out emoji-group accuracy" in text
    # the teacher column: the comparison's teacher is "committed", any other "earlier"; the proxy marked where not current
    assert f"| committed, {s['comparison_teachers']['emoji-t2i']['steps']} steps | 3 |" in text
    assert "earlier, 22400 steps; earlier proxy" in text and "committed, 22400 steps" not in text
    # the teachers' curves name the proxy accuracy they were measured with
    label = {"notes-uag": "mel/GM instrument family", "emoji-uig": "emoji/emoji group", "emoji-t2i": "emoji/emoji group"}
    for name, t in s["teachers"].items():
        assert t["current_proxy"] == (t["proxy_accuracy"] == s["proxies"][label[name]]["heldout_accuracy"])
    assert not s["teachers"]["emoji-uig"]["current_proxy"] and s["teachers"]["notes-uag"]["current_proxy"]


def test_the_two_emoji_proxies_are_set_side_by_side_on_the_same_samples():
    a = SP.proxy_agreement()
    raw = json.loads((ROOT / SR.PROXY_AGREEMENT).read_text())
    assert list(a["proxies"]) == list(raw["proxies"]) and len(a["proxies"]) == 2
    for name, lad in a["ladder"].items():
        rungs = [raw["models"][k]["fid"][name] for k in ("real training split", "teacher", "uniform noise")]
        assert list(lad["rungs"].values()) == rungs and lad["holds"] == (rungs[0] < rungs[1] < rungs[2])
    # the ladder's rungs are reported as the ladder, the sampled models as models
    assert set(a["models"]) == {k for k, m in raw["models"].items() if m["kind"] != "ladder"}
    committed = T2I.committed_proxy()
    assert any(p["sha256"] == committed for p in a["proxies"].values())
    assert "The emoji proxies on the same samples" in MD.render(QS.build())
    assert SP.proxy_agreement("benchmarks/results/no-such-file.json") is None


def _continued(committed: dict, name: str, proxy_accuracy: float, extra: int = 4400) -> dict:
    """A curves file as train_teachers.py --resume-from <committed> --new-curve writes it for ``name``."""
    base = committed["teachers"][name]
    t = json.loads(json.dumps(base))
    t0 = base["steps_done"]
    steps = [t0 + k * extra // 5 for k in range(6)]
    t.update(steps_done=t0 + extra, proxy_accuracy=proxy_accuracy,
             segments=t["segments"] + [{"steps": extra, "train_s": 120.0, "lr_scale": 0.1, "dropout": 0.1,
                                           "ema_decay": 0.9995, "eval_precision": "fp32", "new_curve_from_step": t0}],
             proxy_fid_step=steps, proxy_fid=[70.0, 69.0, 71.0, 70.5, 69.5, 70.2],
             final_seeds=[68.0, 70.0, 71.5, 69.0, 70.5], final={"mean": 69.8, "std": 1.3},
             earlier_curves=[{"proxy_accuracy": base["proxy_accuracy"], "until_step": t0}],
             plateau={**base["plateau"], "plateau": True, "window_range": 2.0, "seed_range": 3.5,
                      "points_in_window": 5})
    return {**committed, "teachers": {name: t}}


def test_a_plateau_recheck_continues_the_committed_teacher_with_the_committed_proxy(tmp_path, monkeypatch):
    committed = json.loads((ROOT / SR.COMMITTED_CURVES).read_text())
    name = "emoji-uig"
    current = ST._committed_accuracy("emoji")
    assert committed["teachers"][name]["proxy_accuracy"] != current, "the committed curve is the earlier proxy's"
    folder = tmp_path / "benchmarks/results/quality/x-plateau"
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "benchmarks/results/train_proxies.json", tmp_path / "benchmarks/results/train_proxies.json")
    monkeypatch.setattr(SR, "ROOT", tmp_path)
    (folder / "uig-p-curves.json").write_text(json.dumps(_continued(committed, name, current)))
    rel = "benchmarks/results/quality/x-plateau"
    r = ST.plateau_rechecks(committed, rel)[name]
    assert r["from_step"] == committed["teachers"][name]["steps_done"] and r["extra_steps"] == 4400
    assert r["teacher_point"] == 70.0 and r["teacher_not_beaten"] is True and r["plateau"] is True
    assert r["curve"][0] == [r["from_step"], 70.0] and r["lr_scale"] == 0.1
    teach = ST.teachers(committed)
    merged = ST.with_rechecks(teach, {name: r})
    assert merged[name]["plateau_recheck"] is r and merged[name]["plateau_basis"].startswith("committed proxy")
    assert merged[name]["plateau_detail"]["plateau"] == teach[name]["plateau"]   # the training curve's verdict kept
    # a failed recheck decides the teacher's verdict; a teacher measured with the committed proxy keeps its own
    failed = ST.with_rechecks(teach, {name: {**r, "plateau": False}, "notes-uag": {**r, "plateau": False}})
    assert failed[name]["plateau"] is False and failed["notes-uag"]["plateau"] == teach["notes-uag"]["plateau"]
    assert "plateau_recheck" not in failed["notes-uag"]
    text = "\n".join(MD._recheck_table({"teacher_plateau_rechecks": {name: r}}))
    assert f"| {name} |" in text and "70.0 vs 68.0–71.5: not beaten" in text and "x-plateau" in text
    # refused: another proxy, or a run that did not start from the committed teacher
    (folder / "uig-p-curves.json").write_text(json.dumps(_continued(committed, name, 0.5)))
    with pytest.raises(ValueError, match="not the committed one"):
        ST.plateau_rechecks(committed, rel)
    other = _continued(committed, name, current)
    other["teachers"][name]["segments"][0]["steps"] += 1
    (folder / "uig-p-curves.json").write_text(json.dumps(other))
    with pytest.raises(ValueError, match="not continued from the committed teacher"):
        ST.plateau_rechecks(committed, rel)
    assert ST.plateau_rechecks(committed, None) == {}


def _noise_file(teachers: str, seeds: list[float], gpu: str = "H100", align: list[float] | None = None) -> dict:
    rows = {"seeds": {"values": seeds}, **({"seeds_alignment": {"values": align}} if align else {})}
    return {"schema": "ldprune.bench.metric_noise/1", "device": {"gpu": gpu, "date": "2026-12-07T16:00:00+00:00"},
            "settings": {"fid_n": 1000, "sample_steps": 25, "eval_precision": "fp32", "teachers": teachers},
            "teachers": {"emoji-uig": rows}}


def test_a_continuation_pairs_its_end_weights_with_the_committed_teacher_on_the_same_seeds(tmp_path, monkeypatch):
    committed = json.loads((ROOT / SR.COMMITTED_CURVES).read_text())
    name, current = "emoji-uig", ST._committed_accuracy("emoji")
    folder = tmp_path / "benchmarks/results/quality/x-longer"
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "benchmarks/results/train_proxies.json", tmp_path / "benchmarks/results/train_proxies.json")
    monkeypatch.setattr(SR, "ROOT", tmp_path)
    rel = "benchmarks/results/quality/x-longer"
    (folder / "uig-long-curves.json").write_text(json.dumps(_continued(committed, name, current)))
    assert ST.continuations(committed, committed, rel)[name]["paired"] is None   # no diagnostic measured: none reported
    base = [70.0, 71.0, 69.5, 70.5]
    (folder / "metric-noise.json").write_text(json.dumps(_noise_file("benchmarks/assets/teachers", base, align=[15.0, 16.0])))
    # lower by 1.0 on every seed but one: a clear paired improvement although the two seed ranges overlap
    (folder / "metric-noise-2.json").write_text(json.dumps(_noise_file("/tmp/results/trials/x", [69.0, 70.0, 68.5, 69.7],
                                                                       align=[16.0, 16.5])))
    r = ST.continuations(committed, committed, rel)[name]
    p = r["paired"]
    assert r["teacher_point"] == 70.0 and p["diff"] == [-1.0, -1.0, -1.0, -0.8] and p["diff_mean"] == -0.95
    assert p["alignment"]["diff"] == [1.0, 0.5] and p["alignment"]["diff_mean"] == 0.75
    assert p["diff_se"] == round(statistics.stdev(p["diff"]) / 2, 3) and p["better_beyond_noise"] is True
    text = "\n".join(MD._continuation_table({"teacher_continuations": {name: r}}))
    assert "x-longer" in text and "difference -0.95 ± 0.05" in text and "**better beyond noise**" in text
    assert "continued 16.25, difference +0.75 ± 0.25." in text
    # adopted exactly when the committed teacher has the continuation's steps and training date; the comparison
    # distilled from it once the task's comparison teacher has those steps
    assert r["adopted"] is False and f"{name}'s end weights are a candidate teacher, not the committed one" in text
    now = {**committed, "teachers": {**committed["teachers"], name: {
        **committed["teachers"][name], "steps_done": r["steps"], "trained": {"date": r["date"]}}}}
    adopted = ST.continuations(committed, now, rel)[name]
    assert adopted["adopted"] is True
    later = {"teacher_continuations": {name: adopted}, "comparison_teachers": {name: {"steps": r["steps"]}}}
    text = "\n".join(MD._continuation_table(later))
    assert "**the committed teacher now**" in text and "the comparison below distilled from them." in text
    assert "still distilled from the teacher it resumed" in "\n".join(
        MD._continuation_table({"teacher_continuations": {name: adopted}}))
    stale = {**now, "teachers": {**now["teachers"], name: {**now["teachers"][name], "trained": {"date": "2026-01-01"}}}}
    assert ST.continuations(committed, stale, rel)[name]["adopted"] is False
    # a difference inside two standard errors is not better
    (folder / "metric-noise-2.json").write_text(json.dumps(_noise_file("/tmp/results/trials/x", [69.0, 72.0, 69.0, 70.7])))
    p = ST.continuations(committed, committed, rel)[name]["paired"]
    assert p["better_beyond_noise"] is False and p["diff_mean"] == -0.075
    assert "not better beyond noise" in "\n".join(MD._continuation_table({"teacher_continuations": {name: {**r, "paired": p}}}))
    # refused: measured on another GPU, or on a different number of seeds
    (folder / "metric-noise-2.json").write_text(json.dumps(_noise_file("/tmp/results/trials/x", base, gpu="H200")))
    with pytest.raises(ValueError, match="not measured alike"):
        ST.continuations(committed, committed, rel)
    (folder / "metric-noise-2.json").write_text(json.dumps(_noise_file("/tmp/results/trials/x", base[:3])))
    with pytest.raises(ValueError, match="the same >= 2"):
        ST.continuations(committed, committed, rel)
    assert ST.continuations(committed, committed, None) == {} and MD._continuation_table({}) == []


def test_plans_landed_on_a_continuation_are_counted_by_their_verify(tmp_path, monkeypatch):
    monkeypatch.setattr(SR, "ROOT", tmp_path)
    plans = tmp_path / "q/x/strategies-emoji-uig/work/plans"
    plans.mkdir(parents=True)
    assert ST.landed_plans("q/x", "emoji-uig") is None
    for i, (ratio, first, verify) in enumerate([(0.646, True, True), (0.652, True, True), (0.641, True, False)]):
        (plans / f"plan-a-s{i}.json").write_text(json.dumps({
            "measured": {"ratio": ratio, "meets_budget": first, "verify": {"meets_budget": verify}},
            "meta": {"inputs": {"profile": {"gpu": "H100"}}}}))
    p = ST.landed_plans("q/x", "emoji-uig")
    # a plan whose landing verify did not confirm the budget is not counted as landed
    assert p == {"work": "q/x/strategies-emoji-uig/work", "plans": 3, "gpu": ["H100"], "landed": 2,
                 "cut_min": 0.348, "cut_max": 0.359}
