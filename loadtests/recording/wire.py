"""The contract between the runner and Locust: the schedule the runner hands in, the
document Locust hands back, and the names both processes use.

Locust runs in its own processes (gevent monkey-patches them), so the runner never
imports Locust code. It writes a ``Schedule`` (``--schedule FILE``): every measured
window of the run in time order, each one variant's turn at one step. Locust follows it
and writes a ``Recorded`` document (``--results-file``) as it goes; the runner reads it
back, validated, so a file from another version or a torn write is one clear line, not
a ``KeyError``. Progress and window lines in Locust's log carry the prefixes below.

Tallies travel in their own serialised form (``TallyData``): plain dicts, so merging the
per-second series of a long run costs no model objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from loadtests import files
from loadtests.errors import SuiteError
from loadtests.plan import ArrivalKind
from loadtests.recording.tally import TallyData

VERSION: Final = 2

PROGRESS_PREFIX = "loadtests: "  # progress lines the runner forwards to the terminal
WINDOW_PREFIX = "loadtests-window: "  # a window's switch: its WindowMeta as JSON
ID_RANGES_ENV = "LOADTESTS_ID_RANGES"  # JSON {"user": n, ...}: the seeded id ranges
# Remote workers (``python -m loadtests worker``): the master's log line for each worker
# that joins, is refused or is lost (a ``WorkerEvent`` as JSON), and the worker's name.
WORKER_PREFIX = "loadtests-worker: "
WORKER_NAME_ENV = "LOADTESTS_WORKER_NAME"
REFUSED_PREFIX = "error: the master refused this worker: "  # a refused worker's one line
# A worker's line when its master said that another Locust run follows (the run's next
# scenario, or the generator ceiling's next turn): the ``worker`` command joins again.
AGAIN_PREFIX = "loadtests-again: "


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


Generator = Literal["locust", "wrk"]
Connections = Literal["keep-alive", "close"]
CONNECTIONS: tuple[Connections, ...] = ("keep-alive", "close")


class Segment(_Model):
    """One variant's turn: traffic switches to ``host`` at ``switch_s`` (seconds from the
    start of the test), the window is measured from ``start_s`` to ``end_s``; the next
    segment's switch is this one's end plus ``tail_s``. A ``wrk`` turn is driven by the
    runner's wrk while Locust's users wait (the cross-check)."""

    window: int  # 0, 1, ... in time order
    step: int  # 0 = the first step
    users: int
    block: int  # 1 = the step's first block; 0 = a fault's block, kept out of comparisons
    position: int  # 1 = first in its block
    variant: str
    host: str
    switch_s: float
    start_s: float
    end_s: float
    generator: Generator = "locust"
    tail_s: float = 0.0  # after the window, before the next switch (wrk's own stop)
    # Locust writes what it has recorded as this turn's warm-up begins (the first turn of
    # a step, or of a block when the steps are interleaved): never during a window.
    checkpoint: bool = False


class Schedule(_Model):
    """Every window of one Locust run, in time order, then zero users for ``drain_s``."""

    version: Literal[2] = VERSION
    segments: list[Segment]
    drain_s: float
    connections: Connections = "keep-alive"  # every request says Connection: close, or not
    # The open model: a segment's ``users`` is its arrival rate (req/s, the whole test's),
    # carried by ``max_in_flight`` users; None: the closed model.
    arrivals: ArrivalKind | None = None
    max_in_flight: int = 0

    def spawned(self, segment: Segment) -> int:
        """Users Locust runs during ``segment``: its users, or the open model's carriers."""
        return self.max_in_flight if self.arrivals else segment.users

    @property
    def total_s(self) -> float:
        last = self.segments[-1] if self.segments else None
        return (last.end_s + last.tail_s if last else 0.0) + self.drain_s

    @property
    def variants(self) -> list[str]:
        return list(dict.fromkeys(segment.variant for segment in self.segments))

    @property
    def reconnects(self) -> bool:
        """Every turn of several variants starts on new connections: no variant keeps a
        warm pool of connections from a previous turn while another gets new ones."""
        return len(self.variants) > 1


class WindowMeta(_Model):
    """A window as Locust ran it (epoch seconds, timed from the actual switch)."""

    window: int
    step: int
    users: int
    block: int
    position: int
    variant: str
    switch_at: float
    start: float
    end: float
    generator: Generator = "locust"
    tail: float = 0.0
    host: str = ""
    arrivals: ArrivalKind | None = None  # the open model: ``users`` is the rate (req/s)
    ended_at: float | None = None  # None: it had not ended when the file was written
    # The open model, after the window: seconds waited for its requests still in flight
    # before the next turn, and how many were still unanswered when the wait gave up (or
    # were on a worker that did not answer). None: no wait (the closed model).
    settle_s: float | None = None
    unanswered: int = 0

    def phase(self, now: float) -> str:
        """What the turn is doing at ``now``: past its end, the open model waits for its
        backlog (loadtests/locust/settle.py)."""
        if now < self.start:
            return "warm-up"
        settling = now >= self.end and self.arrivals is not None
        return "answering its backlog" if settling else "measuring"


class EndpointCount(_Model):
    requests: int
    failures: int


class LocustCounts(_Model):
    """Locust's own statistics, to check the suite's recording against."""

    requests: int
    failures: int
    per_endpoint: dict[str, EndpointCount]
    cpu_warning: bool


class WorkerEvent(_Model):
    """A Locust worker as the master saw it: joined, refused (another suite version or
    scenario definition), or lost (no heartbeat)."""

    event: Literal["joined", "refused", "lost"]
    id: str  # Locust's client id
    name: str  # the worker's --name, or its host name
    hostname: str
    at: float
    reason: str = ""


# How far before the master saw a worker lost its loss reaches: Locust marks a worker
# missing after about 4 heartbeats (1 s apart), the master's watch looks once a second,
# and the responses of the worker's last report interval (3 s) never arrived.
LOSS_REACH_S = 8.0


class WorkerSeen(_Model):
    """A worker that took part: when it joined (and was lost), its CPU per second."""

    name: str
    hostname: str
    joined_at: float
    lost_at: float | None = None
    cpu: dict[int, float] = {}  # epoch second -> % of one core, from its heartbeats


class Recorded(_Model):
    """Everything one Locust run recorded (the master's, merged over its workers)."""

    version: Literal[2] = VERSION
    complete: bool  # the last window ended
    windows: dict[int, WindowMeta]
    measured: dict[int, dict[str, TallyData]]  # window -> endpoint -> its responses
    totals: dict[str, TallyData]  # endpoint -> the whole run, warm-ups included
    series: dict[str, dict[int, TallyData]]  # variant -> epoch second of completion -> all
    per_worker: dict[str, int]  # Locust worker id -> responses it recorded (distributed)
    locust: LocustCounts
    dropped: dict[int, int] = {}  # open model: window -> arrivals no user was idle for
    # open model: window -> endpoint -> successes that completed inside the window (its
    # throughput; its latencies are of the responses to the arrivals inside it)
    served: dict[int, dict[str, int]] = {}
    workers: dict[str, WorkerSeen] = {}  # Locust worker id -> what the master saw of it


Document = TypeVar("Document", Schedule, Recorded)


def write(path: Path, document: Schedule | Recorded) -> None:
    """Atomically: the runner may read the file while a run is still going."""
    files.write_atomically(path, document.model_dump_json())


def read(path: Path) -> Recorded:
    """What Locust recorded; one line naming the problem when the file is not that."""
    return _load(path, Recorded, "statistics")


def read_schedule(path: Path) -> Schedule:
    return _load(path, Schedule, "schedule")


def _load(path: Path, kind: type[Document], what: str) -> Document:
    try:
        return kind.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise SuiteError(f"no {what} file at {path}") from None
    except OSError as exc:
        raise SuiteError(f"cannot read the {what} file {path}: {exc.strerror}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the document"
        raise SuiteError(
            f"{path} is not a {what} file of this suite version ({where}: {first['msg']})"
        ) from None
