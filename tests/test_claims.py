"""`python -m loadtests claims`: the verdict rules on synthetic values, the command's
input checks, and real quick runs against the session's PostgreSQL."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from loadtests.claims import registry, rounds
from loadtests.claims.rules import (
    TOLERANCE,
    AtLeast,
    Difference,
    Exceeds,
    Happens,
    NotBelow,
    Ratio,
    Value,
    Within,
    decide,
    judge,
)
from loadtests.commands.claims import select
from loadtests.infra import database
from loadtests.report import claims_page, claims_table
from loadtests.results.claims import ClaimsDocument
from services.common.urls import with_database
from tests.browser import CHROMIUM, open_page
from tests.helpers import PROJECT_ROOT, cli_env, one_line_error, run_cli

ISSUE_IDS = (
    "pk-select", "eager-3", "bulk-insert", "raw-vs-orm", "greenlet", "prebuffer",
    "expire-refetch", "stmt-cache-miss", "overall", "single-query", "trap-missing-greenlet",
    "trap-lazy-load", "trap-gather-deadlock", "trap-gather-starvation", "trap-blocking",
    "trap-pgbouncer",
)  # fmt: skip
LOOP = "event loop"


# --- the rules, on synthetic values -------------------------------------------------------


def _ratio(claimed: float, num: list[float], den: list[float]) -> bool:
    return Ratio("a", "b", claimed, "a / b").judge({"a": num, "b": den}).passed


def test_a_ratio_holds_in_direction_and_within_the_tolerance() -> None:
    sync = [1.0, 1.1, 0.9, 1.0, 1.05]
    assert _ratio(2.3, [2.0, 2.2, 1.8, 2.1, 2.1], sync)  # about 2x: within a factor of 2
    assert _ratio(2.3, [1.2, 1.32, 1.08, 1.2, 1.26], sync)  # 1.2x > 2.3/2
    assert not _ratio(2.3, [1.1, 1.21, 0.99, 1.1, 1.15], sync)  # under half the claim
    assert not _ratio(2.3, [5.0, 5.5, 4.5, 5.0, 5.25], sync)  # more than twice the claim
    assert not _ratio(1.5, [0.8, 0.88, 0.72, 0.8, 0.84], sync)  # the opposite direction


def test_a_ratio_must_be_significant_not_just_above_one() -> None:
    noisy = Ratio("a", "b", 1.3, "a / b").judge({"a": [1.6, 0.9, 1.4], "b": [1.0, 1.0, 1.0]})
    assert not noisy.passed and "no significant difference" in noisy.reason
    steady = Ratio("a", "b", 1.3, "a / b").judge({"a": [1.3, 1.32, 1.28], "b": [1.0, 1.0, 1.0]})
    assert steady.passed and "95% CI" in steady.measured


def test_one_round_is_judged_on_its_value_and_says_so() -> None:
    result = Ratio("a", "b", 2.0, "a / b").judge({"a": [2.0], "b": [1.0]})
    assert result.passed and "one round" in result.measured


def test_a_range_claim_and_a_series_that_already_is_a_ratio() -> None:
    check = Ratio("r", None, (5.0, 14.0), "before")
    assert check.keys() == ("r",)
    assert check.judge({"r": [3.0, 3.1, 2.9]}).passed  # 3x >= 5 / TOLERANCE
    assert not check.judge({"r": [2.0, 2.1, 1.9]}).passed
    assert TOLERANCE == 2.0


def test_a_cost_is_a_significant_difference_near_the_claim() -> None:
    cost = Difference("slow", "fast", 0.4, "ms", "re-fetch")
    assert cost.judge({"slow": [1.5, 1.6, 1.55], "fast": [1.0, 1.1, 1.05]}).passed
    saving = cost.judge({"slow": [1.0, 1.1, 1.0], "fast": [1.5, 1.6, 1.5]})
    assert not saving.passed and "saving" in saving.reason
    tiny = cost.judge({"slow": [1.01, 1.11, 1.06], "fast": [1.0, 1.1, 1.05]})
    assert not tiny.passed and "1/2" in tiny.reason


def test_values_counts_bounds_and_directions() -> None:
    assert Value("us", (2.0, 5.0), "µs", "switch").judge({"us": [1.2, 1.1, 1.3]}).passed
    assert not Value("us", (2.0, 5.0), "µs", "switch").judge({"us": [0.3, 0.3, 0.3]}).passed
    assert AtLeast("n", 4, "count", "switches").judge({"n": [4, 4, 5]}).passed
    assert not AtLeast("n", 4, "count", "switches").judge({"n": [4, 3, 5]}).passed
    within = Within("w", 1.0, 1.5, "x", "waits", "until the timeout")
    assert within.judge({"w": [1.02]}).passed and not within.judge({"w": [0.5]}).passed
    faster = {"async": [0.8, 0.82, 0.79], "sync": [1.0, 1.0, 1.0]}
    assert not NotBelow("async", "sync", "async / sync", "not faster").judge(faster).passed
    same = {"async": [1.0, 0.98, 1.03], "sync": [1.0, 1.0, 1.0]}
    assert NotBelow("async", "sync", "async / sync", "not faster").judge(same).passed
    assert (
        Exceeds("a", "b", "a / b", "a is slower").judge({"a": [3, 3.1, 2.9], "b": [1, 1, 1]}).passed
    )


def test_traps_happen_in_every_round_and_fixes_never_fail() -> None:
    assert Happens("raised", "trap", "raises").judge({"raised": [1.0, 1.0]}).passed
    assert not Happens("raised", "trap", "raises").judge({"raised": [1.0, 0.0]}).passed
    fixed = Happens("errors", "fix", "no failure", "count", never=True)
    assert fixed.judge({"errors": [0, 0]}).passed and not fixed.judge({"errors": [0, 2]}).passed
    shown = Happens("raised", "trap", "raises").judge({"raised": [1.0]})
    assert shown.measured == "yes in 1 of 1 round"


def test_depends_on_x_when_the_settings_disagree() -> None:
    checks = (
        Ratio("asyncio", "sync", 2.3, "async / sync", setting=(LOOP, "asyncio")),
        Ratio("uvloop", "sync", 2.3, "async / sync", setting=(LOOP, "uvloop")),
    )
    values = {"sync": [1.0, 1.0, 1.0], "asyncio": [2.2, 2.3, 2.25], "uvloop": [1.0, 1.01, 0.99]}
    verdict = decide(judge(checks, values))
    assert verdict.outcome == "depends" and verdict.text == "depends on the event loop"
    assert verdict.reason.startswith("reproduced with asyncio; not with uvloop")
    both = decide(judge(checks, values | {"uvloop": [2.0, 2.1, 2.05]}))
    assert both.outcome == "reproduced" and "every event loop" in both.reason
    neither = decide(judge(checks, values | {"asyncio": [1.0, 1.0, 1.01]}))
    assert neither.outcome == "not reproduced"


def test_a_rule_without_a_setting_counts_for_every_setting() -> None:
    checks = (
        AtLeast("n", 4, "count", "switches"),
        Ratio("asyncio", "sync", 2.0, "async / sync", setting=(LOOP, "asyncio")),
        Ratio("uvloop", "sync", 2.0, "async / sync", setting=(LOOP, "uvloop")),
    )
    values = {"n": [3, 3, 3], "sync": [1, 1, 1], "asyncio": [2, 2, 2], "uvloop": [2, 2, 2]}
    assert decide(judge(checks, values)).outcome == "not reproduced"


# --- the catalogue and the command's input --------------------------------------------------


def test_every_claim_of_the_issue_is_registered_with_a_label_and_rules() -> None:
    known = registry.catalogue()
    assert set(known) == set(ISSUE_IDS)
    for claim in known.values():
        assert claim.label and claim.method and claim.article and claim.checks, claim.id
        assert (claim.measure is None) != (claim.derive is None), claim.id
    assert set(known["overall"].needs) <= set(known)


def test_only_selects_in_display_order_and_adds_what_a_derived_claim_needs() -> None:
    known = registry.catalogue()
    chosen, added = select("trap-blocking,pk-select", known)
    assert [c.id for c in chosen] == ["pk-select", "trap-blocking"] and added == []
    chosen, added = select("overall", known)
    assert set(added) == set(known["overall"].needs)
    assert [c.id for c in chosen][-1] == "overall", "a derived claim runs after its inputs"


def test_an_unknown_claim_is_a_one_line_error_listing_the_known_ones(tmp_path) -> None:
    result = run_cli("claims", "--only", "pk-select,nope", "--out", str(tmp_path), env=cli_env())
    line = one_line_error(result)
    assert line.startswith("error: unknown claim 'nope' (known: pk-select, eager-3,")
    assert all(claim_id in line for claim_id in ISSUE_IDS)
    assert not list(tmp_path.iterdir()), "nothing is written for bad input"


def test_a_round_that_fails_makes_the_claim_an_error_with_its_reason(monkeypatch) -> None:
    claim = registry.catalogue()["pk-select"]

    def failing(*_: object) -> object:
        raise rounds.RoundFailed("OperationalError: connection refused")

    monkeypatch.setattr(rounds, "run_round", failing)
    setup = rounds.Setup(url="postgresql://x@127.0.0.1/x", seed={}, quick=True, rounds=3,
                          logs=Path("/nonexistent"))  # fmt: skip
    result = rounds.measure(claim, setup, lambda *_: None, lambda _: None)
    assert result.status == "error" and result.verdict.outcome == "error"
    assert result.error == "OperationalError: connection refused"


# --- real runs ------------------------------------------------------------------------------


def _claims_dir(out: Path) -> Path:
    (found,) = [p for p in out.iterdir() if p.name.startswith("claims-")]
    return found


def _databases(target: database.Target) -> set[str]:
    with database.connect(with_database(target.url, "postgres")) as conn, conn.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database")
        return {row[0] for row in cur.fetchall()}


@pytest.mark.slow
def test_a_quick_run_measures_judges_and_renders(seeded, state_dir, tmp_path) -> None:
    # PgBouncer that cannot even say its version: that claim errors, the others still run.
    env = cli_env(state_dir, PGBOUNCER_BIN="/bin/false")
    started = time.monotonic()
    result = run_cli(
        "claims", "--quick", "--only", "pk-select,trap-missing-greenlet,trap-pgbouncer",
        "--out", str(tmp_path), env=env, timeout=120,
    )  # fmt: skip
    took = time.monotonic() - started
    assert result.returncode == 1, result.stdout + result.stderr  # 1: a claim errored
    assert "quick: fewer rounds and smaller counts" in result.stdout
    out = _claims_dir(tmp_path)
    document = ClaimsDocument.model_validate(json.loads((out / "claims.json").read_text()))
    assert document.run.status == "complete" and document.run.mode == "quick"
    claims = {c.id: c for c in document.claims}
    assert list(claims) == ["pk-select", "trap-missing-greenlet", "trap-pgbouncer"]

    pk = claims["pk-select"]
    assert pk.status == "measured" and len(pk.rounds) == 3
    assert {s.key for s in pk.series} == {"sync", "async_asyncio", "async_uvloop", "plan_ms"}
    assert all(len(s.values) == 3 and s.median > 0 for s in pk.series)
    assert set(pk.sizes) == {"queries per series"}
    assert {c.setting for c in pk.checks} == {(LOOP, "asyncio"), (LOOP, "uvloop")}
    assert pk.verdict.outcome in ("reproduced", "not reproduced", "depends")

    trap = claims["trap-missing-greenlet"]
    assert trap.verdict.outcome == "reproduced", trap.verdict.reason
    assert "MissingGreenlet" in trap.evidence["expire_on_commit=True (the default)"]

    bouncer = claims["trap-pgbouncer"]
    assert bouncer.status == "error" and "PgBouncer" in bouncer.error
    assert "\n" not in bouncer.error

    html = (out / "claims.html").read_text()
    for claim_id in claims:
        assert f'id="{claim_id}"' in html
    assert "Quick run" in html and "The article's claim" in html
    assert 'class="chart"' in html and 'src="http' not in html, "self-contained"
    assert 'href="claims-' in (tmp_path / "index.html").read_text()
    assert claims_table.table(document).count("\n") > 5 and "pk-select" in result.stdout
    assert f"{seeded.name}_claims" not in _databases(seeded), "the scratch copy is dropped"
    if CHROMIUM is not None:  # the page in a real browser: no error, offline, charts drawn
        opened = open_page(out / "claims.html", "claims.png")
        assert opened.errors == [] and opened.offline(), (opened.errors, opened.requests)
        assert opened.charts and opened.drawn(), opened.charts
    print(f"quick run of 3 claims: {took:.1f} s")


@pytest.mark.slow
def test_ctrl_c_keeps_the_rounds_already_measured(seeded, state_dir, tmp_path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadtests", "claims", "--quick", "--rounds", "6",
         "--only", "pk-select", "--out", str(tmp_path)],
        cwd=PROJECT_ROOT, env=cli_env(state_dir), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(lambda: proc.stdout.read(1), "")))
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while not re.search(r"rounds: \d+\.\ds \d+\.\ds", "".join(seen)):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(seen)
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(timeout=10)
    stderr = proc.stderr.read()
    assert proc.returncode == 130, "".join(seen) + stderr
    assert "Traceback" not in stderr
    out = _claims_dir(tmp_path)
    document = claims_page.load(out)
    assert document.run.status == "partial"
    (pk,) = document.claims
    assert pk.status == "interrupted" and 2 <= len(pk.rounds) < 6
    assert pk.verdict.reason.startswith(f"interrupted after {len(pk.rounds)} of 6 rounds")
    assert (out / "claims.html").exists()
    assert f"{seeded.name}_claims" not in _databases(seeded)


def test_a_missing_pgbouncer_skips_its_claim_with_a_notice(seeded, state_dir, tmp_path) -> None:
    env = cli_env(state_dir, PGBOUNCER_BIN=str(tmp_path / "no-pgbouncer"))
    result = run_cli("claims", "--only", "trap-pgbouncer", "--out", str(tmp_path), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "skipped" in result.stdout and "no-pgbouncer is not an executable" in result.stdout
    (claim,) = claims_page.load(_claims_dir(tmp_path)).claims
    assert claim.status == "skipped" and claim.verdict.outcome == "skipped"
