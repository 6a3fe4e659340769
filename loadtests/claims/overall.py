"""The articles' summary, derived from the per-query claims of the same run: nothing is
measured again."""

from __future__ import annotations

import math

from loadtests.claims.registry import Series, claim
from loadtests.claims.rules import Ratio

# pattern -> (claim, async series, sync series), as the articles wrote the patterns
# (ORM everywhere, asyncio's loop, the ORM inserting row by row) and with the fixes
# they recommend (uvloop, raw asyncpg for the hot read, insertmanyvalues).
BEFORE = {
    "pk_before": ("pk-select", "async_asyncio", "sync"),
    "eager_before": ("eager-3", "async_asyncio", "sync"),
    "bulk_before": ("bulk-insert", "async_rows", "sync_rows"),
    "summary_before": ("raw-vs-orm", "orm_asyncio", "sync_orm"),
}
AFTER = {
    "pk_after": ("pk-select", "async_uvloop", "sync"),
    "eager_after": ("eager-3", "async_uvloop", "sync"),
    "bulk_after": ("bulk-insert", "async_batched", "sync_batched"),
    "summary_after": ("raw-vs-orm", "raw_uvloop", "sync_orm"),
}
LABELS = {
    "pk": "primary-key select",
    "eager": "3 joined relations",
    "bulk": "bulk insert",
    "summary": "order summary",
}


def _ratios(
    values: dict[str, dict[str, list[float]]], patterns: dict[str, tuple[str, str, str]]
) -> dict[str, list[float]]:
    """async / sync per round, each round in its place: a round with a zero on either side
    (nothing measured) has no ratio and stays 0, which the rule leaves out and names."""
    return {
        key: [
            a / b if a > 0 and b > 0 else 0.0
            for a, b in zip(values[c][num], values[c][den], strict=False)
        ]
        for key, (c, num, den) in patterns.items()
    }


def _geometric_means(ratios: dict[str, list[float]]) -> list[float]:
    """Round by round over the patterns; 0 (no ratio) for a round missing any of them."""
    rounds = min(len(series) for series in ratios.values())
    return [
        math.exp(sum(math.log(series[r]) for series in ratios.values()) / len(ratios))
        if all(series[r] > 0 for series in ratios.values())
        else 0.0
        for r in range(rounds)
    ]


def _series(suffix: str, what: str) -> tuple[Series, ...]:
    return tuple(
        Series(f"{key}_{suffix}", f"{label}, {what}: async / sync", "x")
        for key, label in LABELS.items()
    )


@claim(
    "overall",
    article='"5-14x slower in common patterns; 1.5-2.5x after the fixes."',
    source="article 2",
    series=(
        Series("before", "common patterns: async / sync (geometric mean)", "x"),
        Series("after", "after the fixes: async / sync (geometric mean)", "x"),
        *_series("before", "as written"),
        *_series("after", "fixed"),
    ),
    checks=(
        Ratio("before", None, (5.0, 14.0), "common patterns, async / sync"),
        Ratio("after", None, (1.5, 2.5), "after the fixes, async / sync"),
    ),
    needs=("pk-select", "eager-3", "bulk-insert", "raw-vs-orm"),
)
def overall(values: dict[str, dict[str, list[float]]]) -> dict[str, list[float]]:
    """Async is 5-14x slower in common patterns, and 1.5-2.5x after the fixes.

    Derived round by round from four claims of this run, as async / sync ratios. The
    common patterns as the articles write them: the primary-key select, the three
    joined relations and the order summary through the async ORM on asyncio's loop, and
    the ORM inserting row by row (``use_insertmanyvalues=False``). After the fixes they
    recommend: uvloop, raw asyncpg for the summary, and SQLAlchemy's batched inserts.
    Each side is the geometric mean of its four ratios; the single ratios are shown too.
    """
    before, after = _ratios(values, BEFORE), _ratios(values, AFTER)
    return {
        "before": _geometric_means(before),
        "after": _geometric_means(after),
        **before,
        **after,
    }
