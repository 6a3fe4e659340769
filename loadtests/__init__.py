"""The load-test suite: CLI, Locust scenarios, runner, reports and local infrastructure."""
