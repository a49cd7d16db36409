"""Build the shipped models from their recipes in ``configs/shipped.toml`` (see docs/models.md,
"How the shipped models are built").

    python tools/build_models.py --list
    python tools/build_models.py --only numu-Ar40-inclusive [--out build/models]
    python tools/build_models.py                       # every shipped model, parents first
    python tools/build_models.py --check numu-Ar40-inclusive
    python tools/build_models.py --only NAME --install # the only way to write into the package

Models go to ``--out`` (default ``build/models``), laid out like ``src/aiva/data/models``; the
package is written only with ``--install``. ``--check NAME`` rebuilds NAME in a temporary
folder and compares its freshly measured metrics with the shipped card's (tolerances and their
reasons: the ``[check]`` tables of the recipe file); exit 0 when all agree, 1 when not, 2 on bad
input.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))  # this checkout's aiva, also without an editable install


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", type=Path, default=ROOT / "configs" / "shipped.toml")
    ap.add_argument("--list", action="store_true", help="list the recipes (kind, data, seed, parent, unknowns)")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="build these models only")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "models", help="output folder (default build/models)")
    ap.add_argument("--rebuild-parents", action="store_true",
                    help="build parent recipes too instead of taking the parent from the package or git by SHA-256")
    ap.add_argument("--install", action="store_true", help="copy the built models into src/aiva/data/models")
    ap.add_argument("--check", metavar="NAME", help="rebuild NAME in a temporary folder, compare with the shipped card")
    ap.add_argument("--keep", action="store_true", help="with --check: keep the temporary folder")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)

    from aiva.build import (Builder, build_order, check_model, describe, format_rows, install, load_recipes,
                            shipped_recipes)
    from aiva.cli import _setup_logging
    from aiva.errors import AivaInputError

    _setup_logging()  # the library logs; progress to stdout, warnings to stderr

    try:
        recipes = load_recipes(args.recipes)
        if args.list:
            for r in describe(recipes):
                flag = "" if r["ship"] else "  (intermediate, not shipped)"
                print(f"{r['name']:<30s} {r['kind']:<15s} {r['family']:<6s} data: {r['data']}; seed {r['seed']}; "
                      f"parent {r['parent'] or '-'}; "
                      + (f"~{r['cpu_minutes']} CPU min; " if r["cpu_minutes"] else "") + f"writes {r['writes']}{flag}")
                if r["unknown"]:
                    print(f"{'':<30s} unknown: {' '.join(r['unknown'].split())}")
            return 0
        if args.check:
            res = check_model(recipes, args.check, keep=args.keep, progress=not args.quiet)
            print(format_rows(res["rows"]))
            print(f"{args.check}: {'PASS' if res['ok'] else 'FAIL'} (rebuilt in {res['wall_s'] / 60:.1f} min"
                  + (f", kept in {res['out']}" if args.keep else "") + ")")
            return 0 if res["ok"] else 1
        names = args.only or shipped_recipes(recipes)
        order = build_order(recipes, names, with_parents=args.rebuild_parents)
        b = Builder(recipes, args.out, root=ROOT, rebuild_parents=args.rebuild_parents, progress=not args.quiet)
        for n in order:
            b.build(n)
        for n in order:
            print(f"{n}: {b.built[n]} ({b.timings[n] / 60:.1f} min)")
        if args.install:
            install(args.out, order, recipes)
        return 0
    except AivaInputError as exc:
        print(f"build_models: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
