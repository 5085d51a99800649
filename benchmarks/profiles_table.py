"""Write profiles/README.md: one row per profile JSON (device, date, latency, methods, predictor error).

    python3 benchmarks/profiles_table.py --dir profiles --accuracy benchmarks/results/predictor_accuracy*.json

The predictor error comes from the profile's own ``--check-additivity`` run and from any
predictor-accuracy JSON (benchmarks/predictor_accuracy.py) measured on that profile.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path



def _load(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return None
    return data if isinstance(data, dict) else None


def _err_cell(summary: dict | None, method: str) -> str:
    by = (summary or {}).get(method)
    if not by:
        return ""
    return " / ".join(f"{v['median_err'] * 100:.1f}" for _, v in sorted(by.items())) + f" % (n={min(v['n'] for v in by.values())})"


def rows(folder: Path, accuracy: list[dict]) -> list[list[str]]:
    out = []
    for path in sorted(folder.glob("*.json")):
        prof = _load(path)
        if not prof or not str(prof.get("schema", "")).startswith("ldprune.profile/"):
            continue
        dev = prof.get("device", {})
        method = prof.get("default_method", "")
        acc = next((a for a in accuracy if Path(a.get("profile", "")).name == path.name), None)
        full = prof["full_latency_ms"]
        out.append([
            f"[{path.name}]({path.name})",
            str(dev.get("gpu") or f"CPU {dev.get('cpu', '')}"),
            str(dev.get("date", ""))[:10],
            f"{prof.get('model')} {prof.get('dtype')} b{prof.get('batch')} {prof.get('resolution')}px",
            str(prof.get("backend")),
            f"{full['median_ms']:.2f} (p10 {full['p10_ms']:.2f}, p90 {full['p90_ms']:.2f})",
            ", ".join(prof.get("methods", [])) + f" (default {method})",
            f"{prof.get('n_candidates')}",
            f"{prof.get('wall_time_s', 0):.0f} s"
            + (f" (isolated {prof['method_wall_s']['isolated']:.1f} s)" if "isolated" in (prof.get("method_wall_s") or {}) else ""),
            _err_cell(acc["summary"] if acc else prof.get("additivity"), method),
        ])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default="profiles", help="folder of profile JSON files")
    ap.add_argument("--accuracy", nargs="*", default=[], help="predictor-accuracy JSON files")
    ap.add_argument("-o", "--output", help="default: DIR/README.md")
    args = ap.parse_args()
    folder = Path(args.dir)
    accuracy = [a for a in (_load(Path(p)) for p in args.accuracy) if a]
    head = ["file", "device", "date", "model", "backend", "full latency ms", "methods", "candidates", "wall time",
            "predictor median error 25/50/75 % (default method)"]
    table = [head, ["---"] * len(head)] + rows(folder, accuracy)
    text = ("# Measured profiles\n\nWritten by `benchmarks/profiles_table.py` from the JSON files in this folder "
            "(produced by `benchmarks/profile_all.py`). Latency: median of n timed calls; predictor error: "
            "|full − Σ savings − measured| / measured over random plans modifying 25/50/75 % of operators "
            "(`benchmarks/predictor_accuracy.py`, else the profile's own `--check-additivity`). "
            "Weights are random (latency does not depend on their values). Profiles whose date is before "
            "2026-12-03 (the H100 rows) were measured before every command shared one timing path (settled "
            "device, paired ablation): they are kept as history, and a profile is only ever used on the GPU "
            "it was measured on.\n\n"
            + "\n".join("| " + " | ".join(r) + " |" for r in table) + "\n")
    out = Path(args.output) if args.output else folder / "README.md"
    out.write_text(text)
    print(f"wrote {out} ({len(table) - 2} profiles)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
