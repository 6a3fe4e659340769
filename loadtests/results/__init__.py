"""``results.json``: the typed record of a run (``models.py``), how it is measured
(``measure.py``), stored and loaded (``store.py``), and read from older versions
(``legacy.py``)."""

from loadtests.results.models import SCHEMA_VERSION, RunResults
from loadtests.results.store import FILENAME, SCHEMA_PATH, load, write

__all__ = ["FILENAME", "SCHEMA_PATH", "SCHEMA_VERSION", "RunResults", "load", "write"]
