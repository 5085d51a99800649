"""How far did a training segment move a teacher's weights? (issue 23: why the curves jump)

Warm restarts of the emoji teachers end in proxy-FIDs that jump between segments by more than the
sampling-seed spread (emoji-t2i: 137.2 ± 2.3 after a 0.1x-lr segment, 154.4 ± 1.5 after 3 600
more steps at 0.03x), while ``metric_noise.py`` shows the metric moving by tens of points for
random weight changes of a few 1e-3 (relative). This measures what each segment did to the
weights, on the same scale, from the segment-end weight files (fp16 safetensors, compared in fp32):

  - ``relative_l2``: ||w_b - w_a|| / ||w_a|| over every floating-point tensor together;
  - ``median_relative``: the median over elements of |w_b - w_a| / |w_a| (a perturbation
    ``w * (1 + s * N(0, 1))`` gives ~0.67 s here and ~s as ``relative_l2``).

    python benchmarks/diagnostics/weight_drift.py --out <json> --pair LABEL_A=DIR_A LABEL_B=DIR_B ...

Each DIR is a saved diffusers UNet folder (``diffusion_pytorch_model.safetensors`` inside); the
pairs are compared in the order given. Seconds on a CPU.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ldprune_deploy.device import device_fingerprint  # noqa: E402
from ldprune_deploy.jsonio import write_json_atomic  # noqa: E402

WEIGHTS = "diffusion_pytorch_model.safetensors"


def drift(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict[str, float]:
    """``relative_l2`` and ``median_relative`` from state ``a`` to state ``b`` (floating-point
    tensors only; both states must hold the same tensors with the same shapes)."""
    if a.keys() != b.keys():
        raise ValueError(f"the two weight files hold different tensors: {sorted(a.keys() ^ b.keys())[:5]}")
    keys = [k for k in a if a[k].is_floating_point()]
    for k in keys:
        if a[k].shape != b[k].shape:
            raise ValueError(f"{k}: shape {tuple(a[k].shape)} vs {tuple(b[k].shape)}; not one architecture")
    wa = torch.cat([a[k].double().flatten() for k in keys])
    wb = torch.cat([b[k].double().flatten() for k in keys])
    nz = wa != 0   # an element that is exactly 0 has no relative change
    rel = ((wb - wa)[nz] / wa[nz]).abs()
    return {"relative_l2": float((wb - wa).norm() / wa.norm()), "median_relative": float(rel.median()),
            "elements": int(wa.numel())}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pair", nargs=2, action="append", metavar="LABEL=DIR", required=True,
                    help="two segment ends, e.g. --pair t2i-de-r2=runs/a/emoji-t2i t2i-de-r3=runs/b/emoji-t2i")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    rows = []
    for pair in a.pair:
        ends = []
        for spec in pair:
            label, sep, folder = spec.partition("=")
            path = Path(folder) / "unet" / WEIGHTS if (Path(folder) / "unet").is_dir() else Path(folder) / WEIGHTS
            if not sep or not path.is_file():
                ap.error(f"--pair {spec}: expected LABEL=DIR with {WEIGHTS} in DIR or DIR/unet")
            ends.append((label, path))
        (la, pa), (lb, pb) = ends
        d = drift(load_file(str(pa)), load_file(str(pb)))
        rows.append({"from": la, "to": lb, "from_sha256": _sha(pa), "to_sha256": _sha(pb), **d})
        print(f"{la} -> {lb}: relative L2 {d['relative_l2']:.2e}, median relative {d['median_relative']:.2e}")
    write_json_atomic(Path(a.out), {"schema": "ldprune.bench.weight_drift/1", "device": device_fingerprint("cpu"),
                                    "weights": "fp16 safetensors compared in fp64", "pairs": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
