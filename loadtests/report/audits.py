"""The report's audit section: were the acknowledged writes kept (loadtests/run/extras/audit.py)?"""

from __future__ import annotations

from dataclasses import dataclass

from loadtests.results.models import FINDINGS, OUTCOMES, AuditResult, ScenarioResults


@dataclass(frozen=True)
class AuditRow:
    variant: str | None  # None: every variant's writes together (one database, in blocks)
    round: int | None
    audit: AuditResult


def rows(scenario: ScenarioResults) -> list[AuditRow]:
    """The scenario's audit (every variant together), or older results' per-run audits."""
    if scenario.audit is not None:
        return [AuditRow(None, None, scenario.audit)]
    return [AuditRow(r.variant, r.round, r.audit) for r in scenario.runs if r.audit is not None]


def acknowledged(found: AuditResult) -> int:
    return sum(counts.acknowledged for counts in found.writes.values())


def headline(scenario: ScenarioResults, labels: dict[str, str]) -> str | None:
    audited = rows(scenario)
    if not audited:
        return None
    bad = [row for row in audited if not row.audit.ok]
    total = sum(acknowledged(row.audit) for row in audited)
    if not bad:
        return (
            f"Audit: all {total:,} acknowledged writes were in the database as acknowledged, "
            "from every variant; nothing duplicated or unexpected."
        )
    named = "; ".join(
        f"{labels[row.variant] if row.variant else 'every variant'}: {findings(row.audit)}"
        for row in bad
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
