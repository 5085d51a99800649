"""Train proxy-extractor variants over several seeds side by side and tabulate every head's held-out accuracy
(issue 23: does any recipe clear the 85 % aim on the emoji group beyond its own run-to-run spread?).

Each run is one ``train_proxies.py`` process: the shared ``--base`` flags, then the variant's own, then
``--seed``. Runs go ``--jobs`` at a time (on a GPU they share it: the proxies are small and their steps are
short, so one leaves most of it idle); each gets an equal share of the CPU threads. A run whose result file
exists is not run again, so an interrupted sweep resumes where it stopped.

    python benchmarks/proxy_sweep.py --only emoji --base "--emoji-size 64 --width 64 --epochs 100" \\
        --variant recipe= --variant "none=--class-weights none" --variant "ema=--ema 0.999" \\
        --seeds 0 1 2 3 4 5 --jobs 6 --out benchmarks/results/proxy_experiments/<folder>

Writes ``<out>/runs/<variant>-s<seed>.json`` (each run's train_proxies.py results), ``<out>/logs/``,
``<out>/sweep.json`` (schema ``ldprune.bench.proxy-sweep/1``: per variant and head the mean ± std over seeds,
the difference from the first variant paired by seed, and whether the primary head's mean less one std clears
``--aim``) and ``<out>/sweep.md``. The weights go to ``--weights`` (default a temporary folder): nothing here
is adopted; a variant worth adopting is trained again with train_proxies.py into benchmarks/assets.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ldprune_deploy.device import device_fingerprint
from ldprune_deploy.jsonio import atomic_path, write_json_atomic
from ldprune_deploy.quality.evidence import format_p, paired, spread

SCHEMA = "ldprune.bench.proxy-sweep/1"


def parse_variant(text: str) -> tuple[str, list[str]]:
    """``name=flags`` -> (name, the flags split as a shell would); ``recipe=`` is the base recipe itself."""
    name, sep, flags = text.partition("=")
    if not sep or not name.strip() or not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"--variant {text!r} is not NAME=FLAGS with a plain name (e.g. 'ema=--ema 0.999')")
    return name.strip(), shlex.split(flags)


def run_one(cmd: list[str], log: Path, threads: int) -> tuple[int, float]:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    t0 = time.perf_counter()
    with log.open("w") as f:
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=ROOT, check=False).returncode
    return rc, time.perf_counter() - t0


def heads_of(result: dict, proxy: str) -> dict[str, dict]:
    return result["proxies"][proxy]["heads"]


def summarise(results: dict[tuple[str, int], dict], variants: list[str], proxy: str, aim: float) -> dict:
    """Per variant (in ``variants`` order; the first is the reference): each head's accuracy and balanced accuracy
    per seed, mean ± std, the difference from the reference over the seeds both hold (mean, std, paired p), and for
    the primary head whether mean - std >= ``aim`` (None with fewer than 3 seeds: one std is no spread yet)."""
    ref = variants[0]
    out = {}
    for v in variants:
        seeds = sorted(s for (name, s) in results if name == v)
        if not seeds:
            continue
        heads = {}
        for i, head in enumerate(heads_of(results[(v, seeds[0])], proxy)):
            h = {}
            for key in ("held_out_accuracy", "held_out_balanced_accuracy"):
                per = {s: heads_of(results[(v, s)], proxy)[head].get(key) for s in seeds}
                h[key] = {"per_seed": {str(s): x for s, x in per.items()}, **spread(list(per.values()))}
                base = {s: heads_of(results[(ref, s)], proxy)[head].get(key) for s in seeds if (ref, s) in results}
                both = [s for s in seeds if per[s] is not None and base.get(s) is not None]
                if v != ref and both:
                    h[key]["vs_" + ref] = {"seeds": both, **paired([per[s] - base[s] for s in both])}
            if i == 0:
                a = h["held_out_accuracy"]
                h["clears_aim"] = None if a["n"] < 3 else a["mean"] - a["std"] >= aim
            heads[head] = h
        first = results[(v, seeds[0])]["proxies"][proxy]
        out[v] = {"seeds": seeds, "primary": next(iter(heads)), "heads": heads,
                  "majority_baseline": next(iter(first["heads"].values()))["majority_baseline"],
                  "seconds": spread([results[(v, s)]["proxies"][proxy].get("seconds") for s in seeds])}
    return out


def primary_rows(sweep: dict):
    """For each summarised variant of a sweep.json: (variant entry, its summary, primary head, accuracy, balanced
    accuracy, paired difference from the first variant or None)."""
    ref = sweep["variants"][0]["name"]
    for v in sweep["variants"]:
        s = sweep["summary"].get(v["name"])
        if s is not None:
            h = s["heads"][s["primary"]]
            a = h["held_out_accuracy"]
            yield v, s, h, a, h["held_out_balanced_accuracy"], a.get(f"vs_{ref}")


def render(sweep: dict) -> str:
    """The primary head's table, then every head's mean per variant."""
    aim, ref = sweep["aim"], sweep["variants"][0]["name"]
    lines = [f"# Proxy sweep: {sweep['proxy']}, {sweep['fingerprint'].get('gpu') or 'cpu'}, {sweep['date']}", "",
             (f"Base flags: `{sweep['base']}`; seeds {', '.join(map(str, sweep['seeds']))}; aim {aim:.0%} "
              "(clears: mean - std >= aim over 3 or more seeds)."), "",
             f"| variant | flags | {sweep['primary']} mean ± std | balanced | vs {ref} (paired p) | clears aim |",
             "|---|---|---|---|---|---|"]
    for v, s, h, a, b, d in primary_rows(sweep):
        vs = "–" if d is None or d["mean"] is None else (
            f"{100 * d['mean']:+.2f} pt" + ("" if d["p"] is None else f" ({format_p(d['p'])})"))
        bal = "–" if b["mean"] is None else f"{100 * b['mean']:.2f} %"
        lines.append(f"| {v['name']} | `{' '.join(v['flags']) or '(base)'}` | {100 * a['mean']:.2f} ± "
                     f"{100 * a['std']:.2f} % (n {a['n']}) | {bal} | {vs} | {_yes(h['clears_aim'])} |")
    lines += ["", "Every head, mean held-out accuracy over the seeds:", ""]
    names = list(next(iter(sweep["summary"].values()))["heads"])
    lines += ["| variant | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for v, s in sweep["summary"].items():
        lines.append(f"| {v} | " + " | ".join(f"{100 * s['heads'][n]['held_out_accuracy']['mean']:.2f} %"
                                             for n in names) + " |")
    return "\n".join(lines) + "\n"


def _yes(v: bool | None) -> str:
    return "–" if v is None else ("yes" if v else "no")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["emoji", "mel"], default="emoji", help="which proxy (default emoji)")
    ap.add_argument("--base", default="", help="train_proxies.py flags every run shares (one string)")
    ap.add_argument("--variant", action="append", required=True, metavar="NAME=FLAGS",
                    help="a variant: its name and its train_proxies.py flags beyond --base; repeat; the first is the "
                         "reference the others are paired with")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=1, help="runs at a time (default 1)")
    ap.add_argument("--device", default=None, help="train_proxies.py --device (default: cuda when available)")
    ap.add_argument("--data", default=None, help="data cache folder (default data_cache/)")
    ap.add_argument("--aim", type=float, default=0.85, help="the primary head's held-out accuracy aim (default 0.85)")
    ap.add_argument("--out", required=True, help="result folder")
    ap.add_argument("--weights", default=None, help="where each run's weights go (default: a temporary folder)")
    a = ap.parse_args(argv)
    try:
        variants = [parse_variant(v) for v in a.variant]
    except ValueError as e:
        ap.error(str(e))
    if len({n for n, _ in variants}) != len(variants):
        ap.error("two --variant share a name")
    if a.jobs < 1:
        ap.error(f"--jobs takes 1 or more, not {a.jobs}")
    out = Path(a.out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(exist_ok=True)
    weights = Path(a.weights or tempfile.mkdtemp(prefix="proxy-sweep-"))
    threads = max(1, (os.cpu_count() or 1) // a.jobs)
    todo = []
    for name, flags in variants:
        for seed in a.seeds:
            res = out / "runs" / f"{name}-s{seed}.json"
            if res.is_file():
                continue   # resumed: this run finished before
            cmd = [sys.executable, str(ROOT / "benchmarks" / "train_proxies.py"), "--only", a.only,
                   *shlex.split(a.base), *flags, "--seed", str(seed), "--out", str(weights / f"{name}-s{seed}"),
                   "--results", str(res)]
            cmd += [] if a.data is None else ["--data", a.data]
            cmd += [] if a.device is None else ["--device", a.device]
            todo.append((name, seed, cmd))
    print(f"{len(todo)} runs to go ({len(variants) * len(a.seeds) - len(todo)} done before), {a.jobs} at a time, "
          f"{threads} threads each", flush=True)
    failed = []
    with ThreadPoolExecutor(a.jobs) as pool:
        futures = {pool.submit(run_one, cmd, out / "logs" / f"{name}-s{seed}.log", threads): (name, seed)
                   for name, seed, cmd in todo}
        for k, f in enumerate(as_completed(futures), 1):
            (name, seed), (rc, sec) = futures[f], f.result()
            res = out / "runs" / f"{name}-s{seed}.json"
            acc = json.loads(res.read_text())["proxies"][a.only]["held_out_accuracy"] if rc == 0 and res.is_file() else None
            if acc is None:
                failed.append(f"{name}-s{seed}")
            print(f"[{k}/{len(todo)}] {name} seed {seed}: " + (f"{100 * acc:.2f} %" if acc is not None else
                  f"FAILED rc {rc} (see {out / 'logs' / f'{name}-s{seed}.log'})") + f", {sec:.0f} s", flush=True)
    results = {(name, s): json.loads((out / "runs" / f"{name}-s{s}.json").read_text())
               for name, _ in variants for s in a.seeds if (out / "runs" / f"{name}-s{s}.json").is_file()}
    if not results:
        print("no run finished: nothing to summarise", file=sys.stderr)
        return 1
    names = [n for n, _ in variants]
    summary = summarise(results, names, a.only, a.aim)
    sweep = {"schema": SCHEMA, "date": dt.date.today().isoformat(), "fingerprint": device_fingerprint(a.device),
             "proxy": a.only, "base": a.base, "variants": [{"name": n, "flags": f} for n, f in variants],
             "seeds": a.seeds, "jobs": a.jobs, "threads_per_job": threads, "aim": a.aim,
             "primary": next(iter(summary.values()))["primary"], "summary": summary, "failed": failed,
             "command": " ".join(shlex.quote(x) for x in [Path(sys.argv[0]).name, *(argv or sys.argv[1:])])}
    write_json_atomic(out / "sweep.json", sweep)
    with atomic_path(out / "sweep.md") as tmp:
        tmp.write_text(render(sweep))
    print(render(sweep))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
