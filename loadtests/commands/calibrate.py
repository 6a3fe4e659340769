"""``calibrate RUN_DIR...``: how the verdict rules behaved on A/A runs (false positives)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from loadtests.errors import SuiteError
from loadtests.results import calibration, store
from loadtests.results.comparisons import ALPHA


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "calibrate",
        help="count the verdicts' false positives in A/A runs (identical variants)",
        description=(
            "Read runs that ran one configuration under several names (loadtests/"
            "aa-variants.toml) and count, over all of them, the primary comparisons of a copy "
            "with the baseline that came out significant (false positives; each run's primary "
            "comparisons are held to 5% together) and the exploratory cells whose own interval "
            "excluded no difference (about 5% expected). Exit code 1 when any was found."
        ),
    )
    parser.add_argument("runs", nargs="+", type=Path, help="report directories of A/A runs")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    checked = [calibration.check(store.load(path)) for path in args.runs]
    usable = [c for c in checked if c.primary]
    if not usable:
        raise SuiteError(
            "no A/A comparison found: the runs need a copy of their baseline under another "
            "name (e.g. --variants loadtests/aa-variants.toml --services flask,flask:copy)"
        )
    for found in checked:
        what = (
            f"{found.primary} primary comparisons of {', '.join(found.copies)} with the "
            f"baseline, {len(found.false_positives)} significant; {found.exploratory_hits} of "
            f"{found.exploratory} exploratory cells excluded no difference"
            if found.primary
            else "no copy of the baseline: nothing to check"
        )
        print(f"{found.run}: {what}")
        for line in found.false_positives:
            print(f"  false positive: {line}")
    primary = sum(c.primary for c in usable)
    wrong = sum(len(c.false_positives) for c in usable)
    explored = sum(c.exploratory for c in usable)
    hits = sum(c.exploratory_hits for c in usable)
    print(
        f"\nover {len(usable)} A/A run(s): {wrong} false positive(s) in {primary} primary "
        f"comparisons ({wrong / primary:.1%}; each run's family is held to {ALPHA:.0%} "
        f"together); exploratory cells excluding no difference: {hits} of {explored} "
        f"({hits / explored if explored else 0:.1%}; about {ALPHA:.0%} expected, never "
        "coloured as verdicts)"
    )
    return 1 if wrong else 0
