"""The write ledger: every write the scenarios send and how it was answered, so that
``loadtests/run/extras/audit.py`` can check after the run that no acknowledged write was lost.

Off unless Locust gets ``--ledger-dir``: then ``writes.sent`` returns None at once and
nothing else runs. On, each Locust process appends JSON lines to its own
``<dir>/ledger-<pid>.jsonl``, one when a write is sent and one when it is answered:

    {"w": 7, "kind": "POST /orders", "target": 12, "body": {"customer_id": 12, ...}, "t": 17,
     "v": "fastapi"}
    {"w": 7, "status": 201, "ack": {"id": 2041, "customer_id": 12, "items": [[3, 2, 99]]}, "t": 18}
    {"end": 45}

``w`` numbers the writes of one file; ``target`` is the user a PATCH renames or the
customer a POST orders for; ``v`` the variant it was sent to; ``t`` is ``time.time()``
just before sending and just after the answer arrived; ``ack`` is what a 2xx answer
acknowledged (null when its body could not be read), ``status`` 0 a connection error or
timeout. A write with no answer line was cut off by the end of the test. ``end`` is
written when Locust quits: a file without it was not closed cleanly and may miss its
last lines.

Lines are buffered in memory and written whole (one ``os.write`` per flush) every
``FLUSH_S``, at the end of a test and when Locust quits, so a killed Locust loses at most
the last seconds and at worst leaves one torn last line, which the audit ignores.
"""

from __future__ import annotations

import atexit
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from locust import events
from locust.env import Environment

from loadtests import plan
from loadtests.locust.listen import listener

FLUSH_S = 2.0

# What a 2xx answer acknowledged, by the write's endpoint: the audit compares it with
# the database row by row.
ACKNOWLEDGED: dict[str, Callable[[Any], dict[str, Any]]] = {
    plan.CREATE_ORDER: lambda body: {
        "id": body["id"],
        "customer_id": body["customer"]["id"],
        "items": [
            [item["product"]["id"], item["quantity"], item["unit_price_cents"]]
            for item in body["items"]
        ],
    },
    plan.RENAME_USER: lambda body: {"id": body["id"], "name": body["name"]},
}

Write = tuple[int, str]  # (number in this process's file, endpoint)


class Ledger:
    def __init__(self) -> None:
        self.directory: Path | None = None
        self._lines: list[bytes] = []
        self._count = 0
        self._fd: int | None = None
        self._flushed = time.monotonic()

    def open(self, directory: str) -> None:
        """Record into ``directory`` from now on (nothing when empty). Called in each Locust
        process after the fork, so ``os.getpid()`` names this process's own file."""
        self.directory = Path(directory) if directory else None
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)  # fails at start, not mid-run
            # The file exists from the start: a process killed before its first flush
            # leaves an empty file without the end mark, which the audit reports.
            path = self.directory / f"ledger-{os.getpid()}.jsonl"
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            atexit.register(self.flush)  # answers that arrive after the quitting event

    def sent(self, kind: str, target: int | None, body: Any, variant: str = "") -> Write | None:
        """Record a write about to be sent to ``variant``; None (nothing to answer) when off
        or not a write."""
        if self.directory is None or target is None:
            return None
        self._count += 1
        started = time.time()
        self._add(
            {"w": self._count, "kind": kind, "target": target, "body": body, "t": started,
             "v": variant}
        )  # fmt: skip
        return self._count, kind

    def answered(self, write: Write | None, response: Any) -> None:
        """Record the answer to ``write`` (a FastHttpUser response, status 0: no answer)."""
        if write is None:
            return
        ended, status, ack = time.time(), response.status_code, None
        if 200 <= status < 300:
            try:
                ack = ACKNOWLEDGED[write[1]](orjson.loads(response.content or b"null"))
            except (orjson.JSONDecodeError, KeyError, TypeError):
                ack = None  # an unreadable acknowledgement acknowledges nothing checkable
        self._add({"w": write[0], "status": status, "ack": ack, "t": ended})

    def _add(self, record: dict[str, Any]) -> None:
        self._lines.append(orjson.dumps(record) + b"\n")
        if time.monotonic() - self._flushed >= FLUSH_S:
            self.flush()

    def flush(self) -> None:
        self._flushed = time.monotonic()
        if not self._lines or self.directory is None:
            return
        data = memoryview(b"".join(self._lines))
        self._lines.clear()
        assert self._fd is not None  # opened with the directory
        while data:
            data = data[os.write(self._fd, data) :]

    def close(self) -> None:
        """The end mark, also in a process that sent nothing (Locust's master)."""
        if self.directory is not None:
            self._lines.append(orjson.dumps({"end": time.time()}) + b"\n")
        self.flush()


writes = Ledger()


@listener(events.init_command_line_parser)
def _options(parser: Any) -> None:
    parser.add_argument(
        "--ledger-dir", default="", include_in_web_ui=False,
        help="record every write and its answer in DIR/ledger-<pid>.jsonl (for --audit)",
    )  # fmt: skip


@listener(events.init)
def _init(environment: Environment, **_: Any) -> None:
    assert environment.parsed_options is not None  # Locust's command line always sets it
    writes.open(environment.parsed_options.ledger_dir)


@listener(events.test_stop)
def _test_stop(**_: Any) -> None:
    writes.flush()


@listener(events.quitting)
def _quitting(**_: Any) -> None:
    writes.close()
