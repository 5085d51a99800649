"""ldprune demo: `ldprune run` on the packaged tiny-cpu recipe, every stage on this CPU."""

from ._common import add_parser

DESCRIPTION = """\
Run every stage (profile on this CPU, LD-Pruner scores, latency-aware plan verified on this
CPU, surgery, data-free distillation, ONNX export checked with ONNX Runtime, evaluation with
the budget gate) on the embedded tiny UNet2DModel with random weights, in about a minute on
two cores. Same as `ldprune run` on the packaged tiny-cpu.yaml (a copy of
export/recipes/tiny-cpu.yaml). Prints a summary: operators modified, predicted vs measured
latency on this CPU, the quality metric with the extractor it used, the report path."""


def register(sub) -> None:
    p = add_parser(sub, "demo", "run every stage on the embedded tiny model on this CPU (about a minute)",
                   "ldprune demo -o /tmp/ldprune-demo", description=DESCRIPTION)
    p.add_argument("-o", "--output", help="run folder (default: a new temp folder); rerunning into the same "
                   "folder skips the unchanged stages")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..demo import run_demo, summary_lines

    s = run_demo(args.output)
    print("ldprune demo: tiny-uncond (random weights), every stage on this CPU")
    for line in summary_lines(s):
        print(line)
    print(f"done in {s['wall_s']:.1f} s (run folder {s['out']})")
    return s["exit_code"]
