"""``check RUN``: a run, as pass or fail, against thresholds and against a baseline run
(README, "A gate for CI: check"). Exit 0: everything holds; 1: something falls short;
2: bad input."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from loadtests import files
from loadtests.commands.report import resolve_run
from loadtests.errors import SuiteError
from loadtests.paths import REPORTS_DIR
from loadtests.plan import percent
from loadtests.report import gate, run_page
from loadtests.results import regression, store, thresholds
from loadtests.results.models import RunResults


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "check",
        help="gate a run for CI: thresholds and regressions against a baseline (exit 0/1/2)",
        description=(
            "Check RUN against --thresholds FILE (TOML: limits per scenario, variant and "
            "step) and/or against --baseline RUN (a metric regresses when it is worse by "
            "more than its tolerance and the difference is significant). Exit 0 when "
            "everything holds, 1 when something falls short, 2 for bad input."
        ),
    )
    parser.add_argument("run", help="a run directory, a run id under reports/, or 'latest'")
    parser.add_argument("--thresholds", type=Path, metavar="FILE", help="limits, in TOML")
    parser.add_argument("--baseline", metavar="RUN", help="the run to compare against")
    parser.add_argument(
        "--tolerance",
        metavar="METRIC=PERCENT,...",
        help="replace default tolerances, e.g. rps=5%%,p99=10%%,errors=0.5%% "
        "(defaults: rps 10%%, p50/p95/p99 20%%, errors 1 point)",
    )
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML here")
    parser.add_argument(
        "--markdown", type=Path, metavar="FILE",
        help="append a Markdown summary here (e.g. $GITHUB_STEP_SUMMARY)",
    )  # fmt: skip
    parser.set_defaults(handler=handle)


def find_run(text: str) -> Path:
    """A run directory, a run id, or 'latest': the newest run under reports/."""
    if text != "latest":
        found = resolve_run(text)
        if not (found / store.FILENAME).exists():
            raise SuiteError(f"{text} holds no {store.FILENAME}: not a run")
        return found
    found_files = REPORTS_DIR.glob(f"*/{store.FILENAME}") if REPORTS_DIR.is_dir() else []
    runs = [path.parent for path in found_files]
    if not runs:
        raise SuiteError(f"no run under {REPORTS_DIR} for 'latest'")
    # The suite names a run by the second it started: only the runs of the newest second
    # are read (to order any that started in it), so an older document that no longer
    # validates cannot stop a gate on the newest. Directories named otherwise (a baseline
    # copied in by hand) count only when no run is named that way.
    stamps = {run: hit.group() for run in runs if (hit := files.STAMPED.match(run.name))}
    if stamps:
        newest = max(stamps.values())
        runs = [run for run, stamp in stamps.items() if stamp == newest]
    if len(runs) == 1:
        return runs[0]
    return max(runs, key=lambda run: store.load(run).run.started_at)


def tolerances(text: str | None) -> dict[str, regression.Tolerance]:
    if text is None:
        return regression.TOLERANCES
    overrides = {}
    for part in text.split(","):
        metric, sep, value = part.partition("=")
        if not sep or not value.strip().endswith("%"):
            raise SuiteError(f"--tolerance must be METRIC=PERCENT, e.g. p99=10%, got '{part}'")
        share = percent(value)
        if share is None:
            raise SuiteError(f"--tolerance: '{value}' is not a percentage")
        overrides[metric.strip()] = share
    return regression.tolerances_with(overrides)


def verdict(
    data: RunResults, rules: list[thresholds.Rule], baseline: RunResults | None,
    tolerated: dict[str, regression.Tolerance],
) -> gate.Verdict:  # fmt: skip
    found = gate.Verdict(run=data.run.id, baseline=baseline.run.id if baseline else None)
    found.outcomes = thresholds.evaluate(rules, data)
    if baseline is not None:
        found.warnings = regression.comparable(data, baseline)
        found.changes = regression.changes(data, baseline, tolerated)
    return found


def report(found: gate.Verdict, data: RunResults, junit: Path | None, md: Path | None) -> int:
    """Print the verdict, write the CI files; the exit code."""
    labels = run_page.labels_of(data)
    for line in gate.lines(found, labels):
        print(line)
    try:
        if junit is not None:
            files.write_atomically(junit, gate.junit(found, labels))
        if md is not None:
            with md.open("a") as handle:
                handle.write(gate.markdown(found, labels))
    except OSError as exc:
        raise SuiteError(f"cannot write the check's output: {exc}") from None
    return 0 if found.passed else 1


def handle(args: argparse.Namespace) -> int:
    if args.thresholds is None and args.baseline is None:
        raise SuiteError(
            "nothing to check against: give --thresholds FILE, --baseline RUN, or both"
        )
    rules = thresholds.load(args.thresholds) if args.thresholds else []
    tolerated = tolerances(args.tolerance)
    data = store.load(find_run(args.run))
    baseline = store.load(find_run(args.baseline)) if args.baseline else None
    return report(verdict(data, rules, baseline, tolerated), data, args.junit, args.markdown)
