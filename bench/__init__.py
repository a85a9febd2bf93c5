"""Benchmarks: one command each (`python -m bench.<name>`), ratios to a floor of the same run."""

import argparse
import json


def command(doc: str, argv, *, count: str, default: int, minimum: int, what: str,
            measure, show) -> int:
    """Run a bench's command line: `--<count> N` (at least `minimum`) and `--json`.

    `measure(n)` returns the figures; they are printed by `show(figures)`, or as JSON.
    """
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument(f"--{count}", type=int, default=default,
                        help=f"{what} (default {default})")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    args = parser.parse_args(argv)
    n = getattr(args, count)
    if n < minimum:
        parser.error(f"--{count} must be at least {minimum}")
    figures = measure(n)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        show(figures)
    return 0
