"""Claims as decorated functions: the decorator holds the article's words and the verdict
rules, the docstring is the label (first line) and how the suite measures it (the rest).

Adding a claim means adding one function to a family module and listing nothing else:
``catalogue()`` imports the families, and importing registers their claims.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from loadtests.claims.harness import Context, Sample
    from loadtests.claims.rules import Check

Source = Literal["article 1", "article 2", "primer"]
# Import order is display order: per-query costs, bulk, internals, the summary, traps.
FAMILIES = ("queries", "bulk", "internals", "overall", "traps")

Measure = Callable[["Context"], "Sample"]
# A derived claim computes its series per round from other claims' series.
Derive = Callable[[dict[str, dict[str, list[float]]]], dict[str, list[float]]]


@dataclass(frozen=True)
class Series:
    """One measured quantity: a key in the samples, a label and a unit for people."""

    key: str
    label: str
    unit: str


@dataclass(frozen=True)
class Claim:
    id: str
    label: str
    method: str  # how this suite measures it, with the choices it made
    article: str  # the article's own words and figures, quoted
    source: Source
    series: tuple[Series, ...]
    checks: tuple[Check, ...]
    measure: Measure | None = None
    derive: Derive | None = None
    needs: tuple[str, ...] = ()  # claims a derived claim reads
    rounds: int | None = None  # None: the run's rounds; 1 for behaviour that does not vary
    requires: str | None = None  # an outside program the parent provides ("pgbouncer")

    @property
    def family(self) -> str:
        fn = self.measure or self.derive
        return fn.__module__.rsplit(".", 1)[-1] if fn else ""

    def series_by_key(self) -> dict[str, Series]:
        return {s.key: s for s in self.series}


_REGISTRY: dict[str, Claim] = {}


def claim(
    claim_id: str,
    *,
    article: str,
    source: Source,
    series: tuple[Series, ...],
    checks: tuple[Check, ...],
    rounds: int | None = None,
    requires: str | None = None,
    needs: tuple[str, ...] = (),
) -> Callable[[Callable[..., object]], Callable[..., object]]:
    """Register the decorated function as the claim ``claim_id``. A function of a
    ``Context`` measures; a derived claim (``needs`` given) maps the other claims' series."""

    def register(fn: Callable[..., object]) -> Callable[..., object]:
        if claim_id in _REGISTRY:
            raise ValueError(f"claim '{claim_id}' is registered twice")
        label, _, method = inspect.cleandoc(fn.__doc__ or claim_id).partition("\n")
        keys = {s.key for s in series}
        for check in checks:
            missing = set(check.keys()) - keys
            if missing:
                raise ValueError(f"claim '{claim_id}': checks use unknown series {missing}")
        _REGISTRY[claim_id] = Claim(
            id=claim_id,
            label=label.strip(),
            method=" ".join(method.split()),
            article=article,
            source=source,
            series=series,
            checks=checks,
            # One decorator for both kinds of function: `needs` says which, which the
            # types cannot express.
            measure=None if needs else fn,  # type: ignore[arg-type]  # no needs: a Measure
            derive=fn if needs else None,  # type: ignore[arg-type]  # needs: a Derive
            needs=needs,
            rounds=rounds,
            requires=requires,
        )
        return fn

    return register


def catalogue() -> dict[str, Claim]:
    """Every claim, in display order."""
    for family in FAMILIES:
        importlib.import_module(f"loadtests.claims.{family}")
    return dict(_REGISTRY)
