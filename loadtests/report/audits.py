"""The report's audit section: were the acknowledged writes kept (loadtests/run/extras/audit.py)?"""

from __future__ import annotations

from loadtests.results.models import FINDINGS, OUTCOMES, AuditResult, ScenarioResults, VariantRun


def rows(scenario: ScenarioResults) -> list[VariantRun]:
    return [run for run in scenario.runs if run.audit is not None]


def acknowledged(found: AuditResult) -> int:
    return sum(counts.acknowledged for counts in found.writes.values())


def headline(scenario: ScenarioResults, labels: dict[str, str]) -> str | None:
    audited = rows(scenario)
    if not audited:
        return None
    bad = [run for run in audited if run.audit is not None and not run.audit.ok]
    total = sum(acknowledged(run.audit) for run in audited if run.audit is not None)
    if not bad:
        return (
            f"Audit: all {total:,} acknowledged writes were in the database as acknowledged, "
            "in every variant's run; nothing duplicated or unexpected."
        )
    named = "; ".join(
        f"{labels[run.variant]}: {findings(run.audit)}" for run in bad if run.audit is not None
    )
    return f"Audit: writes were lost or changed. {named}."


def findings(found: AuditResult) -> str:
    """``"0 lost, 0 duplicated, 0 unexpected"``."""
    return ", ".join(f"{getattr(found, kind).count} {kind}" for kind in FINDINGS)


def summary(found: AuditResult) -> str:
    """One line for the terminal."""
    counts = {o: sum(getattr(c, o) for c in found.writes.values()) for o in OUTCOMES}
    line = (
        f"audit: {counts['acknowledged']:,} acknowledged writes ({counts['failed']:,} failed, "
        f"{counts['unknown']:,} unanswered): {findings(found)}"
    )
    if not found.complete:
        line += f" (the ledger is incomplete: {found.note})"
    return line + ("" if found.ok else " -- WRITES WERE LOST OR CHANGED")
