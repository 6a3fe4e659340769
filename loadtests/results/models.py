"""The typed ``results.json``: everything one run measured, the single source of every
report, the terminal table and ``compare``.

The JSON schema (``schema.json`` beside this module) is generated from these models
(``python -m loadtests.results.schema`` rewrites it; a test keeps it current). Fields
added after a file was written are optional, and reports say "not measured" where an
older file lacks them; files of schema version 1 are converted on load (``legacy.py``).
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from loadtests.plan import LEVEL_UNITS, ArrivalKind, LoadModel

SCHEMA_VERSION: Final = 3

Status = Literal["running", "complete", "partial", "failed"]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Latency(Model):
    """Milliseconds: exact min, max and mean; percentiles within 0.1% (HdrHistogram-style
    buckets, nearest rank)."""

    p50: float
    p90: float
    p95: float
    p99: float
    p99_9: float
    max: float
    min: float
    mean: float


class Failures(Model):
    count: int
    rate: float = Field(description="failed responses / all responses")
    by_kind: dict[str, int] = Field(
        description="http_<status>, timeout, connection or wrong_body -> count"
    )
    latency_ms: Latency | None = Field(
        None, description="latency of the failed responses; null when there were none"
    )


class Components(Model):
    """Milliseconds of a response, by where they went (services' Server-Timing header)."""

    queue: float = Field(description="client latency - app: before the application saw it")
    app: float = Field(description="inside the application, all of the below included")
    pool: float = Field(description="waiting to check out a database connection")
    db: float = Field(description="inside the database driver's round trips")
    orm: float = Field(description="SQLAlchemy around the driver (0 without the ORM)")
    other: float = Field(description="app - pool - db - orm: framework, validation, serialising")

    @property
    def total(self) -> float:
        return self.queue + self.app


class Breakdown(Model):
    """Where the time of successful responses went."""

    timed: int = Field(description="successful responses that carried Server-Timing")
    untimed: int = Field(description="responses of any kind without it (server errors, timeouts)")
    mean: Components | None = Field(description="the mean timed response; null if none")
    tail: Components | None = Field(
        None, description="the mean of the responses at or above p99 (to about 2%)"
    )
    tail_requests: int = 0
    tail_from_ms: float | None = Field(None, description="the p99 the tail starts at")
    histograms: dict[str, dict[str, Any]] | None = Field(
        None, description="per component, microseconds, in the histogram's own format"
    )


class Traffic(Model):
    """One window's (or one endpoint's) responses."""

    requests: int = Field(description="every response, failed ones included")
    successes: int
    throughput_rps: float = Field(description="successful responses per second (goodput)")
    latency_ms: Latency = Field(description="of successful responses")
    failures: Failures
    latency_includes_failures: bool = Field(
        False, description="true for results converted from schema 1, which mixed them"
    )
    attribution: Breakdown | None = Field(
        None, description="where the time went; null when not measured (older results)"
    )
    service_latency_ms: Latency | None = Field(
        None,
        description="the open model: from the actual send (latency_ms is then timed from the "
        "intended start, corrected for coordinated omission); null: closed model",
    )


class Window(Model):
    start: float
    end: float
    seconds: float


SATURATED_SECONDS = 3  # saturated this many seconds of a window: the generator is flagged
FOREIGN_PERCENT = 10.0  # % of a core busy with processes the suite did not start
LAG_WARN_MS = 10.0  # a choice: the open model's generator lag p99 beyond which a step is flagged


class StepCpu(Model):
    """CPU in % of one core over the measured window."""

    generator_percent: float | None
    generator_busiest_process_percent: float | None
    service_percent: float | None
    database_percent: float | None
    pgbouncer_percent: float | None = None
    cores_percent: dict[str, float]
    steal_percent: float
    generator_saturated: bool = Field(description="saturated for 3 or more seconds")
    seconds_judged: int | None = Field(
        None, description="one-second CPU samples the saturation was judged on (null: older)"
    )
    saturated_seconds: int | None = None
    foreign_percent: dict[str, float] | None = Field(
        None, description="per pinned core, % of it busy with processes outside the suite"
    )
    service_memory_mib: float | None = Field(
        None,
        description="the most memory the service's processes held together, sampled once a "
        "second in the window: PSS, resident memory with shared pages split between the "
        "processes sharing them (null: not measured)",
    )


class Stability(Model):
    seconds: int
    throughput_cv: float | None = Field(
        description="coefficient of variation of the per-second request counts"
    )


class BlockValues(Model):
    """One variant's window in one block of a step: the replicate verdicts pair."""

    block: int = Field(description="1 = the step's first block")
    position: int = Field(description="1 = measured first in its block")
    window: Window
    requests: int
    successes: int
    throughput_rps: float = Field(description="successful responses per second")
    p50: float = Field(description="ms, successful responses")
    p95: float
    p99: float
    p99_9: float
    error_rate: float = Field(description="failed responses / all responses")
    generator_saturated: bool | None = Field(
        None, description="the load generator was CPU-saturated in this window (null: not judged)"
    )
    generator_cpu_percent: float | None = Field(
        None, description="Locust's CPU in the window, % of one core"
    )
    dropped: int = Field(0, description="the open model: arrivals dropped in the window")
    settle_s: float | None = Field(
        None,
        description="the open model: seconds waited after the window for its requests in "
        "flight, before the next turn (None: no wait, or older results)",
    )


class Step(Traffic):
    """One variant at one step. In a run of blocks, its figures pool every block's window
    (the histograms merged: exact pooled percentiles, throughput over the measured
    seconds); ``blocks`` keeps each window's own figures. In older results (rounds) it is
    one round's step."""

    step: int
    users: int
    window: Window = Field(description="first window's start, last window's end, measured seconds")
    endpoints: dict[str, Traffic]
    cpu: StepCpu | None
    stability: Stability
    blocks: list[BlockValues] = Field(
        default_factory=list, description="each block's window (empty in older results)"
    )
    latency_histogram: dict[str, Any] | None = Field(
        None, description="successful responses' latency, microseconds, pooled over the blocks"
    )
    open: OpenFigures | None = Field(None, description="the open model's own figures")
    lost_workers: list[str] = Field(
        default_factory=list,
        description="Locust workers lost during this step's windows: their share of the load "
        "and their last responses are missing, so the step is partial",
    )


class OpenFigures(Model):
    """What the open model adds to a step: the schedule it was offered and kept."""

    offered_rps: float = Field(description="the arrival rate asked for")
    arrivals: int = Field(description="arrivals in the windows: sent plus dropped")
    dropped: int = Field(description="arrivals no user was idle for (the --max-in-flight cap)")
    dropped_rate: float = Field(description="dropped / arrivals")
    lag_p50_ms: float | None = Field(description="actual send - intended start")
    lag_p99_ms: float | None
    lag_max_ms: float | None
    settle_max_s: float | None = Field(
        None,
        description="the longest wait, after one of these windows, for its requests in flight "
        "before the next turn (README, 'Between turns'); None in older results",
    )
    unanswered: int = Field(
        0, description="requests still in flight when a wait gave up: they ran into the next turn"
    )


class TimePoint(Model):
    t: int = Field(description="seconds since the first response of this Locust run")
    epoch: int
    users: int
    requests: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float


class Recorded(Model):
    requests: int
    per_endpoint: dict[str, int]
    per_worker: dict[str, int]


class EndpointCount(Model):
    requests: int
    failures: int


class LocustCounts(Model):
    requests: int
    failures: int
    per_endpoint: dict[str, EndpointCount]
    cpu_warning: bool


class LocustFiles(Model):
    html: str
    csv_prefix: str
    log: str


class Statements(Model):
    counts: dict[str, int] | None = Field(description="pg_stat_statements calls by first keyword")
    per_request: dict[str, float] | None


class StatementTime(Model):
    calls: int
    total_ms: float
    mean_ms: float


class DatabaseTime(Model):
    """The server's own execution time beside the round trips the service measured, over
    the whole run of the variant (warm-ups included, like pg_stat_statements)."""

    statements: dict[str, StatementTime] = Field(description="by first keyword")
    requests: int
    server_ms_per_request: float = Field(description="pg_stat_statements execution time")
    driver_ms_per_request: float | None = Field(
        description="the services' db component, per timed response; null when not timed"
    )


class FaultPlan(Model):
    """The fault of a run (loadtests/run/extras/faults.py), injected into every variant's run."""

    kind: Literal["db-freeze", "db-restart"]
    step: int = Field(description="1 = the first step")
    seconds: float = Field(description="how long the database is made unavailable")
    description: str


class FaultOutcome(Model):
    """What one variant's run went through; seconds are whole (per-second series)."""

    kind: str
    step: int
    users: int | None
    seconds: float
    started_at: float | None = Field(description="epoch; null: the fault did not happen")
    ended_at: float | None = Field(description="epoch the database was back")
    unavailable_s: float | None = None
    first_error_after_s: int | None = Field(
        None, description="second of the first failed response, counted from the fault's start"
    )
    recovered_after_s: int | None = Field(
        None,
        description="seconds from the database's return to the first of 3 seconds in a row "
        "with successes and no failure; null: not within the run",
    )
    failed_requests: int = Field(0, description="from the fault's start to the recovery")
    successful_requests: int = Field(0, description="in the same seconds")
    note: str | None = None


OUTCOMES = ("acknowledged", "failed", "unknown")  # WriteCounts' fields
FINDINGS = ("lost", "duplicated", "unexpected")  # AuditResult's findings


class WriteCounts(Model):
    acknowledged: int = Field(0, description="answered 2xx with a readable body")
    failed: int = Field(0, description="answered with another status")
    unknown: int = Field(0, description="never answered: test stopped, connection error, timeout")


class Findings(Model):
    count: int = 0
    examples: list[str] = Field(default_factory=list, description="up to 10")


class AuditResult(Model):
    """What the audit of one variant's run found. ``ok``: nothing lost, duplicated or
    unexpected (loadtests/run/extras/audit.py)."""

    writes: dict[str, WriteCounts] = Field(description="endpoint -> writes by outcome")
    variants: dict[str, dict[str, WriteCounts]] = Field(
        default_factory=dict, description="variant -> endpoint -> its writes by outcome"
    )
    lost: Findings = Field(description="acknowledged writes missing or changed")
    duplicated: Findings = Field(description="rows repeating an acknowledged write")
    unexpected: Findings = Field(description="changes no request explains")
    ok: bool
    complete: bool = Field(description="false when the ledger looks cut short")
    note: str | None = Field(None, description="why the ledger looks incomplete")
    seconds: float = Field(description="time the audit took")


class ServiceFailure(Model):
    failure: str
    count: int


class VariantRun(Model):
    """One variant through every step of one scenario (in older results: in one round)."""

    variant: str
    round: int = 1
    position: int | None = Field(
        None, description="older results: 1 = ran first in its round; null: interleaved in blocks"
    )
    status: Status
    error: str | None = None
    reset_seconds: float | None = None
    locust: LocustFiles | None = None
    steps: list[Step] = []
    timeseries: list[TimePoint] = []
    recorded: Recorded | None = None
    locust_counts: LocustCounts | None = None
    statements: Statements | None = None
    database_time: DatabaseTime | None = None
    service_failures: list[ServiceFailure] = []
    fault: FaultOutcome | None = None
    fault_window: Traffic | None = Field(
        None,
        description="the fault's own window (kept out of the steps): its responses, timed "
        "from their intended start in the open model; null: no fault",
    )
    audit: AuditResult | None = Field(None, description="null: not audited")


class GeneratorHost(Model):
    """One Locust worker: where it ran, what it sent, how busy it was."""

    id: str = Field(description="Locust's client id")
    name: str = Field(description="the worker's --name, or its host name")
    hostname: str
    requests: int = Field(description="responses it recorded, warm-ups included")
    cpu_mean_percent: float | None = Field(description="% of one core, from its heartbeats")
    cpu_max_percent: float | None
    saturated_seconds: int = Field(description="seconds at or above the saturation line")
    joined_at: float
    lost_at: float | None = Field(None, description="no heartbeat from then on (null: never)")


class Plan(Model):
    steps: list[int]
    warmup_seconds: float = Field(description="the step's first turn: ramp and warm-up")
    step_seconds: float = Field(description="each measured window")
    blocks: int = Field(1, description="blocks per step: every variant once in each")
    top_blocks: int | None = Field(None, description="blocks at the highest step (null: blocks)")
    switch_seconds: float | None = Field(
        None, description="warm-up after a switch of variant at no users (null: older results)"
    )
    switch_per_user_seconds: float = Field(0.0, description="and this much more per user")
    switch_max_seconds: float | None = Field(None, description="at most this long")
    model: LoadModel = Field(
        "closed", description="closed: steps are users in a loop; open: arrival rates (req/s)"
    )
    arrivals: ArrivalKind | None = Field(
        None, description="the open model's arrivals (null: closed)"
    )
    max_in_flight: int | None = Field(
        None, description="the open model's cap on requests in flight (null: closed)"
    )
    variant_steps: dict[str, list[int]] | None = Field(
        None,
        description="each variant's own level per step where they differ (capacity's probes; "
        "steps then holds each step's highest); null: every variant at steps",
    )
    interleaved: bool = Field(
        False,
        description="each block gives every variant a turn at every step, all in one random "
        "order (capacity's confirmation); false: step after step, blocks within each",
    )

    @property
    def unit(self) -> str:
        return LEVEL_UNITS[self.model]


class Ceiling(Model):
    """What PostgreSQL did alone on the scenario's SQL (pgbench), before the variants ran."""

    tps: float | None = Field(description="pgbench transactions (requests) per second")
    clients: int = Field(description="connections: the variants' connection budget")
    seconds: float = Field(description="measured seconds (after a short warm-up)")
    pinned: bool = Field(description="pgbench on the service cores, PostgreSQL on its own")
    scripts: dict[str, str] = Field(description="each endpoint's pgbench script, with its weight")
    note: str | None = Field(None, description="why it was not measured, or what differs")


class ScenarioResults(Model):
    description: str
    user_class: str
    variants: list[str] = Field(description="in the order given; the first is the baseline")
    plan: Plan
    design: Literal["blocks", "rounds"] = Field(
        "rounds",
        description="blocks: the variants take turns within every step (the replicate is the "
        "block); rounds: older results, each variant ran the whole ladder in turn",
    )
    reset: str | None = Field(None, description="how and when the database was reset")
    reset_refused: str | None = Field(
        None, description="why the database could not be reset before this scenario (None: it was)"
    )
    order_seed: int | None = Field(None, description="the seed of the block orders")
    ceiling: Ceiling | None = Field(None, description="null: not measured (older results)")
    audit: AuditResult | None = Field(
        None, description="every variant's writes audited together; null: not audited"
    )
    locust: LocustFiles | None = Field(None, description="the scenario's Locust run's files")
    recorded: Recorded | None = Field(None, description="every response of that Locust run")
    locust_counts: LocustCounts | None = Field(None, description="Locust's own counts of it")
    cross_check: CrossCheck | None = Field(
        None, description="wrk beside Locust at the highest step, in the same blocks"
    )
    generators: list[GeneratorHost] = Field(
        default_factory=list,
        description="the Locust workers that generated the load (local --workers or remote "
        "ones); empty: one local Locust process",
    )
    runs: list[VariantRun] = []

    def runs_of(self, variant: str) -> list[VariantRun]:
        return [run for run in self.runs if run.variant == variant]


class VariantInfo(Model):
    name: str
    label: str
    service: str
    mode: str | None
    stack: str
    description: str
    antipattern: bool
    builtin: bool
    process_model: str
    settings: dict[str, Any] = Field(description="the settings this variant reads, by variable")
    connection_budget: int | None = Field(
        None, description="connections it can hold at once, all workers together"
    )
    external_url: str | None = Field(
        None,
        description="an external target: the service already ran there (password masked), "
        "and its CPU, memory, process model and pinning were not measured; null: started "
        "by the suite",
    )


class SettingDifference(Model):
    variant: str
    setting: str
    value: Any
    baseline: Any = Field(description="the baseline's value; null when it does not read it")


class Fairness(Model):
    baseline: str
    differences: list[SettingDifference]
    notes: list[str]


class NoiseBand(Model):
    """Older results only: the noise band verdicts of schema 2 used (no longer read)."""

    ratio: float = Field(description="a ratio inside [1/ratio, ratio] is no difference")
    error_points: float = Field(description="the same for error rates, as a difference")
    comparisons: int = Field(description="A/A comparisons it was measured from")
    source: str = Field(description="where and how it was measured")


class RunInfo(Model):
    id: str
    status: Status
    started_at: float
    finished_at: float | None
    duration_s: float | None
    profile: str | None
    command: str
    scenarios: list[str]
    variants: list[str] = Field(description="every variant of the run; the first is the baseline")
    locust_processes: int
    rounds: int = Field(1, description="older results: times every variant ran every step")
    order_seed: int | None = Field(None, description="the seed of the recorded run order")
    noise_band: NoiseBand | None = Field(
        None, description="older results: the band their verdicts used (no longer read)"
    )
    fault: FaultPlan | None = Field(None, description="the fault injected; null: none")
    audit: bool = Field(False, description="acknowledged writes were audited after each run")
    connections: Literal["keep-alive", "close"] = Field(
        "keep-alive",
        description="keep-alive: a connection per user (per wrk thread) for a turn; close: "
        "every request says Connection: close",
    )
    error: str | None = None


class Versions(Model):
    key: dict[str, str | None]
    all: dict[str, str]


class Environment(Model):
    machine: dict[str, Any]
    versions: Versions


class Seed(Model):
    spec: dict[str, int]
    rows: dict[str, int]
    checksum: str


class Connections(Model):
    """Every variant's pool is open at once (they take turns): the sum must fit."""

    needed: int = Field(description="every variant's connection budget together")
    allowed: int = Field(description="max_connections less reserved and the suite's own")
    max_connections: int
    raised_from: int | None = Field(
        None, description="the embedded server's max_connections before the run raised it"
    )


class DatabaseInfo(Model):
    kind: Literal["embedded", "external"]
    url: str
    settings: dict[str, str]
    seed: Seed
    pinned: bool
    connections: Connections | None = Field(None, description="null: older results")


class StatementCacheInfo(Model):
    requested: str
    in_force: str


class PgBouncerInfo(Model):
    enabled: bool
    version: str | None = None
    pool_mode: str | None = None
    default_pool_size: int | None = None
    max_client_conn: int | None = None
    max_prepared_statements: int | None = None
    tracks_prepared_statements: bool | None = None
    port: int | None = None
    statement_cache: StatementCacheInfo | None = None


class CpuLayoutInfo(Model):
    pinned: bool
    service_cpus: list[int]
    other_cpus: list[int]
    note: str


class RunResults(Model):
    schema_version: Literal[3] = SCHEMA_VERSION
    run: RunInfo
    environment: Environment
    database: DatabaseInfo
    pgbouncer: PgBouncerInfo
    cpu_layout: CpuLayoutInfo
    variants: dict[str, VariantInfo]
    fairness: Fairness
    scenarios: dict[str, ScenarioResults]
    cross_check: CrossCheck | None = Field(
        None, description="wrk beside Locust on GET /users/{id}; null: not run (or older results)"
    )

    def label(self, variant: str) -> str:
        info = self.variants.get(variant)
        return info.label if info else variant


class GeneratorFigures(Model):
    """What one load generator measured of GET /users/{id} in the cross-check's window."""

    requests: int = Field(description="every response, failed ones included")
    successes: int
    failures: dict[str, int] = Field(description="failed requests by kind")
    seconds: float = Field(description="the measured window")
    throughput_rps: float = Field(description="successful responses per second (goodput)")
    p50_ms: float | None = Field(description="median latency; null without a response")
    latency_includes_failures: bool = Field(
        description="wrk times every response it gets, failed ones (non-2xx) included"
    )


class CrossCheckRun(Model):
    """One variant, driven by Locust and then by wrk, on one start of its service."""

    variant: str
    locust: GeneratorFigures | None = None
    wrk: GeneratorFigures | None = None
    error: str | None = Field(None, description="why it was not (fully) measured")


class CrossWindow(Model):
    """One turn of one variant, driven by one generator, in a block of the cross-check."""

    block: int
    variant: str
    generator: Literal["locust", "wrk"]
    requests: int = Field(description="responses completed in the window, failed ones included")
    successes: int
    seconds: float
    throughput_rps: float = Field(description="successful responses per second")
    p50: float | None = Field(description="ms, successful responses; null without one")
    p95: float | None
    p99: float | None
    error_rate: float
    generator_cpu_percent: float | None = Field(
        None, description="the generator's own CPU over the turn, % of one core"
    )
    opens_per_s: float | None = Field(
        None, description="TCP connections the machine accepted per second over the turn"
    )
    app_ms: float | None = Field(None, description="mean Server-Timing app of the successes")
    queue_ms: float | None = Field(None, description="mean latency - app: before the app saw it")
    pool_ms: float | None = None
    db_ms: float | None = None


class CrossCheck(Model):
    """A second, independent load generator. In a run of blocks: wrk (C, one connection per
    thread, pinned where Locust runs) takes turns beside Locust at the headline's scenario
    and highest step, in the same blocks. Older results: GET /users/{id} at 50 users,
    Locust then wrk, after the rounds."""

    design: Literal["after", "blocks"] = Field(
        "after", description="blocks: in the run's own blocks; after: older results"
    )
    endpoint: str = Field("", description="older results: the one request driven")
    scenario: str | None = None
    users: int = Field(description="Locust users = wrk connections")
    blocks: int = Field(0, description="blocks of the highest step with a wrk turn each")
    connections: Literal["keep-alive", "close"] = "keep-alive"
    warmup_seconds: float = 0.0
    window_seconds: float
    wrk_version: str | None = Field(description="null: wrk was not found, nothing ran")
    wrk_command: str | None = Field(None, description="one of the wrk runs, as run")
    note: str | None = Field(None, description="why it was skipped")
    windows: list[CrossWindow] = []
    runs: list[CrossCheckRun] = Field(default_factory=list, description="older results")


ScenarioResults.model_rebuild()
RunResults.model_rebuild()
