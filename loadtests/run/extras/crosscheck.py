"""A second, independent load generator where the headline is: wrk beside Locust.

Every figure in a report comes from Locust. Had Locust shaped them (its own CPU on the
core it shares with PostgreSQL, its HTTP client, gevent's scheduling), nothing else in
the run would show it. So at the scenario's highest step, the one the at-a-glance
sentences are about, the first blocks give every variant a second turn driven by wrk
(C, pinned where Locust runs) while Locust's users wait: the same scenario, the same
number of connections, the same warm-up after the switch and the same measured window,
in the same shuffled order as the Locust turns. The two generators' figures of one
variant are then paired block by block, and so are each generator's verdicts against the
baseline (loadtests/report/crosscheck.py).

wrk runs one connection per thread, so its Lua script (``crosscheck.lua``) times every
request itself and counts only the responses inside the window, into the suite's own
histogram buckets: wrk's own latency figures carry a coordinated-omission correction
Locust's do not, and include its warm-up. Both generators send ``Connection: close`` on
every request with ``--connections close``. Beside each turn the suite records the
generator's own CPU, the TCP connections the machine accepted per second (the
server's side of the connection behaviour) and the services' Server-Timing components.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtests.errors import SuiteError
from loadtests.infra.processes import pinned
from loadtests.plan import (
    CREATE_ORDER,
    GET_ORDER,
    GET_USER,
    LIST_ORDERS,
    LIST_USERS,
    NETWORK_TIMEOUT_S,
    ORDER_SUMMARY,
    RENAME_USER,
    SCENARIOS,
    ScenarioPlan,
    id_ranges,
)
from loadtests.recording.histogram import Histogram, HistogramData
from loadtests.recording.schedule import WRK_TAIL_S
from loadtests.recording.wire import WindowMeta
from loadtests.results.models import CrossCheck, CrossWindow, VariantRun
from loadtests.run.extras.base import Extra
from loadtests.run.generator import WindowListener
from loadtests.run.state import Run, RunOptions

SCRIPT = Path(__file__).with_name("crosscheck.lua")
OUTPUT_PREFIX = "loadtests-wrk: "  # the line crosscheck.lua's done() prints
WRK_TIMEOUT_S = int(NETWORK_TIMEOUT_S)  # as Locust's: slow answers stay in the statistics
MAX_WRK_USERS = 512  # wrk threads: one per connection
INSTALL = "install it with `apt-get install wrk` (Debian, Ubuntu) or `brew install wrk` (macOS)"
NOT_INSTALLED = f"wrk is not installed, so the second load generator did not run; {INSTALL}"
CODES = {  # the script's name for each request of a scenario's mix
    GET_USER: "get_user",
    RENAME_USER: "rename_user",
    LIST_USERS: "list_users",
    GET_ORDER: "get_order",
    LIST_ORDERS: "list_orders",
    ORDER_SUMMARY: "order_summary",
    CREATE_ORDER: "create_order",
}


def find_wrk() -> str | None:
    return shutil.which("wrk")


def wrk_version(wrk: str) -> str:
    """``wrk debian/4.1.0-3+b2 [epoll]`` (wrk prints it and its usage with ``-v``)."""
    try:
        out = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown version"
    return out.split(" Copyright", 1)[0].strip() or "unknown version"


def passive_opens() -> int | None:
    """TCP connections this machine has accepted since boot (``/proc/net/snmp``)."""
    try:
        lines = Path("/proc/net/snmp").read_text().splitlines()
    except OSError:
        return None
    names, values = (line.split()[1:] for line in lines if line.startswith("Tcp:"))
    return int(dict(zip(names, values, strict=True))["PassiveOpens"])


def wrk_argv(
    wrk: str, meta: WindowMeta, scenario: str, seed_spec: dict[str, Any], seed: int, close: bool
) -> list[str]:
    """One wrk turn: from now to the end of the window (whole seconds, within the turn's
    tail); the script counts the window only."""
    seconds = max(1, math.floor(meta.end + meta.tail - time.time()))
    ranges = id_ranges(seed_spec)
    mix = ",".join(f"{CODES[e]}:{w}" for e, w in SCENARIOS[scenario].mix.items())
    return [
        wrk, "--threads", str(meta.users), "--connections", str(meta.users),
        "--duration", f"{seconds}s", "--timeout", f"{WRK_TIMEOUT_S}s", "--script", str(SCRIPT),
        meta.host, "--", str(int(meta.start * 1e6)), str(int(meta.end * 1e6)), mix,
        str(ranges["user"]), str(ranges["order"]), str(ranges["customer"]),
        str(ranges["product"]), str(seed), "close" if close else "keep-alive",
    ]  # fmt: skip


def parse(output: str, meta: WindowMeta, cpu_seconds: float | None) -> CrossWindow:
    """One wrk turn's window, from the JSON line ``done()`` printed."""
    line = next((ln for ln in output.splitlines() if ln.startswith(OUTPUT_PREFIX)), None)
    if line is None:
        raise SuiteError("wrk printed no figures: " + " | ".join(output.strip().splitlines()[-2:]))
    data = json.loads(line[len(OUTPUT_PREFIX) :])
    ok = data["ok"]
    histogram = Histogram.from_dict(
        HistogramData(
            count=ok["count"], total=ok["total"], min=ok["min"], max=ok["max"],
            buckets={str(k): int(v) for k, v in ok["buckets"].items()},
        )
    )  # fmt: skip
    failed = int(data["failed"]) + int(data["socket_errors"])
    seconds = meta.end - meta.start
    timing = data["timing"]
    timed = int(timing["timed"])
    percentiles = histogram.percentiles((50.0, 95.0, 99.0)) if histogram.count else {}

    def mean_ms(name: str) -> float | None:
        return round(timing[name] / timed / 1000, 3) if timed else None

    app = mean_ms("app")
    return CrossWindow(
        block=meta.block,
        variant=meta.variant,
        generator="wrk",
        requests=histogram.count + failed,
        successes=histogram.count,
        seconds=round(seconds, 3),
        throughput_rps=round(histogram.count / seconds, 2),
        p50=round(percentiles[50.0] / 1000, 3) if percentiles else None,
        p95=round(percentiles[95.0] / 1000, 3) if percentiles else None,
        p99=round(percentiles[99.0] / 1000, 3) if percentiles else None,
        error_rate=round(failed / (histogram.count + failed), 6) if histogram.count + failed else 0,
        generator_cpu_percent=(
            round(cpu_seconds / (data["duration_us"] / 1e6) * 100, 1) if cpu_seconds else None
        ),
        app_ms=app,
        queue_ms=round(histogram.mean / 1000 - app, 3) if app is not None else None,
        pool_ms=mean_ms("pool"),
        db_ms=mean_ms("db"),
    )


class OpensSampler:
    """``passive_opens()`` every ``EVERY_S`` in a thread, to read the rate over any span."""

    EVERY_S = 0.2

    def __init__(self) -> None:
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        thread = threading.Thread(target=self._sample, daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._stop.set()
            thread.join()

    def _sample(self) -> None:
        while True:
            count = passive_opens()
            if count is not None:
                self.samples.append((time.time(), count))
            if self._stop.wait(self.EVERY_S):
                return

    def rate(self, start: float, end: float) -> float | None:
        """Per second between the samples nearest ``start`` and ``end``; None without them."""
        inside = [
            (t, n) for t, n in self.samples if start - self.EVERY_S <= t <= end + self.EVERY_S
        ]
        if len(inside) < 2 or inside[-1][0] - inside[0][0] < 0.5:
            return None
        (first, before), (last, after) = inside[0], inside[-1]
        return round((after - before) / (last - first), 1)


@dataclass
class _Turn:
    meta: WindowMeta
    process: subprocess.Popen[bytes]
    log: Path
    argv: list[str]
    cpu_seconds: float | None = None


class CrossCheckExtra(Extra):
    """wrk turns beside Locust's at the highest step of every scenario."""

    def __init__(self, options: RunOptions, blocks: int) -> None:
        self.options, self.blocks = options, blocks
        self.wrk = find_wrk()
        self.turns: list[_Turn] = []
        self.opens = OpensSampler()
        self.metas: dict[int, WindowMeta] = {}

    def announce(self) -> str:
        if self.wrk is None:
            return f"cross-check skipped: {NOT_INSTALLED}"
        return (
            f"cross-check: in {self.blocks} blocks of each scenario's highest step every "
            f"variant also gets a wrk turn ({self.options.connections} connections)"
        )

    def estimated_seconds(self) -> float:
        if self.wrk is None:
            return 0.0
        total = 0.0
        for plan in self.options.scenarios:
            users = plan.plan.steps[-1]
            turn = plan.plan.switch_for(users) + plan.plan.measure_s + WRK_TAIL_S
            total += min(self.blocks, plan.plan.blocks_at(users)) * len(plan.variants) * turn
        return total

    def schedule_changes(self) -> dict[str, Any]:
        return {"cross_blocks": self.blocks} if self.wrk is not None else {}

    @contextlib.contextmanager
    def around_scenario(
        self, run: Run, plan: ScenarioPlan, outcomes: dict[str, VariantRun]
    ) -> Iterator[WindowListener | None]:
        self.turns, self.opens, self.metas = [], OpensSampler(), {}
        if self.wrk is None:
            yield None
            return
        wrk, work = self.wrk, run.run_dir / "crosscheck"
        work.mkdir(parents=True, exist_ok=True)
        cpus = run.layout.other_cpus if run.layout.pinned else None
        close = self.options.connections == "close"

        def listen(meta: WindowMeta) -> None:
            self.metas[meta.window] = meta
            if meta.generator != "wrk":
                return
            seed = random.randrange(1, 2**31)
            argv = wrk_argv(wrk, meta, plan.scenario, run.seed_spec, seed, close)
            log = work / f"{plan.scenario}-{meta.window}-{meta.variant.replace(':', '_')}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    pinned(argv, cpus), stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
            turn = _Turn(meta, process, log, argv)
            threading.Thread(target=_reap, args=(turn,), daemon=True).start()
            self.turns.append(turn)

        try:
            with self.opens.running():
                yield listen
        except BaseException:
            for turn in self.turns:
                _kill(turn)
            raise
        for turn in self.turns:
            _stop(turn)

    def after_scenario(self, run: Run, plan: ScenarioPlan, outcomes: dict[str, VariantRun]) -> None:
        users = plan.plan.steps[-1]
        result = CrossCheck(
            design="blocks", scenario=plan.scenario, users=users,
            blocks=min(self.blocks, plan.plan.blocks_at(users)),
            connections=self.options.connections, window_seconds=plan.plan.measure_s,
            warmup_seconds=plan.plan.switch_for(users),
            wrk_version=wrk_version(self.wrk) if self.wrk else None,
            note=None if self.wrk else NOT_INSTALLED,
        )  # fmt: skip
        for turn in self.turns:
            try:
                window = parse(turn.log.read_text(errors="replace"), turn.meta, turn.cpu_seconds)
            except (OSError, ValueError, KeyError, SuiteError) as exc:
                result.note = f"a wrk turn was not measured ({exc}); see {turn.log}"
                continue
            window.opens_per_s = self._opens_per_s(turn.meta)
            result.windows.append(window)
            result.wrk_command = shlex.join(turn.argv)
        result.windows += self._locust_windows(plan, outcomes)
        run.results.scenarios[plan.scenario].cross_check = result
        run.save()

    def _opens_per_s(self, meta: WindowMeta) -> float | None:
        """Connections the machine accepted per second from the turn's switch to the end
        of its window (its warm-up too, where a generator opens its connections)."""
        return self.opens.rate(meta.switch_at, meta.end)

    def _locust_windows(
        self, plan: ScenarioPlan, outcomes: dict[str, VariantRun]
    ) -> list[CrossWindow]:
        """Locust's windows of the same blocks, from the variants' steps. A block keeps no
        Server-Timing breakdown, so Locust's queue/app/pool/db are the step's means over
        all its blocks (wrk's are its own turn's)."""
        users = plan.plan.steps[-1]
        turns = {
            (m.variant, m.block): m
            for m in self.metas.values()
            if m.generator == "locust" and m.users == users
        }
        found = []
        for variant, outcome in outcomes.items():
            step = next((s for s in outcome.steps if s.users == users), None)
            timing = step.attribution.mean if step and step.attribution else None
            for block in step.blocks if step else []:
                if block.block > self.blocks:
                    continue
                meta = turns.get((variant, block.block))
                found.append(
                    CrossWindow(
                        block=block.block, variant=variant, generator="locust",
                        requests=block.requests, successes=block.successes,
                        seconds=block.window.seconds, throughput_rps=block.throughput_rps,
                        p50=block.p50, p95=block.p95, p99=block.p99,
                        error_rate=block.error_rate,
                        generator_cpu_percent=block.generator_cpu_percent,
                        app_ms=timing.app if timing else None,
                        queue_ms=timing.queue if timing else None,
                        pool_ms=timing.pool if timing else None,
                        db_ms=timing.db if timing else None,
                        opens_per_s=self._opens_per_s(meta) if meta else None,
                    )
                )  # fmt: skip
        return found


def _reap(turn: _Turn) -> None:
    """Wait for wrk and keep the CPU it used (its rusage, from the kernel)."""
    with contextlib.suppress(ChildProcessError, OSError):
        _, _, usage = os.wait4(turn.process.pid, 0)
        turn.cpu_seconds = usage.ru_utime + usage.ru_stime
        turn.process.returncode = 0


def _stop(turn: _Turn) -> None:
    """Let wrk finish its turn; stop it if it outlives it."""
    deadline = turn.meta.end + turn.meta.tail + WRK_TIMEOUT_S
    while turn.process.returncode is None and time.time() < deadline:
        time.sleep(0.1)
    _kill(turn)


def _kill(turn: _Turn) -> None:
    """wrk and anything it started (its own process group), at once."""
    if turn.process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(turn.process.pid, signal.SIGKILL)


def create(options: RunOptions) -> Extra | None:
    if options.cross_check is None:
        return None
    return CrossCheckExtra(options, options.cross_check)
