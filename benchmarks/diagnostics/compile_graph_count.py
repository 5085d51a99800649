"""How many graphs does the scoring sweep's regional compile build? (issue 21, item 4)

A cold ``ldprune score --compile-blocks`` pays one inductor compilation per distinct graph dynamo
captures; whether instances share one depends on their shapes, not on the device. This counts the
graphs on the CPU with a backend that records each graph and runs it eagerly (no inductor): SD1.5
with random weights, the sweep's latent side (256 px -> 32) at batch 2, each compile region set
of ``scoring.compile.REGIONS``. Two forwards: the second must add no graph (no recompiles).

    python benchmarks/diagnostics/compile_graph_count.py --out benchmarks/results/score_throughput/graph-count-cpu.json

~1 min on 2 CPU cores per region set.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ldprune_deploy.device import device_fingerprint  # noqa: E402
from ldprune_deploy.jsonio import write_json_atomic  # noqa: E402
from ldprune_deploy.models import load_model  # noqa: E402
from ldprune_deploy.scoring.compile import REGIONS, compiled_blocks  # noqa: E402


def count(unet, classes, latent: int) -> dict:
    graphs: list[tuple[int, tuple]] = []

    def backend(gm, example_inputs):
        shapes = tuple(tuple(x.shape) for x in example_inputs if isinstance(x, torch.Tensor))
        graphs.append((len(gm.graph.nodes), shapes))
        return gm.forward

    torch._dynamo.reset()
    x, t = torch.randn(2, 4, latent, latent), torch.tensor([500, 500])
    c = torch.randn(2, 77, unet.config.cross_attention_dim)
    t0 = time.perf_counter()
    with compiled_blocks(unet, classes, backend=backend) as n, torch.no_grad():
        unet(x, t, c)
        first, t1 = len(graphs), time.perf_counter()
        unet(x, t, c)
    return {"regions": list(classes), "blocks_compiled": n, "graphs_first_call": first,
            "graphs_after_second_call": len(graphs), "distinct_graphs": len(set(graphs)),
            "graphs_by_node_count": {str(k): v for k, v in sorted(collections.Counter(g[0] for g in graphs).items())},
            "first_call_s": round(t1 - t0, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--resolution", type=int, default=256)
    a = ap.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    unet, _ = load_model("sd15", device="cpu", dtype=torch.float32, quiet=True)
    unet.eval().requires_grad_(False)
    rows = {name: count(unet, classes, a.resolution // 8) for name, classes in REGIONS.items()}
    for name, r in rows.items():
        print(f"{name}: {r['blocks_compiled']} blocks -> {r['graphs_first_call']} graphs "
              f"({r['distinct_graphs']} distinct by node count and input shapes), second call adds "
              f"{r['graphs_after_second_call'] - r['graphs_first_call']}")
    write_json_atomic(a.out, {"schema": "ldprune.bench.compile_graph_count/1", "model": "sd15", "resolution": a.resolution,
                              "batch": 2, "device": device_fingerprint("cpu"), "regions": rows,
                              "note": "dynamo graphs captured by the regional compile (recording backend, run "
                                      "eagerly): a cold inductor run compiles one per distinct graph"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
