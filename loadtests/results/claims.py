"""The typed ``claims.json``: what one ``claims`` run measured and concluded, the single
source of the terminal table and of ``claims.html``.

Schema 2 judges every rule from its 95% interval into one of four outcomes
(``loadtests/claims/outcomes.py``). Files of schema 1 (a rule passed or failed, a figure
held within a factor of 2) stay readable: ``upgrade`` keeps their figures and marks
their verdicts as made under the older rules, since their rounds cannot always be judged
again (two claims measure other series now)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 2
FILENAME = "claims.json"

# What a rule, and a claim, can conclude. "older rules": a verdict read from a file of
# schema 1, shown as it was, never as one of the four outcomes.
RuleOutcome = Literal["reproduced", "different size", "contradicted", "inconclusive", "older rules"]
Outcome = Literal[
    "reproduced",
    "different size",
    "contradicted",
    "inconclusive",
    "depends",
    "error",
    "skipped",
    "not run",
    "older rules",
]
RunStatus = Literal["running", "complete", "partial"]
OLDER_RULES = "(older verdict rules)"
# The outcomes in words, for the verdict, the page and the table.
OUTCOME_TEXT: dict[RuleOutcome, str] = {
    "reproduced": "reproduced",
    "different size": "same direction, different size",
    "contradicted": "contradicted",
    "inconclusive": "inconclusive",
    "older rules": "older verdict rules",
}


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Round(Model):
    """One round: one fresh worker process."""

    values: dict[str, float]
    evidence: dict[str, str] = Field(default_factory=dict)
    sizes: dict[str, int] = Field(default_factory=dict)
    seconds: float


class SeriesSummary(Model):
    key: str
    label: str
    unit: str
    values: list[float] = Field(description="one value per round, in round order")
    median: float
    low: float = Field(description="smallest value over the rounds")
    high: float = Field(description="largest value over the rounds")
    cv: float | None = Field(description="coefficient of variation over the rounds")
    unstable: bool = Field(description="cv above the run's threshold")


class Figure(Model):
    """The number a rule judged: one per round, their centre and its 95% interval."""

    unit: str
    per_round: list[float] = Field(description="the rule's figure in each round, in order")
    rounds: list[int] | None = Field(
        None,
        description="the round (from 0) of each per_round value when some round was left "
        "out (a zero measured); None: every round, in order",
    )
    estimate: float = Field(description="geometric mean for ratios (log=True), else the mean")
    low: float | None = Field(None, description="95% interval (Student's t); None: one round")
    high: float | None = None
    log: bool = Field(description="the interval is on logarithms (a ratio)")


class CheckResult(Model):
    """One rule of a claim's verdict, judged on this run's values."""

    what: str
    claimed: str = Field(description="the article's figure or statement, as text")
    measured: str = Field(description="this run's value, with its interval or spread")
    outcome: RuleOutcome
    reason: str
    accepted: str = Field("", description="what would reproduce it, with the choices made")
    setting: tuple[str, str] | None = Field(
        None, description="(X, value) when the rule is about one setting of X"
    )
    decides: bool = Field(True, description="False: shown beside the verdict, not counted")
    figure: Figure | None = None


class Interaction(Model):
    """Whether a setting changes a rule's figure: the ratio (or difference) between the
    two settings' paired figures, round by round, with its 95% interval."""

    what: str
    setting: str
    between: tuple[str, str]
    figure: Figure
    significant: bool = Field(description="the interval excludes 1 (or 0)")


class Verdict(Model):
    outcome: Outcome
    text: str = Field(description="'reproduced', 'contradicted', 'depends on X', ...")
    reason: str
    interactions: list[Interaction] = Field(default_factory=list)


class ClaimResult(Model):
    id: str
    label: str
    method: str
    article: str
    source: str
    family: str
    status: Literal["measured", "interrupted", "error", "skipped", "not run"]
    error: str | None = None
    rounds_planned: int
    rounds: list[Round] = Field(default_factory=list)
    series: list[SeriesSummary] = Field(default_factory=list)
    checks: list[CheckResult] = Field(default_factory=list)
    verdict: Verdict
    sizes: dict[str, int] = Field(default_factory=dict)
    evidence: dict[str, str] = Field(default_factory=dict)
    seconds: float = 0.0


class ClaimsRun(Model):
    id: str
    status: RunStatus
    mode: Literal["full", "quick"]
    rounds: int
    command: str
    started_at: float
    duration_s: float | None = None
    tolerance: float | None = Field(
        description="a choice: a point claim is reproduced when its interval lies within "
        "this fraction of the figure (0.25: ±25%); None in files of schema 1"
    )
    margin: float | None = Field(
        None,
        description="a choice: the non-inferiority margin of 'not faster' claims (0.10: "
        "10%); None in files of schema 1",
    )
    older_factor: float | None = Field(
        None, description="schema 1 only: its verdicts held a figure within this factor"
    )
    unstable_cv: float = Field(description="series with a larger cv are flagged unstable")
    pinned: str = Field(description="where the workers and PostgreSQL ran")
    database: str
    seed: dict[str, int]
    server: dict[str, str] = Field(default_factory=dict)
    machine: dict[str, Any] = Field(default_factory=dict)
    versions: dict[str, str | None] = Field(default_factory=dict)


class ClaimsDocument(Model):
    schema_version: int = SCHEMA_VERSION
    run: ClaimsRun
    claims: list[ClaimResult]

    @model_validator(mode="before")
    @classmethod
    def _read_older(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("schema_version", SCHEMA_VERSION) < 2:
            return upgrade(data)
        return data

    @property
    def older_rules(self) -> bool:
        return self.schema_version < 2


# Schema 1's verdicts that were judged by its rules (errors and skips are not).
_JUDGED_V1 = ("reproduced", "not reproduced", "depends")


def _check_v1(check: dict[str, Any]) -> dict[str, Any]:
    passed = check.pop("passed", False)
    held = "held" if passed else "did not hold"
    return check | {"outcome": "older rules", "reason": f"{held}: {check.get('reason', '')}"}


def _claim_v1(claim: dict[str, Any]) -> dict[str, Any]:
    verdict = dict(claim.get("verdict", {}))
    if verdict.get("outcome") in _JUDGED_V1:
        verdict["outcome"] = "older rules"
        verdict["text"] = f"{verdict.get('text', '')} {OLDER_RULES}"
    checks = [_check_v1(dict(c)) for c in claim.get("checks", [])]
    return claim | {"verdict": verdict, "checks": checks}


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """A schema 1 document as schema 2 types: the same measurements, its verdicts
    labelled as made under the older rules (pass/fail, a factor of 2)."""
    run = dict(data.get("run", {}))
    run["older_factor"] = run.pop("tolerance", None)
    run |= {"tolerance": None, "margin": None}
    return data | {"run": run, "claims": [_claim_v1(dict(c)) for c in data.get("claims", [])]}
