"""The terminal table of a claims run, from claims.json: a claim per row, its rules below."""

from __future__ import annotations

import textwrap

from loadtests.results.claims import ClaimResult, ClaimsDocument

CLAIM_WIDTH = 23
VERDICT_WIDTH = 26
LINE_WIDTH = 118


def _lines(result: ClaimResult) -> list[str]:
    """The claim's rules, one per line: what, this machine's value, the article's."""
    if not result.checks:
        return [result.verdict.reason]
    lines = []
    for check in result.checks:
        setting = f" [{check.setting[1]}]" if check.setting else ""
        mark = "ok" if check.passed else "no"
        lines.append(f"{mark} {check.what}{setting}: {check.measured}; article {check.claimed}")
    unstable = [s.key for s in result.series if s.unstable]
    if unstable:
        lines.append("unstable series (cv > 10% over the rounds): " + ", ".join(unstable))
    return lines


def table(document: ClaimsDocument) -> str:
    run = document.run
    indent = CLAIM_WIDTH + VERDICT_WIDTH + 2
    width = max(40, LINE_WIDTH - indent)
    header = f"{'claim':<{CLAIM_WIDTH}} {'verdict':<{VERDICT_WIDTH}} measured here; the article"
    out = [
        "",
        f"The articles' claims on this machine ({run.mode} run, {run.rounds} rounds of fresh "
        f"processes; medians, 95% intervals of paired ratios; a figure holds within "
        f"{run.tolerance:g}x of the article's)",
        header,
        "-" * min(LINE_WIDTH, len(header) + width - 26),
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
    counts: dict[str, int] = {}
    for result in document.claims:
        counts[result.verdict.text] = counts.get(result.verdict.text, 0) + 1
    out.append("")
    out.append(", ".join(f"{n} {text}" for text, n in counts.items()))
    return "\n".join(out)
