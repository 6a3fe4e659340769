"""What a run does: scenarios, profiles and step plans. No Locust import here: the
runner must not be monkey-patched by gevent, only the Locust processes are."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Literal

DRAIN_S = 4.0  # zero users after the last step: > one Locust worker report interval (3 s)

MAX_WINDOW_S = 3600.0  # one step's warm-up or measured window, at most
# A request's answer may take this long before it counts as a timeout, in every load
# generator (Locust's network_timeout, wrk's --timeout): slow answers stay in the numbers.
NETWORK_TIMEOUT_S = 30.0
# The open model waits this long at most, after a turn, for its requests still in flight
# (README, "Between turns"): by then every one has been answered or has timed out.
SETTLE_LIMIT_S = NETWORK_TIMEOUT_S


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
    user_class: str  # the FastHttpUser subclass in loadtests/locust/scenarios.py
    description: str
    # endpoint -> weight: what the Locust users send, and what the database ceiling
    # (pgbench, loadtests/run/extras/ceiling.py) runs, in the same proportions
    mix: dict[str, int]

    @property
    def writes(self) -> bool:
        """It sends writes the ledger audit can check (loadtests/run/extras/audit.py)."""
        return any(endpoint in WRITES for endpoint in self.mix)


GET_USER, RENAME_USER, LIST_USERS = "GET /users/{id}", "PATCH /users/{id}", "GET /users"
GET_ORDER, LIST_ORDERS = "GET /orders/{id}", "GET /orders"
ORDER_SUMMARY, CREATE_ORDER = "GET /orders/{id}/summary", "POST /orders"
WRITES = (RENAME_USER, CREATE_ORDER)
# The load generator's own ceiling (``python -m loadtests generator``): a user that only
# asks GET /health, of a trivial endpoint; not a scenario of the services.
HEALTH, HEALTH_USER = "GET /health", "Health"

SCENARIOS: dict[str, ScenarioInfo] = {
    info.name: info
    for info in (
        ScenarioInfo(
            "select-update", "SelectUpdate",
            'only PATCH /users/{id} on random users: the articles\' "1 SELECT + 1 UPDATE"',
            {RENAME_USER: 1},
        ),
        ScenarioInfo(
            "get-user", "GetUser",
            "only GET /users/{id}: one SELECT by primary key, the first article's benchmark",
            {GET_USER: 1},
        ),
        ScenarioInfo(
            "read", "Read", "a weighted mix of the GET endpoints",
            {GET_USER: 4, GET_ORDER: 3, ORDER_SUMMARY: 2, LIST_USERS: 1, LIST_ORDERS: 1},
        ),
        ScenarioInfo(
            "write", "Write", "POST /orders: an order and its items in one unit of work",
            {CREATE_ORDER: 1},
        ),
        ScenarioInfo(
            "mixed", "Mixed", "80% reads, 20% writes (renames and new orders)",
            {GET_USER: 25, GET_ORDER: 25, ORDER_SUMMARY: 15, LIST_USERS: 8, LIST_ORDERS: 7,
             RENAME_USER: 10, CREATE_ORDER: 10},
        ),
    )
}  # fmt: skip


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


def percent(text: str) -> float | None:
    """``"1%"`` -> 0.01; None unless ``text`` is a finite number followed by %."""
    number = text.strip()
    if not number.endswith("%"):
        return None
    try:
        value = float(number[:-1]) / 100
    except ValueError:
        return None
    return value if math.isfinite(value) else None


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


LoadModel = Literal["closed", "open"]
LOAD_MODELS: tuple[LoadModel, ...] = ("closed", "open")
ArrivalKind = Literal["poisson", "constant"]
ARRIVAL_KINDS: tuple[ArrivalKind, ...] = ("poisson", "constant")
# What a step's number counts in each model: users in a loop, or arrivals per second.
LEVEL_UNITS: dict[LoadModel, str] = {"closed": "users", "open": "req/s offered"}
# The open model's users only carry the arrivals; a generous cap, shown in the report. An
# arrival that finds all of them busy is dropped and counted.
DEFAULT_MAX_IN_FLIGHT = 1000
MAX_IN_FLIGHT = 5000
MAX_RATE = 20000


@dataclass(frozen=True)
class StepPlan:
    """The steps of a scenario and how each is measured: ``blocks`` times, every variant
    gets a ``measure_s`` window after a warm-up from its switch (``switch_for``); the
    step's first turn warms up ``warmup_s`` instead (the users ramp then). Interleaved,
    the blocks hold every step and only the run's first turn warms up ``warmup_s``."""

    steps: tuple[int, ...]
    warmup_s: float
    measure_s: float
    blocks: int = 1
    switch_s: float = 1.0  # the switch warm-up at no users; more users take longer
    # Blocks at the highest step, where throughput is a primary comparison as well as p99
    # (None: ``blocks``): the headline's verdicts get the most replicates.
    top_blocks: int | None = None
    # The open model (loadtests/locust/arrivals.py): the steps are arrival rates (req/s),
    # arrivals Poisson or evenly spaced, carried by at most ``max_in_flight`` users.
    model: LoadModel = "closed"
    arrivals: ArrivalKind = "poisson"
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    # Each variant's own level at every step, where they differ (capacity's probes offer
    # every variant a rate near its own limit). ``steps`` then holds each step's highest
    # level: the warm-up after a switch follows it, the same for every variant's turn.
    variant_steps: tuple[tuple[str, tuple[int, ...]], ...] = ()
    # Blocks of every step (the open model only): each block gives every variant one turn
    # at every step, all in one random order, so that a step is not also a moment of the
    # run (capacity's confirmation: a machine that drifts during the run would otherwise
    # drift with the rate). Closed users would have to ramp at every turn; so open only.
    interleaved: bool = False

    @property
    def open(self) -> bool:
        return self.model == "open"

    @property
    def level_unit(self) -> str:
        """What a step's number counts: users (closed) or requests per second offered."""
        return LEVEL_UNITS[self.model]

    def __post_init__(self) -> None:
        for name, count in (("blocks", self.blocks), ("top blocks", self.top_blocks)):
            if count is not None and not 1 <= count <= MAX_BLOCKS:
                raise PlanError(f"{name} must be between 1 and {MAX_BLOCKS}, got {count}")
        if not 1 <= self.max_in_flight <= MAX_IN_FLIGHT:
            raise PlanError(
                f"--max-in-flight must be between 1 and {MAX_IN_FLIGHT}, got {self.max_in_flight}"
            )
        if self.interleaved and not self.open:
            raise PlanError("only the open model's steps can be interleaved within blocks")
        if self.interleaved and self.top_blocks not in (None, self.blocks):
            raise PlanError("interleaved steps share their blocks: no separate top blocks")
        if self.open and self.steps[-1] > MAX_RATE:
            raise PlanError(f"rates must be at most {MAX_RATE} req/s, got {self.steps[-1]}")
        for variant, levels in self.variant_steps:
            if len(levels) != len(self.steps) or any(
                not 1 <= mine <= top for mine, top in zip(levels, self.steps, strict=False)
            ):
                raise PlanError(
                    f"{variant}'s steps {levels} do not fit the steps {self.steps}: one "
                    "positive level per step, at most the step's highest"
                )
        for name, value, least in (
            ("step seconds", self.measure_s, MIN_MEASURE_S),
            ("warm-up seconds", self.warmup_s, 1),
            ("switch seconds", self.switch_s, MIN_SWITCH_S),
        ):
            # `not least <= value` also refuses nan, which would make a step last forever.
            if not least <= value <= MAX_WINDOW_S:
                raise PlanError(
                    f"{name} must be between {least:g} and {MAX_WINDOW_S:g}, got {value:g}"
                    + (WHY_MIN_MEASURE if value < least and least == MIN_MEASURE_S else "")
                )

    def switch_for(self, users: int) -> float:
        """The warm-up after a switch at ``users``: latency settles later under more load
        (README, "Blocks, intervals and verdicts")."""
        return min(self.switch_s + users * SWITCH_PER_USER_S, self.switch_max_s)

    @property
    def switch_max_s(self) -> float:
        return max(self.switch_s, MAX_SWITCH_S)

    def level(self, variant: str, step: int) -> int:
        """``variant``'s users (or rate) at ``step`` (0 = the first)."""
        return dict(self.variant_steps).get(variant, self.steps)[step]

    def blocks_at(self, users: int) -> int:
        top = self.top_blocks if self.top_blocks is not None else self.blocks
        return top if users == self.steps[-1] else self.blocks

    def step_s(self, users: int, variants: int = 1) -> float:
        """One step's seconds: the first turn's warm-up, then every turn of every block."""
        turns = self.blocks_at(users) * variants
        return self.warmup_s + turns * self.measure_s + (turns - 1) * self.switch_for(users)

    def total_s(self, variants: int = 1) -> float:
        if self.interleaved:
            # One warm-up, then every turn after a switch; which step's switch the first
            # turn replaces is drawn, so the shortest is counted out: at most this long.
            turns = sum(self.blocks * variants * self.switch_for(u) for u in self.steps)
            switches = turns - min(self.switch_for(u) for u in self.steps)
            measured = len(self.steps) * self.blocks * variants * self.measure_s
            return self.warmup_s + switches + measured + DRAIN_S
        return sum(self.step_s(users, variants) for users in self.steps) + DRAIN_S

    @classmethod
    def from_options(cls, options: Any) -> StepPlan:
        """One target's plan from Locust's own options (the web UI, by hand)."""
        return cls(
            steps=parse_steps(str(options.steps)),
            warmup_s=float(options.warmup_seconds),
            measure_s=float(options.step_seconds),
        )


@dataclass(frozen=True)
class ScenarioPlan:
    """One scenario of a run: which variants run it (the first is the baseline) and
    through which steps."""

    scenario: str
    variants: tuple[str, ...]
    plan: StepPlan

    @property
    def total_s(self) -> float:
        return self.plan.total_s(len(self.variants))


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    scenarios: tuple[ScenarioPlan, ...]
    cross_check: int | None = None  # blocks of the highest step with a wrk turn; None: off

    @property
    def variants(self) -> tuple[str, ...]:
        """Every variant the profile runs, in first-listed order."""
        return tuple(dict.fromkeys(v for s in self.scenarios for v in s.variants))


def _same(
    scenarios: tuple[str, ...], variants: tuple[str, ...], plan: StepPlan
) -> tuple[ScenarioPlan, ...]:
    return tuple(ScenarioPlan(name, variants, plan) for name in scenarios)


# The generator's saturation is judged second by second from CPU samples taken once a
# second, and flagged from 3 saturated seconds: a shorter window could not be judged.
MIN_MEASURE_S = 4.0
WHY_MIN_MEASURE = " (CPU is sampled once a second; saturation needs 3 seconds to be judged)"
MIN_SWITCH_S = 0.5  # new connections and a queue to fill: never measured from the switch
MAX_BLOCKS = 50
# The warm-up after a switch grows with the load: 1 s + 1 s per 100 users by default, at
# most 5 s. A choice, from when p99 settled after a switch here (README, "Blocks,
# intervals and verdicts"): within 1 s at 10-50 users, 2 s at 100, 3 s at 200.
SWITCH_PER_USER_S = 0.01
MAX_SWITCH_S = 5.0

TWO_STACKS = ("flask", "fastapi")
# The fair gate is in the default: at 200 users on select-update it took FastAPI's p99
# from 4.3 s to 0.56 s at the same throughput (3 rounds, see the issue-9 note), which
# changes the headline, so a default report must show it.
DEFAULT_VARIANTS = ("flask", "fastapi", "fastapi:fair")
# The second generator (loadtests/run/extras/crosscheck.py): in this many of the highest
# step's blocks every variant also gets a wrk turn, beside its Locust turn.
CROSS_CHECK_BLOCKS = 4

# Windows, warm-ups and blocks from measurements on the project's 2-core machine: see
# README, "Blocks, intervals and verdicts".
PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile(
            name="smoke",
            description="a quick check that everything works (about 1 minute)",
            scenarios=_same(("select-update",), TWO_STACKS, StepPlan((10, 50), 4, 4, blocks=2)),
        ),
        Profile(
            name="ci",
            description="a gate for CI: flask and fastapi on select-update at 10 and 50 "
            "users, 6 blocks at 50 so that a regression there can be significant (about 2 "
            "minutes)",
            scenarios=_same(
                ("select-update",),
                TWO_STACKS,
                StepPlan((10, 50), 4, 4, blocks=2, top_blocks=6),
            ),
        ),
        Profile(
            name="default",
            description="flask, fastapi and fastapi:fair on select-update at 10-200 users, "
            "taking turns in 7 blocks per step, 11 at 200 users (about 12 minutes)",
            scenarios=_same(
                ("select-update",),
                DEFAULT_VARIANTS,
                StepPlan((10, 50, 100, 200), 4, 4, blocks=7, top_blocks=11),
            ),
            cross_check=CROSS_CHECK_BLOCKS,
        ),
        Profile(
            name="seeds",
            description="the articles' own comparisons: def vs blocking vs async FastAPI on "
            "GET /users/{id} at 100 and 1,000 users, and raw/hybrid reads (about 8 minutes)",
            scenarios=(
                ScenarioPlan(
                    "get-user",
                    ("fastapi", "fastapi:sync-def", "fastapi:blocking"),
                    StepPlan((100, 1000), 5, 5, blocks=4),
                ),
                ScenarioPlan(
                    "read",
                    ("fastapi", "fastapi:raw", "fastapi:hybrid", "flask"),
                    StepPlan((50, 200), 5, 5, blocks=4),
                ),
            ),
        ),
        Profile(
            name="overload",
            description="flask and fastapi on select-update at 100 and 1,000 users: slow "
            "answers or 503s, never a crash; the services' memory per step (about 90 seconds)",
            scenarios=_same(("select-update",), TWO_STACKS, StepPlan((100, 1000), 5, 5, blocks=2)),
        ),
        Profile(
            name="open-smoke",
            description="the open model, quickly: flask and fastapi on select-update at "
            "100 and 300 requests per second offered (about 1 minute)",
            scenarios=_same(
                ("select-update",), TWO_STACKS, StepPlan((100, 300), 4, 4, blocks=2, model="open")
            ),
        ),
        Profile(
            name="open",
            description="the open model: flask, fastapi and fastapi:fair on select-update at "
            "150-600 requests per second offered, Poisson arrivals, 6 blocks per step "
            "(about 8 minutes)",
            scenarios=_same(
                ("select-update",),
                DEFAULT_VARIANTS,
                StepPlan((150, 300, 450, 600), 4, 4, blocks=6, model="open"),
            ),
        ),
        Profile(
            name="full",
            description="every scenario up to 400 users, 6 blocks of 10-second windows per "
            "step (about 1 hour)",
            scenarios=_same(
                ("select-update", "read", "write", "mixed"),
                TWO_STACKS,
                StepPlan((10, 50, 100, 200, 400), 10, 10, blocks=6),
            ),
            cross_check=CROSS_CHECK_BLOCKS,
        ),
    )
}


def profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise PlanError(f"unknown profile '{name}' (known: {', '.join(PROFILES)})") from None
