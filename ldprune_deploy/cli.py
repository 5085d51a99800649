"""``ldprune`` command line: one subcommand per stage, discovered from ``ldprune_deploy.commands``.

Each module in ``commands/`` defines ``register(subparsers)`` that adds its parser and sets
``func`` (called with the parsed namespace, returns an exit code). Errors the user can fix
(``LdpruneError``) print one line and exit 2 (3 for a failed gate); ``--debug`` shows the
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys

from .errors import LdpruneError

EPILOG = """examples:
  ldprune demo                                   # every stage on a tiny model, on this CPU
  ldprune catalogue --model sd15                 # what can be pruned in SD1.5
  ldprune prune --model sd15 --plan plan.json -o sd15-pruned/
"""


def build_parser() -> argparse.ArgumentParser:
    from . import __version__, commands

    parser = argparse.ArgumentParser(
        prog="ldprune", description="Make a diffusion UNet fit a latency budget on a target GPU: "
        "profile, score, plan, prune, distill, export, evaluate.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"ldprune-deploy {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in sorted(m.name for m in pkgutil.iter_modules(commands.__path__)):
        if not mod.startswith("_"):
            importlib.import_module(f"{commands.__name__}.{mod}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = args.debug or bool(os.environ.get("LDPRUNE_DEBUG"))
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)s: %(message)s" if not debug else "%(levelname)s %(name)s: %(message)s")
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except LdpruneError as e:
        if debug:
            raise
        # one line, problem then fix, so it reads well in CI logs and greps cleanly
        fix = f" (fix: {e.fix})" if e.fix else ""
        print(f"ldprune {args.command}: error: {e.message}{fix}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"ldprune {args.command}: interrupted; finished work was saved where the stage checkpoints",
              file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
