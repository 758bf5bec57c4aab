"""Rate limits: the arithmetic of the sliding-window counter, with no Django here (accounts/rate_limits.py
keeps the counts in the cache).

A limit reads "count/period" with the period in seconds or as s, m, h or d, optionally with a number
("10/m", "100/h", "5/30s"). Time is cut into windows of one period, each starting at a multiple of the
period since the epoch, so every process agrees on which window a moment falls in. A plain fixed window
would let twice the limit through around a window's edge (a burst at its end, another at the start of the
next), so the count is a sliding estimate: the current window's count plus the previous window's, weighted
by how much of the previous window still lies within one period of now.
"""

import re
from dataclasses import dataclass

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_LIMIT = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd]?)\s*$")


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: int


def parse_limit(text: str) -> Limit:
    match = _LIMIT.match(text)
    if not match:
        raise ValueError(f"Rate limit {text!r} should look like '10/m', '100/h' or '5/30s'.")
    count, multiple, unit = match.groups()
    if not multiple and not unit:
        raise ValueError(f"Rate limit {text!r} needs a period, e.g. '10/m'.")
    seconds = int(multiple or 1) * _UNITS[unit or "s"]
    if seconds <= 0:
        raise ValueError(f"Rate limit {text!r} has an empty period.")
    return Limit(count=int(count), seconds=seconds)


def window_index(now: float, limit: Limit) -> int:
    """Which window `now` (seconds since the epoch) falls in."""
    return int(now // limit.seconds)


def seconds_until_next_window(now: float, limit: Limit) -> int:
    """Whole seconds, at least 1, until the window containing `now` ends."""
    return max(1, int((window_index(now, limit) + 1) * limit.seconds - now + 0.999))


def sliding_count(previous: int, current: int, now: float, limit: Limit) -> float:
    """How many requests the last period held: `current` in this window, `previous` in the one before."""
    elapsed = (now % limit.seconds) / limit.seconds
    return previous * (1 - elapsed) + current


def seconds_until_allowed(previous: int, current: int, now: float, limit: Limit) -> int:
    """Whole seconds, at least 1, until one more request fits: the sliding count of the windows' requests
    plus one is at most the limit again (assuming no other requests meanwhile)."""
    period = limit.seconds
    window_start = window_index(now, limit) * period
    room = limit.count - current - 1
    if room >= 0:
        # Within this window, as the previous window's weight falls: previous * (1 - f) <= room.
        needed = 1 - room / previous if previous else 0.0
        wait = window_start + needed * period - now
    else:
        # Only in the next window, where this window's count becomes the weighted previous one.
        needed = 1 - (limit.count - 1) / current if current else 0.0
        wait = window_start + period + max(0.0, needed) * period - now
    return max(1, int(wait + 0.999))


def describe_period(seconds: int) -> str:
    """How often a limit applies, in words: 'a minute', 'an hour', 'every 30 seconds'."""
    named = {1: "a second", 60: "a minute", 3600: "an hour", 86400: "a day"}
    return named.get(seconds) or f"every {describe_wait(seconds)}"


def describe_wait(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = (seconds + 59) // 60
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = (minutes + 59) // 60
    return f"{hours} hour{'s' if hours != 1 else ''}"
