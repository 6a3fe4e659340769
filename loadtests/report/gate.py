"""``check``'s verdict in the three forms CI reads: terminal lines (each failing rule naming
its scenario, variant, step, metric, value and limit, then a summary), JUnit XML (a
testcase per rule and comparison) and a Markdown table for a step summary."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field

from loadtests.results.regression import Change
from loadtests.results.thresholds import Outcome


@dataclass
class Verdict:
    run: str
    baseline: str | None
    outcomes: list[Outcome] = field(default_factory=list)  # thresholds
    changes: list[Change] = field(default_factory=list)  # against the baseline
    warnings: list[str] = field(default_factory=list)  # what differs from the baseline

    @property
    def failed_rules(self) -> int:
        return sum(not o.passed for o in self.outcomes)

    @property
    def regressions(self) -> int:
        return sum(c.regressed for c in self.changes)

    @property
    def failures(self) -> int:
        return self.failed_rules + self.regressions

    @property
    def passed(self) -> bool:
        return self.failures == 0


def lines(verdict: Verdict, labels: dict[str, str]) -> list[str]:
    """The failing rules and regressions, one line each, then the summary."""
    found = [f"warning: {w}" for w in verdict.warnings]
    found += [o.line(labels) for o in verdict.outcomes if not o.passed]
    found += [c.line(labels) for c in verdict.changes if c.regressed]
    found.append(summary(verdict))
    return found


def summary(verdict: Verdict) -> str:
    rules = len(verdict.outcomes)
    parts = [f"{rules - verdict.failed_rules} of {rules} threshold checks passed"] if rules else []
    if verdict.baseline is not None:
        untested = sum(c.p_value is None for c in verdict.changes)
        parts.append(
            f"{verdict.regressions} regression(s) in {len(verdict.changes)} comparisons with "
            f"{verdict.baseline}" + (f" ({untested} not testable)" if untested else "")
        )
    state = "PASSED" if verdict.passed else "FAILED"
    return f"check {state}: {verdict.run}: " + "; ".join(parts)


def junit(verdict: Verdict, labels: dict[str, str]) -> str:
    """JUnit XML: a testsuite for the thresholds, one for the regressions."""
    root = ElementTree.Element("testsuites", name=f"loadtests check {verdict.run}")
    total = failures = 0
    suites: list[tuple[str, list[tuple[str, str, str, bool]]]] = [
        ("thresholds", [_threshold_case(o, labels) for o in verdict.outcomes]),
    ]
    if verdict.baseline is not None:
        suites.append(("regressions", [_change_case(c, labels) for c in verdict.changes]))
    for name, cases in suites:
        failed = sum(not ok for *_, ok in cases)
        suite = ElementTree.SubElement(
            root, "testsuite", name=name, tests=str(len(cases)), failures=str(failed),
            errors="0", skipped="0", time="0",
        )  # fmt: skip
        for classname, case_name, message, ok in cases:
            case = ElementTree.SubElement(
                suite, "testcase", classname=classname, name=case_name, time="0"
            )
            if not ok:
                failure = ElementTree.SubElement(case, "failure", message=message, type=name)
                failure.text = message
        total, failures = total + len(cases), failures + failed
    root.set("tests", str(total))
    root.set("failures", str(failures))
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, "unicode")


def _threshold_case(o: Outcome, labels: dict[str, str]) -> tuple[str, str, str, bool]:
    scope = ".".join(x for x in (o.scenario, o.variant) if x) or "run"
    where = f" at {o.step} {o.unit}" if o.step is not None else ""
    return f"thresholds.{scope}", f"{o.rule.source}{where}", o.line(labels), o.passed


def _change_case(c: Change, labels: dict[str, str]) -> tuple[str, str, str, bool]:
    name = f"{c.tolerance.metric} at {c.step} {c.unit}"
    return f"regressions.{c.scenario}.{c.variant}", name, c.line(labels), not c.regressed


def markdown(verdict: Verdict, labels: dict[str, str]) -> str:
    """A table for a CI step summary: every failure first, then the counts."""
    rows = [
        "| | scenario | variant | step | check |",
        "|---|---|---|---|---|",
    ]
    for o in verdict.outcomes:
        if not o.passed:
            rows.append(_row("❌", o.scenario, o.variant, o.step, o.unit, o.line(labels)))
    for c in verdict.changes:
        if c.regressed:
            rows.append(_row("📉", c.scenario, c.variant, c.step, c.unit, c.line(labels)))
    if len(rows) == 2:
        rows.append("| ✅ | | | | every check passed |")
    title = f"### Load test check: {'passed' if verdict.passed else 'failed'}"
    notes = "".join(f"\n> {w}" for w in verdict.warnings)
    return f"{title}\n\n" + "\n".join(rows) + f"\n\n{summary(verdict)}\n{notes}\n"


def _row(
    mark: str, scenario: str | None, variant: str | None, step: int | None, unit: str, text: str
) -> str:
    cells = (mark, scenario or "", variant or "", f"{step} {unit}" if step is not None else "",
             text.split(": ", 1)[-1].replace("|", "\\|"))  # fmt: skip
    return "| " + " | ".join(cells) + " |"
