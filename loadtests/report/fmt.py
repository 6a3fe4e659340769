"""Number formatting shared by the report pages."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f} ms"
    return f"{value:.1f} ms"


def number(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def percent(fraction: float | None, digits: int = 2) -> str:
    return "-" if fraction is None else f"{fraction * 100:.{digits}f}%"


def _ratio_digits(value: float) -> int:
    return 2 if value < 2 else (1 if value < 10 else 0)


def ratio(value: float) -> str:
    return f"{value:,.{_ratio_digits(value)}f}x"


def ratio_interval(low: float, high: float) -> str:
    """``"1.52-2.10"``: both ends with the precision of the smaller end, so that a wide
    interval reads ``"7.0-10.6"``, not ``"7-11"``."""
    digits = _ratio_digits(low)
    return f"{low:,.{digits}f}-{high:,.{digits}f}"


def points(difference: float) -> str:
    """A difference of two rates in percentage points."""
    return f"{difference * 100:+.2f} pp"


def when(epoch: float | None) -> str:
    if not epoch:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def show(value: float, unit: str) -> str:
    """A value with three significant digits and its unit."""
    if unit == "count":
        return f"{value:,.0f}" if value == round(value) else f"{value:,.1f}"
    if unit == "flag":
        return "yes" if value >= 1 else "no"
    if unit == "x":
        return f"{value:.2f}x" if abs(value) < 10 else f"{value:,.1f}x"
    magnitude = abs(value)
    if magnitude >= 100 or magnitude == 0:
        text = f"{value:,.0f}"
    else:
        text = f"{value:.{max(0, 2 - math.floor(math.log10(magnitude)))}f}"
    return f"{text} {unit}"


def levels(text: str, unit: str) -> str:
    """``"At 300 users"`` -> ``"At 300 req/s offered"`` where the steps are rates (the open
    model): the sentences are written once, for both models."""
    return text if unit == "users" else re.sub(r"\b(\d[\d,]*) users\b", rf"\1 {unit}", text)
