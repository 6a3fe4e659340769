"""The typed ``claims.json``: what one ``claims`` run measured and concluded, the single
source of the terminal table and of ``claims.html``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
FILENAME = "claims.json"

Outcome = Literal["reproduced", "not reproduced", "depends", "error", "skipped", "not run"]
RunStatus = Literal["running", "complete", "partial"]


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


class CheckResult(Model):
    """One rule of a claim's verdict, judged on this run's values."""

    what: str
    claimed: str = Field(description="the article's figure or statement, as text")
    measured: str = Field(description="this run's value, with its interval or spread")
    passed: bool
    reason: str
    setting: tuple[str, str] | None = Field(
        None, description="(X, value) when the rule holds for one setting of X only"
    )


class Verdict(Model):
    outcome: Outcome
    text: str = Field(description="'reproduced', 'not reproduced', 'depends on X', ...")
    reason: str


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
    tolerance: float = Field(description="a figure is reproduced within this factor")
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
