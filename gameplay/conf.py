"""The game's settings, each overridable in Django settings (or by tests with override_settings):

GAME_UNLOCK_CAMP_SKILL    camp skill (mean best score over the camp's rungs, 0-1) that unlocks real features
GAME_DAILY_BONES_CAP      Bones a player can earn by play in one (UTC) day
GAME_LEADERBOARD_MIN_ROUNDS  rounds a player needs to appear on a leaderboard
GAME_RATE_LIMITS          {"round": ..., "answer": ..., "shop": ...} as "count/period" per player; they are
                          counted by the wiki's throttle as WIKI_RATE_LIMITS["game-round"] etc. (see apps.py)
GAME_JUDGE                the judge that reads Explain answers: auto (an LLM when one is configured, else a
                          local LM when LOCAL_EXPLAINER_MODEL_PATH is set, else the default offline judge),
                          openai-compatible, local-transformers, or an offline judge's name (semantic, literal)
"""

from django.conf import settings

DEFAULTS = {
    "GAME_UNLOCK_CAMP_SKILL": 0.5,
    "GAME_DAILY_BONES_CAP": 300,
    "GAME_LEADERBOARD_MIN_ROUNDS": 3,
    "GAME_RATE_LIMITS": {"round": "120/h", "answer": "1200/h", "shop": "60/h"},
    "GAME_JUDGE": "auto",
}


def game_setting(name: str):
    return getattr(settings, name, DEFAULTS[name])
