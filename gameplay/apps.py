from django.apps import AppConfig


class GameplayConfig(AppConfig):
    name = "gameplay"

    def ready(self) -> None:
        # The game's rate limits join the wiki's (accounts/rate_limits.py) as "game-<action>" entries, unless
        # the site's settings already name them; a settings override of WIKI_RATE_LIMITS replaces them all.
        from django.conf import settings

        from .conf import game_setting
        from .decorators import RATE_PREFIX

        limits = getattr(settings, "WIKI_RATE_LIMITS", None)
        if isinstance(limits, dict):
            for action, text in game_setting("GAME_RATE_LIMITS").items():
                limits.setdefault(f"{RATE_PREFIX}{action}", text)
