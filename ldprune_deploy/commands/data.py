"""ldprune data: build the offline quality data sets and their caption embeddings."""

from __future__ import annotations

from pathlib import Path

from ..errors import LdpruneError
from ._common import add_parser, print_json


def register(sub) -> None:
    p = add_parser(sub, "data", "build the offline data sets (emoji images, GM notes) and caption embeddings",
                   "ldprune data emoji && ldprune data notes && ldprune data embed && "
                   "ldprune data distill-set --data emoji --embeddings data_cache/emoji-emb.safetensors "
                   "-o data_cache/emoji-train.safetensors")
    dsub = p.add_subparsers(dest="data_command", metavar="WHAT", required=True)
    e = dsub.add_parser("emoji", help="Noto Color Emoji glyphs at 64x64 and 32x32 with Unicode-name captions")
    n = dsub.add_parser("notes", help="General-MIDI notes (fluidsynth) as 64x64 log-mel spectrograms")
    for q in (e, n):
        q.add_argument("--out", metavar="DIR", help="cache folder (default data_cache/ or $LDPRUNE_DATA_CACHE)")
        q.add_argument("--limit", type=int, metavar="N", help="build only N items (a test slice)")
    n.add_argument("--workers", type=int, help="parallel fluidsynth processes (default: CPU count)")
    native = ("build with the code paths this CPU picks, on every core (faster; the file's bytes then depend on "
              "the CPU); default: baseline code paths, single-threaded numerics, so other x86-64 CPUs rebuild the same "
              "bytes")
    n.add_argument("--native-numerics", action="store_true", help=native)
    m = dsub.add_parser("embed", help="MiniLM caption embeddings as an EmbeddingFile (.safetensors)")
    m.add_argument("--captions", metavar="FILE",
                   help="emoji .npz (its captions) or a text file, one caption per line "
                        "(default data_cache/emoji.npz)")
    m.add_argument("--field", default="captions", choices=["captions", "cldr_names"],
                   help="which .npz text to embed (default captions = Unicode names)")
    m.add_argument("--text-len", type=int, default=None, help="tokens per caption (default 32)")
    m.add_argument("--dense", action="store_true",
                   help="write the dense EmbeddingFile layout (fp16 (N, L, 384); 90 MB for all emoji) "
                        "instead of the compact int8 one (~20 MB, read by conditioning.open_embeddings)")
    m.add_argument("--native-numerics", action="store_true", help=native)
    m.add_argument("-o", "--output", metavar="FILE", help="default: <captions folder>/emoji-emb.safetensors")
    d = dsub.add_parser("distill-set", help="the training split as the distill stage's pre-encoded .safetensors "
                        "(latents in the teachers' model space, dense caption embeddings)",
                        description="example: ldprune data distill-set --data emoji --embeddings "
                                    "data_cache/emoji-emb.safetensors -o data_cache/emoji-train.safetensors")
    d.add_argument("--data", required=True, choices=["emoji", "notes"], help="which cached data set")
    d.add_argument("--embeddings", metavar="FILE",
                   help="caption embeddings from `ldprune data embed` (compact or dense; emoji only; "
                        "needed for the text-conditional teacher)")
    d.add_argument("--cache", metavar="DIR", help="cache folder (default data_cache/ or $LDPRUNE_DATA_CACHE)")
    d.add_argument("--limit", type=int, metavar="N", help="use the slice built with `ldprune data ... --limit N`")
    d.add_argument("-o", "--output", required=True, metavar="FILE", help="output .safetensors")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.data_command == "emoji":
        from ..quality.emoji import build_emoji

        _, info = build_emoji(args.out, args.limit)
    elif args.data_command == "notes":
        from ..quality.notes import write_notes

        info = write_notes(args.out, args.limit, workers=args.workers, portable=not args.native_numerics)
    elif args.data_command == "distill-set":
        from ..quality.export import export_distill_set

        info = export_distill_set(args.data, args.output, embeddings=args.embeddings, cache=args.cache,
                                  limit=args.limit)
    else:
        info = _embed(args)
    print_json(info)
    return 0


def _embed(args) -> dict:
    from ..quality.common import cache_dir
    from ..quality.text import TEXT_LEN, write_embedding_file

    src = Path(args.captions) if args.captions else cache_dir(None) / "emoji.npz"
    if not src.is_file():
        raise LdpruneError(f"caption source not found: {src}", "run `ldprune data emoji` or pass --captions FILE")
    if src.suffix == ".npz":
        import numpy as np

        with np.load(src, allow_pickle=False) as z:
            if args.field not in z.files:
                raise LdpruneError(f"{src} has no '{args.field}' array", "pass an emoji .npz from `ldprune data emoji`")
            prompts = [str(c) for c in z[args.field]]
    else:
        prompts = [l.strip() for l in src.read_text().splitlines() if l.strip()]
    out = Path(args.output) if args.output else src.with_name(f"{src.stem}-emb.safetensors")
    return write_embedding_file(prompts, out, args.text_len or TEXT_LEN, source=f"{src.name}:{args.field}",
                                compact=not args.dense, portable=not args.native_numerics)
