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

from loadtests.claims import outcomes, registry, rounds
from loadtests.claims.outcomes import MARGIN, TOLERANCE, Interval
from loadtests.claims.rules import (
    AtLeast,
    Difference,
    Exceeds,
    Happens,
    NotBelow,
    Ratio,
    Value,
    Within,
    judge,
)
from loadtests.claims.verdict import combine, decide
from loadtests.commands.claims import select
from loadtests.infra import database
from loadtests.report import claims_page, claims_table
from loadtests.results import stats
from loadtests.results.claims import CheckResult, ClaimResult, ClaimsDocument, ClaimsRun
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
FOUR = ("reproduced", "different size", "contradicted", "inconclusive")


# --- the outcomes, on intervals -------------------------------------------------------------


def _ci(low: float, high: float, unit: str = "x") -> Interval:
    return Interval((low * high) ** 0.5 if unit == "x" else (low + high) / 2, low, high, unit)


def test_the_choices_are_a_quarter_and_a_tenth_not_a_factor_of_two() -> None:
    assert (TOLERANCE, MARGIN) == (0.25, 0.10)
    assert outcomes.band(2.3) == pytest.approx((1.725, 2.875))
    assert outcomes.band((5.0, 14.0)) == (5.0, 14.0), "a range is the article's own"
    assert "±25%, a choice" in outcomes.band_text(2.3, "x")
    assert "a choice" in outcomes.margin_text()


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (2.1, 2.5, "reproduced"),
        (1.10, 1.18, "different size"),  # the issue's pk-select: 1.14x is not 2.3x
        (3.0, 3.6, "different size"),  # the other side of the band
        (0.80, 0.90, "contradicted"),
        (0.9, 1.3, "inconclusive"),  # includes 1: no direction
        (1.5, 2.0, "inconclusive"),  # the claimed direction, partly in the band: size open
    ],
)
def test_a_point_claim_of_2_3x_by_its_interval(low: float, high: float, expected: str) -> None:
    outcome, reason = outcomes.banded(_ci(low, high), 2.3, 1.0)
    assert outcome == expected, reason


def test_the_same_direction_gives_the_measured_factor() -> None:
    outcome, reason = outcomes.banded(_ci(1.10, 1.18), 2.3, 1.0)
    assert outcome == "different size" and "1.14x, 50% of 2.30x" in reason
    outcome, reason = outcomes.banded(_ci(1.05, 1.41, "ms"), 0.4, 0.0)
    assert outcome == "different size" and "3.1 times 0.400 ms" in reason


def test_one_round_never_gives_a_direction() -> None:
    single = Interval(2.3, None, None, "x")
    assert outcomes.banded(single, 2.3, 1.0)[0] == "inconclusive"
    assert outcomes.exceeds(single)[0] == "inconclusive"
    assert outcomes.not_below(single)[0] == "inconclusive"
    result = Ratio("a", "b", 2.0, "a / b").judge({"a": [2.0], "b": [1.0]})
    assert result.outcome == "inconclusive" and "one round" in result.measured
    assert result.figure is not None and result.figure.low is None


def test_not_faster_needs_the_margin_not_just_an_interval_containing_1() -> None:
    assert outcomes.not_below(_ci(0.95, 1.06))[0] == "reproduced"
    assert outcomes.not_below(_ci(0.93, 0.97))[0] == "reproduced", "faster, within the margin"
    assert outcomes.not_below(_ci(0.85, 1.10))[0] == "inconclusive", "contains 1: not enough"
    assert outcomes.not_below(_ci(0.80, 0.88))[0] == "contradicted"
    assert outcomes.floor() == pytest.approx(1 / 1.1)
    rule = NotBelow("async", "sync", "async / sync", "not faster")
    steady = [0.95, 1.05, 1.0, 0.97, 1.03]
    ones = [1.0] * 5
    assert rule.judge({"async": steady, "sync": ones}).outcome == "reproduced"
    # Fewer rounds of the same values: a wider interval, so not easier.
    assert rule.judge({"async": steady[:2], "sync": ones[:2]}).outcome == "inconclusive"
    assert rule.judge({"async": steady[:1], "sync": ones[:1]}).outcome == "inconclusive"


def test_a_direction_only_rule() -> None:
    assert outcomes.exceeds(_ci(1.2, 3.0))[0] == "reproduced"
    assert outcomes.exceeds(_ci(0.9, 3.0))[0] == "inconclusive"
    assert outcomes.exceeds(_ci(0.5, 0.8))[0] == "contradicted"


# --- the rules, on synthetic rounds ---------------------------------------------------------


def _ratio(claimed: float | tuple[float, float], num: list[float]) -> CheckResult:
    return Ratio("a", "b", claimed, "a / b").judge({"a": num, "b": [1.0] * len(num)})


def test_a_ratio_is_judged_on_the_interval_of_its_paired_rounds() -> None:
    sync = [1.0, 1.1, 0.9, 1.0, 1.05]
    asynchronous = [2.3, 2.5, 2.1, 2.3, 2.4]
    result = Ratio("a", "b", 2.3, "a / b").judge({"a": asynchronous, "b": sync})
    expected = stats.log_ratio_interval(asynchronous, sync)
    assert expected is not None and result.figure is not None
    assert (result.figure.estimate, result.figure.low, result.figure.high) == expected
    assert result.figure.per_round == [a / s for a, s in zip(asynchronous, sync, strict=True)]
    assert result.outcome == "reproduced" and "95% CI" in result.measured
    assert _ratio(2.3, [1.12, 1.16, 1.14, 1.13, 1.15]).outcome == "different size"
    assert _ratio(2.3, [0.85, 0.87, 0.83, 0.86, 0.84]).outcome == "contradicted"
    noisy = _ratio(1.3, [1.6, 0.9, 1.4])
    assert noisy.outcome == "inconclusive" and "includes 1" in noisy.reason


def test_a_round_with_a_zero_is_left_out_and_the_reason_says_so() -> None:
    sync = [1.0, 1.1, 0.0, 1.0]
    asynchronous = [2.3, 2.5, 2.2, 2.4]
    result = Ratio("a", "b", 2.3, "a / b").judge({"a": asynchronous, "b": sync})
    kept = [0, 1, 3]
    expected = stats.log_ratio_interval([asynchronous[i] for i in kept], [sync[i] for i in kept])
    assert result.figure is not None and expected is not None
    assert (result.figure.estimate, result.figure.low, result.figure.high) == expected
    assert len(result.figure.per_round) == 3
    assert "1 of 4 rounds left out (a zero measured: no ratio)" in result.reason, result.reason
    every = Ratio("a", "b", 2.3, "a / b").judge({"a": asynchronous, "b": [1.0, 1.1, 0.9, 1.0]})
    assert "left out" not in every.reason, "no round is named when none was left out"
    for rule in (Exceeds("a", "b", "a / b", "above 1"), NotBelow("a", "b", "a / b", "not faster")):
        assert "1 of 4 rounds left out" in rule.judge({"a": asynchronous, "b": sync}).reason


def test_a_range_claim_and_a_series_that_already_is_a_ratio() -> None:
    check = Ratio("r", None, (5.0, 14.0), "before")
    assert check.keys() == ("r",)
    assert check.judge({"r": [8.0, 8.5, 7.5]}).outcome == "reproduced"
    assert check.judge({"r": [3.0, 3.1, 2.9]}).outcome == "different size", "no tolerance"
    assert check.judge({"r": [0.9, 0.95, 0.92]}).outcome == "contradicted"


def test_a_cost_is_a_difference_judged_against_zero() -> None:
    cost = Difference("slow", "fast", 0.4, "ms", "re-fetch")
    near = cost.judge({"slow": [1.40, 1.51, 1.44], "fast": [1.0, 1.1, 1.05]})
    assert near.outcome == "reproduced", near.reason
    assert cost.judge({"slow": [2.2, 2.3, 2.25], "fast": [1.0, 1.1, 1.05]}).outcome == (
        "different size"
    )
    saving = cost.judge({"slow": [1.0, 1.1, 1.0], "fast": [1.5, 1.6, 1.5]})
    assert saving.outcome == "contradicted" and "opposite" in saving.reason
    none = cost.judge({"slow": [1.01, 1.09, 1.06], "fast": [1.0, 1.1, 1.05]})
    assert none.outcome == "inconclusive"


def test_a_value_against_a_figure_or_a_range() -> None:
    switch = Value("us", (2.0, 5.0), "µs", "switch")
    assert switch.judge({"us": [3.0, 3.2, 3.1]}).outcome == "reproduced"
    assert switch.judge({"us": [0.5, 0.52, 0.51]}).outcome == "different size"
    bridge = Value("ms", 0.08, "ms", "bridge")
    assert bridge.judge({"ms": [0.079, 0.081, 0.08]}).outcome == "reproduced"
    assert bridge.judge({"ms": [0.024, 0.025, 0.023]}).outcome == "different size"


def test_events_map_onto_the_same_outcomes() -> None:
    trap = Happens("raised", "trap", "raises")
    assert trap.judge({"raised": [1.0, 1.0]}).outcome == "reproduced"
    assert trap.judge({"raised": [1.0]}).outcome == "reproduced", "an event needs no interval"
    assert trap.judge({"raised": [0.0, 0.0]}).outcome == "contradicted", "it did not happen"
    assert trap.judge({"raised": [1.0, 0.0]}).outcome == "inconclusive"
    fix = Happens("errors", "fix", "no failure", "count", never=True)
    assert fix.judge({"errors": [0, 0]}).outcome == "reproduced"
    failed = fix.judge({"errors": [0, 2]})
    assert failed.outcome == "contradicted" and "the fix failed in 1 of 2" in failed.reason
    assert trap.judge({"raised": [1.0]}).measured == "yes in 1 of 1 round"
    bound = AtLeast("n", 4, "count", "switches")
    assert bound.judge({"n": [4, 4, 5]}).outcome == "reproduced"
    assert bound.judge({"n": [4, 3, 5]}).outcome == "inconclusive"
    assert bound.judge({"n": [2, 3, 3]}).outcome == "contradicted"
    within = Within("w", 1.0, 1.5, "x", "waits", "until the timeout")
    assert within.judge({"w": [1.02]}).outcome == "reproduced"
    assert within.judge({"w": [0.5]}).outcome == "contradicted"
    slower = Exceeds("a", "b", "a / b", "a is slower")
    assert slower.judge({"a": [3, 3.1, 2.9], "b": [1, 1, 1]}).outcome == "reproduced"
    assert slower.judge({"a": [3.0], "b": [1.0]}).outcome == "inconclusive", "one round"


# --- a claim's verdict ----------------------------------------------------------------------


def test_a_claims_rules_combine_into_one_outcome() -> None:
    assert combine(["reproduced", "reproduced"]) == "reproduced"
    assert combine(["reproduced", "different size"]) == "different size"
    assert combine(["different size", "inconclusive"]) == "inconclusive"
    assert combine(["inconclusive", "contradicted", "reproduced"]) == "contradicted"
    checks = (
        AtLeast("n", 4, "count", "switches"),
        Value("us", (2.0, 5.0), "µs", "one switch"),
    )
    verdict = decide(judge(checks, {"n": [4, 4, 4], "us": [0.5, 0.52, 0.51]}))
    assert (verdict.outcome, verdict.text) == ("different size", "same direction, different size")
    assert "one switch" in verdict.reason and "switches" not in verdict.reason


def test_a_rule_that_does_not_decide_is_shown_and_not_counted() -> None:
    checks = (
        Ratio("rows", "batched", 14.0, "the article's comparison"),
        Ratio("a", "b", 14.0, "the same mode", decides=False),
    )
    values = {"rows": [14.0, 14.5, 13.5], "batched": [1.0] * 3, "a": [0.9] * 3, "b": [1.0] * 3}
    results = judge(checks, values)
    assert [r.outcome for r in results] == ["reproduced", "contradicted"]
    assert decide(results).outcome == "reproduced"


PER_LOOP = (
    Ratio("asyncio", "sync", 2.3, "async / sync", setting=(LOOP, "asyncio")),
    Ratio("uvloop", "sync", 2.3, "async / sync", setting=(LOOP, "uvloop")),
)


def test_depends_on_x_when_the_settings_differ_significantly() -> None:
    values = {"sync": [1.0, 1.0, 1.0], "asyncio": [2.2, 2.3, 2.25], "uvloop": [1.0, 1.01, 0.99]}
    verdict = decide(judge(PER_LOOP, values))
    assert verdict.outcome == "depends" and verdict.text == "depends on the event loop"
    assert verdict.reason.startswith("reproduced with asyncio")
    assert "inconclusive with uvloop" in verdict.reason
    (between,) = verdict.interactions
    assert between.between == ("asyncio", "uvloop") and between.significant
    assert between.figure.per_round == pytest.approx([2.2, 2.3 / 1.01, 2.25 / 0.99])
    both = decide(judge(PER_LOOP, values | {"uvloop": [2.2, 2.31, 2.24]}))
    assert both.outcome == "reproduced" and "every event loop" in both.reason
    assert not both.interactions[0].significant


def test_a_round_left_out_on_one_side_is_left_out_of_the_interaction() -> None:
    """asyncio measured nothing in round 2: the interaction pairs asyncio's rounds 1, 3
    and 4 with uvloop's rounds 1, 3 and 4, not with its first three."""
    values = {"sync": [1.0] * 4, "asyncio": [2.0, 0.0, 3.0, 4.0], "uvloop": [2.0, 5.0, 3.0, 4.0]}
    results = judge(PER_LOOP, values)
    assert results[0].figure is not None and results[0].figure.rounds == [0, 2, 3]
    assert results[1].figure is not None and results[1].figure.rounds is None, "none left out"
    (between,) = decide(results).interactions
    assert between.figure.per_round == pytest.approx([1.0, 1.0, 1.0])
    assert not between.significant


def test_outcomes_that_differ_only_by_noise_are_not_depends() -> None:
    values = {
        "sync": [1.0] * 5,
        "asyncio": [1.95, 2.0, 2.05, 1.98, 2.02],  # tight, inside 1.72-2.88: reproduced
        "uvloop": [1.5, 2.1, 1.6, 2.0, 1.55],  # as fast on average, but noisy
    }
    results = judge(PER_LOOP, values)
    assert [r.outcome for r in results] == ["reproduced", "inconclusive"]
    verdict = decide(results)
    (between,) = verdict.interactions
    assert not between.significant and between.figure.low is not None
    assert between.figure.low < 1 < (between.figure.high or 0)
    assert verdict.outcome == "inconclusive" and "not significant" in verdict.reason


def test_a_rule_without_a_setting_counts_for_every_setting() -> None:
    checks = (AtLeast("n", 4, "count", "switches"), *PER_LOOP)
    values = {"n": [3, 3, 3], "sync": [1] * 3, "asyncio": [2.3] * 3, "uvloop": [2.3] * 3}
    verdict = decide(judge(checks, values))
    assert verdict.outcome == "contradicted" and "every event loop" in verdict.reason


# --- the claims that changed how they are judged ---------------------------------------------


def test_bulk_insert_is_judged_on_the_articles_own_comparison() -> None:
    bulk = registry.catalogue()["bulk-insert"]
    (deciding,) = [c for c in bulk.checks if c.decides]
    assert isinstance(deciding, Ratio)
    assert (deciding.num, deciding.den, deciding.claimed) == ("async_rows", "sync_batched", 14.0)
    shown = {(c.num, c.den) for c in bulk.checks if not c.decides and isinstance(c, Ratio)}
    assert shown == {("async_batched", "sync_batched"), ("async_rows", "sync_rows")}


def test_single_query_separates_connecting_from_the_first_query() -> None:
    single = registry.catalogue()["single-query"]
    keys = {s.key for s in single.series}
    assert {"sync_connect", "async_connect", "sync_first", "async_first"} <= keys
    judged = {c.keys() for c in single.checks if c.decides}
    assert judged == {("async_first", "sync_first"), ("async_next", "sync_next")}
    (beside,) = [c for c in single.checks if not c.decides]
    assert beside.keys() == ("async_connect", "sync_connect")


# --- claims.json and its page -------------------------------------------------------------


def _run(**fields: object) -> ClaimsRun:
    base: dict[str, object] = {
        "id": "claims-test", "status": "complete", "mode": "quick", "rounds": 3,
        "command": "python -m loadtests claims", "started_at": 1.7e9, "tolerance": TOLERANCE,
        "margin": MARGIN, "unstable_cv": 0.1, "pinned": "not pinned", "database": "test",
        "seed": {"users": 10},
    }  # fmt: skip
    return ClaimsRun.model_validate(base | fields)


def _pk_result() -> ClaimResult:
    claim = registry.catalogue()["pk-select"]
    values = {
        "sync": [0.20, 0.21, 0.19],
        "async_asyncio": [0.23, 0.24, 0.22],
        "async_uvloop": [0.22, 0.23, 0.21],
        "plan_ms": [0.03, 0.03, 0.03],
    }
    return rounds.judged(claim, 3, [], values)


def test_the_page_and_the_table_show_intervals_and_the_choices(tmp_path) -> None:
    document = ClaimsDocument(run=_run(), claims=[_pk_result()])
    (tmp_path / "claims.json").write_text(document.model_dump_json())
    html = claims_page.build(tmp_path).read_text()
    assert "95% interval" in html and "±25%" in html and "a choice" in html
    assert 'data-outcome="different size"' in html and "same direction, different size" in html
    assert "between the settings" in html
    text = claims_table.table(document)
    assert "±25%" in text and "10% margin" in text and "95% CI" in text
    assert "same direction, different size" in text


def test_an_older_claims_file_still_renders_with_its_verdicts_marked(tmp_path) -> None:
    older = {
        "schema_version": 1,
        "run": _run().model_dump(exclude={"tolerance", "margin", "older_factor"})
        | {"tolerance": 2.0},
        "claims": [
            {
                "id": "pk-select", "label": "pk", "method": "m", "article": "a",
                "source": "article 2", "family": "queries", "status": "measured",
                "rounds_planned": 3,
                "checks": [{"what": "async / sync", "claimed": "2.30x", "measured": "1.14x",
                            "passed": False, "reason": "under 1/2 of the article's figure",
                            "setting": ["event loop", "asyncio"]}],
                "verdict": {"outcome": "not reproduced", "text": "not reproduced",
                            "reason": "slower, but not 2.3x"},
            },
            {
                "id": "trap-pgbouncer", "label": "b", "method": "m", "article": "a",
                "source": "article 1", "family": "traps", "status": "skipped",
                "rounds_planned": 1,
                "verdict": {"outcome": "skipped", "text": "skipped", "reason": "no PgBouncer"},
            },
        ],
    }  # fmt: skip
    claims_dir = tmp_path / "claims-20250101-000000"
    claims_dir.mkdir()
    (claims_dir / "claims.json").write_text(json.dumps(older))
    document = claims_page.load(claims_dir)
    assert document.older_rules and document.run.older_factor == 2.0
    pk, bouncer = document.claims
    assert pk.verdict.outcome == "older rules"
    assert pk.verdict.text == "not reproduced (older verdict rules)"
    assert pk.checks[0].outcome == "older rules" and pk.checks[0].reason.startswith("did not")
    assert bouncer.verdict.outcome == "skipped", "errors and skips are not rules' verdicts"
    html = claims_page.build(claims_dir).read_text()
    assert "Older verdict rules" in html and "(older verdict rules)" in html
    assert "factor of 2" in claims_table.table(document)
    (entry,) = claims_page.index_entries(tmp_path)
    assert "not reproduced (older verdict rules)" in entry["counts"]


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


def _expected_outcome(low: float, high: float, claimed: float) -> str:
    """The four outcomes, worked out again here from an interval and a point claim."""
    band = (claimed * 0.75, claimed * 1.25)
    if band[0] <= low and high <= band[1]:
        return "reproduced"
    if high < 1:
        return "contradicted"
    if low > 1 and (high < band[0] or low > band[1]):
        return "different size"
    return "inconclusive"


def _assert_pk_verdict_follows_from_its_intervals(pk: ClaimResult) -> None:
    series = {s.key: s.values for s in pk.series}
    per_loop = {}
    for check in pk.checks:
        assert check.setting is not None and check.figure is not None
        loop = check.setting[1]
        expected = stats.log_ratio_interval(series[f"async_{loop}"], series["sync"])
        assert expected is not None, "three rounds give an interval"
        figure = check.figure
        assert (figure.estimate, figure.low, figure.high) == pytest.approx(expected)
        assert check.outcome == _expected_outcome(expected[1], expected[2], 2.3), check
        per_loop[loop] = check.outcome
    assert pk.verdict.outcome in (*FOUR, "depends")
    (between,) = pk.verdict.interactions
    if len(set(per_loop.values())) == 1:
        assert pk.verdict.outcome == per_loop["asyncio"], pk.verdict
    elif between.significant:
        assert pk.verdict.outcome == "depends", pk.verdict
    else:
        assert pk.verdict.outcome == "inconclusive", pk.verdict


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
    _assert_pk_verdict_follows_from_its_intervals(pk)

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


def test_the_overall_geometric_mean_keeps_each_round_in_its_place() -> None:
    ones = [1.0, 1.0, 1.0]
    values = {
        "pk-select": {"async_asyncio": [2.0, 2.0, 2.0], "async_uvloop": ones, "sync": ones},
        "eager-3": {"async_asyncio": [2.0, 0.0, 2.0], "async_uvloop": ones, "sync": ones},
        "bulk-insert": dict.fromkeys(("async_rows", "sync_rows", "async_batched", "sync_batched"), ones),
        "raw-vs-orm": dict.fromkeys(("orm_asyncio", "raw_uvloop", "sync_orm"), ones),
    }  # fmt: skip
    overall = registry.catalogue()["overall"]  # the catalogue decides the import order
    assert overall.derive is not None
    derived = overall.derive(values)
    assert derived["eager_before"] == [2.0, 0.0, 2.0], "the unmeasured round stays in place"
    root2 = 2**0.5  # the geometric mean of 2, 2, 1 and 1
    assert derived["before"] == pytest.approx([root2, 0.0, root2]), derived["before"]
    result = Ratio("before", None, (5.0, 14.0), "before").judge({"before": derived["before"]})
    assert "1 of 3 rounds left out" in result.reason
    summaries = rounds.summarize_series(overall, derived)
    before = next(s for s in summaries if s.key == "before")
    assert before.values == derived["before"], "every round shown in its place"
    assert (before.median, before.low, before.high) == pytest.approx((root2, root2, root2))
