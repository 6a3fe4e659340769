"""capacity's rules on synthetic probes: the SLO and error-limit grammar, the score, the
bracket, the bisection's next rate and the halfway rate (a case that must bound it, one
that must not, and the interval's coverage), the headline's words, the page, and the
command's refusals (one line, exit 2)."""

from __future__ import annotations

import math
import random
from html import unescape

import pytest

from loadtests.cli import main
from loadtests.errors import SuiteError
from loadtests.report import capacity_page
from loadtests.results import capacity, logistic, stats
from loadtests.results.capacity import CapacityResults, Probe, Settings, Slo
from loadtests.run.capacity import CapacityOptions
from loadtests.run.capacity import phases as search_phases

SLO = Slo(percentile="p99", limit_ms=250.0)


def probe(variant: str, rate: int, p99: float, failures: int = 0, block: int = 1) -> Probe:
    arrivals = max(rate * 4, 1)
    rate_failed = failures / arrivals
    return Probe(
        variant=variant, rate=rate, phase="ramp", run="1-ramp", block=block, arrivals=arrivals,
        errors=failures, dropped=0, throughput_rps=float(rate),
        latency_ms={"p50": p99 / 5, "p95": p99 / 2, "p99": p99, "p99_9": p99 * 1.5},
        lag_p99_ms=1.0, generator_saturated=False,
        score=capacity.score(p99, rate_failed, SLO, 0.01),
        within=capacity.within(p99, rate_failed, SLO, 0.01),
    )  # fmt: skip


def confirmed(variant: str, rate: int, p99: float) -> Probe:
    return probe(variant, rate, p99).model_copy(update={"phase": "confirm"})


@pytest.mark.parametrize(
    ("text", "percentile", "limit"),
    [("p99=250ms", "p99", 250.0), ("p99.9=1s", "p99.9", 1000.0), (" P95 = 0.5 s ", "p95", 500.0)],
)
def test_an_slo_is_a_percentile_and_a_limit_with_its_unit(
    text: str, percentile: str, limit: float
) -> None:
    slo = capacity.parse_slo(text)
    assert (slo.percentile, slo.limit_ms) == (percentile, limit)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("p90=250ms", "unknown percentile 'p90'"),
        ("p99=250", "needs a unit, ms or s"),
        ("p99=0ms", "must be a positive number"),
        ("p99=-5ms", "must be a positive number"),
        ("p99=nanms", "unknown unit 'nanms'"),
        ("p99=1e999ms", "must be a positive number"),
        ("p99=250us", "unknown unit 'us'"),
        ("250ms", "must look like p99=250ms"),
        ("p99=1.2.3ms", "is not a number"),
    ],
)
def test_a_bad_slo_is_one_clear_line(text: str, said: str) -> None:
    with pytest.raises(SuiteError, match=said):
        capacity.parse_slo(text)


def test_the_error_limit_is_a_percentage() -> None:
    assert capacity.parse_max_errors("1%") == pytest.approx(0.01)
    assert capacity.parse_max_errors("0.5%") == pytest.approx(0.005)
    for bad in ("1", "0%", "-1%", "60%", "x%"):
        with pytest.raises(SuiteError, match="--max-errors"):
            capacity.parse_max_errors(bad)


def test_a_probe_is_within_only_under_both_limits() -> None:
    assert capacity.within(250.0, 0.0, SLO, 0.01)  # at the SLO: within
    assert not capacity.within(250.1, 0.0, SLO, 0.01)
    assert not capacity.within(10.0, 0.01, SLO, 0.01)  # errors must stay *under* the limit
    # The score is the worse of the two, each against its own limit.
    assert capacity.score(125.0, 0.02, SLO, 0.01) == pytest.approx(2.0)
    assert capacity.score(500.0, 0.0, SLO, 0.01) == pytest.approx(2.0)


def test_the_bracket_is_the_highest_rate_within_below_the_lowest_beyond() -> None:
    probes = [probe("a", 100, 20), probe("a", 200, 40), probe("a", 400, 900), probe("a", 800, 5)]
    assert capacity.bracket(probes) == (200, 400)  # the noisy pass at 800 is above a failure
    assert capacity.bracket([probe("a", 100, 20), probe("a", 200, 30)]) == (200, None)
    assert capacity.bracket([probe("a", 100, 300), probe("a", 200, 900)]) == (None, 100)
    # A failure by errors alone moves the bracket too.
    assert capacity.bracket([probe("a", 100, 20), probe("a", 200, 20, failures=100)]) == (100, 200)


def test_bisection_halves_the_bracket_on_a_log_scale_until_the_resolution() -> None:
    assert capacity.midpoint(400, 800) == 566
    assert capacity.midpoint(400, 416) is None  # within 5%: not split again
    assert capacity.confirm_rates(400, 566) == (428, 500, 571)  # around the middle, 0.9-1.2


def test_windows_failing_more_often_at_higher_rates_bound_the_halfway_rate() -> None:
    rates = [300, *[400] * 3, *[450] * 3, *[500] * 3, *[550] * 3, 700]
    rising = [b == 1 for b in (0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1, 1, 1)]
    fit = logistic.halfway(rates, rising)
    assert fit.rate is not None and fit.low is not None and fit.high is not None
    assert 400 < fit.low < fit.rate < fit.high < 550, fit
    # The estimate is the profile's peak, and each end is where it has fallen by F / 2.
    best = logistic.profile(rates, rising, fit.rate)
    assert best >= max(logistic.profile(rates, rising, r) for r in range(400, 560, 4))
    cut = best - stats.t_quantile(0.975, len(rates) - 2) ** 2 / 2
    for end in (fit.low, fit.high):
        assert logistic.profile(rates, rising, end) == pytest.approx(cut, abs=1e-3)
    # The same rates with beyond and within alternating: no rise to place it by.
    mixed = logistic.halfway(rates, [i % 2 == 1 for i in range(len(rates))])
    assert mixed.low is None and mixed.high is None
    # Separated completely: the geometric middle of the gap, and still an interval.
    step = logistic.halfway([400, 450, 480, 520, 560, 600], [False] * 3 + [True] * 3)
    assert step.rate == pytest.approx(math.sqrt(480 * 520), rel=0.003)
    assert step.low is not None and step.high is not None and step.low < 480 < 520 < step.high
    # Beyond only at the lowest rates: not a knee.
    falling = logistic.halfway([100, 200, 300, 400], [True, True, False, False])
    assert falling.rate is None and falling.slope == 0.0
    # Beyond in two windows of seven, within at every rate above them: the best fit runs
    # off to the search's edge, which is no halfway rate either.
    edge = [False, True, True, False, False, False, False]
    off = logistic.halfway([50, 90, 90, 100, 100, 110, 110], edge)
    assert off.rate is None and off.slope > 0
    with pytest.raises(ValueError):
        logistic.halfway([100, 200], [False, True])  # two windows: nothing to fit


def _falls_behind(rng: random.Random, rate: int, truth: float, slope: float) -> bool:
    """A window of a bistable service: beyond the target with P = 1 / (1 + (truth /
    rate)^slope), a logistic knee whose halfway rate is ``truth``."""
    return rng.random() < 1 / (1 + (truth / rate) ** slope)


@pytest.mark.parametrize(("truth", "slope"), [(960, 25), (930, 10)])
def test_the_halfway_interval_covers_the_truth_about_95_percent_of_the_time(
    truth: int, slope: float
) -> None:
    """The design of a default search (ramp, two bisections, three rates in three blocks)
    with windows beyond at random, P(beyond) = 1 / (1 + (truth / rate)^slope): a knee as
    sharp as select-update's, and a shallower one that the search can bound less often.
    The chi-square reference covers less in some such designs (README)."""
    rng = random.Random(21)
    rates = [225, 340, 500, 750, 1125, 919, 1017, *[870, 967, 1063] * 3]
    covered = bounded = 0
    for _ in range(120):
        beyond = [_falls_behind(rng, rate, truth, slope) for rate in rates]
        fit = logistic.halfway(rates, beyond)
        bounded += fit.low is not None and fit.high is not None
        covered += fit.rate is not None and (fit.low or 0) <= truth <= (fit.high or math.inf)
    assert 0.90 <= covered / 120 <= 0.995
    assert bounded / 120 >= (0.9 if slope > 20 else 0.5)


def test_a_whole_search_of_a_bistable_service_brackets_its_halfway_rate() -> None:
    """Every phase as planned (ramp, bisections, confirmation in three blocks), each window
    beyond the target at random with P = 1 / (1 + (960 / rate)^30) and scoring 0.3 or 5:
    a service that either keeps up or falls behind. The search chooses its rates from what
    it has seen, which the interval does not allow for, so fewer such searches cover the
    truth than the 95% asked (README, "Capacity at a latency target")."""
    rng = random.Random(5)
    options = CapacityOptions(
        scenario="select-update", variants=("a",), catalogue={}, slo=SLO, max_errors=0.01,
        ramp=(225, 340, 500, 750, 1125),
    )  # fmt: skip
    covered = bounded = 0
    for _ in range(searches := 100):
        doc = _document({})
        for phase, levels, blocks in search_phases(options, doc):
            for rate in levels["a"] * blocks:
                over = _falls_behind(rng, rate, 960, 30)
                window = probe("a", rate, 1250 if over else 75)
                doc.probes.append(window.model_copy(update={"phase": phase}))
        found = capacity.estimate("a", doc.probes)
        bounded += found.low_rps is not None and found.high_rps is not None
        covered += found.status == "estimated" and (
            (found.low_rps or 0) <= 960 <= (found.high_rps or math.inf)
        )
    assert covered / searches >= 0.85 and bounded / searches >= 0.9, (covered, bounded)


def test_an_estimate_follows_the_probes_and_says_when_it_cannot() -> None:
    rng = random.Random(3)
    probes = [probe("a", r, 250 * math.exp(0.02 * (r - 500))) for r in (150, 300, 600)]
    probes += [
        probe("a", r, 250 * math.exp(0.02 * (r - 500) + rng.gauss(0, 0.1)), block=b)
        for r in (424, 490, 566)
        for b in (1, 2)
    ]
    found = capacity.estimate("a", probes)
    assert found.status == "estimated" and found.capacity_rps is not None
    assert found.low_rps is not None and found.high_rps is not None
    assert found.low_rps < 490 < found.capacity_rps < 566 < found.high_rps
    assert found.points == 9, "every probe of the variant, ramp ones too"
    assert capacity.estimate("b", [probe("b", 100, 10), probe("b", 200, 20)]).status == "at least"
    assert capacity.estimate("c", [probe("c", 100, 900)]).status == "below"
    # Beyond at 90 by chance, within at 100 and 110 again, and no rate above beyond it:
    # the fit would place it past every rate measured, so it does not.
    falling = [probe("d", 50, 250)]
    falling += [
        confirmed("d", r, p99)
        for r, p99 in ((90, 300), (90, 300), (100, 25), (100, 25), (110, 25), (110, 25))
    ]
    unresolved = capacity.estimate("d", falling)
    assert (unresolved.status, unresolved.within_rps, unresolved.beyond_rps) == (
        "unresolved",
        50,
        90,
    )
    assert unresolved.note == "the fit places it past the rates measured"
    # Beyond in half the windows at every rate from 90 to 110: no interval, said, not hidden.
    noisy = [
        confirmed("e", r, p99)
        for r, p99 in ((90, 100), (90, 900), (100, 40), (100, 1500), (110, 200), (110, 800))
    ]
    scattered = capacity.estimate("e", [probe("e", 80, 100), probe("e", 120, 900), *noisy])
    assert scattered.status == "estimated" and scattered.low_rps is None
    assert scattered.high_rps is None and "do not bound it on either side" in scattered.note
    # Shown with the search's measured bracket, which is a bound but not an interval.
    words = capacity_page.figure(scattered)
    assert words.startswith("about ") and "(no interval: its probes do not bound" in words
    assert words.endswith("the search's bracket: within the target at 80, beyond it at 90)")


# Flask's probes in a real default search here (phase, rate, p99 in ms): near the knee
# a window passes or fails almost by chance (1061 req/s within in all 3 blocks, 964 over
# in 2 of 3), and only one rate above 1061 was measured, beyond.
KNEE = [
    *(("ramp", r, p99) for r, p99 in ((150, 7.8), (225, 7.6), (340, 8.1), (500, 17.8))),
    *(("ramp", r, p99) for r, p99 in ((750, 24.2), (1122, 693.2))),
    ("bisect", 917, 118.7), ("bisect", 1014, 1068.0),
    *(("confirm", 868, p99) for p99 in (77.2, 52.0, 373.5)),
    *(("confirm", 964, p99) for p99 in (1059.8, 417.0, 54.5)),
    *(("confirm", 1061, p99) for p99 in (59.4, 49.5, 51.3)),
]  # fmt: skip


def test_an_interval_open_on_one_side_is_a_bound_in_words() -> None:
    probes = [probe("k", r, p99).model_copy(update={"phase": phase}) for phase, r, p99 in KNEE]
    found = capacity.estimate("k", probes)
    assert (found.status, found.within_rps, found.beyond_rps) == ("estimated", 917, 964)
    assert found.capacity_rps is not None and 964 < found.capacity_rps < 1122
    assert found.low_rps is not None and found.low_rps < 868 and found.high_rps is None
    assert found.note == "too few probes beyond the target above it"
    words = capacity_page.figure(found)
    assert words.endswith(f" or more: {found.note})") and capacity_page.interval(found).startswith(
        f"{round(found.low_rps)} or more"
    )
    # The same probes with 1061 beyond in every block: bounded on both sides.
    steadier = [p for p in probes if p.rate != 1061]
    steadier += [confirmed("k", 1061, p99) for p99 in (900.0, 1200.0, 1500.0)]
    kept = capacity.estimate("k", steadier)
    assert kept.status == "estimated" and kept.capacity_rps is not None and kept.note == ""
    assert kept.low_rps is not None and kept.high_rps is not None
    assert 750 < kept.low_rps < kept.capacity_rps < kept.high_rps < 1122, kept


def test_past_the_ramp_goes_on_at_its_ratio_until_a_bracket() -> None:
    assert capacity.ramp_ratio([150, 225, 340, 500, 750]) == pytest.approx(1.495, abs=0.001)
    within = [probe("a", r, 20) for r in (150, 750)]
    assert capacity.past_the_ramp(within, 1.5) == 1125
    beyond = [probe("b", r, 900) for r in (150, 750)]
    assert capacity.past_the_ramp(beyond, 1.5) == 100
    assert capacity.past_the_ramp([*within, probe("a", 1125, 900)], 1.5) is None
    assert capacity.past_the_ramp([probe("c", 1, 900)], 1.5) is None, "no rate below 1"
    many = [probe("m", r, 20) for r in (10_000, 15_000)]
    assert capacity.past_the_ramp(many, 1.5) == 20_000, "no higher than a plan allows"
    assert capacity.past_the_ramp([*many, probe("m", 20_000, 20)], 1.5) is None


def _searched(true_capacity: float, ramp: tuple[int, ...], extend: int) -> list[tuple[str, int]]:
    """The phases a search plans for a variant whose p99 is 250 ms at ``true_capacity``
    and doubles every 10% above it, each phase measured exactly before the next."""
    options = CapacityOptions(
        scenario="select-update", variants=("a",), catalogue={}, slo=SLO, max_errors=0.01,
        ramp=ramp, rounds=1, confirm_blocks=1, extend=extend,
    )  # fmt: skip
    doc = _document({})
    planned = []
    for phase, levels, _blocks in search_phases(options, doc):
        for rate in levels["a"]:
            planned.append((phase, rate))
            p99 = 250 * 2 ** (math.log(rate / true_capacity) / math.log(1.1))
            doc.probes.append(probe("a", rate, p99).model_copy(update={"phase": phase}))
    return planned


def test_a_search_goes_past_a_ramp_that_brackets_nothing_and_stops_once_it_does() -> None:
    ramp = (150, 225, 340, 500, 750)
    fast = _searched(2000, ramp, extend=4)
    assert [rate for phase, rate in fast if phase == "ramp"] == [*ramp, 1122, 1678, 2510]
    assert [phase for phase, _ in fast][len(ramp) + 3 :] == ["bisect", *["confirm"] * 3]
    assert _searched(2000, ramp, extend=0)[len(ramp) :] == [], "nothing to bisect or confirm"
    slow = [rate for phase, rate in _searched(60, ramp, extend=4) if phase == "ramp"]
    assert slow == [*ramp, 100, 66, 44]
    # A ramp that brackets the capacity goes straight to the bisection.
    assert _searched(400, ramp, extend=4)[len(ramp)][0] == "bisect"


def _document(estimates: dict[str, capacity.Estimate]) -> CapacityResults:
    return CapacityResults(
        id="x", status="complete", command="c", started_at=0.0, scenario="select-update",
        variants=list(estimates), labels={v: v.title() for v in estimates}, slo=SLO,
        max_errors=0.01, runs=[], estimates=estimates,
        settings=Settings(ramp=[100, 200], rounds=2, confirm_blocks=2, step_seconds=4,
                          warmup_seconds=4, arrivals="poisson", max_in_flight=1000),
    )  # fmt: skip


def _estimate(variant: str, x: float, low: float, high: float) -> capacity.Estimate:
    return capacity.Estimate(
        variant=variant, status="estimated", capacity_rps=x, low_rps=low, high_rps=high,
        within_rps=int(low), beyond_rps=int(high) + 1, points=6,
    )  # fmt: skip


def test_the_headline_names_each_capacity_with_its_interval_and_reads_overlaps() -> None:
    doc = _document(
        {
            "flask": _estimate("flask", 470, 450, 490),
            "fastapi": _estimate("fastapi", 380, 360, 400),
            "fair": _estimate("fair", 460, 430, 480),
        }
    )
    assert capacity_page.headline(doc) == (
        "At p99 ≤ 250 ms, Flask sustains 470 req/s (450-490), Fastapi 380 (360-400), "
        "Fair 460 (430-480)."
    )
    lines = capacity_page.differences(doc)
    assert lines[0] == "Fastapi sustains less than Flask: the intervals do not overlap."
    assert lines[1].startswith("Fair and Flask: no significant difference")


def test_an_open_end_is_a_bound_in_words_and_still_reads_a_difference() -> None:
    flask = _estimate("flask", 470, 450, 490)
    above = "too few probes beyond the target above it"
    fast = _estimate("fast", 700, 600, 800).model_copy(update={"high_rps": None, "note": above})
    below = "too few probes within the target below it"
    slow = _estimate("slow", 300, 250, 350).model_copy(update={"low_rps": None, "note": below})
    assert (capacity_page.interval(fast), capacity_page.interval(slow)) == (
        "600 or more",
        "up to 350",
    )
    assert capacity_page.figure(slow) == f"300 req/s (up to 350: {below})"
    assert capacity_page.differences(_document({"flask": flask, "fast": fast, "slow": slow})) == [
        "Fast sustains more than Flask: the intervals do not overlap.",
        "Slow sustains less than Flask: the intervals do not overlap.",
    ]
    # Open towards Flask's: it may reach it, so no verdict.
    near = _estimate("near", 480, 470, 500).model_copy(update={"low_rps": None, "note": below})
    assert capacity_page.differences(_document({"flask": flask, "near": near})) == [
        "Near and Flask: no significant difference (the intervals overlap)."
    ]


def test_the_page_draws_the_hockey_stick_with_the_slo_and_the_marks(tmp_path) -> None:
    doc = _document({"flask": _estimate("flask", 470, 450, 490)})
    doc.probes = [probe("flask", r, p) for r, p in ((200, 20), (400, 90), (566, 700))]
    capacity.write(tmp_path, doc)
    html = capacity_page.build(tmp_path).read_text()
    assert "Flask sustains 470 req/s (450-490)" in html
    chart = capacity_page.view(doc)["hockey"]
    marks = next(s for s in chart["series"] if s["label"] == "Flask capacity")
    assert [v for v in marks["values"] if v is not None] == [250.0]
    assert chart["x"]["values"][marks["values"].index(250.0)] == 470
    slo_line = next(s for s in chart["series"] if s["label"].startswith("SLO"))
    assert set(slo_line["values"]) == {250.0}
    assert "past that end" not in html, "an older document: no runs past the ramp"
    assert "no rate is also a moment" not in html, "nor a confirmation that interleaved"
    # An estimate without an interval reads on the page as in the terminal (its words
    # hold an apostrophe, which the page escapes).
    doc.estimates = {"flask": _estimate("flask", 470, 450, 490).model_copy(
        update={"low_rps": None, "high_rps": None, "note": "scattered"}
    )}  # fmt: skip
    capacity.write(tmp_path, doc)
    shown = unescape(capacity_page.build(tmp_path).read_text())
    assert capacity_page.headline(doc) in shown and "the search's bracket" in shown
    # Its ramp was 100 and 200 req/s: 400 and 566 were runs past it, named as such.
    doc.settings.extend, doc.settings.interleaved = 4, True
    capacity.write(tmp_path, doc)
    html = capacity_page.build(tmp_path).read_text()
    assert "up to 4 times (here: 400, 566 req/s)." in html
    assert "in one random order, so that no rate is also a moment of the run" in html
    assert "Fieller's theorem gives its interval" in html, "an older document's fit"
    doc.settings.fit = "halfway"
    capacity.write(tmp_path, doc)
    html = capacity_page.build(tmp_path).read_text()
    assert "<em>halfway rate</em>" in html and "Fieller" not in html


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--slo", "p90=250ms"], "unknown percentile 'p90'"),
        (["--slo", "p99=250"], "needs a unit"),
        (["--slo", "p99=0s"], "must be a positive number"),
        (["--max-errors", "1"], "must be a percentage"),
        (["--ramp", "300,200"], "must increase"),
        (["--ramp", "300"], "at least two rates"),
        (["--scenario", "read,write"], "one scenario at a time"),
        (["--services", "nope"], "nope"),
        (["--rounds", "9"], "--rounds must be between 0 and 6"),
        (["--extend", "-1"], "--extend must be between 0 and 10, got -1"),
        (["--step-seconds", "1"], "step seconds must be between 4"),
        (["--max-in-flight", "0"], "--max-in-flight must be between 1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], said: str, capsys, tmp_path) -> None:
    code = main(["capacity", "--out", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert said in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())  # nothing started, nothing written
