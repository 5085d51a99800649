"""ldprune demo: `ldprune run` on the packaged emoji-cpu recipe (or tiny-cpu with --tiny), every stage on this CPU."""

from ._common import add_parser

DESCRIPTION = """\
Run every stage (profile on this CPU, LD-Pruner scores, latency-aware plan, surgery, data-free
distillation, ONNX export checked with ONNX Runtime, evaluation with the budget gate) on the
trained emoji teacher of the quality benchmark (an unconditional UNet2DModel, 64 px emoji), in
about two minutes on two cores; the report shows teacher and pruned + distilled emoji from the
same seeds side by side. Same as `ldprune run` on the packaged emoji-cpu.yaml (a copy of
export/recipes/emoji-cpu.yaml). --tiny runs tiny-cpu.yaml instead: a tiny random-weight UNet in
well under a minute. Prints a summary: operators modified, predicted and measured latency on
this CPU, the quality metric with the extractor it used, the report path."""


def register(sub) -> None:
    p = add_parser(sub, "demo", "run every stage on the trained emoji teacher on this CPU (about two minutes)",
                   "ldprune demo -o /tmp/ldprune-demo", description=DESCRIPTION)
    p.add_argument("-o", "--output", help="run folder (default: a new temp folder); rerunning into the same "
                   "folder skips the unchanged stages")
    p.add_argument("--tiny", action="store_true", help="the tiny random-weight UNet instead (well under a minute)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..demo import run_demo, summary_lines

    s = run_demo(args.output, tiny=args.tiny)
    print(f"ldprune demo: {s['model']}{' (random weights)' if s['random_weights'] else ''}, every stage on this CPU")
    for line in summary_lines(s):
        print(line)
    print(f"done in {s['wall_s']:.1f} s (run folder {s['out']})")
    return s["exit_code"]
