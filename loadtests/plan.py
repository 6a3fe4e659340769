"""What a run does: scenarios, profiles and step plans. No Locust import here: the
runner must not be monkey-patched by gevent, only the Locust processes are."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

DRAIN_S = 4.0  # zero users after the last step: > one Locust worker report interval (3 s)

MAX_WINDOW_S = 3600.0  # one step's warm-up or measured window, at most

# The runner and the Locust processes agree on these.
PROGRESS_PREFIX = "loadtests: "  # progress lines the runner forwards to the terminal
ID_RANGES_ENV = "LOADTESTS_ID_RANGES"  # JSON {"user": n, ...}: the seeded id ranges
LATE_REPORT_S = 4.0  # the master writes its results again this long after a step ends


def id_ranges(spec: dict[str, Any]) -> dict[str, int]:
    """The seeded id ranges the scenarios draw random ids from, from a seed spec."""
    return {
        "user": int(spec["users"]),
        "order": int(spec["orders"]),
        "customer": int(spec["customers"]),
        "product": int(spec["products"]),
    }


class PlanError(ValueError):
    """An invalid plan, worded for the command line."""


@dataclass(frozen=True)
class ScenarioInfo:
    name: str
    user_class: str  # the FastHttpUser subclass in loadtests/scenarios.py
    description: str


SCENARIOS: dict[str, ScenarioInfo] = {
    info.name: info
    for info in (
        ScenarioInfo(
            name="select-update",
            user_class="SelectUpdate",
            description="only PATCH /users/{id} on random users: "
            'the articles\' "1 SELECT + 1 UPDATE"',
        ),
        ScenarioInfo("read", "Read", "a weighted mix of the GET endpoints"),
        ScenarioInfo("write", "Write", "POST /orders: an order and its items in one unit of work"),
        ScenarioInfo("mixed", "Mixed", "80% reads, 20% writes (renames and new orders)"),
    )
}


def parse_scenarios(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise PlanError(f"no scenario given (known: {', '.join(SCENARIOS)})")
    for name in names:
        if name not in SCENARIOS:
            raise PlanError(f"unknown scenario '{name}' (known: {', '.join(SCENARIOS)})")
    if len(set(names)) != len(names):
        raise PlanError(f"a scenario is listed twice in '{text}'")
    return names


def parse_steps(text: str) -> tuple[int, ...]:
    """``"10,50,100"`` -> (10, 50, 100): positive and strictly increasing."""
    try:
        steps = tuple(int(part) for part in str(text).split(",") if part.strip())
    except ValueError:
        raise PlanError(f"steps must be comma-separated integers, got '{text}'") from None
    if not steps:
        raise PlanError("at least one step is needed")
    if any(users < 1 for users in steps):
        raise PlanError(f"steps must be positive user counts, got '{text}'")
    if any(b <= a for a, b in itertools.pairwise(steps)):
        raise PlanError(f"steps must increase, got '{text}'")
    return steps


@dataclass(frozen=True)
class StepPlan:
    steps: tuple[int, ...]
    warmup_s: float
    measure_s: float

    def __post_init__(self) -> None:
        for name, value in (("step seconds", self.measure_s), ("warm-up seconds", self.warmup_s)):
            # `not 1 <= value` also refuses nan, which would make a step last forever.
            if not 1 <= value <= MAX_WINDOW_S:
                raise PlanError(f"{name} must be between 1 and {MAX_WINDOW_S:g}, got {value:g}")

    @property
    def step_s(self) -> float:
        return self.warmup_s + self.measure_s

    @property
    def total_s(self) -> float:
        return len(self.steps) * self.step_s + DRAIN_S

    @classmethod
    def from_options(cls, options: Any) -> StepPlan:
        return cls(
            steps=parse_steps(str(options.steps)),
            warmup_s=float(options.warmup_seconds),
            measure_s=float(options.step_seconds),
        )


@dataclass(frozen=True)
class Profile:
    name: str
    scenarios: tuple[str, ...]
    plan: StepPlan
    description: str


PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile(
            name="smoke",
            scenarios=("select-update",),
            plan=StepPlan((10, 50), warmup_s=4, measure_s=10),
            description="a quick check that everything works (about 1 minute)",
        ),
        Profile(
            name="default",
            scenarios=("select-update", "mixed"),
            plan=StepPlan((10, 50, 100, 200), warmup_s=8, measure_s=25),
            description="select-update and mixed at 10-200 users (about 11 minutes)",
        ),
        Profile(
            name="full",
            scenarios=("select-update", "read", "write", "mixed"),
            plan=StepPlan((10, 50, 100, 200, 400), warmup_s=15, measure_s=60),
            description="every scenario up to 400 users, one-minute windows (about 1 hour)",
        ),
    )
}


def profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise PlanError(f"unknown profile '{name}' (known: {', '.join(PROFILES)})") from None
