"""ldprune run: a recipe through every stage, skipping what is unchanged."""

from __future__ import annotations

from ._common import add_parser

DESCRIPTION = """\
Run a deployment recipe (YAML) through profile -> score -> plan (verify where the runner
exists here) -> prune -> distill -> export -> evaluate. Each stage writes DIR/<stage>/ and a
DIR/<stage>/stage.json holding the hash of its parameters and of its input artefacts' content:
a stage whose hash is unchanged is skipped, an interrupted stage is resumed (profile, score and
distill continue where they stopped), a changed one reruns with the stages after it whose
inputs change. The recipe is validated completely (keys, types, files, profile match, budget
feasibility) before any stage starts. Exit code: 0, or 3 when the evaluator's gate fails
(2 for a bad recipe). Recipe keys: docs/recipes.md."""

EXAMPLE = """ldprune run export/recipes/tiny-cpu.yaml -o runs/tiny
  ldprune run export/recipes/sd15-70pct.yaml -o runs/sd15 --until-stage export
  ldprune run export/recipes/sd15-70pct.yaml -o runs/sd15 --from-stage distill
  ldprune run export/recipes/tiny-cpu.yaml --check        # validate only"""


def register(sub) -> None:
    p = add_parser(sub, "run", "run a recipe end to end: profile, score, plan, prune, distill, export, evaluate",
                   EXAMPLE, description=DESCRIPTION)
    p.add_argument("recipe", help="recipe YAML (shipped ones: export/recipes/*.yaml)")
    p.add_argument("-o", "--output", metavar="DIR", help="run folder (default: runs/<recipe name>)")
    p.add_argument("--from-stage", metavar="S", help="rerun from stage S (earlier stages must be complete in DIR)")
    p.add_argument("--until-stage", metavar="S", help="stop after stage S")
    p.add_argument("--force", action="store_true", help="rerun every selected stage even if unchanged")
    p.add_argument("--check", action="store_true", help="validate the recipe against files and this machine, "
                   "print the resolved settings and exit")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..pipeline import load_recipe, run_pipeline

    recipe = load_recipe(args.recipe)
    if args.check:
        import json

        print(json.dumps({"model": recipe.model, **recipe.sections}, indent=2, default=str))
        for note in recipe.notes:
            print(f"note: {note}")
        print(f"recipe {args.recipe}: OK")
        return 0
    out = args.output or f"runs/{recipe.name}"
    res = run_pipeline(recipe, out, from_stage=args.from_stage, until_stage=args.until_stage, force=args.force)
    print(f"run folder: {res.out} ({res.wall_s:.1f} s)")
    return res.exit_code
