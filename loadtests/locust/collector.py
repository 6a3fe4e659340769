"""The suite's hooks inside Locust: options, recording, merging, progress, results file.

Imported by the locustfile, so it runs in every Locust process (master, workers, or
the single local process). It wires the ``Recorder`` to Locust's events and the load
shape's hooks; it is the only module besides the locustfile that knows Locust's events.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from loadtests.locust import arrivals, heap, remote, settle, turn
from loadtests.locust.listen import listener
from loadtests.locust.recorder import REPORT_KEY, Delta, Recorder, error_kind
from loadtests.locust.shape import Hooks, Progress, RisingSteps
from loadtests.plan import id_ranges
from loadtests.recording import wire
from loadtests.recording.attribution import parse_header
from loadtests.recording.wire import (
    ID_RANGES_ENV,
    PROGRESS_PREFIX,
    WINDOW_PREFIX,
    EndpointCount,
    LocustCounts,
    WindowMeta,
)
from services.common.seed import SeedSpec
from services.common.timing import HEADER


class _Test:
    """The test in progress in this process (one per Locust process)."""

    def __init__(self) -> None:
        self.environment: Environment | None = None
        self.restart()

    def restart(self) -> None:
        self.complete = False
        self.windows: dict[int, WindowMeta] = {}


SWITCH_MESSAGE = "loadtests_switch"  # master -> workers: a window and its host

recorder = Recorder()
_test = _Test()
arrivals.current.on_drop = recorder.drop


def _default_ranges() -> dict[str, int]:
    """The runner passes the seeded ranges; by hand, the default seed's are assumed."""
    ranges = id_ranges(SeedSpec().as_dict())
    ranges.update({k: int(v) for k, v in json.loads(os.environ.get(ID_RANGES_ENV, "{}")).items()})
    return ranges


@listener(events.init_command_line_parser)
def _options(parser: Any) -> None:
    # Locust's own parser (not an argument group) understands include_in_web_ui.
    parser.add_argument(
        "--steps", default="10,50,100,200", help="rising user counts, comma-separated"
    )
    parser.add_argument(
        "--step-seconds", type=float, default=25.0, help="measured seconds per step"
    )
    parser.add_argument(
        "--warmup-seconds", type=float, default=8.0, help="unmeasured warm-up per step"
    )
    for kind, value in _default_ranges().items():
        parser.add_argument(
            f"--max-{kind}-id", type=int, default=value, help=f"random {kind} ids are 1..N"
        )
    internal = {"default": "", "include_in_web_ui": False}
    parser.add_argument("--results-file", help="the suite's statistics (JSON)", **internal)
    parser.add_argument("--schedule", help="the runner's schedule (JSON)", **internal)
    parser.add_argument("--run-label", help="prefix of the progress lines", **internal)
    parser.add_argument(
        "--again", action="store_true", default=False, include_in_web_ui=False,
        help="a master: another Locust run follows this one; its workers join it",
    )  # fmt: skip


@listener(events.init)
def _init(environment: Environment, **_: Any) -> None:
    _test.environment = environment
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        runner.register_message(SWITCH_MESSAGE, _switch_message)
        remote.worker_init(runner)
        settle.worker_init(runner)
    elif isinstance(runner, MasterRunner):
        remote.master_init(runner)
        settle.master_init(runner)
    RisingSteps.hooks = Hooks(
        restart=_restart, switch=_switch, window_end=_window_end, progress=_progress,
        ready=lambda: remote.ready(environment),
        settle=lambda window: settle.settle(environment, window),
    )  # fmt: skip


@listener(events.request)
def _request(
    name: str,
    response_time: float,
    exception: BaseException | None = None,
    response: Any = None,
    start_time: float | None = None,
    context: dict[str, Any] | None = None,
    **_: Any,
) -> None:
    started = start_time if start_time is not None else time.time() - response_time / 1000.0
    headers = getattr(response, "headers", None)
    timing = parse_header(headers.get(HEADER) if headers else None)
    variant = str((context or {}).get("variant", ""))
    intended = (context or {}).get("intended")
    kind = error_kind(exception, response)
    recorder.record(name, variant, started, response_time, kind, timing, intended)


@listener(events.spawning_complete)
def _spawned(user_count: int, **_: Any) -> None:
    # The first switch comes before the users exist, and a closed step adds users after
    # its switch: set them aside too, in the warm-up (a step's users spawn within a
    # second of it).
    heap.between_turns()


@listener(events.report_to_master)
def _report(client_id: str, data: dict[str, Any]) -> None:
    data[REPORT_KEY] = recorder.take_delta()
    data[remote.CPU_KEY] = remote.take_cpu()


@listener(events.worker_report)
def _worker_report(client_id: str, data: dict[str, Any]) -> None:
    delta: Delta | None = data.get(REPORT_KEY)
    if delta is not None:
        recorder.merge_delta(delta, client_id)
    remote.merge_cpu(client_id, data.get(remote.CPU_KEY))


@listener(events.test_stopping)
def _stopping(environment: Environment, **_: Any) -> None:
    remote.stopping(environment)


@listener(events.quitting)
def _quitting(environment: Environment, **_: Any) -> None:
    remote.stop_sampling()
    remote.quitting(environment)
    if not isinstance(environment.runner, WorkerRunner):
        _write_results(environment)


# -- load shape hooks (master or local process) ----------------------------------------------


def _restart() -> None:
    """The shape starts a new test (headless start, or Start in the web UI)."""
    arrivals.current.reset()
    settle.reset()
    recorder.reset()
    _test.restart()


def _switch(window: WindowMeta, host: str, fresh: bool, close: bool) -> None:
    """The shape switched the traffic: here, in every worker, and for the runner."""
    _test.windows[window.window] = window
    print(f"{WINDOW_PREFIX}{window.model_dump_json()}", flush=True)  # for the runner's extras
    runner = _test.environment.runner if _test.environment else None
    if isinstance(runner, MasterRunner):
        # The master runs no users: its workers share the arrivals, exactly (independent
        # Poisson processes at rate / N add up to one at the whole rate).
        share = 1.0 / max(1, runner.worker_count)
        message = {
            "window": window.model_dump(), "host": host, "fresh": fresh, "close": close,
            "share": share,
        }  # fmt: skip
        runner.send_message(SWITCH_MESSAGE, message)
        _take_turn(window, host, fresh, close, share=0.0)
    else:
        _take_turn(window, host, fresh, close, share=1.0)


def _switch_message(environment: Environment, msg: Any, **_: Any) -> None:
    data = msg.data
    window = WindowMeta.model_validate(data["window"])
    share = float(data.get("share", 1.0))
    _take_turn(window, str(data["host"]), bool(data["fresh"]), bool(data["close"]), share)


def _take_turn(window: WindowMeta, host: str, fresh: bool, close: bool, share: float) -> None:
    heap.between_turns()
    recorder.open_window(window)
    paused = window.generator != "locust"  # another generator's turn: the users wait
    opened = window.arrivals is not None
    turn.switch(host, window.variant, window.window, fresh, paused, close, opened)
    if window.arrivals is not None and not paused and share > 0:
        arrivals.current.start(window.users * share, window.arrivals, window.window)
    else:
        arrivals.current.stop()


def _window_end(window: WindowMeta, checkpoint: bool, last: bool) -> None:
    window.ended_at = time.time()
    _test.complete = last
    if last:
        arrivals.current.stop()  # the drain: nothing new arrives
        remote.stop_sampling()  # workers leaving from now on are not lost
    if not checkpoint:
        return
    # Written once per step (or block), as the next turn warms up (never in a measured
    # window: serialising every tally holds this process's event loop for a moment), and
    # at the end; the workers' last reports arrive during the drain, before the final
    # write when Locust quits.
    _write_results(_test.environment)


def _progress(progress: Progress) -> None:
    environment = _test.environment
    if environment is None:
        return
    total = environment.stats.total
    assert environment.parsed_options is not None  # Locust's command line always sets it
    label = environment.parsed_options.run_label
    p95 = total.get_current_response_time_percentile(0.95) or 0
    segment = progress.segment
    turn_text = (
        f", block {segment.block}/{progress.blocks}, {segment.variant}" if segment.variant else ""
    )
    print(
        f"{PROGRESS_PREFIX}{label + ' | ' if label else ''}step {segment.step + 1}/"
        f"{progress.steps} ({segment.users} {progress.unit}{turn_text}, {progress.phase})"
        f" | {_duration(progress.total_left_s)} left"
        f" | {total.current_rps:.0f} req/s, p95 {p95:.0f} ms, {total.num_failures} errors",
        flush=True,
    )


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _write_results(environment: Environment | None) -> None:
    if environment is None:
        return
    options = environment.parsed_options
    assert options is not None  # Locust's command line always sets it
    if not options.results_file:
        return
    stats = environment.stats
    per_endpoint: dict[str, EndpointCount] = {}
    for entry in stats.entries.values():
        counts = per_endpoint.setdefault(entry.name, EndpointCount(requests=0, failures=0))
        counts.requests += entry.num_requests
        counts.failures += entry.num_failures
    runner = environment.runner
    cpu_warning = bool(getattr(runner, "cpu_warning_emitted", False)) or bool(
        getattr(runner, "worker_cpu_warning_emitted", False)
    )
    locust = LocustCounts(
        requests=stats.total.num_requests,
        failures=stats.total.num_failures,
        per_endpoint=per_endpoint,
        cpu_warning=cpu_warning,
    )
    recorded = recorder.snapshot(_test.complete, dict(_test.windows), locust, remote.workers.seen)
    wire.write(Path(options.results_file), recorded)
