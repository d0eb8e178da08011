"""User mistakes get a `ConfigError` naming the parameter, the value and what is allowed, before any work."""
from __future__ import annotations

import math


class ConfigError(ValueError):
    """A bad parameter value. The CLI prints its message without a traceback and exits non-zero."""


def check_choice(name: str, value, known) -> None:
    if value not in known:
        raise ConfigError(f"{name}={value!r} is not known; allowed: {', '.join(sorted(map(str, known)))}")


def check_range(name: str, value, low=None, high=None, low_open=False, high_open=False) -> None:
    """Check low <= value <= high (or strict, per side); None means unbounded on that side."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r} is not a number") from None
    bad = math.isnan(v)
    if low is not None:
        bad |= v <= low if low_open else v < low
    if high is not None:
        bad |= v >= high if high_open else v > high
    if bad:
        lo = "-inf" if low is None else str(low)
        hi = "inf" if high is None else str(high)
        interval = ("(" if low_open or low is None else "[") + f"{lo}, {hi}" + (")" if high_open or high is None else "]")
        raise ConfigError(f"{name}={value!r} is outside the allowed range {interval}")


def check_nonempty(name: str, value) -> None:
    if value is None or len(list(value)) == 0:
        raise ConfigError(f"{name}={value!r} is empty; allowed: a non-empty list")


def check_int(name: str, value, low: int, high: int | None = None, allowed: str | None = None) -> None:
    """Check that value is an integer (not a bool) in [low, high] (high None: unbounded); `allowed` rewords the
    message's 'allowed' part."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low and (high is None or value <= high)
    if not ok:
        allowed = allowed or (f"an integer in [{low}, {high}]" if high is not None else f"an integer >= {low}")
        raise ConfigError(f"{name}={value!r} is not allowed; allowed: {allowed}")


def check_list(name: str, values, low=None, high=None, low_open=False, high_open=False, choices=None) -> None:
    """A non-empty list whose every value is in the range (see check_range) or, with `choices`, one of them."""
    check_nonempty(name, values)
    for v in values:
        if choices is not None:
            check_choice(name, v, choices)
        else:
            check_range(name, v, low, high, low_open, high_open)
