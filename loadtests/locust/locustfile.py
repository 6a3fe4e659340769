"""The suite's locustfile: the scenarios, the rising-concurrency shape, and the hooks
that record every response. Used by the runner, by `make ui`, and by hand:

    python -m locust -f loadtests/locust/locustfile.py --host http://127.0.0.1:8000 SelectUpdate
"""

# Imported for their Locust event hooks: recording every response, and the write ledger.
from loadtests.locust import collector, ledger  # noqa: F401
from loadtests.locust.scenarios import GetUser, Health, Mixed, Read, SelectUpdate, Write
from loadtests.locust.shape import RisingSteps

__all__ = ["GetUser", "Health", "Mixed", "Read", "RisingSteps", "SelectUpdate", "Write"]
