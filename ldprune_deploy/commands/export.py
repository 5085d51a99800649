"""ldprune export: UNet -> checked ONNX folder (and, with --pipeline, a whole ORT pipeline folder)."""

from __future__ import annotations

from ..exporter.config import ExportConfig
from ..params import add_arguments, from_args
from ._common import add_model_arg, add_parser, print_json


def register(sub) -> None:
    p = add_parser(sub, "export", "export a (pruned) UNet to ONNX, numerically checked against PyTorch",
                   "ldprune export --model sd15-pruned/ --precision fp16 "
                   "--batch 1:2:8 --resolution 256:512:1024 -o export/sd15-pruned/")
    add_model_arg(p)
    add_arguments(p, ExportConfig)
    p.add_argument("--pipeline", metavar="DIR",
                   help="also write an ONNX pipeline folder (see export/README.md: what optimum can load)")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..exporter import export, read_manifest

    out = export(args.model, from_args(ExportConfig, args))
    man = read_manifest(out)
    if args.pipeline:
        from ..exporter.pipeline import write_pipeline

        write_pipeline(out, args.pipeline, overwrite=args.overwrite)
    if args.json:
        print_json(man)
        return 0
    c = man.get("check") or {}
    size = sum(man["files"].values()) / 2**20
    print(f"exported {man['model']['name']} -> {out} ({man['precision']}, {man['exporter']}, opset {man['opset']}, "
          f"{size:.1f} MiB{', external data' if man['external_data'] else ''})")
    print(f"  batch {man['ranges']['batch']}  resolution {man['ranges']['resolution']}  "
          f"operators tagged: {len(man['operators'])}  fp32 nodes kept: {len(man['keep_fp32'])}")
    if c:
        print(f"  numeric check vs PyTorch fp32 ({c['provider']}, {c['shapes'].get('sample')}): "
              f"max abs {c['max_abs']:.3g}, rel L2 {c['rel_l2']:.3g}, cosine {c['cosine']:.6f}: passed")
    else:
        print("  numeric check skipped (--no-check)")
    print(f"  times: {man['timings']}")
    return 0
