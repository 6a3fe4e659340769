"""``report RUN`` and ``compare RUN_A RUN_B``: HTML reports from results.json files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from loadtests.errors import SuiteError
from loadtests.paths import REPORTS_DIR
from loadtests.report import capacity_page, compare_page, index_page, run_page
from loadtests.results import capacity


def add_parser(commands: Any) -> None:
    report = commands.add_parser(
        "report",
        help="rebuild a run's HTML report (and reports/index.html) from its results.json "
        "(or a capacity search's from its capacity.json)",
    )
    report.add_argument("run", help="a run directory, or a run id under reports/")
    report.set_defaults(handler=handle_report)
    compare = commands.add_parser(
        "compare",
        help="put two runs side by side (e.g. PgBouncer off vs on)",
        description="Write reports/compare-A-vs-B/index.html with the per-step differences.",
    )
    compare.add_argument("run_a", help="run A (the baseline): a directory or a run id")
    compare.add_argument("run_b", help="run B: a directory or a run id")
    compare.add_argument("--out", type=Path, help="output directory (default under reports/)")
    compare.set_defaults(handler=handle_compare)


def resolve_run(text: str) -> Path:
    for candidate in (Path(text), REPORTS_DIR / text):
        if candidate.is_dir():
            return candidate.resolve()
    raise SuiteError(f"no run directory '{text}' (neither a path nor a run id under {REPORTS_DIR})")


def handle_report(args: argparse.Namespace) -> int:
    run_dir = resolve_run(args.run)
    is_capacity = (run_dir / capacity.FILENAME).exists()
    page = capacity_page.build(run_dir) if is_capacity else run_page.build(run_dir)
    print(f"report: {page}")
    if run_dir.parent == REPORTS_DIR.resolve():
        print(f"index: {index_page.build(REPORTS_DIR)}")
    return 0


def handle_compare(args: argparse.Namespace) -> int:
    run_a, run_b = resolve_run(args.run_a), resolve_run(args.run_b)
    if run_a == run_b:
        raise SuiteError("compare needs two different runs")
    out = args.out or REPORTS_DIR / f"compare-{run_a.name}-vs-{run_b.name}"
    if out.exists() and not out.is_dir():
        raise SuiteError(f"--out {out} exists and is not a directory")
    try:
        page = compare_page.build(run_a, run_b, out.resolve())
    except OSError as exc:
        raise SuiteError(f"cannot write the comparison to {out}: {exc.strerror}") from None
    print(f"comparison: {page}")
    if out.resolve().parent == REPORTS_DIR.resolve():
        index_page.build(REPORTS_DIR)
    return 0
