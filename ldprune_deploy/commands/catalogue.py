"""ldprune catalogue: list the prunable operators of a UNet."""

from ..catalogue import build_catalogue, format_table
from ..models import load_model
from ._common import add_model_arg, add_parser, print_json


def register(sub) -> None:
    p = add_parser(sub, "catalogue", "list every operator, its params/FLOPs and legal modifications",
                   "ldprune catalogue --model sd15 --batch 2 --json > sd15-catalogue.json")
    add_model_arg(p)
    p.add_argument("--preset", metavar="P", help="architecture of a bare .safetensors model")
    p.add_argument("--batch", type=int, default=1, help="batch size for the FLOP count (default 1)")
    p.add_argument("--resolution", type=int, help="pixel resolution (default: the model's)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--all", action="store_true", help="also list non-prunable operators in the table")
    p.set_defaults(func=run)


def run(args) -> int:
    unet, info = load_model(args.model, preset=args.preset, device="meta" if info_only(args) else "cpu", quiet=True)
    cat = build_catalogue(unet, info, batch=args.batch, resolution=args.resolution)
    if args.json:
        print_json(cat.to_json())
    else:
        print(format_table(cat, all_ops=args.all))
    return 0


def info_only(args) -> bool:
    # presets need no weights for a catalogue; local models are loaded for real (their
    # width choices depend on weight magnitudes only when pruning, not here)
    from ..presets import PRESETS

    return args.model in PRESETS
