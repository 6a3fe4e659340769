"""Locust workers, local (``run --workers N``) or on other hosts (``python -m loadtests
worker --master HOST:PORT``): each says who it is, the master refuses one that runs
another suite version or other scenario definitions, and follows every worker's CPU and
heartbeat (README, "Running on more than one machine").

Every worker sends ``HELLO`` right after it connects. The master compares its identity
with its own and answers ``REFUSED`` to a stranger, which then quits with exit code 2
and one line; the master logs a ``WorkerEvent`` line for each worker that joins, is
refused or is lost, for the runner. The load shape on the master starts only once the
expected number of workers have been accepted (``ready``), so a refused worker never
receives a share of the load.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import gevent
import psutil
from locust.env import Environment
from locust.runners import STATE_MISSING, MasterRunner, WorkerRunner

from loadtests.plan import SCENARIOS
from loadtests.recording import wire
from loadtests.recording.wire import (
    AGAIN_PREFIX,
    REFUSED_PREFIX,
    WORKER_NAME_ENV,
    WORKER_PREFIX,
    WorkerEvent,
    WorkerSeen,
)

HELLO, REFUSED = "loadtests_hello", "loadtests_refused"
AGAIN = "loadtests_again"  # the master, its test stopping: another run follows, join it
CPU_KEY = "loadtests_cpu"  # in a worker's report: epoch second -> its CPU, % of one core
DISTRIBUTION = "flask-vs-fastapi-loadtests"
SAMPLE_S = 1.0


def version() -> str:
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def digest() -> str:
    """What every worker must run alike: the scenario definitions, the Locust code and the
    wire format (a worker with other code would record other things)."""
    found = hashlib.sha256(str(wire.VERSION).encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        found.update(path.name.encode() + path.read_bytes())
    scenarios = sorted((n, i.user_class, sorted(i.mix.items())) for n, i in SCENARIOS.items())
    found.update(repr(scenarios).encode())
    return found.hexdigest()[:16]


def own_name() -> str:
    return os.environ.get(WORKER_NAME_ENV) or socket.gethostname()


class _Workers:
    """The master's view of its workers."""

    def __init__(self) -> None:
        self.seen: dict[str, WorkerSeen] = {}
        self.refused: dict[str, str] = {}  # id -> why
        self.sampler: gevent.Greenlet[..., None] | None = None
        self.waiting_since: float | None = None
        self.exit_code = 0  # a worker: 2 once refused
        self.again = False  # a worker: its master said another run follows
        self.cpu: dict[int, float] = {}  # a worker: its own CPU per second, not yet reported

    def accepted(self) -> list[str]:
        return [cid for cid, seen in self.seen.items() if seen.lost_at is None]


workers = _Workers()


def _log(event: WorkerEvent) -> None:
    print(f"{WORKER_PREFIX}{event.model_dump_json()}", flush=True)


# -- the worker's side ------------------------------------------------------------------


def worker_init(runner: WorkerRunner) -> None:
    runner.register_message(REFUSED, _refused)
    runner.register_message(AGAIN, _again)
    gevent.spawn(_measure_cpu)
    runner.send_message(
        HELLO,
        {"name": own_name(), "hostname": socket.gethostname(), "version": version(),
         "digest": digest()},
    )  # fmt: skip


def _measure_cpu() -> None:
    """This worker's CPU each second (Locust's own heartbeat samples it every 10 s, too
    coarse to see a saturated second); it travels in the worker's reports."""
    process = psutil.Process()
    process.cpu_percent()
    while True:
        gevent.sleep(SAMPLE_S)
        workers.cpu[int(time.time())] = round(process.cpu_percent(), 1)


def take_cpu() -> dict[int, float]:
    taken, workers.cpu = workers.cpu, {}
    return taken


def merge_cpu(client: str, cpu: dict[Any, float] | None) -> None:
    seen = workers.seen.get(client)
    if seen is not None and cpu:
        seen.cpu.update({int(second): float(value) for second, value in cpu.items()})


def _refused(environment: Environment, msg: Any, **_: Any) -> None:
    print(f"{REFUSED_PREFIX}{msg.data['reason']}", file=sys.stderr)
    workers.exit_code = 2
    assert environment.runner is not None
    gevent.spawn(environment.runner.quit)


def _again(environment: Environment, msg: Any, **_: Any) -> None:
    workers.again = True


def quitting(environment: Environment) -> None:
    """A worker: its exit code, and whether to join the master's next run."""
    if isinstance(environment.runner, MasterRunner):
        return
    if workers.exit_code:
        environment.process_exit_code = workers.exit_code
    elif workers.again:
        print(f"{AGAIN_PREFIX}the master runs again", file=sys.stderr, flush=True)


# -- the master's side ------------------------------------------------------------------


def master_init(runner: MasterRunner) -> None:
    runner.register_message(HELLO, _hello)
    workers.sampler = gevent.spawn(_watch, runner)


def _hello(environment: Environment, msg: Any, **_: Any) -> None:
    data, client = msg.data, str(msg.node_id)
    name, hostname = str(data.get("name", "?")), str(data.get("hostname", "?"))
    reason = _difference(data)
    if reason:
        workers.refused[client] = reason
        _log(WorkerEvent(event="refused", id=client, name=name, hostname=hostname,
                         at=time.time(), reason=reason))  # fmt: skip
        runner = environment.runner
        assert isinstance(runner, MasterRunner)
        runner.send_message(REFUSED, {"reason": reason}, client_id=client)
        return
    workers.seen[client] = WorkerSeen(name=name, hostname=hostname, joined_at=time.time())
    _log(WorkerEvent(event="joined", id=client, name=name, hostname=hostname, at=time.time()))


def _difference(data: dict[str, Any]) -> str:
    if data.get("version") != version():
        return f"it runs suite version {data.get('version')}, the master {version()}"
    if data.get("digest") != digest():
        return (
            "its scenario definitions or Locust code differ from the master's (digest "
            f"{data.get('digest')}, the master's {digest()}): install the same suite version"
        )
    return ""


def _watch(runner: MasterRunner) -> None:
    """Once a second: a worker that stops sending heartbeats (or leaves) is lost."""
    while True:
        gevent.sleep(SAMPLE_S)
        now = time.time()
        for client, seen in workers.seen.items():
            node = runner.clients.get(client)
            if seen.lost_at is not None:
                continue
            if node is None or node.state == STATE_MISSING:
                seen.lost_at = now
                _log(WorkerEvent(event="lost", id=client, name=seen.name,
                                 hostname=seen.hostname, at=now))  # fmt: skip


def stopping(environment: Environment) -> None:
    """The master's test is ending. With ``--again`` (each scenario of a run is a Locust
    run of its own), it tells its workers that another run follows, before Locust's own
    quit message; not when it gives up, as on workers that never came."""
    runner = environment.runner
    again = getattr(environment.parsed_options, "again", False)
    if isinstance(runner, MasterRunner) and again and not environment.process_exit_code:
        runner.send_message(AGAIN, None)


def stop_sampling() -> None:
    """The test is over: workers leaving now are not lost."""
    if workers.sampler is not None:
        workers.sampler.kill(block=False)
        workers.sampler = None


def ready(environment: Environment) -> bool:
    """On the master: every expected worker accepted (else the shape holds the load).
    Gives up after ``--expect-workers-max-wait`` as Locust does, naming who came."""
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        return True
    options = environment.parsed_options
    expected = int(getattr(options, "expect_workers", 1) or 1)
    if len(workers.accepted()) >= expected:
        return True
    workers.waiting_since = workers.waiting_since or time.monotonic()
    wait = float(getattr(options, "expect_workers_max_wait", 0) or 0)
    if wait and time.monotonic() - workers.waiting_since > wait:
        environment.process_exit_code = 1
        gevent.spawn(runner.quit)
    return False
