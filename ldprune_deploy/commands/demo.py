"""ldprune demo: run the pipeline end to end on the embedded tiny model, on CPU."""

from ._common import add_parser


def register(sub) -> None:
    p = add_parser(sub, "demo", "run every stage on the embedded tiny model on this CPU (seconds)",
                   "ldprune demo -o /tmp/ldprune-demo")
    p.add_argument("-o", "--output", help="folder for the artefacts (default: a new temp folder)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..demo import run_demo

    r = run_demo(args.output)
    print(f"ldprune demo on {r['model']} (random weights, CPU)")
    print(f"  catalogue : {r['operators']} prunable operators, {r['candidates']} candidate modifications")
    print(f"  plan      : {r['modified']} operators modified (FLOP-greedy, 30 % of FLOPs)")
    print(f"  params    : {r['params_m'][0]:.2f}M -> {r['params_m'][1]:.2f}M")
    print(f"  CPU batch 2 latency: {r['cpu_ms'][0]:.1f} ms -> {r['cpu_ms'][1]:.1f} ms")
    print(f"  save/load round trip exact: {r['round_trip_exact']}")
    for k, v in r["artefacts"].items():
        print(f"  {k:<10}: {v}")
    print(f"done in {r['wall_s']:.1f} s")
    return 0 if r["round_trip_exact"] else 1
