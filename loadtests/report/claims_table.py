"""The terminal table of a claims run, from claims.json: a claim per row, its rules below."""

from __future__ import annotations

import textwrap
from collections import Counter

from loadtests.report.fmt import show
from loadtests.results.claims import (
    CheckResult,
    ClaimResult,
    ClaimsDocument,
    ClaimsRun,
    Interaction,
)

CLAIM_WIDTH = 23
VERDICT_WIDTH = 30  # "same direction, different size"
LINE_WIDTH = 118
# A rule's outcome in a few letters, explained under the header.
MARKS = {
    "reproduced": "+",
    "different size": "~",
    "contradicted": "x",
    "inconclusive": "?",
    "older rules": "-",
}
LEGEND = (
    "rules: + reproduced, ~ same direction, different size, x contradicted, ? inconclusive; "
    "(info) shown beside the verdict, not counted in it"
)


def _rule(check: CheckResult) -> str:
    setting = f" [{check.setting[1]}]" if check.setting else ""
    mark = MARKS[check.outcome] + ("" if check.decides else " (info)")
    return f"{mark} {check.what}{setting}: {check.measured}; article {check.claimed}"


def _lines(result: ClaimResult) -> list[str]:
    """The claim's rules, one per line: the outcome, what, this machine's value with its
    interval, the article's figure."""
    if not result.checks:
        return [result.verdict.reason]
    lines = [_rule(check) for check in result.checks]
    for found in result.verdict.interactions:
        a, b = found.between
        significant = "a significant" if found.significant else "no significant"
        lines.append(f"  {a} / {b}, {found.what}: {_figure_text(found)}; {significant} difference")
    unstable = [s.key for s in result.series if s.unstable]
    if unstable:
        lines.append("unstable series (cv > 10% over the rounds): " + ", ".join(unstable))
    return lines


def edge(value: float, unit: str) -> str:
    """An interval's end: with a third decimal where two would round it onto 1x, so that
    an interval that excludes 1 never reads as if it touched it."""
    shown = show(value, unit)
    if unit == "x" and shown == "1.00x" and value != 1:
        return f"{value:.3f}x"
    return shown


def interval_text(estimate: float, low: float | None, high: float | None, unit: str) -> str:
    """``1.14x (95% CI 1.05x to 1.20x)``, or the one value of a single round."""
    if low is None or high is None:
        return f"{show(estimate, unit)} (one round: no interval)"
    return f"{show(estimate, unit)} (95% CI {edge(low, unit)} to {edge(high, unit)})"


def _figure_text(found: Interaction) -> str:
    figure = found.figure
    return interval_text(figure.estimate, figure.low, figure.high, figure.unit)


def choices(run: ClaimsRun) -> str:
    """The verdict rules' choices, labelled as such."""
    if run.tolerance is None or run.margin is None:
        return (
            f"verdicts of an older file: a rule passed or failed, a figure held within a "
            f"factor of {run.older_factor or 2:g} of the article's"
        )
    return (
        f"95% intervals (Student's t over the rounds, on logs for ratios); chosen: a point "
        f"claim is reproduced within ±{run.tolerance:.0%}, 'not faster' within a "
        f"{run.margin:.0%} margin"
    )


def table(document: ClaimsDocument) -> str:
    run = document.run
    indent = CLAIM_WIDTH + VERDICT_WIDTH + 2
    width = max(40, LINE_WIDTH - indent)
    header = f"{'claim':<{CLAIM_WIDTH}} {'verdict':<{VERDICT_WIDTH}} measured here; the article"
    title = (
        f"The articles' claims on this machine ({run.mode} run, {run.rounds} rounds of fresh "
        f"processes; {choices(run)})"
    )
    out = [
        "",
        *textwrap.wrap(title, LINE_WIDTH),
        *textwrap.wrap(LEGEND, LINE_WIDTH),
        header,
        "-" * LINE_WIDTH,
    ]
    for result in document.claims:
        wrapped = [
            piece
            for line in _lines(result)
            for piece in textwrap.wrap(line, width, subsequent_indent="   ") or [""]
        ]
        first = f"{result.id:<{CLAIM_WIDTH}} {result.verdict.text:<{VERDICT_WIDTH}} "
        out.append(first + wrapped[0])
        out += [" " * indent + piece for piece in wrapped[1:]]
    counts = Counter(result.verdict.text for result in document.claims)
    out.append("")
    out.append("; ".join(f"{n} {text}" for text, n in counts.items()))
    return "\n".join(out)
