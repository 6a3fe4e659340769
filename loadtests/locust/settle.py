"""The open model's pause between turns: the ending turn's requests are answered before
the next turn begins (README, "Between turns").

Past its capacity a variant ends its turn with a backlog: up to ``--max-in-flight``
requests queued in its service. Left alone, its service would work that backlog off on
the shared service core while the next variant's turn warms up and is measured, and the
next variant's figures would depend on which variant went before it. So at the end of
every open-model window the arrivals stop and the load shape waits, up to
``SETTLE_LIMIT_S``, until every arrival handed out has been answered; only then does it
switch. Each window records how long that took and how many requests were still out.

The closed model needs no wait: its backlog is at most one request per user, answered
within the next turn's warm-up.

With workers, the master asks each one to settle and waits for every answer. A worker
that does not answer in time is not waited for longer: it has stopped sending
heartbeats too, and the run marks it lost (loadtests/locust/remote.py).
"""

from __future__ import annotations

import time
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import STATE_MISSING, MasterRunner, WorkerRunner

from loadtests.locust import arrivals
from loadtests.plan import SETTLE_LIMIT_S
from loadtests.recording.wire import WindowMeta

SETTLE, SETTLED = "loadtests_settle", "loadtests_settled"
REPLY_GRACE_S = 2.0  # a worker's answer may travel this long after its own limit
POLL_S = 0.01


# The master's answers from its workers: window -> worker -> its requests still out.
answers: dict[int, dict[str, int]] = {}


def reset() -> None:
    """A new test: its windows are numbered from 0 again."""
    answers.clear()


def worker_init(runner: WorkerRunner) -> None:
    runner.register_message(SETTLE, _settle_here)


def master_init(runner: MasterRunner) -> None:
    runner.register_message(SETTLED, _answer)


def settle(environment: Environment | None, window: WindowMeta) -> None:
    """After ``window``: wait until its requests are answered; record the wait on it."""
    if window.arrivals is None or window.generator != "locust":
        return
    begun = time.time()
    runner = environment.runner if environment else None
    if isinstance(runner, MasterRunner):
        window.unanswered = _settle_workers(runner, window.window)
    else:
        window.unanswered = arrivals.current.settle(SETTLE_LIMIT_S)
    window.settle_s = round(time.time() - begun, 3)


def _settle_workers(runner: MasterRunner, window: int) -> int:
    answered = answers.setdefault(window, {})
    runner.send_message(SETTLE, {"window": window})
    deadline = time.monotonic() + SETTLE_LIMIT_S + REPLY_GRACE_S
    while not _present(runner) <= answered.keys() and time.monotonic() < deadline:
        gevent.sleep(POLL_S)
    return sum(answered.values())


def _present(runner: MasterRunner) -> set[str]:
    """The workers to wait for: looked at on every poll, so one that goes missing during
    the wait is not waited for."""
    return {cid for cid, client in runner.clients.items() if client.state != STATE_MISSING}


def _settle_here(environment: Environment, msg: Any, **_: Any) -> None:
    runner = environment.runner
    assert isinstance(runner, WorkerRunner)
    window = int(msg.data["window"])

    def answer() -> None:
        left = arrivals.current.settle(SETTLE_LIMIT_S)
        runner.send_message(SETTLED, {"window": window, "unanswered": left})

    gevent.spawn(answer)  # the message handler must not block the worker's loop


def _answer(environment: Environment, msg: Any, **_: Any) -> None:
    answers.setdefault(int(msg.data["window"]), {})[str(msg.node_id)] = int(msg.data["unanswered"])
