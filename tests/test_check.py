"""check: thresholds and regressions turn a run into pass or fail for CI. The rules and
the grammar on synthetic results documents (a case that must pass and one that must
fail for each), JUnit output against its schema, Markdown, bad input; then real smoke
runs: one checked against itself passes, the same run against a variant slowed by a CPU
burn fails with the right rule named."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import xmlschema

from loadtests.cli import main
from loadtests.commands import check
from loadtests.errors import SuiteError
from loadtests.report import gate
from loadtests.results import regression, store, thresholds
from loadtests.results.models import RunResults
from tests.helpers import PROJECT_ROOT, cli_env, one_line_error, run_cli, scattered

JUNIT_XSD = PROJECT_ROOT / "tests" / "data" / "junit.xsd"


def results(factor: float = 1.0, noise: float = 0.03, seed: int = 1, blocks: int = 6) -> RunResults:
    """The old sample run in blocks, every variant's latency times ``factor``."""
    return scattered(lambda variant: factor, noise, seed, blocks)


def outcomes(text: str, data: RunResults | None = None) -> list[thresholds.Outcome]:
    return thresholds.evaluate(thresholds.parse(text), data or results())


def test_a_threshold_holds_or_fails_at_every_step_it_matches() -> None:
    data = results()
    top = max(r.steps[-1].latency_ms.p99 for s in data.scenarios.values() for r in s.runs)
    passing = outcomes(f'"p99@max" = "<{top + 1}ms"', data)
    assert len(passing) == 4 and all(o.passed for o in passing)  # 2 scenarios x 2 variants
    p99 = data.scenarios["select-update"].runs[0].steps[-1].latency_ms.p99
    failing = outcomes(f'[select-update.flask]\n"p99@10" = "<{p99 - 1}ms"', data)
    (only,) = failing
    assert not only.passed and (only.scenario, only.variant, only.step) == (
        "select-update",
        "flask",
        10,
    )
    line = only.line({"flask": "Flask"})
    assert line.startswith("FAIL select-update · Flask · 10 users: p99 latency")
    assert f"limit < {p99 - 1:,.1f} ms" in line and "(thresholds:2:1)" in line


def test_units_and_comparisons_convert_to_the_measured_unit() -> None:
    assert all(o.passed for o in outcomes('errors = "<1%"\n"p99" = "<=60s"\n"rps@5" = ">=0"'))
    assert not any(o.passed for o in outcomes('"rps@5" = ">1000000 req/s"'))
    assert not any(o.passed for o in outcomes('"errors" = ">0.5%"'))


def test_a_rule_that_matches_nothing_fails_and_never_passes_silently() -> None:
    for text in ('"p99@7" = "<1s"', '[nope]\np99 = "<1s"', '[select-update.nobody]\np99 = "<1s"'):
        (found,) = outcomes(text)
        assert not found.passed and "matched no scenario" in found.line({})


def test_a_metric_not_measured_fails() -> None:
    (found, *_) = outcomes('"memory@5" = "<100MiB"')
    assert not found.passed and "service memory not measured" in found.line({})
    # A closed run schedules no arrivals, so it drops none: not measured, not a pass.
    (found, *_) = outcomes('"dropped@5" = "<1%"')
    assert not found.passed and "dropped arrivals not measured" in found.line({})


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('p42 = "<1s"', "t.toml:1:1: p42 = '<1s': unknown metric 'p42'"),
        ('\n\n  "p99@x" = "<1s"', "t.toml:3:3: p99@x = '<1s': a rule's key is METRIC"),
        ('p99 = "500ms"', "a limit is a comparison and a number"),
        ('p99 = "<500"', "p99 takes 'ms', 's'"),
        ('errors = "<1"', "errors takes '%'"),
        ("p99 = 500", "a limit is a string"),
        ('p99 = "<-5ms"', "a finite number, 0 or more"),
        ('p99 = "<1ms', "not valid TOML"),
        ("", "no rule"),
    ],
)
def test_bad_syntax_names_the_line_and_column(text: str, said: str) -> None:
    with pytest.raises(SuiteError, match=None) as raised:
        thresholds.parse(text, "t.toml")
    assert said in str(raised.value)


def test_a_real_slowdown_regresses_and_the_same_run_does_not() -> None:
    base = results(seed=1)
    same = results(seed=2)  # the same figures, other noise
    slower = results(factor=1.5, seed=3)
    assert not any(c.regressed for c in regression.changes(same, base, regression.TOLERANCES))
    found = regression.changes(slower, base, regression.TOLERANCES)
    regressed = {(c.scenario, c.variant, c.step, c.tolerance.metric) for c in found if c.regressed}
    assert ("select-update", "flask", 10, "rps") in regressed
    assert ("select-update", "flask", 10, "p99") in regressed
    line = next(c for c in found if c.regressed and c.tolerance.metric == "p99").line({})
    assert line.startswith("FAIL ") and "+50.0% worse" in line and "(Holm)" in line


def test_a_small_or_insignificant_change_is_no_regression() -> None:
    base = results(seed=1)
    within = results(factor=1.1, seed=4)  # 10% slower: inside p99's 20% tolerance
    assert not any(
        c.regressed and c.tolerance.metric.startswith("p")
        for c in regression.changes(within, base, regression.TOLERANCES)
    )
    noisy = results(factor=1.5, noise=1.5, seed=5, blocks=2)  # 50% worse, but pure noise
    assert not any(
        c.regressed
        for c in regression.changes(noisy, results(noise=1.5, blocks=2), regression.TOLERANCES)
    )


def test_a_cell_with_one_block_is_not_testable_and_says_so() -> None:
    found = regression.changes(
        results(factor=2, blocks=1), results(blocks=1), regression.TOLERANCES
    )
    assert found and all(c.p_value is None and not c.regressed for c in found)
    assert "not testable" in found[0].line({})


def test_runs_that_measured_different_things_are_refused() -> None:
    other = results()
    other.scenarios["select-update"].plan.steps = [5, 20]
    with pytest.raises(SuiteError, match="not comparable: select-update's steps"):
        regression.comparable(other, results())
    fewer = results()
    del fewer.scenarios["mixed"]
    with pytest.raises(SuiteError, match="not comparable: the run measured"):
        regression.comparable(fewer, results())
    moved = results()
    moved.environment.machine["cpu_count"] = 64
    warnings = regression.comparable(moved, results())
    assert any(w.startswith("machine cpu_count: 64 here") for w in warnings)
    assert not any("not reset" in w for w in warnings)
    assert regression.comparable(results(), results()) == []
    longer = results()
    longer.scenarios["mixed"].plan.step_seconds *= 2
    longer.run.locust_processes = 2
    warnings = regression.comparable(longer, results())
    assert any(w.startswith("mixed step_seconds: ") for w in warnings)
    assert "Locust processes: 2 here, 1 in the baseline" in warnings
    unreset = results()
    unreset.scenarios["mixed"].reset_refused = "role 'app' may not create databases"
    warnings = regression.comparable(results(), unreset)
    assert "mixed: the database was not reset in the baseline (role 'app'" in " ".join(warnings)


def test_junit_validates_against_its_schema_and_names_each_failure(tmp_path: Path) -> None:
    verdict = gate.Verdict(run="r", baseline="b")
    verdict.outcomes = outcomes('"p99@5" = "<0.001ms"\nerrors = "<1%"')
    verdict.changes = regression.changes(
        results(factor=1.5, seed=3), results(), regression.TOLERANCES
    )
    xml = gate.junit(verdict, {"flask": "Flask"})
    xmlschema.XMLSchema(JUNIT_XSD).validate(xml)
    assert xml.count("<failure") == verdict.failures > 0
    markdown = gate.markdown(verdict, {})
    assert markdown.startswith("### Load test check: failed") and "| ❌ |" in markdown


def _write(tmp_path: Path, name: str, data: RunResults) -> Path:
    directory = tmp_path / name
    directory.mkdir()
    store.write(directory, data)
    return directory


def test_latest_is_the_newest_run_by_name_and_an_older_broken_one_does_not_stop_it(
    tmp_path: Path, monkeypatch
) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    monkeypatch.setattr(check, "REPORTS_DIR", reports)
    older = _write(reports, "20261201-101010-quick", results())
    (older / store.FILENAME).write_text("{ truncated")  # no longer validates
    _write(reports, "20261202-085959-quick-9", results())
    first, second = results(), results()
    first.run.started_at, second.run.started_at = 1000.2, 1000.7
    # Two runs in the newest second: their documents order them, not their names.
    newer = _write(reports, "20261202-090000-quick", second)
    _write(reports, "20261202-090000-quick-10", first)
    _write(reports, "baseline", results())  # copied in by hand: not this checkout's latest
    assert check.find_run("latest") == newer
    # Only runs named otherwise: their documents say which started last.
    hand = tmp_path / "hand"
    hand.mkdir()
    monkeypatch.setattr(check, "REPORTS_DIR", hand)
    early, late = results(), results()
    early.run.started_at, late.run.started_at = 100.0, 200.0
    _write(hand, "b", early)
    started_last = _write(hand, "a", late)
    assert check.find_run("latest") == started_last
    monkeypatch.setattr(check, "REPORTS_DIR", tmp_path / "nothing")
    with pytest.raises(SuiteError, match=r"no run under .* for 'latest'"):
        check.find_run("latest")


@pytest.mark.alone
def test_the_command_exits_by_the_verdict_and_writes_its_files(tmp_path: Path, capsys) -> None:
    run = _write(tmp_path, "run", results())
    rules = tmp_path / "t.toml"
    rules.write_text('errors = "<1%"\n')
    assert main(["check", str(run), "--thresholds", str(rules)]) == 0
    assert capsys.readouterr().out.strip().endswith("8 of 8 threshold checks passed")
    rules.write_text('"p99@10" = "<0.001ms"\n')
    junit, summary = tmp_path / "j.xml", tmp_path / "s.md"
    started = time.perf_counter()
    code = main(["check", str(run), "--thresholds", str(rules), "--junit", str(junit),
                 "--markdown", str(summary)])  # fmt: skip
    assert time.perf_counter() - started < 2
    out = capsys.readouterr().out
    assert code == 1 and out.count("FAIL select-update") == 2 and "check FAILED" in out
    xmlschema.XMLSchema(JUNIT_XSD).validate(junit.read_text())
    assert "### Load test check: failed" in summary.read_text()
    slower = _write(tmp_path, "slower", results(factor=1.5, seed=3))
    assert main(["check", str(slower), "--baseline", str(run)]) == 1
    assert "regression(s)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ([], "nothing to check against"),
        (["--thresholds", "missing.toml"], "no such file"),
        (["--baseline", "no-such-run"], "no run directory 'no-such-run'"),
        (["--baseline", "RUN", "--tolerance", "p99"], "--tolerance must be METRIC=PERCENT"),
        (["--baseline", "RUN", "--tolerance", "p42=5%"], "unknown metric 'p42'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, said, tmp_path: Path) -> None:
    run = _write(tmp_path, "run", results())
    args = [str(run) if a == "RUN" else a for a in args]
    result = run_cli("check", str(run), *args, env=cli_env())
    assert said in one_line_error(result)
    missing = run_cli("check", str(tmp_path / "nowhere"), "--baseline", str(run), env=cli_env())
    assert "no run directory" in one_line_error(missing)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "results.json").write_text(json.dumps({"schema_version": 99}))
    assert "not a results file" in one_line_error(
        run_cli("check", str(broken), "--baseline", str(run), env=cli_env())
    )


# The smoke profile's 2 blocks per step cannot make any difference significant once Holm
# has seen every cell (README, "A gate for CI"); the ci profile has 6 at its top step.
# Here the same idea, smaller: one variant, one step, 6 blocks.
QUICK = ("--scenario", "select-update", "--services", "flask", "--steps", "20", "--blocks", "6",
         "--step-seconds", "4", "--warmup-seconds", "2", "--no-ceiling", "--cross-check", "off")  # fmt: skip


@pytest.mark.slow
def test_a_run_passes_against_itself_and_a_slowed_one_fails(seeded, state_dir, tmp_path):
    """Not `alone`: 3 ms of CPU per request makes Flask several times slower here, far
    beyond what a neighbouring test's load can shift between the two runs."""
    rules = tmp_path / "t.toml"
    rules.write_text('errors = "<1%"\n"p99@max" = "<10s"\n')
    out = tmp_path / "reports"
    first = run_cli("run", *QUICK, "--out", str(out), "--check", str(rules),
                    env=cli_env(state_dir), timeout=300)  # fmt: skip
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr
    assert "check PASSED" in first.stdout
    (base,) = [p for p in out.iterdir() if p.is_dir()]
    itself = run_cli("check", str(base), "--baseline", str(base), "--thresholds", str(rules),
                     env=cli_env(state_dir))  # fmt: skip
    assert itself.returncode == 0, itself.stdout
    slowed = run_cli("run", *QUICK, "--out", str(tmp_path / "slow"),
                     env=cli_env(state_dir, CPU_BURN_MS="3"), timeout=300)  # fmt: skip
    assert slowed.returncode == 0, slowed.stdout[-2000:] + slowed.stderr
    (slow,) = [p for p in (tmp_path / "slow").iterdir() if p.is_dir()]
    gate_result = run_cli("check", str(slow), "--baseline", str(base), env=cli_env(state_dir))
    assert gate_result.returncode == 1, gate_result.stdout
    failures = [line for line in gate_result.stdout.splitlines() if line.startswith("FAIL")]
    assert any("select-update · Flask · 20 users: throughput" in line for line in failures)
    assert "warning: flask CPU_BURN_MS: 3.0 here, 0.0 in the baseline" in gate_result.stdout
    assert "load_average" not in gate_result.stdout  # the machine's moment is not the machine


def test_the_example_pipeline_refers_to_files_that_work(tmp_path: Path) -> None:
    import yaml

    examples = PROJECT_ROOT / "examples" / "ci"
    workflow = yaml.safe_load((examples / "github-actions.yml").read_text())
    steps = workflow["jobs"]["smoke"]["steps"]
    commands = " ".join(step.get("run", "") for step in steps)
    assert "PROFILE=ci" in commands and "check latest" in commands
    for path in ("examples/ci/thresholds.toml", "examples/ci/baseline"):
        assert path in commands and (PROJECT_ROOT / path).exists()
    baseline = examples / "baseline"
    assert store.load(baseline).run.profile == "ci"
    assert main(["check", str(baseline), "--baseline", str(baseline), "--thresholds",
                 str(examples / "thresholds.toml"), "--junit", str(tmp_path / "j.xml")]) == 0  # fmt: skip
