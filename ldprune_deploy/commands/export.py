"""ldprune export: UNet -> checked ONNX folder (and, with --pipeline, a whole ORT pipeline folder)."""

from __future__ import annotations

from ..errors import LdpruneError
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
                   help="also write an ONNX Stable Diffusion folder in optimum-onnx's layout (text encoder, UNet, "
                        "VAE encoder/decoder, tokenizer, scheduler; see exporter/README.md)")
    p.add_argument("--pipeline-from", metavar="PIPE_DIR",
                   help="diffusers pipeline folder whose text encoder, VAE, tokenizer and scheduler go with the UNet "
                        "(default: --model itself when it is a pipeline folder)")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..exporter import export, read_manifest

    if args.pipeline_from and not args.pipeline:
        raise LdpruneError("--pipeline-from without --pipeline", "add --pipeline DIR (the ONNX folder to write)")
    cfg = from_args(ExportConfig, args)
    if args.pipeline and cfg.controlnet:
        from ..exporter.pipeline import refuse_controlnet

        refuse_controlnet()
    out = export(args.model, cfg)
    man = read_manifest(out)
    if args.pipeline:
        from ..exporter.pipeline import write_pipeline

        pipe = write_pipeline(out, args.pipeline, source=args.pipeline_from, overwrite=args.overwrite)
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
    if args.pipeline:
        parts = sorted(p.name for p in pipe.iterdir() if (p / "model.onnx").is_file())
        complete = (pipe / "model_index.json").is_file()
        print(f"  ONNX pipeline folder (optimum-onnx layout, {'complete' if complete else 'UNet only'}): {pipe} "
              f"[{', '.join(parts)}]; see {pipe / 'PIPELINE.md'}")
    return 0
