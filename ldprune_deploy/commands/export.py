"""ldprune export: UNet -> checked ONNX folder (and, with --pipeline, a whole ORT pipeline folder)."""

from __future__ import annotations

from ._common import add_model_args, add_parser, print_json


def register(sub) -> None:
    p = add_parser(sub, "export", "export a (pruned) UNet to ONNX, numerically checked against PyTorch",
                   "ldprune export --model sd15-pruned/ --format onnx --precision fp16 "
                   "--batch 1:2:8 --resolution 256:512:1024 -o export/sd15-pruned/")
    add_model_args(p)
    p.add_argument("--format", default="onnx", choices=["onnx"], help="output format (TensorRT engines are "
                   "built from the ONNX by the tensorrt runner / build_engine)")
    p.add_argument("--precision", default="fp16", choices=["fp16", "fp32"], help="default fp16")
    p.add_argument("--batch", default="1:2:8", metavar="MIN:OPT:MAX", help="dynamic batch range (default 1:2:8)")
    p.add_argument("--resolution", metavar="MIN:OPT:MAX",
                   help="pixel resolution range; one value = fixed (default: the model's resolution, fixed)")
    p.add_argument("--exporter", default="torchscript", choices=["torchscript", "dynamo"],
                   help="torch exporter (default torchscript: ORT's UNet fusions match its graphs)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 17; dynamo uses >= 18)")
    p.add_argument("--keep-fp32", default="", metavar="NODE[,NODE]",
                   help="node names, op types (e.g. Softmax) or operator ids kept in fp32 in an fp16 export; "
                   "'auto' keeps the nodes the overflow check names")
    p.add_argument("--optimize", choices=["cuda", "cpu"],
                   help="apply ONNX Runtime's UNet fusions for this provider (on the fp32 graph, before fp16)")
    p.add_argument("--no-check", action="store_true", help="skip the numeric check against PyTorch (not advised)")
    p.add_argument("--no-range-scan", action="store_true",
                   help="fp16: skip the scan of fp32 intermediates for values beyond fp16's range (one extra ORT run)")
    p.add_argument("--check-batch", type=int, help="batch of the numeric check (default: opt batch, max 2)")
    p.add_argument("--check-device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where the numeric check runs: PyTorch's fp32 reference and ONNX Runtime "
                        "(auto: CUDA where torch and onnxruntime-gpu both have it, else CPU)")
    p.add_argument("--pipeline", metavar="DIR",
                   help="also write an ONNX pipeline folder (see export/README.md: what optimum can load)")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder, e.g. export/<name>/")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..export import ExportConfig, export, read_manifest
    from ..models import load_model

    model = args.model
    if args.preset:
        model, _ = load_model(args.model, preset=args.preset, quiet=True)
    cfg = ExportConfig(out_dir=args.out, format=args.format, precision=args.precision, batch=args.batch,
                       resolution=args.resolution, exporter=args.exporter, opset=args.opset,
                       keep_fp32=[k for k in args.keep_fp32.split(",") if k.strip()], check=not args.no_check, range_scan=not args.no_range_scan,
                       check_batch=args.check_batch, check_device=args.check_device, optimize=args.optimize, overwrite=args.overwrite)
    out = export(model, cfg)
    man = read_manifest(out)
    if args.pipeline:
        from ..export.pipeline import write_pipeline

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
