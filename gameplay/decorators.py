"""The decorator for the game's actions: the wiki's own `wiki_write` (signed in, not banned, refusals as a
page or an htmx notice, rate limits counted in the cache). The game's limits are WIKI_RATE_LIMITS entries
named "game-<action>", added from GAME_RATE_LIMITS when the app loads (see apps.py), so one throttle counts
every write on the site."""

from collections.abc import Callable

from accounts.decorators import wiki_write

RATE_PREFIX = "game-"


def game_action(rate: str | None = None, *, wiki_rate: str | None = None) -> Callable:
    """For views that play: POSTs count against the GAME_RATE_LIMITS entry `rate`, or, for actions that
    write on the wiki (Explain), against the WIKI_RATE_LIMITS entry `wiki_rate`."""
    return wiki_write(rate=wiki_rate or (f"{RATE_PREFIX}{rate}" if rate else None))
