"""The articles' claims, re-measured: micro-benchmarks against PostgreSQL, no HTTP.

Each claim is one decorated function (``registry.claim``) whose docstring is its label,
as in SQLAlchemy's ``examples/performance``. The function runs in a fresh worker process
per round (``worker.py``) and returns what it measured; the parent (``rounds.py``)
repeats it, summarises each series and judges the claim with the rules the decorator
declares as data (``rules.py``); ``session.py`` runs the claims of one ``claims`` run.
``claims.json`` (typed in ``loadtests/results/claims.py``) is the single source of the
terminal table and of ``claims.html``, both built in ``loadtests/report/``.
"""
