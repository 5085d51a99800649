"""`ldprune plan` from the command line: plan, explain, pareto, errors."""

from __future__ import annotations

import json

import pytest

from _planner_synth import synth
from ldprune_deploy.cli import main
from ldprune_deploy.artifacts import PrunePlan


@pytest.fixture()
def inputs(tmp_path):
    scores, profile = synth(n_ops=6, seed=21)
    sp, pp = tmp_path / "scores.json", tmp_path / "profile.json"
    sp.write_text(json.dumps(scores))
    pp.write_text(json.dumps(profile))
    return sp, pp


def test_plan_then_explain(inputs, tmp_path, capsys):
    sp, pp = inputs
    out = tmp_path / "plan.json"
    assert main(["plan", "--scores", str(sp), "--profile", str(pp), "--budget", "70%", "-o", str(out)]) == 0
    pl = PrunePlan.load(out)
    assert pl.modifications and pl.predicted["latency_ms"] <= 14.0 + 1e-9
    assert "wrote" in capsys.readouterr().out
    assert main(["plan", "--explain", str(out)]) == 0
    text = capsys.readouterr().out
    for c in pl.meta["choices"]:
        assert c["operator"] in text and f"{c['saving_ms']:.3f}" in text and f"{100 * c['share_of_cut']:.1f}" in text
    assert "importance lost" in text and "% of cut" in text
    # a hand-edited plan (one modification dropped) is explained against the real inputs
    data = json.loads(out.read_text())
    data["modifications"] = data["modifications"][:1]
    data["meta"]["choices"] = []
    out.write_text(json.dumps(data))
    assert main(["plan", "--explain", str(out), "--scores", str(sp), "--profile", str(pp)]) == 0
    text = capsys.readouterr().out
    assert pl.modifications[0].operator in text and "1 mods" in text
    # refuses to overwrite without --overwrite
    assert main(["plan", "--scores", str(sp), "--profile", str(pp), "--budget", "70%", "-o", str(out)]) == 2


def test_pareto_writes_table_and_plot(inputs, tmp_path):
    sp, pp = inputs
    outdir = tmp_path / "front"
    assert main(["plan", "--scores", str(sp), "--profile", str(pp), "--pareto", str(outdir),
                 "--pareto-points", "6", "--strategy", "rank"]) == 0
    res = json.loads((outdir / "pareto.json").read_text())
    strategies = {r["strategy"] for r in res["rows"]}
    assert {"latency-aware", "rank"} <= strategies
    assert (outdir / "pareto.png").stat().st_size > 1000
    assert "| latency-aware |" in (outdir / "pareto.md").read_text()
    # at every latency-aware budget the MILP loses no more importance than rank at that budget
    aware = {r["budget"]: r["importance_lost"] for r in res["rows"] if r["strategy"] == "latency-aware"}
    for r in res["rows"]:
        if r["strategy"] == "rank" and r["budget"] in aware:
            assert aware[r["budget"]] <= r["importance_lost"] + 1e-9


@pytest.mark.parametrize("argv, msg", [
    (["--budget=-3ms"], "positive"),
    (["--budget", "0%"], "positive"),
    ([], "no budget"),
    (["--budget", "1%"], "minimum achievable"),
    (["--budget", "10ms", "--resolution", "1024"], "resolution 512"),
])
def test_cli_errors_are_one_line_exit_2(inputs, tmp_path, capsys, argv, msg):
    sp, pp = inputs
    code = main(["plan", "--scores", str(sp), "--profile", str(pp), "-o", str(tmp_path / "p.json"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and msg in err and "Traceback" not in err and "fix:" in err
    assert not (tmp_path / "p.json").exists()


def test_cli_mismatched_models(tmp_path, capsys):
    s, _ = synth(fingerprint="1111aaaa")
    _, p = synth(fingerprint="2222bbbb")
    (tmp_path / "s.json").write_text(json.dumps(s))
    (tmp_path / "p.json").write_text(json.dumps(p))
    code = main(["plan", "--scores", str(tmp_path / "s.json"), "--profile", str(tmp_path / "p.json"),
                 "--budget", "70%", "-o", str(tmp_path / "plan.json")])
    err = capsys.readouterr().err
    assert code == 2 and "1111aaaa" in err and "2222bbbb" in err
