"""The hand-off from Locust to the runner: one typed document, and the names both sides use.

Locust runs in its own processes (gevent monkey-patches them), so the runner never
imports Locust code; it reads the file Locust's master writes (``--results-file``) and
the lines it prints. This module is the whole of that contract: the document's shape
(validated when read, so a file from another version or a torn write is one clear line,
not a ``KeyError``), the prefixes of the lines the runner reads from Locust's log, and
the environment variable that passes the seeded id ranges in.

Tallies travel in their own serialised form (``TallyData``): plain dicts, so merging
the per-second series of a long run costs no model objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from loadtests import files
from loadtests.errors import SuiteError
from loadtests.recording.tally import TallyData

VERSION: Final = 1

PROGRESS_PREFIX = "loadtests: "  # progress lines the runner forwards to the terminal
WINDOW_PREFIX = "loadtests-window: "  # "STEP START END": a measured window opens (epochs)
ID_RANGES_ENV = "LOADTESTS_ID_RANGES"  # JSON {"user": n, ...}: the seeded id ranges
LATE_REPORT_S = 4.0  # the master writes its results again this long after a step ends


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StepMeta(_Model):
    """One step as the load shape ran it (epoch seconds)."""

    users: int
    started_at: float
    window: tuple[float, float]  # the measured window: start, end
    ended_at: float | None = None  # None: the step had not ended when the file was written


class EndpointCount(_Model):
    requests: int
    failures: int


class LocustCounts(_Model):
    """Locust's own statistics, to check the suite's recording against."""

    requests: int
    failures: int
    per_endpoint: dict[str, EndpointCount]
    cpu_warning: bool


class Recorded(_Model):
    """Everything one Locust run recorded (the master's, merged over its workers)."""

    version: Literal[1] = VERSION
    complete: bool  # the last step ended
    steps: dict[int, StepMeta]  # step index (0 = the first) -> its timing
    measured: dict[int, dict[str, TallyData]]  # step -> endpoint -> its measured window
    totals: dict[str, TallyData]  # endpoint -> the whole run, warm-ups included
    series: dict[int, TallyData]  # epoch second of completion -> every endpoint
    per_worker: dict[str, int]  # Locust worker id -> responses it recorded (distributed)
    locust: LocustCounts


def write(path: Path, recorded: Recorded) -> None:
    """Atomically: the runner may read the file while a run is still going."""
    files.write_atomically(path, recorded.model_dump_json())


def read(path: Path) -> Recorded:
    """The document at ``path``; one line naming the problem when it is not one."""
    try:
        return Recorded.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise SuiteError(f"Locust wrote no statistics to {path}") from None
    except OSError as exc:
        raise SuiteError(f"cannot read Locust's statistics {path}: {exc.strerror}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the document"
        raise SuiteError(
            f"{path} is not a statistics file of this suite version ({where}: {first['msg']})"
        ) from None
