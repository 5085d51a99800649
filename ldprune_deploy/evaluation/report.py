"""Write report.json, report.md (with plots/*.png) and a self-contained report.html.

The HTML embeds every figure as a base64 PNG and uses no scripts or external resources,
so it renders the same offline, in CI artefacts and in a mail attachment.
"""

from __future__ import annotations

import base64
import html
import json
import logging
from pathlib import Path
from typing import Any

import torch

from ..artifacts import Profile, Scores
from ..jsonio import atomic_output_dir, write_json_atomic
from ..errors import LdpruneError
from . import plots

log = logging.getLogger("ldprune")


def _load(path: str | None, what: str) -> Any:
    if not path:
        return None
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise LdpruneError(f"cannot read {what} {path}: {e}", f"pass a valid {what} JSON file") from None


def figures(report: dict[str, Any], samples: dict[str, torch.Tensor], modality: str) -> dict[str, tuple[str, bytes]]:
    """name -> (caption, png bytes); optional inputs that are absent give no figure."""
    inp = report["inputs"]
    figs = {"samples": ("Teacher vs candidate samples (same seeds" + (", same prompts)" if report["sampling"]["encoder"]
                                                                    else ")"),
                        plots.sample_grids(samples, modality)),
            "quality_latency": ("Quality and latency side by side", plots.quality_latency(report))}
    scores = Scores.load(inp["scores"]) if inp.get("scores") else None
    profile = Profile.load(inp["profile"]) if inp.get("profile") else None
    if scores and profile:
        pairs = {(m["operator"], m["modification"]) for m in (report.get("plan") or {}).get("modifications", [])}
        figs["savings"] = ("Per-operator latency saved vs importance (red: the candidate's plan)",
                           plots.savings_vs_importance(profile, scores, pairs))
    elif scores or profile:
        log.warning("the savings-vs-importance plot needs both --scores and --profile; skipped")
    pareto = _load(inp.get("pareto"), "pareto")
    if pareto:
        predicted = (report.get("plan") or {}).get("predicted") or None
        figs["pareto"] = ("Pareto front (planner)", plots.pareto(pareto, predicted))
    curves = _load(inp.get("curves"), "loss curves")
    if curves:
        figs["curves"] = ("Distillation curves", plots.curves(curves))
    return figs


def _fmt(v: Any, nd: int = 4) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{nd}g}"
    return str(v)


def summary_rows(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    for m, q in report["quality"].items():
        if q.get("skipped"):
            rows.append((q["label"], "skipped", "", q["skipped"]))
        else:
            rows.append((q["label"], _fmt(q["teacher"]), _fmt(q["candidate"]),
                         f"{100 * q['drop']['relative']:+.1f}% ({q['extractor']['name']})"))
    lat = report.get("latency")
    if lat:
        rows.append((f"UNet latency, {lat['runner']} (ms, median)", _fmt(lat["teacher_ms"]),
                     _fmt(lat["candidate_ms"]), f"speed-up {lat['speedup']:.2f}x"))
    e2e = report["e2e_sampling"]
    rows.append((f"sampling {e2e['teacher']['steps']} steps, batch {e2e['teacher']['batch']} (ms)",
                 _fmt(e2e["teacher"]["median_ms"]), _fmt(e2e["candidate"]["median_ms"]), e2e["device"]))
    if lat:
        rows.append(("runner peak memory (MB)", _fmt(lat["teacher"].get("peak_memory_mb")),
                     _fmt(lat["candidate"].get("peak_memory_mb")), lat["teacher"].get("extra", {}).get("peak_memory_kind", "")))
    rows.append(("parameters", _fmt(report["teacher"]["params"]), _fmt(report["candidate"]["params"]), ""))
    return rows


def verdict(report: dict[str, Any]) -> str:
    g = report["gate"]
    if not g["checks"]:
        return "no gate (no --budget / --max-quality-drop checks applied)"
    return "PASS" if g["passed"] else "FAIL: " + "; ".join(g["reasons"])


def markdown(report: dict[str, Any], figs: dict[str, tuple[str, bytes]]) -> str:
    dev = report["device"]
    lines = [f"# Evaluation: {report['candidate']['model']} vs {report['teacher']['model']}", "",
             f"**Gate: {verdict(report)}**", "",
             f"device: {dev.get('gpu') or dev.get('cpu')} ({dev.get('kind')}), torch {dev.get('torch')}, "
             f"{report['created']}", "",
             f"samples: n={report['sampling']['n']}, {report['sampling']['steps']} {report['sampling']['scheduler']} "
             f"steps, seeds {report['sampling']['seeds'][0]}..{report['sampling']['seeds'][1]}, "
             f"{'decoded:' if report['sampling'].get('space') else 'decoding'} {report['sampling']['decoding']}", "",
             "| figure | teacher | candidate | note |", "|---|---:|---:|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in summary_rows(report)]
    refs = {q.get("reference") for q in report["quality"].values() if q.get("reference")}
    if refs:
        lines += ["", "Fréchet reference: " + "; ".join(sorted(refs))]
    if report["notes"]:
        lines += ["", "Notes:"] + [f"- {n}" for n in report["notes"]]
    lines += [""] + [f"![{cap}](plots/{name}.png)" for name, (cap, _) in figs.items()]
    return "\n".join(lines) + "\n"


def html_page(report: dict[str, Any], figs: dict[str, tuple[str, bytes]]) -> str:
    e = html.escape
    passed = report["gate"]["passed"]
    rows = "".join(f"<tr><td>{e(a)}</td><td>{e(b)}</td><td>{e(c)}</td><td>{e(d)}</td></tr>"
                   for a, b, c, d in summary_rows(report))
    notes = "".join(f"<li>{e(n)}</li>" for n in report["notes"])
    imgs = "".join(f'<figure id="fig-{e(name)}"><img alt="{e(cap)}" src="data:image/png;base64,'
                   f'{base64.b64encode(png).decode()}"><figcaption>{e(cap)}</figcaption></figure>'
                   for name, (cap, png) in figs.items())
    fps = {"device": report["device"], "teacher": report["teacher"], "candidate": report["candidate"],
           "plan": report.get("plan"), "profile": report.get("profile"), "export": report.get("export")}
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ldprune evaluation</title>
<style>
body {{ font-family: sans-serif; margin: 24px; color: #222; background: #fff; }}
.gate {{ padding: 10px 14px; font-weight: bold; color: #fff; background: {'#2e7d32' if passed else '#c62828'}; }}
table {{ border-collapse: collapse; margin: 12px 0; }} td, th {{ border: 1px solid #ccc; padding: 4px 8px; }}
img {{ max-width: 100%; border: 1px solid #ddd; }} figure {{ margin: 18px 0; }}
pre {{ background: #f5f5f5; padding: 8px; font-size: 11px; overflow-x: auto; }}
</style></head><body>
<h1>{e(str(report['candidate']['model']))} vs {e(str(report['teacher']['model']))}</h1>
<div class="gate">Gate: {e(verdict(report))}</div>
<table><tr><th>figure</th><th>teacher</th><th>candidate</th><th>note</th></tr>{rows}</table>
<ul>{notes}</ul>
{imgs}
<h2>Fingerprints</h2><pre>{e(json.dumps(fps, indent=1, default=str))}</pre>
</body></html>
"""


def write_report(report: dict[str, Any], output: str | Path, *, samples: dict[str, torch.Tensor],
                 overwrite: bool = False, modality: str = "image") -> Path:
    figs = figures(report, samples, modality)
    with atomic_output_dir(output, overwrite) as tmp:
        write_json_atomic(tmp / "report.json", report)
        (tmp / "plots").mkdir()
        for name, (_, png) in figs.items():
            (tmp / "plots" / f"{name}.png").write_bytes(png)
        (tmp / "report.md").write_text(markdown(report, figs))
        (tmp / "report.html").write_text(html_page(report, figs))
        # temp folders/files are created private; a report is meant to be shared
        for f in (tmp, tmp / "report.json"):
            f.chmod(0o755 if f.is_dir() else 0o644)
    return Path(output)
